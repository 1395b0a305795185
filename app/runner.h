// Running Tessera's stages against Kafka: the fused single-node pipeline (`tessera run`) and one
// stage per process (`tessera ingest|identity|profiles|sinks`). Every runner is the same loop
// (worker_loop.h) with a different batch handler.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/rocks_store.h"
#include "identity/identity_rules.h"
#include "ingest/dedup.h"
#include "ingest/ingest.h"
#include "profiles/computed_traits.h"
#include "profiles/event_store.h"
#include "profiles/triggers.h"

namespace tessera::app {

struct RunOptions {
  std::string brokers;
  std::string topic_prefix = "tessera.";
  std::string data_dir = "tessera-data";
  std::string instance_id;  // static group membership; defaults to a stable name per stage
  ingest::IngestOptions ingest;
  size_t batch_size = 5000;
  absl::Duration poll_timeout = absl::Milliseconds(50);
  // Once a batch's first record is in, how long the loop waits for more before it runs the batch.
  absl::Duration batch_linger = absl::ZeroDuration();
  // The consumer's fetch batching (KafkaConsumer::Options::fetch_wait): under a steady load the
  // broker answers a fetch every 10 ms with what arrived, not one per record, at up to 10 ms of
  // latency when the load is light.
  absl::Duration fetch_wait = absl::Milliseconds(10);
  size_t block_cache_bytes = 256 << 20;
  // How often identity's presence filter is saved beside the store, so a restart scans only what
  // is newer (RocksStoreOptions::presence_filter_snapshot_every); zero: never, a full scan each open.
  absl::Duration presence_filter_snapshot_every = absl::Seconds(30);
  int64_t dedup_window_ms = ingest::kDefaultDedupWindowMs;  // 0: keep duplicate messageIds
  identity::RulesByWorkspace identity_rules;  // merge rules (defaults unless --config says otherwise)
  // Segments and time triggers (`profiles:` of --config; null: none configured). The profiles
  // stage (fused or distributed) evaluates them, polls due timers every second and backfills
  // stored profiles when the definitions change.
  std::shared_ptr<const profiles::ActivationEngine> activation;
  // Computed traits (`profiles:` of --config): user-defined aggregates folded on every event, RFM
  // thresholds, windows. Shared because the activation engine's computed source points into it.
  std::shared_ptr<const profiles::ComputedTraitsConfig> computed_traits =
      std::make_shared<const profiles::ComputedTraitsConfig>();
  // How long each workspace's events stay in the per-profile event store (`query:` of --config).
  profiles::EventRetention event_retention;
  // Non-empty: this worker reads exactly these partitions of its input topics (see
  // KafkaConsumer::Options::owned_partitions) and keeps its store apart from other owners'.
  std::vector<int32_t> owned_partitions;
  // Stop once this many input records were processed (0: run until stopped). For tests and benches.
  int64_t max_records = 0;
};

// Each returns when `stop` becomes true (between batches) or on an error that needs a restart.
absl::Status RunFused(const RunOptions& options, const std::atomic<bool>& stop);
absl::Status RunIngestStage(const RunOptions& options, const std::atomic<bool>& stop);
absl::Status RunIdentityStage(const RunOptions& options, const std::atomic<bool>& stop);
absl::Status RunProfilesStage(const RunOptions& options, const std::atomic<bool>& stop);
absl::Status RunSinksStage(const RunOptions& options, const std::atomic<bool>& stop);

// Where each runner keeps its RocksDB under the data dir.
std::string FusedStorePath(const std::string& data_dir);      // DIR/store
std::string IdentityStorePath(const std::string& data_dir);   // DIR/identity
// DIR/profiles, or DIR/profiles-p0-1 for a worker that owns partitions 0 and 1.
std::string ProfilesStorePath(const std::string& data_dir, const std::vector<int32_t>& owned_partitions = {});
// Opens a stage's store at `path` (created if missing) with `run`'s cache and the expiry and
// presence-filter prefixes every stage store has. tessera-bench opens a stopped store this way too,
// so its compaction drops what the pipeline's would.
absl::StatusOr<std::unique_ptr<RocksStore>> OpenStageStore(const std::string& path, const RunOptions& run);

}  // namespace tessera::app
