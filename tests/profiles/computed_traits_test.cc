// Pins profiles/computed_traits.cc: each computed trait from a table of events (refunds, several
// currencies, late events, merges), the config reader, and the property that shuffled events —
// and events split across profiles then merged in any order — give the same stored state and the
// same computed traits.
#include "profiles/computed_traits.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "profiles/profile_state.h"
#include "tests/profiles/profile_events.h"

namespace tessera::profiles {
namespace {

using namespace ::tessera::profiles::test_events;  // NOLINT: the event builders read as a table

v1::Profile Fold(const std::vector<v1::Event>& events, const ComputedTraitsConfig& config,
                 uint64_t id = 42) {
  v1::Profile profile;
  profile.set_id(id);
  for (const v1::Event& event : events) ApplyEvent(event, profile, config);
  return profile;
}

v1::Profile Fold(const std::vector<v1::Event>& events) { return Fold(events, DefaultComputedTraitsConfig()); }

absl::Time At(int64_t ms) { return absl::FromUnixMillis(ms); }

// The profile's content: everything except who it is (id), what it absorbed and its version.
v1::Profile Content(v1::Profile profile) {
  profile.clear_id();
  profile.clear_merged_from();
  profile.clear_version();
  return profile;
}

// The JSON text of one field of the computed object.
std::string Computed(const ComputedTraits& traits, const std::string& name) {
  for (const auto& [field, json] : ComputedTraitFields(traits)) {
    if (field == name) return json;
  }
  return "<missing>";
}

ComputedTraitsConfig Config(const std::string& yaml) {
  absl::StatusOr<ComputedTraitsConfig> config = ParseComputedTraitsConfig(yaml);
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *std::move(config) : ComputedTraitsConfig();
}

// ---- value ------------------------------------------------------------------------------------

struct ValueCase {
  std::string name;
  std::vector<v1::Event> events;
  int64_t now_ms;
  std::string lifetime_spend, orders, average_order_value, first_order_at, last_order_at, days_since;
};

TEST(ComputedTraitsTest, ValueFromCompletedOrdersNetOfRefundsPerCurrency) {
  const std::vector<ValueCase> cases = {
      {"one order", {Completed("o1", kT0, 125050)}, kT0 + 3 * kDayMs + kHourMs,
       R"({"THB":"1250.50"})", "1", R"({"THB":"1250.50"})", R"("2026-11-25T03:04:05.000Z")",
       R"("2026-11-25T03:04:05.000Z")", "3"},
      {"a refund moves the order out",
       {Completed("o1", kT0, 100000), Completed("o2", kT0 + kHourMs, 50000),
        OrderEvent("o2", kT0 + 2 * kHourMs, v1::ORDER_STATUS_REFUNDED, 50000, "THB")},
       kT0 + 3 * kHourMs, R"({"THB":"1000.00"})", "1", R"({"THB":"1000.00"})", R"("2026-11-25T03:04:05.000Z")",
       R"("2026-11-25T03:04:05.000Z")", "0"},
      {"the refund arriving before the completion (late event)",
       {OrderEvent("o2", kT0 + 2 * kHourMs, v1::ORDER_STATUS_REFUNDED, 50000, "THB"),
        Completed("o2", kT0 + kHourMs, 50000), Completed("o1", kT0, 100000)},
       kT0 + 3 * kHourMs, R"({"THB":"1000.00"})", "1", R"({"THB":"1000.00"})", R"("2026-11-25T03:04:05.000Z")",
       R"("2026-11-25T03:04:05.000Z")", "0"},
      {"currencies never mix; the average rounds half up",
       {Completed("o1", kT0, 1000), Completed("o2", kT0 + kDayMs, 2001), Completed("o3", kT0 - kDayMs, 1500, "JPY")},
       kT0 + 10 * kDayMs, R"({"JPY":"1500","THB":"30.01"})", "3", R"({"JPY":"1500","THB":"15.01"})",
       R"("2026-11-24T03:04:05.000Z")", R"("2026-11-26T03:04:05.000Z")", "9"},
      {"cancelled orders and no orders",
       {OrderEvent("o1", kT0, v1::ORDER_STATUS_CANCELLED, 1000, "THB"), Page("p1", kT0)}, kT0, "{}", "0", "{}",
       "null", "null", "null"},
      {"an order stamped after now counts zero days", {Completed("o1", kT0 + kHourMs, 100)}, kT0, R"({"THB":"1.00"})",
       "1", R"({"THB":"1.00"})", R"("2026-11-25T04:04:05.000Z")", R"("2026-11-25T04:04:05.000Z")", "0"},
  };
  for (const ValueCase& c : cases) {
    SCOPED_TRACE(c.name);
    const ComputedTraits traits = ComputeTraits(Fold(c.events), At(c.now_ms), DefaultComputedTraitsConfig());
    EXPECT_EQ(Computed(traits, "lifetime_spend"), c.lifetime_spend);
    EXPECT_EQ(Computed(traits, "orders"), c.orders);
    EXPECT_EQ(Computed(traits, "average_order_value"), c.average_order_value);
    EXPECT_EQ(Computed(traits, "first_order_at"), c.first_order_at);
    EXPECT_EQ(Computed(traits, "last_order_at"), c.last_order_at);
    EXPECT_EQ(Computed(traits, "days_since_last_order"), c.days_since);
  }
}

TEST(ComputedTraitsTest, AMergeCombinesValueAsIfTheEventsHadBeenOneProfile) {
  // The winner saw the completion; the loser saw the refund of the same order, and a JPY order.
  v1::Profile winner = Fold({Completed("o1", kT0, 100000), Completed("o2", kT0 + kHourMs, 2000)}, DefaultComputedTraitsConfig(), 1);
  const v1::Profile loser = Fold({OrderEvent("o1", kT0 + 2 * kHourMs, v1::ORDER_STATUS_REFUNDED, 100000, "THB"),
                                  Completed("o3", kT0 + kDayMs, 700, "JPY")},
                                 DefaultComputedTraitsConfig(), 2);
  AbsorbProfile(loser, winner);
  const ComputedTraits traits = ComputeTraits(winner, At(kT0 + 2 * kDayMs), DefaultComputedTraitsConfig());
  EXPECT_EQ(Computed(traits, "lifetime_spend"), R"({"JPY":"700","THB":"20.00"})");
  EXPECT_EQ(traits.orders, 2);
  EXPECT_EQ(Computed(traits, "last_order_at"), R"("2026-11-26T03:04:05.000Z")");
  EXPECT_EQ(traits.days_since_last_order, 1);
}

// ---- RFM --------------------------------------------------------------------------------------

struct RfmCase {
  int days_since;
  int orders;
  int64_t thb_major;  // spread evenly over the orders
  RfmScore expected;
};

std::vector<v1::Event> OrdersEndingAt(int64_t last_ms, int orders, int64_t total_major, const std::string& currency) {
  std::vector<v1::Event> events;
  for (int i = 0; i < orders; ++i) {
    int64_t minor = total_major * 100 / orders;
    if (i == 0) minor += total_major * 100 - minor * orders;  // exact total
    events.push_back(Completed("o" + std::to_string(i), last_ms - i * kHourMs, minor, currency));
  }
  return events;
}

TEST(ComputedTraitsTest, RfmScoresAndTierFollowTheDocumentedGrid) {
  // Defaults: recency days [30, 60, 120, 240], frequency [2, 3, 5, 10], THB [1000, 3000, 10000, 30000].
  const std::vector<RfmCase> cases = {
      {5, 10, 40000, {5, 5, 5, "champions"}},
      {5, 1, 500, {5, 1, 1, "new"}},
      {30, 1, 30000, {5, 1, 5, "new"}},          // 30 days is still within the first threshold
      {31, 5, 10000, {4, 4, 4, "champions"}},
      {45, 3, 3500, {4, 3, 3, "loyal"}},
      {90, 2, 1500, {3, 2, 2, "potential_loyalist"}},
      {90, 1, 100, {3, 1, 1, "potential_loyalist"}},
      {200, 6, 12000, {2, 4, 4, "at_risk"}},
      {200, 1, 100, {2, 1, 1, "hibernating"}},
      {400, 2, 500, {1, 2, 1, "lost"}},
      {400, 10, 50000, {1, 5, 5, "at_risk"}},
  };
  for (const RfmCase& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.days_since << " days, " << c.orders << " orders, THB " << c.thb_major);
    const v1::Profile profile = Fold(OrdersEndingAt(kT0, c.orders, c.thb_major, "THB"));
    const ComputedTraits traits =
        ComputeTraits(profile, At(kT0 + c.days_since * kDayMs + kHourMs), DefaultComputedTraitsConfig());
    ASSERT_TRUE(traits.rfm.has_value());
    EXPECT_EQ(*traits.rfm, c.expected);
    EXPECT_EQ(Computed(traits, "rfm_tier"), "\"" + c.expected.tier + "\"");
  }
  EXPECT_EQ(Computed(ComputeTraits(Fold({Page("p", kT0)}), At(kT0), DefaultComputedTraitsConfig()), "rfm_tier"),
            "null");
}

TEST(ComputedTraitsTest, MonetaryUsesOnlyConfiguredCurrenciesAndTheBestOfThem) {
  const v1::Profile profile = Fold(OrdersEndingAt(kT0, 1, 200000, "JPY"));
  // JPY has no thresholds by default: it does not convert, so it scores 1.
  EXPECT_EQ(ComputeTraits(profile, At(kT0), DefaultComputedTraitsConfig()).rfm->monetary, 1);
  const ComputedTraitsConfig config = Config(R"(
profiles:
  rfm:
    monetary: {THB: [1000, 3000, 10000, 30000], JPY: [5000, 20000, 50000, 150000]}
)");
  EXPECT_EQ(ComputeTraits(profile, At(kT0), config).rfm->monetary, 5);
}

TEST(ComputedTraitsTest, TierChangesAsTimePassesAndNextRfmChangeSaysWhen) {
  const v1::Profile profile = Fold(OrdersEndingAt(kT0, 10, 40000, "THB"));
  const ComputedTraitsConfig& config = DefaultComputedTraitsConfig();
  const ComputedTraits fresh = ComputeTraits(profile, At(kT0 + kDayMs), config);
  EXPECT_EQ(TierChanged(fresh, fresh), std::nullopt);

  // Recency 5 holds through day 30; at 31 whole days it drops to 4.
  const std::optional<absl::Time> next = NextRfmChangeAt(profile, At(kT0 + kDayMs), config);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, At(kT0 + 31 * kDayMs));
  EXPECT_EQ(ComputeTraits(profile, *next - absl::Milliseconds(1), config).rfm->recency, 5);
  EXPECT_EQ(ComputeTraits(profile, *next, config).rfm->recency, 4);

