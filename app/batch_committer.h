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
// Group offsets: a stateless stage resumes from the consumer group's committed offsets, so each
// of its batches commits them. A stateful stage resumes from the offsets in its own store, written
// in the batch's WriteBatch (KafkaConsumer::Options::stored_offsets); for it the group's offsets
// only tell lag monitors how far it is, and they are committed at most once per
// `group_commit_interval` and at every Drain (the loop drains before each timer tick, at a
// rebalance and when it stops). A synchronous commit per batch was a broker round trip per batch
// on the commit thread for no gain in safety; without it, at 2,600 events/s offered, the median
// event-to-profile-update latency was lower in 3 of 3 alternating runs (20.3 -> 17.9, 17.1 -> 12.5,
// 12.4 -> 11.2 ms) and the p99 in 2 of 3 (docs/architecture.md, "Overlapped commits").
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
                 absl::Duration delivery_timeout = absl::Minutes(2),
                 absl::Duration group_commit_interval = absl::Seconds(1));
  ~BatchCommitter();  // drains
  BatchCommitter(const BatchCommitter&) = delete;
  BatchCommitter& operator=(const BatchCommitter&) = delete;

  // Waits until the batch handed over before is committed, then hands over this one. If an earlier
  // batch failed, returns its error and does not take this one.
  absl::Status Submit(Batch batch);
  // Waits until every batch handed over is committed, commits to the group the offsets of
  // stateful batches it has not had yet, then lets go of the last one's staged writes (state
  // written since, e.g. by a timer tick, must not be shadowed by them). The first error, if a
  // batch failed.
  absl::Status Drain();
  // The staged writes of the batch handed over last, for the next batch to read as its `below`
  // (null after a Drain). Valid until the next Submit or Drain.
  const StagedWrites* last_staged() const;

 private:
  void Run();
  absl::Status CommitOne(const Batch& batch);
  // Commits to the consumer group; a failure is logged, not returned: the stage resumes from its
  // store (stateful) or replays a little more (stateless), both safe.
  void CommitToGroup(const std::map<TopicPartition, int64_t>& next_offsets) const;

  const std::string name_;
  KafkaProducer* const producer_;
  KafkaConsumer* const consumer_;
  const absl::Duration delivery_timeout_;
  const absl::Duration group_commit_interval_;

  mutable absl::Mutex mu_;
  std::optional<Batch> current_ ABSL_GUARDED_BY(mu_);  // handed over last
  bool current_done_ ABSL_GUARDED_BY(mu_) = true;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Offsets of stateful batches written but not yet committed to the group, and when it was last.
  std::map<TopicPartition, int64_t> unreported_offsets_ ABSL_GUARDED_BY(mu_);
  absl::Time last_group_commit_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::thread thread_;
};

}  // namespace tessera::app
