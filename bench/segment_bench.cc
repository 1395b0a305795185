// segment-bench: the profiles stage with segments against a real RocksDB, in two modes.
//
//   segment-bench [--mode backfill|stage|floor|config] [--profiles N (1000000)] [--events E (1000000)]
//                 [--batch B (5000)] [--dir DIR (a temp dir, removed afterwards)] [--seed S]
//                 [--phases 0|1 (0)] [--block-cache-mb M (256, RocksStoreOptions' default)]
//                 [--evaluate-all 0|1 (0)] [--zipf S (0: uniform)]
//
// --mode config prints the configuration below (YAML) and exits.
//
// Configuration (both modes), read through app::ParseActivationSetup exactly as `tessera run
// --config` reads it: 20 segments (traits, age bands, computed traits, event windows, no_event,
// all/any/not), birthday and inactivity triggers, 10 user-defined computed traits, the built-in
// RFM tier segments (7 more) and the default zone Asia/Bangkok.
//
// Setup (not timed, both modes): a fresh RocksDB under --dir (Tessera's RocksStore options, synced
// WAL as in production) receives N profiles written through ProfileStore in WriteBatches of 10,000.
// Each profile has 3-6 traits (email, gender, birthday 1960-2005, interests, city), 0-5 orders
// (completed or refunded, THB, random categories) and day buckets for the selectors the segments
// read, over the last 60 days. Ids are spread like identity's (prefix << 48 | n).
//
// --mode backfill (the default): what a worker does after start-up when the definitions'
// fingerprint changed (app/activation_driver.h): ActivationDriver::Tick in a loop until the
// backfill is done, each tick re-evaluating a chunk of 2,000 profiles through
// FusedPipeline::Reevaluate / FinishBatch, encoding every output record (profile updates, segment
// changes, triggers) as it would be produced, and committing the chunk's staged writes (profiles,
// timers, progress) as one WriteBatch.
//
// --mode stage: the distributed profiles stage's batch handler (app/stage_workers.cc) on E resolved
// events in batches of B, with the definitions already applied (no backfill): per batch
// ProfileBatch::Prefetch and PrefetchEvents (one MultiGet of its profiles, one of its event keys),
// per event ProfileBatch::Get, ApplyEvent with the computed traits, StageEvent (the event store)
// and the segment window count; per batch ProfileBatch::Finish (segments, triggers and timers for
// every touched profile, then the save), every output encoded as the stage produces it
// (app/outputs.h: profile-changes protobuf, segment-changes and triggers JSON) and one WriteBatch
// commit. Events are 50% page views, 20% Product Viewed, 10% Product Added, 10% orders (1-3 lines),
// 10% identify calls; each goes to a profile drawn uniformly from the N stored ones: the worst
// case, as a batch of 5,000 over a million profiles almost never meets one twice. The identity
// stage and Kafka are not involved (their benchmarks measure them). --zipf S draws the profiles
// Zipf-skewed instead, rank r with weight 1/r^S (issue 8's workload generator uses 0.8), rank r
// being stored profile (r - 1) * stride mod N for a stride coprime with N, so the busy profiles
// are spread over the store as identity's ids are, not neighbours sharing blocks: a busy profile
// is met several times in a batch (read and written once) and its block is often cached.
//
// --mode floor: what RocksDB alone costs --mode stage (the same store, the same draws of the same
// profiles in the same batches): each batch's profiles read in one MultiGet and written back
// unchanged in one synced WriteBatch, nothing parsed or evaluated. The stage cannot go below it
// while it reads and rewrites a profile for each event; the rest of the stage's time is its own.
//
// Reported: wall seconds, CPU seconds (getrusage, whole process, RocksDB's threads included),
// profiles/s or events/s, CPU-seconds per million, and how many outputs came out; for --mode stage
// also this thread's CPU per event by phase, read with clock_gettime(CLOCK_THREAD_CPUTIME_ID) per
// batch (the last, free, is freeing the batch's arena and outputs, as the stage does before its
// next batch; before 2026-12-06 it fell outside the timed part, some 2-3% of the thread).
// --phases 1 splits the per-event part (load, apply, event store, window count) by reading
// that clock four times per event: a system call each, some 4% of the thread (perf), so the rate
// of such a run is a little low and the default leaves the split out.
// --evaluate-all 1 evaluates every segment of every touched profile, as the stage did before it
// evaluated only the segments that read what a batch changed (ProfileBatch::set_incremental_segments).
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "app/activation_driver.h"
#include "app/fused_pipeline.h"
#include "app/profile_batch.h"
#include "app/outputs.h"
#include "common/clock.h"
#include "common/rocks_store.h"
#include "profiles/event_store.h"
#include "profiles/order_totals.h"
#include "profiles/profile_state.h"
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
    birthday: {days_before: 7}
    inactivity: {days: [30]}
  default_time_zone: Asia/Bangkok
  computed_traits:
    - {name: views_30d, event: "Product Viewed", aggregate: count, window_days: 30}
    - {name: last_viewed, event: "Product Viewed", property: name, aggregate: last}
    - {name: viewed_categories, event: "Product Viewed", property: category, aggregate: unique_list}
    - {name: top_category, event: "Product Viewed", property: category, aggregate: most_frequent}
    - {name: max_price_7d, event: "Product Viewed", property: price, aggregate: max, window_days: 7}
    - {name: adds_7d, event: "Product Added", aggregate: count, window_days: 7}
    - {name: first_add, event: "Product Added", aggregate: first}
    - {name: order_spend_90d, event: purchase.order, property: total, aggregate: sum, window_days: 90}
    - {name: min_order, event: purchase.order, property: total, aggregate: min}
    - {name: pages_all, event: web.page, aggregate: count}
)";

