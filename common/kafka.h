// Kafka, through librdkafka's C API. This file and kafka.cc are the only code that touches
// librdkafka; stages see KafkaProducer, KafkaConsumer and the admin helpers below.
//
// Delivery semantics Tessera relies on:
// - KafkaProducer is idempotent with acks=all: Flush() returning OK means every record produced
//   before it is durable on the broker, in order per partition, without duplicates from retries.
// - KafkaConsumer never auto-stores or auto-commits offsets. A stateful stage keeps the offsets it
//   has applied inside its own RocksDB WriteBatch and hands a StoredOffsetLookup to the consumer,
//   which seeks every newly assigned partition there; Kafka's committed offsets are then only
//   informational (lag tools). A stateless stage commits to Kafka after its outputs are flushed.
//
// Thread-safety: a KafkaConsumer belongs to the one thread that polls it (librdkafka calls the
// rebalance callback from inside poll). A KafkaProducer may be shared, but Flush() waits for every
// thread's records; Tessera uses one producer per processing thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace tessera {

using KafkaConfig = std::map<std::string, std::string>;

struct KafkaHeader {
  std::string name;
  std::string value;
};

struct KafkaMessage {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string payload;
  int64_t timestamp_ms = 0;  // the record's timestamp (producer create time)
  // The record's headers in their order (a name may repeat). Added for the collector's
  // tessera-workspace / tessera-source headers (issue 3).
  std::vector<KafkaHeader> headers;

  // The value of the last header named `name`, or nullptr.
  const std::string* FindHeader(std::string_view name) const {
    for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
      if (it->name == name) return &it->value;
    }
    return nullptr;
  }
};

// (topic, partition)
using TopicPartition = std::pair<std::string, int32_t>;

class KafkaProducer {
 public:
  // `extra` overrides or adds librdkafka properties (e.g. linger.ms).
  static absl::StatusOr<std::unique_ptr<KafkaProducer>> Create(const std::string& brokers, const KafkaConfig& extra = {});
  ~KafkaProducer();

  // Enqueues one record; key-hashed partitioning (murmur2, as the Java client) unless `partition`
  // is given. While the local queue is full it serves delivery reports and retries for up to
  // `queue_wait`, then answers Unavailable (the caller backs off; nothing was enqueued).
  absl::Status Produce(std::string_view topic, std::string_view key, std::string_view value,
                       const std::vector<KafkaHeader>& headers = {}, std::optional<int32_t> partition = std::nullopt,
                       absl::Duration queue_wait = absl::Seconds(30));

  // Waits until every record enqueued so far has a delivery report. OK only if all of them were
  // delivered since the previous Flush; otherwise Unavailable naming the first error.
  absl::Status Flush(absl::Duration timeout);

  int64_t delivered_count() const;
  int64_t failed_count() const;

  // Per-record delivery reports (added for the sinks' Kafka destinations, issue 7), for a caller
  // that keeps producing while earlier records are unacknowledged instead of flushing per batch
  // (rd_kafka_flush sends at once, ignoring linger.ms). ProduceTracked is Produce with a
  // caller-chosen non-zero `ticket`; TakeDeliveryReports serves delivery callbacks for up to
  // `max_wait` (returning early once there is one) and hands back the reports of tracked records
  // that arrived since the previous call. Untracked records still only count in the totals above.
  // Reports of consecutive records with the same ticket and outcome arrive merged: `records`
  // counts them (a batch's records are mostly reported together, so a caller handles one report
  // per batch and partition rather than one per record).
  struct DeliveryReport {
    uint64_t ticket = 0;
    bool delivered = false;
    std::string error;  // when not delivered: the first record's error
    int64_t records = 1;
  };
  // kCopy: librdkafka copies the value. kBorrow: it reads the caller's bytes when it sends them,
  // so the caller keeps them alive and unchanged until TakeDeliveryReports has returned the
  // record's report, or the producer is destroyed (its destructor still flushes). Saves an
  // allocation and a copy per record (the sinks' Kafka destinations keep each batch until it is
  // acknowledged anyway).
  enum class ValueBuffer { kCopy, kBorrow };
  absl::Status ProduceTracked(uint64_t ticket, std::string_view topic, std::string_view key, std::string_view value,
                              const std::vector<KafkaHeader>& headers = {},
                              absl::Duration queue_wait = absl::Seconds(30),
                              ValueBuffer value_buffer = ValueBuffer::kCopy);
  std::vector<DeliveryReport> TakeDeliveryReports(absl::Duration max_wait);

