// DestinationWorker: one destination's delivery loop, on its own thread, with its own Kafka
// consumer group (`<prefix>sink.<name>`), its own transport (curl multi handle or producer), its
// own dead-letter producer and its own small RocksDB (`<data dir>/sinks/<name>`), so a slow or
// dead destination shares nothing with another one but the CPU.
//
// The loop: poll the input topics -> DeliveryTracker (order per profile, coalescing, offsets) ->
// decide per record (consent, sinks/destination_filter.h) -> batch -> transport -> on success
// remember what the destination holds; on failure retry with exponential backoff and full jitter
// (at least the receiver's Retry-After) until `retry.max_window_ms` has passed since the first
// failure, then write the item with its last error to `<prefix>sink.<name>.dlq`. Every
// `commit_interval`, the dead-letter producer is flushed, the held-profile set staged since is
// written (on a thread of its own, while the loop goes on), and once it is, the consumer group
// commits the offsets DeliveryTracker said were safe (so at the next commit: offsets trail by one
// interval). While `max_pending` records are held, the consumer's partitions are paused (the rest
// stays in Kafka).
//
// Local state (RocksDB, keys under "sk/"): "sk/h/<profile id, 8 bytes big-endian>" -> "" for every
// profile the destination holds (see destination_filter.h). The counters are also written, once a
// second, to `<data dir>/sinks/<name>/status.json` for `tessera sinks status`.
//
// Thread-safety: Run() on one thread (it starts the held-set writer thread itself); counters()
// and RequestStop() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/kafka.h"
#include "sinks/sink_config.h"

namespace tessera::sinks {

struct SinkCounters {
  int64_t delivered = 0;        // items acknowledged by the destination (profiles, deletions, events)
  int64_t deletions = 0;        // of which deletion notices
  int64_t retrying = 0;         // profiles waiting for a retry now
  int64_t dead_lettered = 0;
  int64_t skipped_consent = 0;  // records not sent because consent was missing
  int64_t superseded = 0;       // profile updates replaced by a newer one before being sent
  int64_t invalid = 0;          // records that could not be parsed (skipped, logged)
  int64_t pending = 0;          // records held in memory now
  int64_t requests = 0;         // batches sent (including retries)
  int64_t failed_requests = 0;
  bool paused = false;
};

// The JSON form (status.json and `tessera sinks status --json`), and back.
std::string CountersToJson(const std::string& name, const SinkCounters& counters, int64_t updated_at_ms);
SinkCounters CountersFromJson(const std::string& json);

// The worker consumer's prefetch limits (librdkafka's queued.min.messages and
// queued.max.messages.kbytes): about a second of delivery at 200,000 changes/s (see Create).
inline constexpr int kWorkerPrefetchRecords = 200'000;
inline constexpr int kWorkerPrefetchKbytes = 128 << 10;

struct WorkerOptions {
  std::string brokers;
  std::string topic_prefix = "tessera.";
  std::string data_dir;  // the worker's state lives in <data_dir>/sinks/<name>
  absl::Duration commit_interval = absl::Milliseconds(500);
  // The consumer's fetch batching (KafkaConsumer::Options::fetch_wait), as `tessera run`'s stages
  // have it: under a steady load the broker answers a fetch every 10 ms, not once per record.
  absl::Duration fetch_wait = absl::Milliseconds(10);
  KafkaConfig consumer_extra;
};

class DestinationWorker {
 public:
  static absl::StatusOr<std::unique_ptr<DestinationWorker>> Create(DestinationConfig destination,
                                                                    WorkerOptions options);
  ~DestinationWorker();

  // Delivers until RequestStop(); commits what is safe before returning.
  absl::Status Run();
  void RequestStop() { stop_.store(true); }

  SinkCounters counters() const;
  const DestinationConfig& destination() const;

  struct State;

 private:
  explicit DestinationWorker(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  std::atomic<bool> stop_{false};
};

// Backoff before retry number `attempts` (1 = first retry): uniform in [0, min(max, base*2^(n-1))]
// ("full jitter"), and never shorter than the receiver's Retry-After.
int64_t RetryDelayMs(const RetryPolicy& policy, int attempts, int64_t retry_after_ms, uint64_t random_bits);

}  // namespace tessera::sinks
