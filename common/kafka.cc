#include "common/kafka.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/kafka_internal.h"
#include "common/log.h"

namespace tessera {
namespace {

int TimeoutMillis(absl::Duration d) {
  return static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(d)));
}

KafkaConfig Merge(KafkaConfig base, const KafkaConfig& extra) {
  for (const auto& [k, v] : extra) base[k] = v;
  return base;
}

rd_kafka_topic_partition_list_t* ToList(const std::map<TopicPartition, int64_t>& offsets) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size()));
  for (const auto& [tp, offset] : offsets) {
    rd_kafka_topic_partition_list_add(list, tp.first.c_str(), tp.second)->offset = offset;
  }
  return list;
}

// Copies a consumed record's headers (none when it has none).
void CopyHeaders(rd_kafka_message_t* m, std::vector<KafkaHeader>& out) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || hdrs == nullptr) return;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    out.push_back(KafkaHeader{name, value != nullptr ? std::string(static_cast<const char*>(value), size) : ""});
  }
}

}  // namespace

namespace kafka_internal {

absl::StatusOr<rd_kafka_conf_t*> MakeConf(const KafkaConfig& settings) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(absl::StrCat("kafka config ", name, "=", value, ": ", err));
    }
  }
  return conf;
}

rd_kafka_headers_t* MakeHeaders(const std::vector<KafkaHeader>& headers) {
  if (headers.empty()) return nullptr;
  rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
  for (const auto& h : headers) {
    rd_kafka_header_add(hdrs, h.name.data(), static_cast<ssize_t>(h.name.size()), h.value.data(),
                        static_cast<ssize_t>(h.value.size()));
  }
  return hdrs;
}

KafkaConfig IdempotentProducerSettings(const std::string& brokers) {
  return {
      {"bootstrap.servers", brokers},
      {"enable.idempotence", "true"},  // implies acks=all, ordered retries without duplicates
      {"acks", "all"},
      {"linger.ms", "5"},
      {"batch.num.messages", "10000"},
      {"compression.type", "lz4"},
      {"queue.buffering.max.kbytes", "262144"},
      {"message.timeout.ms", "120000"},
  };
}

absl::StatusOr<rd_kafka_topic_t*> TopicHandles::Find(rd_kafka_t* rk, std::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = handles_.find(AbslView(name));
  if (it == handles_.end()) {
    std::string owned(name);
    rd_kafka_topic_t* made = rd_kafka_topic_new(rk, owned.c_str(), nullptr);
    if (made == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("topic ", owned, ": ", rd_kafka_err2str(rd_kafka_last_error())));
    }
    it = handles_.emplace(std::move(owned), made).first;
  }
  return it->second;
}

void TopicHandles::DestroyAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [name, handle] : handles_) rd_kafka_topic_destroy(handle);
  handles_.clear();
}

}  // namespace kafka_internal

using kafka_internal::MakeConf;

// ---------------------------------------------------------------- producer

struct KafkaProducer::DeliveryState {
  std::atomic<int64_t> delivered{0};
  std::atomic<int64_t> failed{0};
  absl::Mutex mu;
  std::string first_error ABSL_GUARDED_BY(mu);
  std::vector<KafkaProducer::DeliveryReport> reports ABSL_GUARDED_BY(mu);  // of tracked records
  kafka_internal::TopicHandles topics;
};

static void AddReport(std::vector<KafkaProducer::DeliveryReport>& reports, uint64_t ticket, bool delivered,
                      std::string error) {
  if (!reports.empty() && reports.back().ticket == ticket && reports.back().delivered == delivered) {
    ++reports.back().records;
    return;
  }
  reports.push_back({ticket, delivered, std::move(error), 1});
}

static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
  auto* state = static_cast<KafkaProducer::DeliveryState*>(opaque);
  const uint64_t ticket = reinterpret_cast<uintptr_t>(message->_private);  // 0: untracked
  if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    state->delivered.fetch_add(1, std::memory_order_relaxed);
    if (ticket != 0) {
      absl::MutexLock lock(&state->mu);
      AddReport(state->reports, ticket, true, {});
    }
    return;
  }
  state->failed.fetch_add(1, std::memory_order_relaxed);
  std::string error =
      absl::StrCat("delivery to ", rd_kafka_topic_name(message->rkt), " failed: ", rd_kafka_err2str(message->err));
  absl::MutexLock lock(&state->mu);
  if (ticket != 0) AddReport(state->reports, ticket, false, error);
  if (state->first_error.empty()) state->first_error = std::move(error);
}

