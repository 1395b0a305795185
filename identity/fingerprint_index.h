// The fingerprint index: a bounded in-memory cache in front of the identity store, so that an event
// whose identifiers are all known costs a few hash lookups instead of about six RocksDB reads.
// docs/identity.md ("Identity stage benchmark") has the design and why each condition holds.
//
// Three tables, each keyed by a 64-bit hash (with a 32-bit check from an independent hash, so two
// keys must collide on 96 bits to be confused):
//   identifier  hash(workspace, type, value)          -> root id its index entry ("ix/") points at
//   event set   hash of the event's distinct identifiers -> root, root version, earliest event time
//   root        root id                                -> version (present: still a root)
// The resolver fills them after each resolution (IdentityResolver::Resolve); it asks the set table
// first (the whole event answered without touching the store), and the identifier table for each
// identifier of an event that goes the slow way.
//
// Correctness conditions (each tested in tests/identity/fingerprint_index_test.cc):
//   1. The index is filled from state that is only staged: a batch that is discarded must drop what
//      it added (DropUncommitted); a committed one keeps it (MarkCommitted).
//   2. A root that loses a merge, or from which an identifier is taken (a device moved or shared,
//      an email demoted), is forgotten (ForgetRoot): every entry that names it is then a miss, and
//      the root comes back with a new version only when an event resolves to it again.
//   3. An event set answers only events later than every event that set was resolved for: a late
//      event may move a claim or a device's owner, so it goes the slow way.
// Anything the index cannot vouch for is a miss, and a miss is always safe: the store is the truth.
//
// Memory is bounded: each table holds at most `max_entries` entries, in two generations: new and
// used entries go to the young one; when it is full, the old one is dropped and the young one
// becomes old. An entry used while old moves to the young one, so what is dropped is what was not
// used for a whole generation (a cheap approximation of least-recently-used). max_entries == 0
// turns the index off (every lookup misses, nothing is kept).
//
// Thread-safety: not thread-safe; one index per identity store, used by its writer thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "identity/identity_rules.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::identity {

// What the index counts, for benchmarks and logs.
struct FingerprintIndexStats {
  int64_t event_hits = 0;          // events answered from the set table
  int64_t event_misses = 0;        // events that went the slow way
  int64_t late_bypasses = 0;       // of those, a known set whose event was not later (condition 3)
  int64_t identifier_hits = 0;     // slow-way identifiers whose root came from the index
  int64_t identifier_misses = 0;
  int64_t generations_dropped = 0; // evictions: old generations dropped, all tables
  size_t identifiers = 0;          // entries held now
  size_t event_sets = 0;
  size_t roots = 0;
  size_t bytes = 0;                // memory of the three tables' slots (what the size cap bounds)
};

// The 96-bit fingerprint of one identifier (or of a set of them).
struct Fingerprint {
  uint64_t hash = 0;
  uint32_t check = 0;
  friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
};

Fingerprint IdentifierFingerprint(std::string_view workspace, std::string_view type, std::string_view value);
// Of distinct identifier fingerprints; order does not matter. Sorts `identifiers` (and removes
// repeats).
Fingerprint SetFingerprint(std::vector<Fingerprint>& identifiers);

class FingerprintIndex {
 public:
  // Default size of each table (docs/identity.md gives the memory it takes).
  static constexpr size_t kDefaultMaxEntries = kDefaultFingerprintIndexEntries;

  explicit FingerprintIndex(size_t max_entries = kDefaultMaxEntries);

  bool enabled() const { return max_entries_ > 0; }

  // The root profile of `event` if the index can vouch that resolving it would write nothing and
  // resolve to that root; nullopt otherwise (then resolve it the slow way).
  std::optional<uint64_t> ResolveKnownEvent(const v1::Event& event);

  // The root the identifier's index entry points at, if known and still a root.
  std::optional<uint64_t> LookupIdentifier(const Fingerprint& identifier);

  // After a resolution:
  // The identifier's index entry now points at `root` (a root).
  void RecordIdentifier(const Fingerprint& identifier, uint64_t root);
  // The identifier's index entry changed in a way not recorded (deleted, or not a root).
  void ForgetIdentifier(const Fingerprint& identifier);
  // `root` is a root: keeps its version, or gives it a new one if it was forgotten.
  void RecordRoot(uint64_t root);
  // `root` lost a merge, or an identifier was taken from it.
  void ForgetRoot(uint64_t root);
  // An event with these identifiers, at `event_time_ms`, resolved to `root` linking every one of
  // them and breaking no rule (RecordRoot(root) first).
  void RecordEventSet(const Fingerprint& set, uint64_t root, int64_t event_time_ms);

  // Batches (condition 1): what was recorded since the last MarkCommitted is journaled.
  void MarkCommitted();
  void DropUncommitted();
  // Forgets everything (another writer changed the store, e.g. a split).
  void Clear();

  FingerprintIndexStats stats() const;

 private:
  struct IdentifierEntry {
    uint64_t root = 0;
    uint32_t check = 0;
  };
  struct SetEntry {
    uint64_t root = 0;
    uint64_t root_version = 0;
    int64_t earliest_ms = 0;
    uint32_t check = 0;
  };

  // One table in two generations (see the file comment).
  template <typename Value>
  class Generations {
   public:
    explicit Generations(size_t max_entries) : young_limit_(max_entries / 2 > 0 ? max_entries / 2 : 1) {}
    // Moves an old entry to the young generation.
    std::optional<Value> Find(uint64_t key);
    void Put(uint64_t key, const Value& value);
    void Erase(uint64_t key) {
      young_.erase(key);
      old_.erase(key);
    }
    void Clear() {
      young_.clear();
      old_.clear();
    }
    size_t size() const { return young_.size() + old_.size(); }
    // A flat_hash_map slot holds the pair plus one control byte.
    size_t bytes() const {
      return (young_.capacity() + old_.capacity()) * (sizeof(std::pair<const uint64_t, Value>) + 1);
    }
    int64_t generations_dropped() const { return generations_dropped_; }

   private:
    size_t young_limit_;
    absl::flat_hash_map<uint64_t, Value> young_;
    absl::flat_hash_map<uint64_t, Value> old_;
    int64_t generations_dropped_ = 0;
  };

  size_t max_entries_;
  Generations<IdentifierEntry> identifiers_;
  Generations<SetEntry> sets_;
  Generations<uint64_t> roots_;  // root -> version
  uint64_t next_version_ = 1;
  // Keys recorded since the last MarkCommitted (condition 1).
  std::vector<uint64_t> uncommitted_identifiers_;
  std::vector<uint64_t> uncommitted_sets_;
  std::vector<uint64_t> uncommitted_roots_;
  std::vector<Fingerprint> scratch_;  // ResolveKnownEvent's identifier fingerprints
  FingerprintIndexStats stats_;
};

}  // namespace tessera::identity
