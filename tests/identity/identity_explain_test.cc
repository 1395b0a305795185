// Pins the link log ("lk/", "lv/" of identity/identity_resolver.cc), the explanation of a profile
// (identity/identity_explain.cc) and the dry run of new rules (identity/identity_simulate.cc).
#include <map>
#include <string>
#include <vector>

#include "common/identifier.h"
#include "gtest/gtest.h"
#include "identity/identity_explain.h"
#include "identity/identity_records.h"
#include "identity/identity_resolver.h"
#include "identity/identity_rules.h"
#include "identity/identity_simulate.h"
#include "tests/fakes/memory_kv.h"
#include "tests/identity/identity_test_events.h"

namespace tessera::identity {
namespace {

using ::tessera::testing::MemoryKv;

using ::tessera::identity::testing::FixedClock;
using ::tessera::identity::testing::kBaseMs;

v1::Event MakeEvent(const std::string& message_id, int64_t minute, const std::vector<std::string>& identifiers) {
  v1::Event event;
  event.set_message_id(message_id);
  event.set_workspace("baankafe");
  event.set_timestamp_ms(kBaseMs + minute * 60'000);
  event.mutable_source()->set_topic("raw.web");
  event.mutable_source()->set_partition(2);
  event.mutable_source()->set_offset(100 + minute);
  for (const std::string& text : identifiers) *event.add_identifiers() = ParseIdentifier(text).value();
  return event;
}

size_t CountWithPrefix(const MemoryKv& kv, std::string_view prefix) {
  size_t n = 0;
  for (const auto& [key, value] : kv.data()) n += key.starts_with(prefix) ? 1 : 0;
  return n;
}

class LinkLogTest : public ::testing::Test {
 protected:
  Resolution Resolve(const v1::Event& event) {
    auto r = resolver_.Resolve(event);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *std::move(r) : Resolution{};
  }
  ProfileExplanation Explain(const std::string& identifier) {
    auto e = ExplainProfile(kv_, kv_.Scanner(), "baankafe", ParseIdentifier(identifier).value());
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *std::move(e) : ProfileExplanation{};
  }

  // A visitor's page view, their identify call, an order with a phone, a second email first seen
  // alone and merged in by an order carrying the user id, and a family member's user id refused on
  // the same device.
  void BuildCustomer() {
    Resolve(MakeEvent("m1", 0, {"anonymous_id:d1"}));
    Resolve(MakeEvent("m2", 5, {"anonymous_id:d1", "user_id:u1", "email:a@x.com"}));
    Resolve(MakeEvent("m3", 60, {"email:a@x.com", "phone:+66815550192"}));
    Resolve(MakeEvent("m4", 70, {"email:b@x.com"}));
    Resolve(MakeEvent("m5", 80, {"user_id:u1", "email:b@x.com"}));
    Resolve(MakeEvent("m6", 90, {"user_id:u2", "anonymous_id:d1"}));
  }

  MemoryKv kv_;
  FixedClock clock_;
  IdentityResolver resolver_{&kv_, 1, &clock_};
};

TEST_F(LinkLogTest, OnlyEventsThatChangeTheGraphAreLoggedWithTheirProvenance) {
  Resolve(MakeEvent("m1", 0, {"anonymous_id:d1", "email:a@x.com"}));
  ASSERT_EQ(CountWithPrefix(kv_, "lk/"), 1u);
  const std::string key = LinkKey("baankafe", Claim{kBaseMs, "m1"});
  ASSERT_TRUE(kv_.data().contains(key));
  const LinkRecord link = DecodeLinkRecord(kv_.data().at(key)).value();
  EXPECT_EQ(link.message_id, "m1");
  EXPECT_EQ(link.workspace, "baankafe");
  EXPECT_EQ(link.source_topic, "raw.web");
  EXPECT_EQ(link.source_partition, 2);
  EXPECT_EQ(link.source_offset, 100);
  EXPECT_EQ(link.event_time_ms, kBaseMs);
  EXPECT_EQ(link.identifiers, (std::vector<std::string>{"anonymous_id:d1", "email:a@x.com"}));

  // Known identifiers, one profile, later in event time: the store does not change at all.
  const auto before = kv_.data();
  Resolve(MakeEvent("m2", 10, {"email:a@x.com", "anonymous_id:d1"}));
  Resolve(MakeEvent("m3", 11, {"email:a@x.com"}));
  EXPECT_EQ(kv_.data(), before);

  // A new identifier: one more entry. A late event with an earlier claim: one more.
  Resolve(MakeEvent("m4", 12, {"email:a@x.com", "phone:+66815550192"}));
  EXPECT_EQ(CountWithPrefix(kv_, "lk/"), 2u);
  Resolve(MakeEvent("m0", -5, {"anonymous_id:d1"}));
  EXPECT_EQ(CountWithPrefix(kv_, "lk/"), 3u);
  // The log is in event-time order: the late event's entry comes first.
  EXPECT_EQ(kv_.data().lower_bound(LinkKeyPrefix("baankafe"))->first, LinkKey("baankafe", Claim{kBaseMs - 300'000, "m0"}));
}

TEST_F(LinkLogTest, ExplainShowsTheEventsThatLinkedEachIdentifierTheMergesAndTheRefusals) {
  BuildCustomer();
  const ProfileExplanation e = Explain("phone:+66815550192");
  EXPECT_EQ(e.asked, "phone:+66815550192");
  EXPECT_EQ(e.profile_id, resolver_.Lookup("baankafe", ParseIdentifier("user_id:u1").value()).value().value());
  EXPECT_EQ(e.identifiers, (std::vector<std::string>{"anonymous_id:d1", "email:a@x.com", "email:b@x.com",
                                                      "phone:+66815550192", "user_id:u1"}));
  ASSERT_EQ(e.links.size(), 4u);
  EXPECT_EQ(e.links[0].event.message_id, "m1");
  EXPECT_EQ(e.links[0].linked, (std::vector<std::string>{"anonymous_id:d1"}));
  EXPECT_TRUE(e.links[0].with.empty());
  EXPECT_EQ(e.links[1].event.message_id, "m2");
  EXPECT_EQ(e.links[1].linked, (std::vector<std::string>{"email:a@x.com", "user_id:u1"}));
  EXPECT_EQ(e.links[1].with, (std::vector<std::string>{"anonymous_id:d1"}));
  EXPECT_EQ(e.links[2].event.message_id, "m3");
  EXPECT_EQ(e.links[2].with, (std::vector<std::string>{"email:a@x.com"}));
  EXPECT_EQ(e.links[2].event.source_offset, 160);
  EXPECT_EQ(e.links[3].event.message_id, "m4");  // b@x.com was first seen alone, then merged in
  EXPECT_TRUE(e.links[3].with.empty());

  ASSERT_EQ(e.merges.size(), 1u);
  EXPECT_EQ(e.merges[0].message_id(), "m5");
  EXPECT_EQ(e.merges[0].winner(), e.profile_id);
  EXPECT_EQ(e.merged_from, std::vector<uint64_t>{e.merges[0].loser()});
  ASSERT_EQ(e.merges[0].evidence_size(), 2);

  ASSERT_EQ(e.refused.size(), 1u);
  EXPECT_EQ(e.refused[0].rule, kRuleUserIdConflict);
  EXPECT_EQ(e.refused[0].identifier, "anonymous_id:d1");
  EXPECT_EQ(e.refused[0].message_id, "m6");

  const std::string text = ExplanationToText(e);
  EXPECT_NE(text.find("first seen: anonymous_id:d1"), std::string::npos) << text;
  EXPECT_NE(text.find("linked email:a@x.com, user_id:u1 to anonymous_id:d1"), std::string::npos) << text;
  EXPECT_NE(text.find("event m3 (raw.web partition 2 offset 160)"), std::string::npos) << text;
  EXPECT_NE(text.find("user_id_conflict: anonymous_id:d1"), std::string::npos) << text;
  EXPECT_NE(text.find("2026-09-10 00:31:40 UTC"), std::string::npos) << text;  // m2, five minutes in

  const std::string json = ExplanationToJson(e);
  EXPECT_NE(json.find(R"("linked":["email:a@x.com","user_id:u1"],"with":["anonymous_id:d1"],"message_id":"m2")"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("refused":[{"rule":"user_id_conflict")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("evidence":["user_id:u1","email:b@x.com"])"), std::string::npos) << json;

  // The refused user's own profile shows the refusal too.
  const ProfileExplanation other = Explain("user_id:u2");
  EXPECT_NE(other.profile_id, e.profile_id);
  ASSERT_EQ(other.refused.size(), 1u);
  EXPECT_EQ(other.identifiers, std::vector<std::string>{"user_id:u2"});
}

TEST_F(LinkLogTest, AnUnknownIdentifierIsNotFound) {
  BuildCustomer();
  auto e = ExplainProfile(kv_, kv_.Scanner(), "baankafe", ParseIdentifier("email:nobody@x.com").value());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kNotFound);
  auto elsewhere = ExplainProfile(kv_, kv_.Scanner(), "other", ParseIdentifier("user_id:u1").value());
  EXPECT_EQ(elsewhere.status().code(), absl::StatusCode::kNotFound);
}

// A family of four on one tablet, with the default rules: shared device, nobody's. Each member also
// has an email of their own.
void BuildFamily(IdentityResolver& resolver) {
  for (int m = 0; m < 4; ++m) {
    const std::string n = std::to_string(m);
    ASSERT_TRUE(resolver.Resolve(MakeEvent("t" + n, 10 * m, {"anonymous_id:tablet", "user_id:f" + n})).ok());
    ASSERT_TRUE(resolver.Resolve(MakeEvent("e" + n, 10 * m + 1, {"user_id:f" + n, "email:f" + n + "@x.com"})).ok());
  }
  ASSERT_TRUE(resolver.Resolve(MakeEvent("v", 100, {"anonymous_id:tablet"})).ok());
}

TEST(SimulateTest, TheSameRulesChangeNothing) {
  MemoryKv kv;
  FixedClock clock;
  IdentityResolver resolver(&kv, 1, &clock);
  BuildFamily(resolver);
  auto report = SimulateRules(kv, kv.Scanner(), "baankafe", RulesByWorkspace());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->identifiers, 9);     // 4 user ids, 4 emails, the tablet
  EXPECT_EQ(report->profiles_now, 5);    // one per member, the tablet alone
  EXPECT_EQ(report->profiles_simulated, 5);
  EXPECT_EQ(report->unchanged, 5);
  EXPECT_EQ(report->would_change, 0);
  EXPECT_EQ(report->would_merge, 0);
  EXPECT_EQ(report->would_split, 0);
  EXPECT_GT(report->violations_by_rule.at("shared_device"), 0);
}

TEST(SimulateTest, DroppingTheSharedDeviceRuleWouldGlueTheFamilyTogether) {
  MemoryKv kv;
  FixedClock clock;
  IdentityResolver resolver(&kv, 1, &clock);
  BuildFamily(resolver);
  IdentityRules loose = IdentityRules::Defaults();
  loose.shared_device_rule = false;
  loose.value_limits.erase("user_id");  // nor one user id per profile
  auto report = SimulateRules(kv, kv.Scanner(), "baankafe", RulesByWorkspace::Make(loose).value());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->profiles_now, 5);
  EXPECT_EQ(report->profiles_simulated, 1);
  EXPECT_EQ(report->would_merge, 1);
  EXPECT_EQ(report->would_change, 5);
  EXPECT_EQ(report->would_split, 0);
  EXPECT_EQ(report->unchanged, 0);
  ASSERT_FALSE(report->examples.empty());
  EXPECT_NE(SimulationToText(*report).find("would change: 5"), std::string::npos) << SimulationToText(*report);
  EXPECT_NE(SimulationToJson(*report).find(R"("would_merge":1)"), std::string::npos);
  // Nothing was written to the store the simulation read.
  const auto before = kv.data();
  ASSERT_TRUE(SimulateRules(kv, kv.Scanner(), "baankafe", RulesByWorkspace::Make(loose).value()).ok());
  EXPECT_EQ(kv.data(), before);
}

TEST(SimulateTest, StricterRulesWouldSplit) {
  MemoryKv kv;
  FixedClock clock;
  IdentityResolver resolver(&kv, 1, &clock);
  ASSERT_TRUE(resolver.Resolve(MakeEvent("a", 0, {"user_id:u1", "email:a@x.com"})).ok());
  ASSERT_TRUE(resolver.Resolve(MakeEvent("b", 1, {"user_id:u1", "email:b@x.com"})).ok());
  IdentityRules strict = IdentityRules::Defaults();
  strict.value_limits["email"] = 1;
  auto report = SimulateRules(kv, kv.Scanner(), "baankafe", RulesByWorkspace::Make(strict).value());
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->profiles_now, 1);
  EXPECT_EQ(report->profiles_simulated, 2);  // b@x.com stays out, on its own
  EXPECT_EQ(report->would_split, 1);
  EXPECT_EQ(report->violations_by_rule.at("value_limit"), 1);
}

TEST(SimulateTest, AWorkspaceWithoutALogIsAnInvalidArgument) {
  MemoryKv kv;
  auto report = SimulateRules(kv, kv.Scanner(), "nobody", RulesByWorkspace());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::identity
