// Profiles in a KeyValueView (RocksDB in production):
//   "pf/" <be64 id> -> tessera.v1.Profile
//   "pr/" <be64 id> -> be64 winner, for a profile merged away (lets a straggler be forwarded)
//
// Thread-safety: not thread-safe; one store per processing thread, like its view.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kv.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::profiles {

class ProfileStore {
 public:
  explicit ProfileStore(KeyValueView* kv) : kv_(kv) {}

  absl::StatusOr<std::optional<v1::Profile>> Load(uint64_t id);
  // Tells the view these profiles are about to be loaded (KeyValueView::Prefetch): over RocksDB,
  // one MultiGet for a whole batch instead of a Get per profile.
  absl::Status Prefetch(std::vector<uint64_t> ids);
  void Save(const v1::Profile& profile);
  // Deletes the profile and leaves a redirect to `winner`.
  void MarkMerged(uint64_t loser, uint64_t winner);
  // The winner a merged-away id points at, or nullopt.
  absl::StatusOr<std::optional<uint64_t>> MergedInto(uint64_t id);

 private:
  KeyValueView* kv_;
};

}  // namespace tessera::profiles
