#include "app/profile_batch.h"

#include <algorithm>

#include "absl/time/time.h"
#include "common/status_macros.h"
#include "profiles/profile_state.h"
#include "profiles/segments.h"

namespace tessera::app {

absl::StatusOr<ProfileBatch::Entry*> ProfileBatch::Load(uint64_t id, std::string_view workspace) {
  if (auto it = entries_.find(id); it != entries_.end()) return &it->second;
  ASSIGN_OR_RETURN(std::optional<v1::Profile> stored, store_->Load(id));
  Entry& entry = entries_[id];
  if (stored.has_value()) {
    entry.current = *std::move(stored);
    entry.before = profiles::ProfileSnapshot(entry.current);
    entry.stored_version = entry.current.version();
  } else {
    entry.current.set_id(id);
    entry.current.set_workspace(std::string(workspace));
  }
  return &entry;
}

absl::Status ProfileBatch::Prefetch(const std::vector<uint64_t>& ids) {
  std::vector<uint64_t> missing;
  missing.reserve(ids.size());
  for (uint64_t id : ids) {
    if (!entries_.contains(id)) missing.push_back(id);
  }
  return store_->Prefetch(std::move(missing));
}

absl::StatusOr<v1::Profile*> ProfileBatch::Get(uint64_t id, std::string_view workspace) {
  ASSIGN_OR_RETURN(Entry * entry, Load(id, workspace));
  if (entry->before_pending) {  // loaded by Reevaluate: keep the stored state for ChangedFields
    entry->before = profiles::ProfileSnapshot(entry->current);
    entry->before_pending = false;
  }
  entry->changed = true;
  return &entry->current;
}

absl::Status ProfileBatch::Reevaluate(uint64_t id) {
  if (entries_.contains(id)) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::optional<v1::Profile> stored, store_->Load(id));
  if (!stored.has_value()) return absl::OkStatus();
  Entry& entry = entries_[id];
  // Only the version is needed unless an event touches it too (then Get takes the snapshot): a
  // backfill re-evaluates every profile and the snapshot would be pure overhead.
  entry.stored_version = stored->version();
  entry.before_pending = true;
  entry.current = *std::move(stored);
  return absl::OkStatus();
}

void ProfileBatch::Absorb(const v1::Profile& loser, v1::Profile& winner,
                          const profiles::ComputedTraitsConfig& config) {
  const bool absorbed = loser.id() == winner.id() ||
                        std::binary_search(winner.merged_from().begin(), winner.merged_from().end(), loser.id());
  if (!absorbed) profiles::SegmentEngine::AbsorbWindows(loser, winner);
  profiles::AbsorbProfile(loser, winner, config);
}

absl::StatusOr<std::optional<uint64_t>> ProfileBatch::MergedInto(uint64_t id) {
  if (auto it = entries_.find(id); it != entries_.end() && it->second.merged_into != 0) return it->second.merged_into;
  return store_->MergedInto(id);
}

absl::Status ProfileBatch::MarkMerged(uint64_t loser, uint64_t winner) {
  ASSIGN_OR_RETURN(Entry * entry, Load(loser, ""));
  entry->merged_into = winner;
  entry->changed = true;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::ProfileUpdate>> ProfileBatch::Finish(int64_t now_ms,
                                                                    profiles::ActivationOutputs* activation_out) {
  profiles::ActivationOutputs unused;
  profiles::ActivationOutputs& activation = activation_out != nullptr ? *activation_out : unused;
  const absl::Time now = absl::FromUnixMillis(now_ms);
  std::vector<uint64_t> ids;
  ids.reserve(entries_.size());
  for (const auto& [id, entry] : entries_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());  // deterministic output order, whatever the hash order
  std::vector<v1::ProfileUpdate> updates;
  updates.reserve(ids.size());
  for (uint64_t id : ids) {
    Entry& entry = entries_[id];
    v1::ProfileUpdate update;
    update.set_profile_id(id);
    update.set_updated_at_ms(now_ms);
    update.set_version(entry.stored_version + 1);
    const size_t changes_before = activation.segment_changes.size();
    if (entry.merged_into != 0) {
      if (activation_ != nullptr) activation_->Retire(entry.current, *kv_, now, activation);
      store_->MarkMerged(id, entry.merged_into);
      update.set_merged_into(entry.merged_into);
    } else {
      bool membership_changed = false;
      if (activation_ != nullptr) {
        ASSIGN_OR_RETURN(membership_changed, activation_->Evaluate(entry.current, *kv_, now, activation));
      }
      if (!entry.changed) {
        // Only re-evaluated (a timer, a backfill): membership, timers and window buckets may have
        // moved, none of which is in the profile's JSON. Saved without a new version and without a
        // profile update: segment-changes carries the membership, naming the current version.
        for (size_t i = changes_before; i < activation.segment_changes.size(); ++i) {
          activation.segment_changes[i].version = entry.stored_version;
        }
        store_->Save(entry.current);
        continue;
      }
      (void)membership_changed;  // published on segment-changes, with the version below
      // Compared before the version moves, so "changed" names only what the events changed.
      for (std::string& field : profiles::ChangedFields(entry.before, entry.current)) {
        update.add_changed_fields(std::move(field));
      }
      entry.current.set_version(update.version());
      store_->Save(entry.current);
      *update.mutable_profile() = std::move(entry.current);
    }
    for (size_t i = changes_before; i < activation.segment_changes.size(); ++i) {
      activation.segment_changes[i].version = update.version();
    }
    updates.push_back(std::move(update));
  }
  entries_.clear();
  return updates;
}

}  // namespace tessera::app
