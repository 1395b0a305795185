#include "sinks/delivery_worker.h"

#include <pthread.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/json_writer.h"
#include "common/log.h"
#include "common/rocks_store.h"
#include "common/status_macros.h"
#include "simdjson.h"
#include "sinks/delivery_tracker.h"
#include "sinks/destination_filter.h"
#include "sinks/transport.h"

namespace tessera::sinks {
namespace {

constexpr char kHeldPrefix[] = "sk/h/";
constexpr size_t kKnownHeldCap = 1 << 20;  // ~16-32 MiB of profile ids at most

std::string HeldKey(uint64_t profile_id) {
  std::string key(kHeldPrefix);
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>((profile_id >> shift) & 0xff));
  return key;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

bool ParseKey(const std::string& text, uint64_t& out) {
  if (text.empty()) return false;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  out = value;
  return true;
}

// What is needed to act on one item's result (the item itself is the OutgoingItem beside it).
struct ItemState {
  uint64_t key = 0;  // the tracker's key
  uint64_t profile_id = 0;
  SinkAction action = SinkAction::kSendProfile;
  int attempts = 0;
  int64_t first_failure_ms = -1;
  const std::string* source_topic = nullptr;  // one of State::input_topics (stable for the worker's life)
  int32_t source_partition = 0;
  int64_t offset = 0;
};

// A batch: the items exactly as handed to the transport (so sending copies nothing) and, at the
// same index, their state.
struct Batch {
  std::vector<OutgoingItem> items;
  std::vector<ItemState> states;
  uint64_t rebalances_at_send = 0;  // State::rebalances when it was sent
  size_t size() const { return items.size(); }
  bool empty() const { return items.empty(); }
};

// A thread that runs one job at a time: Start hands it a job (once the previous one finished),
// Wait returns once it has finished. A worker writes its held-profile set on one.
// The stages' app::BatchCommitter does the same for their state (write on a thread, then commit
// the offsets) but is not used here: it lives in app/, which links this library, and a failed
// write stops a stage for good, where a destination logs it and writes again at the next Commit.
class JobThread {
 public:
  explicit JobThread(const std::string& name) : thread_([this] { Loop(); }) {
    pthread_setname_np(thread_.native_handle(), name.substr(0, 15).c_str());
  }
  ~JobThread() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();  // after the job it is running, if any
  }

  void Start(std::function<void()> job) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &JobThread::Idle));
    job_ = std::move(job);
  }

  void Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &JobThread::Idle));
  }

 private:
  void Loop() {
    while (true) {
      std::function<void()> job;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &JobThread::HasWork));
        if (job_ == nullptr) return;  // stopping
        job = job_;
      }
      job();
      absl::MutexLock lock(&mu_);
      job_ = nullptr;
    }
  }
  bool Idle() const { return job_ == nullptr; }
  bool HasWork() const { return stop_ || job_ != nullptr; }

  absl::Mutex mu_;
  std::function<void()> job_;  // guarded by mu_; set from Start until the job has run
  bool stop_ = false;          // guarded by mu_
  std::thread thread_;
};

}  // namespace

int64_t RetryDelayMs(const RetryPolicy& policy, int attempts, int64_t retry_after_ms, uint64_t random_bits) {
  const int doublings = std::clamp(attempts - 1, 0, 30);
  const int64_t cap = std::min(policy.max_ms, policy.base_ms << doublings);
  const int64_t jittered = static_cast<int64_t>(random_bits % static_cast<uint64_t>(cap + 1));
  return std::max(jittered, retry_after_ms);
}

std::string CountersToJson(const std::string& name, const SinkCounters& c, int64_t updated_at_ms) {
  JsonWriter w;
  w.BeginObject();
  w.Key("name").String(name);
  w.Key("delivered").Int(c.delivered);
  w.Key("deletions").Int(c.deletions);
  w.Key("retrying").Int(c.retrying);
  w.Key("dead_lettered").Int(c.dead_lettered);
  w.Key("skipped_consent").Int(c.skipped_consent);
  w.Key("superseded").Int(c.superseded);
  w.Key("invalid").Int(c.invalid);
  w.Key("pending").Int(c.pending);
  w.Key("requests").Int(c.requests);
  w.Key("failed_requests").Int(c.failed_requests);
  w.Key("paused").Bool(c.paused);
  w.Key("updated_at_ms").Int(updated_at_ms);
  w.EndObject();
  return std::move(w).Take();
}

