// query-bench: the query API's profile lookup by identifier, search and segment reads, over HTTP on
// loopback, from a separate process; and the export of every profile to NDJSON and CSV.
//
// Method:
//   1. Load (once per --dir): N synthetic profiles written the way the pipeline stores them:
//      "pf/" <be64 id> -> Profile (3 identifiers, 5 traits, event counts, 2 orders, ~400 bytes; every
//      100th has the trait tier=platinum and is a member of the segment "platinum") and
//      "ix/" bench '\0' email:user<i>@example.com / phone / anonymous_id -> be64 id, committed in
//      WriteBatches of 10,000 (WAL not synced), then a full compaction by reopening is not forced:
//      the store is what a pipeline leaves behind.
//   2. Serve: a child process (fork) opens the store as a RocksDB secondary, exactly as
//      `tessera query` does, and serves the API with --server-threads evhttp loops. (--primary
//      opens it as a primary with the pipeline's 256 MiB block cache instead: the secondary's
//      64 MiB cache has 1 MiB shards, too small for the filter block of a large SST, which is then
//      re-read and re-checksummed on every Get -- 36x slower at 1M profiles; see the report.)
//      The server's CPU-seconds are read from /proc/<pid>/stat around each phase.
//   3. Load: this process opens --connections keep-alive connections, spread over --client-threads
//      threads, each sending GET /v1/profiles/email:user<random i>@example.com (uniform over N,
//      with a read_profiles token, so answers are masked: the slower path) one request at a time
//      per connection, for --warmup-s, then --seconds measured. Reported: requests/s, latency
//      p50/p99/p99.9 (wall clock per request), non-200 answers. Both processes share the 2 cores.
//   3b. Search: on one connection, one request at a time, --search-runs times each: a search for the
//      1% (tier=platinum) without the count, its page from a cursor in the middle of the store, the
//      same first page with the count (a scan of every profile), the first 100 members of the 1%
//      segment, and GET /v1/segments (its member counts are a full scan, then cached a minute).
//      Reported: first, median and max wall time, and the server's CPU-seconds per request.
//   4. Export: ExportProfiles of every profile to DIR/export.ndjson, then DIR/export.csv, from a
//      secondary instance: wall time, this process's CPU-seconds (the export renders on helper
//      threads), size. The load average is printed beside every phase: on the shared machine wall
//      time stretches with it, CPU-seconds much less.
//
//   query-bench --dir /tmp/qb --profiles 1000000 [--seconds 10] [--connections 16]
//               [--client-threads 1] [--server-threads 2] [--skip-export] [--skip-http]
//               [--skip-search] [--search-runs 5] [--primary]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/process_stats.h"
#include "common/absl_compat.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/rocks_store.h"
#include "profiles/order_totals.h"
#include "profiles/query/export.h"
#include "profiles/query/query_api.h"
#include "profiles/query/query_server.h"
#include "profiles/query/store_readers.h"
#include "profiles/segments.h"

