#include "app/outputs.h"

#include <memory>

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

namespace {

// What a profile-changes record leaves out, swapped between `profile` and `aside` (constant time
// when both are on one arena). ProfileRecordBytes swaps them out and back; ClearLeftOut clears them.
void SwapLeftOut(v1::Profile& profile, v1::Profile& aside) {
  profile.mutable_orders()->swap(*aside.mutable_orders());
  profile.mutable_segments()->swap(*aside.mutable_segments());
  profile.mutable_event_windows()->swap(*aside.mutable_event_windows());
  profile.mutable_timers()->Swap(aside.mutable_timers());
  const int64_t wake_ms = profile.wake_ms();
  profile.set_wake_ms(aside.wake_ms());
  aside.set_wake_ms(wake_ms);
}

void ClearLeftOut(v1::Profile& profile) {
  v1::Profile nothing;
  SwapLeftOut(profile, nothing);
}

void AppendVarint(uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

}  // namespace

std::optional<ProfileRecordParts> ProfileRecordBytes(v1::Profile& profile, v1::Profile* scratch) {
  if (!profile.orders().empty() && !profile.has_order_totals()) return std::nullopt;
  google::protobuf::Arena* arena = profile.GetArena();
  const bool lent = scratch != nullptr && scratch->GetArena() == arena;
  v1::Profile* aside = lent ? scratch : google::protobuf::Arena::CreateMessage<v1::Profile>(arena);
  const std::unique_ptr<v1::Profile> aside_owned(!lent && arena == nullptr ? aside : nullptr);
  SwapLeftOut(profile, *aside);
  ProfileRecordParts parts{profile.SerializeAsString(), aside->SerializeAsString()};
  SwapLeftOut(profile, *aside);
  return parts;
}

OutputRecord ProfileChangeOutput(const Topics& topics, v1::ProfileUpdate& update, std::string_view profile_record) {
  std::string value;
  if (!update.has_profile()) {  // a tombstone
    value = update.SerializeAsString();
  } else if (!profile_record.empty()) {
    // The other fields, then the profile (field 3, length-delimited) from its prepared bytes.
    v1::Profile* profile = update.unsafe_arena_release_profile();
    value = update.SerializeAsString();
    update.unsafe_arena_set_allocated_profile(profile);
    AppendVarint((v1::ProfileUpdate::kProfileFieldNumber << 3) | 2, value);
    AppendVarint(profile_record.size(), value);
    value.append(profile_record);
  } else {
    v1::Profile& profile = *update.mutable_profile();
    profiles::DropOrdersKeepingTotals(profile);
    ClearLeftOut(profile);
    value = update.SerializeAsString();
  }
  return OutputRecord{topics.profile_changes, sinks::ProfileKey(update.profile_id()), std::move(value), {}};
}

void AppendProfileChangeOutputs(const Topics& topics, ProfileUpdates& updates, std::vector<OutputRecord>& out) {
  size_t i = 0;
  for (v1::ProfileUpdate& update : updates) out.push_back(ProfileChangeOutput(topics, update, updates.profile_record(i++)));
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