SinkCounters CountersFromJson(const std::string& json) {
  SinkCounters c;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json).get(doc)) return c;
  const auto get = [&](const char* key, int64_t& out) {
    int64_t value = 0;
    if (!doc[key].get(value)) out = value;
  };
  get("delivered", c.delivered);
  get("deletions", c.deletions);
  get("retrying", c.retrying);
  get("dead_lettered", c.dead_lettered);
  get("skipped_consent", c.skipped_consent);
  get("superseded", c.superseded);
  get("invalid", c.invalid);
  get("pending", c.pending);
  get("requests", c.requests);
  get("failed_requests", c.failed_requests);
  bool paused = false;
  if (!doc["paused"].get(paused)) c.paused = paused;
  return c;
}

struct DestinationWorker::State {
  DestinationConfig d;
  WorkerOptions options;
  std::string profile_updates_topic, segment_changes_topic, triggers_topic, dlq_topic;
  std::vector<std::string> input_topics;  // never resized after Create: ItemState points into it
  std::string status_path;
  std::unique_ptr<KafkaConsumer> consumer;
  std::unique_ptr<Transport> transport;
  std::unique_ptr<KafkaProducer> dlq;
  std::unique_ptr<RocksStore> store;
  std::unique_ptr<StagedWrites> staged;
  DeliveryTracker tracker;
  RecordParser parser;
  std::mt19937_64 random{std::random_device{}()};

  // Cumulative counters: what status.json said at start plus this run's work.
  SinkCounters counters;
  mutable std::mutex snapshot_mutex;
  SinkCounters snapshot;  // guarded by snapshot_mutex

  Batch open_batch;
  int64_t open_batch_since_ms = 0;
  std::map<uint64_t, Batch> in_flight;  // request id -> its items
  uint64_t next_request_id = 1;
  double rate_tokens = 0;
  int64_t rate_refilled_ms = 0;
  bool paused = false;
  bool dlq_unflushed = false;
  std::set<TopicPartition> assignment;
  uint64_t rebalances = 0;  // assignment changes so far
  // Profiles known to be held (their "sk/h/" key is committed or staged): a profile updated again
  // and again then costs no RocksDB read or write. Only this worker writes its store, so the set
  // never claims more than the store says; it is bounded, and forgotten at a rebalance.
  absl::flat_hash_set<uint64_t> known_held;
  std::map<TopicPartition, int64_t> committed;
  int64_t last_commit_ms = 0;
  int64_t last_status_ms = 0;
  // The held-profile writes being written on commit_thread (null when none), and what to commit
  // once they are.
  std::unique_ptr<StagedWrites> writing;
  absl::Status writing_status;  // set by commit_thread
  std::map<TopicPartition, int64_t> writing_offsets;
  uint64_t writing_rebalances = 0;
  // Last: destroyed first, so no job outlives what it uses.
  std::unique_ptr<JobThread> commit_thread = std::make_unique<JobThread>("sink-commit");

  // The transport goes before the batches it may still be sending (a Kafka transport borrows the
  // items' bytes; its producer flushes as it is destroyed).
  ~State() {
    commit_thread.reset();
    transport.reset();
  }

  // After a rebalance: items of partitions no longer ours leave the open batch.
  void DropRevokedFromOpenBatch() {
    Batch kept;
    for (size_t i = 0; i < open_batch.size(); ++i) {
      if (!tracker.HoldsInFlight(open_batch.states[i].key)) continue;
      kept.items.push_back(std::move(open_batch.items[i]));
      kept.states.push_back(open_batch.states[i]);
    }
    open_batch = std::move(kept);
  }

  bool Holds(uint64_t profile_id) {
    if (known_held.contains(profile_id)) return true;
    absl::StatusOr<std::optional<std::string>> value = staged->Get(HeldKey(profile_id));
    const bool held = value.ok() && value->has_value();
    if (held) RememberHeld(profile_id);
    return held;
  }

  void RememberHeld(uint64_t profile_id) {
    if (known_held.size() >= kKnownHeldCap) known_held.clear();
    known_held.insert(profile_id);
  }

  bool CanSend(int64_t now) {
    if (transport->in_flight() >= d.max_in_flight) return false;
    if (d.rate_limit_per_s <= 0) return true;
    const double capacity = std::max(1.0, d.rate_limit_per_s);
    rate_tokens = std::min(capacity, rate_tokens + (now - rate_refilled_ms) * d.rate_limit_per_s / 1000.0);
    rate_refilled_ms = now;
    return rate_tokens >= 1.0;
  }