namespace tessera {
namespace {

using Clock = std::chrono::steady_clock;
using bench::ProcessCpuSeconds;
constexpr uint64_t kIdBase = uint64_t{1} << 48;
constexpr char kToken[] = "qt_bench";

struct Flags {
  std::string dir = "/tmp/tessera-query-bench";
  int64_t profiles = 100'000;
  int seconds = 10;
  int warmup_s = 2;
  int connections = 16;
  int client_threads = 1;
  int server_threads = 2;
  bool skip_export = false;
  bool skip_http = false;
  bool skip_search = false;
  int search_runs = 5;
  bool primary = false;  // serve from a primary instance (256 MiB block cache) instead of a secondary
};

v1::Profile MakeProfile(int64_t i) {
  v1::Profile p;
  p.set_id(kIdBase + static_cast<uint64_t>(i));
  p.set_workspace("bench");
  p.add_identifiers(absl::StrCat("anonymous_id:anon-", i));
  p.add_identifiers(absl::StrCat("email:user", i, "@example.com"));
  p.add_identifiers(absl::StrCat("phone:+6681", 1000000 + i % 9000000));
  auto trait = [&](const char* name, std::string json) {
    v1::TraitValue& t = (*p.mutable_traits())[name];
    t.set_json(std::move(json));
    t.set_timestamp_ms(1'795'575'845'000);
    t.set_message_id(absl::StrCat("m-", i));
  };
  trait("name", absl::StrCat("\"Customer ", i, "\""));
  trait("email", absl::StrCat("\"user", i, "@example.com\""));
  trait("city", "\"Bangkok\"");
  trait("plan", i % 3 == 0 ? "\"gold\"" : "\"basic\"");
  // 1% of profiles: what the search and the segment reads look for.
  trait("tier", i % 100 == 0 ? "\"platinum\"" : "\"member\"");
  if (i % 100 == 0) (*p.mutable_segments())["platinum"] = 1'795'575'845'000;
  p.set_first_seen_ms(1'795'575'845'000 - i * 1000);
  p.set_last_seen_ms(1'795'575'845'000);
  (*p.mutable_event_counts())["web"] = 5 + i % 7;
  (*p.mutable_event_counts())["purchase"] = 2;
  (*p.mutable_event_type_counts())["web.page"] = 5 + i % 7;
  (*p.mutable_event_type_counts())["purchase.order"] = 2;
  for (int o = 0; o < 2; ++o) {
    v1::OrderSummary& order = (*p.mutable_orders())[absl::StrCat("o-", i, "-", o)];
    order.set_status(v1::ORDER_STATUS_COMPLETED);
    order.mutable_total()->set_currency("THB");
    order.mutable_total()->set_minor_units(12'550 + i % 1000);
    order.set_timestamp_ms(1'795'575'845'000);
    order.set_message_id(absl::StrCat("order:o-", i, "-", o, ":completed"));
    (*order.mutable_category_quantities())["coffee"] = 1;
  }
  *p.mutable_order_totals() = profiles::ComputeOrderTotals(p.orders());  // as the fold keeps them
  p.set_version(3);
  return p;
}

absl::Status Load(const Flags& flags) {
  const std::string marker = flags.dir + "/loaded-v2-" + std::to_string(flags.profiles);
  if (std::filesystem::exists(marker)) {
    std::fprintf(stderr, "load: reusing %s\n", flags.dir.c_str());
    return absl::OkStatus();
  }
  std::filesystem::remove_all(flags.dir);
  std::filesystem::create_directories(flags.dir);
  RocksStoreOptions options;
  options.sync_writes = false;
  absl::StatusOr<std::unique_ptr<RocksStore>> store = RocksStore::Open(flags.dir + "/store", options);
  if (!store.ok()) return store.status();
  const auto started = Clock::now();
  StagedWrites writes(store->get());
  for (int64_t i = 0; i < flags.profiles; ++i) {
    const v1::Profile p = MakeProfile(i);
    writes.Put(absl::StrCat("pf/", BigEndian64(p.id())), p.SerializeAsString());
    for (const std::string& identifier : p.identifiers()) {
      writes.Put(WorkspaceKey("ix/", "bench", identifier), BigEndian64(p.id()));
    }
    if ((i + 1) % 10'000 == 0) {
      if (absl::Status s = writes.Commit(); !s.ok()) return s;
      if ((i + 1) % 100'000 == 0) std::fprintf(stderr, "\rload: %lld profiles", static_cast<long long>(i + 1));
    }
  }
  if (absl::Status s = writes.Commit(); !s.ok()) return s;
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::fprintf(stderr, "\rload: %lld profiles in %.1f s\n", static_cast<long long>(flags.profiles), seconds);
  std::ofstream(marker) << "ok\n";
  return absl::OkStatus();
}

// One keep-alive connection: sends a GET, reads the answer by its Content-Length.
class Connection {
 public:
  explicit Connection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0) setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

  bool Send(const std::string& target) { return Send("GET", target, ""); }
  bool Send(std::string_view method, const std::string& target, const std::string& body) {
    std::string request = absl::StrCat(AbslView(method), " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ", kToken,
                           "\r\n");
    if (!body.empty()) absl::StrAppend(&request, "Content-Type: application/json\r\nContent-Length: ", body.size(), "\r\n");
    absl::StrAppend(&request, "\r\n", body);
    return ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size());
  }
  const std::string& answer() const { return buffer_; }

  // The status code of the answer to the request sent, or 0 on a broken connection.
  int Receive() {
    buffer_.clear();
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    char chunk[8192];
    while (true) {
      const ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (n <= 0) return 0;
      buffer_.append(chunk, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = buffer_.find("\r\n\r\n");
        if (header_end == std::string::npos) continue;
        const size_t cl = buffer_.find("Content-Length: ");
        if (cl == std::string::npos || cl > header_end) return 0;
        content_length = std::stoul(buffer_.substr(cl + 16, buffer_.find("\r\n", cl) - cl - 16));
      }
      if (buffer_.size() >= header_end + 4 + content_length) break;
    }
    return std::stoi(buffer_.substr(9, 3));
  }

 private:
  int fd_ = -1;
  std::string buffer_;
};

[[noreturn]] void Serve(const Flags& flags, int port_pipe) {
  const std::string scratch = flags.dir + "/secondary-scratch";
  std::filesystem::create_directories(scratch);
  absl::StatusOr<std::unique_ptr<RocksStore>> store =
      flags.primary ? RocksStore::Open(flags.dir + "/store") : RocksStore::OpenSecondary(flags.dir + "/store", scratch);
  if (!store.ok()) {
    std::fprintf(stderr, "server: %s\n", store.status().ToString().c_str());
    _exit(1);
  }
  query::RocksRangeReader reader(store->get());
  query::QueryConfig config;
  config.default_workspace = "bench";
  config.scopes_by_token[kToken] = query::kScopeReadProfiles;
  query::QueryApi api(&reader, std::move(config), &SystemClock());
  query::SearchContext search;
  search.segments.push_back(
      profiles::SegmentDefinition{"platinum", "1% of profiles", profiles::ParseCondition("{trait: tier, eq: platinum}").value()});
  api.set_search_context(std::move(search));
  absl::StatusOr<std::unique_ptr<query::QueryServer>> server =
      query::QueryServer::Start(query::QueryServerOptions{"127.0.0.1", 0, flags.server_threads}, &api);
  if (!server.ok()) {
    std::fprintf(stderr, "server: %s\n", server.status().ToString().c_str());
    _exit(1);
  }
  const int port = (*server)->port();
  if (::write(port_pipe, &port, sizeof(port)) != sizeof(port)) _exit(1);
  while (true) pause();  // until the parent kills it
}


std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return absl::StrCat(one, " ", five, " ", fifteen);
}

struct Server {
  pid_t pid = 0;
  int port = 0;
};

// Forks the serving process (Serve); pid 0 if it did not start.
Server StartServer(const Flags& flags) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t child = fork();
  if (child == 0) {
    ::close(fds[0]);
    Serve(flags, fds[1]);
  }
  ::close(fds[1]);
  Server server;
  if (::read(fds[0], &server.port, sizeof(server.port)) != sizeof(server.port)) {
    std::fprintf(stderr, "the server did not start\n");
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    return {};
  }
  ::close(fds[0]);
  server.pid = child;
  return server;
}

