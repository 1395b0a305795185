// Time triggers: each kind fires once per occurrence, at its due time in the profile's zone, with
// its fired-once record surviving a new engine (a restart), and the timer index holding what is
// next.
#include "profiles/triggers.h"

#include <gtest/gtest.h>

#include "absl/time/civil_time.h"
#include "profiles/profile_state.h"
#include "tests/fakes/memory_kv.h"

namespace tessera::profiles {
namespace {

using tessera::testing::MemoryKv;

absl::Time Local(int y, int m, int d, int hh, const char* zone) {
  return absl::FromCivil(absl::CivilHour(y, m, d, hh), *LoadZone(zone));
}
absl::Time Utc(int y, int m, int d, int hh = 0) { return Local(y, m, d, hh, "UTC"); }

ActivationEngine Engine(const std::string& yaml) {
  absl::StatusOr<ActivationConfig> config = ParseActivationConfig(yaml);
  EXPECT_TRUE(config.ok()) << config.status();
  return ActivationEngine(config.ok() ? *std::move(config) : ActivationConfig{});
}

std::vector<std::string> Fired(const ActivationOutputs& out) {
  std::vector<std::string> keys;
  for (const TriggerFiring& f : out.triggers) keys.push_back(f.occurrence);
  return keys;
}

// Profile `id`, first and last seen at the start of 2026 (UTC).
v1::Profile SeenOnNewYear(uint64_t id) {
  v1::Profile p;
  p.set_id(id);
  p.set_first_seen_ms(absl::ToUnixMillis(Utc(2026, 1, 1)));
  p.set_last_seen_ms(absl::ToUnixMillis(Utc(2026, 1, 1)));
  return p;
}

// Evaluates `p` at `now` with `engine` and returns the occurrences fired.
std::vector<std::string> At(const ActivationEngine& engine, v1::Profile& p, MemoryKv& kv, absl::Time now) {
  ActivationOutputs out;
  EXPECT_TRUE(engine.Evaluate(p, kv, now, out).ok());
  return Fired(out);
}

TEST(Triggers, BirthdayFiresOnceDaysBeforeAtLocalMidnightAndNextYearAfter) {
  const ActivationEngine engine = Engine("profiles: {triggers: {birthday: {days_before: 7}}}");
  MemoryKv kv;
  v1::Profile p;
  p.set_id(42);
  (*p.mutable_traits())["birthday"].set_json(R"("1990-12-05")");
  (*p.mutable_traits())["timezone"].set_json(R"("Asia/Bangkok")");

  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 11, 20)).empty());
  // Due 28 November 00:00 in Bangkok = 27 November 17:00 UTC, and the timer says so.
  const absl::Time due = Local(2026, 11, 28, 0, "Asia/Bangkok");
  ASSERT_EQ(p.timers_size(), 1);
  EXPECT_EQ(p.timers(0).name(), "birthday:2026");
  EXPECT_EQ(p.timers(0).due_ms(), absl::ToUnixMillis(due));
  MemoryKv scan_only = kv;
  auto due_now = DueTimers(kv.Scanner(), due - absl::Seconds(1), 10);
  ASSERT_TRUE(due_now.ok());
  EXPECT_TRUE(due_now->empty());
  due_now = DueTimers(kv.Scanner(), due, 10);
  ASSERT_TRUE(due_now.ok());
  ASSERT_EQ(due_now->size(), 1u);
  EXPECT_EQ((*due_now)[0].profile_id, 42u);
  EXPECT_EQ((*due_now)[0].key, TimerKey(absl::ToUnixMillis(due), 42, ""));

  ActivationOutputs out;
  ASSERT_TRUE(engine.Evaluate(p, kv, due, out).ok());
  ASSERT_EQ(out.triggers.size(), 1u);
  EXPECT_EQ(out.triggers[0].trigger, "birthday");
  EXPECT_EQ(out.triggers[0].occurrence, "birthday:2026");
  EXPECT_EQ(out.triggers[0].due_at_ms, absl::ToUnixMillis(due));
  EXPECT_EQ(out.triggers[0].time_zone, "Asia/Bangkok");
  EXPECT_EQ(TriggerFiringToJson(out.triggers[0]),
            R"({"profile_id":"42","trigger":"birthday","occurrence":"birthday:2026","due_at":"2026-11-27T17:00:00.000Z",)"
            R"("fired_at":"2026-11-27T17:00:00.000Z","time_zone":"Asia/Bangkok"})");
  // Once: evaluating again before the birthday, or with a new engine over the same state (a
  // restart), fires nothing.
  EXPECT_TRUE(At(engine, p, kv, due + absl::Hours(30)).empty());
  const ActivationEngine restarted = Engine("profiles: {triggers: {birthday: {days_before: 7}}}");
  EXPECT_TRUE(At(restarted, p, kv, Local(2026, 12, 5, 23, "Asia/Bangkok")).empty());
  // The next timer is next year's.
  ASSERT_EQ(p.timers_size(), 1);
  EXPECT_EQ(p.timers(0).name(), "birthday:2027");
  EXPECT_EQ(p.timers(0).due_ms(), absl::ToUnixMillis(Local(2027, 11, 28, 0, "Asia/Bangkok")));
  EXPECT_EQ(At(engine, p, kv, Local(2027, 11, 28, 0, "Asia/Bangkok")), std::vector<std::string>{"birthday:2027"});
}

