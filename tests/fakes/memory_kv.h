// An in-memory KeyValueView: the storage fake for identity and profile logic tests.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

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
  void Delete(std::string_view key) override { data_.erase(std::string(key)); }

  const std::map<std::string, std::string>& data() const { return data_; }

 private:
  std::map<std::string, std::string> data_;
};

}  // namespace tessera::testing
