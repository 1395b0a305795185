// Pins profiles/computed_facts.cc: segment conditions on computed traits evaluate through
// ComputedTraitsFacts, the names the default source answered still work, timers learn when a
// computed value ages, and an open cart becomes one trigger occurrence per cart.
#include "profiles/computed_facts.h"

#include "gtest/gtest.h"
#include "profiles/profile_state.h"
#include "tests/profiles/profile_events.h"

namespace tessera::profiles {
namespace {

using namespace ::tessera::profiles::test_events;  // NOLINT: the event builders read as a table

v1::Profile Fold(const std::vector<v1::Event>& events, const ComputedTraitsConfig& config) {
  v1::Profile profile;
  profile.set_id(7);
  for (const v1::Event& event : events) ApplyEvent(event, profile, config);
  return profile;
}

bool Holds(const std::string& condition_text, const v1::Profile& profile, const ComputedTraitsFacts& facts,
           absl::Time now) {
  absl::StatusOr<Condition> condition = ParseCondition(condition_text);
  EXPECT_TRUE(condition.ok()) << condition.status();
  if (!condition.ok()) return false;
  const ProfileFactsView view(&profile, absl::UTCTimeZone(), &facts, now);
  return Evaluate(*condition, view, now);
}

TEST(ComputedFactsTest, SegmentConditionsReadComputedTraits) {
  const ComputedTraitsConfig& config = DefaultComputedTraitsConfig();
  const ComputedTraitsFacts facts(&config);
  const v1::Profile profile = Fold({Completed("o1", kT0, 150000), Completed("o2", kT0 + kDayMs, 250000)}, config);
  const absl::Time now = absl::FromUnixMillis(kT0 + 2 * kDayMs);
  EXPECT_TRUE(Holds("{computed: rfm_tier, in: [potential_loyalist, loyal]}", profile, facts, now));
  EXPECT_FALSE(Holds("{computed: rfm_tier, eq: champions}", profile, facts, now));
  EXPECT_TRUE(Holds("{computed: lifetime_spend.THB, gte: 4000}", profile, facts, now));
  EXPECT_FALSE(Holds("{computed: lifetime_spend.THB, gt: 4000}", profile, facts, now));
  EXPECT_TRUE(Holds("{computed: average_order_value.THB, eq: 2000}", profile, facts, now));
  EXPECT_TRUE(Holds("{computed: orders, eq: 2}", profile, facts, now));
  EXPECT_TRUE(Holds("{computed: orders_count, eq: 2}", profile, facts, now)) << "the default source's name";
  EXPECT_TRUE(Holds("{computed: total_spend.THB, eq: 4000}", profile, facts, now));
  EXPECT_TRUE(Holds("{computed: days_since_last_order, eq: 1}", profile, facts, now));
  EXPECT_TRUE(Holds("{computed: cart_abandoned_at, exists: false}", profile, facts, now));
  EXPECT_TRUE(Holds("{computed: no_such_thing, exists: false}", profile, facts, now));

  EXPECT_EQ(facts.ChangesAt(profile, "days_since_last_order", now), absl::FromUnixMillis(kT0 + 3 * kDayMs));
  EXPECT_EQ(facts.ChangesAt(profile, "orders", now), std::nullopt);
}

TEST(ComputedFactsTest, AnOpenCartIsOneOccurrenceUntilItIsTouchedAgain) {
  const ComputedTraitsConfig& config = DefaultComputedTraitsConfig();
  const v1::Event added = Track("a1", kT0, "Product Added", R"({"product_id":"p1","name":"Latte","price":65})");
  const std::optional<CartAbandonment> cart = CartAbandonmentOf(Fold({added}, config), config);
  ASSERT_TRUE(cart.has_value());
  EXPECT_EQ(cart->abandoned_at_ms, kT0 + kHourMs);
  EXPECT_EQ(cart->occurrence, "cart:" + std::to_string(kT0));
  EXPECT_EQ(cart->detail_json,
            R"([{"product_id":"p1","sku":"","name":"Latte","category":"","quantity":1,"price":65,)"
            R"("added_at":"2026-11-25T03:04:05.000Z"}])");

  const v1::Event again = Track("a2", kT0 + 10 * kMinuteMs, "Product Added", R"({"product_id":"p2"})");
  const std::optional<CartAbandonment> rearmed = CartAbandonmentOf(Fold({added, again}, config), config);
  ASSERT_TRUE(rearmed.has_value());
  EXPECT_NE(rearmed->occurrence, cart->occurrence);
  EXPECT_EQ(rearmed->abandoned_at_ms, kT0 + 10 * kMinuteMs + kHourMs);

  EXPECT_EQ(CartAbandonmentOf(Fold({added, Track("o", kT0 + kMinuteMs, "Order Completed")}, config), config),
            std::nullopt);
}

}  // namespace
}  // namespace tessera::profiles