  const ComputedTraits drifted = ComputeTraits(profile, At(kT0 + 200 * kDayMs), config);
  EXPECT_EQ(TierChanged(fresh, drifted), (TierChange{"champions", "at_risk"}));
  EXPECT_EQ(NextRfmChangeAt(profile, At(kT0 + 200 * kDayMs), config), At(kT0 + 241 * kDayMs));
  EXPECT_EQ(NextRfmChangeAt(profile, At(kT0 + 241 * kDayMs), config), std::nullopt);  // already 1

  const ComputedTraits none = ComputeTraits(Fold({Page("p", kT0)}), At(kT0), config);
  EXPECT_EQ(TierChanged(none, fresh), (TierChange{"", "champions"}));
  EXPECT_EQ(NextRfmChangeAt(Fold({Page("p", kT0)}), At(kT0), config), std::nullopt);
}

// ---- preferences ------------------------------------------------------------------------------

TEST(ComputedTraitsTest, FavouritesRankSpendInTheReportingCurrencyAndCountOverAllOrders) {
  const v1::Profile profile = Fold({
      Completed("o1", kT0, 21000, "THB",
                {{{"sku-latte", "coffee", 2, 6000}, {"sku-croissant", "bakery", 1, 9000}}, "store", ""}),
      Completed("o2", kT0 + kDayMs, 12000, "THB",
                {{{"sku-mocha", "coffee", 1, 7000}, {"sku-greentea", "tea", 5, 1000}}, "web", "WELCOME10"}),
      Completed("o3", kT0 + 2 * kDayMs, 150000, "JPY", {{{"sku-mug", "merch", 1, 150000}}, "store", ""}),
      // A refunded order contributes nothing.
      Completed("o4", kT0 + 3 * kDayMs, 99000, "THB", {{{"sku-beans", "coffee", 9, 11000}}, "app", ""}),
      OrderEvent("o4", kT0 + 4 * kDayMs, v1::ORDER_STATUS_REFUNDED, 99000, "THB",
                 {{{"sku-beans", "coffee", 9, 11000}}, "app", ""}),
  });
  const ComputedTraits traits = ComputeTraits(profile, At(kT0 + 5 * kDayMs), DefaultComputedTraitsConfig());
  EXPECT_EQ(Computed(traits, "favourite_categories_by_spend"), R"(["coffee","bakery","tea"])");
  EXPECT_EQ(Computed(traits, "favourite_categories_by_count"), R"(["tea","coffee","bakery"])");
  EXPECT_EQ(Computed(traits, "favourite_products_by_spend"), R"(["sku-latte","sku-croissant","sku-mocha"])");
  EXPECT_EQ(Computed(traits, "favourite_products_by_count"), R"(["sku-greentea","sku-latte","sku-croissant"])");
  EXPECT_EQ(Computed(traits, "coupon_share"), "0.3333333333333333");
  EXPECT_EQ(Computed(traits, "preferred_channel"), R"("store")");
}

