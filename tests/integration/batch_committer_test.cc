// BatchCommitter (app/batch_committer.h): the worker loop's commits, overlapped with the next
// batch's logic. On librdkafka's mock cluster (in process) and a real RocksDB.
#include "app/batch_committer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/kafka.h"
#include "common/rocks_store.h"
#include "tests/fakes/kafka_reading.h"
#include "tests/fakes/temp_store_test.h"

namespace tessera::app {
namespace {

constexpr char kOutputs[] = "committer.outputs";

using BatchCommitterTest = testing::TempStoreTest;

// A read-modify-write chain across overlapped batches: each batch reads a counter through its
// staged writes over the batch being committed, adds one and publishes one output per step. Had
// a batch read the store before the one below it was written, increments would be lost.
TEST_F(BatchCommitterTest, OverlappedBatchesReadEachOthersWritesAndCommitInOrderAfterTheirOutputs) {
  auto kafka = EmbeddedKafka::Start();
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  ASSERT_TRUE((*kafka)->CreateTopics({{kOutputs, 1, {}}}).ok());
  auto producer = KafkaProducer::Create((*kafka)->bootstrap_servers());
  ASSERT_TRUE(producer.ok()) << producer.status();
  constexpr int kBatches = 60;
  constexpr int kStepsPerBatch = 25;
  {
    BatchCommitter committer("test", producer->get(), nullptr);
    for (int b = 1; b <= kBatches; ++b) {
      BatchCommitter::Batch batch;
      batch.staged = std::make_unique<StagedWrites>(store_.get(), committer.last_staged());
      for (int step = 0; step < kStepsPerBatch; ++step) {
        auto counter = batch.staged->Get("counter");
        ASSERT_TRUE(counter.ok());
        int64_t value = 0;
        if (counter->has_value()) {
          ASSERT_TRUE(absl::SimpleAtoi(**counter, &value));
        }
        batch.staged->Put("counter", absl::StrCat(value + 1));
        ASSERT_TRUE((*producer)->Produce(kOutputs, "k", absl::StrCat(value + 1)).ok());
        ++batch.outputs;
      }
      batch.staged->Put(absl::StrCat("batch/", b), "done");
      ASSERT_TRUE(committer.Submit(std::move(batch)).ok());
    }
    ASSERT_TRUE(committer.Drain().ok());
    EXPECT_EQ(committer.last_staged(), nullptr);
  }
  EXPECT_EQ(*store_->Get("counter"), absl::StrCat(kBatches * kStepsPerBatch));
  for (int b = 1; b <= kBatches; ++b) EXPECT_EQ(*store_->Get(absl::StrCat("batch/", b)), "done") << b;

  // Every output once, in order (one partition, one key).
  KafkaConsumer::Options options;
  options.brokers = (*kafka)->bootstrap_servers();
  options.group_id = "committer-test-reader";
  options.topics = {kOutputs};
  auto consumer = KafkaConsumer::Create(options);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  auto outputs = ReadRecords(**consumer, kBatches * kStepsPerBatch);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), static_cast<size_t>(kBatches * kStepsPerBatch));
  for (size_t i = 0; i < outputs->size(); ++i) ASSERT_EQ((*outputs)[i].payload, absl::StrCat(i + 1)) << i;
}

