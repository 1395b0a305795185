// sinks-bench: how many profile changes per second a destination delivers (issue 7).
//
// Method:
//   1. Produce N profile-updates records (N distinct profiles, one version each, so coalescing
//      cannot inflate the count; ~600-byte JSON each, the real encoder) to a fresh topic prefix on
//      a real broker (--brokers), 4 partitions.
//   2. webhook: a C++ receiver in this process (libevent evhttp, one thread) verifies every
//      request's HMAC-SHA256 signature and counts the items; one DestinationWorker delivers to it
//      (batches of --batch items, up to 8 requests in flight).
//      kafka: one DestinationWorker produces every item to a destination topic (batches of
//      --batch, up to 64 unacknowledged batches: a configured Kafka destination's default).
//      raw-pass (a baseline, not Tessera): the ceiling of the kafka mode on this machine. One thread
//      runs librdkafka directly: a consumer with the worker's consumer settings (fetch batching,
//      prefetch limits) polls the same records and a producer with the kafka destination's
//      settings (idempotent, acks=all, lz4, linger.ms 10) produces each one unchanged (key,
//      payload, headers copied) to an output topic of 4 partitions; a record counts when its
//      delivery report arrives. No parsing, no consent decision, no rendering, no offset commits,
//      no local state.
//   3. The clock starts at the first delivered item (the consumer group has joined) and stops when
//      all N are delivered; changes/s = N / that time. The consumer may have prefetched up to its
//      queue limit before the clock started, so the rate over the second half (N/2 to N) is
//      printed too: that part is fetched while the clock runs. CPU-seconds of the whole process (worker,
//      receiver, librdkafka threads) are reported beside it; the broker runs on the same 2 cores.
//
// Usage: sinks-bench --brokers 127.0.0.1:19692 [--mode webhook|kafka|both|raw-pass] [--changes 200000] [--batch 500]
//                    [--fetch-wait-ms 10]   (WorkerOptions::fetch_wait, for A/B runs)
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/kafka.h"
#include "librdkafka/rdkafka.h"
#include "sinks/delivery_service.h"
#include "sinks/profile_updates.h"
#include "sinks/signature.h"

namespace tessera {
namespace {

constexpr char kSecret[] = "bench-secret";

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// A webhook receiver: checks the signature, counts "idempotency_key" occurrences (one per item).
class Receiver {
 public:
  Receiver() {
    base_ = event_base_new();
    http_ = evhttp_new(base_);
    evhttp_set_gencb(http_, OnRequest, this);
    evhttp_bound_socket* socket = evhttp_bind_socket_with_handle(http_, "127.0.0.1", 0);
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    getsockname(evhttp_bound_socket_get_fd(socket), reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
    // libevent is not set up for threads here, so a loopbreak from another thread would not wake
    // epoll_wait: the loop polls a stop flag every 20 ms instead.
    stop_check_ = event_new(base_, -1, EV_PERSIST, OnStopCheck, this);
    const timeval period{0, 20000};
    event_add(stop_check_, &period);
    thread_ = std::thread([this] { event_base_dispatch(base_); });
  }
  ~Receiver() {
    stop_.store(true);
    thread_.join();
    event_free(stop_check_);
    evhttp_free(http_);
    event_base_free(base_);
  }
  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_, "/hook"); }
  int64_t items() const { return items_.load(); }
  int64_t bad_signatures() const { return bad_.load(); }

 private:
  static void OnStopCheck(evutil_socket_t, short, void* opaque) {
    auto* self = static_cast<Receiver*>(opaque);
    if (self->stop_.load()) event_base_loopbreak(self->base_);
  }

  static void OnRequest(evhttp_request* request, void* opaque) {
    auto* self = static_cast<Receiver*>(opaque);
    evbuffer* input = evhttp_request_get_input_buffer(request);
    const size_t size = evbuffer_get_length(input);
    std::string body(size, '\0');
    evbuffer_copyout(input, body.data(), size);
    evkeyvalq* headers = evhttp_request_get_input_headers(request);
    const char* timestamp = evhttp_find_header(headers, "X-Tessera-Timestamp");
    const char* signature = evhttp_find_header(headers, "X-Tessera-Signature");
    if (timestamp == nullptr || signature == nullptr ||
        sinks::SignatureHeaderValue(kSecret, std::atoll(timestamp), body) != signature) {
      ++self->bad_;
      evhttp_send_reply(request, 401, "Unauthorized", nullptr);
      return;
    }
    int64_t count = 0;
    for (size_t at = body.find("\"idempotency_key\""); at != std::string::npos;
         at = body.find("\"idempotency_key\"", at + 1)) {
      ++count;
    }
    self->items_ += count;
    evhttp_send_reply(request, 200, "OK", nullptr);
  }

