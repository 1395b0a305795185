// Pins identity/identity_resolver.cc: profile creation, linking, merges (smallest id wins, with a
// MergeRecord per loser), redirects and path compression, workspace isolation, and the property
// that the partition of identifiers into profiles does not depend on the order events arrive in.
#include "identity/identity_resolver.h"

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/identifier.h"
#include "gtest/gtest.h"
#include "tests/fakes/memory_kv.h"

namespace tessera::identity {
namespace {

using ::tessera::testing::MemoryKv;

class FixedClock final : public Clock {
 public:
  explicit FixedClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMillis() const override { return now_ms_; }

 private:
  int64_t now_ms_;
};

constexpr int64_t kNowMs = 1'790'000'000'000;
constexpr int64_t kEventMs = 1'789'000'000'000;

RulesByWorkspace Unrestricted() { return RulesByWorkspace::Make(IdentityRules::Unrestricted()).value(); }

uint64_t Id(uint16_t prefix, uint64_t counter) { return (uint64_t{prefix} << 48) | counter; }

v1::Event MakeEvent(const std::string& message_id, const std::vector<std::string>& identifiers,
                    const std::string& workspace = "baankafe") {
  v1::Event event;
  event.set_message_id(message_id);
  event.set_workspace(workspace);
  event.set_channel(v1::CHANNEL_WEB);
  event.set_type("identify");
  event.set_timestamp_ms(kEventMs);
  event.mutable_source()->set_topic("raw.web");
  event.mutable_source()->set_partition(2);
  event.mutable_source()->set_offset(77);
  for (const std::string& text : identifiers) *event.add_identifiers() = ParseIdentifier(text).value();
  return event;
}

std::string IndexKey(const std::string& workspace, const std::string& identifier) {
  std::string key = "ix/" + workspace;
  key.push_back('\0');
  key += identifier;
  return key;
}

std::vector<std::string> Formatted(const google::protobuf::RepeatedPtrField<v1::Identifier>& ids) {
  std::vector<std::string> out;
  for (const v1::Identifier& id : ids) out.push_back(FormatIdentifier(id));
  return out;
}

class IdentityResolverTest : public ::testing::Test {
 protected:
  std::optional<uint64_t> LookupText(const std::string& identifier, const std::string& workspace = "baankafe") {
    auto result = resolver_.Lookup(workspace, ParseIdentifier(identifier).value());
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : std::nullopt;
  }

  Resolution MustResolve(const v1::Event& event) {
    auto result = resolver_.Resolve(event);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *std::move(result) : Resolution{};
  }

