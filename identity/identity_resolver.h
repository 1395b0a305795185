// Identity resolution: links every identifier of an event to one profile, creating a profile for
// an event whose identifiers are all new, and merging profiles when one event carries identifiers
// of two or more of them. The graph is a union-find: identifier -> profile id, plus a redirect
// loser -> winner per merge. The winner is always the smallest id, so merges decided in any order
// can never form a cycle and following redirects always ends at one root.
//
// Storage layout, through a KeyValueView (RocksDB in production):
//   "ix/" <workspace> '\0' <type:value>  -> profile id as 8 bytes big-endian (may be a merged-away id)
//   "rd/" <be64 loser>                   -> be64 winner
//   "sq/" <be64 id_prefix>               -> be64 next counter of this writer
//   "mg/" <be64 winner> <be64 loser>     -> tessera.v1.MergeRecord
//
// Thread-safety: not thread-safe. One resolver per identity writer (per workspace partition).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/kv.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::identity {

struct Resolution {
  uint64_t profile_id = 0;                // the root profile the event belongs to
  bool created = false;                   // a new profile was allocated for this event
  std::vector<v1::MergeRecord> merges;    // profiles merged into profile_id by this event
};

class IdentityResolver {
 public:
  // `id_prefix` is placed in the top 16 bits of every id this resolver allocates, so writers of
  // different partitions never allocate the same id. Ids start at 1 within a prefix.
  IdentityResolver(KeyValueView* kv, uint16_t id_prefix, const Clock* clock);

  // Resolves (and records) the event's identifiers. InvalidArgument for an event with none.
  absl::StatusOr<Resolution> Resolve(const v1::Event& event);

  // The root profile of an identifier, or nullopt if it was never seen. Read-only.
  absl::StatusOr<std::optional<uint64_t>> Lookup(std::string_view workspace, const v1::Identifier& id);

  // Follows redirects from `profile_id` to its root. Read-only.
  absl::StatusOr<uint64_t> Root(uint64_t profile_id);

 private:
  KeyValueView* kv_;
  uint64_t id_prefix_;
  const Clock* clock_;
};

// Reads for tools that hold no resolver (CLI over a read-only store).
absl::StatusOr<std::optional<uint64_t>> LookupIdentifier(KeyValueView& kv, std::string_view workspace,
                                                         const v1::Identifier& id);

}  // namespace tessera::identity