  event_base* base_ = nullptr;
  evhttp* http_ = nullptr;
  int port_ = 0;
  event* stop_check_ = nullptr;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::atomic<int64_t> items_{0};
  std::atomic<int64_t> bad_{0};
};

void Produce(const std::string& brokers, const std::string& topic, int64_t changes) {
  auto producer = KafkaProducer::Create(brokers, {{"linger.ms", "20"}, {"batch.size", "1000000"}});
  if (!producer.ok()) {
    std::fprintf(stderr, "%s\n", producer.status().ToString().c_str());
    std::exit(1);
  }
  for (int64_t i = 1; i <= changes; ++i) {
    v1::ProfileUpdate update;
    update.set_profile_id(static_cast<uint64_t>(i));
    update.set_version(1);
    update.set_updated_at_ms(1764043200000);
    v1::Profile& p = *update.mutable_profile();
    p.set_id(static_cast<uint64_t>(i));
    p.set_version(1);
    p.set_workspace("default");
    p.add_identifiers(absl::StrCat("email:user", i, "@example.com"));
    p.add_identifiers(absl::StrCat("user_id:u", i));
    (*p.mutable_traits())["first_name"].set_json("\"Somchai\"");
    (*p.mutable_traits())["plan"].set_json("\"gold\"");
    (*p.mutable_event_counts())["web"] = 12;
    (*p.mutable_consent())["email_marketing"].set_granted(true);
    update.add_changed_fields("traits");
    absl::Status s = (*producer)->Produce(topic, sinks::ProfileKey(update.profile_id()),
                                          sinks::ProfileUpdateToJson(update), sinks::ProfileUpdateHeaders());
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      std::exit(1);
    }
  }
  if (absl::Status s = (*producer)->Flush(absl::Seconds(120)); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  }
}

// The raw-pass baseline (see the method above). Returns false when librdkafka refuses a setting.
bool SetAll(rd_kafka_conf_t* conf, const std::map<std::string, std::string>& settings) {
  char error[512];
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof(error)) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "raw-pass: %s=%s: %s\n", name.c_str(), value.c_str(), error);
      return false;
    }
  }
  return true;
}

