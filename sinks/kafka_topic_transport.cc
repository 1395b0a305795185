// KafkaTopicTransport (see transport.h).
#include <map>

#include "absl/strings/str_cat.h"
#include "common/kafka.h"
#include "sinks/profile_updates.h"
#include "sinks/transport.h"

namespace tessera::sinks {
namespace {

// Keeps producing while earlier batches wait for their acknowledgements: each record carries its
// batch's request id as the delivery-report ticket, and a batch finishes when its last record is
// reported. Nothing here flushes (a flush would send at once and defeat linger.ms batching), so
// throughput is bound by CPU, not by one broker round trip per batch.
class KafkaTopicTransport final : public Transport {
 public:
  KafkaTopicTransport(const DestinationConfig& destination, std::unique_ptr<KafkaProducer> producer)
      : destination_(destination),
        producer_(std::move(producer)),
        headers_{{"content-type", kJsonContentType}, {"idempotency-key", ""}} {}

  void Send(uint64_t request_id, const std::vector<OutgoingItem>& items) override {
    Batch& batch = batches_[request_id];
    for (const OutgoingItem& item : items) {
      headers_[1].value = item.idempotency_key;
      // Borrowed, not copied: the worker keeps the batch until Poll reports it finished, which is
      // after every record's delivery report (transport.h).
      absl::Status status = producer_->ProduceTracked(request_id, destination_.topic, item.profile_key, item.json,
                                                      headers_, absl::Seconds(1), KafkaProducer::ValueBuffer::kBorrow);
      if (!status.ok()) {
        // The records already enqueued still get reports; the batch is retried whole once they
        // have, so a resend never races an earlier copy of the same change.
        batch.failed = true;
        batch.error = status.ToString();
        break;
      }
      ++batch.outstanding;
    }
    if (batch.outstanding == 0) Finish(batches_.find(request_id), finished_);
  }

  std::vector<SendResult> Poll(absl::Duration max_wait) override {
    std::vector<SendResult> out = std::move(finished_);
    finished_.clear();
    if (batches_.empty()) return out;
    for (KafkaProducer::DeliveryReport& report :
         producer_->TakeDeliveryReports(out.empty() ? max_wait : absl::ZeroDuration())) {
      auto it = batches_.find(report.ticket);
      if (it == batches_.end()) continue;
      if (!report.delivered && !it->second.failed) {
        it->second.failed = true;
        it->second.error = std::move(report.error);
      }
      it->second.outstanding -= report.records;
      if (it->second.outstanding == 0) Finish(it, out);
    }
    return out;
  }

  size_t in_flight() const override { return batches_.size(); }

 private:
  struct Batch {
    int64_t outstanding = 0;  // records produced and not yet reported
    bool failed = false;
    std::string error;
  };

  void Finish(std::map<uint64_t, Batch>::iterator it, std::vector<SendResult>& out) {
    out.push_back(it->second.failed
                      ? SendResult{it->first, SendResult::Outcome::kRetry, -1, std::move(it->second.error)}
                      : SendResult{it->first, SendResult::Outcome::kDelivered, -1, ""});
    batches_.erase(it);
  }

  const DestinationConfig destination_;
  std::unique_ptr<KafkaProducer> producer_;
  std::vector<KafkaHeader> headers_;  // reused per record: content type, then the idempotency key
  std::map<uint64_t, Batch> batches_;
  std::vector<SendResult> finished_;  // batches that failed before any record was enqueued
};

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> MakeKafkaTopicTransport(const DestinationConfig& destination,
                                                                   const std::string& brokers) {
  // Batches of ~10 ms: nothing waits on one record, and bigger produce requests cost the broker
  // (on the same cores here) less per record.
  auto producer = KafkaProducer::Create(brokers, {{"linger.ms", "10"}});
  if (!producer.ok()) return producer.status();
  return std::unique_ptr<Transport>(new KafkaTopicTransport(destination, *std::move(producer)));
}

}  // namespace tessera::sinks