KafkaProducer::KafkaProducer(rd_kafka_t* rk, std::unique_ptr<DeliveryState> state) : rk_(rk), state_(std::move(state)) {}

KafkaProducer::~KafkaProducer() {
  rd_kafka_flush(rk_, 10'000);
  state_->topics.DestroyAll();
  rd_kafka_destroy(rk_);
}

absl::StatusOr<std::unique_ptr<KafkaProducer>> KafkaProducer::Create(const std::string& brokers, const KafkaConfig& extra) {
  const KafkaConfig settings = Merge(kafka_internal::IdempotentProducerSettings(brokers), extra);
  auto conf = MakeConf(settings);
  if (!conf.ok()) return conf.status();
  auto state = std::make_unique<DeliveryState>();
  rd_kafka_conf_set_dr_msg_cb(*conf, OnDelivery);
  rd_kafka_conf_set_opaque(*conf, state.get());
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, *conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(*conf);
    return absl::InvalidArgumentError(absl::StrCat("create kafka producer: ", err));
  }
  return std::unique_ptr<KafkaProducer>(new KafkaProducer(rk, std::move(state)));
}

// Produce's body; `opaque` comes back in the delivery callback (non-null: a tracked record). A
// tracked producer's caller serves reports in TakeDeliveryReports, so it skips the per-record poll.
static absl::Status ProduceWithOpaque(rd_kafka_t* rk, KafkaProducer::DeliveryState& state, void* opaque,
                                      std::string_view topic, std::string_view key, std::string_view value,
                                      const std::vector<KafkaHeader>& headers, std::optional<int32_t> partition,
                                      absl::Duration queue_wait, KafkaProducer::ValueBuffer value_buffer) {
  const absl::Time deadline = absl::Now() + queue_wait;
  absl::StatusOr<rd_kafka_topic_t*> found = state.topics.Find(rk, topic);
  if (!found.ok()) return found.status();
  rd_kafka_topic_t* handle = *found;
  const absl::string_view topic_name = AbslView(topic);
  const int msgflags = value_buffer == KafkaProducer::ValueBuffer::kCopy ? RD_KAFKA_MSG_F_COPY : 0;
  while (true) {
    rd_kafka_headers_t* hdrs = kafka_internal::MakeHeaders(headers);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_RKT(handle), RD_KAFKA_V_PARTITION(partition.value_or(RD_KAFKA_PARTITION_UA)),
        RD_KAFKA_V_MSGFLAGS(msgflags), RD_KAFKA_V_OPAQUE(opaque),
        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (opaque == nullptr) rd_kafka_poll(rk, 0);  // serve delivery reports as we go
      return absl::OkStatus();
    }
    if (hdrs != nullptr) rd_kafka_headers_destroy(hdrs);  // not owned by librdkafka on failure
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      return absl::InvalidArgumentError(absl::StrCat("produce to ", topic_name, ": ", rd_kafka_err2str(err)));
    }
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat("produce to ", topic_name, ": local queue full"));
    }
    rd_kafka_poll(rk, 50);
  }
}

absl::Status KafkaProducer::Produce(std::string_view topic, std::string_view key, std::string_view value,
                                    const std::vector<KafkaHeader>& headers, std::optional<int32_t> partition,
                                    absl::Duration queue_wait) {
  return ProduceWithOpaque(rk_, *state_, nullptr, topic, key, value, headers, partition, queue_wait,
                           ValueBuffer::kCopy);
}

absl::Status KafkaProducer::ProduceTracked(uint64_t ticket, std::string_view topic, std::string_view key,
                                           std::string_view value, const std::vector<KafkaHeader>& headers,
                                           absl::Duration queue_wait, ValueBuffer value_buffer) {
  if (ticket == 0) return absl::InvalidArgumentError("ProduceTracked: ticket 0 means untracked");
  return ProduceWithOpaque(rk_, *state_, reinterpret_cast<void*>(static_cast<uintptr_t>(ticket)), topic, key, value,
                           headers, std::nullopt, queue_wait, value_buffer);
}

