// The storage seam between stage logic and RocksDB. Identity and profile logic read and write
// through a KeyValueView; production hands them a StagedWrites over RocksDB (common/rocks_store.h),
// tests an in-memory map (tests/fakes/memory_kv.h). Nothing here knows about RocksDB.
//
// Thread-safety: implementations are not thread-safe; one view belongs to one processing thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera {

class KeyValueView {
 public:
  virtual ~KeyValueView() = default;

  // The value under `key`, seeing this view's own unflushed writes. nullopt if absent.
  virtual absl::StatusOr<std::optional<std::string>> Get(std::string_view key) = 0;
  virtual void Put(std::string_view key, std::string_view value) = 0;
  virtual void Delete(std::string_view key) = 0;
  // A hint that `keys` (sorted, unique) are about to be read, once each: a view over a store may
  // fetch them in one batched read so that the Gets that follow are answered from memory. Changes
  // nothing any Get returns; the default does nothing.
  virtual absl::Status Prefetch(const std::vector<std::string>& keys) {
    (void)keys;
    return absl::OkStatus();
  }
};

}  // namespace tessera
