// Pins profiles/order_totals.cc: the totals a profile keeps as its orders change are exactly the
// totals computed from its orders afresh, whatever order the messages came in and however
// profiles were merged; the span (first and last completed order) follows refunds; a profile
// stored before totals existed reads and grows the same as one that always had them.
#include "profiles/order_totals.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "profiles/computed_traits.h"
#include "profiles/profile_state.h"
#include "tests/profiles/profile_events.h"

namespace tessera::profiles {
namespace {

using google::protobuf::util::MessageDifferencer;
using test_events::Completed;
using test_events::kDayMs;
using test_events::kHourMs;
using test_events::kT0;
using test_events::Line;
using test_events::OrderEvent;
using test_events::OrderOptions;

v1::Profile Fold(const std::vector<v1::Event>& events) {
  v1::Profile profile;
  profile.set_id(7);
  for (const v1::Event& event : events) ApplyEvent(event, profile);
  return profile;
}

// Messages about a few orders, several per order (completed, refunded, cancelled, re-sent with
// other lines), in several currencies, channels and with and without coupons and prices.
std::vector<v1::Event> RandomOrderMessages(std::mt19937_64& rng, int count) {
  const std::vector<std::string> currencies = {"THB", "USD", "JPY"};
  const std::vector<std::string> channels = {"web", "store", ""};
  const std::vector<v1::OrderStatus> statuses = {v1::ORDER_STATUS_COMPLETED, v1::ORDER_STATUS_COMPLETED,
                                                 v1::ORDER_STATUS_REFUNDED, v1::ORDER_STATUS_CANCELLED};
  std::vector<v1::Event> events;
  for (int i = 0; i < count; ++i) {
    OrderOptions options;
    options.channel = channels[rng() % channels.size()];
    if (rng() % 3 == 0) options.coupon = "SONGKRAN";
    for (int l = 0, lines = static_cast<int>(rng() % 3); l < lines; ++l) {
      options.lines.push_back(Line{"sku-" + std::to_string(rng() % 5), rng() % 4 == 0 ? "" : "cat-" + std::to_string(rng() % 3),
                                   static_cast<int64_t>(1 + rng() % 3), static_cast<int64_t>(rng() % 3 == 0 ? 0 : rng() % 50'000)});
    }
    // Timestamps collide on purpose (a span recomputed at a tie must still be right).
    const int64_t ts = kT0 + static_cast<int64_t>(rng() % 40) * kHourMs;
    v1::Event event = OrderEvent("o-" + std::to_string(rng() % 12), ts, statuses[rng() % statuses.size()],
                                 static_cast<int64_t>(rng() % 4 == 0 ? 0 : rng() % 90'000),
                                 currencies[rng() % currencies.size()], options);
    event.set_message_id(event.message_id() + ":" + std::to_string(i));  // each message distinct
    events.push_back(std::move(event));
    // Now and then the customer's time zone moves (New York has daylight saving time; Bangkok none).
    if (rng() % 8 == 0) {
      const char* zone = rng() % 2 == 0 ? "\"Asia/Bangkok\"" : "\"America/New_York\"";
      events.push_back(test_events::IdentifyTraits("tz-" + std::to_string(i), ts + static_cast<int64_t>(rng() % 1000),
                                                   {{"timezone", zone}}, {"email:somchai@example.com"}));
    }
  }
  return events;
}

// The totals computed afresh from the profile's orders, in the profile's zone.
v1::OrderTotals Afresh(const v1::Profile& profile) {
  const NamedTimeZone zone = ProfileTimeZone(profile, DefaultComputedTraitsConfig());
  return ComputeOrderTotals(profile.orders(), &zone);
}

TEST(OrderTotals, KeptTotalsEqualTotalsComputedAfreshInEveryOrderOfArrival) {
  std::mt19937_64 rng(20261204);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<v1::Event> events = RandomOrderMessages(rng, 1 + static_cast<int>(rng() % 30));
    const v1::Profile first = Fold(events);
    ASSERT_TRUE(MessageDifferencer::Equals(first.order_totals(), Afresh(first)))
        << "trial " << trial << "\nkept:     " << first.order_totals().ShortDebugString()
        << "\ncomputed: " << Afresh(first).ShortDebugString();
    std::shuffle(events.begin(), events.end(), rng);
    const v1::Profile shuffled = Fold(events);
    ASSERT_TRUE(MessageDifferencer::Equals(shuffled.order_totals(), first.order_totals())) << "trial " << trial;
    ASSERT_TRUE(MessageDifferencer::Equals(shuffled, first)) << "trial " << trial;
  }
}

// A batch working on a profile that keeps its orders apart has in memory only the orders its
// events name (Profile.orders_partial): what needs every order (the span when the earliest or
// latest completed order stops counting, the usual times in a new zone) is marked stale instead,
// and a recount once all are read gives the totals of the whole history.
TEST(OrderTotals, WithOnlySomeOrdersInMemoryWhatNeedsAllIsDeferredAndARecountSettlesIt) {
  std::mt19937_64 rng(11);
  int stale = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const std::vector<v1::Event> events = RandomOrderMessages(rng, 2 + static_cast<int>(rng() % 30));
    const v1::Profile whole = Fold(events);
    const size_t split = rng() % events.size();
    const v1::Profile stored = Fold(std::vector<v1::Event>(events.begin(), events.begin() + split));
    v1::Profile partial = stored;
    partial.clear_orders();
    partial.set_orders_partial(true);
    for (size_t i = split; i < events.size(); ++i) {
      const std::string order_id(OrderIdOf(events[i]));
      if (!order_id.empty() && !partial.orders().contains(order_id)) {  // its bucket, read
        if (auto it = stored.orders().find(order_id); it != stored.orders().end()) {
          (*partial.mutable_orders())[order_id] = it->second;
        }
      }
      ApplyEvent(events[i], partial);
    }
    for (const auto& [order_id, order] : stored.orders()) {  // the other buckets, read at the end
      if (!partial.orders().contains(order_id)) (*partial.mutable_orders())[order_id] = order;
    }
    partial.set_orders_partial(false);
    if (partial.order_totals().stale()) {
      ++stale;
      RecountOrderTotals(ProfileTimeZone(partial, DefaultComputedTraitsConfig()), partial);
    }
    ASSERT_TRUE(MessageDifferencer::Equals(partial.order_totals(), whole.order_totals()))
        << "trial " << trial << " split " << split << "\npartial: " << partial.order_totals().ShortDebugString()
        << "\nwhole:   " << whole.order_totals().ShortDebugString();
  }
  EXPECT_GT(stale, 10) << "the trials must defer something now and then";
}

TEST(OrderTotals, MergedProfilesKeepTheTotalsOfTheirCombinedOrders) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 100; ++trial) {
    const std::vector<v1::Event> events = RandomOrderMessages(rng, 2 + static_cast<int>(rng() % 30));
    // The same messages split over two profiles (one order's messages may land on both), then merged.
    std::vector<v1::Event> to_winner, to_loser;
    for (const v1::Event& event : events) (rng() % 2 == 0 ? to_winner : to_loser).push_back(event);
    v1::Profile winner = Fold(to_winner);
    v1::Profile loser = Fold(to_loser);
    loser.set_id(9);
    AbsorbProfile(loser, winner);
    const v1::Profile whole = Fold(events);
    ASSERT_TRUE(MessageDifferencer::Equals(winner.order_totals(), Afresh(winner))) << "trial " << trial;
    ASSERT_TRUE(MessageDifferencer::Equals(winner.order_totals(), whole.order_totals()))
        << "trial " << trial << "\nmerged: " << winner.order_totals().ShortDebugString()
        << "\nwhole:  " << whole.order_totals().ShortDebugString();
  }
}

TEST(OrderTotals, RefundingTheFirstOrLastCompletedOrderMovesTheSpan) {
  v1::Profile profile = Fold({Completed("a", kT0, 1000), Completed("b", kT0 + kDayMs, 2000),
                              Completed("c", kT0 + 2 * kDayMs, 3000)});
  EXPECT_EQ(profile.order_totals().first_completed_ms(), kT0);
  EXPECT_EQ(profile.order_totals().last_completed_ms(), kT0 + 2 * kDayMs);

  ApplyEvent(OrderEvent("c", kT0 + 3 * kDayMs, v1::ORDER_STATUS_REFUNDED, 3000, "THB"), profile);
  EXPECT_EQ(profile.order_totals().last_completed_ms(), kT0 + kDayMs);
  ApplyEvent(OrderEvent("a", kT0 + 3 * kDayMs, v1::ORDER_STATUS_CANCELLED, 1000, "THB"), profile);
  EXPECT_EQ(profile.order_totals().first_completed_ms(), kT0 + kDayMs);
  EXPECT_EQ(profile.order_totals().completed(), 1);
  EXPECT_EQ(profile.order_totals().refunded(), 1);
  EXPECT_EQ(profile.order_totals().cancelled(), 1);

  ApplyEvent(OrderEvent("b", kT0 + 4 * kDayMs, v1::ORDER_STATUS_REFUNDED, 2000, "THB"), profile);
  const ComputedTraits traits = ComputeTraits(profile, absl::FromUnixMillis(kT0 + 5 * kDayMs), DefaultComputedTraitsConfig());
  EXPECT_EQ(traits.orders, 0);
  EXPECT_FALSE(traits.first_order_at.has_value());
  EXPECT_FALSE(traits.last_order_at.has_value());
  EXPECT_TRUE(MessageDifferencer::Equals(profile.order_totals(), Afresh(profile)));
}

TEST(OrderTotals, ACurrencyStaysInTotalSpendWhileItHasACompletedOrderEvenAtZero) {
  v1::Profile profile = Fold({Completed("free", kT0, 0, "USD"), Completed("paid", kT0 + kHourMs, 12050, "THB")});
  EXPECT_NE(ProfileToJson(profile).find(R"("total_spend":{"THB":"120.50","USD":"0.00"})"), std::string::npos)
      << ProfileToJson(profile);
  ApplyEvent(OrderEvent("free", kT0 + 2 * kHourMs, v1::ORDER_STATUS_REFUNDED, 0, "USD"), profile);
  const std::string json = ProfileToJson(profile);
  EXPECT_NE(json.find(R"("total_spend":{"THB":"120.50"})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("refunded":{"USD":"0.00"})"), std::string::npos) << json;
}

TEST(OrderTotals, AProfileStoredBeforeTotalsExistedReadsAndGrowsLikeOneThatHadThem) {
  OrderOptions lines;
  lines.lines = {Line{"latte", "drinks", 2, 6500}, Line{"croissant", "bakery", 1, 5500}};
  lines.coupon = "WELCOME";
  const std::vector<v1::Event> history = {Completed("a", kT0, 18500, "THB", lines), Completed("b", kT0 + kDayMs, 9000),
                                          OrderEvent("c", kT0 + kHourMs, v1::ORDER_STATUS_REFUNDED, 4000, "THB")};
  v1::Profile legacy = Fold(history);
  legacy.clear_order_totals();  // as stored before the field existed
  const v1::Profile current = Fold(history);
  const absl::Time now = absl::FromUnixMillis(kT0 + 3 * kDayMs);

  v1::OrderTotals scratch;  // read without a zone: everything but the usual times
  v1::OrderTotals without_usual_times = current.order_totals();
  without_usual_times.clear_zone();
  without_usual_times.clear_weekday_counts();
  without_usual_times.clear_hour_counts();
  EXPECT_TRUE(MessageDifferencer::Equals(OrderTotalsOf(legacy, scratch), without_usual_times));
  EXPECT_EQ(ProfileToJson(legacy, now, DefaultComputedTraitsConfig()),
            ProfileToJson(current, now, DefaultComputedTraitsConfig()));
  EXPECT_TRUE(ChangedFields(legacy, current).empty());
  v1::Profile snapshot_source = legacy;
  const ProfileSnapshot snapshot(snapshot_source);
  EXPECT_TRUE(ChangedFields(snapshot, current).empty());

  const v1::Event next = Completed("d", kT0 + 2 * kDayMs, 7000, "THB", lines);
  ApplyEvent(next, legacy);
  v1::Profile grown = current;
  ApplyEvent(next, grown);
  EXPECT_TRUE(MessageDifferencer::Equals(legacy, grown)) << legacy.order_totals().ShortDebugString();
  EXPECT_EQ(ChangedFields(snapshot, grown),
            (std::vector<std::string>{"last_seen", "event_counts", "event_type_counts", "orders_count",
                                      "total_spend", "items_by_category"}));
}

TEST(OrderTotals, FavouritesBySpendCountOnlyTheReportingCurrency) {
  OrderOptions thb, usd;
  thb.lines = {Line{"tea", "drinks", 1, 5000}, Line{"cake", "bakery", 1, 9000}};
  usd.lines = {Line{"tea", "drinks", 10, 100000}};
  const v1::Profile profile = Fold({Completed("t", kT0, 14000, "THB", thb), Completed("u", kT0 + kHourMs, 1000000, "USD", usd)});
  ComputedTraitsConfig config = DefaultComputedTraitsConfig();
  config.reporting_currency = "THB";
  const ComputedTraits traits = ComputeTraits(profile, absl::FromUnixMillis(kT0 + kDayMs), config);
  EXPECT_EQ(traits.favourite_products_by_spend, (std::vector<std::string>{"cake", "tea"}));
  EXPECT_EQ(traits.favourite_categories_by_spend, (std::vector<std::string>{"bakery", "drinks"}));
  EXPECT_EQ(traits.favourite_products_by_count, (std::vector<std::string>{"tea", "cake"}));
}

}  // namespace
}  // namespace tessera::profiles