  struct DeliveryState;

 private:
  KafkaProducer(rd_kafka_s* rk, std::unique_ptr<DeliveryState> state);
  rd_kafka_s* rk_;
  std::unique_ptr<DeliveryState> state_;
};

class KafkaConsumer {
 public:
  // Returns the next offset to read for a newly assigned partition, or nullopt when the stage has
  // never applied anything from it (then it starts at the beginning of the partition).
  using StoredOffsetLookup = std::function<std::optional<int64_t>(const std::string& topic, int32_t partition)>;

  struct Options {
    std::string brokers;
    std::string group_id;
    // Static group membership: a restarted worker with the same instance id gets its partitions
    // back at once instead of after a session timeout.
    std::string group_instance_id;
    std::vector<std::string> topics;
    // Set for stateful stages (see the file comment). Unset: Kafka's committed offsets, else earliest.
    StoredOffsetLookup stored_offsets;
    // Non-empty: read exactly these partitions of every topic (manual assignment, no group
    // rebalancing), so a worker's local state and its partitions can never part. group_id is then
    // only used for committing offsets.
    std::vector<int32_t> owned_partitions;
    KafkaConfig extra;
    // How long the broker may hold a fetch to gather up to kBatchingFetchBytes before it answers
    // (fetch.wait.max.ms with fetch.min.bytes). Zero: it answers as soon as one record is there.
    // A stage under a steady load otherwise runs a batch, a produce request, a WAL sync and a
    // fetch per handful of records: at 1,000 events/s `tessera run` spent 0.47 cores and the
    // broker 0.68 on that, against 0.17-0.21 and 0.32-0.36 with a 10 ms wait
    // (docs/architecture.md, "Fetch batching").
    absl::Duration fetch_wait = absl::ZeroDuration();
    // False: PollBatch leaves KafkaMessage::headers empty (a consumer that never reads them saves
    // the per-record copies).
    bool copy_headers = true;
    // Called on the polling thread when partitions are about to be assigned or revoked, before
    // stored_offsets is asked: a caller that commits batches on another thread waits for them here,
    // so the offsets it stored and committed are current when partitions move.
    std::function<void()> before_rebalance;
  };

  // The bytes a fetch gathers (across its partitions) before a fetch_wait is up.
  static constexpr int kBatchingFetchBytes = 1 << 20;

  static absl::StatusOr<std::unique_ptr<KafkaConsumer>> Create(Options options);
  ~KafkaConsumer();

  // Polls until `max_messages` arrived or `timeout` passed; once a first record is in, waits at
  // most `linger` more for others (zero: returns what the local queue holds at once). Records of
  // partitions revoked during the call are dropped: their new owner reads them again from the
  // stored offset.
  absl::StatusOr<std::vector<KafkaMessage>> PollBatch(size_t max_messages, absl::Duration timeout,
                                                      absl::Duration linger = absl::ZeroDuration());

  // Commits `next_offsets` (the next offset to read per partition) to the group, synchronously.
  absl::Status Commit(const std::map<TopicPartition, int64_t>& next_offsets);

  // Leaves the group cleanly (a static member keeps its assignment until the session times out).
  void Close();

  // Partitions currently assigned.
  std::vector<TopicPartition> Assignment() const;