struct TimeCase {
  std::string name;
  std::string default_zone;
  std::string timezone_trait;  // JSON, empty: none
  std::string weekday;
  std::string hour;
};

TEST(ComputedTraitsTest, UsualWeekdayAndHourAreInTheProfilesTimeZone) {
  // Wednesday 2026-11-25 20:00Z twice and Thursday 10:00Z once.
  const int64_t wednesday_20z = kT0 - (3 * kHourMs + 4 * kMinuteMs + 5 * kSecondMs) + 20 * kHourMs;
  const std::vector<v1::Event> orders = {Completed("o1", wednesday_20z, 100),
                                         Completed("o2", wednesday_20z + 7 * kDayMs, 100),
                                         Completed("o3", wednesday_20z + 14 * kHourMs, 100)};
  const std::vector<TimeCase> cases = {
      {"UTC", "UTC", "", R"("wednesday")", "20"},
      {"the configured default", "Asia/Bangkok", "", R"("thursday")", "3"},
      {"the profile's own zone wins", "Asia/Bangkok", R"("Asia/Tokyo")", R"("thursday")", "5"},
      {"an unknown zone falls back to the default", "Asia/Bangkok", R"("Mars/Olympus")", R"("thursday")", "3"},
  };
  for (const TimeCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<v1::Event> events = orders;
    if (!c.timezone_trait.empty()) events.push_back(IdentifyTraits("i1", kT0, {{"timezone", c.timezone_trait}}));
    const ComputedTraitsConfig config = Config("profiles: {default_time_zone: " + c.default_zone + "}");
    const ComputedTraits traits = ComputeTraits(Fold(events, config), At(kT0 + 30 * kDayMs), config);
    EXPECT_EQ(Computed(traits, "usual_purchase_weekday"), c.weekday);
    EXPECT_EQ(Computed(traits, "usual_purchase_hour"), c.hour);
  }
}

// ---- engagement -------------------------------------------------------------------------------

TEST(ComputedTraitsTest, EmailEventsAreCountedBySegmentsSpecNames) {
  std::vector<v1::Event> events;
  const std::vector<std::pair<std::string, int>> counts = {{"Email Delivered", 4}, {"Email Opened", 3},
                                                           {"Email Link Clicked", 2}, {"Email Bounced", 1},
                                                           {"Unsubscribed", 1}};
  int n = 0;
  for (const auto& [name, count] : counts) {
    for (int i = 0; i < count; ++i, ++n) events.push_back(Track("e" + std::to_string(n), kT0 + n, name));
  }
  const ComputedTraits traits = ComputeTraits(Fold(events), At(kT0), DefaultComputedTraitsConfig());
  EXPECT_EQ(traits.email_delivered, 4);
  EXPECT_EQ(traits.email_opened, 3);
  EXPECT_EQ(traits.email_clicked, 2);
  EXPECT_EQ(traits.email_bounced, 1);
  EXPECT_EQ(traits.email_unsubscribed, 1);
}

TEST(ComputedTraitsTest, SessionsAndPageViewsInTheLast7_30_90Days) {
  // Day D starts at midnight UTC; a session is a half hour with web activity.
  const int64_t day = (kT0 / kDayMs) * kDayMs;
  const std::vector<v1::Event> events = {
      Page("p1", day + 10 * kHourMs),                        // 10:00-10:30 slot
      Page("p2", day + 10 * kHourMs + 10 * kMinuteMs),       // same slot
      Track("t1", day + 10 * kHourMs + 40 * kMinuteMs, "Product Viewed"),  // 10:30 slot, not a page view
      Page("p3", day - 10 * kDayMs),
      Page("p4", day - 40 * kDayMs),
      Page("p5", day - 100 * kDayMs),                        // outside every window
      IdentifyTraits("i1", day + 11 * kHourMs, {{"name", "\"x\""}}),  // identify is not engagement
  };
  const v1::Profile profile = Fold(events);
  const ComputedTraits traits = ComputeTraits(profile, At(day + 12 * kHourMs), DefaultComputedTraitsConfig());
  EXPECT_EQ(traits.sessions, (std::map<int, int64_t>{{7, 2}, {30, 3}, {90, 4}}));
  EXPECT_EQ(traits.page_views, (std::map<int, int64_t>{{7, 2}, {30, 3}, {90, 4}}));
  EXPECT_EQ(Computed(traits, "sessions_30d"), "3");
  EXPECT_EQ(profile.engagement_days_size(), 3) << "the day 100 days back is pruned";

  // A week later the day of p1 has slid out of the 7-day window.
  const ComputedTraits later = ComputeTraits(profile, At(day + 7 * kDayMs), DefaultComputedTraitsConfig());
  EXPECT_EQ(later.page_views.at(7), 0);
  EXPECT_EQ(later.page_views.at(30), 3);
}