class RawPass {
 public:
  RawPass(const std::string& brokers, const std::string& in_topic, std::string out_topic)
      : out_topic_(std::move(out_topic)) {
    char error[512];
    rd_kafka_conf_t* pconf = rd_kafka_conf_new();
    ok_ = SetAll(pconf, {{"bootstrap.servers", brokers},
                         {"enable.idempotence", "true"},
                         {"acks", "all"},
                         {"linger.ms", "10"},
                         {"batch.num.messages", "10000"},
                         {"compression.type", "lz4"},
                         {"queue.buffering.max.kbytes", "262144"}});
    rd_kafka_conf_set_dr_msg_cb(pconf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
      auto* self = static_cast<RawPass*>(opaque);
      (m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? self->delivered_ : self->failed_).fetch_add(1);
    });
    rd_kafka_conf_set_opaque(pconf, this);
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, error, sizeof(error));
    rd_kafka_conf_t* cconf = rd_kafka_conf_new();
    ok_ = ok_ && SetAll(cconf, {{"bootstrap.servers", brokers},
                                {"group.id", out_topic_ + ".group"},
                                {"enable.auto.commit", "false"},
                                {"auto.offset.reset", "earliest"},
                                {"fetch.wait.max.ms", "10"},
                                {"fetch.min.bytes", absl::StrCat(KafkaConsumer::kBatchingFetchBytes)},
                                {"queued.min.messages", absl::StrCat(sinks::kWorkerPrefetchRecords)},
                                {"queued.max.messages.kbytes", absl::StrCat(sinks::kWorkerPrefetchKbytes)},
                                {"isolation.level", "read_committed"}});
    consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, error, sizeof(error));
    ok_ = ok_ && producer_ != nullptr && consumer_ != nullptr;
    if (!ok_) return;
    rd_kafka_poll_set_consumer(consumer_);
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, in_topic.c_str(), RD_KAFKA_PARTITION_UA);
    ok_ = rd_kafka_subscribe(consumer_, topics) == RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(topics);
    thread_ = std::thread([this] { Loop(); });
  }
  ~RawPass() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    if (consumer_ != nullptr) {
      rd_kafka_consumer_close(consumer_);
      rd_kafka_destroy(consumer_);
    }
    if (producer_ != nullptr) {
      rd_kafka_flush(producer_, 5000);
      rd_kafka_destroy(producer_);
    }
  }
  bool ok() const { return ok_; }
  int64_t delivered() const { return delivered_.load(); }
  int64_t failed() const { return failed_.load(); }  // consume errors, refused produces, failed deliveries

 private:
  void Loop() {
    rd_kafka_topic_t* out = rd_kafka_topic_new(producer_, out_topic_.c_str(), nullptr);  // one handle, as Tessera's
    while (!stop_.load()) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, 0);
      if (m == nullptr) {
        rd_kafka_poll(producer_, 5);  // nothing to pass on: serve delivery reports while waiting
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        failed_.fetch_add(1);
      } else {
        rd_kafka_headers_t* headers = nullptr;
        rd_kafka_headers_t* copy = nullptr;
        if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) copy = rd_kafka_headers_copy(headers);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(producer_, RD_KAFKA_V_RKT(out), RD_KAFKA_V_KEY(m->key, m->key_len),
                                        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_HEADERS(copy), RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          rd_kafka_poll(producer_, 10);
        }
        if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          if (copy != nullptr) rd_kafka_headers_destroy(copy);  // not taken over on failure
          failed_.fetch_add(1);
        }
      }
      rd_kafka_message_destroy(m);
      rd_kafka_poll(producer_, 0);
    }
    rd_kafka_topic_destroy(out);
  }


  std::string out_topic_;
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_t* consumer_ = nullptr;
  bool ok_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> delivered_{0};
  std::atomic<int64_t> failed_{0};
  std::thread thread_;
};

// CPU seconds of every thread of this process, by thread id, with the thread's name.
std::map<int, std::pair<std::string, double>> ThreadCpu() {
  std::map<int, std::pair<std::string, double>> out;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(entry.path() / "stat");
    std::string line;
    std::getline(in, line);
    const size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::atof(field.c_str());
      if (i == 15) stime = std::atof(field.c_str());
    }
    out[std::atoi(entry.path().filename().c_str())] = {line.substr(open + 1, close - open - 1), (utime + stime) / ticks};
  }
  return out;
}

