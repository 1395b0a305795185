#include "identity/identity_resolver.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/bytes.h"
#include "common/identifier.h"
#include "common/status_macros.h"

namespace tessera::identity {
namespace {

// Ids occupy the low 48 bits under a 16-bit writer prefix.
constexpr int kPrefixShift = 48;
constexpr uint64_t kCounterLimit = uint64_t{1} << kPrefixShift;

std::string IndexKey(std::string_view workspace, std::string_view formatted_identifier) {
  // Plain std::string building: Debian's Abseil has its own string_view, so no StrCat here.
  std::string key = "ix/";
  key.append(workspace);
  key.push_back('\0');
  key.append(formatted_identifier);
  return key;
}

std::string RedirectKey(uint64_t loser) { return absl::StrCat("rd/", BigEndian64(loser)); }

std::string SequenceKey(uint64_t prefix) { return absl::StrCat("sq/", BigEndian64(prefix)); }

std::string MergeKey(uint64_t winner, uint64_t loser) {
  std::string key = "mg/";
  AppendBigEndian64(winner, key);
  AppendBigEndian64(loser, key);
  return key;
}

// Reads an 8-byte big-endian id stored under `key`; DataLoss when the value has another size,
// because only this file writes these keys and a wrong size means a corrupt store.
absl::StatusOr<std::optional<uint64_t>> ReadId(KeyValueView& kv, std::string_view key) {
  ASSIGN_OR_RETURN(std::optional<std::string> value, kv.Get(key));
  if (!value.has_value()) return std::nullopt;
  if (value->size() != 8) {
    return absl::DataLossError(absl::StrCat("identity store value of ", value->size(),
                                            " bytes where an 8-byte id was expected"));
  }
  return ReadBigEndian64(*value);
}

// Follows "rd/" redirects to the root. Every redirect points at a strictly smaller id (the
// winner of a merge is the smallest), so a chain that does not descend is corruption, not a
// cycle to loop on forever.
absl::StatusOr<uint64_t> FindRoot(KeyValueView& kv, uint64_t profile_id) {
  uint64_t current = profile_id;
  while (true) {
    ASSIGN_OR_RETURN(std::optional<uint64_t> next, ReadId(kv, RedirectKey(current)));
    if (!next.has_value()) return current;
    if (*next >= current) {
      return absl::DataLossError(
          absl::StrCat("identity redirect ", current, " -> ", *next, " does not point at a smaller id"));
    }
    current = *next;
  }
}

// FindRoot for the writer: also re-points every redirect on a chain of two or more hops straight at
// the root, so chains left by merges of merges (A -> B, later B -> C) stay one hop long.
absl::StatusOr<uint64_t> FindRootCompressing(KeyValueView& kv, uint64_t profile_id) {
  std::vector<uint64_t> path;
  uint64_t current = profile_id;
  while (true) {
    ASSIGN_OR_RETURN(std::optional<uint64_t> next, ReadId(kv, RedirectKey(current)));
    if (!next.has_value()) break;
    if (*next >= current) {
      return absl::DataLossError(
          absl::StrCat("identity redirect ", current, " -> ", *next, " does not point at a smaller id"));
    }
    path.push_back(current);
    current = *next;
  }
  if (path.size() >= 2) {
    const std::string root_bytes = BigEndian64(current);
    for (size_t i = 0; i + 1 < path.size(); ++i) kv.Put(RedirectKey(path[i]), root_bytes);
  }
  return current;
}

absl::StatusOr<std::optional<uint64_t>> LookupRoot(KeyValueView& kv, std::string_view workspace,
                                                   const v1::Identifier& id) {
  ASSIGN_OR_RETURN(std::optional<uint64_t> stored, ReadId(kv, IndexKey(workspace, FormatIdentifier(id))));
  if (!stored.has_value()) return std::nullopt;
  return FindRoot(kv, *stored);
}

}  // namespace

IdentityResolver::IdentityResolver(KeyValueView* kv, uint16_t id_prefix, const Clock* clock)
    : kv_(kv), id_prefix_(id_prefix), clock_(clock) {}

absl::StatusOr<std::optional<uint64_t>> IdentityResolver::Lookup(std::string_view workspace,
                                                                 const v1::Identifier& id) {
  return LookupRoot(*kv_, workspace, id);
}

absl::StatusOr<uint64_t> IdentityResolver::Root(uint64_t profile_id) { return FindRoot(*kv_, profile_id); }

absl::StatusOr<Resolution> IdentityResolver::Resolve(const v1::Event& event) {
  // One entry per distinct identifier, in event order (evidence keeps the event's order).
  struct Seen {
    const v1::Identifier* identifier;
    std::string index_key;
    std::optional<uint64_t> root;   // nullopt: never seen before
    std::optional<uint64_t> stored; // what the index held (a merged-away id before compression)
  };
  std::vector<Seen> seen;
  seen.reserve(event.identifiers_size());
  absl::flat_hash_set<std::string> distinct;
  for (const v1::Identifier& identifier : event.identifiers()) {
    if (identifier.type().empty() || identifier.value().empty()) continue;
    std::string formatted = FormatIdentifier(identifier);
    if (!distinct.insert(formatted).second) continue;
    seen.push_back({&identifier, IndexKey(event.workspace(), formatted), std::nullopt, std::nullopt});
  }
  if (seen.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("event ", event.message_id(), " has no identifier to resolve"));
  }

