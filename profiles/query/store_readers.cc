#include "profiles/query/store_readers.h"

namespace tessera::query {

absl::StatusOr<std::optional<std::string>> RocksRangeReader::Get(std::string_view key) const { return store_->Get(key); }

absl::Status RocksRangeReader::Scan(std::string_view prefix, std::string_view start, const Visitor& visit) const {
  if (start <= prefix) return store_->ScanPrefix(prefix, visit);
  return store_->ScanPrefix(prefix, [&](std::string_view key, std::string_view value) {
    return key < start || visit(key, value);
  });
}

absl::StatusOr<std::optional<std::string>> StoreSetReader::Get(std::string_view key) const {
  for (const profiles::KeyRangeReader* reader : readers_) {
    absl::StatusOr<std::optional<std::string>> value = reader->Get(key);
    if (!value.ok() || value->has_value()) return value;
  }
  return std::nullopt;
}

absl::Status StoreSetReader::Scan(std::string_view prefix, std::string_view start, const Visitor& visit) const {
  bool stopped = false;
  for (const profiles::KeyRangeReader* reader : readers_) {
    absl::Status status = reader->Scan(prefix, start, [&](std::string_view key, std::string_view value) {
      stopped = !visit(key, value);
      return !stopped;
    });
    if (!status.ok()) return status;
    if (stopped) break;
  }
  return absl::OkStatus();
}

}  // namespace tessera::query
