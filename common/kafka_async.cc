#include "common/kafka_async.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/kafka_internal.h"

namespace tessera {
namespace {

void OnAsyncDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* producer_outstanding) {
  auto* receiver = static_cast<DeliveryReceiver*>(message->_private);
  static_cast<std::atomic<int64_t>*>(producer_outstanding)->fetch_sub(1, std::memory_order_relaxed);
  if (receiver == nullptr) return;
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    receiver->OnDelivery(absl::OkStatus());
  } else {
    receiver->OnDelivery(absl::UnavailableError(
        absl::StrCat("delivery to ", rd_kafka_topic_name(message->rkt), " failed: ", rd_kafka_err2str(message->err))));
  }
}

}  // namespace

AsyncKafkaProducer::AsyncKafkaProducer(rd_kafka_t* rk, absl::Duration close_timeout)
    : rk_(rk), close_timeout_(close_timeout), topics_(std::make_unique<kafka_internal::TopicHandles>()) {}

absl::StatusOr<std::unique_ptr<AsyncKafkaProducer>> AsyncKafkaProducer::Create(const Options& options) {
  KafkaConfig settings = kafka_internal::IdempotentProducerSettings(options.brokers);
  // A request waits for its own records: keep the linger short (5 ms, the batch producer's, nearly
  // halved single /v1/track calls a second and bought batches nothing: docs/collector.md). (Built
  // as one map, not by assigning literals: GCC 12 warns falsely (-Wrestrict) on std::string = "2".)
  const KafkaConfig overrides = {
      {"linger.ms", "2"},
      {"message.timeout.ms", std::to_string(std::max<int64_t>(1, absl::ToInt64Milliseconds(options.delivery_timeout)))},
  };
  for (const auto& [k, v] : overrides) settings.insert_or_assign(k, v);
  for (const auto& [k, v] : options.extra) settings.insert_or_assign(k, v);
  absl::StatusOr<rd_kafka_conf_t*> made = kafka_internal::MakeConf(settings);
  if (!made.ok()) return made.status();
  rd_kafka_conf_t* conf = *made;
  char err[512];
  rd_kafka_conf_set_dr_msg_cb(conf, OnAsyncDelivery);
  // The opaque is set once the object exists (below); librdkafka reads it at callback time.
  auto producer = std::unique_ptr<AsyncKafkaProducer>(new AsyncKafkaProducer(nullptr, options.close_timeout));
  rd_kafka_conf_set_opaque(conf, &producer->outstanding_);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InvalidArgumentError(absl::StrCat("create kafka producer: ", err));
  }
  producer->rk_ = rk;
  producer->poller_ = std::thread([p = producer.get()] { p->PollLoop(); });
  return producer;
}

void AsyncKafkaProducer::PollLoop() {
  while (!stop_.load(std::memory_order_acquire)) rd_kafka_poll(rk_, 50);
}

AsyncKafkaProducer::~AsyncKafkaProducer() {
  if (rk_ == nullptr) return;
  stop_.store(true, std::memory_order_release);
  if (poller_.joinable()) poller_.join();
  rd_kafka_flush(rk_, static_cast<int>(absl::ToInt64Milliseconds(close_timeout_)));
  // Whatever is still queued fails now, and its receivers hear so from the poll below.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  while (outstanding_.load() > 0) rd_kafka_poll(rk_, 100);
  topics_->DestroyAll();
  rd_kafka_destroy(rk_);
}

absl::StatusOr<AsyncKafkaProducer::Topic> AsyncKafkaProducer::FindTopic(std::string_view name) {
  absl::StatusOr<rd_kafka_topic_t*> handle = topics_->Find(rk_, name);
  if (!handle.ok()) return handle.status();
  return Topic(*handle);
}

absl::Status AsyncKafkaProducer::Produce(Topic topic, std::string_view key, std::string_view value,
                                         const std::vector<KafkaHeader>& headers, DeliveryReceiver* receiver,
                                         KafkaProducer::ValueBuffer value_buffer) {
  rd_kafka_headers_t* hdrs = kafka_internal::MakeHeaders(headers);
  const int msgflags = value_buffer == KafkaProducer::ValueBuffer::kCopy ? RD_KAFKA_MSG_F_COPY : 0;
  outstanding_.fetch_add(1, std::memory_order_relaxed);
  rd_kafka_resp_err_t err = rd_kafka_producev(
      rk_, RD_KAFKA_V_RKT(topic.handle_), RD_KAFKA_V_MSGFLAGS(msgflags),
      RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_HEADERS(hdrs),
      RD_KAFKA_V_OPAQUE(receiver), RD_KAFKA_V_END);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  outstanding_.fetch_sub(1, std::memory_order_relaxed);
  if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);  // not owned by librdkafka on failure
  const char* topic_name = rd_kafka_topic_name(topic.handle_);
  if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
    return absl::UnavailableError(absl::StrCat("produce to ", topic_name, ": local queue full"));
  }
  return absl::InvalidArgumentError(absl::StrCat("produce to ", topic_name, ": ", rd_kafka_err2str(err)));
}

}  // namespace tessera
