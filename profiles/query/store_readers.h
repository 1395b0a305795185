// KeyRangeReaders (profiles/event_store.h) over Tessera's RocksDB stores, for the query API, the
// export and the CLI: one store, or the set of stores of a distributed data directory (the
// identity store and every profiles worker's store) read as one.
//
// Thread-safety: both readers are thread-safe (RocksStore is); they borrow the stores, which must
// outlive them.
#pragma once

#include <vector>

#include "common/rocks_store.h"
#include "profiles/event_store.h"

namespace tessera::query {

class RocksRangeReader final : public profiles::KeyRangeReader {
 public:
  explicit RocksRangeReader(const RocksStore* store) : store_(store) {}
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const override;
  // RocksStore offers prefix scans only, so keys between the prefix and `start` are stepped over
  // (cheap for one profile's timeline; a RocksStore::ScanFrom would seek instead).
  absl::Status Scan(std::string_view prefix, std::string_view start, const Visitor& visit) const override;

 private:
  const RocksStore* store_;
};

// Several stores read as one: Get answers from the first store holding the key; Scan visits each
// store's matching keys in turn. That is key order for the scans Tessera makes (one profile's
// timeline, one profile's merges), whose keys live in one store; a scan spanning stores (every
// profile) sees each store's keys in order, one store after the other.
class StoreSetReader final : public profiles::KeyRangeReader {
 public:
  explicit StoreSetReader(std::vector<const profiles::KeyRangeReader*> readers) : readers_(std::move(readers)) {}
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const override;
  absl::Status Scan(std::string_view prefix, std::string_view start, const Visitor& visit) const override;

 private:
  std::vector<const profiles::KeyRangeReader*> readers_;
};

}  // namespace tessera::query