TEST(ComputedTraitsTest, PruningDoesNotDependOnArrivalOrder) {
  const int64_t day = (kT0 / kDayMs) * kDayMs;
  const std::vector<v1::Event> events = {Page("old", day - 120 * kDayMs), Page("edge", day - 89 * kDayMs),
                                         Page("gone", day - 90 * kDayMs), Page("new", day)};
  const v1::Profile forward = Fold(events);
  const v1::Profile backward = Fold({events[3], events[2], events[1], events[0]});
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(forward, backward));
  std::vector<int32_t> days;
  for (const auto& [d, bucket] : forward.engagement_days()) days.push_back(d);
  std::sort(days.begin(), days.end());
  EXPECT_EQ(days, (std::vector<int32_t>{UtcDayNumber(day - 89 * kDayMs), UtcDayNumber(day)}));

  // Split and merged: the loser's old day is pruned against the merged newest event.
  v1::Profile winner = Fold({events[3]}, DefaultComputedTraitsConfig(), 1);
  AbsorbProfile(Fold({events[0], events[1], events[2]}, DefaultComputedTraitsConfig(), 2), winner);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(Content(winner), Content(forward)));
}

// ---- cart -------------------------------------------------------------------------------------

std::string Product(const std::string& id, const std::string& extra = "") {
  return R"({"product_id":")" + id + R"(","name":"Latte )" + id + R"(","price":65.5,"quantity":2)" + extra + "}";
}

struct CartCase {
  std::string name;
  std::vector<v1::Event> events;
  std::optional<int64_t> abandoned_at_ms;
  std::vector<std::string> product_ids;  // newest first
};

TEST(ComputedTraitsTest, CartAbandonedWhenNoOrderFollowsAnAddOrCheckout) {
  const int64_t t = kT0;
  const std::vector<CartCase> cases = {
      {"an add", {Track("a1", t, "Product Added", Product("p1"))}, t + kHourMs, {"p1"}},
      {"an add then an order", {Track("a1", t, "Product Added", Product("p1")), Track("o", t + 10 * kMinuteMs, "Order Completed")},
       std::nullopt, {}},
      {"the order arriving first (late add)",
       {Track("o", t + 10 * kMinuteMs, "Order Completed"), Track("a1", t, "Product Added", Product("p1"))}, std::nullopt, {}},
      {"a purchase-channel order closes it too",
       {Track("a1", t, "Product Added", Product("p1")), Completed("o1", t + kMinuteMs, 100)}, std::nullopt, {}},
      {"a refund does not",
       {Track("a1", t, "Product Added", Product("p1")),
        OrderEvent("o1", t + kMinuteMs, v1::ORDER_STATUS_REFUNDED, 100, "THB")},
       t + kHourMs, {"p1"}},
      {"an add after the order opens a new cart",
       {Track("a1", t, "Product Added", Product("p1")), Track("o", t + 10 * kMinuteMs, "Order Completed"),
        Track("a2", t + 20 * kMinuteMs, "Product Added", Product("p2"))},
       t + 20 * kMinuteMs + kHourMs, {"p2"}},
      {"a removed product leaves",
       {Track("a1", t, "Product Added", Product("p1")), Track("a2", t + 5 * kMinuteMs, "Product Added", Product("p2")),
        Track("r1", t + 6 * kMinuteMs, "Product Removed", Product("p1"))},
       t + 5 * kMinuteMs + kHourMs, {"p2"}},
      {"a removal older than the add does not",
       {Track("a1", t + 6 * kMinuteMs, "Product Added", Product("p1")),
        Track("r1", t, "Product Removed", Product("p1"))},
       t + 6 * kMinuteMs + kHourMs, {"p1"}},
      {"checkout with its products",
       {Track("c1", t, "Checkout Started",
              R"({"order_id":"x","products":[)" + Product("p1") + "," + Product("p2") + "]}")},
       t + kHourMs, {"p1", "p2"}},
      {"checkout without products", {Track("c1", t, "Checkout Started", R"({"order_id":"x"})")}, t + kHourMs, {}},
      {"nothing added", {Page("p", t)}, std::nullopt, {}},
  };
  for (const CartCase& c : cases) {
    SCOPED_TRACE(c.name);
    const v1::Profile profile = Fold(c.events);
    const std::optional<absl::Time> at = CartAbandonedAt(profile, DefaultComputedTraitsConfig());
    if (c.abandoned_at_ms.has_value()) {
      ASSERT_TRUE(at.has_value());
      EXPECT_EQ(*at, At(*c.abandoned_at_ms));
    } else {
      EXPECT_FALSE(at.has_value());
    }
    const ComputedTraits traits = ComputeTraits(profile, At(t + 2 * kHourMs), DefaultComputedTraitsConfig());
    EXPECT_EQ(traits.cart_abandoned, c.abandoned_at_ms.has_value());
    std::vector<std::string> ids;
    for (const CartProduct& product : traits.cart_products) ids.push_back(product.product_id);
    if (c.name != "checkout with its products") {
      EXPECT_EQ(ids, c.product_ids);
    } else {
      std::sort(ids.begin(), ids.end());  // one timestamp: ordered by id
      EXPECT_EQ(ids, c.product_ids);
    }
    // Any order of the same events: the same stored cart.
    std::vector<v1::Event> reversed(c.events.rbegin(), c.events.rend());
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(Fold(reversed), profile));
  }
}

TEST(ComputedTraitsTest, CartProductsCarryWhatWasSentAndTheTimeoutIsConfigured) {
  const ComputedTraitsConfig config = Config("profiles: {cart_abandon_after_minutes: 30}");
  const v1::Profile profile = Fold({Track("a1", kT0, "Product Added", Product("p1", R"(,"category":"coffee")"))}, config);
  EXPECT_EQ(CartAbandonedAt(profile, config), At(kT0 + 30 * kMinuteMs));
  const ComputedTraits before = ComputeTraits(profile, At(kT0 + 29 * kMinuteMs), config);
  EXPECT_FALSE(before.cart_abandoned);
  const ComputedTraits after = ComputeTraits(profile, At(kT0 + 30 * kMinuteMs), config);
  EXPECT_TRUE(after.cart_abandoned);
  EXPECT_EQ(Computed(after, "cart_products"),
            R"([{"product_id":"p1","sku":"","name":"Latte p1","category":"coffee","quantity":2,"price":65.5,)"
            R"("added_at":"2026-11-25T03:04:05.000Z"}])");
}

