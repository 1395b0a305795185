#include "sinks/sink_config.h"

#include <gtest/gtest.h>

#include "sinks/delivery_worker.h"

namespace tessera::sinks {
namespace {

TEST(SinkConfigTest, ParsesEveryKey) {
  auto parsed = ParseSinksConfig(R"(
sinks:
  destinations:
    - name: crm
      type: webhook
      url: http://127.0.0.1:8099/hook
      events: [profile_updates, {segment_changes: {segments: [vip, churn_risk]}}, triggers]
      purposes: [email_marketing, analytics]
      fields: [id, traits]
      batch: {max_size: 50, max_wait_ms: 20}
      timeout_ms: 1500
      rate_limit_per_s: 10
      retry: {max_window_s: 30, base_ms: 100, max_ms: 2000}
      secret: abc
    - name: ads
      type: kafka
      topic: partner.ads
      purposes: [advertising]
)");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), 2u);
  const DestinationConfig& crm = (*parsed)[0];
  EXPECT_EQ(crm.url, "http://127.0.0.1:8099/hook");
  EXPECT_TRUE(crm.profile_updates && crm.segment_changes && crm.triggers);
  EXPECT_EQ(crm.segments, (std::vector<std::string>{"vip", "churn_risk"}));
  EXPECT_EQ(crm.purposes, (std::vector<std::string>{"email_marketing", "analytics"}));
  EXPECT_EQ(crm.batch_max_size, 50u);
  EXPECT_EQ(crm.batch_max_wait_ms, 20);
  EXPECT_EQ(crm.timeout_ms, 1500);
  EXPECT_EQ(crm.rate_limit_per_s, 10);
  EXPECT_EQ(crm.retry.max_window_ms, 30000);
  EXPECT_EQ(crm.retry.base_ms, 100);
  EXPECT_EQ(crm.secret, "abc");
  EXPECT_EQ(InputTopics(crm, "t."),
            (std::vector<std::string>{"t.profile-updates", "t.segment-changes", "t.triggers"}));
  const DestinationConfig& ads = (*parsed)[1];
  EXPECT_EQ(ads.type, DestinationType::kKafka);
  EXPECT_EQ(ads.topic, "partner.ads");
  EXPECT_EQ(InputTopics(ads, "t."), (std::vector<std::string>{"t.profile-updates"}));
  EXPECT_EQ(ConsumerGroup(ads, "t."), "t.sink.ads");
  EXPECT_EQ(DeadLetterTopic(ads, "t."), "t.sink.ads.dlq");
  // A Kafka destination keeps many batches unacknowledged by default; a webhook a few requests.
  EXPECT_EQ(ads.max_in_flight, kKafkaDefaultMaxInFlight);
  EXPECT_EQ(crm.max_in_flight, DestinationConfig().max_in_flight);
  auto explicit_cap = ParseSinksConfig("sinks: {destinations: [{name: a, type: kafka, topic: t, max_in_flight: 3}]}");
  ASSERT_TRUE(explicit_cap.ok()) << explicit_cap.status();
  EXPECT_EQ((*explicit_cap)[0].max_in_flight, 3u);
}

TEST(SinkConfigTest, RejectsWhatWouldFailLater) {
  EXPECT_FALSE(ParseSinksConfig("sinks: {destinations: [{name: a, type: webhook, url: 'http://x'}]}").ok())
      << "a webhook without a secret cannot be signed";
  EXPECT_FALSE(ParseSinksConfig("sinks: {destinations: [{name: a, type: kafka}]}").ok());
  EXPECT_FALSE(ParseSinksConfig("sinks: {destinations: [{name: 'a b', type: kafka, topic: t}]}").ok());
  EXPECT_FALSE(
      ParseSinksConfig("sinks: {destinations: [{name: a, type: kafka, topic: t}, {name: a, type: kafka, topic: u}]}")
          .ok());
  EXPECT_FALSE(ParseSinksConfig("sinks: {destinations: [{name: a, type: kafka, topic: t, events: [clicks]}]}").ok());
  auto none = ParseSinksConfig("identity: {}");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(RetryDelayTest, FullJitterWithinTheDoublingCapAndNeverBelowRetryAfter) {
  RetryPolicy policy{.max_window_ms = 60000, .base_ms = 100, .max_ms = 1000};
  for (uint64_t bits = 0; bits < 5000; bits += 7) {
    EXPECT_LE(RetryDelayMs(policy, 1, -1, bits), 100);
    EXPECT_LE(RetryDelayMs(policy, 3, -1, bits), 400);
    EXPECT_LE(RetryDelayMs(policy, 30, -1, bits), 1000);
    EXPECT_GE(RetryDelayMs(policy, 1, 2000, bits), 2000);
  }
  EXPECT_EQ(RetryDelayMs(policy, 3, -1, 400), 400);
  EXPECT_EQ(RetryDelayMs(policy, 3, -1, 401), 0);
}

}  // namespace
}  // namespace tessera::sinks
