// Raw records that ingest must reject, one or more per rejection reason of ingest/ingest.h, each
// otherwise valid so that exactly one reason applies. Ingest tests assert the reason; end-to-end
// tests assert each lands on the dead-letter topic with its original bytes.
//
// Thread-safety: a plain function returning values the caller owns.
#pragma once

#include <string>
#include <vector>

#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::testing {

struct BadRecord {
  v1::Channel channel;
  std::string payload;  // the raw bytes, exactly as they would arrive
  std::string reason;   // the expected Rejection::reason (ingest::kInvalidJson, ...)
  std::string what;     // a few words for test output: "track without event"
};

// Every reason appears at least once; the list is the same on every call.
std::vector<BadRecord> BadRecords();

}  // namespace tessera::testing