TEST(Triggers, ABirthdayLearntInsideTheWindowFiresAtOnceButNotAfterTheDay) {
  const ActivationEngine engine = Engine("profiles: {triggers: {birthday: {days_before: 7}}}");
  MemoryKv kv;
  v1::Profile p;
  p.set_id(1);
  (*p.mutable_traits())["birthday"].set_json(R"("2000-03-10")");
  EXPECT_EQ(At(engine, p, kv, Utc(2026, 3, 8)), std::vector<std::string>{"birthday:2026"});
  v1::Profile late;
  late.set_id(2);
  (*late.mutable_traits())["birthday"].set_json(R"("2000-03-10")");
  EXPECT_TRUE(At(engine, late, kv, Utc(2026, 3, 11)).empty());
  EXPECT_EQ(late.timers(0).name(), "birthday:2027");
}

TEST(Triggers, PointsExpireOncePerExpiryDate) {
  const ActivationEngine engine =
      Engine("profiles: {triggers: {default_time_zone: Asia/Bangkok, points_expiry: {days_before: 14}}}");
  MemoryKv kv;
  v1::Profile p;
  p.set_id(5);
  (*p.mutable_traits())["points_expire_at"].set_json(R"("2026-12-31")");
  // The points last through 31 December (Bangkok): the warning is due 14 days before its end.
  const absl::Time due = Local(2027, 1, 1, 0, "Asia/Bangkok") - absl::Hours(24 * 14);
  EXPECT_TRUE(At(engine, p, kv, due - absl::Minutes(1)).empty());
  EXPECT_EQ(p.timers(0).due_ms(), absl::ToUnixMillis(due));
  EXPECT_EQ(At(engine, p, kv, due), std::vector<std::string>{"points_expiring:2026-12-31"});
  EXPECT_TRUE(At(engine, p, kv, due + absl::Hours(1)).empty());
  EXPECT_EQ(p.timers_size(), 0) << "nothing follows a single expiry";
  // New points with a new expiry: a new occurrence.
  (*p.mutable_traits())["points_expire_at"].set_json(R"("2027-06-30T12:00:00Z")");
  EXPECT_TRUE(At(engine, p, kv, Utc(2027, 1, 2)).empty());
  EXPECT_EQ(At(engine, p, kv, Utc(2027, 6, 16, 12)), std::vector<std::string>{"points_expiring:2027-06-30T12:00:00Z"});
}

