// Segments and time triggers between poll batches: the part of the profile stage that runs because
// time passed or the definitions changed, not because an event arrived.
//
// A worker calls ActivationDriver::Tick about once a second (RunWorkerLoopWithTicks), each time in
// a staged batch of its own that commits after its outputs are flushed, exactly like a poll batch:
//  - while a backfill is pending (the segment/trigger definitions' fingerprint differs from the one
//    stored under "sg/config"), it re-evaluates the next chunk of stored profiles ("pf/" order),
//    records its progress under "sg/backfill" so a restart resumes where it stopped, and logs
//    progress; when done it stores the new fingerprint;
//  - otherwise it takes the timers due now from the "tm/" index (oldest first), deletes them and
//    re-evaluates their profiles, which fires what is due and schedules what comes next.
//
// Thread-safety: one driver per worker thread, like the store's staged writes it is handed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "app/worker_loop.h"
#include "common/clock.h"
#include "common/kv.h"
#include "common/rocks_store.h"
#include "profiles/computed_traits.h"
#include "profiles/triggers.h"

namespace tessera::app {

// Work done between poll batches on a stage's own state, under the same rules as a batch.
struct StateTicker {
  // Whether a tick has anything to do, judged from the store as committed so far. The loop asks
  // before it drains the batch in flight for the tick: a tick reads the committed store, so it must
  // wait for that batch's acknowledgements and WriteBatch, and when it waited once a second for
  // nothing, that was 5-10% of a drain's loop time. What the batch in flight makes due is seen
  // one tick (a second) later. Unset: always.
  std::function<absl::StatusOr<bool>()> has_work;
  // The tick. Sets *more when it has more to do at once (the loop polls one batch, then calls again
  // without waiting a second, so a long backfill never starves the consumer past
  // max.poll.interval.ms).
  std::function<absl::StatusOr<std::vector<OutputRecord>>(KeyValueView* state, bool* more)> tick;
};

// The `profiles:` section of --config as the profile stage runs it: computed traits, segments and
// triggers joined, with one default time zone (the config's, else `fallback_time_zone`, i.e.
// --time-zone), the built-in RFM tier segments (profiles/computed_facts.h), `computed:` conditions
// and the cart trigger reading the computed traits. Used by `tessera run`/`profiles` and
// `tessera segment backfill`, so they evaluate alike.
struct ActivationSetup {
  std::shared_ptr<const profiles::ComputedTraitsConfig> computed;
  std::shared_ptr<const profiles::ActivationEngine> activation;
};
absl::StatusOr<ActivationSetup> LoadActivationSetup(const std::string& config_path, std::string_view fallback_time_zone);
absl::StatusOr<ActivationSetup> ParseActivationSetup(std::string_view yaml, std::string_view fallback_time_zone);

// tessera segment backfill NAME --config FILE --brokers HOST:PORT [--data-dir DIR] [--time-zone Z]
//   [--topic-prefix P] [--restart]: re-evaluates the one segment NAME over every stored profile of
// the fused store (else the profiles stage's), publishing its enters and exits to segment-changes
// (flushed before each chunk commits) and showing progress; resumable ("sg/manual/NAME" holds the
// last profile id done; --restart starts over). The store must not be open in another process.
int SegmentCommand(const std::vector<std::string>& args);

// RunWorkerLoop (worker_loop.h) plus a ticker called about once a second, between batches.
absl::Status RunWorkerLoopWithTicks(const RunOptions& run, const WorkerLoopOptions& loop, const BatchHandler& handler,
                                    const StateTicker& ticker, const std::atomic<bool>& stop);

class ActivationDriver {
 public:
  // How the worker re-evaluates a profile and turns the step's changes into outputs.
  struct Hooks {
    std::function<absl::Status(uint64_t profile_id)> reevaluate;
    std::function<absl::StatusOr<std::vector<OutputRecord>>()> finish;
  };

  // `store` is the committed state (scanned for "pf/" and "tm/"); all must outlive the driver.
  ActivationDriver(const RocksStore* store, const profiles::ActivationEngine* engine, const Clock* clock,
                   std::string name, size_t chunk = 2000);

  absl::StatusOr<std::vector<OutputRecord>> Tick(KeyValueView* state, const Hooks& hooks, bool* more);
  // Whether Tick would do anything now, from the committed store: a backfill is pending (or not
  // planned yet), or a timer is due. Cheap: one seek into the timer index.
  absl::StatusOr<bool> HasWork() const;

  // Profiles re-evaluated by the backfill so far (for logs and the benchmark).
  int64_t backfilled() const { return static_cast<int64_t>(next_); }
  bool backfill_pending() const { return !checked_ || next_ < pending_.size(); }

 private:
  absl::Status PlanBackfill(KeyValueView* state);
  absl::StatusOr<std::vector<profiles::DueTimer>> DueNow(size_t limit) const;

  const RocksStore* store_;
  const profiles::ActivationEngine* engine_;
  const Clock* clock_;
  std::string name_;
  size_t chunk_;
  bool checked_ = false;
  std::vector<uint64_t> pending_;  // profile ids still to backfill, ascending
  size_t next_ = 0;
  absl::Time started_;
  absl::Time last_log_;
};

}  // namespace tessera::app
