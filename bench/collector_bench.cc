// collector-bench: the HTTP collector's throughput and latency against a real Kafka broker, with
// the load from a separate process over loopback, next to a bare librdkafka producer sending the
// same messages to the same broker in the same run (issue 3's acceptance).
//
// Method:
//   0. This process starts `tessera collector` (--tessera BIN) as a child process on a free port
//      with one write key (rate limit off) and a fresh topic prefix whose raw.web has 4 partitions.
//      The collector and this load generator are separate processes sharing the machine's cores
//      with the broker; every answer the collector gives is after Kafka acknowledged (acks=all).
//   1. Sample: one POST /v1/batch of the 100-message batch used below; the 100 records the
//      collector wrote (key, JSON value with receivedAt/ip/timestamp added, headers) are read back.
//      These are "the same messages".
//   2. Batch: --batch-connections keep-alive connections, one thread each, each with one request in
//      flight (closed loop), POST /v1/batch of 100 track calls as @segment/analytics-node sends
//      them (~43 KB, bench/collector_bodies.h); 1 s warm-up, then --seconds measured. messages/s = 200 answers x 100 / s. Non-200 answers are counted and reported.
//      Each answer waits for Kafka's acknowledgement (acks=all, linger), so with few connections
//      the collector idles between requests and the phase measures latency, not capacity: the
//      phase runs once per count in the list (3 s apart) and the best rate is the collector's
//      throughput (12 connections gave 0.27-0.29 x, 48 gave 0.43-0.49 x, on 2026-12-06).
//   3. Baseline, 3 s later (the broker has caught up): a bare producer (KafkaProducer, common/kafka.h:
//      librdkafka idempotent, acks=all, linger 5 ms, lz4) sends those 100 records over and over to
//      the same topic for --seconds, then flushes; rate = records / (time including the final
//      flush). It runs after the batches, with 3 s of rest after it too, so that neither phase
//      pays for the broker's backlog of the other.
//   4. Track, as fast as it goes: --track-connections connections, POST /v1/track of one ~430-byte
//      message each, closed loop. requests/s and latency (send to last byte of the answer).
//   5. Track at half that rate: the same connections, each sending on a fixed schedule (open loop:
//      latency is measured from the scheduled time, so a slow answer delays and is charged to the
//      requests behind it — no coordinated omission). p50/p99/p99.9.
//   CPU-seconds of the collector (from /proc) and of this process (getrusage) are given per phase,
//   with the load average, because the 2-core machine is shared.
//
//   collector-bench --tessera build/app/tessera --brokers 127.0.0.1:19792 [--seconds 10]
//                   [--batch-connections 24,48,96] [--track-connections 32] [--io-threads 2]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/collector_bodies.h"
#include "bench/process_stats.h"
#include "common/kafka.h"

extern char** environ;

namespace tessera {
namespace {

using Clock = std::chrono::steady_clock;
using bench::LoadAverage;
using bench::OwnCpuSeconds;
using bench::ProcessCpuSeconds;
constexpr char kWriteKey[] = "wk_bench";

struct Flags {
  std::string tessera;
  std::string brokers;
  int seconds = 10;
  std::vector<int> batch_connections = {24, 48, 96};
  int track_connections = 32;
  int io_threads = 2;
};

using bench::BatchBody;
using bench::TrackMessage;

// One keep-alive HTTP/1.1 connection to the collector, one request in flight.
class Connection {
 public:
  explicit Connection(int port) : port_(port) { Open(); }
  ~Connection() { Close(); }

  // Sends a prepared request and reads its answer; the status, or 0 if the connection broke (it is
  // then reopened for the next request).
  int RoundTrip(const std::string& request) {
    if (fd_ < 0) Open();
    if (fd_ < 0 || ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
      Close();
      return 0;
    }
    answer_.clear();
    size_t header_end = std::string::npos;
    size_t need = 0;
    char chunk[16384];
    while (header_end == std::string::npos || answer_.size() < need) {
      const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) {
        Close();
        return 0;
      }
      answer_.append(chunk, static_cast<size_t>(n));
      if (header_end == std::string::npos && (header_end = answer_.find("\r\n\r\n")) != std::string::npos) {
        const size_t at = answer_.find("Content-Length: ");
        size_t length = 0;
        if (at == std::string::npos || at > header_end ||
            !absl::SimpleAtoi(answer_.substr(at + 16, answer_.find("\r\n", at) - at - 16), &length)) {
          Close();
          return 0;
        }
        need = header_end + 4 + length;
      }
    }
    int status = 0;
    return absl::SimpleAtoi(answer_.substr(9, 3), &status) ? status : 0;
  }

