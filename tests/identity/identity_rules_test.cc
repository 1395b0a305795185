// Pins the merge rules of identity/identity_resolver.cc and identity/identity_rules.cc: blocked
// values and patterns, the user_id rule, value limits with demotion by claim, shared devices and
// their owner by event time, per-profile caps, priority, per-workspace rules, the violation records
// (returned and stored), and the property that shuffled arrival orders give the same links.
#include <algorithm>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/identifier.h"
#include "gtest/gtest.h"
#include "identity/fingerprint_index.h"
#include "identity/identity_explain.h"
#include "identity/identity_records.h"
#include "identity/identity_resolver.h"
#include "identity/identity_rules.h"
#include "tests/fakes/memory_kv.h"
#include "tests/identity/identity_test_events.h"

namespace tessera::identity {
namespace {

using ::tessera::testing::MemoryKv;

using ::tessera::identity::testing::FixedClock;
using ::tessera::identity::testing::kBaseMs;
using ::tessera::identity::testing::MakeEvent;

RulesByWorkspace Rules(const IdentityRules& rules) { return RulesByWorkspace::Make(rules).value(); }

std::vector<std::string> Rules(const Resolution& r) {
  std::vector<std::string> out;
  for (const IdentityViolation& v : r.violations) out.push_back(v.rule + " " + v.identifier);
  return out;
}

class RulesTest : public ::testing::Test {
 protected:
  void Use(const IdentityRules& rules) {
    index_.Clear();
    resolver_ = std::make_unique<IdentityResolver>(&kv_, 3, &clock_, Rules(rules), &index_);
  }

  Resolution Resolve(const v1::Event& event) {
    auto r = resolver_->Resolve(event);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : Resolution{};
  }
  std::optional<uint64_t> Find(const std::string& identifier, const std::string& workspace = "baankafe") {
    auto r = resolver_->Lookup(workspace, ParseIdentifier(identifier).value());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::nullopt;
  }
  std::vector<IdentityViolation> Stored(const std::string& workspace = "baankafe") {
    std::vector<IdentityViolation> out;
    const std::string prefix = ViolationKeyPrefix(workspace);
    for (const auto& [key, value] : kv_.data()) {
      if (key.starts_with(prefix)) out.push_back(DecodeViolation(value).value());
    }
    return out;
  }

