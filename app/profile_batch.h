// The profiles of one poll batch, held in memory: each is read from the store at most once and
// written once at the end with one new version, however many events and merges touched it. Used
// by the fused pipeline and by the distributed profiles worker.
//
// Thread-safety: not thread-safe; belongs to the processing thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "profiles/profile_store.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::app {

class ProfileBatch {
 public:
  explicit ProfileBatch(profiles::ProfileStore* store) : store_(store) {}

  // The profile's current state in this batch, loaded or created (with `workspace`) on first use.
  absl::StatusOr<v1::Profile*> Get(uint64_t id, std::string_view workspace);

  // The winner `id` was merged into, in this batch or before; nullopt for a live profile.
  absl::StatusOr<std::optional<uint64_t>> MergedInto(uint64_t id);

  // Marks `loser` merged into `winner` (its state must already have been absorbed by the winner,
  // here or on another worker). At Finish the loser is deleted, redirected and tombstoned.
  absl::Status MarkMerged(uint64_t loser, uint64_t winner);

  // Stages every touched profile with a new version; returns one update per profile (a tombstone
  // for a merged one), ordered by id.
  std::vector<v1::ProfileUpdate> Finish(int64_t now_ms);

 private:
  struct Entry {
    v1::Profile before;  // as stored (empty when new)
    v1::Profile current;
    uint64_t merged_into = 0;
  };
  absl::StatusOr<Entry*> Load(uint64_t id, std::string_view workspace);

  profiles::ProfileStore* store_;
  // node_hash_map: pointers handed out by Get stay valid while more profiles load.
  absl::node_hash_map<uint64_t, Entry> entries_;
};

}  // namespace tessera::app
