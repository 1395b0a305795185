// Pins identity/fingerprint_index.cc and its use by the resolver: the same events give the same
// resolutions and byte-identical stores with the index on and off (in every arrival order, with a
// tiny index that evicts all the time), and each correctness condition of fingerprint_index.h
// holds: a discarded batch drops what it taught the index, a root that lost a merge or an
// identifier is a miss, a late event bypasses the index.
#include "identity/fingerprint_index.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/identifier.h"
#include "common/rocks_store.h"
#include "tests/fakes/test_store_options.h"
#include "gtest/gtest.h"
#include "identity/identity_resolver.h"
#include "tests/fakes/memory_kv.h"
#include "tests/identity/identity_test_events.h"

namespace tessera::identity {
namespace {

using ::tessera::identity::testing::FixedClock;
using ::tessera::identity::testing::MakeEvent;
using ::tessera::testing::MemoryKv;

// Everything a resolution says, as text, so two can be compared whole.
std::string Describe(const Resolution& r) {
  std::string out = absl::StrCat("profile ", r.profile_id, r.created ? " created" : "");
  for (const v1::MergeRecord& m : r.merges) out += absl::StrCat(" merge ", m.ShortDebugString());
  for (const IdentityViolation& v : r.violations) {
    out += absl::StrCat(" violation ", v.rule, " ", v.identifier, " ", v.held_by, " ", v.detail);
  }
  for (const std::string& u : r.unlinked) out += " unlinked " + u;
  return out;
}

// Resolves the same events with and without an index, each over its own store, and demands the
// same resolution for every event and the same bytes in both stores at the end.
class WithAndWithout {
 public:
  explicit WithAndWithout(size_t max_entries, IdentityRules rules = IdentityRules::Defaults())
      : index_(max_entries),
        with_(&with_kv_, 1, &clock_, RulesByWorkspace::Make(rules).value(), &index_),
        without_(&without_kv_, 1, &clock_, RulesByWorkspace::Make(rules).value()) {}

  // The resolution (the same from both, or a test failure).
  Resolution Resolve(const v1::Event& event) {
    auto a = with_.Resolve(event);
    auto b = without_.Resolve(event);
    EXPECT_EQ(a.ok(), b.ok());
    if (!a.ok() || !b.ok()) return Resolution{};
    EXPECT_EQ(Describe(*a), Describe(*b)) << "event " << event.message_id();
    return *a;
  }
  void ExpectSameStores() const { EXPECT_TRUE(with_kv_.data() == without_kv_.data()); }

  FingerprintIndex& index() { return index_; }

