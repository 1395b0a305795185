#include "app/outputs.h"

#include "absl/strings/str_cat.h"
#include "profiles/order_totals.h"
#include "sinks/profile_updates.h"

namespace tessera::app {

OutputRecord DeadLetterOutput(const Topics& topics, const v1::DeadLetter& dead_letter) {
  return OutputRecord{topics.dlq,
                      absl::StrCat(dead_letter.source().topic(), "/", dead_letter.source().partition()),
                      dead_letter.SerializeAsString(),
                      {{"content-type", "application/x-protobuf; messageType=tessera.v1.DeadLetter"},
                       {"reason", dead_letter.reason()},
                       {"detail", dead_letter.detail()},
                       {"source", absl::StrCat(dead_letter.source().topic(), "/", dead_letter.source().partition(), "/",
                                               dead_letter.source().offset())}}};
}

OutputRecord MergeOutput(const Topics& topics, const v1::MergeRecord& merge) {
  return OutputRecord{topics.merges, sinks::ProfileKey(merge.winner()), merge.SerializeAsString(),
                      {{"content-type", "application/x-protobuf; messageType=tessera.v1.MergeRecord"}}};
}

OutputRecord ProfileChangeOutput(const Topics& topics, v1::ProfileUpdate& update) {
  if (update.has_profile()) {  // tombstones have none
    v1::Profile& profile = *update.mutable_profile();
    profiles::DropOrdersKeepingTotals(profile);
    profile.clear_segments();
    profile.clear_event_windows();
    profile.clear_timers();
    profile.clear_wake_ms();
  }
  return OutputRecord{topics.profile_changes, sinks::ProfileKey(update.profile_id()), update.SerializeAsString(), {}};
}

OutputRecord ProfileUpdateOutput(const Topics& topics, const v1::ProfileUpdate& update) {
  return OutputRecord{topics.profile_updates, sinks::ProfileKey(update.profile_id()),
                      sinks::ProfileUpdateToJson(update), sinks::ProfileUpdateHeaders()};
}

OutputRecord SegmentChangeOutput(const Topics& topics, const profiles::SegmentChange& change) {
  return OutputRecord{topics.segment_changes, sinks::ProfileKey(change.profile_id),
                      profiles::SegmentChangeToJson(change), {{"content-type", "application/json"}}};
}

OutputRecord TriggerOutput(const Topics& topics, const profiles::TriggerFiring& firing) {
  return OutputRecord{topics.triggers, sinks::ProfileKey(firing.profile_id), profiles::TriggerFiringToJson(firing),
                      {{"content-type", "application/json"}}};
}

}  // namespace tessera::app