// ---- user-defined traits ----------------------------------------------------------------------

constexpr char kCustomYaml[] = R"(
profiles:
  computed_traits:
    - {name: orders_all, event: "Order Completed", aggregate: count, window_days: all}
    - {name: revenue_30d, event: "Order Completed", property: revenue, aggregate: sum, window_days: 30}
    - {name: revenue_min, event: "Order Completed", property: revenue, aggregate: min}
    - {name: revenue_max, event: "Order Completed", property: revenue, aggregate: max}
    - {name: last_order_time, event: "Order Completed", aggregate: last}
    - {name: first_viewed, event: "Product Viewed", property: name, aggregate: first}
    - {name: last_viewed, event: "Product Viewed", property: name, aggregate: last}
    - {name: viewed_category, event: "Product Viewed", property: category, aggregate: most_frequent}
    - {name: viewed_categories, event: "Product Viewed", property: category, aggregate: unique_list}
    - {name: viewed_price_max_7d, event: "Product Viewed", property: product.price, aggregate: max, window_days: 7}
    - {name: store_spend, event: purchase.order, property: total, aggregate: sum}
    - {name: platforms, event: social.comment, property: platform, aggregate: unique_list}
)";

TEST(ComputedTraitsTest, UserDefinedTraitsEachAggregate) {
  const ComputedTraitsConfig config = Config(kCustomYaml);
  ASSERT_EQ(config.custom_traits.size(), 12u);
  const int64_t d = (kT0 / kDayMs) * kDayMs + 12 * kHourMs;  // noon of day D
  v1::Event comment = BaseEvent("s1", d, v1::CHANNEL_SOCIAL, {"instagram:somchai"});
  comment.set_type("comment");
  comment.mutable_social()->set_platform("instagram");
  comment.mutable_social()->set_action("comment");
  const std::vector<v1::Event> events = {
      Track("oc1", d - 40 * kDayMs, "Order Completed", R"({"revenue":100.5})"),
      Track("oc2", d - 5 * kDayMs, "Order Completed", R"({"revenue":200})"),
      Track("oc3", d, "Order Completed", R"({"revenue":"50.25"})"),
      Track("oc4", d - kHourMs, "Order Completed", R"({"currency":"THB"})"),  // no revenue: counted only
      Track("pv1", d - 3 * kDayMs, "Product Viewed", R"({"name":"Latte","category":"coffee","product":{"price":65}})"),
      Track("pv2", d - 2 * kDayMs, "Product Viewed", R"({"name":"Mocha","category":"coffee","product":{"price":70}})"),
      Track("pv3", d - 1 * kDayMs, "Product Viewed", R"({"name":"Scone","category":"bakery"})"),
      Track("pv4", d - 9 * kDayMs, "Product Viewed", R"({"name":"Cake","category":"bakery","product":{"price":99}})"),
      Completed("o1", d - 2 * kDayMs, 125050),
      Completed("o2", d - 1 * kDayMs, 10000),
      comment,
  };
  const v1::Profile profile = Fold(events, config);
  const ComputedTraits traits = ComputeTraits(profile, At(d + kHourMs), config);
  EXPECT_EQ(traits.custom.at("orders_all"), "4");
  EXPECT_EQ(traits.custom.at("revenue_30d"), "250.25");
  EXPECT_EQ(traits.custom.at("revenue_min"), "50.25");
  EXPECT_EQ(traits.custom.at("revenue_max"), "200");
  EXPECT_EQ(traits.custom.at("last_order_time"), R"("2026-11-25T12:00:00.000Z")");
  EXPECT_EQ(traits.custom.at("first_viewed"), R"("Cake")");
  EXPECT_EQ(traits.custom.at("last_viewed"), R"("Scone")");
  EXPECT_EQ(traits.custom.at("viewed_category"), R"("bakery")") << "2 each: ties go to the smaller value";
  EXPECT_EQ(traits.custom.at("viewed_categories"), R"(["bakery","coffee"])") << "by first seen";
  EXPECT_EQ(traits.custom.at("viewed_price_max_7d"), "70") << "the 99 was 9 days ago";
  EXPECT_EQ(traits.custom.at("store_spend"), "1350.5");
  EXPECT_EQ(traits.custom.at("platforms"), R"(["instagram"])");
  EXPECT_EQ(Computed(traits, "revenue_30d"), "250.25");

  // Later the window slides: only the order of day D is left in revenue_30d.
  const ComputedTraits later = ComputeTraits(profile, At(d + 25 * kDayMs), config);
  EXPECT_EQ(later.custom.at("revenue_30d"), "50.25");
  EXPECT_EQ(later.custom.at("viewed_price_max_7d"), "null");

  // Nothing seen: counts and sums are 0, the rest null or empty.
  const ComputedTraits empty = ComputeTraits(Fold({Page("p", d)}, config), At(d), config);
  EXPECT_EQ(empty.custom.at("orders_all"), "0");
  EXPECT_EQ(empty.custom.at("revenue_30d"), "0");
  EXPECT_EQ(empty.custom.at("revenue_min"), "null");
  EXPECT_EQ(empty.custom.at("last_viewed"), "null");
  EXPECT_EQ(empty.custom.at("viewed_category"), "null");
  EXPECT_EQ(empty.custom.at("viewed_categories"), "[]");
}