  void SendOpenBatch() {
    if (d.rate_limit_per_s > 0) rate_tokens -= 1.0;
    const uint64_t id = next_request_id++;
    open_batch.rebalances_at_send = rebalances;
    transport->Send(id, open_batch.items);
    in_flight.emplace(id, std::move(open_batch));
    open_batch = Batch();
    open_batch.items.reserve(d.batch_max_size);
    open_batch.states.reserve(d.batch_max_size);
    ++counters.requests;
  }

  const std::string* InputTopic(const std::string& topic) const {
    for (const std::string& t : input_topics) {
      if (t == topic) return &t;
    }
    return &profile_updates_topic;  // unreachable: the consumer reads only input_topics
  }

  // Takes ready records into the open batch and sends batches while the destination has room.
  void Fill(int64_t now) {
    while (true) {
      const size_t room = d.batch_max_size - open_batch.size();
      if (room > 0) {
        std::vector<DeliveryTicket> tickets = tracker.TakeReady(room, now);
        for (const DeliveryTicket& ticket : tickets) Take(ticket, now);
        if (tickets.empty() && open_batch.empty()) return;
        if (tickets.empty() && now - open_batch_since_ms < d.batch_max_wait_ms) return;
      }
      if (open_batch.empty()) continue;  // everything taken was skipped; take more
      if (open_batch.size() < d.batch_max_size && now - open_batch_since_ms < d.batch_max_wait_ms) return;
      if (!CanSend(now)) return;
      SendOpenBatch();
    }
  }

  void Take(const DeliveryTicket& ticket, int64_t now) {
    const PendingRecord& record = *ticket.record;
    absl::StatusOr<SinkRecord> parsed;
    if (record.source.first == profile_updates_topic || record.coalescible) {
      parsed = parser.ParseProfileUpdate(record.payload);
    } else {
      parsed = parser.ParseEvent(
          record.source.first == triggers_topic ? SinkRecord::Kind::kTrigger : SinkRecord::Kind::kSegmentChange,
          record.key, record.payload);
    }
    if (!parsed.ok()) {
      ++counters.invalid;
      LogWarning(absl::StrCat("sink ", d.name, ": skipping ", record.source.first, "[", record.source.second, "]@",
                              record.offset, ": ", parsed.status().ToString()));
      tracker.Finish(ticket.key);
      return;
    }
    // A consented profile is sent whatever the destination held, so only the other cases pay
    // for the RocksDB read.
    const bool holds = DecisionNeedsHeldState(d, *parsed) && Holds(parsed->profile_id);
    const SinkAction action = sinks::Decide(d, *parsed, holds);
    if (action == SinkAction::kSkipConsent || action == SinkAction::kSkipOther) {
      if (action == SinkAction::kSkipConsent) ++counters.skipped_consent;
      tracker.Finish(ticket.key);
      return;
    }
    OutgoingItem& item = open_batch.items.emplace_back();
    item.profile_key = absl::StrCat(parsed->profile_id);
    item.idempotency_key =
        parsed->kind == SinkRecord::Kind::kProfile || parsed->kind == SinkRecord::Kind::kMergedAway
            ? IdempotencyKey(*parsed, "")
            : IdempotencyKey(*parsed, absl::StrCat(record.source.first, ":", record.source.second, ":", record.offset));
    item.json = RenderItem(d, *parsed, action, item.idempotency_key);
    ItemState& state = open_batch.states.emplace_back();
    state.key = ticket.key;
    state.profile_id = parsed->profile_id;
    state.action = action;
    state.attempts = ticket.attempts;
    state.first_failure_ms = ticket.first_failure_ms;
    state.source_topic = InputTopic(record.source.first);
    state.source_partition = record.source.second;
    state.offset = record.offset;
    if (open_batch.size() == 1) open_batch_since_ms = now;
  }

  void DeadLetter(const OutgoingItem& item, const ItemState& state, const std::string& error, int attempts,
                  int64_t now) {
    JsonWriter w;
    w.BeginObject();
    w.Key("destination").String(d.name);
    w.Key("idempotency_key").String(item.idempotency_key);
    w.Key("error").String(error);
    w.Key("attempts").Int(attempts);
    w.Key("first_failure_at_ms").Int(state.first_failure_ms < 0 ? now : state.first_failure_ms);
    w.Key("dead_lettered_at_ms").Int(now);
    w.Key("source").BeginObject();
    w.Key("topic").String(*state.source_topic).Key("partition").Int(state.source_partition);
    w.Key("offset").Int(state.offset).EndObject();
    w.Key("item").Raw(item.json);
    w.EndObject();
    // Produce waits (serving delivery reports) while the local queue is full; the commit path
    // flushes before any offset past this record is committed.
    absl::Status status = dlq->Produce(dlq_topic, item.profile_key, w.str(), {{"content-type", "application/json"}});
    if (!status.ok()) LogError(absl::StrCat("sink ", d.name, ": dead-letter produce: ", status.ToString()));
    dlq_unflushed = true;
    ++counters.dead_lettered;
  }

