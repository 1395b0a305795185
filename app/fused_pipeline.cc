#include "app/fused_pipeline.h"

#include "common/status_macros.h"
#include "profiles/event_store.h"
#include "profiles/profile_state.h"

namespace tessera::app {

std::string_view RawTopicSuffix(v1::Channel channel) {
  switch (channel) {
    case v1::CHANNEL_WEB: return "raw.web";
    case v1::CHANNEL_SOCIAL: return "raw.social";
    case v1::CHANNEL_PURCHASE: return "raw.purchase";
    default: return "";
  }
}

FusedPipeline::FusedPipeline(KeyValueView* kv, FusedPipelineOptions options, const Clock* clock)
    : kv_(kv),
      clock_(clock),
      parser_(options.ingest),
      duplicates_(kv, options.dedup_window_ms),
      dedup_(options.dedup_window_ms > 0),
      identity_index_(options.identity_rules.fingerprint_index_entries()),
      resolver_(kv, options.id_prefix, clock, options.identity_rules, &identity_index_),
      profiles_(kv),
      activation_(std::move(options.activation)),
      computed_traits_(std::move(options.computed_traits)),
      batch_(&profiles_, activation_.get(), kv, computed_traits_.get()) {
  batch_.set_incremental_segments(true);  // events fold only through ApplyEvent and RecordEvent
}

absl::Status FusedPipeline::Apply(const RawRecord& record) {
  return ApplyParsed(record,
                     parser_.Parse(record.channel, record.payload, record.source, record.received_at_ms, record.origin));
}

absl::Status FusedPipeline::ApplyAll(const std::vector<RawRecord>& records) {
  std::vector<ingest::ParseOutcome> outcomes;
  outcomes.reserve(records.size());
  std::vector<std::pair<std::string_view, std::string_view>> messages;
  messages.reserve(records.size());
  for (const RawRecord& record : records) {
    outcomes.push_back(
        parser_.Parse(record.channel, record.payload, record.source, record.received_at_ms, record.origin));
    if (const auto* event = std::get_if<v1::Event>(&outcomes.back()); event != nullptr && dedup_) {
      messages.emplace_back(event->workspace(), event->message_id());
    }
  }
  // The views point into `outcomes` (reserved: no element moved while they are read).
  if (!messages.empty()) RETURN_IF_ERROR(duplicates_.Prefetch(messages));
  for (size_t i = 0; i < records.size(); ++i) RETURN_IF_ERROR(ApplyParsed(records[i], std::move(outcomes[i])));
  return absl::OkStatus();
}

absl::Status FusedPipeline::ApplyParsed(const RawRecord& record, ingest::ParseOutcome outcome) {
  if (batch_finished_) {
    identity_index_.MarkCommitted();
    batch_finished_ = false;
  }
  if (auto* rejection = std::get_if<ingest::Rejection>(&outcome)) {
    outputs_.dead_letters.push_back(
        ingest::MakeDeadLetter(record.payload, record.source, *rejection, clock_->NowMillis()));
    return absl::OkStatus();
  }
  v1::Event& event = std::get<v1::Event>(outcome);
  if (dedup_) {
    ASSIGN_OR_RETURN(bool duplicate, duplicates_.SeenBefore(event.workspace(), event.message_id(), record.received_at_ms));
    if (duplicate) {
      parser_.CountDuplicate(event);
      ++outputs_.duplicates;
      return absl::OkStatus();
    }
  }
  ASSIGN_OR_RETURN(identity::Resolution resolution, resolver_.Resolve(event));
  identity::DropUnlinkedIdentifiers(resolution, event);
  for (auto& violation : resolution.violations) outputs_.violations.push_back(std::move(violation));

  for (const v1::MergeRecord& merge : resolution.merges) outputs_.merges.push_back(merge);
  pending_.push_back(PendingEvent{std::move(event), resolution.profile_id, std::move(resolution.merges),
                                  clock_->NowMillis()});
  return absl::OkStatus();
}

absl::Status FusedPipeline::ApplyPending() {
  std::vector<uint64_t> ids;
  std::vector<std::pair<uint64_t, const v1::Event*>> events;
  std::vector<std::pair<uint64_t, std::string_view>> orders;
  ids.reserve(pending_.size());
  events.reserve(pending_.size());
  for (const PendingEvent& pending : pending_) {
    for (const v1::MergeRecord& merge : pending.merges) {
      ids.push_back(merge.loser());
      ids.push_back(merge.winner());
    }
    ids.push_back(pending.profile_id);
    events.emplace_back(pending.profile_id, &pending.event);
    const std::string_view order_id = profiles::OrderIdOf(pending.event);
    if (!order_id.empty()) orders.emplace_back(pending.profile_id, order_id);
  }
  RETURN_IF_ERROR(batch_.Prefetch(ids));
  RETURN_IF_ERROR(batch_.PrefetchOrders(orders));
  RETURN_IF_ERROR(profiles::PrefetchEvents(kv_, events));
  for (const PendingEvent& pending : pending_) {
    const v1::Event& event = pending.event;
    for (const v1::MergeRecord& merge : pending.merges) {
      ASSIGN_OR_RETURN(v1::Profile * loser, batch_.GetWhole(merge.loser(), event.workspace()));
      RETURN_IF_ERROR(batch_.Get(merge.winner(), event.workspace()).status());
      RETURN_IF_ERROR(batch_.Absorb(*loser, merge.winner()));
      RETURN_IF_ERROR(batch_.MarkMerged(merge.loser(), merge.winner()));
    }
    ASSIGN_OR_RETURN(v1::Profile * profile, batch_.Get(pending.profile_id, event.workspace()));
    RETURN_IF_ERROR(batch_.NeedOrdersOf(pending.profile_id, event));
    profiles::ApplyEvent(event, *profile, *computed_traits_);
    RETURN_IF_ERROR(profiles::StageEvent(kv_, pending.profile_id, event));
    batch_.RecordEvent(pending.profile_id, event, pending.applied_at_ms);
  }
  pending_.clear();
  return absl::OkStatus();
}

absl::Status FusedPipeline::Reevaluate(uint64_t profile_id) { return batch_.Reevaluate(profile_id); }

absl::Status FusedPipeline::FireTimers(const std::vector<profiles::DueTimer>& due) {
  for (const profiles::DueTimer& timer : due) {
    kv_->Delete(timer.key);  // Evaluate schedules whatever is still wanted
    RETURN_IF_ERROR(batch_.Reevaluate(timer.profile_id));
  }
  return absl::OkStatus();
}

absl::StatusOr<BatchOutputs> FusedPipeline::FinishBatch() {
  RETURN_IF_ERROR(ApplyPending());
  RETURN_IF_ERROR(parser_.quality().StageInto(kv_));
  profiles::ActivationOutputs activation;
  ASSIGN_OR_RETURN(outputs_.updates, batch_.Finish(clock_->NowMillis(), &activation));
  outputs_.segment_changes = std::move(activation.segment_changes);
  outputs_.triggers = std::move(activation.triggers);
  batch_finished_ = true;
  BatchOutputs done = std::move(outputs_);
  outputs_ = BatchOutputs{};
  return done;
}

}  // namespace tessera::app