std::vector<KafkaProducer::DeliveryReport> KafkaProducer::TakeDeliveryReports(absl::Duration max_wait) {
  std::vector<DeliveryReport> out;
  {
    absl::MutexLock lock(&state_->mu);
    out.swap(state_->reports);
  }
  if (!out.empty()) {
    rd_kafka_poll(rk_, 0);
  } else {
    rd_kafka_poll(rk_, TimeoutMillis(max_wait));  // returns after the first callback it serves
  }
  absl::MutexLock lock(&state_->mu);
  for (DeliveryReport& report : state_->reports) out.push_back(std::move(report));
  state_->reports.clear();
  return out;
}

absl::Status KafkaProducer::Flush(absl::Duration timeout) {
  rd_kafka_resp_err_t err = rd_kafka_flush(rk_, TimeoutMillis(timeout));
  if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    return absl::UnavailableError(absl::StrCat("kafka flush timed out with ", rd_kafka_outq_len(rk_), " records pending"));
  }
  absl::MutexLock lock(&state_->mu);
  if (!state_->first_error.empty()) {
    std::string error = std::move(state_->first_error);
    state_->first_error.clear();
    return absl::UnavailableError(error);
  }
  return absl::OkStatus();
}

int64_t KafkaProducer::delivered_count() const { return state_->delivered.load(); }
int64_t KafkaProducer::failed_count() const { return state_->failed.load(); }

// ---------------------------------------------------------------- consumer

struct KafkaConsumer::RebalanceState {
  StoredOffsetLookup stored_offsets;
  std::function<void()> before_rebalance;
  std::set<TopicPartition> assigned;  // only touched from the polling thread
  uint64_t revocations = 0;
};

static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                        void* opaque) {
  auto* state = static_cast<KafkaConsumer::RebalanceState*>(opaque);
  if (state->before_rebalance) state->before_rebalance();
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    std::string names;
    for (int i = 0; i < partitions->cnt; ++i) {
      rd_kafka_topic_partition_t& p = partitions->elems[i];
      if (state->stored_offsets) {
        std::optional<int64_t> next = state->stored_offsets(p.topic, p.partition);
        p.offset = next.has_value() ? *next : RD_KAFKA_OFFSET_BEGINNING;
      }
      state->assigned.insert({p.topic, p.partition});
      absl::StrAppend(&names, names.empty() ? "" : " ", p.topic, "[", p.partition, "]@", p.offset);
    }
    LogInfo(absl::StrCat("assigned ", names.empty() ? "nothing" : names));
    rd_kafka_assign(rk, partitions);
  } else {
    LogInfo(absl::StrCat("revoked ", partitions->cnt, " partitions"));
    ++state->revocations;
    state->assigned.clear();
    rd_kafka_assign(rk, nullptr);
  }
}

KafkaConsumer::KafkaConsumer(rd_kafka_t* rk, std::unique_ptr<RebalanceState> state) : rk_(rk), state_(std::move(state)) {}

KafkaConsumer::~KafkaConsumer() {
  Close();
  rd_kafka_destroy(rk_);
}

void KafkaConsumer::Close() {
  if (closed_) return;
  closed_ = true;
  rd_kafka_consumer_close(rk_);
}