void RunHttp(const Flags& flags, const Server& server) {
  const int port = server.port;
  const double server_cpu_before = ProcessCpuSeconds(server.pid);
  std::atomic<bool> measuring{false};
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> latencies(flags.client_threads);
  std::vector<int64_t> errors(flags.client_threads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < flags.client_threads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread drives its connections in rounds: a request on every connection, then every
      // answer in turn, so `connections` requests are in flight at once. A request's latency is
      // from its send to the moment this thread reads its answer (slightly pessimistic: an answer
      // waiting behind an earlier connection's is counted as late).
      const int mine = flags.connections / flags.client_threads + (t < flags.connections % flags.client_threads);
      std::vector<std::unique_ptr<Connection>> connections;
      for (int c = 0; c < mine; ++c) connections.push_back(std::make_unique<Connection>(port));
      std::mt19937_64 rng(static_cast<uint64_t>(t) * 7919 + 1);
      std::vector<std::string> targets(connections.size());
      while (!stop.load(std::memory_order_relaxed)) {
        std::vector<Clock::time_point> sent(connections.size());
        std::vector<bool> pending(connections.size());
        for (size_t c = 0; c < connections.size(); ++c) {
          targets[c] = absl::StrCat("/v1/profiles/email:user", rng() % static_cast<uint64_t>(flags.profiles), "@example.com");
        }
        for (size_t c = 0; c < connections.size(); ++c) {
          sent[c] = Clock::now();
          pending[c] = connections[c]->ok() && connections[c]->Send(targets[c]);
        }
        for (size_t c = 0; c < connections.size(); ++c) {
          const int status = pending[c] ? connections[c]->Receive() : 0;
          const double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent[c]).count();
          if (measuring.load(std::memory_order_relaxed)) {
            latencies[t].push_back(ms);
            if (status != 200) ++errors[t];
          }
          if (status == 0) connections[c] = std::make_unique<Connection>(port);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(flags.warmup_s));
  measuring.store(true);
  const auto started = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(flags.seconds));
  measuring.store(false);
  const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  stop.store(true);
  for (auto& thread : threads) thread.join();
  const double server_cpu = ProcessCpuSeconds(server.pid) - server_cpu_before;
  std::vector<double> all;
  int64_t error_count = 0;
  for (int t = 0; t < flags.client_threads; ++t) {
    all.insert(all.end(), latencies[t].begin(), latencies[t].end());
    error_count += errors[t];
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(q * all.size()))]; };
  std::printf("lookup: %lld profiles, %d server threads, %d connections over %d client threads: %.0f requests/s, "
              "p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, %lld non-200 of %zu; server %.1f CPU-s over warm-up and "
              "measurement (%.0f requests per server CPU-s); load average %s\n",
              static_cast<long long>(flags.profiles), flags.server_threads, flags.connections, flags.client_threads,
              all.size() / elapsed, pct(0.5), pct(0.99), pct(0.999), static_cast<long long>(error_count), all.size(),
              server_cpu, all.size() / std::max(1e-9, server_cpu) * elapsed / (elapsed + flags.warmup_s),
              LoadAverage().c_str());
}

