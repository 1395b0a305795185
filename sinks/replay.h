// `tessera sinks replay`: sending a destination's changes again.
//
// - ReplayDeadLetters reads the destination's dead-letter topic with its own consumer group
//   (`<prefix>sink.<name>.replay`) and sends each parked item again, unchanged (same idempotency
//   key and version, so a receiver that already applied a newer version ignores it), in batches,
//   retrying with the destination's backoff for up to its retry window. Offsets are committed after
//   each delivered batch, so a replay that fails stops where it was and the next one resumes there.
// - RewindDestination moves the destination's consumer group back to the start of its input
//   topics: the next `sinks deliver` re-sends the current state of every profile (profile-updates
//   is compacted). The group must have no live member (stop `sinks deliver` first).
//
// Thread-safety: plain functions; they block.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "sinks/sink_config.h"

namespace tessera::sinks {

absl::StatusOr<int64_t> ReplayDeadLetters(const DestinationConfig& destination, const std::string& brokers,
                                          const std::string& prefix);

absl::Status RewindDestination(const DestinationConfig& destination, const std::string& brokers,
                               const std::string& prefix);

}  // namespace tessera::sinks