absl::StatusOr<std::unique_ptr<KafkaConsumer>> KafkaConsumer::Create(Options options) {
  KafkaConfig settings = {
      {"bootstrap.servers", options.brokers},
      {"group.id", options.group_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "earliest"},
      {"enable.partition.eof", "false"},
      {"session.timeout.ms", "30000"},
      {"fetch.wait.max.ms", "20"},
      {"partition.assignment.strategy", "range"},
      {"isolation.level", "read_committed"},
  };
  if (!options.group_instance_id.empty()) settings["group.instance.id"] = options.group_instance_id;
  if (options.fetch_wait > absl::ZeroDuration()) {
    settings["fetch.wait.max.ms"] = absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(options.fetch_wait)));
    settings["fetch.min.bytes"] = absl::StrCat(kBatchingFetchBytes);
  }
  settings = Merge(std::move(settings), options.extra);
  auto conf = MakeConf(settings);
  if (!conf.ok()) return conf.status();
  auto state = std::make_unique<RebalanceState>();
  state->stored_offsets = std::move(options.stored_offsets);
  state->before_rebalance = std::move(options.before_rebalance);
  rd_kafka_conf_set_rebalance_cb(*conf, OnRebalance);
  rd_kafka_conf_set_opaque(*conf, state.get());
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, *conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(*conf);
    return absl::InvalidArgumentError(absl::StrCat("create kafka consumer: ", err));
  }
  rd_kafka_poll_set_consumer(rk);
  auto consumer = std::unique_ptr<KafkaConsumer>(new KafkaConsumer(rk, std::move(state)));
  consumer->copy_headers_ = options.copy_headers;
  if (!options.owned_partitions.empty()) {
    rd_kafka_topic_partition_list_t* owned = rd_kafka_topic_partition_list_new(
        static_cast<int>(options.topics.size() * options.owned_partitions.size()));
    for (const auto& t : options.topics) {
      for (int32_t p : options.owned_partitions) rd_kafka_topic_partition_list_add(owned, t.c_str(), p);
    }
    // The same path as a group assignment: positions come from the stored offsets.
    OnRebalance(rk, RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, owned, consumer->state_.get());
    rd_kafka_topic_partition_list_destroy(owned);
    return consumer;
  }
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(static_cast<int>(options.topics.size()));
  for (const auto& t : options.topics) rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t sub = rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (sub != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::InvalidArgumentError(absl::StrCat("subscribe: ", rd_kafka_err2str(sub)));
  }
  return consumer;
}

absl::StatusOr<std::vector<KafkaMessage>> KafkaConsumer::PollBatch(size_t max_messages, absl::Duration timeout,
                                                                   absl::Duration linger) {
  std::vector<KafkaMessage> batch;
  absl::Time deadline = absl::Now() + timeout;
  const uint64_t revocations_before = state_->revocations;
  while (batch.size() < max_messages) {
    // Rounded up: a wait of 0 for the last fraction of a millisecond would spin.
    const int wait_ms = TimeoutMillis(absl::Ceil(deadline - absl::Now(), absl::Milliseconds(1)));
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, wait_ms);
    if (m == nullptr) {
      if (absl::Now() >= deadline) break;
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const std::string error = rd_kafka_message_errstr(m);
      const rd_kafka_resp_err_t code = m->err;
      rd_kafka_message_destroy(m);
      if (code == RD_KAFKA_RESP_ERR__FATAL) return absl::InternalError(absl::StrCat("kafka fatal: ", error));
      if (code == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        return absl::FailedPreconditionError(absl::StrCat("kafka: ", error, " (run `tessera topics create`)"));
      }
      LogWarning(absl::StrCat("kafka consumer: ", error));
      continue;
    }
    KafkaMessage out;
    out.topic = rd_kafka_topic_name(m->rkt);
    out.partition = m->partition;
    out.offset = m->offset;
    if (m->key != nullptr) out.key.assign(static_cast<const char*>(m->key), m->key_len);
    if (m->payload != nullptr) out.payload.assign(static_cast<const char*>(m->payload), m->len);
    if (copy_headers_) CopyHeaders(m, out.headers);
    rd_kafka_timestamp_type_t ts_type;
    out.timestamp_ms = rd_kafka_message_timestamp(m, &ts_type);
    rd_kafka_message_destroy(m);
    batch.push_back(std::move(out));
    if (batch.size() == 1) deadline = std::min(deadline, absl::Now() + linger);
  }
  if (state_->revocations != revocations_before) {
    // A rebalance happened inside poll: keep only records of partitions we still own.
    std::erase_if(batch, [&](const KafkaMessage& m) { return !state_->assigned.contains({m.topic, m.partition}); });
  }
  return batch;
}

absl::Status KafkaConsumer::Commit(const std::map<TopicPartition, int64_t>& next_offsets) {
  if (next_offsets.empty()) return absl::OkStatus();
  rd_kafka_topic_partition_list_t* list = ToList(next_offsets);
  rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list, /*async=*/0);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    return absl::UnavailableError(absl::StrCat("kafka commit: ", rd_kafka_err2str(err)));
  }
  return absl::OkStatus();
}

std::vector<TopicPartition> KafkaConsumer::Assignment() const {
  return std::vector<TopicPartition>(state_->assigned.begin(), state_->assigned.end());
}

