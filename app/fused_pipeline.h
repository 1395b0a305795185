// The fused pipeline: ingest -> identity -> profiles in one thread over one KeyValueView, with no
// Kafka in between. `tessera run` feeds it poll batches and commits the view (identity links,
// profiles, and the input offsets) as one RocksDB WriteBatch; tests feed it records directly.
//
// Within a batch every profile is read at most once and written once (coalesced), whatever the
// number of its events, and gets one new version. Apply runs ingest and identity at once and
// queues the profile side; FinishBatch reads the batch's profiles in one batched read, then folds
// the queued events in their order.
//
// With an ActivationEngine in the options, each batch also evaluates segments and triggers for the
// profiles it touched, and FireTimers/Reevaluate let the runner bring profiles up to date when
// time passes (a due timer) or a segment is new (a backfill), in batches of their own.
//
// Thread-safety: not thread-safe; one pipeline per processing thread, like its view.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "app/profile_batch.h"
#include "common/clock.h"
#include "common/kv.h"
#include "identity/identity_resolver.h"
#include "ingest/dedup.h"
#include "ingest/ingest.h"
#include "profiles/computed_traits.h"
#include "profiles/profile_store.h"
#include "profiles/segments.h"
#include "profiles/triggers.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::app {

struct RawRecord {
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
  std::string_view payload;
  v1::SourcePosition source;
  int64_t received_at_ms = 0;
  // The workspace and source its producer named (the collector's Kafka headers; views into the
  // record's headers); empty: the pipeline's workspace and the channel as source.
  ingest::RecordOrigin origin;
};

struct BatchOutputs {
  std::vector<v1::DeadLetter> dead_letters;
  std::vector<v1::MergeRecord> merges;
  // One per profile changed in the batch (with its new version), and one tombstone per profile
  // merged away (merged_into set). Their profiles live as long as these.
  ProfileUpdates updates;
  int64_t duplicates = 0;  // events dropped because their messageId was seen within the window
  std::vector<identity::IdentityViolation> violations;  // links the identity rules refused or undid
  std::vector<profiles::SegmentChange> segment_changes;    // enters and exits, once per transition
  std::vector<profiles::TriggerFiring> triggers;           // trigger occurrences, once each
};

struct FusedPipelineOptions {
  ingest::IngestOptions ingest;
  uint16_t id_prefix = 0;  // see IdentityResolver
  int64_t dedup_window_ms = ingest::kDefaultDedupWindowMs;  // 0: keep duplicates
  identity::RulesByWorkspace identity_rules;  // defaults unless configured
  // Segments and triggers (null: none). Shared because options are copied; immutable.
  std::shared_ptr<const profiles::ActivationEngine> activation;
  // Computed traits folded on every event (never null: defaults when nothing is configured).
  std::shared_ptr<const profiles::ComputedTraitsConfig> computed_traits =
      std::make_shared<const profiles::ComputedTraitsConfig>();
};

class FusedPipeline {
 public:
  FusedPipeline(KeyValueView* kv, FusedPipelineOptions options, const Clock* clock);

  // Folds one raw record into the staged state. A record ingest rejects becomes a dead letter,
  // not an error; an error is the store failing (the batch must then be discarded).
  absl::Status Apply(const RawRecord& record);
  // Apply for each record in order, with the same results, but every record parsed first, so that
  // the batch's dedup keys are read in one MultiGet rather than a Get per event.
  absl::Status ApplyAll(const std::vector<RawRecord>& records);

  // Marks a stored profile for re-evaluation at FinishBatch (segments backfill).
  absl::Status Reevaluate(uint64_t profile_id);
  // Consumes due timers (deletes their keys) and re-evaluates their profiles at FinishBatch.
  absl::Status FireTimers(const std::vector<profiles::DueTimer>& due);

  // Stages every changed profile with its new version and returns what the batch must publish.
  absl::StatusOr<BatchOutputs> FinishBatch();

 private:
  KeyValueView* kv_;
  const Clock* clock_;
  ingest::EventParser parser_;
  ingest::DuplicateFilter duplicates_;
  bool dedup_;
  // Identity's fingerprint index, across batches. A failed batch ends the pipeline (as the worker
  // loop does) and the index with it (fingerprint_index.h, condition 1). Apply after a FinishBatch
  // lets the finished batch's journal go: that batch is committed, or is being committed while the
  // next one reads its writes (batch_committer.h), and if its commit fails the loop ends.
  identity::FingerprintIndex identity_index_;
  bool batch_finished_ = false;
  identity::IdentityResolver resolver_;
  profiles::ProfileStore profiles_;
  std::shared_ptr<const profiles::ActivationEngine> activation_;
  std::shared_ptr<const profiles::ComputedTraitsConfig> computed_traits_;
  ProfileBatch batch_;
  BatchOutputs outputs_;
  // The profile side of each applied event, in order: done at FinishBatch, after the batch's
  // profiles and event keys are read in one MultiGet each (KeyValueView::Prefetch). Identity and
  // ingest never read what the profile side writes, so deferring it changes no result.
  struct PendingEvent {
    v1::Event event;
    uint64_t profile_id = 0;
    std::vector<v1::MergeRecord> merges;  // applied before the event, as identity made them
    int64_t applied_at_ms = 0;            // the clock at Apply, for the segment window counters
  };
  absl::Status ApplyPending();
  // Apply's part after ingest parsed the record into `outcome`.
  absl::Status ApplyParsed(const RawRecord& record, ingest::ParseOutcome outcome);
  std::vector<PendingEvent> pending_;
};

// Topic name (without prefix) of each raw channel: raw.web, raw.social, raw.purchase.
std::string_view RawTopicSuffix(v1::Channel channel);

}  // namespace tessera::app
