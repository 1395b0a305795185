// Transports: how a destination's batches leave the process. The worker (delivery_worker.h) hands
// a transport batches of rendered items and collects one result per batch; the transport never
// retries by itself, so the retry policy (and per-profile order) lives in one place.
//
// - WebhookTransport: one HTTP POST per batch through libcurl's multi interface, so many requests
//   are in flight on one thread without a thread per request. Each request is signed
//   (sinks/signature.h) and carries the content type, X-Tessera-Timestamp, and, for a one-item
//   batch, Idempotency-Key. 2xx = delivered; 408, 429 (Retry-After in seconds honoured), 5xx,
//   timeouts and connection errors = retry; any other status = permanent (dead-lettered at once).
// - KafkaTopicTransport: each item is a record of the destination's topic keyed by profile id,
//   with content-type and idempotency-key headers; a batch is delivered when the delivery report
//   of each of its records says so (idempotent producer, acks=all). Batches are never flushed one
//   by one: the producer keeps batching (linger.ms) while up to max_in_flight batches wait.
//
// Thread-safety: a transport belongs to its destination's worker thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sinks/sink_config.h"

namespace tessera::sinks {

struct OutgoingItem {
  std::string profile_key;  // profile id as decimal text
  std::string idempotency_key;
  std::string json;
};

struct SendResult {
  enum class Outcome { kDelivered, kRetry, kPermanent };
  uint64_t request_id = 0;
  Outcome outcome = Outcome::kDelivered;
  int64_t retry_after_ms = -1;  // the receiver's Retry-After, when it gave one
  std::string error;            // why it failed (HTTP status and body excerpt, curl error)
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Starts sending one batch; its SendResult comes from a later Poll. The caller keeps `items`
  // alive and unchanged until then, and until the transport is destroyed if it never came: a
  // Kafka transport hands librdkafka the items' bytes without copying them.
  virtual void Send(uint64_t request_id, const std::vector<OutgoingItem>& items) = 0;
  // Waits up to `max_wait` for progress and returns the batches finished since the last call.
  virtual std::vector<SendResult> Poll(absl::Duration max_wait) = 0;
  virtual size_t in_flight() const = 0;
};

absl::StatusOr<std::unique_ptr<Transport>> MakeWebhookTransport(const DestinationConfig& destination);
absl::StatusOr<std::unique_ptr<Transport>> MakeKafkaTopicTransport(const DestinationConfig& destination,
                                                                   const std::string& brokers);

}  // namespace tessera::sinks