static absl::Status PauseOrResume(rd_kafka_t* rk, const std::set<TopicPartition>& assigned, bool pause) {
  if (assigned.empty()) return absl::OkStatus();
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(assigned.size()));
  for (const auto& [topic, partition] : assigned) rd_kafka_topic_partition_list_add(list, topic.c_str(), partition);
  const rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(rk, list) : rd_kafka_resume_partitions(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat(pause ? "kafka pause: " : "kafka resume: ", rd_kafka_err2str(err)));
  }
  return absl::OkStatus();
}

absl::Status KafkaConsumer::Pause() { return PauseOrResume(rk_, state_->assigned, true); }
absl::Status KafkaConsumer::Resume() { return PauseOrResume(rk_, state_->assigned, false); }

// ---------------------------------------------------------------- admin

struct PartitionWatermarks {
  int32_t partition = 0;
  int64_t low = 0;
  int64_t high = 0;
};

// Every partition of `topic` with its watermarks, each asked of the partition's leader (so an
// answer also proves the leader serves the partition, which the metadata alone does not).
static absl::StatusOr<std::vector<PartitionWatermarks>> TopicWatermarks(rd_kafka_t* rk, const std::string& topic,
                                                                        int timeout_ms) {
  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_resp_err_t merr = rd_kafka_metadata(rk, 0, rkt, &metadata, timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (merr != RD_KAFKA_RESP_ERR_NO_ERROR || metadata->topic_cnt != 1 || metadata->topics[0].err) {
    absl::Status status = absl::UnavailableError(absl::StrCat(
        "metadata for ", topic, ": ",
        rd_kafka_err2str(merr != RD_KAFKA_RESP_ERR_NO_ERROR ? merr : metadata->topics[0].err)));
    if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
    return status;
  }
  std::vector<PartitionWatermarks> out;
  absl::Status status = absl::OkStatus();
  for (int i = 0; i < metadata->topics[0].partition_cnt; ++i) {
    PartitionWatermarks w;
    w.partition = metadata->topics[0].partitions[i].id;
    const rd_kafka_resp_err_t werr =
        rd_kafka_query_watermark_offsets(rk, topic.c_str(), w.partition, &w.low, &w.high, timeout_ms);
    if (werr != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = absl::UnavailableError(absl::StrCat("watermarks of ", topic, "[", w.partition, "]: ", rd_kafka_err2str(werr)));
      break;
    }
    out.push_back(w);
  }
  rd_kafka_metadata_destroy(metadata);
  if (!status.ok()) return status;
  return out;
}

// The controller answers CreateTopics before every broker's metadata has the new partitions and
// their leaders; a consumer subscribing in that window fails ("Subscribed topic not available")
// and a producer waits. So CreateTopics returns only once every partition's leader answers for it.
static absl::Status WaitUntilTopicsHaveLeaders(rd_kafka_t* rk, const std::vector<TopicSpec>& topics,
                                               absl::Time deadline) {
  while (true) {
    absl::Status not_ready = absl::OkStatus();
    for (const TopicSpec& spec : topics) {
      absl::StatusOr<std::vector<PartitionWatermarks>> partitions = TopicWatermarks(rk, spec.name, 2000);
      if (partitions.ok() && partitions->empty()) {
        partitions = absl::UnavailableError(absl::StrCat(spec.name, " has no partitions yet"));
      }
      if (!partitions.ok()) {
        not_ready = partitions.status();
        break;
      }
    }
    if (not_ready.ok()) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::UnavailableError(absl::StrCat("create topics: created, but not usable yet: ", not_ready.message()));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
}

static absl::StatusOr<std::vector<std::string>> TopicsWithPrefix(rd_kafka_t* rk, std::string_view prefix,
                                                                  int timeout_ms) {
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, /*all_topics=*/1, nullptr, &metadata, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return absl::UnavailableError(absl::StrCat("list topics: ", rd_kafka_err2str(err)));
  }
  std::vector<std::string> names;
  for (int i = 0; i < metadata->topic_cnt; ++i) {
    std::string_view name = metadata->topics[i].topic;
    if (name.starts_with(prefix) && metadata->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR) names.emplace_back(name);
  }
  rd_kafka_metadata_destroy(metadata);
  std::sort(names.begin(), names.end());
  return names;
}

static absl::StatusOr<rd_kafka_t*> AdminClient(const std::string& brokers) {
  auto conf = MakeConf({{"bootstrap.servers", brokers}});
  if (!conf.ok()) return conf.status();
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, *conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(*conf);
    return absl::InvalidArgumentError(absl::StrCat("create admin client: ", err));
  }
  return rk;
}

