// Profiles rebuilt from the event store, for `tessera profile split` (identity/identity_split.h):
// after a split decides which part each event of a profile belongs to, the events of the parts that
// get new ids move to those ids' timelines, and every part's profile is folded again from its own
// events with ApplyEvent (order-independent, so the fold is exact).
//
//   ASSIGN_OR_RETURN(std::vector<StoredEvent> events, ReadStoredEvents(reader, "baankafe", {root, merged...}));
//   ... decide destinations ...
//   ASSIGN_OR_RETURN(auto rebuilt, StageRebuild(staged, events, destinations, targets, config));
//
// Thread-safety: plain functions; they read through the reader and write through the view handed
// to them, from the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kv.h"
#include "profiles/computed_traits.h"
#include "profiles/event_store.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::profiles {

// One event as the event store holds it: under which id, its key and stored value.
struct StoredEvent {
  uint64_t stored_under = 0;
  std::string key;
  std::string value;  // as stored (event time, then the serialized event): moved unchanged
  v1::Event event;
};

// Every stored event of `ids` (a profile and the ids it absorbed), in key order per id. An event
// stored under two of them (a replay across a merge) comes twice. DataLoss on an undecodable one.
absl::StatusOr<std::vector<StoredEvent>> ReadStoredEvents(const KeyRangeReader& reader, std::string_view workspace,
                                                          const std::vector<uint64_t>& ids);

// The number of events a profile has counted (its event_counts), to compare with what the event
// store still holds before rebuilding it from them.
int64_t CountedEvents(const v1::Profile& profile);

// What one rebuilt profile is.
struct RebuildTarget {
  std::string workspace;
  std::vector<std::string> identifiers;  // "type:value": what identity says the profile holds
  std::vector<uint64_t> merged_from;     // kept as is (the ids whose timelines it still reads)
};

// Called for each event folded into a profile, after ApplyEvent (segment window counters).
using FoldHook = std::function<void(const v1::Event& event, v1::Profile& profile)>;

// Moves every event whose destination (`destinations[i]` for `events[i]`) is not an id it is
// stored under, or one of that target's merged_from, to the destination's timeline (the old key is
// deleted, the value put unchanged under the new key), and folds each target's profile from the
// events destined to it, each distinct event once, with only the target's identifiers on it. The
// profiles come back without a version (the caller's batch sets it). InvalidArgument when a
// destination has no target.
absl::StatusOr<std::map<uint64_t, v1::Profile>> StageRebuild(KeyValueView& kv, const std::vector<StoredEvent>& events,
                                                             const std::vector<uint64_t>& destinations,
                                                             const std::map<uint64_t, RebuildTarget>& targets,
                                                             const ComputedTraitsConfig& config,
                                                             const FoldHook& hook = nullptr);

}  // namespace tessera::profiles