  std::vector<uint64_t> roots;
  for (Seen& entry : seen) {
    ASSIGN_OR_RETURN(entry.stored, ReadId(*kv_, entry.index_key));
    if (!entry.stored.has_value()) continue;
    ASSIGN_OR_RETURN(uint64_t root, FindRootCompressing(*kv_, *entry.stored));
    entry.root = root;
    roots.push_back(root);
  }
  std::sort(roots.begin(), roots.end());
  roots.erase(std::unique(roots.begin(), roots.end()), roots.end());

  Resolution resolution;
  if (roots.empty()) {
    const std::string sequence_key = SequenceKey(id_prefix_);
    ASSIGN_OR_RETURN(std::optional<uint64_t> next, ReadId(*kv_, sequence_key));
    const uint64_t counter = next.value_or(1);
    if (counter >= kCounterLimit) {
      return absl::ResourceExhaustedError(
          absl::StrCat("profile ids of prefix ", id_prefix_, " are exhausted"));
    }
    kv_->Put(sequence_key, BigEndian64(counter + 1));
    resolution.profile_id = (id_prefix_ << kPrefixShift) | counter;
    resolution.created = true;
  } else {
    resolution.profile_id = roots.front();  // the smallest root wins
  }
  const uint64_t winner = resolution.profile_id;

  // Every other root (ascending) is merged into the winner, with the event as its evidence.
  for (size_t i = 1; i < roots.size(); ++i) {
    const uint64_t loser = roots[i];
    kv_->Put(RedirectKey(loser), BigEndian64(winner));
    v1::MergeRecord& record = resolution.merges.emplace_back();
    record.set_winner(winner);
    record.set_loser(loser);
    record.set_message_id(event.message_id());
    if (event.has_source()) *record.mutable_source() = event.source();
    for (const Seen& entry : seen) {
      if (entry.root == loser || entry.root == winner) *record.add_evidence() = *entry.identifier;
    }
    record.set_timestamp_ms(event.timestamp_ms());
    record.set_merged_at_ms(clock_->NowMillis());
    kv_->Put(MergeKey(winner, loser), record.SerializeAsString());
  }

  // Links new identifiers, re-points the merged-away ones, and compresses paths: afterwards every
  // identifier of this event is one lookup away from its root.
  const std::string winner_bytes = BigEndian64(winner);
  for (const Seen& entry : seen) {
    if (entry.stored != winner) kv_->Put(entry.index_key, winner_bytes);
  }
  return resolution;
}

absl::StatusOr<std::optional<uint64_t>> LookupIdentifier(KeyValueView& kv, std::string_view workspace,
                                                         const v1::Identifier& id) {
  return LookupRoot(kv, workspace, id);
}

}  // namespace tessera::identity