// Sends one topic admin request (`submit` hands it its options and reply queue) and waits for the
// answer: the request's own error, else the first per-topic error other than `tolerated`.
static absl::Status RunTopicAdminRequest(
    rd_kafka_t* rk, rd_kafka_admin_op_t op, absl::Duration timeout, const std::string& brokers, const char* verb,
    rd_kafka_resp_err_t tolerated, const std::function<void(rd_kafka_AdminOptions_t*, rd_kafka_queue_t*)>& submit,
    const std::function<const rd_kafka_topic_result_t**(rd_kafka_event_t*, size_t*)>& topic_results) {
  char err[512];
  rd_kafka_queue_t* queue = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t* options = rd_kafka_AdminOptions_new(rk, op);
  rd_kafka_AdminOptions_set_operation_timeout(options, TimeoutMillis(timeout), err, sizeof(err));
  submit(options, queue);
  absl::Status status = absl::OkStatus();
  rd_kafka_event_t* event = rd_kafka_queue_poll(queue, TimeoutMillis(timeout) + 5000);
  if (event == nullptr) {
    status = absl::UnavailableError(absl::StrCat(verb, " topics: no answer from ", brokers));
  } else if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    status = absl::UnavailableError(absl::StrCat(verb, " topics: ", rd_kafka_event_error_string(event)));
  } else {
    size_t count = 0;
    const rd_kafka_topic_result_t** results = topic_results(event, &count);
    for (size_t i = 0; i < count && status.ok(); ++i) {
      const rd_kafka_resp_err_t e = rd_kafka_topic_result_error(results[i]);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != tolerated) {
        status = absl::UnavailableError(absl::StrCat(verb, " topic ", rd_kafka_topic_result_name(results[i]), ": ",
                                                     rd_kafka_topic_result_error_string(results[i])));
      }
    }
  }
  if (event != nullptr) rd_kafka_event_destroy(event);
  rd_kafka_AdminOptions_destroy(options);
  rd_kafka_queue_destroy(queue);
  return status;
}

absl::Status CreateTopics(const std::string& brokers, const std::vector<TopicSpec>& topics, absl::Duration timeout) {
  absl::StatusOr<rd_kafka_t*> client = AdminClient(brokers);
  if (!client.ok()) return client.status();
  rd_kafka_t* rk = *client;
  char err[512];
  std::vector<rd_kafka_NewTopic_t*> new_topics;
  for (const TopicSpec& spec : topics) {
    rd_kafka_NewTopic_t* t = rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions, 1, err, sizeof(err));
    for (const auto& [k, v] : spec.configs) rd_kafka_NewTopic_set_config(t, k.c_str(), v.c_str());
    new_topics.push_back(t);
  }
  // An existing topic is left as it is.
  absl::Status status = RunTopicAdminRequest(
      rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout, brokers, "create", RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS,
      [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
        rd_kafka_CreateTopics(rk, new_topics.data(), new_topics.size(), options, queue);
      },
      [](rd_kafka_event_t* event, size_t* count) {
        return rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), count);
      });
  for (auto* t : new_topics) rd_kafka_NewTopic_destroy(t);
  if (status.ok()) status = WaitUntilTopicsHaveLeaders(rk, topics, absl::Now() + timeout);
  rd_kafka_destroy(rk);
  return status;
}

absl::StatusOr<std::vector<std::string>> ListTopics(const std::string& brokers, std::string_view prefix,
                                                   absl::Duration timeout) {
  absl::StatusOr<rd_kafka_t*> rk = AdminClient(brokers);
  if (!rk.ok()) return rk.status();
  absl::StatusOr<std::vector<std::string>> names = TopicsWithPrefix(*rk, prefix, TimeoutMillis(timeout));
  rd_kafka_destroy(*rk);
  return names;
}