// A segment condition computes only the part of the traits holding its field (ComputeTraitsFor):
// every field must read exactly as in the full computation, for a profile with something in every
// part (orders with lines and a coupon, a refund, email and page events, an open cart, user traits).
TEST(ComputedTraitsTest, OneFieldComputedAloneEqualsTheFullComputation) {
  const ComputedTraitsConfig config = Config(kCustomYaml);
  const int64_t d = (kT0 / kDayMs) * kDayMs + 12 * kHourMs;
  const std::vector<v1::Event> events = {
      Completed("o1", d - 40 * kDayMs, 125050, "THB", {.lines = {{"latte", "coffee", 2, 6500}}, .coupon = "NEW10"}),
      Completed("o2", d - 2 * kDayMs, 10000, "JPY"),
      OrderEvent("o1", d - 39 * kDayMs, v1::ORDER_STATUS_REFUNDED, 125050, "THB"),
      Completed("o3", d - kDayMs, 99000),
      Track("oc1", d - 5 * kDayMs, "Order Completed", R"({"revenue":200})"),
      Track("e1", d - 3 * kDayMs, "Email Opened"),
      Track("pv1", d - 2 * kDayMs, "Product Viewed", R"({"name":"Latte","category":"coffee","product":{"price":65}})"),
      Track("add", d - kHourMs, "Product Added", Product("latte")),
      Page("p1", d - 6 * kDayMs),
      Page("p2", d - 20 * kDayMs),
  };
  const v1::Profile profile = Fold(events, config);
  for (const int64_t later : {int64_t{0}, 2 * kHourMs, 45 * kDayMs}) {
    const ComputedTraits full = ComputeTraits(profile, At(d + later), config);
    const std::vector<std::pair<std::string, std::string>> fields = ComputedTraitFields(full);
    ASSERT_GT(fields.size(), 40u);
    for (const auto& [name, json] : fields) {
      EXPECT_EQ(ComputedTraitJson(ComputeTraitsFor(profile, name, At(d + later), config), name), json)
          << name << " at +" << later << " ms";
    }
  }
  EXPECT_EQ(ComputedTraitJson(ComputeTraitsFor(profile, "no_such_field", At(d), config), "no_such_field"),
            std::nullopt);
}

TEST(ComputedTraitsTest, AUniqueListKeepsTheEarliestValuesWhateverTheOrder) {
  const ComputedTraitsConfig config = Config(R"(
profiles:
  computed_traits: [{name: skus, event: "Product Viewed", property: sku, aggregate: unique_list}]
)");
  std::vector<v1::Event> events;
  for (int i = 0; i < 150; ++i) {
    // Every value twice, once early and once late; the earliest sighting counts.
    const std::string sku = "s" + std::to_string(1000 + i);
    events.push_back(Track("v" + std::to_string(i), kT0 + (150 - i) * kMinuteMs, "Product Viewed",
                           R"({"sku":")" + sku + R"("})"));
    events.push_back(Track("w" + std::to_string(i), kT0 + 1000 * kMinuteMs, "Product Viewed", R"({"sku":")" + sku + R"("})"));
  }
  std::mt19937_64 rng(5);
  const std::string expected =
      ComputedTraitsToJson(ComputeTraits(Fold(events, config), At(kT0 + 2000 * kMinuteMs), config));
  for (int round = 0; round < 5; ++round) {
    std::shuffle(events.begin(), events.end(), rng);
    EXPECT_EQ(ComputedTraitsToJson(ComputeTraits(Fold(events, config), At(kT0 + 2000 * kMinuteMs), config)), expected);
  }
  const ComputedTraits traits = ComputeTraits(Fold(events, config), At(kT0), config);
  // The 100 earliest: i = 149 (first seen at +1 min) down to i = 50.
  EXPECT_EQ(traits.custom.at("skus").substr(0, 16), R"(["s1149","s1148")");
  EXPECT_EQ(std::count(traits.custom.at("skus").begin(), traits.custom.at("skus").end(), ','), 99);
  EXPECT_EQ(traits.custom.at("skus").find("s1049"), std::string::npos);
}

// ---- config -----------------------------------------------------------------------------------

TEST(ComputedTraitsConfigTest, ReadsEverySettingAndSkipsOtherSections) {
  const ComputedTraitsConfig config = Config(R"(
identity: {value_limits: {user_id: 1}}
profiles:
  default_time_zone: Asia/Bangkok
  reporting_currency: USD
  cart_abandon_after_minutes: 45
  favourites: 5
  rfm:
    recency_days: [7, 14, 28, 56]
    frequency: [1, 2, 4, 8]
    monetary: {USD: [10, 20, 40, 80]}
  computed_traits:
    - {name: views, event: "Product Viewed", aggregate: count, window_days: 14}
  segments: [{name: anything, condition: {}}]
)");
  EXPECT_EQ(config.default_time_zone, "Asia/Bangkok");
  EXPECT_EQ(config.reporting_currency, "USD");
  EXPECT_EQ(config.cart_abandon_after, absl::Minutes(45));
  EXPECT_EQ(config.favourites, 5);
  EXPECT_EQ(config.rfm.recency_days, (std::vector<int>{7, 14, 28, 56}));
  EXPECT_EQ(config.rfm.frequency, (std::vector<int64_t>{1, 2, 4, 8}));
  EXPECT_EQ(config.rfm.monetary, (std::map<std::string, std::vector<double>>{{"USD", {10, 20, 40, 80}}}));
  ASSERT_EQ(config.custom_traits.size(), 1u);
  EXPECT_EQ(config.custom_traits[0].window_days, 14);
  EXPECT_EQ(config.traits_by_event.at("Product Viewed"), std::vector<int>{0});

  const absl::StatusOr<ComputedTraitsConfig> empty = ParseComputedTraitsConfig("");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->rfm.recency_days, DefaultComputedTraitsConfig().rfm.recency_days);
}

// One default time zone for computed traits, segments and triggers: the old triggers key is read
// into the same setting (with a warning), and whether the config set it at all is known, so the
// runner's --time-zone fills in only when it did not.
TEST(ComputedTraitsConfigTest, OneDefaultTimeZoneWithTheTriggersKeyAsAnAlias) {
  const ComputedTraitsConfig none = Config("profiles: {favourites: 2}");
  EXPECT_FALSE(none.default_time_zone_configured);
  EXPECT_EQ(none.default_time_zone, "UTC");
  EXPECT_TRUE(none.rfm_tier_segments);
  const ComputedTraitsConfig utc = Config("profiles: {default_time_zone: UTC}");
  EXPECT_TRUE(utc.default_time_zone_configured) << "an explicit UTC is not the absence of a zone";
  const ComputedTraitsConfig alias = Config("profiles: {triggers: {default_time_zone: Asia/Bangkok}}");
  EXPECT_TRUE(alias.default_time_zone_configured);
  EXPECT_EQ(alias.default_time_zone, "Asia/Bangkok");
  const ComputedTraitsConfig both =
      Config("profiles: {default_time_zone: Asia/Tokyo, triggers: {default_time_zone: Asia/Tokyo}}");
  EXPECT_EQ(both.default_time_zone, "Asia/Tokyo");
  EXPECT_FALSE(Config("profiles: {rfm: {tier_segments: false}}").rfm_tier_segments);
}

