#include "identity/fingerprint_index.h"

#include <algorithm>
#include <tuple>

#include "absl/hash/hash.h"
#include "common/absl_compat.h"
#include "common/stable_hash.h"

namespace tessera::identity {
namespace {

uint64_t Mix(uint64_t x) { return SplitMix64Finalize(x); }

// FNV-1a, 32 bits: independent of absl::Hash, so a collision must happen in both at once.
constexpr uint32_t kFnvOffset = 2166136261u;
uint32_t Fnv(uint32_t h, std::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace

Fingerprint IdentifierFingerprint(std::string_view workspace, std::string_view type, std::string_view value) {
  Fingerprint f;
  f.hash = absl::Hash<std::tuple<absl::string_view, absl::string_view, absl::string_view>>{}(
      std::make_tuple(AbslView(workspace), AbslView(type), AbslView(value)));
  uint32_t h = Fnv(kFnvOffset, workspace);
  h = Fnv(h, std::string_view("\0", 1));
  h = Fnv(h, type);
  h = Fnv(h, ":");
  f.check = Fnv(h, value);
  return f;
}

Fingerprint SetFingerprint(std::vector<Fingerprint>& identifiers) {
  std::sort(identifiers.begin(), identifiers.end(), [](const Fingerprint& a, const Fingerprint& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.check < b.check;
  });
  identifiers.erase(std::unique(identifiers.begin(), identifiers.end()), identifiers.end());
  Fingerprint set;
  set.hash = Mix(identifiers.size() + 0x9e3779b97f4a7c15ULL);
  set.check = static_cast<uint32_t>(identifiers.size());
  for (const Fingerprint& f : identifiers) {
    set.hash = Mix(set.hash ^ f.hash);
    set.check = (set.check ^ f.check) * 16777619u;
  }
  return set;
}

template <typename Value>
std::optional<Value> FingerprintIndex::Generations<Value>::Find(uint64_t key) {
  if (auto it = young_.find(key); it != young_.end()) return it->second;
  auto it = old_.find(key);
  if (it == old_.end()) return std::nullopt;
  const Value value = it->second;
  old_.erase(it);
  Put(key, value);
  return value;
}

template <typename Value>
void FingerprintIndex::Generations<Value>::Put(uint64_t key, const Value& value) {
  if (auto it = young_.find(key); it != young_.end()) {
    it->second = value;
    return;
  }
  old_.erase(key);
  if (young_.size() >= young_limit_) {
    // The old generation is what was not used since the young one started: drop it.
    old_ = std::move(young_);
    young_ = absl::flat_hash_map<uint64_t, Value>();
    young_.reserve(young_limit_);
    ++generations_dropped_;
  }
  young_.emplace(key, value);
}

FingerprintIndex::FingerprintIndex(size_t max_entries)
    : max_entries_(max_entries), identifiers_(max_entries), sets_(max_entries), roots_(max_entries) {}

std::optional<uint64_t> FingerprintIndex::ResolveKnownEvent(const v1::Event& event) {
  if (!enabled()) return std::nullopt;
  scratch_.clear();
  for (const v1::Identifier& id : event.identifiers()) {
    if (id.type().empty() || id.value().empty()) continue;
    scratch_.push_back(IdentifierFingerprint(event.workspace(), id.type(), id.value()));
  }
  if (scratch_.empty()) return std::nullopt;
  const Fingerprint set = SetFingerprint(scratch_);
  ++stats_.event_misses;  // undone below on a hit
  const std::optional<SetEntry> entry = sets_.Find(set.hash);
  if (!entry.has_value() || entry->check != set.check) return std::nullopt;
  const std::optional<uint64_t> version = roots_.Find(entry->root);
  if (!version.has_value() || *version != entry->root_version) return std::nullopt;
  if (event.timestamp_ms() <= entry->earliest_ms) {
    ++stats_.late_bypasses;
    return std::nullopt;
  }
  --stats_.event_misses;
  ++stats_.event_hits;
  return entry->root;
}

std::optional<uint64_t> FingerprintIndex::LookupIdentifier(const Fingerprint& identifier) {
  if (!enabled()) return std::nullopt;
  const std::optional<IdentifierEntry> entry = identifiers_.Find(identifier.hash);
  if (entry.has_value() && entry->check == identifier.check && roots_.Find(entry->root).has_value()) {
    ++stats_.identifier_hits;
    return entry->root;
  }
  ++stats_.identifier_misses;
  return std::nullopt;
}

void FingerprintIndex::RecordIdentifier(const Fingerprint& identifier, uint64_t root) {
  if (!enabled()) return;
  identifiers_.Put(identifier.hash, IdentifierEntry{root, identifier.check});
  uncommitted_identifiers_.push_back(identifier.hash);
}

void FingerprintIndex::ForgetIdentifier(const Fingerprint& identifier) { identifiers_.Erase(identifier.hash); }

void FingerprintIndex::RecordRoot(uint64_t root) {
  if (!enabled() || roots_.Find(root).has_value()) return;
  roots_.Put(root, next_version_++);
  uncommitted_roots_.push_back(root);
}

void FingerprintIndex::ForgetRoot(uint64_t root) { roots_.Erase(root); }

void FingerprintIndex::RecordEventSet(const Fingerprint& set, uint64_t root, int64_t event_time_ms) {
  if (!enabled()) return;
  const std::optional<uint64_t> version = roots_.Find(root);
  if (!version.has_value()) return;  // evicted meanwhile: nothing to vouch against
  SetEntry entry{root, *version, event_time_ms, set.check};
  if (const std::optional<SetEntry> known = sets_.Find(set.hash);
      known.has_value() && known->check == set.check && known->root == root && known->root_version == *version) {
    // The same facts, vouched for since the earlier of the two events.
    entry.earliest_ms = std::min(known->earliest_ms, event_time_ms);
  }
  sets_.Put(set.hash, entry);
  uncommitted_sets_.push_back(set.hash);
}

void FingerprintIndex::MarkCommitted() {
  uncommitted_identifiers_.clear();
  uncommitted_sets_.clear();
  uncommitted_roots_.clear();
}

void FingerprintIndex::DropUncommitted() {
  // Erasing is always safe (a miss reads the store); what was overwritten goes too.
  for (uint64_t key : uncommitted_identifiers_) identifiers_.Erase(key);
  for (uint64_t key : uncommitted_sets_) sets_.Erase(key);
  for (uint64_t key : uncommitted_roots_) roots_.Erase(key);
  MarkCommitted();
}

void FingerprintIndex::Clear() {
  identifiers_.Clear();
  sets_.Clear();
  roots_.Clear();
  MarkCommitted();
}

FingerprintIndexStats FingerprintIndex::stats() const {
  FingerprintIndexStats s = stats_;
  s.generations_dropped =
      identifiers_.generations_dropped() + sets_.generations_dropped() + roots_.generations_dropped();
  s.identifiers = identifiers_.size();
  s.event_sets = sets_.size();
  s.roots = roots_.size();
  s.bytes = identifiers_.bytes() + sets_.bytes() + roots_.bytes();
  return s;
}

}  // namespace tessera::identity