// CPU seconds of the calling thread (the phases of --mode stage; RocksDB's threads excluded).
double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

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
  if (orders > 0) *p.mutable_order_totals() = profiles::ComputeOrderTotals(p.orders());  // as the fold keeps them
  const int pages = pick(rng) % 8;
  for (int i = 0; i < pages; ++i) {
    (*(*p.mutable_event_windows())["web.page"].mutable_by_day())[profiles::UtcDay(last_seen) - pick(rng) % 20] += 1;
  }
  p.set_version(1 + pick(rng) % 20);
  return p;
}

uint64_t ProfileId(int64_t n) { return (static_cast<uint64_t>(n % 8) << 48) | static_cast<uint64_t>(n / 8 + 1); }

// One resolved event for --mode stage (see the method above).
v1::Event MakeEvent(int64_t serial, int64_t now_ms, std::mt19937_64& rng) {
  static const char* kCategories[] = {"coffee", "bakery", "tea", "merch"};
  static const char* kNames[] = {"Latte", "Scone", "Matcha", "Mug", "Mocha", "Croissant"};
  std::uniform_int_distribution<int> pick(0, 1'000'000);
  v1::Event e;
  e.set_message_id(absl::StrCat("m-", serial));
  e.set_workspace("bench");
  e.set_timestamp_ms(now_ms - static_cast<int64_t>(pick(rng) % 3'600'000));
  e.mutable_source()->set_topic("tessera.resolved");
  e.mutable_source()->set_offset(serial);
  const int kind = pick(rng) % 10;
  const char* category = kCategories[pick(rng) % 4];
  const char* name = kNames[pick(rng) % 6];
  if (kind < 5) {
    e.set_channel(v1::CHANNEL_WEB);
    e.set_type("page");
    e.set_name("Menu");
    e.set_properties_json(absl::StrCat(R"({"path":"/menu/)", category, R"(","title":"Menu"})"));
  } else if (kind < 8) {
    e.set_channel(v1::CHANNEL_WEB);
    e.set_type("track");
    e.set_name(kind < 7 ? "Product Viewed" : "Product Added");
    e.set_properties_json(absl::StrCat(R"({"product_id":"p)", pick(rng) % 500, R"(","name":")", name,
                                       R"(","category":")", category, R"(","price":)", 40 + pick(rng) % 200, "}"));
  } else if (kind < 9) {
    e.set_channel(v1::CHANNEL_PURCHASE);
    e.set_type("order");
    e.set_name("completed");
    e.set_message_id(absl::StrCat("order:b", serial, ":completed"));
    v1::Order& order = *e.mutable_order();
    order.set_order_id(absl::StrCat("b", serial));
    order.set_channel(pick(rng) % 2 == 0 ? "store" : "web");
    order.set_status(v1::ORDER_STATUS_COMPLETED);
    order.mutable_total()->set_currency("THB");
    int64_t total = 0;
    for (int i = 0, lines = 1 + pick(rng) % 3; i < lines; ++i) {
      v1::OrderItem& item = *order.add_items();
      item.set_sku(absl::StrCat("sku-", pick(rng) % 200));
      item.set_name(kNames[pick(rng) % 6]);
      item.set_category(kCategories[pick(rng) % 4]);
      item.set_quantity(1 + pick(rng) % 2);
      item.set_unit_price_minor(4000 + pick(rng) % 20000);
      total += item.quantity() * item.unit_price_minor();
    }
    order.mutable_total()->set_minor_units(total);
  } else {
    e.set_channel(v1::CHANNEL_WEB);
    e.set_type("identify");
    (*e.mutable_traits())["city"] = absl::StrCat("\"", pick(rng) % 2 == 0 ? "Bangkok" : "Phuket", "\"");
    (*e.mutable_traits())["interests"] = R"(["coffee","yoga"])";
  }
  return e;
}