  MemoryKv kv_;
  FixedClock clock_{kNowMs};
  // The graph mechanics without rules (the rules have their own tests: identity_rules_test.cc).
  IdentityResolver resolver_{&kv_, /*id_prefix=*/7, &clock_, Unrestricted()};
};

TEST_F(IdentityResolverTest, NewIdentifiersCreateAProfileWithThePrefixedFirstId) {
  const Resolution r = MustResolve(MakeEvent("m1", {"email:somchai@example.com", "anonymous_id:a-1"}));
  EXPECT_TRUE(r.created);
  EXPECT_TRUE(r.merges.empty());
  EXPECT_EQ(r.profile_id, Id(7, 1));
  EXPECT_EQ(LookupText("email:somchai@example.com"), Id(7, 1));
  EXPECT_EQ(LookupText("anonymous_id:a-1"), Id(7, 1));
  EXPECT_EQ(LookupText("email:other@example.com"), std::nullopt);
  // The index stores the id big-endian under workspace '\0' type:value.
  EXPECT_EQ(kv_.data().at(IndexKey("baankafe", "email:somchai@example.com")), BigEndian64(Id(7, 1)));
  // The counter of prefix 7 now names the next id to hand out.
  EXPECT_EQ(kv_.data().at("sq/" + BigEndian64(7)), BigEndian64(2));
}

TEST_F(IdentityResolverTest, EachUnrelatedEventGetsTheNextIdAndTheCounterSurvivesARestart) {
  EXPECT_EQ(MustResolve(MakeEvent("m1", {"user_id:1"})).profile_id, Id(7, 1));
  EXPECT_EQ(MustResolve(MakeEvent("m2", {"user_id:2"})).profile_id, Id(7, 2));
  IdentityResolver restarted(&kv_, 7, &clock_, Unrestricted());
  auto r = restarted.Resolve(MakeEvent("m3", {"user_id:3"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->profile_id, Id(7, 3));
  // Another prefix counts on its own.
  IdentityResolver other(&kv_, 8, &clock_, Unrestricted());
  auto o = other.Resolve(MakeEvent("m4", {"user_id:4"}));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->profile_id, Id(8, 1));
}

TEST_F(IdentityResolverTest, AKnownIdentifierLinksTheEventsNewOnes) {
  const uint64_t id = MustResolve(MakeEvent("m1", {"anonymous_id:a-1"})).profile_id;
  const Resolution r = MustResolve(MakeEvent("m2", {"anonymous_id:a-1", "user_id:u-9", "email:s@example.com"}));
  EXPECT_FALSE(r.created);
  EXPECT_TRUE(r.merges.empty());
  EXPECT_EQ(r.profile_id, id);
  EXPECT_EQ(LookupText("user_id:u-9"), id);
  EXPECT_EQ(LookupText("email:s@example.com"), id);
  // A later event with only the new identifier lands on the same profile.
  EXPECT_EQ(MustResolve(MakeEvent("m3", {"email:s@example.com"})).profile_id, id);
}

TEST_F(IdentityResolverTest, TwoProfilesMergeIntoTheSmallerIdWithARecordedReason) {
  const uint64_t first = MustResolve(MakeEvent("m1", {"anonymous_id:a-1", "user_id:u-1"})).profile_id;
  const uint64_t second = MustResolve(MakeEvent("m2", {"email:s@example.com", "phone:+66812345678"})).profile_id;
  ASSERT_LT(first, second);

  // The proving event names the larger profile's identifier first: the winner is still the smaller.
  const Resolution r = MustResolve(MakeEvent("m3", {"email:s@example.com", "instagram:somchai.k", "user_id:u-1"}));
  EXPECT_FALSE(r.created);
  EXPECT_EQ(r.profile_id, first);
  ASSERT_EQ(r.merges.size(), 1u);
  const v1::MergeRecord& merge = r.merges[0];
  EXPECT_EQ(merge.winner(), first);
  EXPECT_EQ(merge.loser(), second);
  EXPECT_EQ(merge.message_id(), "m3");
  EXPECT_EQ(merge.source().topic(), "raw.web");
  EXPECT_EQ(merge.source().offset(), 77);
  EXPECT_EQ(merge.timestamp_ms(), kEventMs);
  EXPECT_EQ(merge.merged_at_ms(), kNowMs);
  // Evidence: the event's identifiers that were held by either profile, in event order; the new
  // handle proved nothing.
  EXPECT_EQ(Formatted(merge.evidence()), (std::vector<std::string>{"email:s@example.com", "user_id:u-1"}));

  // Stored: the redirect and the record.
  EXPECT_EQ(kv_.data().at("rd/" + BigEndian64(second)), BigEndian64(first));
  v1::MergeRecord stored;
  ASSERT_TRUE(stored.ParseFromString(kv_.data().at("mg/" + BigEndian64(first) + BigEndian64(second))));
  EXPECT_EQ(stored.SerializeAsString(), merge.SerializeAsString());

  // Every identifier of both profiles now resolves to the winner, including the loser's phone that
  // the proving event did not carry (reached through the redirect).
  for (const char* id : {"anonymous_id:a-1", "user_id:u-1", "email:s@example.com", "phone:+66812345678",
                         "instagram:somchai.k"}) {
    EXPECT_EQ(LookupText(id), first) << id;
  }
  auto root = resolver_.Root(second);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, first);
}

TEST_F(IdentityResolverTest, ThreeProfilesMergeIntoTheSmallestWithOneRecordPerLoserAscending) {
  const uint64_t p1 = MustResolve(MakeEvent("m1", {"user_id:1"})).profile_id;
  const uint64_t p2 = MustResolve(MakeEvent("m2", {"user_id:2"})).profile_id;
  const uint64_t p3 = MustResolve(MakeEvent("m3", {"user_id:3"})).profile_id;

  const Resolution r = MustResolve(MakeEvent("m4", {"user_id:3", "user_id:1", "email:new@example.com", "user_id:2"}));
  EXPECT_EQ(r.profile_id, p1);
  ASSERT_EQ(r.merges.size(), 2u);
  EXPECT_EQ(r.merges[0].winner(), p1);
  EXPECT_EQ(r.merges[0].loser(), p2);
  EXPECT_EQ(Formatted(r.merges[0].evidence()), (std::vector<std::string>{"user_id:1", "user_id:2"}));
  EXPECT_EQ(r.merges[1].winner(), p1);
  EXPECT_EQ(r.merges[1].loser(), p3);
  EXPECT_EQ(Formatted(r.merges[1].evidence()), (std::vector<std::string>{"user_id:3", "user_id:1"}));
  EXPECT_TRUE(kv_.data().contains("mg/" + BigEndian64(p1) + BigEndian64(p2)));
  EXPECT_TRUE(kv_.data().contains("mg/" + BigEndian64(p1) + BigEndian64(p3)));
  for (const char* id : {"user_id:1", "user_id:2", "user_id:3", "email:new@example.com"}) {
    EXPECT_EQ(LookupText(id), p1) << id;
  }
}

TEST_F(IdentityResolverTest, RedirectChainsAreFollowedAndRootAndLookupWriteNothing) {
  const uint64_t p1 = MustResolve(MakeEvent("m1", {"user_id:1"})).profile_id;
  const uint64_t p2 = MustResolve(MakeEvent("m2", {"user_id:2"})).profile_id;
  const uint64_t p3 = MustResolve(MakeEvent("m3", {"user_id:3", "email:three@example.com"})).profile_id;
  MustResolve(MakeEvent("m4", {"user_id:2", "user_id:3"}));  // p3 -> p2
  MustResolve(MakeEvent("m5", {"user_id:1", "user_id:2"}));  // p2 -> p1: p3 is now two hops away

  const auto before = kv_.data();
  EXPECT_EQ(kv_.data().at("rd/" + BigEndian64(p3)), BigEndian64(p2));
  auto root = resolver_.Root(p3);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root, p1);
  EXPECT_EQ(LookupText("email:three@example.com"), p1);
  auto read_only = LookupIdentifier(kv_, "baankafe", ParseIdentifier("email:three@example.com").value());
  ASSERT_TRUE(read_only.ok());
  EXPECT_EQ(*read_only, p1);
  EXPECT_EQ(kv_.data(), before) << "Root and Lookup must be read-only";
}

TEST_F(IdentityResolverTest, ResolveCompressesPathsToTheRoot) {
  const uint64_t p1 = MustResolve(MakeEvent("m1", {"user_id:1"})).profile_id;
  const uint64_t p2 = MustResolve(MakeEvent("m2", {"user_id:2"})).profile_id;
  const uint64_t p3 = MustResolve(MakeEvent("m3", {"user_id:3", "email:three@example.com"})).profile_id;
  MustResolve(MakeEvent("m4", {"user_id:2", "user_id:3"}));
  MustResolve(MakeEvent("m5", {"user_id:1", "user_id:2"}));
  ASSERT_EQ(kv_.data().at(IndexKey("baankafe", "email:three@example.com")), BigEndian64(p3));

  const Resolution r = MustResolve(MakeEvent("m6", {"email:three@example.com"}));
  EXPECT_EQ(r.profile_id, p1);
  EXPECT_TRUE(r.merges.empty());
  // The identifier now points straight at the root, and so does the first hop of the old chain.
  EXPECT_EQ(kv_.data().at(IndexKey("baankafe", "email:three@example.com")), BigEndian64(p1));
  EXPECT_EQ(kv_.data().at("rd/" + BigEndian64(p3)), BigEndian64(p1));
  EXPECT_EQ(kv_.data().at("rd/" + BigEndian64(p2)), BigEndian64(p1));
}

TEST_F(IdentityResolverTest, WorkspacesNeverShareIdentifiers) {
  const uint64_t a = MustResolve(MakeEvent("m1", {"email:s@example.com"}, "shop-a")).profile_id;
  const uint64_t b = MustResolve(MakeEvent("m2", {"email:s@example.com"}, "shop-b")).profile_id;
  EXPECT_NE(a, b);
  EXPECT_EQ(LookupText("email:s@example.com", "shop-a"), a);
  EXPECT_EQ(LookupText("email:s@example.com", "shop-b"), b);
  EXPECT_EQ(LookupText("email:s@example.com", "shop-c"), std::nullopt);
  // A workspace that is a prefix of another stays separate (the '\0' separator).
  MustResolve(MakeEvent("m3", {"user_id:1"}, "shop"));
  EXPECT_EQ(LookupText("user_id:1", "shop-a"), std::nullopt);
  // Linking in one workspace merges nothing in the other.
  const Resolution r = MustResolve(MakeEvent("m4", {"email:s@example.com", "user_id:9"}, "shop-b"));
  EXPECT_TRUE(r.merges.empty());
  EXPECT_EQ(LookupText("user_id:9", "shop-a"), std::nullopt);
}

TEST_F(IdentityResolverTest, AnEventWithoutUsableIdentifiersIsInvalidAndWritesNothing) {
  v1::Event none = MakeEvent("m1", {});
  auto r = resolver_.Resolve(none);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);