 private:
  FixedClock clock_;
  MemoryKv with_kv_;
  MemoryKv without_kv_;
  FingerprintIndex index_;
  IdentityResolver with_;
  IdentityResolver without_;
};

// People who come back: each visit repeats a set of their identifiers (the case the index is for),
// some visits arrive late, some twice; people with too many emails, families sharing a tablet past
// the shared-device limit (devices move, become shared), junk values, and merges of profiles that
// began apart.
std::vector<v1::Event> ReturningVisitors(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<v1::Event> events;
  int next = 0;
  auto add = [&](int64_t minute, std::vector<std::string> ids) {
    events.push_back(MakeEvent("m" + std::to_string(next++), minute, ids));
  };
  auto minute = [&] { return static_cast<int64_t>(rng() % 50000); };
  for (int p = 0; p < 40; ++p) {
    const std::string user = "user_id:u" + std::to_string(p);
    const std::string anon = "anonymous_id:a" + std::to_string(p);
    const std::string phone = "phone:+668" + std::to_string(10000000 + p);
    add(minute(), {anon});
    add(minute(), {phone});                    // a profile of its own until an order joins it
    for (int visit = 0; visit < 6; ++visit) add(minute(), {anon});
    add(minute(), {anon, user});
    for (int visit = 0; visit < 6; ++visit) add(minute(), {anon, user});
    const int emails = p % 8 == 0 ? 7 : 1;     // past the limit of 5: demotions by claim
    for (int e = 0; e < emails; ++e) {
      const std::string email = "email:p" + std::to_string(p) + "e" + std::to_string(e) + "@x.com";
      add(minute(), {user, email});
      add(minute(), {user, email});
      add(minute(), {email, phone});
    }
    if (p % 5 == 0) add(minute(), {user, "email:test@test.com"});
  }
  for (int size : {3, 5}) {  // 3 stays with its first owner by event time; 5 becomes shared
    const std::string tablet = "anonymous_id:tablet" + std::to_string(size);
    for (int k = 0; k < size; ++k) {
      add(minute(), {tablet, "user_id:u" + std::to_string(10 + size * 5 + k)});
      add(minute(), {tablet});
      add(minute(), {tablet});
    }
  }
  const size_t n = events.size();
  for (size_t i = 0; i < n; i += 9) events.push_back(events[i]);  // retried deliveries
  return events;
}

TEST(FingerprintIndexPropertyTest, EveryArrivalOrderGivesTheSameResolutionsAndStoreWithTheIndexOnAndOff) {
  for (uint64_t seed : {3u, 1234u}) {
    std::vector<v1::Event> events = ReturningVisitors(seed);
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 8; ++round) {
      std::shuffle(events.begin(), events.end(), rng);
      // A roomy index, and one so small that entries are evicted all the time.
      for (size_t max_entries : {size_t{1} << 16, size_t{16}}) {
        WithAndWithout pair(max_entries);
        for (const v1::Event& e : events) pair.Resolve(e);
        pair.ExpectSameStores();
        const FingerprintIndexStats stats = pair.index().stats();
        // The index did answer events, and turned late ones away: the comparison is not vacuous.
        EXPECT_GT(stats.event_hits, max_entries == 16 ? 10 : 200) << "seed " << seed << " max " << max_entries;
        EXPECT_GT(stats.late_bypasses, 0) << "seed " << seed << " max " << max_entries;
        if (max_entries == 16) {
          EXPECT_GT(stats.generations_dropped, 0);
          EXPECT_LE(stats.identifiers, 16u);
          EXPECT_LE(stats.event_sets, 16u);
          EXPECT_LE(stats.roots, 16u);
          EXPECT_LT(stats.bytes, 16u * 1024);
        } else {
          EXPECT_GT(stats.identifier_hits, 100);
        }
        if (HasFailure()) return;
      }
    }
  }
}

TEST(FingerprintIndexTest, AReturningVisitorIsAnsweredFromTheIndexAndWritesNothing) {
  MemoryKv kv;
  FixedClock clock;
  FingerprintIndex index;
  IdentityResolver resolver(&kv, 1, &clock, RulesByWorkspace(), &index);
  const auto first = resolver.Resolve(MakeEvent("m1", 10, {"anonymous_id:a", "user_id:u"}));
  ASSERT_TRUE(first.ok());
  const std::map<std::string, std::string> before = kv.data();
  const auto again = resolver.Resolve(MakeEvent("m2", 11, {"user_id:u", "anonymous_id:a", "user_id:u"}));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->profile_id, first->profile_id);
  EXPECT_FALSE(again->created);
  EXPECT_EQ(index.stats().event_hits, 1);
  EXPECT_TRUE(kv.data() == before);
  // Another workspace with the same identifiers is another set.
  v1::Event elsewhere = MakeEvent("m3", 12, {"anonymous_id:a", "user_id:u"});
  elsewhere.set_workspace("shop-b");
  const auto other = resolver.Resolve(elsewhere);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->created);
  EXPECT_NE(other->profile_id, first->profile_id);
}