  void HandleResults(std::vector<SendResult> results, int64_t now) {
    for (SendResult& result : results) {
      auto node = in_flight.extract(result.request_id);
      if (node.empty()) continue;
      if (result.outcome != SendResult::Outcome::kDelivered) ++counters.failed_requests;
      const Batch& batch = node.mapped();
      const bool rebalanced = batch.rebalances_at_send != rebalances;
      for (size_t i = 0; i < batch.size(); ++i) {
        const ItemState& state = batch.states[i];
        if (rebalanced && !tracker.HoldsInFlight(state.key)) continue;  // its partition was revoked meanwhile
        switch (result.outcome) {
          case SendResult::Outcome::kDelivered: {
            ++counters.delivered;
            if (state.action == SinkAction::kSendProfile) {
              if (!known_held.contains(state.profile_id)) {
                staged->Put(HeldKey(state.profile_id), "");
                RememberHeld(state.profile_id);
              }
            } else if (state.action == SinkAction::kSendDeletion) {
              ++counters.deletions;
              staged->Delete(HeldKey(state.profile_id));
              known_held.erase(state.profile_id);
            }
            tracker.Finish(state.key);
            break;
          }
          case SendResult::Outcome::kRetry: {
            const int attempts = state.attempts + 1;
            const int64_t first_failure = state.first_failure_ms < 0 ? now : state.first_failure_ms;
            if (now - first_failure >= d.retry.max_window_ms) {
              DeadLetter(batch.items[i], state, result.error, attempts, now);
              tracker.Finish(state.key);
            } else {
              tracker.Retry(state.key, now + RetryDelayMs(d.retry, attempts, result.retry_after_ms, random()), now);
            }
            break;
          }
          case SendResult::Outcome::kPermanent:
            DeadLetter(batch.items[i], state, result.error, state.attempts + 1, now);
            tracker.Finish(state.key);
            break;
        }
      }
    }
  }

  // Every commit_interval: the dead-letter producer is flushed, the held-profile writes staged so
  // far go to RocksDB on commit_thread while the loop goes on (a million new profiles' keys cost
  // the worker thread a fifth of its time when written here: docs/sinks.md, 2026-12-05), and the
  // offsets captured with them are committed to the group at the next Commit, once written. Reads
  // meanwhile see the writes through `staged`'s batch below.
  absl::Status Commit() {
    RETURN_IF_ERROR(FinishHeldWrite());
    if (dlq_unflushed) {
      RETURN_IF_ERROR(dlq->Flush(absl::Seconds(30)));
      dlq_unflushed = false;
    }
    std::map<TopicPartition, int64_t> offsets = tracker.CommittableOffsets();
    if (staged->staged_count() == 0) return CommitOffsets(offsets);
    writing = std::move(staged);
    writing_offsets = std::move(offsets);
    writing_rebalances = rebalances;
    staged = std::make_unique<StagedWrites>(store.get(), writing.get());
    commit_thread->Start([this] { writing_status = writing->Write(); });
    return absl::OkStatus();
  }

  // Waits for the held-profile write Commit started, then commits its offsets.
  absl::Status FinishHeldWrite() {
    if (writing == nullptr) return absl::OkStatus();
    commit_thread->Wait();
    if (!writing_status.ok()) {
      LogWarning(absl::StrCat("sink ", d.name, ": held-profile write: ", writing_status.ToString(), "; again"));
      writing_status = writing->Write();
      RETURN_IF_ERROR(writing_status);  // kept: the next Commit tries again, offsets not committed
    }
    staged->ForgetBelow();
    writing.reset();
    std::map<TopicPartition, int64_t> offsets = std::exchange(writing_offsets, {});
    // After a rebalance, the partitions' new owners commit their own progress.
    return writing_rebalances == rebalances ? CommitOffsets(offsets) : absl::OkStatus();
  }