  v1::Event empty_values = MakeEvent("m2", {});
  *empty_values.add_identifiers() = MakeIdentifier("email", "");
  *empty_values.add_identifiers() = MakeIdentifier("", "x");
  EXPECT_EQ(resolver_.Resolve(empty_values).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(kv_.data().empty());

  // Empty ones are skipped next to a usable one.
  v1::Event mixed = MakeEvent("m3", {"user_id:7"});
  *mixed.add_identifiers() = MakeIdentifier("email", "");
  EXPECT_TRUE(MustResolve(mixed).created);
  EXPECT_FALSE(kv_.data().contains(IndexKey("baankafe", "email:")));
}

TEST_F(IdentityResolverTest, RepeatedIdentifiersWithinAnEventCountOnce) {
  MustResolve(MakeEvent("m1", {"user_id:1"}));
  MustResolve(MakeEvent("m2", {"user_id:2"}));
  const Resolution r = MustResolve(MakeEvent("m3", {"user_id:2", "user_id:1", "user_id:2", "user_id:1"}));
  ASSERT_EQ(r.merges.size(), 1u);
  EXPECT_EQ(Formatted(r.merges[0].evidence()), (std::vector<std::string>{"user_id:2", "user_id:1"}));
}

TEST_F(IdentityResolverTest, ARedirectThatDoesNotDescendIsReportedAsCorruption) {
  const uint64_t p1 = MustResolve(MakeEvent("m1", {"user_id:1"})).profile_id;
  kv_.Put("rd/" + BigEndian64(p1), BigEndian64(p1 + 5));
  EXPECT_EQ(resolver_.Root(p1).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(resolver_.Resolve(MakeEvent("m2", {"user_id:1"})).status().code(), absl::StatusCode::kDataLoss);
  kv_.Put(IndexKey("baankafe", "user_id:9"), "short");
  EXPECT_EQ(resolver_.Lookup("baankafe", MakeIdentifier("user_id", "9")).status().code(),
            absl::StatusCode::kDataLoss);
}

// ---- Property: the partition of identifiers into profiles is independent of arrival order. ----

using Partition = std::set<std::set<std::string>>;

// A population where people own several identifiers, and each event shows one to three of one
// person's identifiers; occasionally an event carries two people's identifiers (a shared device,
// a typo'd email), so components grow across people too. Deterministic for a seed.
std::vector<v1::Event> RandomEvents(uint64_t seed, int people, int events, std::vector<std::string>& all_identifiers) {
  std::mt19937_64 rng(seed);
  const char* kTypes[] = {"user_id", "anonymous_id", "email", "phone", "instagram", "loyalty_id"};
  std::vector<std::vector<std::string>> owned(people);
  for (int p = 0; p < people; ++p) {
    const int count = 2 + static_cast<int>(rng() % 4);
    for (int k = 0; k < count; ++k) {
      owned[p].push_back(std::string(kTypes[rng() % 6]) + ":p" + std::to_string(p) + "-" + std::to_string(k));
      all_identifiers.push_back(owned[p].back());
    }
  }
  std::vector<v1::Event> out;
  for (int e = 0; e < events; ++e) {
    std::vector<std::string> ids;
    const int person = static_cast<int>(rng() % people);
    const int count = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < count; ++k) ids.push_back(owned[person][rng() % owned[person].size()]);
    if (rng() % 10 == 0) {
      const auto& other = owned[rng() % people];
      ids.push_back(other[rng() % other.size()]);
    }
    out.push_back(MakeEvent("m" + std::to_string(e), ids));
  }
  return out;
}

// The expected partition, by an independent in-memory union-find over the same events.
Partition ExpectedPartition(const std::vector<v1::Event>& events) {
  std::map<std::string, std::string> parent;
  std::function<std::string(const std::string&)> find = [&](const std::string& x) -> std::string {
    if (parent[x] == x) return x;
    return parent[x] = find(parent[x]);
  };
  for (const v1::Event& event : events) {
    for (const v1::Identifier& id : event.identifiers()) parent.try_emplace(FormatIdentifier(id), FormatIdentifier(id));
    const std::string first = find(FormatIdentifier(event.identifiers(0)));
    for (const v1::Identifier& id : event.identifiers()) parent[find(FormatIdentifier(id))] = first;
  }
  std::map<std::string, std::set<std::string>> groups;
  for (const auto& [id, unused] : parent) groups[find(id)].insert(id);
  Partition partition;
  for (auto& [root, members] : groups) partition.insert(members);
  return partition;
}

TEST(IdentityResolverPropertyTest, ThePartitionOfIdentifiersIsTheSameInEveryArrivalOrder) {
  for (uint64_t seed : {11u, 2026u, 90210u}) {
    std::vector<std::string> identifiers;
    const std::vector<v1::Event> events = RandomEvents(seed, /*people=*/120, /*events=*/500, identifiers);
    const Partition expected = ExpectedPartition(events);
    ASSERT_GT(expected.size(), 10u) << "the population should not collapse into a few profiles";

    std::mt19937_64 rng(seed * 7919);
    std::vector<size_t> order(events.size());
    std::iota(order.begin(), order.end(), 0);
    for (int round = 0; round < 24; ++round) {
      std::shuffle(order.begin(), order.end(), rng);
      MemoryKv kv;
      FixedClock clock(kNowMs);
      FingerprintIndex index(round % 2 == 0 ? FingerprintIndex::kDefaultMaxEntries : 0);  // on, off
      IdentityResolver resolver(&kv, /*id_prefix=*/1, &clock, Unrestricted(), &index);
      size_t created = 0, merges = 0;
      for (size_t index : order) {
        auto r = resolver.Resolve(events[index]);
        ASSERT_TRUE(r.ok()) << r.status();
        created += r->created ? 1 : 0;
        merges += r->merges.size();
        for (const v1::MergeRecord& m : r->merges) ASSERT_LT(m.winner(), m.loser());
      }
      std::map<uint64_t, std::set<std::string>> by_profile;
      for (const std::string& text : identifiers) {
        auto root = resolver.Lookup("baankafe", ParseIdentifier(text).value());
        ASSERT_TRUE(root.ok()) << root.status();
        if (root->has_value()) by_profile[**root].insert(text);
      }
      Partition actual;
      for (auto& [id, members] : by_profile) actual.insert(members);
      ASSERT_EQ(actual, expected) << "seed " << seed << " round " << round;
      // Every profile ever created is either a root or was merged away exactly once.
      EXPECT_EQ(created - merges, expected.size()) << "seed " << seed << " round " << round;
      // Every redirect points at a smaller id, so the graph can hold no cycle.
      for (const auto& [key, value] : kv.data()) {
        if (key.starts_with("rd/")) {
          ASSERT_LT(ReadBigEndian64(value), ReadBigEndian64(key.substr(3)));
        }
      }
    }
  }
}

}  // namespace
}  // namespace tessera::identity