// Condition 2: a cached root that lost a merge is a miss.
TEST(FingerprintIndexTest, ARootThatLostAMergeIsAMiss) {
  WithAndWithout pair(1024, IdentityRules::Unrestricted());
  const Resolution a = pair.Resolve(MakeEvent("m1", 1, {"email:a@x.com"}));
  const Resolution b = pair.Resolve(MakeEvent("m2", 2, {"phone:+66811111111"}));
  pair.Resolve(MakeEvent("m3", 3, {"phone:+66811111111"}));
  ASSERT_EQ(pair.index().stats().event_hits, 1);  // the phone's set is cached, naming b
  const Resolution merge = pair.Resolve(MakeEvent("m4", 4, {"email:a@x.com", "phone:+66811111111"}));
  ASSERT_EQ(merge.merges.size(), 1u);
  EXPECT_EQ(merge.merges[0].loser(), b.profile_id);
  EXPECT_EQ(pair.Resolve(MakeEvent("m5", 5, {"phone:+66811111111"})).profile_id, a.profile_id);
  pair.ExpectSameStores();
}

// Condition 2: a root an identifier was taken from is a miss (a device moved to its first owner).
TEST(FingerprintIndexTest, ARootADeviceWasTakenFromIsAMiss) {
  WithAndWithout pair(1024);
  const Resolution second_user = pair.Resolve(MakeEvent("m1", 100, {"anonymous_id:d", "user_id:u2"}));
  pair.Resolve(MakeEvent("m2", 101, {"anonymous_id:d"}));
  pair.Resolve(MakeEvent("m2b", 102, {"anonymous_id:d"}));
  ASSERT_EQ(pair.index().stats().event_hits, 1);
  // An earlier event of another user arrives late: the device is theirs.
  const Resolution first_user = pair.Resolve(MakeEvent("m3", 50, {"anonymous_id:d", "user_id:u1"}));
  ASSERT_NE(first_user.profile_id, second_user.profile_id);
  EXPECT_EQ(pair.Resolve(MakeEvent("m4", 103, {"anonymous_id:d"})).profile_id, first_user.profile_id);
  EXPECT_NE(pair.Resolve(MakeEvent("m5", 104, {"anonymous_id:d", "user_id:u2"})).unlinked.size(), 0u);
  pair.ExpectSameStores();
}

// Condition 2: an email demoted at the value limit leaves its profile.
TEST(FingerprintIndexTest, ARootThatLostAnEmailAtTheLimitIsAMiss) {
  WithAndWithout pair(1024);
  for (int e = 0; e < 5; ++e) {
    pair.Resolve(MakeEvent("m" + std::to_string(e), 100 + e, {"user_id:u", "email:e" + std::to_string(e) + "@x.com"}));
  }
  pair.Resolve(MakeEvent("r1", 200, {"user_id:u", "email:e4@x.com"}));
  ASSERT_EQ(pair.index().stats().event_hits, 1);
  // An email claimed earlier than e4 takes its place.
  const Resolution earlier = pair.Resolve(MakeEvent("m9", 10, {"user_id:u", "email:early@x.com"}));
  ASSERT_EQ(earlier.violations.size(), 1u);
  const Resolution back = pair.Resolve(MakeEvent("r2", 201, {"user_id:u", "email:e4@x.com"}));
  EXPECT_EQ(back.unlinked, std::vector<std::string>{"email:e4@x.com"});
  pair.ExpectSameStores();
}

// Condition 3: a late repeat of a known set goes the slow way, and moves the claims earlier.
TEST(FingerprintIndexTest, ALateEventBypassesTheIndex) {
  WithAndWithout pair(1024);
  pair.Resolve(MakeEvent("m1", 100, {"anonymous_id:a", "email:a@x.com"}));
  pair.Resolve(MakeEvent("m2", 101, {"anonymous_id:a", "email:a@x.com"}));
  ASSERT_EQ(pair.index().stats().event_hits, 1);
  pair.Resolve(MakeEvent("m0", 5, {"anonymous_id:a", "email:a@x.com"}));
  pair.Resolve(MakeEvent("m0b", 5, {"anonymous_id:a", "email:a@x.com"}));  // same time as the earliest: not later
  EXPECT_EQ(pair.index().stats().late_bypasses, 2);
  EXPECT_EQ(pair.index().stats().event_hits, 1);
  pair.ExpectSameStores();  // the link log holds m0, the claims moved to it
}

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/fingerprint-index-test-XXXXXX";
    path_ = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Condition 1: what a discarded batch taught the index goes with it; a committed batch's stays.
