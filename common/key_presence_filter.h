// KeyPresenceFilter: an in-memory Bloom filter of the keys a store holds under some prefixes, so a
// lookup of a key that was never written answers "absent" without a RocksDB read. Identity
// resolution looks up every identifier of an event ("ix/") and every anonymous id ("dv/"); when an
// event links something new, most of those lookups miss, and a RocksDB miss still walks the
// memtable's skiplist and one partitioned filter per level (about 40% of the identity stage's CPU
// on new links: docs/identity.md).
//
// No false negatives, by construction:
//   - every key put under a covered prefix is added before its write reaches RocksDB
//     (RocksStore::Commit), so once a reader can see a key, the filter holds it;
//   - the keys the store held when it was opened are added by a scan that starts after the open;
//     until that scan has finished the filter answers "maybe" for everything (ready() is false).
// A deleted key stays in the filter: a false positive, which only costs the read it always cost.
//
// Growth without rebuilds: the filter is a chain of Bloom filters, each twice the capacity of the
// previous one (a "scalable Bloom filter"); keys go into the newest, lookups ask every one. A store
// of N keys has about log2(N / first capacity) + 1 of them, and the memory is at most about twice
// bits_per_key bits per key.
//
// Each filter is split into 64-byte blocks (one cache line); a key sets one bit in each of the
// block's eight 64-bit words (a "split block" Bloom filter), so a lookup costs one cache miss per
// filter. At 12 bits per key the false-positive rate is about 0.5% per filter.
//
// Persistence: Snapshot() copies the bits out and FromSnapshot() restores them in a later process,
// so a restart of a large store need not scan every key again (RocksStore saves one beside the
// store, with which SST files it covers). Keys are hashed with StableHash64, the same in every
// process; the bytes are in this machine's byte order, which the snapshot records.
//
// Thread-safety: Add and MayContain may be called from any threads at once (bits are set with
// atomic OR; filters are only appended), and Snapshot too (a key added meanwhile may or may not be
// in it). MarkReady is called once by whoever finished the scan.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace tessera {

struct KeyPresenceFilterStats {
  bool ready = false;
  int filters = 0;
  int64_t keys = 0;           // distinct keys added (approximately: a key the filter already seemed to hold is not counted)
  size_t bytes = 0;           // memory of the bit arrays
  int64_t absent_answers = 0;  // lookups answered "absent" (RocksDB reads saved)
  int64_t maybe_answers = 0;   // lookups passed on to RocksDB (present keys, false positives, not ready)
  // Filled in by RocksStore: whether the filter started from a saved snapshot, and how many keys
  // the scan after the open added (all of the store's, or only the newer files' with a snapshot).
  bool from_snapshot = false;
  int64_t scanned_keys = 0;
};

class KeyPresenceFilter {
 public:
  static constexpr int kBitsPerKey = 12;
  static constexpr int64_t kMinCapacity = int64_t{1} << 16;

  // `prefixes`: which keys it covers. `first_capacity`: the keys the first filter is sized for
  // (e.g. an estimate of what the store holds), at least kMinCapacity.
  KeyPresenceFilter(std::vector<std::string> prefixes, int64_t first_capacity);
  ~KeyPresenceFilter();
  KeyPresenceFilter(const KeyPresenceFilter&) = delete;
  KeyPresenceFilter& operator=(const KeyPresenceFilter&) = delete;

  const std::vector<std::string>& prefixes() const { return prefixes_; }
  bool Covers(std::string_view key) const;

  void Add(std::string_view key);
  // False only if `key` was never added. Call only when ready() (before, anything may be missing).
  bool MayContain(std::string_view key) const;

  // The scan of the keys the store held at open has finished: from now on MayContain is trusted.
  void MarkReady() { ready_.store(true, std::memory_order_release); }
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  // "Absent" if ready and not contained: the read may be skipped. Counts the answer.
  bool KnownAbsent(std::string_view key) const;

  KeyPresenceFilterStats stats() const;

  // The bits of every filter of the chain (not the prefixes, the answer counts or readiness).
  std::string Snapshot() const;
  // A filter holding the keys of `snapshot`, not ready: its owner adds what was written since, then
  // calls MarkReady. InvalidArgument if the bytes are not a snapshot this build wrote.
  static absl::StatusOr<std::unique_ptr<KeyPresenceFilter>> FromSnapshot(std::vector<std::string> prefixes,
                                                                          std::string_view snapshot);

 private:
  // One split-block Bloom filter of a fixed number of 64-byte blocks.
  struct Block {
    std::array<std::atomic<uint64_t>, 8> words;
  };
  struct Filter {
    explicit Filter(int64_t capacity);
    int64_t capacity;
    size_t block_count;
    std::unique_ptr<Block[]> blocks;
    std::atomic<int64_t> keys{0};
  };
  static constexpr int kMaxFilters = 40;  // 2^40 times the first capacity: never reached

  // An empty chain, for FromSnapshot.
  explicit KeyPresenceFilter(std::vector<std::string> prefixes);

  static bool Contains(const Filter& filter, uint64_t hash);
  bool MayContainHash(uint64_t hash) const;
  // Sets the key's bits; true if any was not set before (a new key, as far as the filter can tell).
  static bool Insert(Filter& filter, uint64_t hash);
  // The filter new keys go to, appending a larger one when the newest is full.
  Filter* Newest();

  std::vector<std::string> prefixes_;
  std::array<std::atomic<Filter*>, kMaxFilters> filters_{};
  std::atomic<int> filter_count_{0};
  absl::Mutex grow_mutex_;  // serializes appending a filter
  std::atomic<bool> ready_{false};
  mutable std::atomic<int64_t> absent_answers_{0};
  mutable std::atomic<int64_t> maybe_answers_{0};
};

}  // namespace tessera
