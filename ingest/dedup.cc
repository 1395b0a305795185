#include "ingest/dedup.h"

#include <string>

#include "common/bytes.h"
#include "common/status_macros.h"

namespace tessera::ingest {

absl::StatusOr<bool> DuplicateFilter::SeenBefore(std::string_view workspace, std::string_view message_id,
                                                 int64_t now_ms) {
  const std::string key = WorkspaceKey(kDedupKeyPrefix, workspace, message_id);
  ASSIGN_OR_RETURN(std::optional<std::string> seen, kv_->Get(key));
  if (seen.has_value() && seen->size() == 8 && now_ms - static_cast<int64_t>(ReadBigEndian64(*seen)) < window_ms_) {
    return true;
  }
  kv_->Put(key, BigEndian64(static_cast<uint64_t>(now_ms)));
  return false;
}

}  // namespace tessera::ingest