struct Flags {
  std::string mode = "backfill";
  int64_t profiles = 1'000'000;
  int64_t events = 1'000'000;
  int64_t batch = 5'000;
  uint64_t seed = 1;
  std::string dir;
  bool phases = false;  // split the per-event part by phase (costs four clock reads per event)
  bool evaluate_all = false;  // every segment of every touched profile, as before 2026-12-06 (A/B)
  int64_t block_cache_mb = static_cast<int64_t>(RocksStoreOptions{}.block_cache_bytes >> 20);
  double zipf = 0;  // 0: every profile equally likely
};

std::string DrawName(const Flags& flags) {
  return flags.zipf > 0 ? absl::StrCat("Zipf ", flags.zipf, " draws") : std::string("uniform draws");
}

// Which stored profile (0..N-1) each event goes to (see --zipf above).
class ProfileDraw {
 public:
  ProfileDraw(int64_t profiles, double zipf) : uniform_(0, profiles - 1) {
    if (zipf <= 0) return;
    cumulative_.reserve(static_cast<size_t>(profiles));
    double sum = 0;
    for (int64_t rank = 1; rank <= profiles; ++rank) {
      sum += std::pow(static_cast<double>(rank), -zipf);
      cumulative_.push_back(sum);
    }
    stride_ = 2'654'435'761 % static_cast<uint64_t>(profiles);
    while (stride_ == 0 || std::gcd(stride_, static_cast<uint64_t>(profiles)) != 1) ++stride_;
    profiles_ = static_cast<uint64_t>(profiles);
  }
  int64_t Next(std::mt19937_64& rng) {
    if (cumulative_.empty()) return uniform_(rng);
    const double u = std::uniform_real_distribution<double>(0, cumulative_.back())(rng);
    const uint64_t rank0 = static_cast<uint64_t>(
        std::min<ptrdiff_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin(),
                            static_cast<ptrdiff_t>(cumulative_.size()) - 1));
    return static_cast<int64_t>(static_cast<unsigned __int128>(rank0) * stride_ % profiles_);
  }

 private:
  std::uniform_int_distribution<int64_t> uniform_;
  std::vector<double> cumulative_;  // of the weights by rank; empty: uniform
  uint64_t stride_ = 1;
  uint64_t profiles_ = 1;
};