TEST(ComputedTraitsConfigTest, MistakesAreInvalidArgumentWithTheKeyPath) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"profiles: {colour: blue}", "profiles.colour: unknown key"},
      {"profiles: {rfm: {recency_days: [30, 20, 40, 50]}}", "strictly ascending"},
      {"profiles: {rfm: {frequency: [1, 2]}}", "four ascending thresholds"},
      {"profiles: {rfm: {monetary: {XYZ: [1, 2, 3, 4]}}}", "profiles.rfm.monetary.XYZ: not an ISO 4217"},
      {"profiles: {default_time_zone: Mars/Olympus}", "unknown time zone"},
      {"profiles: {computed_traits: [{name: x, event: e, aggregate: median}]}", "unknown aggregate 'median'"},
      {"profiles: {computed_traits: [{name: x, event: e, aggregate: sum}]}", "needs a property"},
      {"profiles: {computed_traits: [{name: rfm_tier, event: e, aggregate: count}]}", "already taken"},
      {"profiles: {computed_traits: [{name: a, event: e, aggregate: count}, {name: a, event: f, aggregate: count}]}",
       "already taken"},
      {"profiles: {computed_traits: [{name: x, event: e, aggregate: count, window_days: 0}]}", "window_days"},
      {"profiles: [", "not valid YAML"},
      {"profiles: {rfm: {tier_segments: maybe}}", "profiles.rfm.tier_segments: cannot read"},
      {"profiles: {default_time_zone: Asia/Bangkok, triggers: {default_time_zone: Asia/Tokyo}}",
       "profiles.triggers.default_time_zone: 'Asia/Tokyo' differs from profiles.default_time_zone"},
      {"profiles: {triggers: {default_time_zone: Mars/Olympus}}", "unknown time zone"},
  };
  for (const auto& [yaml, message] : cases) {
    const absl::StatusOr<ComputedTraitsConfig> config = ParseComputedTraitsConfig(yaml);
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
    EXPECT_NE(config.status().message().find(message), absl::string_view::npos) << config.status();
  }
  EXPECT_EQ(LoadComputedTraitsConfig("/nonexistent/tessera.yaml").status().code(), absl::StatusCode::kNotFound);
}

// ---- the profile JSON -------------------------------------------------------------------------

TEST(ComputedTraitsTest, ProfileJsonGainsComputedOnlyInTheFormWithNow) {
  const v1::Profile profile = Fold({Completed("o1", kT0, 125050)});
  const std::string plain = ProfileToJson(profile);
  EXPECT_EQ(plain.find("\"computed\""), std::string::npos);
  const std::string with = ProfileToJson(profile, At(kT0 + kDayMs), DefaultComputedTraitsConfig());
  const std::string computed =
      ComputedTraitsToJson(ComputeTraits(profile, At(kT0 + kDayMs), DefaultComputedTraitsConfig()));
  EXPECT_NE(with.find(R"(,"computed":)" + computed + R"(,"merged_from":)"), std::string::npos) << with;

  v1::Profile after = profile;
  ApplyEvent(Completed("o2", kT0 + kHourMs, 100), after);
  const std::vector<std::string> changed = ChangedFields(profile, after, At(kT0 + kDayMs), DefaultComputedTraitsConfig());
  EXPECT_NE(std::find(changed.begin(), changed.end(), "computed"), changed.end());
  // An identify with a plain trait moves no computed trait.
  v1::Profile identified = profile;
  ApplyEvent(IdentifyTraits("i1", kT0 + kHourMs, {{"name", "\"Somchai\""}}), identified);
  const std::vector<std::string> trait_only =
      ChangedFields(profile, identified, At(kT0 + kDayMs), DefaultComputedTraitsConfig());
  EXPECT_EQ(std::find(trait_only.begin(), trait_only.end(), "computed"), trait_only.end());
}

TEST(ComputedTraitsTest, FieldsAreDocumentedInOrder) {
  // docs/computed-traits.md lists these; a new field must be documented there too.
  std::vector<std::string> names;
  for (const auto& [name, json] :
       ComputedTraitFields(ComputeTraits(v1::Profile(), At(kT0), DefaultComputedTraitsConfig()))) {
    names.push_back(name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "lifetime_spend", "orders", "average_order_value", "first_order_at", "last_order_at",
                       "days_since_last_order", "rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_tier",
                       "favourite_categories_by_spend", "favourite_categories_by_count",
                       "favourite_products_by_spend", "favourite_products_by_count", "time_zone",
                       "usual_purchase_weekday", "usual_purchase_hour", "coupon_share", "preferred_channel",
                       "email_delivered", "email_opened", "email_clicked", "email_bounced", "email_unsubscribed",
                       "sessions_7d", "sessions_30d", "sessions_90d", "page_views_7d", "page_views_30d",
                       "page_views_90d", "cart_abandoned", "cart_abandoned_at", "cart_products"}));
}

// ---- for segment conditions and timers -------------------------------------------------------