// Search and segment reads, one request at a time on one connection, each --search-runs times:
// the wall time from sending the request to the end of its answer, and the server's CPU.
void RunSearch(const Flags& flags, const Server& server) {
  Connection connection(server.port);
  if (!connection.ok()) return;
  struct Call {
    const char* what;
    const char* method;
    std::string target;
    std::string body;
  };
  const std::string filter = R"({"filter": {"trait": "tier", "eq": "platinum"}, "limit": 50)";
  // A cursor into the middle of the store, to time a page that starts with a seek.
  const std::string mid_cursor = absl::StrCat("p", absl::Hex(kIdBase + static_cast<uint64_t>(flags.profiles / 2), absl::kZeroPad16));
  const std::vector<Call> calls = {
      {"search 1%, first page, no count", "POST", "/v1/profiles/search", filter + R"(, "count": false})"},
      {"search 1%, a page from mid-store", "POST", "/v1/profiles/search", filter + R"(, "cursor": ")" + mid_cursor + "\"}"},
      {"search 1%, first page with count", "POST", "/v1/profiles/search", filter + "}"},
      {"segment members (1%), first page of 100", "GET", "/v1/segments/platinum/members?limit=100", ""},
      {"segments with member counts (cached after the first)", "GET", "/v1/segments", ""},
  };
  for (const Call& call : calls) {
    std::vector<double> ms;
    double cpu = 0;
    int status = 0;
    for (int run = 0; run < flags.search_runs; ++run) {
      const double cpu_before = ProcessCpuSeconds(server.pid);
      const auto started = Clock::now();
      status = connection.Send(call.method, call.target, call.body) ? connection.Receive() : 0;
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
      cpu += ProcessCpuSeconds(server.pid) - cpu_before;
      if (status != 200) break;
    }
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    const std::string& answer = connection.answer();
    const size_t count_at = answer.find("\"count\":");
    std::printf("%s: HTTP %d, first %.1f ms, median %.1f ms, max %.1f ms over %zu runs, server %.2f CPU-s per run%s%s\n",
                call.what, status, ms.front(), sorted[sorted.size() / 2], sorted.back(), ms.size(), cpu / ms.size(),
                count_at == std::string::npos ? "" : ", ",
                count_at == std::string::npos ? "" : answer.substr(count_at, answer.find_first_of(",}", count_at) - count_at).c_str());
  }
  std::printf("load average %s\n", LoadAverage().c_str());
}