 private:
  void Open() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      Close();
      return;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int port_;
  int fd_ = -1;
  std::string answer_;
};

std::string Post(std::string_view path, const std::string& body) {
  return absl::StrCat("POST ", absl::string_view(path.data(), path.size()),
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Basic ",
                      absl::Base64Escape(absl::StrCat(kWriteKey, ":")), "\r\nContent-Length: ", body.size(), "\r\n\r\n",
                      body);
}

struct PhaseResult {
  int64_t answers = 0;
  int64_t non_200 = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;  // sorted
  double collector_cpu = 0;
  double client_cpu = 0;
  double Percentile(double q) const {
    if (latencies_ms.empty()) return 0;
    return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<size_t>(q * latencies_ms.size()))];
  }
};

// Drives `connections` connections (one thread each) with `request` for 1 s of warm-up and then
// `seconds`. rate_per_s > 0: open loop at that total rate; else closed loop.
PhaseResult Drive(int port, pid_t collector, const std::string& request, int connections, int seconds,
                  double rate_per_s) {
  std::atomic<bool> measuring{false}, stop{false};
  std::vector<std::vector<double>> latencies(connections);
  std::vector<int64_t> non_200(connections, 0);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      Connection connection(port);
      const auto interval = rate_per_s > 0 ? std::chrono::duration<double>(connections / rate_per_s)
                                           : std::chrono::duration<double>(0);
      // Connections start spread over one interval, so the total rate is even.
      auto next =
          start + std::chrono::duration_cast<Clock::duration>(interval * (static_cast<double>(c) / connections));
      while (!stop.load(std::memory_order_relaxed)) {
        Clock::time_point from = Clock::now();
        if (rate_per_s > 0) {
          std::this_thread::sleep_until(next);
          from = next;  // charged from when it should have been sent
          next += std::chrono::duration_cast<Clock::duration>(interval);
        }
        const int status = connection.RoundTrip(request);
        if (measuring.load(std::memory_order_relaxed)) {
          latencies[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - from).count());
          if (status != 200) ++non_200[c];
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));
  PhaseResult result;
  const double collector_before = ProcessCpuSeconds(collector), client_before = OwnCpuSeconds();
  measuring = true;
  const auto measured_from = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  measuring = false;
  result.seconds = std::chrono::duration<double>(Clock::now() - measured_from).count();
  result.collector_cpu = ProcessCpuSeconds(collector) - collector_before;
  result.client_cpu = OwnCpuSeconds() - client_before;
  stop = true;
  for (auto& t : threads) t.join();
  for (int c = 0; c < connections; ++c) {
    result.latencies_ms.insert(result.latencies_ms.end(), latencies[c].begin(), latencies[c].end());
    result.non_200 += non_200[c];
  }
  result.answers = static_cast<int64_t>(result.latencies_ms.size());
  std::sort(result.latencies_ms.begin(), result.latencies_ms.end());
  return result;
}

