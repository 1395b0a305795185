// The profiles of one poll batch, held in memory: each is read from the store at most once and
// written once at the end with one new version, however many events and merges touched it. Used
// by the fused pipeline and by the distributed profiles worker.
//
// With an ActivationEngine, Finish also brings every touched profile's segment membership,
// triggers and timers up to date (profiles/triggers.h) in the same staged writes, and a merged-away
// profile leaves its segments. A profile only re-evaluated (a timer, a backfill) is saved without
// a new version and without a profile update: membership is not part of the profile's JSON and is
// published on segment-changes (naming the profile's current version) instead.
//
// Thread-safety: not thread-safe; belongs to the processing thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "common/kv.h"
#include "profiles/profile_state.h"
#include "profiles/profile_store.h"
#include "profiles/triggers.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::app {

class ProfileBatch {
 public:
  explicit ProfileBatch(profiles::ProfileStore* store) : store_(store) {}
  // `activation` (may be null: no segments or triggers) evaluates through `kv`, the same view the
  // store writes to. Both must outlive the batch.
  ProfileBatch(profiles::ProfileStore* store, const profiles::ActivationEngine* activation, KeyValueView* kv)
      : store_(store), activation_(activation), kv_(kv) {}

  // Reads the stored profiles of `ids` not yet in this batch in one batched read, ahead of the
  // Get/Reevaluate calls for them (ProfileStore::Prefetch). Optional: only makes those faster.
  absl::Status Prefetch(const std::vector<uint64_t>& ids);

  // The profile's current state in this batch, loaded or created (with `workspace`) on first use.
  absl::StatusOr<v1::Profile*> Get(uint64_t id, std::string_view workspace);

  // The winner `id` was merged into, in this batch or before; nullopt for a live profile.
  absl::StatusOr<std::optional<uint64_t>> MergedInto(uint64_t id);

  // Marks `loser` merged into `winner` (its state must already have been absorbed by the winner,
  // here or on another worker). At Finish the loser is deleted, redirected and tombstoned.
  absl::Status MarkMerged(uint64_t loser, uint64_t winner);

  // Evaluates a stored profile again at Finish although no event touched it (a timer came due, a
  // segment is being backfilled). No-op for an id with no stored profile (merged away, unknown).
  absl::Status Reevaluate(uint64_t id);

  // Folds `loser` into `winner` as AbsorbProfile does (with the computed-traits `config` the
  // events are applied with), plus the segment window counters (which AbsorbProfile does not
  // know). A no-op when the winner already absorbed it.
  static void Absorb(const v1::Profile& loser, v1::Profile& winner, const profiles::ComputedTraitsConfig& config);

  // Stages every touched profile with a new version; returns one update per profile (a tombstone
  // for a merged one), ordered by id. With an activation engine, appends the segment changes (with
  // the version that carries them) and trigger firings to `activation_out` (may be null without).
  absl::StatusOr<std::vector<v1::ProfileUpdate>> Finish(int64_t now_ms,
                                                        profiles::ActivationOutputs* activation_out = nullptr);

 private:
  struct Entry {
    profiles::ProfileSnapshot before;  // as stored (empty when new)
    uint64_t stored_version = 0;       // 0 when new
    v1::Profile current;
    uint64_t merged_into = 0;
    bool changed = false;  // an event or a merge touched it (not only a re-evaluation)
    bool before_pending = false;  // loaded by Reevaluate: `before` not taken yet
  };
  absl::StatusOr<Entry*> Load(uint64_t id, std::string_view workspace);

  profiles::ProfileStore* store_;
  const profiles::ActivationEngine* activation_ = nullptr;
  KeyValueView* kv_ = nullptr;
  // node_hash_map: pointers handed out by Get stay valid while more profiles load.
  absl::node_hash_map<uint64_t, Entry> entries_;
};

}  // namespace tessera::app