template <typename Delivered>
void Measure(const char* label, int64_t changes, Delivered delivered) {
  using Clock = std::chrono::steady_clock;
  const auto give_up = Clock::now() + std::chrono::seconds(300);
  while (delivered() == 0 && Clock::now() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto start = Clock::now();
  const double cpu_start = CpuSeconds();
  const auto threads_start = ThreadCpu();
  auto half = start;
  bool halfway = false;
  while (delivered() < changes && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (!halfway && delivered() >= changes / 2) {
      halfway = true;
      half = Clock::now();
    }
  }
  const auto end = Clock::now();
  const double seconds = std::chrono::duration<double>(end - start).count();
  const double second_half = std::chrono::duration<double>(end - half).count();
  const double cpu = CpuSeconds() - cpu_start;
  // The busiest thread is the one delivering (the destination's worker, or raw-pass's loop).
  double busiest = 0, librdkafka = 0;
  for (const auto& [tid, name_cpu] : ThreadCpu()) {
    auto before = threads_start.find(tid);
    const double used = name_cpu.second - (before == threads_start.end() ? 0 : before->second.second);
    if (name_cpu.first.rfind("rdk:", 0) == 0) librdkafka += used;
    else busiest = std::max(busiest, used);
  }
  std::printf("%s: busiest thread %.2f CPU-s (%.2f us per change), librdkafka's threads %.2f CPU-s\n", label, busiest,
              busiest * 1e6 / static_cast<double>(std::max<int64_t>(delivered(), 1)), librdkafka);
  const bool complete = delivered() >= changes;  // else gave up after 300 s: no second-half rate
  std::printf("%s: %lld changes delivered in %.2f s = %.0f changes/s; second half %s changes/s; process CPU %.2f s "
              "(%.2f CPU-s per million)\n",
              label, static_cast<long long>(delivered()), seconds, static_cast<double>(delivered()) / seconds,
              complete ? absl::StrCat(static_cast<int64_t>(static_cast<double>(changes - changes / 2) / second_half)).c_str()
                       : "INCOMPLETE",
              cpu, cpu / (static_cast<double>(std::max<int64_t>(delivered(), 1)) / 1e6));
}

int Main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string brokers, mode = "both";
  int64_t changes = 200000;
  size_t batch = 500;
  absl::Duration fetch_wait = sinks::WorkerOptions{}.fetch_wait;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--brokers") brokers = argv[i + 1];
    if (flag == "--mode") mode = argv[i + 1];
    if (flag == "--changes") changes = std::atoll(argv[i + 1]);
    if (flag == "--batch") batch = static_cast<size_t>(std::atoll(argv[i + 1]));
    if (flag == "--fetch-wait-ms") fetch_wait = absl::Milliseconds(std::atoll(argv[i + 1]));
  }
  if (brokers.empty()) {
    std::fprintf(stderr, "usage: sinks-bench --brokers HOST:PORT [--mode webhook|kafka|both|raw-pass] [--changes N] [--batch N]\n");
    return 2;
  }
  const std::string prefix = absl::StrCat("sb", getpid(), ".");
  const std::string topic = prefix + "profile-updates";
  if (absl::Status s = CreateTopics(brokers, {{topic, 4, {}}}); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("producing %lld profile changes to %s ...\n", static_cast<long long>(changes), topic.c_str());
  Produce(brokers, topic, changes);
  const std::string data_dir = (std::filesystem::temp_directory_path() / prefix).string();
  sinks::WorkerOptions options;
  options.brokers = brokers;
  options.topic_prefix = prefix;
  options.data_dir = data_dir;
  options.fetch_wait = fetch_wait;

  sinks::DestinationConfig d;
  d.purposes = {"email_marketing"};
  d.batch_max_size = batch;
  d.batch_max_wait_ms = 50;
  d.max_pending = 50000;
  d.secret = kSecret;
  if (mode == "webhook" || mode == "both") {
    Receiver receiver;
    d.name = "bench-webhook";
    d.type = sinks::DestinationType::kWebhook;
    d.url = receiver.url();
    (void)CreateTopics(brokers, sinks::SinkTopicSpecs({d}, prefix, 1));
    auto service = sinks::DeliveryService::Start({d}, options);
    if (!service.ok()) return std::fprintf(stderr, "%s\n", service.status().ToString().c_str()), 1;
    Measure("webhook", changes, [&] { return receiver.items(); });
    std::printf("webhook: bad signatures %lld\n", static_cast<long long>(receiver.bad_signatures()));
    (void)(*service)->Stop();
  }
  if (mode == "kafka" || mode == "both") {
    d.name = "bench-kafka";
    d.type = sinks::DestinationType::kKafka;
    d.topic = prefix + "bench.out";
    d.batch_max_size = batch;
    d.max_in_flight = sinks::kKafkaDefaultMaxInFlight;  // what a configured kafka destination gets
    (void)CreateTopics(brokers, sinks::SinkTopicSpecs({d}, prefix, 4));
    auto service = sinks::DeliveryService::Start({d}, options);
    if (!service.ok()) return std::fprintf(stderr, "%s\n", service.status().ToString().c_str()), 1;
    sinks::DeliveryService* s = service->get();
    Measure("kafka", changes, [&] { return s->counters()[0].second.delivered; });
    (void)(*service)->Stop();
  }
  if (mode == "raw-pass") {
    const std::string out = prefix + "raw-pass.out";
    (void)CreateTopics(brokers, {{out, 4, {}}});
    RawPass pass(brokers, topic, out);
    if (!pass.ok()) return 1;
    Measure("raw-pass", changes, [&] { return pass.delivered(); });
    std::printf("raw-pass: %lld records failed (consume, produce or delivery)\n", static_cast<long long>(pass.failed()));
  }
  std::filesystem::remove_all(data_dir);
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) { return tessera::Main(argc, argv); }