void Report(const char* what, int64_t n, double wall, double cpu) {
  std::printf("  wall %.1f s, cpu %.1f s, %.0f %s/s, %.1f CPU-s per million %s (%.0f per CPU-second)\n", wall, cpu,
              static_cast<double>(n) / wall, what, cpu * 1e6 / static_cast<double>(std::max<int64_t>(n, 1)), what,
              static_cast<double>(n) / cpu);
}

int Backfill(RocksStore* store, const app::ActivationSetup& setup) {
  app::FusedPipelineOptions options;
  options.activation = setup.activation;
  options.computed_traits = setup.computed;
  const app::Topics topics("tessera.");
  app::ActivationDriver driver(store, setup.activation.get(), &SystemClock(), "segment-bench");
  int64_t changes = 0, triggers = 0, updates = 0, bytes = 0;
  const double cpu_start = CpuSeconds();
  const absl::Time start = absl::Now();
  bool more = true;
  while (more) {
    StagedWrites staged(store);
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
  std::printf("backfill: %lld profiles, %zu segments (7 of them RFM tiers) + birthday/inactivity triggers\n",
              static_cast<long long>(driver.backfilled()), setup.activation->segments().segments().size());
  Report("profiles", driver.backfilled(), wall, cpu);
  std::printf("  out: %lld segment changes, %lld trigger firings, %lld profile updates, %.1f MB encoded\n",
              static_cast<long long>(changes), static_cast<long long>(triggers), static_cast<long long>(updates),
              static_cast<double>(bytes) / 1e6);
  return 0;
}

int Stage(RocksStore* store, const app::ActivationSetup& setup, const Flags& flags, int64_t now_ms) {
  {  // The definitions are applied already: no backfill, the steady state.
    StagedWrites staged(store);
    staged.Put("sg/config", setup.activation->config().fingerprint);
    if (absl::Status s = staged.Commit(); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::mt19937_64 rng(flags.seed + 1);
  ProfileDraw who(flags.profiles, flags.zipf);
  const app::Topics topics("tessera.");
  const profiles::ActivationEngine& activation = *setup.activation;
  int64_t changes = 0, triggers = 0, updates = 0, bytes = 0;
  double cpu = 0, wall = 0;
  std::vector<std::pair<uint64_t, v1::Event>> batch;
  struct {
    double load = 0, apply = 0, event_store = 0, record = 0, finish = 0, encode = 0, commit = 0, free = 0;
  } phases;  // this thread's CPU seconds by step
  for (int64_t done = 0; done < flags.events;) {
    batch.clear();  // generated outside the timed part
    for (int64_t end = std::min(flags.events, done + flags.batch); done < end; ++done) {
      batch.emplace_back(ProfileId(who.Next(rng)), MakeEvent(done, now_ms, rng));
    }
    const double cpu_start = CpuSeconds();
    const absl::Time start = absl::Now();
    StagedWrites staged(store);
    profiles::ProfileStore profile_store(&staged);
    app::ProfileBatch profiles(&profile_store, &activation, &staged, setup.computed.get());
    profiles.set_incremental_segments(!flags.evaluate_all);  // as the stage does
    const int64_t batch_now = SystemClock().NowMillis();
    double mark = ThreadCpuSeconds();
    const auto phase = [&mark](double& into) {
      const double t = ThreadCpuSeconds();
      into += t - mark;
      mark = t;
    };
    {  // as the stage does: the batch's profiles and event keys in one MultiGet each, counted as loading
      std::vector<uint64_t> ids;
      std::vector<std::pair<uint64_t, const v1::Event*>> events;
      std::vector<std::pair<uint64_t, std::string_view>> orders;
      ids.reserve(batch.size());
      events.reserve(batch.size());
      for (const auto& [id, event] : batch) {
        ids.push_back(id);
        events.emplace_back(id, &event);
        if (!profiles::OrderIdOf(event).empty()) orders.emplace_back(id, profiles::OrderIdOf(event));
      }
      absl::Status s = profiles.Prefetch(ids);
      if (s.ok()) s = profiles.PrefetchOrders(orders);
      if (s.ok()) s = profiles::PrefetchEvents(&staged, events);
      if (!s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
    }
    const auto event_phase = [&](double& into) {
      if (flags.phases) phase(into);
    };
    for (const auto& [id, event] : batch) {
      absl::StatusOr<v1::Profile*> profile = profiles.Get(id, event.workspace());
      if (profile.ok()) {
        if (absl::Status s = profiles.NeedOrdersOf(id, event); !s.ok()) profile = s;
      }
      if (!profile.ok()) {
        std::fprintf(stderr, "%s\n", profile.status().ToString().c_str());
        return 1;
      }
      event_phase(phases.load);
      profiles::ApplyEvent(event, **profile, *setup.computed);
      event_phase(phases.apply);
      if (absl::Status s = profiles::StageEvent(&staged, id, event); !s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
      event_phase(phases.event_store);
      profiles.RecordEvent(id, event, batch_now);
      event_phase(phases.record);
    }
    if (!flags.phases) phase(phases.load);  // the whole per-event part, counted as loading
    profiles::ActivationOutputs out;
    absl::StatusOr<app::ProfileUpdates> finished = profiles.Finish(batch_now, &out);
    if (!finished.ok()) {
      std::fprintf(stderr, "%s\n", finished.status().ToString().c_str());
      return 1;
    }
    phase(phases.finish);
    std::vector<app::OutputRecord> records;
    app::AppendProfileChangeOutputs(topics, *finished, records);
    for (const app::OutputRecord& r : records) bytes += static_cast<int64_t>(r.value.size());
    for (const auto& c : out.segment_changes) bytes += static_cast<int64_t>(app::SegmentChangeOutput(topics, c).value.size());
    for (const auto& t : out.triggers) bytes += static_cast<int64_t>(app::TriggerOutput(topics, t).value.size());
    phase(phases.encode);
    if (absl::Status s = staged.Commit(); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    phase(phases.commit);
    updates += static_cast<int64_t>(finished->size());
    changes += static_cast<int64_t>(out.segment_changes.size());
    triggers += static_cast<int64_t>(out.triggers.size());
    // The batch's arena (every profile it read) and outputs are freed inside the timed part: the
    // stage frees them before its next batch.
    finished = absl::CancelledError("freed");
    out = {};
    phase(phases.free);
    wall += absl::ToDoubleSeconds(absl::Now() - start);
    cpu += CpuSeconds() - cpu_start;
  }
  std::printf("stage: %lld events over %lld stored profiles (%s) in batches of %lld; %zu segments (7 of them RFM "
              "tiers), %zu user-defined computed traits, birthday/inactivity triggers; block cache %lld MiB\n",
              static_cast<long long>(flags.events), static_cast<long long>(flags.profiles), DrawName(flags).c_str(),
              static_cast<long long>(flags.batch), activation.segments().segments().size(),
              setup.computed->custom_traits.size(), static_cast<long long>(flags.block_cache_mb));
  Report("events", flags.events, wall, cpu);
  const double per = 1e6 / static_cast<double>(flags.events);  // CPU-s per event -> us per event
  if (flags.phases) {
    std::printf("  this thread, us per event: load %.2f, apply %.2f, event store %.2f, window count %.2f, "
                "finish (segments, triggers, save) %.2f, encode %.2f, commit %.2f, free %.2f\n",
                phases.load * per, phases.apply * per, phases.event_store * per, phases.record * per,
                phases.finish * per, phases.encode * per, phases.commit * per, phases.free * per);
  } else {
    std::printf("  this thread, us per event: load, apply, event store and window count %.2f, finish (segments, "
                "triggers, save) %.2f, encode %.2f, commit %.2f, free %.2f (--phases 1 splits the first)\n",
                phases.load * per, phases.finish * per, phases.encode * per, phases.commit * per, phases.free * per);
  }
  std::printf("  out: %lld profile updates, %lld segment changes, %lld trigger firings, %.1f MB encoded\n",
              static_cast<long long>(updates), static_cast<long long>(changes), static_cast<long long>(triggers),
              static_cast<double>(bytes) / 1e6);
  return 0;
}

// The storage floor under --mode stage: the same batches of the same profiles (the same draws),
// each profile read in one MultiGet per batch and written back unchanged in one synced WriteBatch,
// with no parsing, events, segments or outputs. What any profiles stage that reads a profile and
// writes it again for each event pays RocksDB on this store, whatever it does in between.
int Floor(RocksStore* store, const Flags& flags, int64_t now_ms) {
  std::mt19937_64 rng(flags.seed + 1);
  ProfileDraw who(flags.profiles, flags.zipf);
  double cpu = 0, wall = 0, read = 0, write = 0;
  int64_t bytes = 0, reads = 0;
  std::vector<uint64_t> ids;
  for (int64_t done = 0; done < flags.events;) {
    ids.clear();  // drawn as --mode stage draws them, its events made and dropped to keep the draws equal
    for (int64_t end = std::min(flags.events, done + flags.batch); done < end; ++done) {
      ids.push_back(ProfileId(who.Next(rng)));
      MakeEvent(done, now_ms, rng);
    }
    const double cpu_start = CpuSeconds();
    const absl::Time start = absl::Now();
    double mark = ThreadCpuSeconds();
    {
      StagedWrites staged(store);
      std::vector<std::string> keys;
      keys.reserve(ids.size());
      for (uint64_t id : ids) keys.push_back(profiles::ProfileKey(id));
      std::sort(keys.begin(), keys.end());
      keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
      if (absl::Status s = staged.Prefetch(keys); !s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
      for (const std::string& key : keys) {
        absl::StatusOr<std::optional<std::string>> value = staged.Get(key);
        if (!value.ok() || !value->has_value()) {
          std::fprintf(stderr, "profile %s not read\n", absl::BytesToHexString(key).c_str());
          return 1;
        }
        bytes += static_cast<int64_t>((*value)->size());
        ++reads;
        staged.Put(key, **value);
      }
      double t = ThreadCpuSeconds();
      read += t - mark;
      mark = t;
      if (absl::Status s = staged.Commit(); !s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
    }
    write += ThreadCpuSeconds() - mark;
    wall += absl::ToDoubleSeconds(absl::Now() - start);
    cpu += CpuSeconds() - cpu_start;
  }
  std::printf("floor: %lld events over %lld stored profiles (%s) in batches of %lld: each batch's profiles read "
              "and written back unchanged (%lld reads); block cache %lld MiB\n",
              static_cast<long long>(flags.events), static_cast<long long>(flags.profiles), DrawName(flags).c_str(),
              static_cast<long long>(flags.batch), static_cast<long long>(reads),
              static_cast<long long>(flags.block_cache_mb));
  Report("events", flags.events, wall, cpu);
  const double per = 1e6 / static_cast<double>(flags.events);
  std::printf("  this thread, us per event: read %.2f, write back %.2f (%.0f B a profile read)\n", read * per,
              write * per, static_cast<double>(bytes) / static_cast<double>(std::max<int64_t>(reads, 1)));
  return 0;
}

int Run(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--profiles" && absl::SimpleAtoi(argv[i + 1], &flags.profiles) && flags.profiles > 0) continue;
    if (flag == "--events" && absl::SimpleAtoi(argv[i + 1], &flags.events)) continue;
    if (flag == "--batch" && absl::SimpleAtoi(argv[i + 1], &flags.batch) && flags.batch > 0) continue;
    if (flag == "--seed" && absl::SimpleAtoi(argv[i + 1], &flags.seed)) continue;
    if (flag == "--phases" && absl::SimpleAtob(argv[i + 1], &flags.phases)) continue;
    if (flag == "--evaluate-all" && absl::SimpleAtob(argv[i + 1], &flags.evaluate_all)) continue;
    if (flag == "--zipf" && absl::SimpleAtod(argv[i + 1], &flags.zipf) && flags.zipf >= 0) continue;
    if (flag == "--block-cache-mb" && absl::SimpleAtoi(argv[i + 1], &flags.block_cache_mb) && flags.block_cache_mb > 0) {
      continue;
    }
    if (flag == "--dir" || flag == "--mode") {
      (flag == "--dir" ? flags.dir : flags.mode) = argv[i + 1];
      continue;
    }
    flags.mode = "";
    break;
  }
  if (flags.mode == "config") {  // the configuration as YAML, for other benches (tessera-bench pipeline --config)
    std::fputs(kConfig, stdout);
    return 0;
  }
  if (flags.mode != "backfill" && flags.mode != "stage" && flags.mode != "floor") {
    std::fprintf(stderr,
                 "usage: segment-bench [--mode backfill|stage|floor|config] [--profiles N] [--events E] [--batch B] "
                 "[--dir DIR] [--seed S] [--phases 0|1] [--block-cache-mb M] [--evaluate-all 0|1] [--zipf S]\n");
    return 2;
  }
  auto setup = app::ParseActivationSetup(kConfig, "UTC");
  if (!setup.ok()) {
    std::fprintf(stderr, "%s\n", setup.status().ToString().c_str());
    return 1;
  }
  const bool temporary = flags.dir.empty();
  std::string dir = flags.dir;
  if (temporary) dir = (std::filesystem::temp_directory_path() / absl::StrCat("segment-bench-", getpid())).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  RocksStoreOptions store_options;
  store_options.block_cache_bytes = static_cast<size_t>(flags.block_cache_mb) << 20;
  auto store = RocksStore::Open(dir, store_options);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }

  // Setup.
  const int64_t now_ms = SystemClock().NowMillis();
  std::mt19937_64 rng(flags.seed);
  const absl::Time setup_start = absl::Now();
  for (int64_t done = 0; done < flags.profiles;) {
    StagedWrites staged(store->get());
    profiles::ProfileStore profile_store(&staged);
    for (int64_t end = std::min(flags.profiles, done + 10'000); done < end; ++done) {
      v1::Profile profile = MakeProfile(ProfileId(done), now_ms, rng);
      if (flags.mode != "backfill") {
        // The steady state: stored profiles already carry their membership and timers, as after
        // a backfill (what that costs is --mode backfill's measurement).
        profiles::ActivationOutputs ignored;
        if (absl::Status s = setup->activation->Evaluate(profile, staged, absl::FromUnixMillis(now_ms), ignored).status();
            !s.ok()) {
          std::fprintf(stderr, "%s\n", s.ToString().c_str());
          return 1;
        }
      }
      profile_store.Save(profile);
    }
    if (absl::Status s = staged.Commit(); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf("setup: %lld profiles written in %.1f s\n", static_cast<long long>(flags.profiles),
              absl::ToDoubleSeconds(absl::Now() - setup_start));

  const int rc = flags.mode == "stage"   ? Stage(store->get(), *setup, flags, now_ms)
                 : flags.mode == "floor" ? Floor(store->get(), flags, now_ms)
                                         : Backfill(store->get(), *setup);
  store->reset();
  if (temporary) std::filesystem::remove_all(dir);
  return rc;
}

}  // namespace
}  // namespace tessera

int main(int argc, char** argv) { return tessera::Run(argc, argv); }
