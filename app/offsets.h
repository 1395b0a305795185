// Input offsets stored with the state they produced. Key: "of/" <group> '/' <topic> '/' <partition>
// -> the next offset to read, 8 bytes big-endian. Stored in the same WriteBatch as the state, so
// after a crash a stage resumes exactly after the last batch it applied.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/kafka.h"
#include "common/kv.h"

namespace tessera::app {

std::string OffsetKey(const std::string& group, const std::string& topic, int32_t partition);

void StageOffsets(KeyValueView& kv, const std::string& group, const std::map<TopicPartition, int64_t>& next_offsets);

absl::StatusOr<std::optional<int64_t>> LoadOffset(KeyValueView& kv, const std::string& group, const std::string& topic,
                                                  int32_t partition);

}  // namespace tessera::app
