#include "app/fused_pipeline.h"

#include "common/status_macros.h"
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
      resolver_(kv, options.id_prefix, clock, options.identity_rules),
      profiles_(kv),
      batch_(&profiles_) {}

absl::Status FusedPipeline::Apply(const RawRecord& record) {
  ingest::ParseOutcome outcome = parser_.Parse(record.channel, record.payload, record.source, record.received_at_ms);
  if (auto* rejection = std::get_if<ingest::Rejection>(&outcome)) {
    outputs_.dead_letters.push_back(
        ingest::MakeDeadLetter(record.payload, record.source, *rejection, clock_->NowMillis()));
    return absl::OkStatus();
  }
  v1::Event& event = std::get<v1::Event>(outcome);
  if (dedup_) {
    ASSIGN_OR_RETURN(bool duplicate, duplicates_.SeenBefore(event.workspace(), event.message_id(), record.received_at_ms));
    if (duplicate) {
      ++outputs_.duplicates;
      return absl::OkStatus();
    }
  }
  ASSIGN_OR_RETURN(identity::Resolution resolution, resolver_.Resolve(event));
  identity::DropUnlinkedIdentifiers(resolution, event);
  for (auto& violation : resolution.violations) outputs_.violations.push_back(std::move(violation));

  for (const v1::MergeRecord& merge : resolution.merges) {
    ASSIGN_OR_RETURN(v1::Profile * loser, batch_.Get(merge.loser(), event.workspace()));
    ASSIGN_OR_RETURN(v1::Profile * winner, batch_.Get(merge.winner(), event.workspace()));
    profiles::AbsorbProfile(*loser, *winner);
    RETURN_IF_ERROR(batch_.MarkMerged(merge.loser(), merge.winner()));
    outputs_.merges.push_back(merge);
  }
  ASSIGN_OR_RETURN(v1::Profile * profile, batch_.Get(resolution.profile_id, event.workspace()));
  profiles::ApplyEvent(event, *profile);
  return absl::OkStatus();
}

absl::StatusOr<BatchOutputs> FusedPipeline::FinishBatch() {
  outputs_.updates = batch_.Finish(clock_->NowMillis());
  BatchOutputs done = std::move(outputs_);
  outputs_ = BatchOutputs{};
  return done;
}

}  // namespace tessera::app
