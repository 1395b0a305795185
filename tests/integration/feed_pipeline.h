// Feeding generated records to the fused pipeline without Kafka, as the worker loop would: each
// record from its raw topic at the next offset. And a scratch directory for a test's store.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "app/fused_pipeline.h"
#include "common/clock.h"
#include "common/rocks_store.h"
#include "gtest/gtest.h"
#include "tests/fakes/population.h"

namespace tessera::testing {

inline app::RawRecord ToRaw(const RawRecord& record, int64_t offset, int64_t received_at_ms) {
  app::RawRecord raw;
  raw.channel = record.channel;
  raw.payload = record.payload;
  raw.source.set_topic(std::string(app::RawTopicSuffix(raw.channel)));
  raw.source.set_offset(offset);
  raw.received_at_ms = received_at_ms;
  return raw;
}

inline absl::Status ApplyRecord(app::FusedPipeline& pipeline, const RawRecord& record, int64_t offset,
                                int64_t received_at_ms) {
  return pipeline.Apply(ToRaw(record, offset, received_at_ms));
}

// How a batch's records reach the pipeline: FusedPipeline::Apply for each, ApplyAll for the batch
// (the worker loop's way), or either, drawn per batch.
enum class Feed { kOneByOne, kAll, kEither };

// Feeds `records` in batches of 1 to `max_batch` records (sizes drawn from `rng`), each through a
// new FusedPipeline over its own StagedWrites, committed like the worker loop does. `on_outputs`
// sees each batch's outputs; a failed Apply, FinishBatch or Commit fails the test.
inline void FeedInRandomBatches(RocksStore& store, const Clock& clock, const std::vector<RawRecord>& records,
                                std::mt19937_64& rng, size_t max_batch,
                                const std::function<void(app::BatchOutputs&)>& on_outputs,
                                Feed feed = Feed::kEither) {
  std::uniform_int_distribution<size_t> batch_size(1, max_batch);
  size_t next = 0;
  int64_t offset = 0;
  while (next < records.size()) {
    StagedWrites staged(&store);
    app::FusedPipeline pipeline(&staged, app::FusedPipelineOptions{}, &clock);
    const size_t end = std::min(records.size(), next + batch_size(rng));
    const bool all = feed == Feed::kAll || (feed == Feed::kEither && rng() % 2 == 0);
    std::vector<app::RawRecord> batch;
    for (; next < end; ++next) {
      if (all) {
        batch.push_back(ToRaw(records[next], offset++, clock.NowMillis()));
      } else {
        EXPECT_TRUE(ApplyRecord(pipeline, records[next], offset++, clock.NowMillis()).ok());
      }
    }
    if (all) {
      EXPECT_TRUE(pipeline.ApplyAll(batch).ok());
    }
    auto outputs = pipeline.FinishBatch();
    EXPECT_TRUE(outputs.ok()) << outputs.status();
    if (outputs.ok()) on_outputs(*outputs);
    EXPECT_TRUE(staged.Commit().ok());
  }
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