TEST(Triggers, BenefitsExpireEachOnce) {
  const ActivationEngine engine = Engine("profiles: {triggers: {benefits_expiry: {days_before: 3}}}");
  MemoryKv kv;
  v1::Profile p;
  p.set_id(6);
  (*p.mutable_traits())["benefits"].set_json(
      R"([{"name":"free_coffee","expires_at":"2026-12-10"},{"name":"birthday_cake","expires_at":"2026-12-20"},{"name":"broken"}])");
  EXPECT_EQ(At(engine, p, kv, Utc(2026, 12, 8)), std::vector<std::string>{"benefit_expiring:free_coffee:2026-12-10"});
  ActivationOutputs out;
  ASSERT_TRUE(engine.Evaluate(p, kv, Utc(2026, 12, 18), out).ok());
  ASSERT_EQ(Fired(out), std::vector<std::string>{"benefit_expiring:birthday_cake:2026-12-20"});
  EXPECT_EQ(out.triggers[0].detail_json, R"({"benefit":"birthday_cake","expires_at":"2026-12-20"})");
}

TEST(Triggers, InactivityFiresOncePerQuietSpellAndRearmsOnActivity) {
  const ActivationEngine engine = Engine("profiles: {triggers: {inactivity: {days: [30, 90]}}}");
  MemoryKv kv;
  v1::Profile p = SeenOnNewYear(7);
  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 1, 2)).empty());
  EXPECT_EQ(p.timers_size(), 2);
  const std::string spell = std::to_string(absl::ToUnixMillis(Utc(2026, 1, 1)));
  EXPECT_EQ(At(engine, p, kv, Utc(2026, 1, 31)), std::vector<std::string>{"inactive_30d:" + spell});
  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 2, 15)).empty());
  EXPECT_EQ(At(engine, p, kv, Utc(2026, 4, 1)), std::vector<std::string>{"inactive_90d:" + spell});
  // Back again: a new spell, a new occurrence 30 days later.
  p.set_last_seen_ms(absl::ToUnixMillis(Utc(2026, 4, 2)));
  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 4, 2)).empty());
  EXPECT_EQ(At(engine, p, kv, Utc(2026, 5, 2)).size(), 1u);
}

TEST(Triggers, FirstOrderAnniversaryFromTheEarliestCompletedOrder) {
  const ActivationEngine engine = Engine("profiles: {triggers: {first_order_anniversary: {}}}");
  MemoryKv kv;
  v1::Profile p;
  p.set_id(8);
  auto order = [&](const char* id, absl::Time at, v1::OrderStatus status) {
    v1::OrderSummary& o = (*p.mutable_orders())[id];
    o.set_status(status);
    o.set_timestamp_ms(absl::ToUnixMillis(at));
  };
  order("cancelled-first", Utc(2024, 1, 5), v1::ORDER_STATUS_CANCELLED);
  order("real-first", Utc(2024, 2, 10, 15), v1::ORDER_STATUS_COMPLETED);
  order("later", Utc(2025, 6, 1), v1::ORDER_STATUS_COMPLETED);
  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 1, 1)).empty());
  EXPECT_EQ(p.timers(0).due_ms(), absl::ToUnixMillis(Utc(2026, 2, 10)));
  EXPECT_EQ(At(engine, p, kv, Utc(2026, 2, 10, 8)), std::vector<std::string>{"first_order_anniversary:2026"});
}

TEST(Triggers, CartAbandonedThroughTheComputedTraitsHook) {
  absl::StatusOr<ActivationConfig> config = ParseActivationConfig("");
  ASSERT_TRUE(config.ok());
  config->triggers.cart_abandoned = [](const v1::Profile& p) -> std::optional<CartAbandonment> {
    if (p.last_seen_ms() == 0) return std::nullopt;
    return CartAbandonment{p.last_seen_ms() + 3'600'000, std::to_string(p.last_seen_ms()), R"(["sku-1"])"};
  };
  const ActivationEngine engine(*std::move(config));
  ASSERT_TRUE(engine.enabled());
  MemoryKv kv;
  v1::Profile p;
  p.set_id(9);
  p.set_last_seen_ms(absl::ToUnixMillis(Utc(2026, 5, 1, 10)));
  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 5, 1, 10)).empty());
  ActivationOutputs out;
  ASSERT_TRUE(engine.Evaluate(p, kv, Utc(2026, 5, 1, 11), out).ok());
  ASSERT_EQ(out.triggers.size(), 1u);
  EXPECT_EQ(out.triggers[0].trigger, "cart_abandoned");
  EXPECT_NE(TriggerFiringToJson(out.triggers[0]).find(R"("detail":["sku-1"])"), std::string::npos);
  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 5, 1, 12)).empty());
}