TEST(FingerprintIndexTest, ADiscardedBatchDropsWhatItAddedAndACommittedOneKeepsIt) {
  TempDir dir;
  auto store = RocksStore::Open(dir.path() + "/store", tessera::testing::PipelineStoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  FixedClock clock;
  FingerprintIndex index;
  auto resolve = [&](StagedWrites& staged, const v1::Event& event) {
    IdentityResolver resolver(&staged, 1, &clock, RulesByWorkspace(), &index);
    auto r = resolver.Resolve(event);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Resolution{};
  };
  uint64_t kept = 0;
  {
    StagedWrites batch(store->get());
    kept = resolve(batch, MakeEvent("m1", 1, {"email:kept@x.com"})).profile_id;
    ASSERT_TRUE(batch.Commit().ok());
    index.MarkCommitted();
  }
  {
    StagedWrites batch(store->get());
    resolve(batch, MakeEvent("m2", 2, {"email:lost@x.com"}));
    resolve(batch, MakeEvent("m3", 3, {"email:lost@x.com"}));
    ASSERT_EQ(index.stats().event_hits, 1);
    batch.Discard();  // the store never saw email:lost, and the profile id it got is free again
    index.DropUncommitted();
  }
  StagedWrites batch(store->get());
  const Resolution other = resolve(batch, MakeEvent("m4", 4, {"email:other@x.com"}));  // takes the freed id
  const Resolution lost = resolve(batch, MakeEvent("m5", 5, {"email:lost@x.com"}));
  EXPECT_TRUE(lost.created);
  EXPECT_NE(lost.profile_id, other.profile_id);
  EXPECT_EQ(resolve(batch, MakeEvent("m6", 6, {"email:kept@x.com"})).profile_id, kept);
  EXPECT_EQ(index.stats().event_hits, 2);  // the committed entry answered
}

TEST(FingerprintIndexTest, FingerprintsSeparateWorkspacesTypesAndValuesAndSetsIgnoreOrder) {
  const Fingerprint a = IdentifierFingerprint("w", "email", "a@x.com");
  EXPECT_EQ(a, IdentifierFingerprint("w", "email", "a@x.com"));
  EXPECT_FALSE(a == IdentifierFingerprint("w2", "email", "a@x.com"));
  EXPECT_FALSE(a == IdentifierFingerprint("w", "phone", "a@x.com"));
  EXPECT_FALSE(IdentifierFingerprint("w", "a", "b:c") == IdentifierFingerprint("w", "a:b", "c"));
  const Fingerprint b = IdentifierFingerprint("w", "user_id", "u");
  std::vector<Fingerprint> ab{a, b};
  std::vector<Fingerprint> ba{b, a, b};
  std::vector<Fingerprint> just_a{a};
  EXPECT_EQ(SetFingerprint(ab), SetFingerprint(ba));
  EXPECT_FALSE(SetFingerprint(ab) == SetFingerprint(just_a));
}

TEST(FingerprintIndexTest, AnIndexOfSizeZeroIsOff) {
  WithAndWithout pair(0);
  pair.Resolve(MakeEvent("m1", 1, {"email:a@x.com"}));
  pair.Resolve(MakeEvent("m2", 2, {"email:a@x.com"}));
  EXPECT_EQ(pair.index().stats().event_hits, 0);
  EXPECT_EQ(pair.index().stats().identifiers, 0u);
  pair.ExpectSameStores();
}

}  // namespace
}  // namespace tessera::identity
