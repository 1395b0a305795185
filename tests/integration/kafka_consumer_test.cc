// KafkaConsumer::PollBatch (common/kafka.h): how long it waits for a batch to fill. On librdkafka's
// mock cluster (in process).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/kafka.h"
#include "tests/fakes/kafka_reading.h"

namespace tessera {
namespace {

constexpr char kTopic[] = "consumer.inputs";

class PollBatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kafka = EmbeddedKafka::Start();
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = *std::move(kafka);
    ASSERT_TRUE(kafka_->CreateTopics({{kTopic, 1, {}}}).ok());
    auto producer = KafkaProducer::Create(kafka_->bootstrap_servers());
    ASSERT_TRUE(producer.ok()) << producer.status();
    producer_ = *std::move(producer);
    KafkaConsumer::Options options;
    options.brokers = kafka_->bootstrap_servers();
    options.group_id = "poll-batch-test";
    options.topics = {kTopic};
    auto consumer = KafkaConsumer::Create(options);
    ASSERT_TRUE(consumer.ok()) << consumer.status();
    consumer_ = *std::move(consumer);
    // Joined and positioned once the first record is read.
    ASSERT_TRUE(producer_->Produce(kTopic, "k", "warm-up").ok());
    ASSERT_TRUE(producer_->Flush(absl::Seconds(10)).ok());
    auto joined = ReadRecords(*consumer_, 1);
    ASSERT_TRUE(joined.ok()) << joined.status();
    ASSERT_EQ(joined->size(), 1u);
  }

  struct Poll {
    size_t records = 0;
    absl::Duration took;
  };
  // Produces one record now and another `gap` later (on a thread), then polls once.
  Poll PollAcrossAGap(absl::Duration gap, absl::Duration linger) {
    EXPECT_TRUE(producer_->Produce(kTopic, "k", "first").ok());
    EXPECT_TRUE(producer_->Flush(absl::Seconds(10)).ok());
    std::thread later([&] {
      absl::SleepFor(gap);
      EXPECT_TRUE(producer_->Produce(kTopic, "k", "second").ok());
      EXPECT_TRUE(producer_->Flush(absl::Seconds(10)).ok());
    });
    const absl::Time start = absl::Now();
    auto polled = consumer_->PollBatch(100, absl::Seconds(5), linger);
    const absl::Duration took = absl::Now() - start;
    later.join();
    EXPECT_TRUE(polled.ok()) << polled.status();
    const size_t got = polled.ok() ? polled->size() : 0;
    // The record a short batch left out did arrive: the batch was cut by the linger, not by a
    // record that never came.
    auto rest = ReadRecords(*consumer_, 2 - std::min<size_t>(got, 2));
    EXPECT_TRUE(rest.ok()) << rest.status();
    EXPECT_EQ(got + (rest.ok() ? rest->size() : 0), 2u);
    return {got, took};
  }

  std::unique_ptr<EmbeddedKafka> kafka_;
  std::unique_ptr<KafkaProducer> producer_;
  std::unique_ptr<KafkaConsumer> consumer_;
};

TEST_F(PollBatchTest, WithoutLingerABatchIsWhatHadArrived) {
  EXPECT_EQ(PollAcrossAGap(absl::Milliseconds(500), absl::ZeroDuration()).records, 1u);
}

TEST_F(PollBatchTest, WithLingerABatchWaitsForRecordsThatArriveSoonAfterItsFirst) {
  EXPECT_EQ(PollAcrossAGap(absl::Milliseconds(200), absl::Seconds(2)).records, 2u);
}

TEST_F(PollBatchTest, LingerEndsTheWaitBeforeTheTimeoutWhenTheBatchIsNotFull) {
  const Poll poll = PollAcrossAGap(absl::Seconds(3), absl::Milliseconds(100));
  EXPECT_EQ(poll.records, 1u);
  EXPECT_LT(poll.took, absl::Seconds(2)) << "waited for the 5 s timeout, not the 100 ms linger";
}

}  // namespace
}  // namespace tessera
