// Pins profiles/computed_facts.cc: segment conditions on computed traits evaluate through
// ComputedTraitsFacts, the names the default source answered still work, timers learn when a
// computed value ages, and an open cart becomes one trigger occurrence per cart.
#include "profiles/computed_facts.h"

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "profiles/profile_state.h"
#include "tests/fakes/memory_kv.h"
#include "tests/profiles/profile_events.h"

namespace tessera::profiles {
namespace {

using namespace ::tessera::profiles::test_events;  // NOLINT: the event builders read as a table
using ::tessera::testing::MemoryKv;

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

// An RFM tier change downstream: the built-in segments rfm_tier:<tier> exit the old tier and enter
// the new one, once each, when recency alone moves the tier (the clock follows the profile's own
// timers, as the timer index would) and when an event moves it.
TEST(RfmTierSegmentsTest, ATierChangeIsOneExitAndOneEnterWhetherTimeOrAnEventMovesIt) {
  const ComputedTraitsConfig& computed = DefaultComputedTraitsConfig();
  ActivationConfig config;
  AddRfmTierSegments(computed, config);
  ASSERT_EQ(config.segments.size(), 7u);
  EXPECT_NE(config.fingerprint.find("recency 30,60,120,240"), std::string::npos) << config.fingerprint;
  const ActivationEngine engine(config, std::make_shared<const ComputedTraitsFacts>(&computed));
  MemoryKv kv;
  v1::Profile profile = Fold({Completed("o1", kT0, 150000)}, computed);  // one order, 1,500 THB
  std::vector<std::string> seen;
  const auto evaluate = [&](absl::Time now) {
    ActivationOutputs out;
    ASSERT_TRUE(engine.Evaluate(profile, kv, now, out).ok());
    for (const SegmentChange& change : out.segment_changes) {
      seen.push_back(absl::StrCat(change.entered ? "+" : "-", change.segment, "@day",
                                  (absl::ToUnixMillis(now) - kT0) / kDayMs));
    }
    ActivationOutputs again;  // the same instant again: nothing new
    ASSERT_TRUE(engine.Evaluate(profile, kv, now, again).ok());
    EXPECT_TRUE(again.segment_changes.empty());
  };
  absl::Time now = absl::FromUnixMillis(kT0 + kHourMs);
  evaluate(now);
  for (int step = 0; step < 8 && !profile.timers().empty(); ++step) {
    int64_t due = profile.timers(0).due_ms();
    for (const v1::ScheduledTimer& timer : profile.timers()) due = std::min(due, timer.due_ms());
    ASSERT_GT(due, absl::ToUnixMillis(now)) << "a timer in the past would spin";
    now = absl::FromUnixMillis(due);
    evaluate(now);
  }
  EXPECT_TRUE(profile.timers().empty()) << "lost is the last tier time alone reaches";
  EXPECT_EQ(seen, (std::vector<std::string>{"+rfm_tier:new@day0", "-rfm_tier:new@day61",
                                            "+rfm_tier:potential_loyalist@day61",
                                            "-rfm_tier:potential_loyalist@day121", "+rfm_tier:hibernating@day121",
                                            "-rfm_tier:hibernating@day241", "+rfm_tier:lost@day241"}));

  // Four big orders today: lost -> champions in one evaluation.
  seen.clear();
  const int64_t today = absl::ToUnixMillis(now) + kHourMs;
  for (int i = 2; i <= 5; ++i) ApplyEvent(Completed(absl::StrCat("o", i), today, 1'000'000), profile, computed);
  evaluate(absl::FromUnixMillis(today + kMinuteMs));
  EXPECT_EQ(seen, (std::vector<std::string>{"-rfm_tier:lost@day241", "+rfm_tier:champions@day241"}));

  ActivationConfig off;
  ComputedTraitsConfig without = computed;
  without.rfm_tier_segments = false;
  AddRfmTierSegments(without, off);
  EXPECT_TRUE(off.segments.empty());
  EXPECT_TRUE(off.fingerprint.empty());
}

}  // namespace
}  // namespace tessera::profiles