// Nothing acknowledges the outputs (no broker is listening): the batch is never written, the
// batch handed over after it is refused, and the error says why.
TEST_F(BatchCommitterTest, ABatchWhoseOutputsAreNotAcknowledgedIsNeverWritten) {
  auto producer = KafkaProducer::Create("127.0.0.1:1");
  ASSERT_TRUE(producer.ok()) << producer.status();
  BatchCommitter committer("test", producer->get(), nullptr, absl::Milliseconds(300));

  BatchCommitter::Batch first;
  first.staged = std::make_unique<StagedWrites>(store_.get(), committer.last_staged());
  first.staged->Put("pf/1", "first");
  ASSERT_TRUE((*producer)->Produce(kOutputs, "k", "v").ok());
  first.outputs = 1;
  ASSERT_TRUE(committer.Submit(std::move(first)).ok());  // taken: it fails later

  BatchCommitter::Batch second;
  second.staged = std::make_unique<StagedWrites>(store_.get(), committer.last_staged());
  EXPECT_EQ(*second.staged->Get("pf/1"), "first");  // the next batch sees it while it is in flight
  second.staged->Put("pf/2", "second");
  const absl::Status refused = committer.Submit(std::move(second));
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_NE(refused.message().find("not acknowledged"), std::string::npos) << refused;
  EXPECT_EQ(committer.Drain().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(*store_->Get("pf/1"), std::nullopt);
  EXPECT_EQ(*store_->Get("pf/2"), std::nullopt);
}

// A batch without outputs (everything deduplicated, say) is written without waiting.
TEST_F(BatchCommitterTest, ABatchWithoutOutputsIsWrittenAtOnce) {
  auto producer = KafkaProducer::Create("127.0.0.1:1");
  ASSERT_TRUE(producer.ok()) << producer.status();
  BatchCommitter committer("test", producer->get(), nullptr, absl::Milliseconds(300));
  BatchCommitter::Batch batch;
  batch.staged = std::make_unique<StagedWrites>(store_.get(), nullptr);
  batch.staged->Put("of/x", "7");
  ASSERT_TRUE(committer.Submit(std::move(batch)).ok());
  ASSERT_TRUE(committer.Drain().ok());
  EXPECT_EQ(*store_->Get("of/x"), "7");
}

// A stateful batch's offsets are in its WriteBatch, so the group hears of them at most once per
// interval and at Drain; a stateless batch's offsets are where its stage resumes, so every batch
// commits them.
TEST_F(BatchCommitterTest, StatefulBatchesCommitGroupOffsetsOncePerIntervalAndAtDrainStatelessOnesEachBatch) {
  auto kafka = EmbeddedKafka::Start();
  ASSERT_TRUE(kafka.ok()) << kafka.status();
  constexpr char kInputs[] = "committer.inputs";
  constexpr char kGroup[] = "committer-group";
  ASSERT_TRUE((*kafka)->CreateTopics({{kInputs, 1, {}}}).ok());
  const std::string brokers = (*kafka)->bootstrap_servers();
  auto producer = KafkaProducer::Create(brokers);
  ASSERT_TRUE(producer.ok()) << producer.status();
  ASSERT_TRUE((*producer)->Produce(kInputs, "k", "v").ok());
  ASSERT_TRUE((*producer)->Flush(absl::Seconds(10)).ok());
  KafkaConsumer::Options options;
  options.brokers = brokers;
  options.group_id = kGroup;
  options.topics = {kInputs};
  auto consumer = KafkaConsumer::Create(options);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  auto joined = ReadRecords(**consumer, 1);  // a member of the group once it has read the record
  ASSERT_TRUE(joined.ok()) << joined.status();
  ASSERT_EQ(joined->size(), 1u);
  auto committed = [&]() -> int64_t {
    auto lag = ReadGroupLag(brokers, kGroup, {kInputs});
    EXPECT_TRUE(lag.ok()) << lag.status();
    return lag.ok() && lag->size() == 1 ? (*lag)[0].committed : -2;
  };
  const TopicPartition partition{kInputs, 0};
  auto stateful = [&](BatchCommitter& committer, int64_t next) {
    BatchCommitter::Batch batch;
    batch.staged = std::make_unique<StagedWrites>(store_.get(), committer.last_staged());
    batch.staged->Put("of/x", absl::StrCat(next));
    batch.next_offsets[partition] = next;
    return committer.Submit(std::move(batch));
  };

  BatchCommitter committer("test", producer->get(), consumer->get(), absl::Seconds(10), absl::Hours(1));
  ASSERT_TRUE(stateful(committer, 3).ok());  // the first is committed at once
  ASSERT_TRUE(stateful(committer, 6).ok());
  ASSERT_TRUE(stateful(committer, 9).ok());  // returns once 6 is done: written, not reported
  EXPECT_EQ(committed(), 3);
  ASSERT_TRUE(committer.Drain().ok());
  EXPECT_EQ(*store_->Get("of/x"), "9");
  EXPECT_EQ(committed(), 9);

  BatchCommitter::Batch stateless;
  stateless.next_offsets[partition] = 12;
  ASSERT_TRUE(committer.Submit(std::move(stateless)).ok());
  BatchCommitter::Batch next;
  next.next_offsets[partition] = 12;  // the same: Submit returns once the one before is committed
  ASSERT_TRUE(committer.Submit(std::move(next)).ok());
  EXPECT_EQ(committed(), 12);
  ASSERT_TRUE(committer.Drain().ok());
}

}  // namespace
}  // namespace tessera::app