void RunExport(const Flags& flags) {
  const std::string scratch = flags.dir + "/export-scratch";
  std::filesystem::create_directories(scratch);
  absl::StatusOr<std::unique_ptr<RocksStore>> store = RocksStore::OpenSecondary(flags.dir + "/store", scratch);
  if (!store.ok()) {
    std::fprintf(stderr, "export: %s\n", store.status().ToString().c_str());
    return;
  }
  query::RocksRangeReader reader(store->get());
  for (query::ExportFormat format : {query::ExportFormat::kNdjson, query::ExportFormat::kCsv}) {
    const std::string path = flags.dir + (format == query::ExportFormat::kNdjson ? "/export.ndjson" : "/export.csv");
    std::ofstream out(path, std::ios::trunc | std::ios::binary);
    query::ExportOptions options;
    options.format = format;
    const double cpu_before = ProcessCpuSeconds(getpid());
    const auto started = Clock::now();
    absl::StatusOr<int64_t> written = query::ExportProfiles(reader, options, out);
    out.close();
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    const double cpu = ProcessCpuSeconds(getpid()) - cpu_before;
    if (!written.ok()) {
      std::fprintf(stderr, "export: %s\n", written.status().ToString().c_str());
      return;
    }
    std::printf("export %s: %lld profiles in %.2f s (%.0f profiles/s), %.1f CPU-s, %.1f MB; load average %s\n",
                format == query::ExportFormat::kNdjson ? "ndjson" : "csv", static_cast<long long>(*written), seconds,
                *written / seconds, cpu, std::filesystem::file_size(path) / 1e6, LoadAverage().c_str());
    std::filesystem::remove(path);
  }
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) {
  tessera::Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    auto number = [&](auto& out) {
      if (!absl::SimpleAtoi(value(), &out) || out < 1) {
        std::fprintf(stderr, "%s needs a positive number\n", arg.c_str());
        std::exit(2);
      }
    };
    if (arg == "--dir") flags.dir = value();
    else if (arg == "--profiles") number(flags.profiles);
    else if (arg == "--seconds") number(flags.seconds);
    else if (arg == "--warmup-s") number(flags.warmup_s);
    else if (arg == "--connections") number(flags.connections);
    else if (arg == "--client-threads") number(flags.client_threads);
    else if (arg == "--server-threads") number(flags.server_threads);
    else if (arg == "--skip-export") flags.skip_export = true;
    else if (arg == "--skip-http") flags.skip_http = true;
    else if (arg == "--skip-search") flags.skip_search = true;
    else if (arg == "--search-runs") number(flags.search_runs);
    else if (arg == "--primary") flags.primary = true;
    else {
      std::fprintf(stderr, "usage: query-bench --dir DIR --profiles N [--seconds S] [--connections C] "
                           "[--client-threads T] [--server-threads T] [--skip-export] [--skip-http] [--skip-search] "
                           "[--search-runs N] [--primary]\n");
      return 2;
    }
  }
  if (absl::Status s = tessera::Load(flags); !s.ok()) {
    std::fprintf(stderr, "load: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("load average before: %s\n", tessera::LoadAverage().c_str());
  if (!flags.skip_http || !flags.skip_search) {
    const tessera::Server server = tessera::StartServer(flags);
    if (server.pid == 0) return 1;
    if (!flags.skip_http) tessera::RunHttp(flags, server);
    if (!flags.skip_search) tessera::RunSearch(flags, server);
    kill(server.pid, SIGKILL);
    waitpid(server.pid, nullptr, 0);
  }
  if (!flags.skip_export) tessera::RunExport(flags);
  return 0;
}