  absl::Status CommitOffsets(const std::map<TopicPartition, int64_t>& offsets) {
    std::map<TopicPartition, int64_t> changed;
    for (const auto& [tp, next] : offsets) {
      auto it = committed.find(tp);
      if (it == committed.end() || it->second != next) changed[tp] = next;
    }
    RETURN_IF_ERROR(consumer->Commit(changed));
    for (const auto& [tp, next] : changed) committed[tp] = next;
    return absl::OkStatus();
  }

  void PublishCounters(int64_t now, bool write_file) {
    counters.retrying = static_cast<int64_t>(tracker.retrying());
    counters.pending = static_cast<int64_t>(tracker.pending());
    counters.paused = paused;
    SinkCounters out = counters;
    out.superseded += tracker.superseded();
    {
      std::lock_guard<std::mutex> lock(snapshot_mutex);
      snapshot = out;
    }
    if (!write_file) return;
    const std::string tmp = status_path + ".tmp";
    {
      std::ofstream file(tmp, std::ios::trunc);
      file << CountersToJson(d.name, out, now) << "\n";
    }
    std::error_code ec;
    std::filesystem::rename(tmp, status_path, ec);
  }
};

DestinationWorker::DestinationWorker(std::unique_ptr<State> state) : state_(std::move(state)) {}
DestinationWorker::~DestinationWorker() = default;

const DestinationConfig& DestinationWorker::destination() const { return state_->d; }

SinkCounters DestinationWorker::counters() const {
  std::lock_guard<std::mutex> lock(state_->snapshot_mutex);
  return state_->snapshot;
}

absl::StatusOr<std::unique_ptr<DestinationWorker>> DestinationWorker::Create(DestinationConfig destination,
                                                                             WorkerOptions options) {
  auto state = std::make_unique<State>();
  State& s = *state;
  s.d = std::move(destination);
  s.options = std::move(options);
  const std::string& prefix = s.options.topic_prefix;
  s.profile_updates_topic = prefix + "profile-updates";
  s.segment_changes_topic = prefix + "segment-changes";
  s.triggers_topic = prefix + "triggers";
  s.dlq_topic = DeadLetterTopic(s.d, prefix);
  s.input_topics = InputTopics(s.d, prefix);

  const std::string dir = absl::StrCat(s.options.data_dir, "/sinks/", s.d.name);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("sink ", s.d.name, ": cannot create ", dir, ": ", ec.message()));
  s.status_path = dir + "/status.json";
  if (std::ifstream in(s.status_path); in) {
    std::stringstream text;
    text << in.rdbuf();
    s.counters = CountersFromJson(text.str());
    s.counters.pending = s.counters.retrying = 0;
  }
  RocksStoreOptions store_options;
  store_options.block_cache_bytes = 8 << 20;
  store_options.memtable_insert_hint_prefix_bytes = sizeof(kHeldPrefix) - 1;  // each commit: ascending held keys
  ASSIGN_OR_RETURN(s.store, RocksStore::Open(dir + "/store", store_options));
  s.staged = std::make_unique<StagedWrites>(s.store.get());

  if (s.d.type == DestinationType::kWebhook) {
    ASSIGN_OR_RETURN(s.transport, MakeWebhookTransport(s.d));
  } else {
    ASSIGN_OR_RETURN(s.transport, MakeKafkaTopicTransport(s.d, s.options.brokers));
  }
  ASSIGN_OR_RETURN(s.dlq, KafkaProducer::Create(s.options.brokers));

  KafkaConsumer::Options consumer_options;
  consumer_options.brokers = s.options.brokers;
  consumer_options.group_id = ConsumerGroup(s.d, prefix);
  consumer_options.topics = s.input_topics;
  consumer_options.copy_headers = false;  // records are told apart by their topic, never a header
  // librdkafka's prefetch is the other memory a destination holds: bounded by its queue limits
  // (a dead destination also pauses at max_pending). They must hold about a second of delivery:
  // librdkafka 2.0 (Debian's) stops fetching a partition once the queue is over a limit and looks
  // again only when its broker thread wakes, about once a second, so the limits cap a backlog's
  // delivery rate. 8 MiB gave 106k changes/s; librdkafka's defaults (64 MiB or 100,000 records)
  // exactly 200k, one refill a second, once the worker could go faster (docs/sinks.md).
  consumer_options.extra["queued.min.messages"] = absl::StrCat(kWorkerPrefetchRecords);
  consumer_options.extra["queued.max.messages.kbytes"] = absl::StrCat(kWorkerPrefetchKbytes);
  consumer_options.fetch_wait = s.options.fetch_wait;
  for (const auto& [k, v] : s.options.consumer_extra) consumer_options.extra[k] = v;
  ASSIGN_OR_RETURN(s.consumer, KafkaConsumer::Create(std::move(consumer_options)));
  s.rate_refilled_ms = NowMs();
  s.rate_tokens = std::max(1.0, s.d.rate_limit_per_s);
  return std::unique_ptr<DestinationWorker>(new DestinationWorker(std::move(state)));
}

