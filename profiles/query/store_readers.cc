#include "profiles/query/store_readers.h"

namespace tessera::query {

absl::StatusOr<std::optional<std::string>> RocksRangeReader::Get(std::string_view key) const { return store_->Get(key); }

absl::Status RocksRangeReader::Scan(std::string_view prefix, std::string_view start, const Visitor& visit) const {
  return store_->ScanFrom(prefix, start, visit);
}

absl::StatusOr<std::optional<std::string>> StoreSetReader::Get(std::string_view key) const {
  for (const profiles::KeyRangeReader* reader : readers_) {
    absl::StatusOr<std::optional<std::string>> value = reader->Get(key);
    if (!value.ok() || value->has_value()) return value;
  }
  return std::nullopt;
}

absl::Status StoreSetReader::Scan(std::string_view prefix, std::string_view start, const Visitor& visit) const {
  if (readers_.size() == 1) return readers_[0]->Scan(prefix, start, visit);
  // Each store is read a chunk at a time from where it stopped, and the chunks are merged.
  constexpr size_t kChunk = 1024;
  struct Source {
    std::vector<std::pair<std::string, std::string>> chunk;
    size_t next = 0;
    std::string resume;  // the first key the next chunk may hold
    bool exhausted = false;
  };
  std::vector<Source> sources(readers_.size());
  auto refill = [&](size_t i) -> absl::Status {
    Source& source = sources[i];
    source.chunk.clear();
    source.next = 0;
    if (source.exhausted) return absl::OkStatus();
    absl::Status status = readers_[i]->Scan(prefix, source.resume, [&](std::string_view key, std::string_view value) {
      source.chunk.emplace_back(std::string(key), std::string(value));
      return source.chunk.size() < kChunk;
    });
    if (source.chunk.size() < kChunk) {
      source.exhausted = true;
    } else {
      source.resume = source.chunk.back().first;
      source.resume.push_back('\0');  // the smallest key after the last one read
    }
    return status;
  };
  for (size_t i = 0; i < sources.size(); ++i) {
    sources[i].resume = std::string(start);
    if (absl::Status s = refill(i); !s.ok()) return s;
  }
  while (true) {
    Source* best = nullptr;
    size_t best_index = 0;
    for (size_t i = 0; i < sources.size(); ++i) {
      Source& source = sources[i];
      if (source.next < source.chunk.size() &&
          (best == nullptr || source.chunk[source.next].first < best->chunk[best->next].first)) {
        best = &source;
        best_index = i;
      }
    }
    if (best == nullptr) return absl::OkStatus();
    const auto& [key, value] = best->chunk[best->next++];
    if (!visit(key, value)) return absl::OkStatus();
    if (best->next == best->chunk.size()) {
      if (absl::Status s = refill(best_index); !s.ok()) return s;
    }
  }
}

}  // namespace tessera::query
