// tessera-identity-bench: the identity stage (IdentityResolver with the default rules and the
// fingerprint index) over a real RocksDB, one thread, as the pipeline drives it (StagedWrites
// committed per batch, WAL synced per commit).
//
// Method:
//   1. "load": people 0..N/2-1, one event each carrying a user_id and an anonymous_id never seen
//      before (every event creates a profile and links two identifiers: index, identity record,
//      device record, link-log entry), resolved and committed in batches of --batch. Leaves N
//      identifiers in the store. With --dir, the store is kept, and a later run with the same --dir
//      and --identifiers skips the load (DIR/loaded records how many identifiers it holds).
//   2. The store is closed and reopened (a new process start: RocksDB's caches and the index cold).
//      With the presence filter (the default, as in the pipeline; --no-presence-filter turns it
//      off), the scan that fills it runs to the end before the next phase, and its time is printed.
//   3. "new links": --new more people never seen, as in 1, on the full store.
//   4. "known, cold index": every one of --active people, drawn at random from the loaded ones,
//      returns once with both identifiers, later in event time (nothing changes, nothing is
//      written): the index has never seen them, so each goes the slow way through RocksDB.
//   5. "known, warm index": --known events drawn uniformly from the same active people: the steady
//      state of a running pipeline, whose returning visitors the index has seen.
//   The block cache is --block-cache-mb (default 8 MiB), far smaller than the data. Events of a
//   batch are generated before its clock starts; only resolve + commit is timed. Reported per
//   phase: events/s (wall clock), CPU seconds per million events (getrusage of this process: the
//   figure to read on a loaded machine; 1e6 / it is events per CPU-second, one core), the index's
//   hit counts, events per CPU-second of the resolving thread alone (RUSAGE_THREAD: its one core,
//   without RocksDB's background flushes and compactions), and the process's RSS (VmRSS) and peak (VmHWM) after the phase.
//
//   tessera-identity-bench [--identifiers 1000000] [--new 100000] [--active 1000000] [--known 2000000]
//       [--block-cache-mb 8] [--batch 5000] [--index-entries 2097152] [--no-presence-filter] [--dir DIR]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/identifier.h"
#include "common/rocks_store.h"
#include "identity/fingerprint_index.h"
#include "identity/identity_resolver.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace {

using tessera::RocksStore;
using tessera::StagedWrites;
using tessera::identity::FingerprintIndex;
using tessera::identity::FingerprintIndexStats;
using tessera::identity::IdentityResolver;
namespace v1 = tessera::v1;

constexpr int64_t kBaseMs = 1'789'000'000'000;

// Of the whole process (`who` RUSAGE_SELF: RocksDB's background threads too) or of the calling
// thread alone (RUSAGE_THREAD: the resolver's one core).
double CpuSeconds(int who = RUSAGE_SELF) {
  rusage usage{};
  getrusage(who, &usage);
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
  double thread_cpu_seconds = 0;
  int64_t events = 0;
  FingerprintIndexStats before;
  FingerprintIndexStats after;
};

// Resolves events 0..count-1 of `make` in batches, committing each; only resolve + commit is timed.
// Exits on any error (a benchmark has no recovery).
Phase Run(RocksStore* store, FingerprintIndex& index, int64_t count, size_t batch,
          const std::function<v1::Event(int64_t)>& make) {
  Phase phase;
  phase.events = count;
  phase.before = index.stats();
  std::vector<v1::Event> events;
  for (int64_t begin = 0; begin < count; begin += static_cast<int64_t>(batch)) {
    events.clear();
    for (int64_t i = begin; i < count && i < begin + static_cast<int64_t>(batch); ++i) events.push_back(make(i));
    const double cpu0 = CpuSeconds();
    const double thread_cpu0 = CpuSeconds(RUSAGE_THREAD);
    const auto t0 = std::chrono::steady_clock::now();
    StagedWrites writes(store);
    IdentityResolver resolver(&writes, 1, &tessera::SystemClock(), tessera::identity::RulesByWorkspace(), &index);
    for (const v1::Event& event : events) {
      auto resolved = resolver.Resolve(event);
      if (!resolved.ok()) {
        std::fprintf(stderr, "resolve: %s\n", std::string(resolved.status().message()).c_str());
        std::exit(1);
      }
    }
    if (absl::Status s = writes.Commit(); !s.ok()) {
      std::fprintf(stderr, "commit: %s\n", std::string(s.message()).c_str());
      std::exit(1);
    }
    index.MarkCommitted();
    phase.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    phase.cpu_seconds += CpuSeconds() - cpu0;
    phase.thread_cpu_seconds += CpuSeconds(RUSAGE_THREAD) - thread_cpu0;
  }
  phase.after = index.stats();
  return phase;
}

