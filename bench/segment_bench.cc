// segment-bench: how long a segment backfill takes over N stored profiles in a real RocksDB.
//
// Method.
//  1. Setup (not timed): a fresh RocksDB under --dir (Tessera's RocksStore options, synced WAL as
//     in production) receives N profiles written through ProfileStore in WriteBatches of 10,000.
//     Each profile has 3-6 traits (email, gender, birthday 1960-2005, interests, city), 0-5
//     orders (completed or refunded, THB, random categories) and day buckets for the selectors the
//     segments read, over the last 60 days. Ids are spread like identity's (prefix << 48 | n).
//  2. The configuration is the one a new definition would bring: 20 segments (traits, age bands,
//     built-in computed traits, event windows, no_event, all/any/not) plus birthday and inactivity
//     triggers, so every profile also gets its timers planned and written.
//  3. Timed: exactly what a worker does after start-up when the definitions' fingerprint changed
//     (app/activation_driver.h): ActivationDriver::Tick in a loop until the backfill is done, each
//     tick re-evaluating a chunk of 2,000 profiles through FusedPipeline::Reevaluate /
//     FinishBatch, encoding every output record (profile updates, segment changes, triggers) as it
//     would be produced, and committing the chunk's staged writes (profiles, timers, progress) as
//     one WriteBatch. Kafka is not involved: publishing is measured by the pipeline benchmarks.
//  4. Reported: wall seconds, CPU seconds (getrusage, whole process), profiles/s, and how many
//     segment changes, trigger firings and updates came out.
//
//   segment-bench [--profiles N (1000000)] [--dir DIR (a temp dir, removed afterwards)] [--seed S]
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "app/activation_driver.h"
#include "app/fused_pipeline.h"
#include "app/outputs.h"
#include "common/clock.h"
#include "common/rocks_store.h"
#include "profiles/profile_store.h"
#include "profiles/triggers.h"

