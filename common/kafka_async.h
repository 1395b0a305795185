// A Kafka producer that reports each record's delivery to its own receiver, for callers that must
// answer many independent requests (the HTTP collector): a request waits for its own records'
// acknowledgements, never for one global Flush() that also covers every other request's records.
// With kafka.cc, the only code that touches librdkafka.
//
// Delivery semantics as KafkaProducer's: idempotent, acks=all, so an OK delivery report means the
// record is durable on the broker, in order per partition, without duplicates from retries.
//
// Thread-safety: FindTopic() and Produce() may be called from any thread. Each receiver's OnDelivery() is called
// exactly once per record accepted by Produce(), on the producer's own delivery thread; it must be
// quick and must not call back into the producer. The receiver must stay alive until then. The
// destructor waits (up to `close_timeout`) for outstanding reports, then fails the rest, so every
// receiver hears about every record it was promised.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/kafka.h"

struct rd_kafka_topic_s;

namespace tessera {
namespace kafka_internal {
class TopicHandles;
}

class DeliveryReceiver {
 public:
  virtual ~DeliveryReceiver() = default;
  // OK when the broker acknowledged the record; Unavailable (with librdkafka's reason) when it
  // could not be delivered within the producer's message timeout.
  virtual void OnDelivery(const absl::Status& status) = 0;
};

class AsyncKafkaProducer {
 public:
  struct Options {
    std::string brokers;
    // How long a record may wait for the broker before its delivery fails (message.timeout.ms):
    // the longest a caller waits when Kafka is unreachable.
    absl::Duration delivery_timeout = absl::Seconds(10);
    absl::Duration close_timeout = absl::Seconds(10);
    KafkaConfig extra;  // overrides or adds librdkafka properties
  };

  static absl::StatusOr<std::unique_ptr<AsyncKafkaProducer>> Create(const Options& options);
  ~AsyncKafkaProducer();
  AsyncKafkaProducer(const AsyncKafkaProducer&) = delete;
  AsyncKafkaProducer& operator=(const AsyncKafkaProducer&) = delete;

  // A topic's librdkafka handle, made once per name (kafka_internal::TopicHandles says why) and
  // valid as long as the producer.
  class Topic {
   private:
    friend class AsyncKafkaProducer;
    explicit Topic(rd_kafka_topic_s* handle) : handle_(handle) {}
    rd_kafka_topic_s* handle_;
  };
  // InvalidArgument if librdkafka refuses the name.
  absl::StatusOr<Topic> FindTopic(std::string_view name);

  // Enqueues one record (key-hashed partitioning) without waiting. OK: `receiver` will hear of its
  // delivery. Unavailable: the local queue is full (back off; nothing enqueued, no report).
  // InvalidArgument: librdkafka refused the record (e.g. too large; no report).
  // ValueBuffer::kBorrow (KafkaProducer's): librdkafka reads `value` in place when it sends it, so
  // the caller keeps those bytes alive and unchanged until `receiver` heard of the record; kCopy:
  // librdkafka copies them here. The key and headers are always copied.
  absl::Status Produce(Topic topic, std::string_view key, std::string_view value,
                       const std::vector<KafkaHeader>& headers, DeliveryReceiver* receiver,
                       KafkaProducer::ValueBuffer value_buffer = KafkaProducer::ValueBuffer::kCopy);

  // Records enqueued whose delivery report has not been served yet.
  int64_t outstanding() const { return outstanding_.load(std::memory_order_relaxed); }

 private:
  AsyncKafkaProducer(rd_kafka_s* rk, absl::Duration close_timeout);
  void PollLoop();

  rd_kafka_s* rk_;
  const absl::Duration close_timeout_;
  std::unique_ptr<kafka_internal::TopicHandles> topics_;
  std::atomic<int64_t> outstanding_{0};
  std::atomic<bool> stop_{false};
  std::thread poller_;
};

}  // namespace tessera
