// Pins the identity side of `tessera profile split` (identity/identity_split.cc): which profile a
// removal touches, how the replay regroups its identifiers and places its events, what StageSplit
// writes ("ix/", "ip/", "sq/", "sp/", "lx/"), and the errors. The profile rebuild and the whole
// command are pinned by tests/integration/split_test.cc.
#include "identity/identity_split.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/identifier.h"
#include "gtest/gtest.h"
#include "identity/identity_records.h"
#include "identity/identity_resolver.h"
#include "identity/identity_simulate.h"
#include "tests/fakes/manual_clock.h"
#include "tests/fakes/memory_kv.h"

namespace tessera::identity {
namespace {

using ::tessera::testing::ManualClock;
using ::tessera::testing::MemoryKv;

constexpr int64_t kBaseMs = 1'789'000'000'000;
constexpr char kWorkspace[] = "baankafe";

v1::Event MakeEvent(const std::string& message_id, int64_t minute, const std::vector<std::string>& identifiers,
                    const std::string& topic = "raw.web", int32_t partition = 0) {
  v1::Event event;
  event.set_message_id(message_id);
  event.set_workspace(kWorkspace);
  event.set_timestamp_ms(kBaseMs + minute * 60'000);
  event.mutable_source()->set_topic(topic);
  event.mutable_source()->set_partition(partition);
  event.mutable_source()->set_offset(minute);
  for (const std::string& text : identifiers) *event.add_identifiers() = ParseIdentifier(text).value();
  return event;
}

// A resolver over a MemoryKv that keeps every event it resolved, as the event store would (the
// per-profile split does not matter to the identity side: it asks for the events of a root and
// its merged ids, and gets all of them here unless `store_events` is false).
class SplitTest : public ::testing::Test {
 protected:
  uint64_t Resolve(const v1::Event& event) {
    auto r = resolver_.Resolve(event);
    EXPECT_TRUE(r.ok()) << r.status();
    events_.push_back(event);
    return r.ok() ? r->profile_id : 0;
  }
  std::optional<uint64_t> RootOf(const std::string& text) {
    auto root = LookupIdentifier(kv_, kWorkspace, ParseIdentifier(text).value());
    EXPECT_TRUE(root.ok()) << root.status();
    return root.ok() ? *root : std::nullopt;
  }
  ProfileEventsFn EventsOf() {
    return [this](uint64_t, const std::vector<uint64_t>&) -> absl::StatusOr<std::vector<v1::Event>> {
      if (!store_events_) return std::vector<v1::Event>{};
      return events_;
    };
  }
  absl::StatusOr<std::vector<SplitPlan>> Plan(const SplitRemoval& removal) {
    return PlanSplit(kv_, kv_.Scanner(), kWorkspace, removal, rules_, EventsOf());
  }
  static std::vector<std::string> Identifiers(const SplitPlan::Part& part) {
    std::vector<std::string> out;
    for (const ProfileIdentity::Held& h : part.identifiers) out.push_back(h.identifier);
    return out;
  }

  // Alice (a1, alice@) and Bob (b1, bob@) glued by one order of Bob's that carried Alice's phone.
  void ResolveGluedPair() {
    Resolve(MakeEvent("alice-1", 0, {"anonymous_id:a1", "email:alice@x.com"}));
    Resolve(MakeEvent("alice-2", 5, {"email:alice@x.com", "phone:+66815550192"}, "raw.purchase"));
    Resolve(MakeEvent("bob-1", 10, {"anonymous_id:b1", "email:bob@y.com"}));
    Resolve(MakeEvent("bob-2", 20, {"email:bob@y.com", "phone:+66815550192"}, "raw.purchase", 3));
    Resolve(MakeEvent("bob-3", 30, {"anonymous_id:b1"}));
  }

  MemoryKv kv_;
  ManualClock clock_{1'790'000'000'000};
  RulesByWorkspace rules_;
  IdentityResolver resolver_{&kv_, 7, &clock_, rules_};
  std::vector<v1::Event> events_;
  bool store_events_ = true;
};

TEST_F(SplitTest, RemovingTheWrongLinkSeparatesTheTwoCustomersAndPlacesEveryEvent) {
  ResolveGluedPair();
  ASSERT_EQ(RootOf("email:alice@x.com"), RootOf("email:bob@y.com"));  // the wrong merge
  const uint64_t root = *RootOf("email:alice@x.com");

  auto plans = Plan(ParseLinkRemoval("email:bob@y.com--phone:+66815550192").value());
  ASSERT_TRUE(plans.ok()) << plans.status();
  ASSERT_EQ(plans->size(), 1u);
  SplitPlan& plan = plans->front();
  EXPECT_EQ(plan.profile_id, root);
  ASSERT_TRUE(plan.Splits());
  ASSERT_EQ(plan.parts.size(), 2u);
  // Alice has the earliest claim: she keeps the id, and the phone stays with her (her order
  // asserted it; Bob's order no longer carries it to him).
  EXPECT_EQ(Identifiers(plan.parts[0]),
            (std::vector<std::string>{"anonymous_id:a1", "email:alice@x.com", "phone:+66815550192"}));
  EXPECT_EQ(Identifiers(plan.parts[1]), (std::vector<std::string>{"anonymous_id:b1", "email:bob@y.com"}));
  for (const v1::Event& e : events_) {
    const size_t expected = e.message_id().starts_with("alice") ? 0 : 1;
    EXPECT_EQ(plan.PartOf(Claim{e.timestamp_ms(), e.message_id()}), expected) << e.message_id();
  }
  ASSERT_EQ(plan.detached.size(), 1u);
  EXPECT_EQ(plan.detached.begin()->first.message_id, "bob-2");
  EXPECT_EQ(plan.detached.begin()->second, std::vector<std::string>{"phone:+66815550192"});

  auto record = StageSplit(kv_, plan, SplitAudit{"ops", 1'790'000'000'000, "link"});
  ASSERT_TRUE(record.ok()) << record.status();
  const uint64_t bob = plan.parts[1].id;
  EXPECT_EQ(bob >> 48, 7u);  // from the same writer's sequence
  EXPECT_NE(bob, root);
  EXPECT_EQ(RootOf("email:alice@x.com"), root);
  EXPECT_EQ(RootOf("phone:+66815550192"), root);
  EXPECT_EQ(RootOf("email:bob@y.com"), bob);
  EXPECT_EQ(RootOf("anonymous_id:b1"), bob);

  // Both identity records say what each holds, with the original claims.
  auto held = DecodeProfileIdentity(kv_.data().at(ProfileIdentityKey(bob))).value();
  ASSERT_EQ(held.identifiers.size(), 2u);
  EXPECT_EQ(held.identifiers[0].claim.message_id, "bob-1");
  EXPECT_EQ(DecodeProfileIdentity(kv_.data().at(ProfileIdentityKey(root))).value().identifiers.size(), 3u);

  // The split is on record from both sides.
  for (uint64_t id : {root, bob}) {
    auto splits = ReadSplits(kv_.Scanner(), id);
    ASSERT_TRUE(splits.ok()) << splits.status();
    ASSERT_EQ(splits->size(), 1u) << id;
    EXPECT_EQ(splits->front().profile_id, root);
    EXPECT_EQ(splits->front().new_ids, std::vector<uint64_t>{bob});
    EXPECT_EQ(splits->front().removed_events, std::vector<std::string>{"bob-2"});
    EXPECT_EQ(splits->front().by, "ops");
    EXPECT_EQ(splits->front().identifiers.at(bob), (std::vector<std::string>{"anonymous_id:b1", "email:bob@y.com"}));
  }

  // A new event of Bob's lands in his profile; the resolver allocates past the split's id.
  EXPECT_EQ(Resolve(MakeEvent("bob-4", 40, {"anonymous_id:b1"})), bob);
  EXPECT_GT(Resolve(MakeEvent("carol-1", 50, {"anonymous_id:c1"})), bob);
}

TEST_F(SplitTest, TheTombstoneKeepsTheLinkRemovedInLaterReplays) {
  ResolveGluedPair();
  auto plans = Plan(ParseLinkRemoval("phone:+66815550192--email:bob@y.com").value());
  ASSERT_TRUE(plans.ok()) << plans.status();
  ASSERT_TRUE(StageSplit(kv_, plans->front(), SplitAudit{}).ok());
  const uint64_t alice = *RootOf("email:alice@x.com");

  // Bob's order as the link log holds it loses the phone for a replay (simulate, later splits).
  const int64_t bob2_ms = kBaseMs + 20 * 60'000;
  LinkRecord link = DecodeLinkRecord(kv_.data().at(LinkKey(kWorkspace, Claim{bob2_ms, "bob-2"}))).value();
  auto removed = ApplyLinkTombstone(kv_, link);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(*removed, std::vector<std::string>{"phone:+66815550192"});
  EXPECT_EQ(link.identifiers, std::vector<std::string>{"email:bob@y.com"});

  // A later split of Alice's profile replays Bob's order without the phone, so the phone does not
  // pull Bob back in, and Alice's own removal splits her anonymous id off.
  auto later = Plan(EventRemoval("alice-1"));
  ASSERT_TRUE(later.ok()) << later.status();
  ASSERT_EQ(later->size(), 1u);
  EXPECT_EQ(later->front().profile_id, alice);
  ASSERT_EQ(later->front().parts.size(), 2u);
  EXPECT_EQ(Identifiers(later->front().parts[0]), (std::vector<std::string>{"email:alice@x.com", "phone:+66815550192"}));
  EXPECT_EQ(Identifiers(later->front().parts[1]), std::vector<std::string>{"anonymous_id:a1"});
}

TEST_F(SplitTest, SimulateWithTheTombstonesSeesTheSplitAndWithoutThemTheOldLink) {
  ResolveGluedPair();
  auto plans = Plan(ParseLinkRemoval("email:bob@y.com--phone:+66815550192").value());
  ASSERT_TRUE(plans.ok()) << plans.status();
  ASSERT_TRUE(StageSplit(kv_, plans->front(), SplitAudit{}).ok());
  const LinkLogFilter tombstones = [this](LinkRecord& link) { return ApplyLinkTombstone(kv_, link); };
  // The same rules over the link log with its tombstones: the store as it is, nothing changes.
  auto same = SimulateRules(kv_, kv_.Scanner(), kWorkspace, rules_, 10, tombstones);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->profiles_now, 2);
  EXPECT_EQ(same->profiles_simulated, 2);
  EXPECT_EQ(same->unchanged, 2);
  EXPECT_EQ(same->would_merge, 0);
  // Without them the replay glues the two customers again through Bob's order.
  auto ignoring = SimulateRules(kv_, kv_.Scanner(), kWorkspace, rules_);
  ASSERT_TRUE(ignoring.ok()) << ignoring.status();
  EXPECT_EQ(ignoring->profiles_simulated, 1);
  EXPECT_EQ(ignoring->would_merge, 1);
}

TEST_F(SplitTest, ALinkTwoEventsAssertedSurvivesTheRemovalOfOne) {
  Resolve(MakeEvent("m1", 0, {"anonymous_id:a1", "email:alice@x.com"}));
  Resolve(MakeEvent("m2", 5, {"anonymous_id:a1", "email:alice@x.com"}));  // a repeat: not in the link log
  auto plans = Plan(EventRemoval("m1"));
  ASSERT_TRUE(plans.ok()) << plans.status();
  ASSERT_EQ(plans->size(), 1u);
  EXPECT_FALSE(plans->front().Splits());
  // The repeat is not in the link log: it is found only within a named profile, and removing it
  // splits nothing either (m1 still links).
  EXPECT_EQ(Plan(EventRemoval("m2")).status().code(), absl::StatusCode::kNotFound);
  SplitRemoval repeat = EventRemoval("m2");
  repeat.within = "email:alice@x.com";
  plans = Plan(repeat);
  ASSERT_TRUE(plans.ok()) << plans.status();
  EXPECT_FALSE(plans->front().Splits());
  EXPECT_EQ(plans->front().detached.size(), 1u);
  repeat.message_id = "not-in-this-profile";
  EXPECT_EQ(Plan(repeat).status().code(), absl::StatusCode::kFailedPrecondition);
  // Without the event store only the link log is left, and it holds m1 alone: the link goes.
  store_events_ = false;
  plans = Plan(EventRemoval("m1"));
  ASSERT_TRUE(plans.ok()) << plans.status();
  EXPECT_TRUE(plans->front().Splits());
  EXPECT_EQ(plans->front().events_from_link_log, 1);
}

TEST_F(SplitTest, TheLinkLogAloneIsEnoughWhenEventsArePastRetention) {
  ResolveGluedPair();
  store_events_ = false;
  auto plans = Plan(ParseLinkRemoval("email:bob@y.com--phone:+66815550192").value());
  ASSERT_TRUE(plans.ok()) << plans.status();
  ASSERT_EQ(plans->front().parts.size(), 2u);
  EXPECT_EQ(plans->front().events_from_store, 0);
  EXPECT_EQ(Identifiers(plans->front().parts[1]), (std::vector<std::string>{"anonymous_id:b1", "email:bob@y.com"}));
}

TEST_F(SplitTest, RemovingASourceSplitsEveryProfileItGlued) {
  ResolveGluedPair();
  Resolve(MakeEvent("dan-1", 60, {"anonymous_id:d1"}));
  Resolve(MakeEvent("dan-2", 61, {"anonymous_id:d1", "email:dan@z.com"}, "raw.purchase", 3));
  auto plans = Plan(ParseSourceRemoval("raw.purchase:3").value());
  ASSERT_TRUE(plans.ok()) << plans.status();
  ASSERT_EQ(plans->size(), 2u);  // the glued pair, and Dan's profile
  EXPECT_TRUE((*plans)[0].Splits());
  EXPECT_EQ((*plans)[0].detached.size(), 1u);
  EXPECT_TRUE((*plans)[1].Splits());  // Dan's email came only from that source
  EXPECT_EQ(Identifiers((*plans)[1].parts[1]), std::vector<std::string>{"email:dan@z.com"});
}

TEST_F(SplitTest, RemovingAJunkIdentifierBreaksAMegaProfileIntoItsCustomers) {
  // Four customers whose orders all carry the shop's own loyalty card: one mega-profile.
  for (int i = 1; i <= 4; ++i) {
    const std::string email = absl::StrCat("email:c", i, "@x.com");
    Resolve(MakeEvent(absl::StrCat("visit-", i), i * 10, {absl::StrCat("anonymous_id:c", i), email}));
    Resolve(MakeEvent(absl::StrCat("order-", i), i * 10 + 5, {email, "loyalty_id:SHOP"}, "raw.purchase"));
  }
  Resolve(MakeEvent("card-swipe", 90, {"loyalty_id:SHOP"}));  // the card alone
  const std::optional<uint64_t> mega = RootOf("loyalty_id:SHOP");
  for (int i = 1; i <= 4; ++i) ASSERT_EQ(RootOf(absl::StrCat("email:c", i, "@x.com")), mega);

  auto plans = Plan(ParseIdentifierRemoval("loyalty_id:SHOP").value());
  ASSERT_TRUE(plans.ok()) << plans.status();
  SplitPlan& plan = plans->front();
  ASSERT_EQ(plan.parts.size(), 5u);  // four customers and the card
  EXPECT_EQ(plan.detached.size(), 4u);  // every order; the swipe carried the card alone
  ASSERT_TRUE(StageSplit(kv_, plan, SplitAudit{}).ok());
  std::set<uint64_t> customers;
  for (int i = 1; i <= 4; ++i) {
    const auto root = RootOf(absl::StrCat("email:c", i, "@x.com"));
    EXPECT_EQ(RootOf(absl::StrCat("anonymous_id:c", i)), root);
    customers.insert(*root);
    for (const char* kind : {"visit-", "order-"}) {
      const int64_t minute = i * 10 + (kind[0] == 'o' ? 5 : 0);
      EXPECT_EQ(plan.parts[plan.PartOf(Claim{kBaseMs + minute * 60'000, absl::StrCat(kind, i)})].id, *root);
    }
  }
  EXPECT_EQ(customers.size(), 4u);
  EXPECT_FALSE(customers.contains(*RootOf("loyalty_id:SHOP")));
  EXPECT_EQ(plan.parts[plan.PartOf(Claim{kBaseMs + 90 * 60'000, "card-swipe"})].id, *RootOf("loyalty_id:SHOP"));
  EXPECT_EQ(*mega, plan.parts[0].id);  // customer 1 has the earliest claim and keeps the id
  EXPECT_EQ(RootOf("email:c1@x.com"), mega);
  // The whole record is under the mega-profile; a new profile holds only its own part.
  auto whole = ReadSplits(kv_.Scanner(), *mega);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(whole->size(), 1u);
  EXPECT_EQ(whole->front().new_ids.size(), 4u);
  EXPECT_EQ(whole->front().removed_events.size(), 4u);
  const uint64_t second = *RootOf("email:c2@x.com");
  auto own = ReadSplits(kv_.Scanner(), second);
  ASSERT_TRUE(own.ok()) << own.status();
  ASSERT_EQ(own->size(), 1u);
  EXPECT_EQ(own->front().profile_id, *mega);
  EXPECT_EQ(own->front().new_ids, std::vector<uint64_t>{second});
  EXPECT_EQ(own->front().identifiers.size(), 1u);
  EXPECT_EQ(own->front().removed_events, std::vector<std::string>{"order-2"});
}

TEST_F(SplitTest, WhatCannotBeSplitIsAClearError) {
  ResolveGluedPair();
  Resolve(MakeEvent("carol-1", 40, {"anonymous_id:c1", "email:carol@z.com"}));

  auto unknown = Plan(ParseLinkRemoval("email:nobody@x.com--email:bob@y.com").value());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("email:nobody@x.com"), std::string_view::npos);

  auto apart = Plan(ParseLinkRemoval("email:carol@z.com--email:bob@y.com").value());
  EXPECT_EQ(apart.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(apart.status().message().find("not linked"), std::string_view::npos);

  // In one profile, but no event carries both.
  auto no_event = Plan(ParseLinkRemoval("anonymous_id:a1--anonymous_id:b1").value());
  EXPECT_EQ(no_event.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(no_event.status().message().find("no event of profile"), std::string_view::npos);

  EXPECT_EQ(Plan(EventRemoval("never-sent")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Plan(ParseSourceRemoval("raw.social").value()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ParseLinkRemoval("email:a@x.com").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseLinkRemoval("email:a@x.com--email:a@x.com").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SplitTest, PlanningWritesNothing) {
  ResolveGluedPair();
  const std::map<std::string, std::string> before = kv_.data();
  auto plans = Plan(ParseLinkRemoval("email:bob@y.com--phone:+66815550192").value());
  ASSERT_TRUE(plans.ok()) << plans.status();
  EXPECT_TRUE(plans->front().Splits());
  EXPECT_EQ(kv_.data(), before);
}

TEST(SplitRemovalTest, ParsesTheCommandLineForms) {
  auto link = ParseLinkRemoval("email:a@x.com--phone:+66815550192").value();
  EXPECT_EQ(link.Describe(), "link email:a@x.com--phone:+66815550192");
  auto source = ParseSourceRemoval("raw.web:2").value();
  EXPECT_EQ(source.source_topic, "raw.web");
  EXPECT_EQ(source.source_partition, 2);
  auto whole = ParseSourceRemoval("tessera.raw.web").value();
  EXPECT_EQ(whole.source_topic, "tessera.raw.web");
  EXPECT_FALSE(whole.source_partition.has_value());
  EXPECT_EQ(EventRemoval("m7").Describe(), "event m7");
  EXPECT_EQ(ParseIdentifierRemoval("email:Junk@X.com").value().Describe(), "identifier email:Junk@X.com");
  EXPECT_EQ(ParseIdentifierRemoval("junk").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::identity
