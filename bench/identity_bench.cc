// tessera-identity-bench: the identity stage (IdentityResolver with the default rules) over a real
// RocksDB, one thread, as the pipeline drives it (StagedWrites committed per batch).
//
// Method:
//   1. "new links": N/2 events, each carrying a user_id and an anonymous_id never seen before
//      (every event creates a profile and links two identifiers: index, identity record, device
//      record, link-log entry), committed in batches of --batch (default 5,000) with the WAL synced
//      per commit, as the pipeline does. Leaves N identifiers in the store.
//   2. The store is closed and reopened, so nothing of phase 1 is in the block cache or memtables'
//      reader caches beyond what RocksDB keeps itself.
//   3. "known identifiers": --known events drawn uniformly at random from the people of phase 1,
//      each carrying that person's two identifiers again (the common case in production: a returning
//      visitor), later in event time, so nothing changes and nothing is written; committed per batch.
//   The block cache is --block-cache-mb (default 8 MiB), far smaller than the data. Reported per
//   phase: events/s (wall clock), CPU seconds per million events (getrusage, this process), and the
//   process's RSS (VmRSS) and peak (VmHWM) after the phase. Inputs are generated before the clock
//   starts. The machine's other load is not controlled: run it on an idle machine for numbers.
//
//   tessera-identity-bench [--identifiers 1000000] [--known 500000] [--block-cache-mb 8] [--batch 5000] [--dir DIR]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/identifier.h"
#include "common/rocks_store.h"
#include "identity/identity_resolver.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace {

using tessera::RocksStore;
using tessera::StagedWrites;
using tessera::identity::IdentityResolver;
namespace v1 = tessera::v1;

constexpr int64_t kBaseMs = 1'789'000'000'000;

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// "VmRSS" or "VmHWM" of this process in MiB.
double MemoryMiB(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      int64_t kib = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits.push_back(c);
      }
      if (absl::SimpleAtoi(digits, &kib)) return static_cast<double>(kib) / 1024.0;
    }
  }
  return 0;
}

v1::Event Person(int64_t person, int64_t time_ms, int64_t serial) {
  v1::Event event;
  event.set_workspace("bench");
  event.set_message_id(absl::StrCat("m", serial));
  event.set_timestamp_ms(time_ms);
  event.mutable_source()->set_topic("raw.web");
  event.mutable_source()->set_offset(serial);
  *event.add_identifiers() = tessera::MakeIdentifier("user_id", absl::StrCat("u", person));
  *event.add_identifiers() = tessera::MakeIdentifier("anonymous_id", absl::StrCat("a-", person, "-7f3c"));
  return event;
}

struct Phase {
  double seconds = 0;
  double cpu_seconds = 0;
  int64_t events = 0;
};

// Resolves `events` in batches, committing each; exits on any error (a benchmark has no recovery).
Phase Run(RocksStore* store, const std::vector<v1::Event>& events, size_t batch) {
  Phase phase;
  phase.events = static_cast<int64_t>(events.size());
  const double cpu0 = CpuSeconds();
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t begin = 0; begin < events.size(); begin += batch) {
    StagedWrites writes(store);
    IdentityResolver resolver(&writes, 1, &tessera::SystemClock());
    for (size_t i = begin; i < events.size() && i < begin + batch; ++i) {
      auto resolved = resolver.Resolve(events[i]);
      if (!resolved.ok()) {
        std::fprintf(stderr, "resolve: %s\n", std::string(resolved.status().message()).c_str());
        std::exit(1);
      }
    }
    if (absl::Status s = writes.Commit(); !s.ok()) {
      std::fprintf(stderr, "commit: %s\n", std::string(s.message()).c_str());
      std::exit(1);
    }
  }
  phase.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  phase.cpu_seconds = CpuSeconds() - cpu0;
  return phase;
}

void Report(const char* name, const Phase& p) {
  std::printf("%-20s %9lld events  %7.1f s  %9.0f events/s  %6.2f CPU-s per 1M events  RSS %7.1f MiB  peak %7.1f MiB\n",
              name, static_cast<long long>(p.events), p.seconds, static_cast<double>(p.events) / p.seconds,
              p.cpu_seconds * 1e6 / static_cast<double>(p.events), MemoryMiB("VmRSS"), MemoryMiB("VmHWM"));
}

}  // namespace

int main(int argc, char** argv) {
  int64_t identifiers = 1'000'000;
  int64_t known = 500'000;
  int64_t cache_mb = 8;
  int64_t batch = 5000;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--identifiers" && has_value && absl::SimpleAtoi(argv[i + 1], &identifiers)) {
      ++i;
    } else if (arg == "--known" && has_value && absl::SimpleAtoi(argv[i + 1], &known)) {
      ++i;
    } else if (arg == "--block-cache-mb" && has_value && absl::SimpleAtoi(argv[i + 1], &cache_mb)) {
      ++i;
    } else if (arg == "--batch" && has_value && absl::SimpleAtoi(argv[i + 1], &batch) && batch > 0) {
      ++i;
    } else if (arg == "--dir" && has_value) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: tessera-identity-bench [--identifiers 1000000] [--known 500000] [--block-cache-mb 8] "
                   "[--batch 5000] [--dir DIR]\n");
      return 2;
    }
  }
  const bool own_dir = dir.empty();
  if (own_dir) {
    dir = (std::filesystem::temp_directory_path() / "tessera-identity-bench-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) return 1;
  }
  const std::string path = dir + "/store";
  tessera::RocksStoreOptions options;
  options.block_cache_bytes = static_cast<size_t>(cache_mb) << 20;

  const int64_t people = identifiers / 2;
  std::vector<v1::Event> fresh;
  fresh.reserve(static_cast<size_t>(people));
  for (int64_t p = 0; p < people; ++p) fresh.push_back(Person(p, kBaseMs + p, p));
  std::printf("identity stage, default rules, RocksDB block cache %lld MiB, batches of %lld, one thread\n",
              static_cast<long long>(cache_mb), static_cast<long long>(batch));
  {
    auto store = RocksStore::Open(path, options);
    if (!store.ok()) {
      std::fprintf(stderr, "open: %s\n", std::string(store.status().message()).c_str());
      return 1;
    }
    Report("new links", Run(store->get(), fresh, static_cast<size_t>(batch)));
  }
  fresh = {};

  std::mt19937_64 rng(42);
  std::vector<v1::Event> returning;
  returning.reserve(static_cast<size_t>(known));
  for (int64_t k = 0; k < known; ++k) {
    const int64_t person = static_cast<int64_t>(rng() % static_cast<uint64_t>(people));
    returning.push_back(Person(person, kBaseMs + people + k, people + k));
  }
  {
    auto store = RocksStore::Open(path, options);
    if (!store.ok()) {
      std::fprintf(stderr, "reopen: %s\n", std::string(store.status().message()).c_str());
      return 1;
    }
    Report("known identifiers", Run(store->get(), returning, static_cast<size_t>(batch)));
  }
  uintmax_t bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  std::printf("store on disk: %.1f MiB for %lld identifiers\n", static_cast<double>(bytes) / (1 << 20),
              static_cast<long long>(identifiers));
  if (own_dir) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  return 0;
}