void Report(const char* name, const Phase& p) {
  const int64_t hits = p.after.event_hits - p.before.event_hits;
  std::printf(
      "%-18s %9lld events %7.1f s %9.0f events/s %6.2f CPU-s/1M events (%7.0f events/CPU-s; resolver thread "
      "%7.0f)  index hits %5.1f%%  RSS %7.1f MiB peak %7.1f MiB\n",
      name, static_cast<long long>(p.events), p.seconds, static_cast<double>(p.events) / p.seconds,
      p.cpu_seconds * 1e6 / static_cast<double>(p.events), static_cast<double>(p.events) / p.cpu_seconds,
      static_cast<double>(p.events) / p.thread_cpu_seconds,
      100.0 * static_cast<double>(hits) / static_cast<double>(std::max<int64_t>(p.events, 1)), MemoryMiB("VmRSS"),
      MemoryMiB("VmHWM"));
  std::fflush(stdout);
}

int64_t LoadedIdentifiers(const std::string& dir) {
  std::ifstream in(dir + "/loaded");
  int64_t n = 0;
  return (in >> n) ? n : 0;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t identifiers = 1'000'000;
  int64_t fresh_people = 100'000;
  int64_t active = 1'000'000;
  int64_t known = 2'000'000;
  int64_t cache_mb = 8;
  int64_t batch = 5000;
  int64_t index_entries = static_cast<int64_t>(FingerprintIndex::kDefaultMaxEntries);
  std::string dir;
  bool presence_filter = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    auto number = [&](int64_t& out) {
      if (!has_value || !absl::SimpleAtoi(argv[i + 1], &out) || out < 0) return false;
      ++i;
      return true;
    };
    if (arg == "--identifiers" && number(identifiers)) {
    } else if (arg == "--new" && number(fresh_people)) {
    } else if (arg == "--active" && number(active)) {
    } else if (arg == "--known" && number(known)) {
    } else if (arg == "--block-cache-mb" && number(cache_mb)) {
    } else if (arg == "--batch" && number(batch) && batch > 0) {
    } else if (arg == "--index-entries" && number(index_entries)) {
    } else if (arg == "--no-presence-filter") {
      presence_filter = false;
    } else if (arg == "--dir" && has_value) {
      dir = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: tessera-identity-bench [--identifiers 1000000] [--new 100000] [--active 1000000] "
                   "[--known 2000000] [--block-cache-mb 8] [--batch 5000] [--index-entries 2097152] [--no-presence-filter] [--dir DIR]\n");
      return 2;
    }
  }
  const bool own_dir = dir.empty();
  if (own_dir) {
    dir = (std::filesystem::temp_directory_path() / "tessera-identity-bench-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) return 1;
  }
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/store";
  tessera::RocksStoreOptions options;
  options.block_cache_bytes = static_cast<size_t>(cache_mb) << 20;
  if (presence_filter) options.presence_filter_prefixes = tessera::identity::PresenceFilteredPrefixes();
  const int64_t people = identifiers / 2;
  active = std::min(active, people);
  const size_t batch_size = static_cast<size_t>(batch);

  std::printf(
      "identity stage, default rules, RocksDB block cache %lld MiB, batches of %lld, fingerprint index %lld entries "
      "per table, one thread\n",
      static_cast<long long>(cache_mb), static_cast<long long>(batch), static_cast<long long>(index_entries));
  if (LoadedIdentifiers(dir) != identifiers) {
    if (LoadedIdentifiers(dir) != 0) std::filesystem::remove_all(path);
    auto store = RocksStore::Open(path, options);
    if (!store.ok()) {
      std::fprintf(stderr, "open: %s\n", std::string(store.status().message()).c_str());
      return 1;
    }
    FingerprintIndex index(static_cast<size_t>(index_entries));
    Report("load", Run(store->get(), index, people, batch_size,
                       [](int64_t p) { return Person(p, kBaseMs + p, p); }));
    std::ofstream(dir + "/loaded") << identifiers << "\n";
  } else {
    std::printf("load: skipped, %s holds %lld identifiers\n", path.c_str(), static_cast<long long>(identifiers));
  }

  // A new process: the store reopened, the index empty. Later runs on a kept --dir add people past
  // the loaded ones, and mark them so the next run's "new links" are new again.
  auto store = RocksStore::Open(path, options);
  if (!store.ok()) {
    std::fprintf(stderr, "reopen: %s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  FingerprintIndex index(static_cast<size_t>(index_entries));
  std::printf("after open: RSS %.1f MiB\n", MemoryMiB("VmRSS"));
  if (presence_filter) {
    // The pipeline starts at once and reads RocksDB until the scan is done; the phases below
    // measure the steady state after it.
    const auto scan0 = std::chrono::steady_clock::now();
    (*store)->WaitForPresenceFilter();
    const tessera::KeyPresenceFilterStats f = (*store)->presence_filter_stats();
    std::printf("presence filter: ready in %.2f s, %lld keys in %d filters, %.1f MiB; RSS %.1f MiB\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - scan0).count(),
                static_cast<long long>(f.keys), f.filters, static_cast<double>(f.bytes) / (1 << 20),
                MemoryMiB("VmRSS"));
  }
  const int64_t later_ms = kBaseMs + 4 * people;
  std::mt19937_64 rng(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  const int64_t fresh_base = people + static_cast<int64_t>(rng() % (uint64_t{1} << 40));  // never loaded
  Report("new links", Run(store->get(), index, fresh_people, batch_size, [&](int64_t k) {
           return Person(fresh_base + k, later_ms + k, fresh_base + k);
         }));

  std::vector<int64_t> active_people(static_cast<size_t>(active));
  for (int64_t& p : active_people) p = static_cast<int64_t>(rng() % static_cast<uint64_t>(people));
  int64_t serial = 2 * people;
  Report("known, cold index", Run(store->get(), index, active, batch_size, [&](int64_t k) {
           ++serial;
           return Person(active_people[static_cast<size_t>(k)], later_ms + fresh_people + k, serial);
         }));
  Report("known, warm index", Run(store->get(), index, known, batch_size, [&](int64_t k) {
           ++serial;
           return Person(active_people[rng() % active_people.size()], later_ms + fresh_people + active + k, serial);
         }));
  const FingerprintIndexStats s = index.stats();
  std::printf(
      "index: %zu identifiers, %zu event sets, %zu roots held in %.1f MiB; %lld generations dropped; %lld late "
      "bypasses\n",
      s.identifiers, s.event_sets, s.roots, static_cast<double>(s.bytes) / (1 << 20),
      static_cast<long long>(s.generations_dropped), static_cast<long long>(s.late_bypasses));
  if (presence_filter) {
    const tessera::KeyPresenceFilterStats f = (*store)->presence_filter_stats();
    std::printf("presence filter: %lld keys in %d filters, %.1f MiB; %lld reads answered absent, %lld passed on\n",
                static_cast<long long>(f.keys), f.filters, static_cast<double>(f.bytes) / (1 << 20),
                static_cast<long long>(f.absent_answers), static_cast<long long>(f.maybe_answers));
  }
  store->reset();
  uintmax_t bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  std::printf("store on disk: %.1f MiB for %lld identifiers (+ %lld new per run)\n",
              static_cast<double>(bytes) / (1 << 20), static_cast<long long>(identifiers),
              static_cast<long long>(2 * fresh_people));
  if (own_dir) {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  return 0;
}