  // Stops fetching from every assigned partition (Resume undoes it) while PollBatch keeps serving
  // the group, so a consumer whose downstream is stuck holds no more than what it already polled:
  // the rest stays in Kafka. Records already fetched may still arrive from PollBatch. A partition
  // assigned after Pause is not paused. (Added for the sinks' bounded memory, issue 7.)
  absl::Status Pause();
  absl::Status Resume();

  struct RebalanceState;

 private:
  KafkaConsumer(rd_kafka_s* rk, std::unique_ptr<RebalanceState> state);
  rd_kafka_s* rk_;
  std::unique_ptr<RebalanceState> state_;
  bool closed_ = false;
  bool copy_headers_ = true;
};

struct TopicSpec {
  std::string name;
  int partitions = 4;
  std::map<std::string, std::string> configs;  // e.g. cleanup.policy=compact
};

// Creates the topics that do not exist yet (an existing one is left as it is), and returns once
// every partition of each has a leader that answers for it, so a consumer or producer started
// next finds them.
absl::Status CreateTopics(const std::string& brokers, const std::vector<TopicSpec>& topics,
                          absl::Duration timeout = absl::Seconds(30));

// The names of the topics whose name starts with `prefix`, from the cluster's metadata.
absl::StatusOr<std::vector<std::string>> ListTopics(const std::string& brokers, std::string_view prefix,
                                                   absl::Duration timeout = absl::Seconds(10));

// Deletes every topic whose name starts with `prefix` (a non-empty prefix: an empty one would
// delete the cluster's own topics too) and returns their names once the metadata no longer lists
// them. The broker frees their disk a little later (file.delete.delay.ms). For benchmarks and
// tests that make many topics; Tessera itself never deletes a topic.
absl::StatusOr<std::vector<std::string>> DeleteTopicsWithPrefix(const std::string& brokers, std::string_view prefix,
                                                                absl::Duration timeout = absl::Seconds(60));

// Reads every record of `topic` from the beginning up to its current end (the high watermarks at
// the time of the call), with a plain consumer outside any group.
absl::StatusOr<std::vector<KafkaMessage>> ReadTopicToEnd(const std::string& brokers, const std::string& topic,
                                                         absl::Duration timeout = absl::Seconds(60));

// One partition of a consumer group's progress: its committed offset (-1 when the group has none)
// and the partition's high watermark; lag = high_watermark - max(committed, low_watermark).
struct GroupPartitionLag {
  std::string topic;
  int32_t partition = 0;
  int64_t committed = -1;
  int64_t low_watermark = 0;
  int64_t high_watermark = 0;
  int64_t lag() const { return high_watermark - (committed < low_watermark ? low_watermark : committed); }
};

// The committed offsets of `group_id` and the watermarks of every partition of `topics`, read
// without joining the group. (Added for `tessera sinks status`, issue 7.)
absl::StatusOr<std::vector<GroupPartitionLag>> ReadGroupLag(const std::string& brokers, const std::string& group_id,
                                                            const std::vector<std::string>& topics,
                                                            absl::Duration timeout = absl::Seconds(10));

// librdkafka's in-process mock cluster: for try-outs and fast functional tests only. It keeps the
// log in memory, silently drops a partition's oldest data past about 5 MiB, has no admin API
// (topics are created here), no compaction, and does not emulate read_committed.
class EmbeddedKafka {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedKafka>> Start(int brokers = 1);
  ~EmbeddedKafka();
  const std::string& bootstrap_servers() const { return bootstrap_; }
  absl::Status CreateTopics(const std::vector<TopicSpec>& topics);

 private:
  EmbeddedKafka(rd_kafka_s* rk, rd_kafka_mock_cluster_s* cluster, std::string bootstrap);
  rd_kafka_s* rk_;
  rd_kafka_mock_cluster_s* cluster_;
  std::string bootstrap_;
};

}  // namespace tessera