int Run(const Flags& flags) {
  const std::string prefix = absl::StrCat("cbench-", getpid(), "-", time(nullptr), ".");
  const std::string topic = prefix + "raw.web";
  if (absl::Status s = CreateTopics(flags.brokers, {{topic, 4, {}}}); !s.ok()) {
    std::fprintf(stderr, "create topic: %s\n", s.ToString().c_str());
    return 1;
  }
  const std::string dir = (std::filesystem::temp_directory_path() / prefix).string();
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/collector.yaml") << "sources:\n  - write_key: " << kWriteKey
                                         << "\n    source: web\nrate_limit: {requests_per_second: 0}\n";
  const std::string log = dir + "/collector.log";
  std::vector<std::string> args = {flags.tessera, "collector", "--brokers", flags.brokers, "--http", "127.0.0.1:0",
                                   "--config", dir + "/collector.yaml", "--topic-prefix", prefix, "--data-dir", dir,
                                   "--io-threads", std::to_string(flags.io_threads)};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t collector = 0;
  if (posix_spawn(&collector, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    std::fprintf(stderr, "cannot start %s\n", argv[0]);
    return 1;
  }
  posix_spawn_file_actions_destroy(&actions);
  int port = 0;
  const std::regex listening("tessera collector: http://[^ ]*:([0-9]+)/v1/");
  for (int i = 0; i < 200 && port == 0; ++i) {
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::smatch m;
    if (std::regex_search(text, m, listening)) port = std::stoi(m[1]);
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const auto finish = [&](int code) {
    kill(collector, SIGTERM);
    waitpid(collector, nullptr, 0);
    if (code == 0) std::filesystem::remove_all(dir);
    return code;
  };
  if (port == 0) {
    std::fprintf(stderr, "the collector did not start; see %s\n", log.c_str());
    return finish(1);
  }
  std::printf("collector-bench: broker %s, collector pid %d on port %d (%d io threads), %d s per phase, load %s\n",
              flags.brokers.c_str(), collector, port, flags.io_threads, flags.seconds, LoadAverage().c_str());

  // 1. Sample: what the collector writes for one batch.
  const std::string batch_request = Post("/v1/batch", BatchBody());
  {
    Connection connection(port);
    if (int status = connection.RoundTrip(batch_request); status != 200) {
      std::fprintf(stderr, "sample batch answered %d\n", status);
      return finish(1);
    }
  }
  absl::StatusOr<std::vector<KafkaMessage>> sample = ReadTopicToEnd(flags.brokers, topic);
  if (!sample.ok() || sample->size() != 100) {
    std::fprintf(stderr, "sample: %s\n", sample.ok() ? "not 100 records" : sample.status().ToString().c_str());
    return finish(1);
  }
  size_t sample_bytes = 0;
  for (const KafkaMessage& m : *sample) sample_bytes += m.payload.size();

  // 2. Batches of 100, once per connection count; the best rate counts.
  double batch_rate = 0;
  int64_t batch_non_200 = 0;
  for (size_t i = 0; i < flags.batch_connections.size(); ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::seconds(3));  // the broker settles
    const int connections = flags.batch_connections[i];
    const PhaseResult batch = Drive(port, collector, batch_request, connections, flags.seconds, 0);
    const double rate = batch.answers * 100 / batch.seconds;
    batch_rate = std::max(batch_rate, rate);
    batch_non_200 += batch.non_200;
    std::printf("batch     %d connections, /v1/batch x100: %.0f requests/s = %.0f messages/s, "
                "p50 %.1f ms, p99 %.1f ms, %lld non-200; collector %.1f CPU-s (%.2f us a message), "
                "load generator %.1f CPU-s in %.1f s; load %s\n",
                connections, batch.answers / batch.seconds, rate, batch.Percentile(0.5), batch.Percentile(0.99),
                static_cast<long long>(batch.non_200), batch.collector_cpu,
                batch.answers > 0 ? batch.collector_cpu * 1e6 / (batch.answers * 100) : 0.0, batch.client_cpu,
                batch.seconds, LoadAverage().c_str());
  }

  // 3. Baseline: a bare producer, the same records, the same topic, after the broker settled.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  double baseline_rate = 0;
  {
    absl::StatusOr<std::unique_ptr<KafkaProducer>> producer = KafkaProducer::Create(flags.brokers);
    if (!producer.ok()) return finish(1);
    const double cpu_before = OwnCpuSeconds();
    const auto started = Clock::now();
    const auto until = started + std::chrono::seconds(flags.seconds);
    int64_t sent = 0;
    while (Clock::now() < until) {
      for (const KafkaMessage& m : *sample) {
        if (!(*producer)->Produce(topic, m.key, m.payload, m.headers).ok()) return finish(1);
      }
      sent += static_cast<int64_t>(sample->size());
    }
    if (absl::Status s = (*producer)->Flush(absl::Minutes(2)); !s.ok()) {
      std::fprintf(stderr, "baseline flush: %s\n", s.ToString().c_str());
      return finish(1);
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    baseline_rate = sent / elapsed;
    std::printf("baseline  bare librdkafka producer: %lld records (%.0f B avg) in %.2f s = %.0f messages/s; "
                "the collector's best batch rate is %.2f x that; producer %.1f CPU-s; load %s\n",
                static_cast<long long>(sent), static_cast<double>(sample_bytes) / 100, elapsed, baseline_rate,
                batch_rate / baseline_rate,
                OwnCpuSeconds() - cpu_before, LoadAverage().c_str());
  }

  std::this_thread::sleep_for(std::chrono::seconds(3));  // the broker settles again

  // 4. Single track calls, closed loop.
  const std::string track_request = Post("/v1/track", TrackMessage(7));
  const PhaseResult track = Drive(port, collector, track_request, flags.track_connections, flags.seconds, 0);
  const double track_rate = track.answers / track.seconds;
  std::printf("track     %d connections, closed loop: %.0f requests/s, p50 %.2f ms, p99 %.2f ms, %lld non-200; "
              "collector %.1f CPU-s, load generator %.1f CPU-s in %.1f s; load %s\n",
              flags.track_connections, track_rate, track.Percentile(0.5), track.Percentile(0.99),
              static_cast<long long>(track.non_200), track.collector_cpu, track.client_cpu, track.seconds,
              LoadAverage().c_str());

  // 5. Half that rate, open loop.
  const PhaseResult half =
      Drive(port, collector, track_request, flags.track_connections, flags.seconds, track_rate / 2);
  std::printf("track/2   %d connections, open loop at %.0f requests/s: got %.0f/s, p50 %.2f ms, p99 %.2f ms, "
              "p99.9 %.2f ms, %lld non-200; collector %.1f CPU-s, load generator %.1f CPU-s; load %s\n",
              flags.track_connections, track_rate / 2, half.answers / half.seconds, half.Percentile(0.5),
              half.Percentile(0.99), half.Percentile(0.999), static_cast<long long>(half.non_200), half.collector_cpu,
              half.client_cpu, LoadAverage().c_str());

  std::printf("targets   batch >= 0.6 x baseline: %s (%.2f); batch >= 100,000 messages/s: %s; track >= 20,000 req/s: "
              "%s; p99 at half rate < 10 ms: %s\n",
              batch_rate >= 0.6 * baseline_rate ? "met" : "MISSED", batch_rate / baseline_rate,
              batch_rate >= 100000 ? "met" : "MISSED", track_rate >= 20000 ? "met" : "MISSED",
              half.Percentile(0.99) < 10 ? "met" : "MISSED");
  return finish(batch_non_200 + track.non_200 + half.non_200 == 0 ? 0 : 1);
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);  // each phase's line as soon as it is measured
  tessera::Flags flags;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i], value = argv[i + 1];
    bool ok = true;
    if (name == "--tessera") flags.tessera = value;
    else if (name == "--brokers") flags.brokers = value;
    else if (name == "--seconds") ok = absl::SimpleAtoi(value, &flags.seconds);
    else if (name == "--batch-connections") {
      flags.batch_connections.clear();
      for (absl::string_view count : absl::StrSplit(value, ',')) {
        int n = 0;
        ok = ok && absl::SimpleAtoi(count, &n) && n > 0;
        flags.batch_connections.push_back(n);
      }
    }
    else if (name == "--track-connections") ok = absl::SimpleAtoi(value, &flags.track_connections);
    else if (name == "--io-threads") ok = absl::SimpleAtoi(value, &flags.io_threads);
    else ok = false;
    if (!ok) {
      std::fprintf(stderr, "bad flag %s %s\n", name.c_str(), value.c_str());
      return 2;
    }
  }
  if (flags.tessera.empty() || flags.brokers.empty()) {
    std::fprintf(stderr,
                 "usage: collector-bench --tessera BIN --brokers HOST:PORT [--seconds 10] [--batch-connections 24,48,96] "
                 "[--track-connections 32] [--io-threads 2]\n");
    return 2;
  }
  return tessera::Run(flags);
}
