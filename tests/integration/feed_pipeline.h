// Feeding generated records to the fused pipeline without Kafka, as the worker loop would: each
// record from its raw topic at the next offset. And a scratch directory for a test's store.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "app/fused_pipeline.h"
#include "tests/fakes/population.h"

namespace tessera::testing {

inline absl::Status ApplyRecord(app::FusedPipeline& pipeline, const RawRecord& record, int64_t offset,
                                int64_t received_at_ms) {
  app::RawRecord raw;
  raw.channel = record.channel;
  raw.payload = record.payload;
  raw.source.set_topic(std::string(app::RawTopicSuffix(raw.channel)));
  raw.source.set_offset(offset);
  raw.received_at_ms = received_at_ms;
  return pipeline.Apply(raw);
}

// A fresh directory under the system's temp dir, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    path_ = (std::filesystem::temp_directory_path() / "tessera-test-XXXXXX").string();
    if (mkdtemp(path_.data()) == nullptr) std::abort();
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace tessera::testing