namespace tessera {
namespace {

constexpr char kConfig[] = R"(
profiles:
  segments:
    - {name: women, condition: {trait: gender, eq: female}}
    - {name: men, condition: {trait: gender, eq: male}}
    - {name: age_18_24, condition: {trait: birthday, age_between: [18, 24]}}
    - {name: age_25_34, condition: {trait: birthday, age_between: [25, 34]}}
    - {name: age_35_44, condition: {trait: birthday, age_between: [35, 44]}}
    - {name: age_45_plus, condition: {trait: birthday, age_between: [45, 120]}}
    - {name: yoga, condition: {trait: interests, contains: yoga}}
    - {name: bangkok, condition: {trait: city, eq: Bangkok}}
    - {name: north, condition: {trait: city, in: [Chiang Mai, Chiang Rai, Lampang]}}
    - {name: buyers, condition: {computed: orders_count, gte: 1}}
    - {name: big_spenders, condition: {computed: total_spend.THB, gte: 2000}}
    - {name: refunders, condition: {computed: refunds_count, gte: 1}}
    - {name: coffee_30d, condition: {event: purchase.order, where: {category: coffee}, count_gte: 3, within_days: 30}}
    - {name: bakery_7d, condition: {event: purchase.order, where: {category: bakery}, count_gte: 1, within_days: 7}}
    - {name: no_visit_14d, condition: {no_event: web.page, within_days: 14}}
    - {name: browsers, condition: {event: web.page, count_gte: 5, within_days: 30}}
    - {name: young_coffee, condition: {all: [{trait: birthday, age_between: [18, 34]}, {event: purchase.order, where: {category: coffee}, count_gte: 1, within_days: 30}]}}
    - {name: lapsed_buyers, condition: {all: [{computed: orders_count, gte: 1}, {no_event: web.page, within_days: 30}]}}
    - {name: not_bangkok, condition: {not: {trait: city, eq: Bangkok}}}
    - {name: any_signal, condition: {any: [{trait: interests, contains: coffee}, {computed: orders_count, gte: 3}]}}
  triggers:
    default_time_zone: Asia/Bangkok
    birthday: {days_before: 7}
    inactivity: {days: [30]}
)";

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

void SetTrait(v1::Profile& p, const char* name, const std::string& json) { (*p.mutable_traits())[name].set_json(json); }

v1::Profile MakeProfile(uint64_t id, int64_t now_ms, std::mt19937_64& rng) {
  static const char* kCities[] = {"Bangkok", "Chiang Mai", "Phuket", "Khon Kaen", "Chiang Rai", "Lampang"};
  static const char* kCategories[] = {"coffee", "bakery", "tea", "merch"};
  static const char* kInterests[] = {R"(["coffee","yoga"])", R"(["running"])", R"(["yoga"])", R"([])"};
  std::uniform_int_distribution<int> pick(0, 1'000'000);
  v1::Profile p;
  p.set_id(id);
  p.set_workspace("bench");
  SetTrait(p, "email", absl::StrCat("\"person", id & 0xFFFFFFFF, "@example.com\""));
  SetTrait(p, "gender", pick(rng) % 2 == 0 ? R"("female")" : R"("male")");
  if (pick(rng) % 10 < 8) {
    const int month = 1 + pick(rng) % 12, day = 1 + pick(rng) % 28;
    SetTrait(p, "birthday", absl::StrCat("\"", 1960 + pick(rng) % 46, month < 10 ? "-0" : "-", month,
                                         day < 10 ? "-0" : "-", day, "\""));
  }
  if (pick(rng) % 2 == 0) SetTrait(p, "interests", kInterests[pick(rng) % 4]);
  SetTrait(p, "city", absl::StrCat("\"", kCities[pick(rng) % 6], "\""));
  const int64_t last_seen = now_ms - static_cast<int64_t>(pick(rng) % 60) * profiles::kMillisPerDay;
  p.set_first_seen_ms(last_seen - 90 * profiles::kMillisPerDay);
  p.set_last_seen_ms(last_seen);
  const int orders = pick(rng) % 6;
  for (int i = 0; i < orders; ++i) {
    v1::OrderSummary& o = (*p.mutable_orders())[absl::StrCat("o", i)];
    o.set_status(pick(rng) % 10 == 0 ? v1::ORDER_STATUS_REFUNDED : v1::ORDER_STATUS_COMPLETED);
    o.mutable_total()->set_currency("THB");
    o.mutable_total()->set_minor_units(5000 + pick(rng) % 100000);
    o.set_timestamp_ms(last_seen - static_cast<int64_t>(i) * profiles::kMillisPerDay);
    const char* category = kCategories[pick(rng) % 4];
    (*o.mutable_category_quantities())[category] = 1;
    const std::string key = absl::StrCat("purchase.order?category=", category);
    (*(*p.mutable_event_windows())[key].mutable_by_day())[profiles::UtcDay(o.timestamp_ms())] += 1;
  }
  const int pages = pick(rng) % 8;
  for (int i = 0; i < pages; ++i) {
    (*(*p.mutable_event_windows())["web.page"].mutable_by_day())[profiles::UtcDay(last_seen) - pick(rng) % 20] += 1;
  }
  p.set_version(1 + pick(rng) % 20);
  return p;
}

int Run(int argc, char** argv) {
  int64_t n = 1'000'000;
  uint64_t seed = 1;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--profiles" && absl::SimpleAtoi(argv[i + 1], &n)) continue;
    if (flag == "--seed" && absl::SimpleAtoi(argv[i + 1], &seed)) continue;
    if (flag == "--dir") {
      dir = argv[i + 1];
      continue;
    }
    std::fprintf(stderr, "usage: segment-bench [--profiles N] [--dir DIR] [--seed S]\n");
    return 2;
  }
  const bool temporary = dir.empty();
  if (temporary) dir = (std::filesystem::temp_directory_path() / absl::StrCat("segment-bench-", getpid())).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto store = RocksStore::Open(dir, RocksStoreOptions{});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }

  // 1. Setup.
  const int64_t now_ms = SystemClock().NowMillis();
  std::mt19937_64 rng(seed);
  const absl::Time setup_start = absl::Now();
  for (int64_t done = 0; done < n;) {
    StagedWrites staged(store->get());
    profiles::ProfileStore profile_store(&staged);
    for (int64_t end = std::min(n, done + 10'000); done < end; ++done) {
      const uint64_t id = (static_cast<uint64_t>(done % 8) << 48) | static_cast<uint64_t>(done / 8 + 1);
      profile_store.Save(MakeProfile(id, now_ms, rng));
    }
    if (absl::Status s = staged.Commit(); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf("setup: %lld profiles written in %.1f s\n", static_cast<long long>(n),
              absl::ToDoubleSeconds(absl::Now() - setup_start));

  // 2. Configuration.
  auto config = profiles::ParseActivationConfig(kConfig);
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
    return 1;
  }
  const size_t segments = config->segments.size();
  auto engine = std::make_shared<const profiles::ActivationEngine>(*std::move(config));
  app::FusedPipelineOptions options;
  options.activation = engine;
  const app::Topics topics("tessera.");

  // 3. Timed: the backfill as the worker runs it.
  app::ActivationDriver driver(store->get(), engine.get(), &SystemClock(), "segment-bench");
  int64_t changes = 0, triggers = 0, updates = 0, bytes = 0;
  const double cpu_start = CpuSeconds();
  const absl::Time start = absl::Now();
  bool more = true;
  while (more) {
    StagedWrites staged(store->get());
    app::FusedPipeline pipeline(&staged, options, &SystemClock());
    const app::ActivationDriver::Hooks hooks{
        [&](uint64_t id) { return pipeline.Reevaluate(id); },
        [&]() -> absl::StatusOr<std::vector<app::OutputRecord>> {
          absl::StatusOr<app::BatchOutputs> out = pipeline.FinishBatch();
          if (!out.ok()) return out.status();
          std::vector<app::OutputRecord> records;
          for (const auto& u : out->updates) records.push_back(app::ProfileUpdateOutput(topics, u));
          for (const auto& c : out->segment_changes) records.push_back(app::SegmentChangeOutput(topics, c));
          for (const auto& t : out->triggers) records.push_back(app::TriggerOutput(topics, t));
          changes += static_cast<int64_t>(out->segment_changes.size());
          triggers += static_cast<int64_t>(out->triggers.size());
          updates += static_cast<int64_t>(out->updates.size());
          return records;
        }};
    absl::StatusOr<std::vector<app::OutputRecord>> records = driver.Tick(&staged, hooks, &more);
    if (!records.ok()) {
      std::fprintf(stderr, "%s\n", records.status().ToString().c_str());
      return 1;
    }
    for (const auto& r : *records) bytes += static_cast<int64_t>(r.value.size());
    if (absl::Status s = staged.Commit(); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    if (!driver.backfill_pending()) break;
  }
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  const double cpu = CpuSeconds() - cpu_start;

  // 4. Report.
  std::printf("backfill: %lld profiles, %zu segments + birthday/inactivity triggers\n",
              static_cast<long long>(driver.backfilled()), segments);
  std::printf("  wall %.1f s, cpu %.1f s, %.0f profiles/s\n", wall, cpu, static_cast<double>(driver.backfilled()) / wall);
  std::printf("  out: %lld segment changes, %lld trigger firings, %lld profile updates, %.1f MB encoded\n",
              static_cast<long long>(changes), static_cast<long long>(triggers), static_cast<long long>(updates),
              static_cast<double>(bytes) / 1e6);
  store->reset();
  if (temporary) std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) { return tessera::Run(argc, argv); }
