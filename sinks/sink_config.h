// Destinations from configuration: the `sinks:` section of the YAML file `--config` names
// (docs/sinks.md has every key and its default). Example:
//
//   sinks:
//     destinations:
//       - name: crm
//         type: webhook                       # or kafka (then `topic:` instead of `url:`)
//         url: http://127.0.0.1:8099/hooks/tessera
//         events: [profile_updates, {segment_changes: {segments: [vip]}}, triggers]
//         purposes: [email_marketing]         # consent required for every one of them
//         fields: [id, identifiers, traits]   # top-level profile JSON fields sent
//         batch: {max_size: 100, max_wait_ms: 100}
//         timeout_ms: 10000
//         rate_limit_per_s: 50                # requests per second; 0 = unlimited
//         retry: {max_window_s: 3600, base_ms: 200, max_ms: 60000}
//         secret_env: CRM_WEBHOOK_SECRET      # or secret: "..."
//
// Thread-safety: plain functions and values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::sinks {

enum class DestinationType { kWebhook, kKafka };

struct RetryPolicy {
  int64_t max_window_ms = 3'600'000;  // after this long failing, the change is dead-lettered
  int64_t base_ms = 200;              // first backoff cap; doubles per attempt (full jitter)
  int64_t max_ms = 60'000;            // backoff cap
};

struct DestinationConfig {
  std::string name;
  DestinationType type = DestinationType::kWebhook;
  std::string url;    // webhook
  std::string topic;  // kafka destination: the topic written (keyed by profile id)
  bool profile_updates = true;
  bool segment_changes = false;
  std::vector<std::string> segments;  // segment_changes of these segments only (empty: all)
  bool triggers = false;
  // When set, exactly these input topics (without the prefix); otherwise derived from the events.
  std::vector<std::string> input_topics;
  std::vector<std::string> purposes;
  std::vector<std::string> fields;  // empty: the whole profile
  size_t batch_max_size = 100;
  int64_t batch_max_wait_ms = 100;
  int64_t timeout_ms = 10'000;
  double rate_limit_per_s = 0;  // requests (webhook) or batches (kafka) per second; 0 = unlimited
  size_t max_in_flight = 8;     // concurrent requests (kafka: batches not yet acknowledged)
  size_t max_pending = 20'000;  // records held in memory before the consumer pauses
  RetryPolicy retry;
  std::string secret;
};

// A Kafka destination keeps producing while earlier batches wait for their acknowledgements, so
// its default allows many more batches in flight than a webhook's concurrent requests.
inline constexpr size_t kKafkaDefaultMaxInFlight = 64;

// Parses the `sinks:` section of a YAML document (absent: no destinations). InvalidArgument names
// the offending key.
absl::StatusOr<std::vector<DestinationConfig>> ParseSinksConfig(std::string_view yaml_text);
absl::StatusOr<std::vector<DestinationConfig>> LoadSinksConfig(const std::string& path);

// The topics a destination's worker reads, with `prefix` (e.g. "tessera.").
std::vector<std::string> InputTopics(const DestinationConfig& destination, std::string_view prefix);
// Its consumer group and dead-letter topic.
std::string ConsumerGroup(const DestinationConfig& destination, std::string_view prefix);
std::string DeadLetterTopic(const DestinationConfig& destination, std::string_view prefix);

}  // namespace tessera::sinks
