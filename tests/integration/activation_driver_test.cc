// ActivationDriver::HasWork (app/activation_driver.h): the probe the worker loop asks before it
// drains the batch in flight for a timer tick. On a real RocksDB and a manual clock.
#include "app/activation_driver.h"

#include <gtest/gtest.h>

#include <string>

#include "common/rocks_store.h"
#include "profiles/triggers.h"
#include "tests/fakes/manual_clock.h"
#include "tests/fakes/temp_store_test.h"

namespace tessera::app {
namespace {

constexpr int64_t kNow = 1'796'000'000'000;  // 2026-11-29, UTC

class ActivationDriverTest : public testing::TempStoreTest {
 protected:
  // A tick with nothing to re-evaluate: plans the backfill (none: no profiles) and takes due timers.
  void Tick(ActivationDriver& driver) {
    StagedWrites staged(store_.get());
    const ActivationDriver::Hooks hooks{[](uint64_t) { return absl::OkStatus(); },
                                        []() -> absl::StatusOr<std::vector<OutputRecord>> {
                                          return std::vector<OutputRecord>{};
                                        }};
    bool more = false;
    ASSERT_TRUE(driver.Tick(&staged, hooks, &more).ok());
    ASSERT_TRUE(staged.Commit().ok());
  }

  bool HasWork(const ActivationDriver& driver) {
    absl::StatusOr<bool> has_work = driver.HasWork();
    EXPECT_TRUE(has_work.ok()) << has_work.status();
    return has_work.value_or(false);
  }
};

TEST_F(ActivationDriverTest, HasWorkUntilTheBackfillIsPlannedThenOnlyWhenATimerIsDue) {
  testing::ManualClock clock(kNow);
  const profiles::ActivationEngine engine(profiles::ActivationConfig{});
  ActivationDriver driver(store_.get(), &engine, &clock, "test");
  EXPECT_TRUE(HasWork(driver)) << "the first tick plans the backfill";
  Tick(driver);
  EXPECT_FALSE(HasWork(driver)) << "no backfill, no timers";

  // A timer a minute ahead: not due; then due once the clock passes it; gone once a tick took it.
  StagedWrites staged(store_.get());
  staged.Put(profiles::TimerKey(kNow + 60'000, 42, "segments"), "");
  ASSERT_TRUE(staged.Commit().ok());
  EXPECT_FALSE(HasWork(driver));
  clock.Advance(60'000);
  EXPECT_TRUE(HasWork(driver));
  Tick(driver);
  EXPECT_FALSE(HasWork(driver)) << "the tick deleted the due timer";
}

}  // namespace
}  // namespace tessera::app
