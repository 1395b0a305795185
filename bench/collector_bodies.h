// The request bodies of the collector's benchmarks: collector-bench sends them over HTTP, the
// ingest bench's BM_CollectorPrepareBatch100 hands them to SegmentApi::Prepare without sockets or
// Kafka, so both measure the same messages.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"

namespace tessera::bench {

// One track call exactly as @segment/analytics-node 3.1 sends it in a batch (captured from its
// requests to a local server, 2026-12-07): key order, `integrations: {}`, the library context, its
// `node-next-<ms>-<uuid v4>` messageId and `_metadata`; ~430 bytes. Timestamps are a millisecond
// apart, as calls made over time are. (Until 2026-12-07 this was a ~260-byte message without
// messageId, integrations or _metadata, which no SDK sends: the collector then hashed each message
// for an id of its own.)
inline std::string TrackMessage(int i) {
  const uint32_t u = static_cast<uint32_t>(i) * 2654435761u;  // a uuid's digits that differ per message
  return absl::StrCat(
      R"({"timestamp":"2026-11-25T06:00:)", absl::Dec(i / 1000 % 60, absl::kZeroPad2), ".",
      absl::Dec(i % 1000, absl::kZeroPad3), R"(Z","integrations":{},"event":"Product Viewed","type":"track",)",
      R"("properties":{"sku":"SKU-)", i, R"(","price":45.5,"currency":"THB","category":"coffee","name":"Thai iced coffee"},)",
      R"("context":{"library":{"name":"@segment/analytics-node","version":"3.1.0"}},"userId":"bench-u-)", i % 1000,
      R"(","messageId":"node-next-)", 1764050400000 + i, "-", absl::Hex(u, absl::kZeroPad8), "-1111-45ee-afa9-",
      absl::Hex(static_cast<uint64_t>(u) * 40503u % 0x1000000000000u, absl::kZeroPad12),
      R"(","_metadata":{"nodeVersion":"v20.20.2","jsRuntime":"node"}})");
}

// A /v1/batch body of 100 of them (~43 KB) as analytics-node ends it: the write key (also sent as
// Basic auth) and the batch's sentAt.
inline std::string BatchBody() {
  std::string body = R"({"batch":[)";
  for (int i = 0; i < 100; ++i) absl::StrAppend(&body, i ? "," : "", TrackMessage(i));
  absl::StrAppend(&body, R"(],"writeKey":"wk_bench","sentAt":"2026-11-25T06:00:00.150Z"})");
  return body;
}

}  // namespace tessera::bench
