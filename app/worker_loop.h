// The loop every Tessera worker runs: poll a batch, hand it to the stage, publish the stage's
// outputs and wait until Kafka has them, then make the state durable together with the input
// offsets (one RocksDB WriteBatch), then commit the offsets to the group. A crash at any point
// replays what was not committed: state and offsets move together, outputs may repeat (with the
// same or a newer version) but are never lost.
//
// A stateful stage's loop overlaps the waiting and committing of one batch with the next batch's
// stage logic (batch_committer.h): the next batch reads the previous one's staged writes until
// they are in the store, so a stage sees the same state either way. One batch is in flight at a
// time, and a timer tick or a rebalance waits for it.
//
// Thread-safety: the handler and ticker run on the calling thread, which owns the consumer and
// the staged writes it is building; the committer's thread waits for acknowledgements, writes
// and commits offsets.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "app/runner.h"
#include "common/kafka.h"
#include "common/kv.h"
#include "common/rocks_store.h"

namespace tessera::app {

struct OutputRecord {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<KafkaHeader> headers;
};

// Handles one batch. `state` is the stage's staged writes (null for a stateless stage).
using BatchHandler = std::function<absl::StatusOr<std::vector<OutputRecord>>(const std::vector<KafkaMessage>& batch,
                                                                              KeyValueView* state)>;

struct WorkerLoopOptions {
  std::string name;  // for logs: "fused", "ingest", ...
  std::string group_id;
  std::vector<std::string> topics;
  RocksStore* store = nullptr;  // set for stateful stages: offsets then live in the store
};

absl::Status RunWorkerLoop(const RunOptions& run, const WorkerLoopOptions& loop, const BatchHandler& handler,
                           const std::atomic<bool>& stop);

}  // namespace tessera::app