TEST(ComputedTraitsTest, NamedLookupAndWhenEachFieldChangesWithoutAnEvent) {
  const ComputedTraitsConfig config = Config(kCustomYaml);
  const int64_t day = (kT0 / kDayMs) * kDayMs;
  const v1::Profile profile = Fold({Completed("o1", day + 10 * kHourMs, 100000),
                                    Page("p1", day - 3 * kDayMs + kHourMs), Page("p2", day + kHourMs),
                                    Track("a1", day + 11 * kHourMs, "Product Added", Product("p1")),
                                    Track("oc", day - 2 * kDayMs, "Order Completed", R"({"revenue":5})")},
                                   config);
  const absl::Time now = At(day + 12 * kHourMs);
  const ComputedTraits traits = ComputeTraits(profile, now, config);
  EXPECT_EQ(ComputedTraitJson(traits, "rfm_tier"), R"("new")");
  EXPECT_EQ(ComputedTraitJson(traits, "revenue_30d"), "5");
  EXPECT_EQ(ComputedTraitJson(traits, "no_such_trait"), std::nullopt);

  EXPECT_EQ(ComputedTraitChangesAt(profile, "days_since_last_order", now, config), At(day + 34 * kHourMs));
  EXPECT_EQ(ComputedTraitChangesAt(profile, "rfm_tier", now, config), At(day + 10 * kHourMs + 31 * kDayMs));
  EXPECT_EQ(ComputedTraitChangesAt(profile, "cart_abandoned", now, config), std::nullopt) << "abandoned already";
  EXPECT_EQ(ComputedTraitChangesAt(profile, "cart_abandoned", now - absl::Minutes(1), config),
            At(day + 12 * kHourMs));
  // The page of 3 days ago leaves the 7-day window at the start of day +4.
  EXPECT_EQ(ComputedTraitChangesAt(profile, "page_views_7d", now, config), At(day + 4 * kDayMs));
  EXPECT_EQ(ComputedTraitChangesAt(profile, "revenue_30d", now, config), At(day + 28 * kDayMs));
  EXPECT_EQ(ComputedTraitChangesAt(profile, "orders", now, config), std::nullopt);
  EXPECT_EQ(ComputedTraitChangesAt(profile, "orders_all", now, config), std::nullopt);
}

// ---- property: order and merges do not matter -------------------------------------------------

// Events from small pools over ~200 days, so windows slide, days get pruned, carts open and close,
// orders change status and every user-defined aggregate sees ties.
std::vector<v1::Event> RandomEvents(std::mt19937_64& rng, int count) {
  const char* kCategories[] = {"coffee", "tea", "bakery"};
  const char* kChannels[] = {"store", "web", "app", "marketplace"};
  const char* kCurrencies[] = {"THB", "THB", "JPY"};
  const v1::OrderStatus kStatuses[] = {v1::ORDER_STATUS_COMPLETED, v1::ORDER_STATUS_COMPLETED,
                                       v1::ORDER_STATUS_REFUNDED, v1::ORDER_STATUS_CANCELLED};
  const char* kEmail[] = {"Email Delivered", "Email Opened", "Email Link Clicked", "Unsubscribed"};
  std::vector<v1::Event> events;
  for (int i = 0; i < count; ++i) {
    // Few distinct times (ties), spread over 200 days.
    const int64_t ts = kT0 - static_cast<int64_t>(rng() % 200) * kDayMs + static_cast<int64_t>(rng() % 4) * 20 * kMinuteMs;
    const std::string id = "m" + std::to_string(i);
    const std::string product = "p" + std::to_string(rng() % 4);
    const std::string category = kCategories[rng() % 3];
    switch (rng() % 8) {
      case 0:
        events.push_back(Page(id, ts));
        break;
      case 1:
        events.push_back(Track(id, ts, kEmail[rng() % 4]));
        break;
      case 2:
        events.push_back(Track(id, ts, "Product Added",
                               R"({"product_id":")" + product + R"(","category":")" + category +
                                   R"(","quantity":)" + std::to_string(1 + rng() % 3) + "}"));
        break;
      case 3:
        events.push_back(Track(id, ts, rng() % 2 ? "Product Removed" : "Checkout Started",
                               R"({"product_id":")" + product + R"(","products":[{"sku":")" + product + R"("}]})"));
        break;
      case 4:
        events.push_back(Track(id, ts, "Order Completed",
                               R"({"revenue":)" + std::to_string(rng() % 5) + "." + std::to_string(rng() % 10) + "}"));
        break;
      case 5:
        events.push_back(Track(id, ts, "Product Viewed",
                               R"({"name":")" + product + R"(","category":")" + category + R"(","product":{"price":)" +
                                   std::to_string(rng() % 7) + "}}"));
        break;
      default: {
        const int order = static_cast<int>(rng() % 12);
        OrderOptions options;
        options.channel = kChannels[order % 4];
        options.coupon = order % 3 == 0 ? "C" : "";
        options.lines = {{"sku-" + std::to_string(order % 5), kCategories[order % 3], 1 + order % 3, 500 + 10 * order}};
        events.push_back(OrderEvent("o" + std::to_string(order), ts, kStatuses[rng() % 4], 1000 + 137 * order,
                                    kCurrencies[order % 3], options));
        break;
      }
    }
  }
  return events;
}

TEST(ComputedTraitsPropertyTest, ShuffledAndSplitThenMergedEventsGiveTheSameComputedTraits) {
  const ComputedTraitsConfig config = Config(kCustomYaml);
  std::mt19937_64 rng(20261125);
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<v1::Event> events = RandomEvents(rng, 20 + static_cast<int>(rng() % 200));
    const v1::Profile whole = Fold(events, config, 1);
    const absl::Time now = At(kT0 + static_cast<int64_t>(rng() % 40) * kDayMs);
    const std::string expected = ComputedTraitsToJson(ComputeTraits(whole, now, config));

    std::shuffle(events.begin(), events.end(), rng);
    const v1::Profile shuffled = Fold(events, config, 1);
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(shuffled, whole)) << "trial " << trial;
    ASSERT_EQ(ComputedTraitsToJson(ComputeTraits(shuffled, now, config)), expected) << "trial " << trial;

    const int k = 2 + static_cast<int>(rng() % 5);
    std::vector<v1::Profile> alive;
    for (int p = 0; p < k; ++p) {
      alive.emplace_back();
      alive.back().set_id(100 + p);
    }
    for (const v1::Event& event : events) ApplyEvent(event, alive[rng() % k], config);
    while (alive.size() > 1) {
      const size_t loser = rng() % alive.size();
      size_t winner = rng() % (alive.size() - 1);
      if (winner >= loser) ++winner;
      AbsorbProfile(alive[loser], alive[winner]);
      alive.erase(alive.begin() + static_cast<std::ptrdiff_t>(loser));
    }
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(Content(alive.front()), Content(whole)))
        << "trial " << trial;
    ASSERT_EQ(ComputedTraitsToJson(ComputeTraits(alive.front(), now, config)), expected) << "trial " << trial;
  }
}

}  // namespace
}  // namespace tessera::profiles
