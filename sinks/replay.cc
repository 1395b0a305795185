#include "sinks/replay.h"

#include <map>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "simdjson.h"
#include "sinks/delivery_worker.h"
#include "sinks/transport.h"

namespace tessera::sinks {
namespace {

// Sends one batch until it is delivered or the retry window is spent.
absl::Status SendWithRetries(const DestinationConfig& d, Transport& transport, const std::vector<OutgoingItem>& items,
                             std::mt19937_64& random) {
  const absl::Time first = absl::Now();
  for (int attempt = 1;; ++attempt) {
    transport.Send(static_cast<uint64_t>(attempt), items);
    std::vector<SendResult> results;
    while (results.empty()) results = transport.Poll(absl::Milliseconds(100));
    const SendResult& result = results.front();
    if (result.outcome == SendResult::Outcome::kDelivered) return absl::OkStatus();
    if (result.outcome == SendResult::Outcome::kPermanent ||
        absl::Now() - first >= absl::Milliseconds(d.retry.max_window_ms)) {
      return absl::UnavailableError(absl::StrCat("replay to ", d.name, " failed: ", result.error));
    }
    absl::SleepFor(absl::Milliseconds(RetryDelayMs(d.retry, attempt, result.retry_after_ms, random())));
  }
}

}  // namespace

absl::StatusOr<int64_t> ReplayDeadLetters(const DestinationConfig& d, const std::string& brokers,
                                          const std::string& prefix) {
  std::unique_ptr<Transport> transport;
  if (d.type == DestinationType::kWebhook) {
    ASSIGN_OR_RETURN(transport, MakeWebhookTransport(d));
  } else {
    ASSIGN_OR_RETURN(transport, MakeKafkaTopicTransport(d, brokers));
  }
  KafkaConsumer::Options options;
  options.brokers = brokers;
  options.group_id = ConsumerGroup(d, prefix) + ".replay";
  options.topics = {DeadLetterTopic(d, prefix)};
  ASSIGN_OR_RETURN(std::unique_ptr<KafkaConsumer> consumer, KafkaConsumer::Create(std::move(options)));
  std::mt19937_64 random{std::random_device{}()};
  simdjson::dom::parser parser;
  int64_t replayed = 0;
  // The group needs a moment to get its assignment; after that, an empty poll means caught up.
  const absl::Time patience = absl::Now() + absl::Seconds(10);
  while (true) {
    ASSIGN_OR_RETURN(std::vector<KafkaMessage> batch, consumer->PollBatch(d.batch_max_size, absl::Seconds(2)));
    if (batch.empty()) {
      if (!consumer->Assignment().empty() || absl::Now() > patience) break;
      continue;
    }
    std::vector<OutgoingItem> items;
    std::map<TopicPartition, int64_t> next;
    for (const KafkaMessage& m : batch) {
      next[{m.topic, m.partition}] = m.offset + 1;
      simdjson::dom::element doc;
      simdjson::dom::element item;
      std::string_view key;
      if (parser.parse(m.payload).get(doc) || doc["item"].get(item) || doc["idempotency_key"].get(key)) {
        LogWarning(absl::StrCat("replay ", d.name, ": skipping unreadable dead letter at ", m.topic, "[", m.partition,
                                "]@", m.offset));
        continue;
      }
      items.push_back(OutgoingItem{m.key, std::string(key), simdjson::minify(item)});
    }
    if (!items.empty()) RETURN_IF_ERROR(SendWithRetries(d, *transport, items, random));
    RETURN_IF_ERROR(consumer->Commit(next));
    replayed += static_cast<int64_t>(items.size());
  }
  consumer->Close();
  return replayed;
}

absl::Status RewindDestination(const DestinationConfig& d, const std::string& brokers, const std::string& prefix) {
  const std::string group = ConsumerGroup(d, prefix);
  for (const std::string& topic : InputTopics(d, prefix)) {
    ASSIGN_OR_RETURN(std::vector<GroupPartitionLag> partitions, ReadGroupLag(brokers, group, {topic}));
    KafkaConsumer::Options options;
    options.brokers = brokers;
    options.group_id = group;
    options.topics = {topic};
    std::map<TopicPartition, int64_t> start;
    for (const GroupPartitionLag& p : partitions) {
      options.owned_partitions.push_back(p.partition);
      start[{topic, p.partition}] = p.low_watermark;
    }
    if (start.empty()) continue;
    ASSIGN_OR_RETURN(std::unique_ptr<KafkaConsumer> consumer, KafkaConsumer::Create(std::move(options)));
    absl::Status status = consumer->Commit(start);
    consumer->Close();
    if (!status.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("rewinding ", group, " on ", topic, ": ", status.ToString(), " (is `sinks deliver` running?)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace tessera::sinks
