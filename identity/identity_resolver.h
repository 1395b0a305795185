// Identity resolution: links every identifier of an event to one profile, creating a profile for
// an event whose identifiers are all new, and merging profiles when one event carries identifiers
// of two or more of them, within the merge rules of the event's workspace (identity_rules.h). The
// graph is a union-find: identifier -> profile id, plus a redirect loser -> winner per merge. The
// winner is always the smallest id, so merges decided in any order can never form a cycle and
// following redirects always ends at one root.
//
// Rules: an event's identifiers are linked in priority order (IdentityRules::priority, then by
// "type:value"); each one whose link would break a rule (blocked value, a second user_id, a value
// limit, a shared device, a recycled phone between two customers, a per-profile cap) is left
// unlinked and recorded as a violation, and the event resolves to the profile of the linked ones.
// Decisions that depend on order compare claims (event time, then message id), not arrival:
// docs/identity.md says which ones and what is left.
//
// Storage layout, through a KeyValueView (RocksDB in production):
//   "ix/" <workspace> '\0' <type:value>  -> profile id as 8 bytes big-endian (may be a merged-away id)
//   "rd/" <be64 loser>                   -> be64 winner
//   "sq/" <be64 id_prefix>               -> be64 next counter of this writer
//   "mg/" <be64 winner> <be64 loser>     -> tessera.v1.MergeRecord
//   "ip/" <be64 root>                    -> ProfileIdentity (identity_records.h): held identifiers
//                                           with claims, merge count; deleted when merged away
//   "dv/" <workspace> '\0' <anonymous id> -> DeviceRecord: user_ids seen with it, shared flag
//   "iv/" <workspace> '\0' <be64 event time + 2^63> <message id> '\0' <rule> '\0' <type:value>
//                                        -> IdentityViolation (a replayed event rewrites the same key)
//   "lv/" <be64 profile id> <be64 event time + 2^63> <message id> '\0' <rule> '\0' <type:value>
//                                        -> IdentityViolation again, once under the profile that held
//                                           the identifier and once under the one the event went to:
//                                           the refused links of a profile without a workspace scan
//   "lk/" <workspace> '\0' <be64 event time + 2^63> <message id>
//                                        -> LinkRecord: the link log (identity_records.h). Written only
//                                           by events that changed the graph; a held identifier's claim
//                                           (ip/) is the key of the event that linked it, so the log
//                                           survives merges without being rewritten
//
// With a FingerprintIndex (fingerprint_index.h), an event whose identifiers were all resolved together
// before, and which nothing has changed since, is answered from memory without reading the store;
// the index is told about every resolution. The result is the same with or without it.
//
// Thread-safety: not thread-safe. One resolver per identity writer (per workspace partition).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/kv.h"
#include "identity/fingerprint_index.h"
#include "identity/identity_records.h"
#include "identity/identity_rules.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::identity {

struct Resolution {
  uint64_t profile_id = 0;                // the root profile the event belongs to
  bool created = false;                   // a new profile was allocated for this event
  std::vector<v1::MergeRecord> merges;    // profiles merged into profile_id by this event
  // Links refused or undone by a rule while resolving this event (also stored under "iv/").
  std::vector<IdentityViolation> violations;
  // The event's identifiers ("type:value") that were not linked to profile_id: a profile should
  // not list them as its own (blocked, refused, or a shared device's anonymous id).
  std::vector<std::string> unlinked;
};

class IdentityResolver {
 public:
  // `id_prefix` is placed in the top 16 bits of every id this resolver allocates, so writers of
  // different partitions never allocate the same id. Ids start at 1 within a prefix.
  // With IdentityRules::Defaults() for every workspace.
  IdentityResolver(KeyValueView* kv, uint16_t id_prefix, const Clock* clock);
  // `index` (not owned; may be null) must describe this view's store: one index per store, shared
  // by every resolver writing it, told by the caller when a batch commits or is discarded.
  IdentityResolver(KeyValueView* kv, uint16_t id_prefix, const Clock* clock, RulesByWorkspace rules,
                   FingerprintIndex* index = nullptr);

  // Resolves (and records) the event's identifiers. InvalidArgument for an event with none.
  absl::StatusOr<Resolution> Resolve(const v1::Event& event);

  // The root profile of an identifier, or nullopt if it was never seen. Read-only.
  absl::StatusOr<std::optional<uint64_t>> Lookup(std::string_view workspace, const v1::Identifier& id);

  // Follows redirects from `profile_id` to its root. Read-only.
  absl::StatusOr<uint64_t> Root(uint64_t profile_id);

 private:
  absl::StatusOr<uint64_t> AllocateId();
  absl::StatusOr<Resolution> ResolveFromStore(const v1::Event& event);

  KeyValueView* kv_;
  uint64_t id_prefix_;
  const Clock* clock_;
  RulesByWorkspace rules_;
  FingerprintIndex* index_;
};

// The prefixes of keys that are mostly looked up before they exist (an identifier or an anonymous
// id never seen) and rarely deleted: a store serving identity keeps a presence filter of them
// (RocksStoreOptions::presence_filter_prefixes), so linking something new skips RocksDB's misses.
std::vector<std::string> PresenceFilteredPrefixes();

// The index entry of an identifier ("ix/" <workspace> '\0' <type:value>): the profile id it links to.
std::string IndexKey(std::string_view workspace, std::string_view formatted_identifier);

// The key prefix of a workspace's violations ("iv/" <workspace> '\0'), in event-time order.
std::string ViolationKeyPrefix(std::string_view workspace);
// The violations recorded against one profile id ("lv/" <be64 id>).
std::string ProfileViolationKeyPrefix(uint64_t profile_id);
// The link log of a workspace ("lk/" <workspace> '\0'), in event-time order, and one entry of it.
std::string LinkKeyPrefix(std::string_view workspace);
std::string LinkKey(std::string_view workspace, const Claim& claim);
// The identity record of a root profile ("ip/" <be64 root>).
std::string ProfileIdentityKey(uint64_t root);
// The merges won by a profile ("mg/" <be64 winner>), one MergeRecord per loser.
std::string MergeKeyPrefix(uint64_t winner);

// Removes from `event` the identifiers the resolution did not link (resolution.unlinked), so the
// profile never lists an identifier that does not resolve to it.
void DropUnlinkedIdentifiers(const Resolution& resolution, v1::Event& event);

// Reads for tools that hold no resolver (CLI over a read-only store).
absl::StatusOr<std::optional<uint64_t>> LookupIdentifier(KeyValueView& kv, std::string_view workspace,
                                                         const v1::Identifier& id);

}  // namespace tessera::identity
