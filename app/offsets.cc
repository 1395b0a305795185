#include "app/offsets.h"

#include "absl/strings/str_cat.h"
#include "common/bytes.h"
#include "common/status_macros.h"

namespace tessera::app {

std::string OffsetKey(const std::string& group, const std::string& topic, int32_t partition) {
  return absl::StrCat("of/", group, "/", topic, "/", partition);
}

void StageOffsets(KeyValueView& kv, const std::string& group, const std::map<TopicPartition, int64_t>& next_offsets) {
  for (const auto& [tp, next] : next_offsets) {
    kv.Put(OffsetKey(group, tp.first, tp.second), BigEndian64(static_cast<uint64_t>(next)));
  }
}

absl::StatusOr<std::optional<int64_t>> LoadOffset(KeyValueView& kv, const std::string& group, const std::string& topic,
                                                  int32_t partition) {
  ASSIGN_OR_RETURN(std::optional<std::string> value, kv.Get(OffsetKey(group, topic, partition)));
  if (!value.has_value() || value->size() != 8) return std::nullopt;
  return static_cast<int64_t>(ReadBigEndian64(*value));
}

}  // namespace tessera::app
