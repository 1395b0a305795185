// An in-memory KeyValueView: the storage fake for identity and profile logic tests.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/kv.h"

namespace tessera::testing {

class MemoryKv final : public KeyValueView {
 public:
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    auto it = data_.find(std::string(key));
    if (it == data_.end()) return std::nullopt;
    return it->second;
  }
  void Put(std::string_view key, std::string_view value) override { data_[std::string(key)] = std::string(value); }
  void Delete(std::string_view key) override {
    ++deletes_;
    data_.erase(std::string(key));
  }

  const std::map<std::string, std::string>& data() const { return data_; }
  // Deletes asked for, absent keys included (each is a write, a tombstone, in RocksDB).
  int deletes() const { return deletes_; }

  // An ordered prefix scan over the map, in the shape identity's and profiles' PrefixScan take
  // (RocksStore::ScanPrefix in production). Sees later writes; the MemoryKv must outlive it.
  std::function<absl::Status(std::string_view, const std::function<bool(std::string_view, std::string_view)>&)>
  Scanner() const {
    return [this](std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& visit) {
      for (auto it = data_.lower_bound(std::string(prefix)); it != data_.end() && it->first.starts_with(prefix);
           ++it) {
        if (!visit(it->first, it->second)) break;
      }
      return absl::OkStatus();
    };
  }

 private:
  std::map<std::string, std::string> data_;
  int deletes_ = 0;
};

}  // namespace tessera::testing
