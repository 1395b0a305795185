#include "ingest/dedup.h"

#include <algorithm>
#include <string>

#include "common/bytes.h"
#include "common/status_macros.h"

namespace tessera::ingest {
namespace {

std::string DedupKey(std::string_view workspace, std::string_view message_id) {
  return WorkspaceKey(kDedupKeyPrefix, workspace, message_id);
}

}  // namespace

absl::StatusOr<bool> DuplicateFilter::SeenBefore(std::string_view workspace, std::string_view message_id,
                                                 int64_t now_ms) {
  const std::string key = DedupKey(workspace, message_id);
  ASSIGN_OR_RETURN(std::optional<std::string> seen, kv_->Get(key));
  if (seen.has_value() && seen->size() == 8 && now_ms - static_cast<int64_t>(ReadBigEndian64(*seen)) < window_ms_) {
    return true;
  }
  kv_->Put(key, BigEndian64(static_cast<uint64_t>(now_ms)));
  return false;
}

absl::Status DuplicateFilter::Prefetch(const std::vector<std::pair<std::string_view, std::string_view>>& messages) {
  std::vector<std::string> keys;
  keys.reserve(messages.size());
  for (const auto& [workspace, message_id] : messages) keys.push_back(DedupKey(workspace, message_id));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return kv_->Prefetch(keys);
}

}  // namespace tessera::ingest