absl::StatusOr<std::vector<std::string>> DeleteTopicsWithPrefix(const std::string& brokers, std::string_view prefix,
                                                                absl::Duration timeout) {
  if (prefix.empty()) return absl::InvalidArgumentError("delete topics: the prefix must not be empty");
  absl::StatusOr<rd_kafka_t*> client = AdminClient(brokers);
  if (!client.ok()) return client.status();
  rd_kafka_t* rk = *client;
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<std::vector<std::string>> names = TopicsWithPrefix(rk, prefix, TimeoutMillis(timeout));
  if (!names.ok() || names->empty()) {
    rd_kafka_destroy(rk);
    return names;
  }
  std::vector<rd_kafka_DeleteTopic_t*> doomed;
  for (const std::string& name : *names) doomed.push_back(rd_kafka_DeleteTopic_new(name.c_str()));
  // A topic deleted meanwhile by someone else: the goal holds.
  absl::Status status = RunTopicAdminRequest(
      rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout, brokers, "delete", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
      [&](rd_kafka_AdminOptions_t* options, rd_kafka_queue_t* queue) {
        rd_kafka_DeleteTopics(rk, doomed.data(), doomed.size(), options, queue);
      },
      [](rd_kafka_event_t* event, size_t* count) {
        return rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), count);
      });
  for (auto* t : doomed) rd_kafka_DeleteTopic_destroy(t);
  // As with creation, the controller answers before the metadata agrees; wait until it does, so a
  // caller that recreates a topic of the same name gets a new, empty one.
  while (status.ok()) {
    absl::StatusOr<std::vector<std::string>> left = TopicsWithPrefix(rk, prefix, 2000);
    if (!left.ok()) {
      status = left.status();
      break;
    }
    auto still_listed = std::find_first_of(left->begin(), left->end(), names->begin(), names->end());
    if (still_listed == left->end()) {
      break;
    } else if (absl::Now() >= deadline) {
      status = absl::DeadlineExceededError(absl::StrCat("delete topics: ", *still_listed, " still listed"));
    } else {
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  rd_kafka_destroy(rk);
  if (!status.ok()) return status;
  return names;
}

absl::StatusOr<std::vector<GroupPartitionLag>> ReadGroupLag(const std::string& brokers, const std::string& group_id,
                                                            const std::vector<std::string>& topics,
                                                            absl::Duration timeout) {
  auto conf = MakeConf({{"bootstrap.servers", brokers}, {"group.id", group_id}, {"enable.auto.commit", "false"}});
  if (!conf.ok()) return conf.status();
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, *conf, err, sizeof(err));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(*conf);
    return absl::InvalidArgumentError(absl::StrCat("create lag reader: ", err));
  }
  std::vector<GroupPartitionLag> out;
  absl::Status status = absl::OkStatus();
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(8);
  for (const std::string& topic : topics) {
    absl::StatusOr<std::vector<PartitionWatermarks>> partitions = TopicWatermarks(rk, topic, TimeoutMillis(timeout));
    if (!partitions.ok()) {
      status = partitions.status();
      break;
    }
    for (const PartitionWatermarks& w : *partitions) {
      GroupPartitionLag lag;
      lag.topic = topic;
      lag.partition = w.partition;
      lag.low_watermark = w.low;
      lag.high_watermark = w.high;
      rd_kafka_topic_partition_list_add(list, topic.c_str(), lag.partition);
      out.push_back(std::move(lag));
    }
  }
  if (status.ok() && list->cnt > 0) {
    const rd_kafka_resp_err_t cerr = rd_kafka_committed(rk, list, TimeoutMillis(timeout));
    if (cerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
      status = absl::UnavailableError(absl::StrCat("committed offsets of ", group_id, ": ", rd_kafka_err2str(cerr)));
    } else {
      for (int i = 0; i < list->cnt; ++i) {
        // `out` and `list` were filled in the same order.
        out[static_cast<size_t>(i)].committed = list->elems[i].offset >= 0 ? list->elems[i].offset : -1;
      }
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::vector<KafkaMessage>> ReadTopicToEnd(const std::string& brokers, const std::string& topic,
                                                         absl::Duration timeout) {
  auto conf = MakeConf({{"bootstrap.servers", brokers},
                        {"group.id", "tessera-reader"},
                        {"enable.auto.commit", "false"},
                        {"enable.partition.eof", "false"}});
  if (!conf.ok()) return conf.status();
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, *conf, err, sizeof(err));
  if (rk == nullptr) return absl::InvalidArgumentError(absl::StrCat("create reader: ", err));
  rd_kafka_poll_set_consumer(rk);
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<KafkaMessage> out;
  absl::Status status = absl::OkStatus();

  const rd_kafka_metadata_t* metadata = nullptr;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  rd_kafka_resp_err_t merr = rd_kafka_metadata(rk, 0, rkt, &metadata, TimeoutMillis(absl::Seconds(10)));
  rd_kafka_topic_destroy(rkt);
  std::map<int32_t, int64_t> ends;  // partition -> high watermark at start
  if (merr != RD_KAFKA_RESP_ERR_NO_ERROR || metadata->topic_cnt != 1 || metadata->topics[0].err) {
    status = absl::UnavailableError(absl::StrCat("metadata for ", topic, ": ", rd_kafka_err2str(merr)));
  } else {
    rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(metadata->topics[0].partition_cnt);
    for (int i = 0; i < metadata->topics[0].partition_cnt; ++i) {
      const int32_t p = metadata->topics[0].partitions[i].id;
      int64_t low = 0, high = 0;
      rd_kafka_resp_err_t werr = RD_KAFKA_RESP_ERR__TIMED_OUT;
      // A broker busy electing or loading answers with a retriable error: a silent "empty" here
      // would make a reader believe a full topic has nothing in it.
      for (int attempt = 0; attempt < 5 && werr != RD_KAFKA_RESP_ERR_NO_ERROR; ++attempt) {
        werr = rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10'000);
      }
      if (werr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        status = absl::UnavailableError(
            absl::StrCat("watermarks of ", topic, "[", p, "]: ", rd_kafka_err2str(werr)));
        break;
      }
      if (high > low) ends[p] = high;
      rd_kafka_topic_partition_list_add(assignment, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, assignment);
    rd_kafka_topic_partition_list_destroy(assignment);
  }
  if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);

  std::map<int32_t, int64_t> next;  // partition -> next offset seen
  auto done = [&] {
    for (const auto& [p, end] : ends) {
      if (next[p] < end) return false;
    }
    return true;
  };
  while (status.ok() && !done()) {
    if (absl::Now() > deadline) {
      status = absl::DeadlineExceededError(absl::StrCat("reading ", topic, " to its end timed out"));
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      KafkaMessage msg;
      msg.topic = topic;
      msg.partition = m->partition;
      msg.offset = m->offset;
      if (m->key != nullptr) msg.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload != nullptr) msg.payload.assign(static_cast<const char*>(m->payload), m->len);
      CopyHeaders(m, msg.headers);
      next[m->partition] = m->offset + 1;
      if (m->offset < ends[m->partition]) out.push_back(std::move(msg));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  if (!status.ok()) return status;
  return out;
}

// ---------------------------------------------------------------- mock cluster

EmbeddedKafka::EmbeddedKafka(rd_kafka_t* rk, rd_kafka_mock_cluster_t* cluster, std::string bootstrap)
    : rk_(rk), cluster_(cluster), bootstrap_(std::move(bootstrap)) {}

EmbeddedKafka::~EmbeddedKafka() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(rk_);
}

absl::StatusOr<std::unique_ptr<EmbeddedKafka>> EmbeddedKafka::Start(int brokers) {
  auto conf = MakeConf({{"log_level", "3"}});
  if (!conf.ok()) return conf.status();
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, *conf, err, sizeof(err));
  if (rk == nullptr) return absl::InternalError(absl::StrCat("mock cluster handle: ", err));
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (cluster == nullptr) {
    rd_kafka_destroy(rk);
    return absl::InternalError("could not start librdkafka's mock cluster");
  }
  return std::unique_ptr<EmbeddedKafka>(new EmbeddedKafka(rk, cluster, rd_kafka_mock_cluster_bootstraps(cluster)));
}

absl::Status EmbeddedKafka::CreateTopics(const std::vector<TopicSpec>& topics) {
  for (const TopicSpec& t : topics) {
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster_, t.name.c_str(), t.partitions, 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return absl::InternalError(absl::StrCat("mock topic ", t.name, ": ", rd_kafka_err2str(err)));
    }
  }
  return absl::OkStatus();
}

}  // namespace tessera
