// The condition language: parsing (and its error messages, which the query API will return as
// 400s), each operator over traits and built-in computed traits, event selectors, and the time at
// which a condition's value can next change on its own.
#include "profiles/conditions.h"

#include <gtest/gtest.h>

#include "absl/time/civil_time.h"
#include "profiles/segments.h"

namespace tessera::profiles {
namespace {

absl::Time At(int y, int m, int d, int hh = 0, absl::TimeZone zone = absl::UTCTimeZone()) {
  return absl::FromCivil(absl::CivilHour(y, m, d, hh), zone);
}

void SetTrait(v1::Profile& p, const std::string& name, const std::string& json) {
  (*p.mutable_traits())[name].set_json(json);
}

bool Holds(std::string_view text, const v1::Profile& p, absl::Time now, const char* zone = "UTC") {
  absl::StatusOr<Condition> c = ParseCondition(text);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return false;
  ProfileFactsView facts(&p, *LoadZone(zone), nullptr, now);
  return Evaluate(*c, facts, now);
}

v1::Event Track(const std::string& name, const std::string& properties, int64_t ms) {
  v1::Event e;
  e.set_channel(v1::CHANNEL_WEB);
  e.set_type("track");
  e.set_name(name);
  e.set_properties_json(properties);
  e.set_timestamp_ms(ms);
  return e;
}

TEST(ConditionParse, TheIssueExampleParses) {
  absl::StatusOr<Condition> c = ParseCondition(
      R"({all: [{trait: gender, eq: female}, {trait: birthday, age_between: [25, 34]},
                {computed: rfm_tier, in: [champions, loyal]},
                {event: "Order Completed", where: {category: coffee}, count_gte: 3, within_days: 30},
                {no_event: "web.page", within_days: 60}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->kind, Condition::Kind::kAll);
  ASSERT_EQ(c->children.size(), 5u);
  EXPECT_EQ(c->children[1].op, Condition::Op::kAgeBetween);
  EXPECT_EQ(c->children[2].operands, (std::vector<std::string>{"champions", "loyal"}));
  EXPECT_EQ(c->children[3].selector.Key(), "Order Completed?category=coffee");
  EXPECT_EQ(c->children[3].count_gte, 3);
  EXPECT_EQ(c->children[3].within_days, 30);
  EXPECT_EQ(c->children[4].count_lte, 0);
  EXPECT_EQ(c->children[4].count_gte, 0);
  EXPECT_EQ(c->children[4].within_days, 60);
}

TEST(ConditionParse, JsonTextParsesToo) {
  absl::StatusOr<Condition> c =
      ParseCondition(R"({"any": [{"trait": "city", "eq": "Chiang Mai"}, {"not": {"trait": "vip", "exists": true}}]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind, Condition::Kind::kAny);
  EXPECT_EQ(c->children[1].kind, Condition::Kind::kNot);
  EXPECT_TRUE(c->children[1].children[0].exists);
}

TEST(ConditionParse, ErrorsNameThePathAndAreInvalidArgument) {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"{all: [{trait: gender, eqq: female}]}", "condition.all[0]: unknown key 'eqq'"},
      {"{all: []}", "condition.all: expected a non-empty list"},
      {"{trait: birthday, age_between: [40, 30]}", "age_between: expected [MIN, MAX]"},
      {"{trait: gender}", "needs exactly one operator"},
      {"{trait: gender, eq: f, ne: m}", "needs exactly one operator"},
      {"{event: x, within_days: -1}", "within_days: expected a whole number"},
      {"{no_event: x, count_gte: 2}", "unknown key 'count_gte'"},
      {"{color: red}", "expected one of all, any, not"},
      {"{all: [", "cannot parse"},
      {"42", "expected a condition"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Condition> parsed = ParseCondition(c.text);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(parsed.status().message().find(c.expected), std::string::npos)
        << c.text << " gave: " << parsed.status().message();
  }
}

TEST(ConditionEvaluate, TraitOperators) {
  v1::Profile p;
  SetTrait(p, "gender", R"("female")");
  SetTrait(p, "interests", R"(["coffee","yoga"])");
  SetTrait(p, "score", "42");
  SetTrait(p, "city", R"("Chiang Mai")");
  const absl::Time now = At(2026, 11, 25);
  EXPECT_TRUE(Holds("{trait: gender, eq: female}", p, now));
  EXPECT_FALSE(Holds("{trait: gender, eq: male}", p, now));
  EXPECT_TRUE(Holds("{trait: gender, ne: male}", p, now));
  EXPECT_TRUE(Holds("{trait: gender, in: [male, female]}", p, now));
  EXPECT_TRUE(Holds("{trait: interests, contains: yoga}", p, now));
  EXPECT_FALSE(Holds("{trait: interests, contains: tea}", p, now));
  EXPECT_TRUE(Holds("{trait: city, contains: Mai}", p, now));
  EXPECT_TRUE(Holds("{trait: score, gt: 41.5}", p, now));
  EXPECT_TRUE(Holds("{trait: score, gte: 42}", p, now));
  EXPECT_FALSE(Holds("{trait: score, lt: 42}", p, now));
  EXPECT_TRUE(Holds("{trait: score, eq: 42.0}", p, now));  // numbers compare as numbers
  // A missing trait: only `exists: false` and `ne` hold.
  EXPECT_TRUE(Holds("{trait: phone, exists: false}", p, now));
  EXPECT_FALSE(Holds("{trait: phone, exists: true}", p, now));
  EXPECT_TRUE(Holds("{trait: phone, ne: x}", p, now));
  EXPECT_FALSE(Holds("{trait: phone, eq: x}", p, now));
  EXPECT_FALSE(Holds("{trait: phone, gt: 1}", p, now));
  EXPECT_TRUE(Holds("{all: [{trait: gender, eq: female}, {not: {trait: phone, exists: true}}]}", p, now));
  EXPECT_FALSE(Holds("{any: [{trait: gender, eq: male}, {trait: score, lt: 0}]}", p, now));
}

TEST(ConditionEvaluate, AgeBandFollowsTheBirthdayInTheProfilesZone) {
  v1::Profile p;
  SetTrait(p, "birthday", R"("2001-11-26")");
  const char* band = "{trait: birthday, age_between: [25, 34]}";
  // 24 until the birthday, 25 from its first local minute.
  EXPECT_FALSE(Holds(band, p, At(2026, 11, 25, 16)));
  EXPECT_TRUE(Holds(band, p, At(2026, 11, 26, 0)));
  // In Bangkok (UTC+7) 26 November starts at 17:00 UTC on the 25th.
  SetTrait(p, "timezone", R"("Asia/Bangkok")");
  EXPECT_TRUE(Holds(band, p, At(2026, 11, 25, 17)));
  EXPECT_FALSE(Holds(band, p, At(2026, 11, 25, 16)));
  // 35 is out again.
  EXPECT_FALSE(Holds(band, p, At(2036, 11, 26)));
  // The next change is the next local birthday.
  absl::StatusOr<Condition> c = ParseCondition(band);
  ASSERT_TRUE(c.ok());
  ProfileFactsView facts(&p, absl::UTCTimeZone(), nullptr, At(2026, 6, 1));
  EXPECT_EQ(NextChange(*c, facts, At(2026, 6, 1)), absl::FromCivil(absl::CivilDay(2026, 11, 26), *LoadZone("Asia/Bangkok")));
}

TEST(ConditionEvaluate, BuiltInComputedTraits) {
  v1::Profile p;
  v1::OrderSummary& a = (*p.mutable_orders())["a"];
  a.set_status(v1::ORDER_STATUS_COMPLETED);
  a.mutable_total()->set_currency("THB");
  a.mutable_total()->set_minor_units(125050);
  v1::OrderSummary& b = (*p.mutable_orders())["b"];
  b.set_status(v1::ORDER_STATUS_REFUNDED);
  b.mutable_total()->set_currency("THB");
  b.mutable_total()->set_minor_units(9999);
  p.set_last_seen_ms(absl::ToUnixMillis(At(2026, 11, 1)));
  const absl::Time now = At(2026, 11, 25);
  EXPECT_TRUE(Holds("{computed: orders_count, eq: 1}", p, now));
  EXPECT_TRUE(Holds("{computed: refunds_count, eq: 1}", p, now));
  EXPECT_TRUE(Holds("{computed: total_spend.THB, gte: 1250.5}", p, now));
  EXPECT_FALSE(Holds("{computed: total_spend.THB, gt: 1250.5}", p, now));
  EXPECT_TRUE(Holds("{computed: days_since_last_seen, eq: 24}", p, now));
  EXPECT_FALSE(Holds("{computed: rfm_tier, exists: true}", p, now));  // not a built-in
}

// Computed traits come from whatever source the computed-traits engine plugs in.
class FakeComputed final : public ComputedTraitSource {
 public:
  std::optional<FactValue> Get(const v1::Profile& profile, std::string_view name, absl::Time now) const override {
    ++calls;
    if (name != "rfm_tier") return std::nullopt;
    return FactValue::FromJson(now < At(2026, 12, 1) ? R"("champions")" : R"("at_risk")");
  }
  std::optional<absl::Time> ChangesAt(const v1::Profile&, std::string_view name, absl::Time now) const override {
    if (name == "rfm_tier" && now < At(2026, 12, 1)) return At(2026, 12, 1);
    return std::nullopt;
  }
  mutable int calls = 0;
};

TEST(ConditionEvaluate, ComputedTraitsComeFromThePluggedSource) {
  absl::StatusOr<Condition> c =
      ParseCondition("{all: [{computed: rfm_tier, in: [champions, loyal]}, {not: {computed: rfm_tier, eq: lost}}]}");
  ASSERT_TRUE(c.ok());
  v1::Profile p;
  FakeComputed source;
  const absl::Time nov = At(2026, 11, 25);
  ProfileFactsView facts(&p, absl::UTCTimeZone(), &source, nov);
  EXPECT_TRUE(Evaluate(*c, facts, nov));
  EXPECT_EQ(source.calls, 1) << "one lookup per name per evaluation";
  EXPECT_EQ(NextChange(*c, facts, nov), At(2026, 12, 1));
  const absl::Time dec = At(2026, 12, 2);
  ProfileFactsView later(&p, absl::UTCTimeZone(), &source, dec);
  EXPECT_FALSE(Evaluate(*c, later, dec));
  EXPECT_EQ(NextChange(*c, later, dec), std::nullopt);
}

TEST(EventSelector, MatchesNamesChannelTypesAndProperties) {
  EventSelector coffee{"Order Completed", {{"category", "coffee"}}};
  EXPECT_TRUE(coffee.Matches(Track("Order Completed", R"({"category":"coffee"})", 0)));
  EXPECT_TRUE(coffee.Matches(Track("Order Completed", R"({"products":[{"category":"tea"},{"category":"coffee"}]})", 0)));
  EXPECT_FALSE(coffee.Matches(Track("Order Completed", R"({"category":"tea"})", 0)));
  EXPECT_FALSE(coffee.Matches(Track("Order Completed", "", 0)));
  EXPECT_FALSE(coffee.Matches(Track("Product Viewed", R"({"category":"coffee"})", 0)));

  EventSelector pages{"web.page", {}};
  v1::Event page;
  page.set_channel(v1::CHANNEL_WEB);
  page.set_type("page");
  page.set_name("Home");
  EXPECT_TRUE(pages.Matches(page));
  EXPECT_FALSE(pages.Matches(Track("page", "", 0)));  // a track named "page" is not a page view

  EventSelector bought{"purchase.order", {{"category", "coffee"}, {"status", "completed"}}};
  v1::Event order;
  order.set_channel(v1::CHANNEL_PURCHASE);
  order.set_type("order");
  order.mutable_order()->set_status(v1::ORDER_STATUS_COMPLETED);
  order.mutable_order()->add_items()->set_category("bakery");
  EXPECT_FALSE(bought.Matches(order));
  order.mutable_order()->add_items()->set_category("coffee");
  EXPECT_TRUE(bought.Matches(order));
  order.mutable_order()->set_status(v1::ORDER_STATUS_REFUNDED);
  EXPECT_FALSE(bought.Matches(order));
  EXPECT_EQ(bought.Key(), "purchase.order?category=coffee&status=completed");
}

TEST(ConditionEvaluate, EventWindowSlidesByUtcDay) {
  absl::StatusOr<Condition> c = ParseCondition("{event: Viewed, count_gte: 2, within_days: 3}");
  ASSERT_TRUE(c.ok());
  SegmentEngine engine({SegmentDefinition{"s", "", *c}});
  v1::Profile p;
  const int64_t day1 = absl::ToUnixMillis(At(2026, 11, 1, 10));
  engine.RecordEvent(Track("Viewed", "", day1), day1, p);
  engine.RecordEvent(Track("Viewed", "", day1 + kMillisPerDay), day1 + kMillisPerDay, p);
  engine.RecordEvent(Track("Other", "", day1), day1, p);
  auto holds = [&](absl::Time now) {
    ProfileFactsView facts(&p, absl::UTCTimeZone(), nullptr, now);
    return Evaluate(*c, facts, now);
  };
  EXPECT_TRUE(holds(At(2026, 11, 2, 12)));
  EXPECT_TRUE(holds(At(2026, 11, 3, 23)));   // days 1, 2, 3
  EXPECT_FALSE(holds(At(2026, 11, 4, 0)));   // day 1 left the window at midnight
  absl::StatusOr<Condition> none = ParseCondition("{no_event: Viewed, within_days: 3}");
  ASSERT_TRUE(none.ok());
  {
    ProfileFactsView f(&p, absl::UTCTimeZone(), nullptr, At(2026, 11, 4));
    EXPECT_FALSE(Evaluate(*none, f, At(2026, 11, 4)));  // day 2 still in
    EXPECT_TRUE(Evaluate(*none, f, At(2026, 11, 5)));
  }
  ProfileFactsView facts(&p, absl::UTCTimeZone(), nullptr, At(2026, 11, 2));
  EXPECT_EQ(NextChange(*c, facts, At(2026, 11, 2)), At(2026, 11, 4));
  // An event too old for any window is not counted at all.
  engine.RecordEvent(Track("Viewed", "", day1 - 10 * kMillisPerDay), day1 + kMillisPerDay, p);
  EXPECT_EQ(facts.CountEvents(c->selector, 0, At(2026, 11, 2)), 2);
}

}  // namespace
}  // namespace tessera::profiles
