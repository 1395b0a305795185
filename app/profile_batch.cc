#include "app/profile_batch.h"

#include <algorithm>

#include "common/status_macros.h"
#include "profiles/profile_state.h"

namespace tessera::app {

absl::StatusOr<ProfileBatch::Entry*> ProfileBatch::Load(uint64_t id, std::string_view workspace) {
  if (auto it = entries_.find(id); it != entries_.end()) return &it->second;
  ASSIGN_OR_RETURN(std::optional<v1::Profile> stored, store_->Load(id));
  Entry& entry = entries_[id];
  if (stored.has_value()) {
    entry.before = *stored;
    entry.current = *std::move(stored);
  } else {
    entry.current.set_id(id);
    entry.current.set_workspace(std::string(workspace));
  }
  return &entry;
}

absl::StatusOr<v1::Profile*> ProfileBatch::Get(uint64_t id, std::string_view workspace) {
  ASSIGN_OR_RETURN(Entry * entry, Load(id, workspace));
  return &entry->current;
}

absl::StatusOr<std::optional<uint64_t>> ProfileBatch::MergedInto(uint64_t id) {
  if (auto it = entries_.find(id); it != entries_.end() && it->second.merged_into != 0) return it->second.merged_into;
  return store_->MergedInto(id);
}

absl::Status ProfileBatch::MarkMerged(uint64_t loser, uint64_t winner) {
  ASSIGN_OR_RETURN(Entry * entry, Load(loser, ""));
  entry->merged_into = winner;
  return absl::OkStatus();
}

std::vector<v1::ProfileUpdate> ProfileBatch::Finish(int64_t now_ms) {
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
    update.set_version(entry.before.version() + 1);
    if (entry.merged_into != 0) {
      store_->MarkMerged(id, entry.merged_into);
      update.set_merged_into(entry.merged_into);
    } else {
      // Compared before the version moves, so "changed" names only what the events changed.
      for (std::string& field : profiles::ChangedFields(entry.before, entry.current)) {
        update.add_changed_fields(std::move(field));
      }
      entry.current.set_version(update.version());
      store_->Save(entry.current);
      *update.mutable_profile() = std::move(entry.current);
    }
    updates.push_back(std::move(update));
  }
  entries_.clear();
  return updates;
}

}  // namespace tessera::app
