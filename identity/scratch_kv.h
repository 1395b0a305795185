// A private in-memory store and a clock stopped at the epoch, for replays of the link log through
// a fresh IdentityResolver that must not touch the real store: `identity simulate`
// (identity_simulate.cc) and `profile split` (identity_split.cc). Nothing of a replay outlives it,
// and its violations are thrown away, so their detection time does not matter.
//
// Thread-safety: not thread-safe; one replay per thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "common/absl_compat.h"
#include "common/clock.h"
#include "common/kv.h"

namespace tessera::identity {

class ScratchKv final : public KeyValueView {
 public:
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override {
    auto it = data_.find(AbslView(key));
    if (it == data_.end()) return std::nullopt;
    return it->second;
  }
  void Put(std::string_view key, std::string_view value) override { data_[std::string(key)] = std::string(value); }
  void Delete(std::string_view key) override { data_.erase(AbslView(key)); }

 private:
  absl::flat_hash_map<std::string, std::string> data_;
};

class EpochClock final : public Clock {
 public:
  int64_t NowMillis() const override { return 0; }
};

}  // namespace tessera::identity
