// KafkaTopicTransport (see transport.h).
#include <deque>

#include "absl/strings/str_cat.h"
#include "common/kafka.h"
#include "sinks/profile_updates.h"
#include "sinks/transport.h"

namespace tessera::sinks {
namespace {

class KafkaTopicTransport final : public Transport {
 public:
  KafkaTopicTransport(const DestinationConfig& destination, std::unique_ptr<KafkaProducer> producer)
      : destination_(destination), producer_(std::move(producer)) {}

  void Send(uint64_t request_id, const std::vector<OutgoingItem>& items) override {
    absl::Status status = absl::OkStatus();
    for (const OutgoingItem& item : items) {
      status = producer_->Produce(destination_.topic, item.profile_key, item.json,
                                  {{"content-type", kJsonContentType}, {"idempotency-key", item.idempotency_key}},
                                  std::nullopt, absl::Seconds(1));
      if (!status.ok()) break;
      ++produced_;
    }
    if (status.ok()) {
      unfinished_.push_back(Pending{request_id, produced_, producer_->failed_count()});
    } else {
      // Some items may be on their way; the retry resends them and the key dedupes.
      failed_.push_back(SendResult{request_id, SendResult::Outcome::kRetry, -1, status.ToString()});
    }
  }

  // Delivery reports arrive in produce order overall only per partition, so a batch counts as
  // finished once as many reports arrived as records were produced up to its end, and as
  // delivered only if no delivery failed since it was sent (otherwise it is retried whole).
  std::vector<SendResult> Poll(absl::Duration max_wait) override {
    std::vector<SendResult> out = std::move(failed_);
    failed_.clear();
    if (unfinished_.empty()) return out;
    // Serves delivery reports; a timeout here only means some are still outstanding.
    const absl::Status flushed = producer_->Flush(max_wait);
    if (!flushed.ok()) last_error_ = flushed.ToString();
    const int64_t failed = producer_->failed_count();
    const int64_t reported = producer_->delivered_count() + failed;
    while (!unfinished_.empty() && (reported >= unfinished_.front().produced_end || flushed.ok())) {
      const Pending& p = unfinished_.front();
      out.push_back(failed == p.failed_before
                        ? SendResult{p.request_id, SendResult::Outcome::kDelivered, -1, ""}
                        : SendResult{p.request_id, SendResult::Outcome::kRetry, -1,
                                     last_error_});
      unfinished_.pop_front();
    }
    return out;
  }

  size_t in_flight() const override { return unfinished_.size() + failed_.size(); }

 private:
  struct Pending {
    uint64_t request_id;
    int64_t produced_end;   // records produced by this transport up to and including this batch
    int64_t failed_before;  // the producer's failure count when it was sent
  };
  const DestinationConfig destination_;
  std::unique_ptr<KafkaProducer> producer_;
  int64_t produced_ = 0;
  std::string last_error_;
  std::deque<Pending> unfinished_;
  std::vector<SendResult> failed_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> MakeKafkaTopicTransport(const DestinationConfig& destination,
                                                                   const std::string& brokers) {
  auto producer = KafkaProducer::Create(brokers, {{"linger.ms", "5"}});
  if (!producer.ok()) return producer.status();
  return std::unique_ptr<Transport>(new KafkaTopicTransport(destination, *std::move(producer)));
}

}  // namespace tessera::sinks