// The "tm/" keys in `kv`, as (due ms, profile id).
std::vector<std::pair<int64_t, uint64_t>> IndexKeys(const MemoryKv& kv) {
  auto due = DueTimers(kv.Scanner(), absl::InfiniteFuture(), 1000);
  EXPECT_TRUE(due.ok());
  std::vector<std::pair<int64_t, uint64_t>> keys;
  for (const DueTimer& timer : *due) keys.emplace_back(timer.due_ms, timer.profile_id);
  return keys;
}

// What the activation driver does at `now`: deletes the due keys and evaluates their profiles.
std::vector<std::string> FireDue(const ActivationEngine& engine, v1::Profile& p, MemoryKv& kv, absl::Time now) {
  auto due = DueTimers(kv.Scanner(), now, 1000);
  EXPECT_TRUE(due.ok());
  if (due->empty()) return {"(nothing due)"};
  for (const DueTimer& timer : *due) kv.Delete(timer.key);
  return At(engine, p, kv, now);
}

// A profile has one index key, at the first thing it waits for. A timer moving behind an earlier
// one (the inactivity timer on a visit, behind a birthday) writes no key; when the first one
// moves, the key moves with it, and never wakes the profile early.
TEST(TimerIndex, ATimerMovingBehindAnEarlierOneWritesNoKeyAndTheFirstCarriesTheKey) {
  const ActivationEngine engine =
      Engine("profiles: {triggers: {inactivity: {days: [30]}, birthday: {days_before: 7}}}");
  MemoryKv kv;
  v1::Profile p = SeenOnNewYear(7);
  (*p.mutable_traits())["birthday"].set_json(R"("1990-01-20")");
  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 1, 1, 12)).empty());
  const int64_t jan13 = absl::ToUnixMillis(Utc(2026, 1, 13));
  EXPECT_EQ(p.wake_ms(), jan13);
  EXPECT_EQ(IndexKeys(kv), (std::vector<std::pair<int64_t, uint64_t>>{{jan13, 7}}));

  p.set_last_seen_ms(absl::ToUnixMillis(Utc(2026, 1, 10)));  // a visit: inactivity moves to 9 February
  const MemoryKv before_visit = kv;
  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 1, 10)).empty());
  EXPECT_EQ(p.timers_size(), 2);
  EXPECT_EQ(kv.data(), before_visit.data()) << "no index write";

  EXPECT_EQ(FireDue(engine, p, kv, Utc(2026, 1, 13)), std::vector<std::string>{"birthday:2026"});
  const int64_t feb9 = absl::ToUnixMillis(Utc(2026, 2, 9));
  EXPECT_EQ(IndexKeys(kv), (std::vector<std::pair<int64_t, uint64_t>>{{feb9, 7}}));

  p.set_last_seen_ms(absl::ToUnixMillis(Utc(2026, 2, 1)));  // the first timer moves: so does the key
  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 2, 1)).empty());
  const int64_t mar3 = absl::ToUnixMillis(Utc(2026, 3, 3));
  EXPECT_EQ(IndexKeys(kv), (std::vector<std::pair<int64_t, uint64_t>>{{mar3, 7}}));
  EXPECT_EQ(FireDue(engine, p, kv, Utc(2026, 2, 9)), std::vector<std::string>{"(nothing due)"}) << "no early wake";
  const std::string spell = std::to_string(absl::ToUnixMillis(Utc(2026, 2, 1)));
  EXPECT_EQ(FireDue(engine, p, kv, Utc(2026, 3, 3)), std::vector<std::string>{"inactive_30d:" + spell});
  EXPECT_EQ(IndexKeys(kv), (std::vector<std::pair<int64_t, uint64_t>>{{absl::ToUnixMillis(Utc(2027, 1, 13)), 7}}))
      << "next year's birthday";
}

