// Segments: configuration, incremental membership with one change per transition, windows sliding
// with time, removed definitions, merges, and the order-independence property.
#include "profiles/segments.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "absl/time/civil_time.h"
#include "profiles/profile_state.h"
#include "profiles/triggers.h"
#include "tests/fakes/memory_kv.h"

namespace tessera::profiles {
namespace {

using tessera::testing::MemoryKv;

absl::Time Day(int y, int m, int d, int hh = 0) { return absl::FromCivil(absl::CivilHour(y, m, d, hh), absl::UTCTimeZone()); }

ActivationEngine Engine(const std::string& yaml) {
  absl::StatusOr<ActivationConfig> config = ParseActivationConfig(yaml);
  EXPECT_TRUE(config.ok()) << config.status();
  return ActivationEngine(config.ok() ? *std::move(config) : ActivationConfig{});
}

v1::Event Order(const std::string& id, const std::string& category, absl::Time at) {
  v1::Event e;
  e.set_message_id("order:" + id + ":completed");
  e.set_channel(v1::CHANNEL_PURCHASE);
  e.set_type("order");
  e.set_timestamp_ms(absl::ToUnixMillis(at));
  v1::Order& order = *e.mutable_order();
  order.set_order_id(id);
  order.set_status(v1::ORDER_STATUS_COMPLETED);
  order.mutable_total()->set_currency("THB");
  order.mutable_total()->set_minor_units(10000);
  v1::OrderItem& item = *order.add_items();
  item.set_category(category);
  item.set_quantity(1);
  return e;
}

v1::Event Page(const std::string& id, absl::Time at) {
  v1::Event e;
  e.set_message_id(id);
  e.set_channel(v1::CHANNEL_WEB);
  e.set_type("page");
  e.set_name("Home");
  e.set_timestamp_ms(absl::ToUnixMillis(at));
  return e;
}

// The profile stage's order of work: fold the event, count it for the windows.
void Apply(const ActivationEngine& engine, const v1::Event& e, absl::Time now, v1::Profile& p) {
  ApplyEvent(e, p);
  engine.RecordEvent(e, absl::ToUnixMillis(now), p);
}

std::vector<std::string> Changes(const ActivationOutputs& out) {
  std::vector<std::string> lines;
  for (const SegmentChange& c : out.segment_changes) {
    lines.push_back(c.segment + (c.entered ? " entered" : " exited") + (c.reason.empty() ? "" : " (" + c.reason + ")"));
  }
  return lines;
}

constexpr char kCoffee[] = R"(
profiles:
  segments:
    - name: coffee_regulars
      description: bought coffee at least twice in 7 days
      condition: {event: purchase.order, where: {category: coffee}, count_gte: 2, within_days: 7}
    - name: lapsed
      condition: {all: [{trait: email, exists: true}, {no_event: web.page, within_days: 3}]}
)";

TEST(SegmentConfig, ParsesAndRejectsWithPaths) {
  absl::StatusOr<ActivationConfig> ok = ParseActivationConfig(kCoffee);
  ASSERT_TRUE(ok.ok()) << ok.status();
  ASSERT_EQ(ok->segments.size(), 2u);
  EXPECT_EQ(ok->segments[0].name, "coffee_regulars");
  EXPECT_EQ(ok->segments[0].description, "bought coffee at least twice in 7 days");
  EXPECT_FALSE(ok->fingerprint.empty());

  struct Case {
    const char* yaml;
    const char* expected;
  };
  const Case cases[] = {
      {"profiles: {segments: [{name: a, condition: {trait: x, eq: 1}}, {name: a, condition: {trait: x, eq: 2}}]}",
       "segment 'a' is defined twice"},
      {"profiles: {segments: [{name: a, condition: {trait: x, eq: 1}}, {name: b, condition: {trait: x, eqq: 2}}]}",
       "profiles.segments[1].condition: unknown key 'eqq'"},
      {"profiles: {segments: [{name: 'a b', condition: {trait: x, eq: 1}}]}", "may hold only letters"},
      {"profiles: {segments: [{name: a}]}", "needs a condition"},
      {"profiles: {segments: [{name: a, condition: {trait: x, eq: 1}, colour: red}]}", "unknown key 'colour'"},
      {"profiles: {triggers: {birthday: {days_before: x}}}", "profiles.triggers.birthday.days_before"},
      {"profiles: {triggers: {anniversary: {}}}", "unknown key 'anniversary'"},
      {"profiles: {triggers: {default_time_zone: Mars/Olympus}}", "IANA time zone"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ActivationConfig> bad = ParseActivationConfig(c.yaml);
    ASSERT_FALSE(bad.ok()) << c.yaml;
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find(c.expected), std::string::npos) << c.yaml << " gave " << bad.status();
  }
  // Other keys under profiles: belong to computed traits and are not ours to reject.
  EXPECT_TRUE(ParseActivationConfig("profiles: {rfm: {recency_days: [30, 90]}}").ok());
  EXPECT_TRUE(ParseActivationConfig("").ok());
}

TEST(Segments, AWindowSlidesInAndOutOnceEach) {
  const ActivationEngine engine = Engine(kCoffee);
  MemoryKv kv;
  v1::Profile p;
  p.set_id(7);
  const absl::Time mon = Day(2026, 11, 2, 9);
  Apply(engine, Order("1", "coffee", mon), mon, p);
  Apply(engine, Order("2", "bakery", mon), mon, p);
  ActivationOutputs out;
  ASSERT_TRUE(engine.Evaluate(p, kv, mon, out).ok());
  EXPECT_TRUE(Changes(out).empty());

  const absl::Time wed = Day(2026, 11, 4, 9);
  Apply(engine, Order("3", "coffee", wed), wed, p);
  ASSERT_TRUE(*engine.Evaluate(p, kv, wed, out));
  EXPECT_EQ(Changes(out), std::vector<std::string>{"coffee_regulars entered"});
  EXPECT_EQ(out.segment_changes[0].at_ms, absl::ToUnixMillis(wed));
  EXPECT_TRUE(p.segments().contains("coffee_regulars"));
  // Evaluating again (a replay, another event) reports nothing new.
  out = {};
  ASSERT_FALSE(*engine.Evaluate(p, kv, wed + absl::Hours(3), out));
  EXPECT_TRUE(Changes(out).empty());
  // The next change is when Monday's coffee leaves the 7-day window: the start of the 9th (UTC).
  ASSERT_EQ(p.timers_size(), 1);
  EXPECT_EQ(p.timers(0).name(), "segments");
  EXPECT_EQ(p.timers(0).due_ms(), absl::ToUnixMillis(Day(2026, 11, 9)));
  EXPECT_EQ(p.wake_ms(), p.timers(0).due_ms());
  EXPECT_EQ(kv.data().size(), 1u);
  EXPECT_TRUE(kv.data().contains(TimerKey(p.wake_ms(), 7, "")));

  ASSERT_FALSE(*engine.Evaluate(p, kv, Day(2026, 11, 8, 23), out));
  ASSERT_TRUE(*engine.Evaluate(p, kv, Day(2026, 11, 9), out));
  EXPECT_EQ(Changes(out), std::vector<std::string>{"coffee_regulars exited"});
  // Wednesday's order leaves on the 11th; nothing can change after that without an event.
  EXPECT_EQ(p.timers(0).due_ms(), absl::ToUnixMillis(Day(2026, 11, 11)));
  ASSERT_FALSE(*engine.Evaluate(p, kv, Day(2026, 11, 11), out));
  EXPECT_EQ(p.timers_size(), 0);
  EXPECT_TRUE(kv.data().empty()) << "every timer key was deleted";
  EXPECT_TRUE(p.event_windows().at("purchase.order?category=coffee").by_day().empty()) << "old days pruned";
}

// tessera segment backfill NAME evaluates one segment: its transition once, the profile's segment
// timer only moved earlier, other segments untouched; an unknown name is NotFound.
TEST(Segments, EvaluatingOneSegmentTouchesOnlyItAndItsTimer) {
  const ActivationEngine engine = Engine(kCoffee);
  const ActivationEngine none = Engine("");
  MemoryKv kv;
  v1::Profile p;
  p.set_id(7);
  const absl::Time wed = Day(2026, 11, 4, 9);
  for (const char* id : {"1", "2", "3"}) Apply(engine, Order(id, "coffee", wed), wed, p);
  (*p.mutable_segments())["some_other"] = 1;  // not configured: a full Evaluate would remove it
  ActivationOutputs out;
  ASSERT_TRUE(*engine.EvaluateSegment(p, "coffee_regulars", kv, wed, out));
  EXPECT_EQ(Changes(out), std::vector<std::string>{"coffee_regulars entered"});
  EXPECT_TRUE(p.segments().contains("some_other"));
  ASSERT_EQ(p.timers_size(), 1);
  EXPECT_EQ(p.timers(0).due_ms(), absl::ToUnixMillis(Day(2026, 11, 11)));
  EXPECT_EQ(p.wake_ms(), p.timers(0).due_ms());
  EXPECT_TRUE(kv.data().contains(TimerKey(p.wake_ms(), 7, "")));
  out = {};
  ASSERT_FALSE(*engine.EvaluateSegment(p, "coffee_regulars", kv, wed + absl::Hours(1), out));
  EXPECT_TRUE(out.segment_changes.empty()) << "once per transition";
  // A later timer is moved earlier, never later.
  p.mutable_timers(0)->set_due_ms(absl::ToUnixMillis(Day(2026, 12, 1)));
  ASSERT_FALSE(*engine.EvaluateSegment(p, "coffee_regulars", kv, wed, out));
  EXPECT_EQ(p.timers(0).due_ms(), absl::ToUnixMillis(Day(2026, 11, 11)));
  EXPECT_EQ(p.wake_ms(), absl::ToUnixMillis(Day(2026, 11, 11)));
  EXPECT_EQ(kv.data().size(), 1u);
  EXPECT_EQ(none.EvaluateSegment(p, "coffee_regulars", kv, wed, out).status().code(), absl::StatusCode::kNotFound);
}

TEST(Segments, NoEventEntersWhenTheLastVisitLeavesTheWindow) {
  const ActivationEngine engine = Engine(kCoffee);
  MemoryKv kv;
  v1::Profile p;
  p.set_id(8);
  v1::Event identify;
  identify.set_message_id("i");
  identify.set_channel(v1::CHANNEL_WEB);
  identify.set_type("identify");
  identify.set_timestamp_ms(absl::ToUnixMillis(Day(2026, 11, 1)));
  (*identify.mutable_traits())["email"] = R"("a@example.com")";
  const absl::Time now = Day(2026, 11, 1, 12);
  Apply(engine, identify, now, p);
  ActivationOutputs out;
  ASSERT_TRUE(*engine.Evaluate(p, kv, now, out));  // no visit at all yet
  Apply(engine, Page("p1", now), now, p);
  ASSERT_TRUE(*engine.Evaluate(p, kv, now, out));
  EXPECT_EQ(Changes(out), (std::vector<std::string>{"lapsed entered", "lapsed exited"}));
  out = {};
  ASSERT_TRUE(*engine.Evaluate(p, kv, Day(2026, 11, 4), out));
  EXPECT_EQ(Changes(out), std::vector<std::string>{"lapsed entered"});
}

TEST(Segments, AnEventDatedAheadOfTheClockEntersItsWindowOnItsDayWithATimer) {
  const ActivationEngine engine = Engine(kCoffee);
  MemoryKv kv;
  v1::Profile p;
  p.set_id(9);
  const absl::Time now = Day(2026, 11, 1, 12);
  // A till whose clock runs two days ahead: the orders count from their own day, not from now.
  Apply(engine, Order("a", "coffee", Day(2026, 11, 3, 9)), now, p);
  Apply(engine, Order("b", "coffee", Day(2026, 11, 3, 10)), now, p);
  ActivationOutputs out;
  ASSERT_TRUE(engine.Evaluate(p, kv, now, out).ok());
  EXPECT_TRUE(Changes(out).empty());
  // The profile wakes when that day starts, and enters then (not at the next event, or never).
  ASSERT_EQ(p.wake_ms(), absl::ToUnixMillis(Day(2026, 11, 3)));
  ASSERT_TRUE(*engine.Evaluate(p, kv, Day(2026, 11, 3), out));
  EXPECT_EQ(Changes(out), std::vector<std::string>{"coffee_regulars entered"});
}

TEST(Segments, ARemovedDefinitionExitsItsMembersAndAMergedProfileExitsAll) {
  const ActivationEngine before = Engine(R"(profiles: {segments: [{name: thai, condition: {trait: country, eq: TH}},
                                                                {name: all, condition: {trait: country, exists: true}}]})");
  const ActivationEngine after = Engine(R"(profiles: {segments: [{name: all, condition: {trait: country, exists: true}}]})");
  MemoryKv kv;
  v1::Profile p;
  p.set_id(9);
  (*p.mutable_traits())["country"].set_json(R"("TH")");
  ActivationOutputs out;
  ASSERT_TRUE(*before.Evaluate(p, kv, Day(2026, 1, 1), out));
  EXPECT_EQ(Changes(out), (std::vector<std::string>{"thai entered", "all entered"}));
  out = {};
  ASSERT_TRUE(*after.Evaluate(p, kv, Day(2026, 1, 2), out));
  EXPECT_EQ(Changes(out), std::vector<std::string>{"thai exited (removed)"});
  out = {};
  after.Retire(p, kv, Day(2026, 1, 3), out);
  EXPECT_EQ(Changes(out), std::vector<std::string>{"all exited (merged)"});
}

