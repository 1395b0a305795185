// KeyRangeReaders (profiles/event_store.h) over Tessera's RocksDB stores, for the query API, the
// export and the CLI: one store, or the set of stores of a distributed data directory (the
// identity store and every profiles worker's store) read as one.
//
// Thread-safety: both readers are thread-safe (RocksStore is); they borrow the stores, which must
// outlive them.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/rocks_store.h"
#include "profiles/event_store.h"

namespace tessera::query {

class RocksRangeReader final : public profiles::KeyRangeReader {
 public:
  explicit RocksRangeReader(const RocksStore* store) : store_(store) {}
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const override;
  // Seeks to `start` (RocksStore::ScanFrom): a cursor deep into "pf/" costs one seek.
  absl::Status Scan(std::string_view prefix, std::string_view start, const Visitor& visit) const override;

 private:
  const RocksStore* store_;
};

// Several stores read as one: Get answers from the first store holding the key; Scan merges the
// stores' keys into one key order (each store read a chunk at a time), so a cursor into "pf/" taken
// from one store's key resumes correctly in all of them. A key held by two stores is visited twice.
class StoreSetReader final : public profiles::KeyRangeReader {
 public:
  explicit StoreSetReader(std::vector<const profiles::KeyRangeReader*> readers) : readers_(std::move(readers)) {}
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const override;
  absl::Status Scan(std::string_view prefix, std::string_view start, const Visitor& visit) const override;

 private:
  std::vector<const profiles::KeyRangeReader*> readers_;
};

}  // namespace tessera::query