absl::Status DestinationWorker::Run() {
  State& s = *state_;
  LogInfo(absl::StrCat("sink ", s.d.name, ": delivering to ",
                       s.d.type == DestinationType::kWebhook ? s.d.url : "kafka topic " + s.d.topic));
  absl::Status status = absl::OkStatus();
  while (!stop_.load()) {
    int64_t now = NowMs();
    // Bounded memory: stop fetching at the cap, resume at half of it.
    if (!s.paused && s.tracker.pending() >= s.d.max_pending) {
      status = s.consumer->Pause();
      s.paused = status.ok();
    } else if (s.paused && s.tracker.pending() <= s.d.max_pending / 2) {
      status = s.consumer->Resume();
      s.paused = !status.ok();
    }
    if (!status.ok()) LogWarning(absl::StrCat("sink ", s.d.name, ": ", status.ToString()));

    const bool busy = s.transport->in_flight() > 0 || !s.open_batch.empty();
    const size_t room = s.paused ? 0 : std::min<size_t>(20000, s.d.max_pending - s.tracker.pending());
    absl::StatusOr<std::vector<KafkaMessage>> polled =
        s.consumer->PollBatch(std::max<size_t>(room, 1), busy ? absl::ZeroDuration() : absl::Milliseconds(20));
    if (!polled.ok()) {
      if (polled.status().code() == absl::StatusCode::kInternal) {
        status = polled.status();
        break;
      }
      LogWarning(absl::StrCat("sink ", s.d.name, ": ", polled.status().ToString()));
      absl::SleepFor(absl::Milliseconds(500));
      continue;
    }
    std::vector<TopicPartition> assignment_now = s.consumer->Assignment();
    std::set<TopicPartition> assigned(assignment_now.begin(), assignment_now.end());
    if (assigned != s.assignment) {
      s.tracker.RetainPartitions(assigned);
      std::erase_if(s.committed, [&](const auto& entry) { return !assigned.contains(entry.first); });
      s.DropRevokedFromOpenBatch();
      s.assignment = std::move(assigned);
      ++s.rebalances;
      s.known_held.clear();
      if (s.paused) (void)s.consumer->Pause();  // newly assigned partitions start unpaused
    }
    for (KafkaMessage& message : *polled) {
      PendingRecord record;
      record.source = {std::move(message.topic), message.partition};
      record.offset = message.offset;
      record.coalescible = record.source.first == s.profile_updates_topic;
      if (!ParseKey(message.key, record.key)) record.key = 0;  // parsed (and rejected) when its turn comes
      record.payload = std::move(message.payload);
      s.tracker.Add(std::move(record));
    }
    now = NowMs();
    s.Fill(now);
    absl::Duration wait = absl::ZeroDuration();
    if (polled->empty() && s.transport->in_flight() > 0) wait = absl::Milliseconds(20);
    s.HandleResults(s.transport->Poll(wait), NowMs());
    now = NowMs();
    s.Fill(now);
    if (now - s.last_commit_ms >= absl::ToInt64Milliseconds(s.options.commit_interval)) {
      absl::Status commit = s.Commit();
      if (!commit.ok()) LogWarning(absl::StrCat("sink ", s.d.name, ": commit: ", commit.ToString()));
      s.last_commit_ms = now;
    }
    const bool write_status = now - s.last_status_ms >= 1000;
    if (write_status) s.last_status_ms = now;
    s.PublishCounters(now, write_status);
  }
  // Give in-flight requests a moment to finish so their offsets can be committed.
  const int64_t deadline = NowMs() + 2000;
  while (s.transport->in_flight() > 0 && NowMs() < deadline) {
    s.HandleResults(s.transport->Poll(absl::Milliseconds(50)), NowMs());
  }
  absl::Status commit = s.Commit();
  if (commit.ok()) commit = s.FinishHeldWrite();
  if (!commit.ok()) LogWarning(absl::StrCat("sink ", s.d.name, ": final commit: ", commit.ToString()));
  s.PublishCounters(NowMs(), true);
  s.consumer->Close();
  return status;
}

}  // namespace tessera::sinks