// Something planned earlier than the pending key moves it: the old key is deleted, one is left.
TEST(TimerIndex, AnEarlierTimerMovesTheWakeAndDeletesTheOldKey) {
  const ActivationEngine engine =
      Engine("profiles: {triggers: {inactivity: {days: [30]}, birthday: {days_before: 7}}}");
  MemoryKv kv;
  v1::Profile p = SeenOnNewYear(9);
  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 1, 2)).empty());
  EXPECT_EQ(p.wake_ms(), absl::ToUnixMillis(Utc(2026, 1, 31)));
  (*p.mutable_traits())["birthday"].set_json(R"("1990-01-20")");  // learnt: due the 13th
  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 1, 3)).empty());
  const int64_t jan13 = absl::ToUnixMillis(Utc(2026, 1, 13));
  EXPECT_EQ(p.wake_ms(), jan13);
  EXPECT_EQ(IndexKeys(kv), (std::vector<std::pair<int64_t, uint64_t>>{{jan13, 9}}));
  EXPECT_EQ(FireDue(engine, p, kv, Utc(2026, 1, 13)), std::vector<std::string>{"birthday:2026"});
  EXPECT_EQ(IndexKeys(kv), (std::vector<std::pair<int64_t, uint64_t>>{{absl::ToUnixMillis(Utc(2026, 1, 31)), 9}}));
}

// Profiles stored before the wake key had one key per planned timer: the first evaluation deletes
// them, and a merged-away profile takes its wake key with it.
TEST(TimerIndex, KeysPerTimerOfAnOlderProfileGoOnItsFirstEvaluationAndAMergedProfileLeavesNone) {
  const ActivationEngine engine = Engine("profiles: {triggers: {inactivity: {days: [30, 90]}}}");
  MemoryKv kv;
  v1::Profile p = SeenOnNewYear(5);
  for (const auto& [name, due] : {std::pair<std::string, absl::Time>{"inactive_30d:x", Utc(2026, 1, 31)},
                                  {"inactive_90d:x", Utc(2026, 4, 1)}}) {
    v1::ScheduledTimer& timer = *p.add_timers();
    timer.set_name(name);
    timer.set_due_ms(absl::ToUnixMillis(due));
    kv.Put(TimerKey(timer.due_ms(), 5, name), "");
  }
  EXPECT_TRUE(At(engine, p, kv, Utc(2026, 1, 2)).empty());
  const int64_t jan31 = absl::ToUnixMillis(Utc(2026, 1, 31));
  EXPECT_EQ(kv.data().size(), 1u);
  EXPECT_TRUE(kv.data().contains(TimerKey(jan31, 5, "")));
  EXPECT_EQ(p.timers_size(), 2) << "the plan itself is kept";

  // Its plan names no keys now: retiring it deletes the wake key and writes nothing else.
  const int deletes_before = kv.deletes();
  ActivationOutputs out;
  engine.Retire(p, kv, Utc(2026, 1, 3), out);
  EXPECT_EQ(kv.deletes() - deletes_before, 1);
  EXPECT_TRUE(kv.data().empty());
}

TEST(TimerIndex, DueTimersComeOldestFirstUpToTheLimit) {
  MemoryKv kv;
  kv.Put(TimerKey(3000, 1, "c"), "");
  kv.Put(TimerKey(1000, 2, "a"), "");
  kv.Put(TimerKey(2000, 1, "b"), "");
  kv.Put(TimerKey(9000, 1, "later"), "");
  kv.Put("tn/unrelated", "");
  auto due = DueTimers(kv.Scanner(), absl::FromUnixMillis(3000), 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 3u);
  EXPECT_EQ((*due)[0].name, "a");
  EXPECT_EQ((*due)[1].name, "b");
  EXPECT_EQ((*due)[2].name, "c");
  EXPECT_EQ((*due)[2].due_ms, 3000);
  EXPECT_EQ((*due)[2].key, TimerKey(3000, 1, "c"));
  due = DueTimers(kv.Scanner(), absl::FromUnixMillis(3000), 2);
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(due->size(), 2u);
}

}  // namespace
}  // namespace tessera::profiles
