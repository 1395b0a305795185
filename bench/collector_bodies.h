// The request bodies of the collector's benchmarks: collector-bench sends them over HTTP, the
// ingest bench's BM_CollectorPrepareBatch100 hands them to SegmentApi::Prepare without sockets or
// Kafka, so both measure the same messages.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"

namespace tessera::bench {

// One ~260-byte track call as a server-side SDK sends it (library context, client timestamp).
inline std::string TrackMessage(int i) {
  return absl::StrCat(R"({"type":"track","userId":"bench-u-)", i % 1000,
                      R"(","event":"Product Viewed","properties":{"sku":"SKU-)", i,
                      R"(","price":45.50,"currency":"THB","category":"coffee","name":"Thai iced coffee"},)"
                      R"("context":{"library":{"name":"analytics-node","version":"3.1.0"}},)"
                      R"("timestamp":"2026-11-25T06:00:00.000Z"})");
}

// A /v1/batch body of 100 of them (~26 KB) with the batch's sentAt.
inline std::string BatchBody() {
  std::string body = R"({"batch":[)";
  for (int i = 0; i < 100; ++i) absl::StrAppend(&body, i ? "," : "", TrackMessage(i));
  absl::StrAppend(&body, R"(],"sentAt":"2026-11-25T06:00:00.100Z"})");
  return body;
}

}  // namespace tessera::bench