TEST(Segments, ChangeJson) {
  SegmentChange c{281474976710668ull, "coffee_regulars", true, 1'790'000'000'123, 9, ""};
  EXPECT_EQ(SegmentChangeToJson(c),
            R"({"profile_id":"281474976710668","segment":"coffee_regulars","change":"entered",)"
            R"("at":"2026-09-21T14:13:20.123Z","version":9})");
  c.entered = false;
  c.reason = "merged";
  EXPECT_NE(SegmentChangeToJson(c).find(R"("change":"exited","at")"), std::string::npos);
  EXPECT_NE(SegmentChangeToJson(c).find(R"("reason":"merged")"), std::string::npos);
}

// Property: the same events, shuffled and split across profiles that are then merged in a random
// order, give the same membership (and window counts) as applying them in order to one profile.
TEST(SegmentsProperty, ShuffledAndMergedEventsGiveTheSameMembership) {
  const ActivationEngine engine = Engine(R"(
profiles:
  segments:
    - {name: coffee3, condition: {event: purchase.order, where: {category: coffee}, count_gte: 3, within_days: 10}}
    - {name: pages, condition: {event: web.page, count_gte: 4}}
    - {name: quiet, condition: {no_event: web.page, within_days: 2}}
    - {name: tea_fan, condition: {any: [{event: purchase.order, where: {category: tea}, count_gte: 2, within_days: 5}, {trait: plan, eq: gold}]}}
)");
  const absl::Time now = Day(2026, 11, 20, 12);
  std::mt19937_64 rng(20261125);
  int mismatches = 0;
  std::map<std::string, int> seen_members;
  for (int round = 0; round < 200; ++round) {
    std::vector<v1::Event> events;
    std::uniform_int_distribution<int> count(0, 14), day(0, 14), kind(0, 3);
    const int n = count(rng);
    for (int i = 0; i < n; ++i) {
      const absl::Time at = now - absl::Hours(24) * day(rng) - absl::Minutes(i);
      const std::string id = std::to_string(round) + "-" + std::to_string(i);
      switch (kind(rng)) {
        case 0: events.push_back(Order(id, "coffee", at)); break;
        case 1: events.push_back(Order(id, "tea", at)); break;
        default: events.push_back(Page(id, at)); break;
      }
    }
    MemoryKv kv;
    v1::Profile reference;
    reference.set_id(1);
    for (const v1::Event& e : events) Apply(engine, e, now, reference);
    ActivationOutputs ignored;
    ASSERT_TRUE(engine.Evaluate(reference, kv, now, ignored).ok());

    // Shuffled, split over up to four profiles (ids 1..4), absorbed into 1 in a random order.
    std::shuffle(events.begin(), events.end(), rng);
    std::vector<v1::Profile> parts(4);
    for (int i = 0; i < 4; ++i) parts[i].set_id(static_cast<uint64_t>(i + 1));
    std::uniform_int_distribution<int> part(0, 3);
    for (const v1::Event& e : events) Apply(engine, e, now, parts[part(rng)]);
    std::vector<int> order = {1, 2, 3};
    std::shuffle(order.begin(), order.end(), rng);
    for (int i : order) {
      SegmentEngine::AbsorbWindows(parts[i], parts[0]);
      AbsorbProfile(parts[i], parts[0]);
    }
    MemoryKv kv2;
    ASSERT_TRUE(engine.Evaluate(parts[0], kv2, now, ignored).ok());
    std::map<std::string, int64_t> a(reference.segments().begin(), reference.segments().end());
    std::map<std::string, int64_t> b(parts[0].segments().begin(), parts[0].segments().end());
    if (a != b) ++mismatches;
    for (const auto& [name, at] : a) ++seen_members[name];
    for (const auto& [key, counts] : reference.event_windows()) {
      std::map<int32_t, int64_t> ra(counts.by_day().begin(), counts.by_day().end());
      const auto& other = parts[0].event_windows().at(key).by_day();
      std::map<int32_t, int64_t> rb(other.begin(), other.end());
      EXPECT_EQ(ra, rb) << key;
    }
  }
  EXPECT_EQ(mismatches, 0);
  // The property only means something if membership varied: every segment had members sometimes.
  for (const char* name : {"coffee3", "pages", "quiet", "tea_fan"}) {
    EXPECT_GT(seen_members[name], 0) << name;
    EXPECT_LT(seen_members[name], 200) << name;
  }
}

}  // namespace
}  // namespace tessera::profiles
