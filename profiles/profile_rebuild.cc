#include "profiles/profile_rebuild.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/identifier.h"
#include "common/status_macros.h"
#include "profiles/profile_state.h"

namespace tessera::profiles {

absl::StatusOr<std::vector<StoredEvent>> ReadStoredEvents(const KeyRangeReader& reader, std::string_view workspace,
                                                          const std::vector<uint64_t>& ids) {
  std::vector<StoredEvent> out;
  for (uint64_t id : ids) {
    const std::string prefix = EventTimelinePrefix(workspace, id);
    absl::Status failed = absl::OkStatus();
    RETURN_IF_ERROR(reader.Scan(prefix, prefix, [&](std::string_view key, std::string_view value) {
      StoredEvent stored;
      if (!ParseStoredEvent(workspace, key.substr(prefix.size()), value, stored.event)) {
        failed = absl::DataLossError(absl::StrCat("undecodable event under profile ", id));
        return false;
      }
      stored.stored_under = id;
      stored.key = std::string(key);
      stored.value = std::string(value);
      out.push_back(std::move(stored));
      return true;
    }));
    RETURN_IF_ERROR(failed);
  }
  return out;
}

int64_t CountedEvents(const v1::Profile& profile) {
  int64_t total = 0;
  for (const auto& [channel, count] : profile.event_counts()) total += count;
  return total;
}

absl::StatusOr<std::map<uint64_t, v1::Profile>> StageRebuild(KeyValueView& kv, const std::vector<StoredEvent>& events,
                                                             const std::vector<uint64_t>& destinations,
                                                             const std::map<uint64_t, RebuildTarget>& targets,
                                                             const ComputedTraitsConfig& config, const FoldHook& hook) {
  if (destinations.size() != events.size()) {
    return absl::InvalidArgumentError("one destination per event is needed");
  }
  std::map<uint64_t, v1::Profile> rebuilt;
  std::map<uint64_t, std::set<std::string>> allowed;
  for (const auto& [id, target] : targets) {
    v1::Profile& profile = rebuilt[id];
    profile.set_id(id);
    profile.set_workspace(target.workspace);
    allowed[id].insert(target.identifiers.begin(), target.identifiers.end());
  }
  std::set<std::pair<uint64_t, std::string>> folded;  // (destination, event key suffix): each event once
  for (size_t i = 0; i < events.size(); ++i) {
    const StoredEvent& stored = events[i];
    const uint64_t destination = destinations[i];
    auto target = targets.find(destination);
    if (target == targets.end()) {
      return absl::InvalidArgumentError(absl::StrCat("event ", stored.event.message_id(), " is sent to profile ",
                                                     destination, ", which is not being rebuilt"));
    }
    const std::vector<uint64_t>& absorbed = target->second.merged_from;
    const bool in_timeline = stored.stored_under == destination ||
                             std::find(absorbed.begin(), absorbed.end(), stored.stored_under) != absorbed.end();
    if (!in_timeline) {
      kv.Delete(stored.key);
      kv.Put(EventKey(destination, stored.event), stored.value);
    }
    const std::string suffix = EventKey(0, stored.event).substr(EventTimelinePrefix(stored.event.workspace(), 0).size());
    if (!folded.emplace(destination, suffix).second) continue;
    v1::Event event = stored.event;
    const std::set<std::string>& mine = allowed[destination];
    auto* ids = event.mutable_identifiers();
    for (int j = ids->size() - 1; j >= 0; --j) {
      if (!mine.contains(FormatIdentifier(ids->Get(j)))) ids->DeleteSubrange(j, 1);
    }
    v1::Profile& profile = rebuilt[destination];
    ApplyEvent(event, profile, config);
    if (hook) hook(event, profile);
  }
  // The identifiers are identity's, also those whose events are past retention.
  for (auto& [id, profile] : rebuilt) {
    profile.clear_identifiers();
    for (const std::string& text : allowed[id]) profile.add_identifiers(text);  // std::set: sorted
    const std::vector<uint64_t>& absorbed = targets.at(id).merged_from;
    for (uint64_t from : absorbed) profile.add_merged_from(from);
    std::sort(profile.mutable_merged_from()->begin(), profile.mutable_merged_from()->end());
  }
  return rebuilt;
}

}  // namespace tessera::profiles
