// BatchCommitter: the second half of the worker loop (worker_loop.h), on a thread of its own.
//
// The loop hands it a batch once the stage logic has run and the batch's outputs are enqueued on
// the producer. The committer waits until Kafka has acknowledged every one of those outputs (a
// flush: the records enqueued so far, which may include some of the next batch's), writes the
// batch's staged state together with its input offsets in one synced WriteBatch, then commits the
// offsets to the consumer group. Meanwhile the loop polls and runs the next batch, reading this
// one's writes through StagedWrites' `below`, so the next batch sees exactly the state it would
// see had this one already committed.
//
// Why: a turn of the serial loop was stage logic, then waiting for acks, then the WriteBatch, then
// the offset commit, back to back, and an event polled just after a turn began waited for all of it
// twice. Overlapping the waits and the commit with the next batch's logic shortens every turn
// (docs/architecture.md, "Overlapped commits").
//
// The guarantees are the serial loop's: batches are committed one at a time and in order, and a
// batch's state is written only after all its outputs were acknowledged, so a crash replays what
// was not committed (outputs may repeat, never go missing). A batch that fails (a delivery error or
// timeout, a failed write) is reported by the next Submit or Drain; the loop then stops, and the
// batch handed over after it was never written.
//
// Thread-safety: Submit, Drain and last_staged are for the loop's one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/kafka.h"
#include "common/rocks_store.h"

namespace tessera::app {

class BatchCommitter {
 public:
  struct Batch {
    int64_t outputs = 0;   // records the batch enqueued on the producer
    std::unique_ptr<StagedWrites> staged;  // null for a stateless stage
    std::map<TopicPartition, int64_t> next_offsets;  // committed to the group after the write
  };

  // `consumer` may be null (nothing to commit to a group). Both must outlive the committer.
  BatchCommitter(std::string name, KafkaProducer* producer, KafkaConsumer* consumer,
                 absl::Duration delivery_timeout = absl::Minutes(2));
  ~BatchCommitter();  // drains
  BatchCommitter(const BatchCommitter&) = delete;
  BatchCommitter& operator=(const BatchCommitter&) = delete;

  // Waits until the batch handed over before is committed, then hands over this one. If an earlier
  // batch failed, returns its error and does not take this one.
  absl::Status Submit(Batch batch);
  // Waits until every batch handed over is committed, then lets go of the last one's staged
  // writes (state written since, e.g. by a timer tick, must not be shadowed by them). The first
  // error, if a batch failed.
  absl::Status Drain();
  // The staged writes of the batch handed over last, for the next batch to read as its `below`
  // (null after a Drain). Valid until the next Submit or Drain.
  const StagedWrites* last_staged() const;

 private:
  void Run();
  absl::Status CommitOne(const Batch& batch);

  const std::string name_;
  KafkaProducer* const producer_;
  KafkaConsumer* const consumer_;
  const absl::Duration delivery_timeout_;

  mutable absl::Mutex mu_;
  std::optional<Batch> current_ ABSL_GUARDED_BY(mu_);  // handed over last
  bool current_done_ ABSL_GUARDED_BY(mu_) = true;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tessera::app