  MemoryKv kv_;
  FixedClock clock_;
  // Every rule holds with the fingerprint index in front of the store (fingerprint_index_test.cc
  // demands the same results with it off).
  FingerprintIndex index_;
  std::unique_ptr<IdentityResolver> resolver_ =
      std::make_unique<IdentityResolver>(&kv_, 3, &clock_, RulesByWorkspace(), &index_);
};

TEST_F(RulesTest, BlockedValuesNeverLinkAndAreRecordedWithTheirEvent) {
  struct Case {
    std::string junk;
    std::string rule;
  };
  const std::vector<Case> cases = {
      {"email:test@test.com", "blocked_value"},     {"user_id:undefined", "blocked_value"},
      {"user_id:NULL", "blocked_value"},            {"anonymous_id:[object Object]", "blocked_value"},
      {"loyalty_id:0", "blocked_value"},            {"email:noreply@shop.co.th", "blocked_pattern"},
      {"phone:+66000000000", "blocked_pattern"},    {"phone:+66111111111", "blocked_pattern"},
      {"phone:+66123456789", "blocked_pattern"},
  };
  int person = 0;
  for (const Case& c : cases) {
    ++person;
    const std::string user = "user_id:u" + std::to_string(person);
    const Resolution r = Resolve(MakeEvent("m" + std::to_string(person), person, {user, c.junk}));
    ASSERT_EQ(r.violations.size(), 1u) << c.junk;
    EXPECT_EQ(r.violations[0].rule, c.rule) << c.junk;
    EXPECT_EQ(r.violations[0].identifier, c.junk);
    EXPECT_EQ(r.violations[0].message_id, "m" + std::to_string(person));
    EXPECT_EQ(r.violations[0].source_topic, "raw.web");
    EXPECT_EQ(r.violations[0].source_offset, person);
    EXPECT_EQ(r.violations[0].event_time_ms, kBaseMs + person * 60'000);
    EXPECT_EQ(r.violations[0].resolved_to, r.profile_id);
    EXPECT_EQ(r.unlinked, std::vector<std::string>{c.junk});
    EXPECT_EQ(Find(c.junk), std::nullopt) << c.junk;
    EXPECT_EQ(Find(user), r.profile_id);
  }
  // Two people with the same junk email stay apart.
  EXPECT_NE(Find("user_id:u1"), Find("user_id:u2"));
  // Every violation is stored, in event-time order, and decodes to what was returned.
  const std::vector<IdentityViolation> stored = Stored();
  ASSERT_EQ(stored.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(stored[i].identifier, cases[i].junk);
  // A real phone is not caught by the patterns.
  EXPECT_TRUE(Resolve(MakeEvent("ok", 99, {"user_id:u99", "phone:+66812345678"})).violations.empty());
}

TEST_F(RulesTest, AnEventWithOnlyBlockedIdentifiersGetsAProfileOfItsOwnThatLinksNothing) {
  const Resolution a = Resolve(MakeEvent("m1", 1, {"user_id:null", "email:test@test.com"}));
  const Resolution b = Resolve(MakeEvent("m2", 2, {"user_id:null"}));
  EXPECT_TRUE(a.created);
  EXPECT_TRUE(b.created);
  EXPECT_NE(a.profile_id, b.profile_id);
  EXPECT_EQ(a.violations.size(), 2u);
  EXPECT_EQ(Find("user_id:null"), std::nullopt);
}

TEST_F(RulesTest, TwoUserIdsNeverShareAProfile) {
  const uint64_t p1 = Resolve(MakeEvent("m1", 1, {"user_id:u1", "email:s@example.com"})).profile_id;
  const uint64_t p2 = Resolve(MakeEvent("m2", 2, {"user_id:u2"})).profile_id;
  // An event naming both users merges nothing: it resolves to the first by priority, then value.
  const Resolution both = Resolve(MakeEvent("m3", 3, {"user_id:u2", "user_id:u1", "anonymous_id:a"}));
  EXPECT_TRUE(both.merges.empty());
  EXPECT_EQ(both.profile_id, p1);
  EXPECT_EQ(Rules(both), std::vector<std::string>{"user_id_conflict user_id:u2"});
  EXPECT_EQ(both.violations[0].held_by, p2);
  EXPECT_EQ(Find("anonymous_id:a"), p1);
  // An email of u1's profile seen with a new user_id: the new user gets a profile, the email stays.
  const Resolution r = Resolve(MakeEvent("m4", 4, {"email:s@example.com", "user_id:u3"}));
  EXPECT_TRUE(r.created);
  EXPECT_EQ(Rules(r), std::vector<std::string>{"user_id_conflict email:s@example.com"});
  EXPECT_EQ(r.unlinked, std::vector<std::string>{"email:s@example.com"});
  EXPECT_EQ(Find("email:s@example.com"), p1);
  EXPECT_EQ(Find("user_id:u3"), r.profile_id);
}

TEST_F(RulesTest, AtTheEmailLimitTheEarliestClaimsKeepTheirPlace) {
  const uint64_t p = Resolve(MakeEvent("m0", 0, {"user_id:u1"})).profile_id;
  for (int i = 1; i <= 5; ++i) {
    const Resolution r = Resolve(MakeEvent("m" + std::to_string(i), 10 * i, {"user_id:u1", "email:e" + std::to_string(i) + "@x.com"}));
    EXPECT_TRUE(r.violations.empty());
  }
  // A sixth email seen later than all five is refused.
  const Resolution late = Resolve(MakeEvent("m6", 100, {"user_id:u1", "email:e6@x.com"}));
  EXPECT_EQ(Rules(late), std::vector<std::string>{"value_limit email:e6@x.com"});
  EXPECT_EQ(Find("email:e6@x.com"), std::nullopt);
  // One seen earlier than the latest of them takes its place: e5 (minute 50) is demoted.
  const Resolution early = Resolve(MakeEvent("m7", 45, {"user_id:u1", "email:e7@x.com"}));
  EXPECT_EQ(Rules(early), std::vector<std::string>{"value_limit_demoted email:e5@x.com"});
  EXPECT_EQ(early.violations[0].held_by, p);
  EXPECT_EQ(Find("email:e7@x.com"), p);
  EXPECT_EQ(Find("email:e5@x.com"), std::nullopt);
  // A late copy of an earlier event re-asserts e6 with an earlier claim: e7 (minute 45) goes.
  const Resolution earlier = Resolve(MakeEvent("m8", 5, {"user_id:u1", "email:e6@x.com"}));
  EXPECT_EQ(Rules(earlier), std::vector<std::string>{"value_limit_demoted email:e7@x.com"});
  EXPECT_EQ(Find("email:e6@x.com"), p);
  // Two profiles whose emails together exceed the limit do not merge.
  Resolve(MakeEvent("n1", 1, {"phone:+66811111112", "email:a1@y.com", "email:a2@y.com", "email:a3@y.com"}));
  Resolve(MakeEvent("n2", 2, {"loyalty_id:L1", "email:b1@y.com", "email:b2@y.com", "email:b3@y.com"}));
  const Resolution refused = Resolve(MakeEvent("n3", 3, {"phone:+66811111112", "loyalty_id:L1"}));
  EXPECT_EQ(Rules(refused), std::vector<std::string>{"value_limit loyalty_id:L1"});
  EXPECT_NE(Find("email:a1@y.com"), Find("email:b1@y.com"));
}

TEST_F(RulesTest, ASharedDeviceStopsLinkingAndLeavesTheProfileItWasIn) {
  const uint64_t p1 = Resolve(MakeEvent("m1", 1, {"anonymous_id:tablet", "user_id:u1"})).profile_id;
  const uint64_t p2 = Resolve(MakeEvent("m2", 2, {"anonymous_id:tablet", "user_id:u2"})).profile_id;
  const uint64_t p3 = Resolve(MakeEvent("m3", 3, {"anonymous_id:tablet", "user_id:u3"})).profile_id;
  EXPECT_EQ(Find("anonymous_id:tablet"), p1);  // three users: not shared yet, it stays with the first
  EXPECT_NE(p1, p2);
  EXPECT_NE(p2, p3);
  const Resolution fourth = Resolve(MakeEvent("m4", 4, {"anonymous_id:tablet", "user_id:u4"}));
  ASSERT_EQ(fourth.violations.size(), 1u);
  EXPECT_EQ(fourth.violations[0].rule, "shared_device");
  EXPECT_EQ(fourth.violations[0].held_by, p1);
  const std::optional<uint64_t> device = Find("anonymous_id:tablet");
  ASSERT_TRUE(device.has_value());
  EXPECT_NE(*device, p1);
  EXPECT_NE(*device, fourth.profile_id);
  EXPECT_EQ(Find("user_id:u4"), fourth.profile_id);
  EXPECT_EQ(fourth.unlinked, std::vector<std::string>{"anonymous_id:tablet"});
  // From now on its anonymous page views go to the device profile, and it links nobody.
  EXPECT_EQ(Resolve(MakeEvent("m5", 5, {"anonymous_id:tablet"})).profile_id, *device);
  const Resolution fifth = Resolve(MakeEvent("m6", 6, {"anonymous_id:tablet", "email:five@x.com"}));
  EXPECT_NE(fifth.profile_id, *device);
  EXPECT_EQ(Rules(fifth), std::vector<std::string>{"shared_device anonymous_id:tablet"});
}

TEST_F(RulesTest, ADeviceBelongsToTheUserSeenWithItFirstByEventTimeInEitherArrivalOrder) {
  for (bool earliest_first : {true, false}) {
    kv_ = MemoryKv();
    Use(IdentityRules::Defaults());
    const v1::Event early = MakeEvent("e", 10, {"anonymous_id:tablet", "user_id:mother"});
    const v1::Event late = MakeEvent("l", 20, {"anonymous_id:tablet", "user_id:son"});
    Resolution first = Resolve(earliest_first ? early : late);
    Resolution second = Resolve(earliest_first ? late : early);
    EXPECT_EQ(Find("anonymous_id:tablet"), Find("user_id:mother")) << earliest_first;
    EXPECT_NE(Find("user_id:son"), Find("user_id:mother"));
    const Resolution& decisive = second;
    ASSERT_EQ(decisive.violations.size(), 1u);
    EXPECT_EQ(decisive.violations[0].rule, earliest_first ? "user_id_conflict" : "device_reassigned");
  }
}

TEST_F(RulesTest, CapsOnIdentifiersAndMergesPerProfile) {
  IdentityRules rules = IdentityRules::Defaults();
  rules.max_identifiers_per_profile = 3;
  rules.max_merges_per_profile = 1;
  Use(rules);
  const Resolution r = Resolve(MakeEvent("m1", 1, {"anonymous_id:a1", "anonymous_id:a2", "anonymous_id:a3", "anonymous_id:a4"}));
  EXPECT_EQ(Rules(r), std::vector<std::string>{"max_identifiers anonymous_id:a4"});
  const uint64_t x = Resolve(MakeEvent("m2", 2, {"anonymous_id:b1"})).profile_id;
  const uint64_t y = Resolve(MakeEvent("m3", 3, {"anonymous_id:c1"})).profile_id;
  const uint64_t z = Resolve(MakeEvent("m4", 4, {"anonymous_id:d1"})).profile_id;
  EXPECT_EQ(Resolve(MakeEvent("m5", 5, {"anonymous_id:b1", "anonymous_id:c1"})).merges.size(), 1u);
  const Resolution second = Resolve(MakeEvent("m6", 6, {"anonymous_id:b1", "anonymous_id:d1"}));
  EXPECT_EQ(Rules(second), std::vector<std::string>{"max_merges anonymous_id:d1"});
  EXPECT_EQ(Find("anonymous_id:c1"), x);
  EXPECT_NE(Find("anonymous_id:d1"), x);
  EXPECT_EQ(Find("anonymous_id:d1"), z);
  (void)y;
}

TEST_F(RulesTest, PriorityDecidesWhichIdentifierStaysOut) {
  IdentityRules rules = IdentityRules::Defaults();
  const uint64_t p1 = Resolve(MakeEvent("m1", 1, {"user_id:u1", "phone:+66812345678"})).profile_id;
  // The event's user_id ranks first: the phone of another user's profile is what stays out.
  const Resolution r = Resolve(MakeEvent("m2", 2, {"phone:+66812345678", "anonymous_id:a", "user_id:u2"}));
  EXPECT_EQ(Rules(r), std::vector<std::string>{"user_id_conflict phone:+66812345678"});
  EXPECT_EQ(Find("anonymous_id:a"), Find("user_id:u2"));
  EXPECT_EQ(Find("phone:+66812345678"), p1);
  // With phone ranked first, the phone's profile anchors and the new user_id is refused instead.
  rules.priority = {"phone", "user_id", "*", "anonymous_id"};
  Use(rules);
  const Resolution other = Resolve(MakeEvent("m3", 3, {"phone:+66812345678", "anonymous_id:b", "user_id:u3"}));
  EXPECT_EQ(other.profile_id, p1);
  EXPECT_EQ(Rules(other), std::vector<std::string>{"user_id_conflict user_id:u3"});
}

TEST_F(RulesTest, ARecycledPhoneDoesNotGlueItsNewOwnerToTheOldOne) {
  constexpr int64_t kDay = 24 * 60;
  Use(IdentityRules::Defaults());  // phone is weak, a number quiet for 7 days may have changed hands
  // The old owner used the number in the first days; the new owner's history starts weeks later.
  Resolve(MakeEvent("old1", 0, {"email:old@x.com", "phone:+66815550192"}));
  Resolve(MakeEvent("old2", kDay, {"email:old@x.com", "anonymous_id:old-phone"}));
  Resolve(MakeEvent("new1", 20 * kDay, {"user_id:newcomer", "email:new@x.com"}));
  const Resolution order = Resolve(MakeEvent("new2", 21 * kDay, {"email:new@x.com", "phone:+66815550192"}));
  EXPECT_EQ(Rules(order), std::vector<std::string>{"weak_link phone:+66815550192"});
  EXPECT_NE(Find("email:new@x.com"), Find("email:old@x.com"));
  EXPECT_EQ(order.profile_id, Find("user_id:newcomer"));
  EXPECT_EQ(order.unlinked, std::vector<std::string>{"phone:+66815550192"});
  // Nor do a new owner's brand-new identifiers ride the number into the old owner's profile: a
  // new email's history begins with the order that carries it.
  const Resolution first_order =
      Resolve(MakeEvent("new3", 22 * kDay, {"email:third@x.com", "loyalty_id:L9", "phone:+66815550192"}));
  EXPECT_EQ(Rules(first_order), std::vector<std::string>{"weak_link phone:+66815550192"});
  EXPECT_NE(Find("email:third@x.com"), Find("email:old@x.com"));
  EXPECT_EQ(Find("email:third@x.com"), Find("loyalty_id:L9"));

  // One customer whose two profiles overlap in time: the phone merges them.
  Resolve(MakeEvent("w1", 2, {"email:work@y.com", "phone:+66815550193"}));
  Resolve(MakeEvent("h1", 1, {"user_id:same", "email:home@y.com"}));
  Resolve(MakeEvent("h2", 5, {"user_id:same", "anonymous_id:laptop"}));
  const Resolution joined = Resolve(MakeEvent("h3", 6, {"email:home@y.com", "phone:+66815550193"}));
  EXPECT_TRUE(joined.violations.empty()) << Rules(joined).front();
  EXPECT_EQ(Find("email:work@y.com"), Find("user_id:same"));
  // A brand-new email joins through a phone its profile used within the quiet days.
  Resolve(MakeEvent("w2", 6 * kDay, {"email:second@y.com", "phone:+66815550193"}));
  EXPECT_EQ(Find("email:second@y.com"), Find("user_id:same"));

  // Without the rule (weak_types: []), the recycled number glues the two customers.
  IdentityRules strong_phone = IdentityRules::Defaults();
  strong_phone.weak_types.clear();
  Use(strong_phone);
  Resolve(MakeEvent("new4", 23 * kDay, {"email:new@x.com", "phone:+66815550192"}));
  EXPECT_EQ(Find("email:new@x.com"), Find("email:old@x.com"));
}

TEST_F(RulesTest, AWorkspaceMayDemandALongerQuietGapBeforeANumberCountsAsPassedOn) {
  constexpr int64_t kDay = 24 * 60;
  IdentityRules rules = IdentityRules::Defaults();
  rules.weak_types = {"phone"};
  rules.weak_quiet_days = 30;
  Use(rules);
  Resolve(MakeEvent("old1", 0, {"email:old@x.com", "phone:+66815550192"}));
  Resolve(MakeEvent("new1", 20 * kDay, {"user_id:newcomer", "email:new@x.com"}));
  const Resolution order = Resolve(MakeEvent("new2", 21 * kDay, {"email:new@x.com", "phone:+66815550192"}));
  EXPECT_TRUE(order.violations.empty());
  EXPECT_EQ(Find("email:new@x.com"), Find("email:old@x.com"));  // 20 days apart: not quiet long enough
}

TEST_F(RulesTest, RulesArePerWorkspace) {
  RulesByWorkspace by = RulesByWorkspace::Make(IdentityRules::Defaults(), {{"open", IdentityRules::Unrestricted()}}).value();
  resolver_ = std::make_unique<IdentityResolver>(&kv_, 3, &clock_, by);
  for (const std::string ws : {"baankafe", "open"}) {
    Resolve(MakeEvent("m1", 1, {"user_id:u1", "email:test@test.com"}, ws));
    Resolve(MakeEvent("m2", 2, {"user_id:u2", "email:test@test.com"}, ws));
  }
  EXPECT_NE(Find("user_id:u1", "baankafe"), Find("user_id:u2", "baankafe"));
  EXPECT_EQ(Find("user_id:u1", "open"), Find("user_id:u2", "open"));
  EXPECT_EQ(Stored("open").size(), 0u);
  EXPECT_EQ(Stored("baankafe").size(), 2u);
}

TEST(IdentityRecordsTest, RoundTripAndCorruption) {
  ProfileIdentity p;
  p.merges = 3;
  p.identifiers = {{"email:a@b.co", {-5, "m1"}}, {"user_id:ü", {1'789'000'000'000, ""}}};
  const std::string bytes = EncodeProfileIdentity(p);
  auto back = DecodeProfileIdentity(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->merges, 3);
  ASSERT_EQ(back->identifiers.size(), 2u);
  EXPECT_EQ(back->identifiers[0].claim, (Claim{-5, "m1"}));
  EXPECT_EQ(back->identifiers[1].identifier, "user_id:ü");
  EXPECT_EQ(DecodeProfileIdentity(bytes.substr(0, bytes.size() - 1)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeProfileIdentity(bytes + "x").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeViolation("").status().code(), absl::StatusCode::kDataLoss);
  IdentityViolation v{"shared_device", "ws", "anonymous_id:t", 7, 9, "m", "raw.web", 2, 40, 100, 200, "why \"quoted\""};
  auto decoded = DecodeViolation(EncodeViolation(v));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(ViolationToJson(*decoded), ViolationToJson(v));
  EXPECT_EQ(ViolationToJson(v),
            R"({"rule":"shared_device","workspace":"ws","identifier":"anonymous_id:t","held_by":"7","resolved_to":"9",)"
            R"("message_id":"m","source":{"topic":"raw.web","partition":2,"offset":40},"event_time_ms":100,)"
            R"("detected_at_ms":200,"detail":"why \"quoted\""})");
}

// ---- Property: shuffled arrival orders of the same events end in the same links. ----

// People with a user_id, emails and a phone; some with more emails than the limit (always shown
// with their user_id); families sharing a tablet (small ones below the shared-device limit, large
// ones above it), identifying on it with their user_id; anonymous page views; junk values from
// broken forms; duplicated events. The cases docs/identity.md claims order independence for.
std::vector<v1::Event> RuleEvents(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<v1::Event> events;
  int next = 0;
  auto add = [&](int64_t minute, std::vector<std::string> ids) {
    events.push_back(MakeEvent("m" + std::to_string(next++), minute, ids));
  };
  auto minute = [&] { return static_cast<int64_t>(rng() % 100000); };
  const char* junk[] = {"email:test@test.com", "user_id:undefined", "phone:+66000000000", "anonymous_id:null"};
  for (int p = 0; p < 60; ++p) {
    const std::string user = "user_id:u" + std::to_string(p);
    const std::string phone = "phone:+668" + std::to_string(10000000 + p);
    const std::string anon = "anonymous_id:a" + std::to_string(p);
    const int emails = p % 10 == 0 ? 8 : 1 + static_cast<int>(rng() % 3);
    add(minute(), {anon});
    add(minute(), {anon, user});
    for (int e = 0; e < emails; ++e) {
      const std::string email = "email:p" + std::to_string(p) + "e" + std::to_string(e) + "@x.com";
      add(minute(), {user, email});
      if (emails <= 5) add(minute(), {email, phone});
    }
    add(minute(), {user, phone, junk[rng() % 4]});
  }
  // Families: sizes 2, 3 (below the limit) and 4, 5 (above), members among the people above.
  int member = 0;
  for (int size : {2, 3, 4, 5}) {
    const std::string tablet = "anonymous_id:tablet" + std::to_string(size);
    for (int k = 0; k < size; ++k, ++member) {
      add(minute(), {tablet, "user_id:u" + std::to_string(member)});
      add(minute(), {tablet});
    }
  }
  // Trackers retry: some events arrive twice.
  const size_t n = events.size();
  for (size_t i = 0; i < n; i += 7) events.push_back(events[i]);
  return events;
}

// Which identifiers share a profile: the profiles with two or more identifiers, as sets.
std::set<std::set<std::string>> Links(IdentityResolver& resolver, const std::vector<v1::Event>& events) {
  std::set<std::string> all;
  for (const v1::Event& e : events) {
    for (const v1::Identifier& id : e.identifiers()) all.insert(FormatIdentifier(id));
  }
  std::map<uint64_t, std::set<std::string>> by_profile;
  for (const std::string& id : all) {
    auto root = resolver.Lookup("baankafe", ParseIdentifier(id).value());
    EXPECT_TRUE(root.ok());
    if (root.ok() && root->has_value()) by_profile[**root].insert(id);
  }
  std::set<std::set<std::string>> out;
  for (auto& [id, members] : by_profile) {
    if (members.size() > 1) out.insert(members);
  }
  return out;
}

// The link log's explanation of every profile with two or more identifiers: for each profile, the
// events that linked its identifiers, as (message id, identifiers it linked first).
std::set<std::set<std::pair<std::string, std::vector<std::string>>>> Explained(MemoryKv& kv,
                                                                                 const std::set<std::set<std::string>>& links) {
  PrefixScan scan = [&kv](std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& visit) {
    for (auto it = kv.data().lower_bound(std::string(prefix)); it != kv.data().end() && it->first.starts_with(prefix);
         ++it) {
      if (!visit(it->first, it->second)) break;
    }
    return absl::OkStatus();
  };
  std::set<std::set<std::pair<std::string, std::vector<std::string>>>> out;
  for (const std::set<std::string>& profile : links) {
    auto e = ExplainProfile(kv, scan, "baankafe", ParseIdentifier(*profile.begin()).value());
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) continue;
    std::set<std::pair<std::string, std::vector<std::string>>> events;
    for (const ExplainedLink& link : e->links) {
      EXPECT_TRUE(link.logged) << link.event.message_id;
      events.insert({link.event.message_id, link.linked});
    }
    out.insert(events);
  }
  return out;
}

TEST(IdentityRulesPropertyTest, ShuffledArrivalOrdersGiveTheSameLinks) {
  for (uint64_t seed : {5u, 77u, 2026u}) {
    std::vector<v1::Event> events = RuleEvents(seed);
    // The reference: events in event-time order.
    std::vector<v1::Event> by_time = events;
    std::stable_sort(by_time.begin(), by_time.end(), [](const v1::Event& a, const v1::Event& b) {
      return a.timestamp_ms() != b.timestamp_ms() ? a.timestamp_ms() < b.timestamp_ms() : a.message_id() < b.message_id();
    });
    FixedClock clock;
    MemoryKv reference_kv;
    IdentityResolver reference(&reference_kv, 1, &clock);
    for (const v1::Event& e : by_time) ASSERT_TRUE(reference.Resolve(e).ok());
    const auto expected = Links(reference, events);
    const auto expected_explained = Explained(reference_kv, expected);

    // The reference is right about the cases, not just consistent.
    auto same = [&](const std::string& a, const std::string& b) {
      auto ra = reference.Lookup("baankafe", ParseIdentifier(a).value());
      auto rb = reference.Lookup("baankafe", ParseIdentifier(b).value());
      return ra.ok() && rb.ok() && ra->has_value() && *ra == *rb;
    };
    for (int p = 0; p < 60; ++p) {
      for (int q = p + 1; q < 60; q += 7) {
        ASSERT_FALSE(same("user_id:u" + std::to_string(p), "user_id:u" + std::to_string(q))) << p << " " << q;
      }
    }
    EXPECT_FALSE(reference.Lookup("baankafe", ParseIdentifier("email:test@test.com").value())->has_value());
    int u0_emails = 0;                                       // five of its eight emails
    for (int e = 0; e < 8; ++e) u0_emails += same("user_id:u0", "email:p0e" + std::to_string(e) + "@x.com") ? 1 : 0;
    EXPECT_EQ(u0_emails, 5);
    for (int size : {4, 5}) {                                // shared: with nobody
      for (int m = 0; m < 14; ++m) {
        ASSERT_FALSE(same("anonymous_id:tablet" + std::to_string(size), "user_id:u" + std::to_string(m)));
      }
    }

    std::mt19937_64 rng(seed);
    for (int round = 0; round < 12; ++round) {
      std::shuffle(events.begin(), events.end(), rng);
      MemoryKv kv;
      FingerprintIndex index(round % 2 == 0 ? FingerprintIndex::kDefaultMaxEntries : 0);  // on, off
      IdentityResolver resolver(&kv, 1, &clock, RulesByWorkspace(), &index);
      size_t violations = 0;
      for (const v1::Event& e : events) {
        auto r = resolver.Resolve(e);
        ASSERT_TRUE(r.ok()) << r.status();
        violations += r->violations.size();
      }
      EXPECT_GT(violations, 0u);
      ASSERT_EQ(Links(resolver, events), expected) << "seed " << seed << " round " << round;
      // The link log explains them the same way: the same events linked the same identifiers.
      const auto got = Explained(kv, expected);
      for (const auto& profile : got) {
        if (!expected_explained.contains(profile)) {
          for (const auto& [m, ids] : profile) std::cerr << m << ":" << ids.front() << " ";
          std::cerr << "\n";
        }
      }
      for (const auto& profile : expected_explained) {
        if (!got.contains(profile)) {
          std::cerr << "expected: ";
          for (const auto& [m, ids] : profile) std::cerr << m << ":" << ids.front() << " ";
          std::cerr << "\n";
        }
      }
      ASSERT_EQ(got, expected_explained) << "seed " << seed << " round " << round;
    }
  }
}

}  // namespace
}  // namespace tessera::identity
