// Duplicate events: a messageId seen before in the same workspace within a window (7 days by
// default, as Segment) is dropped. The memory of what was seen lives in the stage's store, written
// in the same WriteBatch as the state the event changed, so a crash cannot make an event count
// twice or vanish. Keys: "dd/" <workspace> '\0' <message id> -> first-seen time, 8 bytes
// big-endian epoch ms (RocksStore drops expired ones at compaction: see kDedupKeyPrefix).
//
// Thread-safety: not thread-safe; one filter per processing thread, like its view.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kv.h"

namespace tessera::ingest {

inline constexpr std::string_view kDedupKeyPrefix = "dd/";
inline constexpr int64_t kDefaultDedupWindowMs = int64_t{7} * 24 * 3600 * 1000;

class DuplicateFilter {
 public:
  DuplicateFilter(KeyValueView* kv, int64_t window_ms) : kv_(kv), window_ms_(window_ms) {}

  // True if `message_id` was first seen in `workspace` less than the window before `now_ms`;
  // otherwise records it as seen at `now_ms` and returns false.
  absl::StatusOr<bool> SeenBefore(std::string_view workspace, std::string_view message_id, int64_t now_ms);

  // Reads what SeenBefore will look up for these (workspace, message id) pairs in one batched read
  // (KeyValueView::Prefetch: one RocksDB MultiGet), ahead of the SeenBefore calls for them. Most
  // message ids are new, and a miss costs a RocksDB Get most of what a hit does. Optional: it only
  // makes those calls faster.
  absl::Status Prefetch(const std::vector<std::pair<std::string_view, std::string_view>>& messages);

 private:
  KeyValueView* kv_;
  int64_t window_ms_;
};

}  // namespace tessera::ingest
