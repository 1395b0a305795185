// tessera-bench: the workload generator and the baselines of docs/benchmarks.md. Each subcommand
// prints one JSON object on stdout (bench/driver.py collects them into the results file); progress
// goes to stderr.
//
//   produce   --brokers B --prefix P --people N --events M [--seed S] [--partitions 4] [--skip K]
//             the workload (bench/workload.h) into P's raw topics, created if missing; --skip K
//             generates the first K events without producing them, so a later run with the same
//             flags and a larger M continues the same population's activity (updates)
//   pass      --brokers B --prefix P --events M [--batch-size 5000]
//             B_pass: consume the raw topics and produce every record unchanged to P bench.pass-out,
//             with Tessera's consumer and producer settings and its loop (poll a batch, produce,
//             flush, commit), no processing
//   kv        --dir D --keys K --ops M --value-bytes V [--batch-size 5000]
//             B_kv: RocksDB with the pipeline's options: Get; Get+Put per op; batched update (Get
//             each key, one synced WriteBatch per batch, as the pipeline commits); Merge per op
//   parse     --people N --events M [--seed S]
//             B_parse: simdjson DOM parse MB/s over the workload, and ingest's EventParser msg/s
//   pipeline  --dir D --people N --events M [--seed S] [--batch-size 5000] [--config FILE]
//             the fused pipeline without Kafka (ingest -> identity -> profiles -> output encoding,
//             one synced WriteBatch per batch): where the time goes when Kafka is taken away.
//             --config: segments, triggers and computed traits as `tessera run --config` reads
//             them (e.g. `segment-bench --mode config`); without it none are configured, as in
//             bench/run
//   store     --dir D [--compact yes]
//             footprint of a stopped store: SST/WAL/other bytes, keys and logical bytes per key
//             prefix, and each prefix's SST bytes on disk (RocksDB's approximate sizes: compressed);
//             --compact yes first flushes the memtables and compacts the whole store, opened as
//             the pipeline opens it (the dedup window's expiry included)
//   topics    --brokers B --prefix P [--partitions 4] [--delete yes]
//             creates P's topics (so a pipeline can be started on them before anything is produced);
//             --delete yes deletes every topic whose name starts with P instead (a run's big topics, once
//             measured, so a full run fits on the disk)
//   latency   --brokers B --prefix P --watch TOPIC --rate R --seconds S [--warmup-seconds 5]
//             [--probes-per-s 200] [--people N] [--seed S] [--zipf Z] [--skip K] [--series-out FILE]
//             scenario 2: the workload into P's raw topics at R events/s on a fixed schedule (open
//             loop), with probe events among them: identify calls of a user never seen, one every
//             1/probes-per-s s, each marked "latency-probe-<tag>-<n>". A consumer of TOPIC (the
//             pipeline's profile-updates, or B_pass's output, which carries the raw record) takes
//             the first record naming probe n as its arrival: latency = arrival - the time the probe
//             was handed to the producer. Probes sent during the warm-up are not counted.
//             --series-out FILE: every probe's send and arrival time and the watched topic's arrivals
//             per 10 ms, on the monotonic clock (the recovery scenario reads them).
//             --skip K: the workload from its event K on (the same people as a `produce` of K events
//             with the same seed, new messageIds), for a load over a store that drain filled.
//
// Only the baselines use RocksDB and librdkafka below Tessera's adapters (the RocksDB handle of a
// RocksStore, a merge-operator DB for B_kv), because measuring the raw engine is their purpose.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "app/activation_driver.h"
#include "app/fused_pipeline.h"
#include "app/offsets.h"
#include "app/outputs.h"
#include "app/runner.h"
#include "app/topics.h"
#include "bench/workload.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/json_writer.h"
#include "common/kafka.h"
#include "common/rocks_options.h"
#include "common/rocks_store.h"
#include "ingest/dedup.h"
#include "ingest/ingest.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "simdjson.h"

namespace tessera::bench {
namespace {

// Flags as --name value pairs.
class Flags {
 public:
  Flags(int argc, char** argv, int first) {
    for (int i = first; i + 1 < argc; i += 2) {
      std::string_view name = argv[i];
      if (name.substr(0, 2) == "--") name.remove_prefix(2);
      values_[std::string(name)] = argv[i + 1];
    }
  }
  std::string Str(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  int64_t Int(const std::string& name, int64_t fallback) const {
    int64_t v = fallback;
    auto it = values_.find(name);
    if (it != values_.end() && !absl::SimpleAtoi(it->second, &v)) {
      std::fprintf(stderr, "tessera-bench: --%s needs a number\n", name.c_str());
      std::exit(2);
    }
    return v;
  }
  double Double(const std::string& name, double fallback) const {
    double v = fallback;
    auto it = values_.find(name);
    if (it != values_.end() && !absl::SimpleAtod(it->second, &v)) std::exit(2);
    return v;
  }
  std::string Required(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) {
      std::fprintf(stderr, "tessera-bench: --%s is required\n", name.c_str());
      std::exit(2);
    }
    return it->second;
  }

 private:
  std::map<std::string, std::string> values_;
};

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Wall and CPU time of one measured stretch.
struct Stopwatch {
  double wall0 = WallSeconds();
  double cpu0 = CpuSeconds();
  double wall() const { return WallSeconds() - wall0; }
  double cpu() const { return CpuSeconds() - cpu0; }
};

std::string Num(double v) { return absl::StrFormat("%.6g", v); }

// {"ops":..,"seconds":..,"per_s":..,"cpu_s":..,"cpu_s_per_million":..}
void WriteRate(JsonWriter& w, std::string_view name, int64_t ops, const Stopwatch& watch) {
  const double wall = watch.wall();
  const double cpu = watch.cpu();
  w.Key(name).BeginObject();
  w.Key("ops").Int(ops);
  w.Key("seconds").Raw(Num(wall));
  w.Key("per_s").Raw(Num(static_cast<double>(ops) / wall));
  w.Key("cpu_s").Raw(Num(cpu));
  w.Key("cpu_s_per_million").Raw(Num(cpu * 1e6 / static_cast<double>(ops)));
  w.EndObject();
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "tessera-bench: %s\n", std::string(status.message()).c_str());
  return 1;
}

WorkloadOptions WorkloadFrom(const Flags& flags) {
  WorkloadOptions options;
  options.seed = static_cast<uint64_t>(flags.Int("seed", static_cast<int64_t>(options.seed)));
  options.people = flags.Int("people", options.people);
  options.events = flags.Int("events", options.events);
  options.zipf_exponent = flags.Double("zipf", options.zipf_exponent);
  options.merge_fraction = flags.Double("merge-fraction", options.merge_fraction);
  return options;
}

void WriteWorkloadStats(JsonWriter& w, const WorkloadOptions& options, const WorkloadStats& stats) {
  w.Key("workload").BeginObject();
  w.Key("seed").Uint(options.seed).Key("people").Int(options.people).Key("events").Int(stats.events);
  w.Key("zipf_exponent").Raw(Num(options.zipf_exponent));
  w.Key("message_ids").String(kMessageIdShape);
  w.Key("bytes").Int(stats.bytes).Key("mean_bytes").Raw(Num(static_cast<double>(stats.bytes) / stats.events));
  w.Key("min_bytes").Int(stats.min_bytes).Key("max_bytes").Int(stats.max_bytes);
  w.Key("merges").Int(stats.merges).Key("merge_fraction").Raw(Num(static_cast<double>(stats.merges) / stats.events));
  w.Key("people_seen").Int(stats.people_seen).Key("expected_profiles").Int(stats.expected_profiles);
  w.Key("busiest_person_events").Int(stats.busiest_person_events);
  w.Key("by_kind").BeginObject();
  for (int k = 0; k < kEventKinds; ++k) w.Key(EventKindName(static_cast<EventKind>(k))).Int(stats.by_kind[k]);
  w.EndObject();
  w.Key("by_identifier_count").BeginObject();
  for (int c = 1; c <= 3; ++c) w.Key(absl::StrCat(c)).Int(stats.by_identifier_count[c]);
  w.EndObject();
  w.EndObject();
}

void Print(JsonWriter& w) {
  w.EndObject();
  std::printf("%s\n", w.str().c_str());
}

// ---------------------------------------------------------------------------------------------

int Produce(const Flags& flags) {
  const std::string brokers = flags.Required("brokers");
  const app::Topics topics(flags.Required("prefix"));
  if (absl::Status s = CreateTopics(brokers, topics.Specs(static_cast<int>(flags.Int("partitions", 4)))); !s.ok()) {
    return Fail(s);
  }
  auto producer = KafkaProducer::Create(brokers);
  if (!producer.ok()) return Fail(producer.status());
  const WorkloadOptions options = WorkloadFrom(flags);
  WorkloadGenerator generator(options);
  generator.Skip(flags.Int("skip", 0));
  const WorkloadStats skipped = generator.stats();
  WorkloadEvent event;
  Stopwatch watch;
  while (generator.Next(event)) {
    if (absl::Status s = (*producer)->Produce(topics.Raw(event.channel), event.key, event.payload); !s.ok()) {
      return Fail(s);
    }
  }
  if (absl::Status s = (*producer)->Flush(absl::Minutes(5)); !s.ok()) return Fail(s);
  const WorkloadStats stats = generator.stats();
  JsonWriter w;
  w.BeginObject();
  WriteWorkloadStats(w, options, stats);
  // What this run sent: all of the workload above but its first `skip` events.
  w.Key("produced").BeginObject();
  w.Key("events").Int(stats.events - skipped.events).Key("bytes").Int(stats.bytes - skipped.bytes);
  w.Key("merges").Int(stats.merges - skipped.merges).Key("new_people").Int(stats.people_seen - skipped.people_seen);
  w.EndObject();
  WriteRate(w, "produce", stats.events - skipped.events, watch);
  Print(w);
  return 0;
}

int Pass(const Flags& flags) {
  const std::string brokers = flags.Required("brokers");
  const std::string prefix = flags.Required("prefix");
  const app::Topics topics(prefix);
  const int64_t events = flags.Int("events", 0);
  const size_t batch_size = static_cast<size_t>(flags.Int("batch-size", 5000));
  if (events <= 0) return Fail(absl::InvalidArgumentError("--events must be positive"));
  const std::string out_topic = prefix + "bench.pass-out";
  if (absl::Status s = CreateTopics(brokers, {TopicSpec{out_topic, 4, {}}}); !s.ok()) return Fail(s);
  auto producer = KafkaProducer::Create(brokers);
  if (!producer.ok()) return Fail(producer.status());
  KafkaConsumer::Options consumer_options;
  consumer_options.brokers = brokers;
  consumer_options.group_id = prefix + "bench.pass";
  consumer_options.group_instance_id = prefix + "bench.pass-0";
  consumer_options.topics = {topics.raw_web, topics.raw_social, topics.raw_purchase};
  // The same fetch batching as `tessera run`'s stages: same consumer settings, as issue 8 asks.
  const int64_t fetch_wait_ms = absl::ToInt64Milliseconds(app::RunOptions{}.fetch_wait);
  consumer_options.fetch_wait = absl::Milliseconds(flags.Int("fetch-wait-ms", fetch_wait_ms));
  auto consumer = KafkaConsumer::Create(consumer_options);
  if (!consumer.ok()) return Fail(consumer.status());

  int64_t processed = 0;
  int64_t batches = 0;
  std::optional<Stopwatch> watch;  // from the first record: group join is not part of the rate
  while (processed < events) {
    auto batch = (*consumer)->PollBatch(batch_size, absl::Milliseconds(50));
    if (!batch.ok()) return Fail(batch.status());
    if (batch->empty()) continue;
    if (!watch.has_value()) watch.emplace();
    std::map<TopicPartition, int64_t> next_offsets;
    for (const KafkaMessage& m : *batch) {
      if (absl::Status s = (*producer)->Produce(out_topic, m.key, m.payload); !s.ok()) return Fail(s);
      int64_t& next = next_offsets[{m.topic, m.partition}];
      next = std::max(next, m.offset + 1);
    }
    if (absl::Status s = (*producer)->Flush(absl::Minutes(2)); !s.ok()) return Fail(s);
    if (absl::Status s = (*consumer)->Commit(next_offsets); !s.ok()) return Fail(s);
    processed += static_cast<int64_t>(batch->size());
    ++batches;
  }
  JsonWriter w;
  w.BeginObject();
  WriteRate(w, "pass", processed, *watch);
  w.Key("batches").Int(batches);
  Print(w);
  (*consumer)->Close();
  return 0;
}

int Topics(const Flags& flags) {
  if (flags.Str("delete") == "yes") {
    absl::StatusOr<std::vector<std::string>> deleted = DeleteTopicsWithPrefix(flags.Required("brokers"),
                                                                              flags.Required("prefix"));
    if (!deleted.ok()) return Fail(deleted.status());
    std::printf("{\"deleted\": %zu}\n", deleted->size());
    return 0;
  }
  const app::Topics topics(flags.Required("prefix"));
  if (absl::Status s = CreateTopics(flags.Required("brokers"), topics.Specs(static_cast<int>(flags.Int("partitions", 4))));
      !s.ok()) {
    return Fail(s);
  }
  std::printf("{\"created\": true}\n");
  return 0;
}

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Scenario 2 (see the file comment).
int Latency(const Flags& flags) {
  const std::string brokers = flags.Required("brokers");
  const app::Topics topics(flags.Required("prefix"));
  const std::string watch_topic = flags.Required("watch");
  const double rate = flags.Double("rate", 0);
  const double seconds = flags.Double("seconds", 0);
  const double warmup = flags.Double("warmup-seconds", 5);
  const double probes_per_s = flags.Double("probes-per-s", 200);
  if (rate <= 0 || seconds <= 0 || probes_per_s <= 0 || probes_per_s > rate) {
    return Fail(absl::InvalidArgumentError("--rate, --seconds and --probes-per-s must be positive, probes <= rate"));
  }
  const std::string tag = absl::StrCat(getpid());
  const std::string marker = absl::StrCat("latency-probe-", tag, "-");
  const int64_t total_events = static_cast<int64_t>(rate * (warmup + seconds));
  const int64_t probe_every = std::max<int64_t>(1, static_cast<int64_t>(rate / probes_per_s));
  const int64_t probes = total_events / probe_every + 1;

  // Linger 1 ms: the producer's own batching wait is part of every figure, B_pass's too.
  auto producer = KafkaProducer::Create(brokers, {{"linger.ms", "1"}});
  if (!producer.ok()) return Fail(producer.status());
  KafkaConsumer::Options consumer_options;
  consumer_options.brokers = brokers;
  consumer_options.group_id = absl::StrCat(watch_topic, ".latency-watch-", tag);
  consumer_options.topics = {watch_topic};
  // The stopwatch fetches without batching (fetch_wait zero): it must see an update the moment
  // it is consumable, not when a fetch has gathered enough.
  auto consumer = KafkaConsumer::Create(consumer_options);
  if (!consumer.ok()) return Fail(consumer.status());

  std::vector<std::atomic<int64_t>> sent_us(static_cast<size_t>(probes));
  std::vector<int64_t> arrived_us(static_cast<size_t>(probes), -1);
  for (auto& t : sent_us) t.store(-1, std::memory_order_relaxed);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> seen{0};
  std::atomic<int64_t> watch_errors{0};
  std::string last_watch_error;  // written by the watcher, read after it is joined
  const std::string series_out = flags.Str("series-out");
  std::map<int64_t, int64_t> arrivals_per_10ms;  // every record of TOPIC (watcher thread only)
  std::thread watcher([&] {
    while (!stop.load(std::memory_order_acquire)) {
      auto batch = (*consumer)->PollBatch(1000, absl::Milliseconds(10));
      if (!batch.ok()) {  // counted and reported: a watcher that cannot read would look like lost probes
        watch_errors.fetch_add(1, std::memory_order_relaxed);
        last_watch_error = std::string(batch.status().message());
        continue;
      }
      const int64_t now = SteadyMicros();
      if (!series_out.empty() && !batch->empty()) arrivals_per_10ms[now / 10'000] += static_cast<int64_t>(batch->size());
      for (const KafkaMessage& m : *batch) {
        const size_t at = m.payload.find(marker);
        if (at == std::string::npos) continue;
        int64_t n = 0;
        size_t i = at + marker.size();
        bool digits = false;
        while (i < m.payload.size() && m.payload[i] >= '0' && m.payload[i] <= '9') {
          n = n * 10 + (m.payload[i++] - '0');
          digits = true;
        }
        if (!digits || n >= probes || arrived_us[static_cast<size_t>(n)] >= 0) continue;
        if (sent_us[static_cast<size_t>(n)].load(std::memory_order_acquire) < 0) continue;
        arrived_us[static_cast<size_t>(n)] = now;
        seen.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });

  // Every event built before the clock starts (the generator's JSON work would otherwise take a
  // share of the two cores from the pipeline under test), probes in their places.
  struct Planned {
    const std::string* topic;
    std::string key, payload;
    int64_t probe = -1;
  };
  std::vector<Planned> plan;
  plan.reserve(static_cast<size_t>(total_events));
  {
    // --skip K: the workload's events after its first K, so the load continues a population that
    // `produce` (same seed) already filled a store with, under new messageIds.
    const int64_t skip = flags.Int("skip", 0);
    WorkloadOptions options = WorkloadFrom(flags);
    options.events = skip + total_events;
    WorkloadGenerator generator(options);
    generator.Skip(skip);
    WorkloadEvent event;
    int64_t probe_count = 0;
    for (int64_t i = 0; i < total_events; ++i) {
      if (i % probe_every == 0 && probe_count < probes) {
        const int64_t n = probe_count++;
        const std::string id = absl::StrCat(marker, n);
        plan.push_back({&topics.raw_web, id, id, n});  // the payload is written when it is sent (its time)
        continue;
      }
      if (!generator.Next(event)) break;
      plan.push_back({&topics.Raw(event.channel), event.key, std::move(event.payload), -1});
    }
  }
  // Sent in 1 ms ticks (every event due by then), not one sleep per event: a wake-up per event
  // would cost the machine more than the pipeline's work at these rates.
  const int64_t start_us = SteadyMicros();
  const int64_t warmup_end_us = start_us + static_cast<int64_t>(warmup * 1e6);
  Stopwatch watch;
  int64_t produced = 0, probe_count = 0, counted_from_probe = -1;
  int64_t max_behind_us = 0;
  size_t next = 0;
  while (next < plan.size()) {
    const int64_t now = SteadyMicros();
    const auto due_of = [&](size_t i) { return start_us + static_cast<int64_t>(static_cast<double>(i) * 1e6 / rate); };
    if (due_of(next) > now) {
      std::this_thread::sleep_for(std::chrono::microseconds(std::max<int64_t>(due_of(next) - now, 1000)));
      continue;
    }
    max_behind_us = std::max(max_behind_us, now - due_of(next));
    for (; next < plan.size() && due_of(next) <= now; ++next) {
      Planned& p = plan[next];
      absl::Status status;
      if (p.probe >= 0) {
        const int64_t n = p.probe;
        const std::string at = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
        const std::string payload =
            absl::StrCat(R"({"type":"identify","messageId":")", p.key, R"(","anonymousId":"anon-)", p.key,
                         R"(","userId":")", p.key, R"(","timestamp":")", at, R"(","sentAt":")", at,
                         R"(","traits":{"plan":"latency-probe"}})");
        const int64_t sent = SteadyMicros();
        if (counted_from_probe < 0 && sent >= warmup_end_us) counted_from_probe = n;
        sent_us[static_cast<size_t>(n)].store(sent, std::memory_order_release);
        probe_count = n + 1;
        status = (*producer)->Produce(*p.topic, p.key, payload);
      } else {
        status = (*producer)->Produce(*p.topic, p.key, p.payload);
      }
      if (!status.ok()) return Fail(status);
      ++produced;
    }
  }
  const double produce_seconds = watch.wall();
  if (absl::Status s = (*producer)->Flush(absl::Seconds(60)); !s.ok()) return Fail(s);
  // The last probes: wait until every one arrived, or 30 s.
  const int64_t give_up = SteadyMicros() + 30'000'000;
  while (seen.load() < probe_count && SteadyMicros() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop.store(true, std::memory_order_release);
  watcher.join();
  (*consumer)->Close();

  std::vector<double> latencies_ms;
  int64_t counted = 0;
  for (int64_t n = std::max<int64_t>(counted_from_probe, 0); counted_from_probe >= 0 && n < probe_count; ++n) {
    ++counted;
    const int64_t sent = sent_us[static_cast<size_t>(n)].load();
    if (arrived_us[static_cast<size_t>(n)] >= 0) {
      latencies_ms.push_back(static_cast<double>(arrived_us[static_cast<size_t>(n)] - sent) / 1000.0);
    }
  }
  if (!series_out.empty()) {
    // For the recovery scenario: times on the monotonic clock (Python's time.monotonic()).
    JsonWriter series;
    series.BeginObject();
    series.Key("probes").BeginArray();  // [sent us, arrived us or -1]
    for (int64_t n = 0; n < probe_count; ++n) {
      series.BeginArray().Int(sent_us[static_cast<size_t>(n)].load()).Int(arrived_us[static_cast<size_t>(n)]).EndArray();
    }
    series.EndArray();
    series.Key("arrivals_per_10ms").BeginArray();  // [monotonic ms, records]
    for (const auto& [bucket, count] : arrivals_per_10ms) series.BeginArray().Int(bucket * 10).Int(count).EndArray();
    series.EndArray();
    series.EndObject();
    std::ofstream(series_out) << series.str() << "\n";
  }
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const auto percentile = [&](double q) {
    if (latencies_ms.empty()) return -1.0;
    const size_t at = std::min(latencies_ms.size() - 1, static_cast<size_t>(q * static_cast<double>(latencies_ms.size())));
    return latencies_ms[at];
  };
  JsonWriter w;
  w.BeginObject();
  w.Key("latency").BeginObject();
  w.Key("watch").String(watch_topic);
  w.Key("offered_per_s").Raw(Num(rate));
  w.Key("achieved_per_s").Raw(Num(static_cast<double>(produced) / produce_seconds));
  w.Key("max_behind_schedule_ms").Raw(Num(static_cast<double>(max_behind_us) / 1000.0));
  w.Key("warmup_s").Raw(Num(warmup)).Key("seconds").Raw(Num(seconds));
  w.Key("probes_counted").Int(counted).Key("probes_arrived").Int(static_cast<int64_t>(latencies_ms.size()));
  w.Key("p50_ms").Raw(Num(percentile(0.50)));
  w.Key("p99_ms").Raw(Num(percentile(0.99)));
  w.Key("p999_ms").Raw(Num(percentile(0.999)));
  w.Key("max_ms").Raw(Num(latencies_ms.empty() ? -1.0 : latencies_ms.back()));
  // The distribution for the CDF plot: every 0.5th percentile.
  w.Key("cdf_ms").BeginArray();
  for (int i = 0; i <= 200; ++i) w.Raw(Num(percentile(i / 200.0)));
  w.EndArray();
  w.Key("cpu_s").Raw(Num(watch.cpu()));
  w.Key("watch_errors").Int(watch_errors.load());
  if (!last_watch_error.empty()) w.Key("last_watch_error").String(last_watch_error);
  w.EndObject();
  Print(w);
  return 0;
}

// ---------------------------------------------------------------------------------------------

// Adds little-endian uint64 deltas: the shape of a counter update that needs no read.
class AddCounters final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger*) const override {
    uint64_t sum = 0;
    if (existing != nullptr && existing->size() >= 8) std::memcpy(&sum, existing->data(), 8);
    uint64_t delta = 0;
    if (value.size() >= 8) std::memcpy(&delta, value.data(), 8);
    sum += delta;
    new_value->assign(reinterpret_cast<const char*>(&sum), 8);
    if (existing != nullptr && existing->size() > 8) new_value->append(existing->data() + 8, existing->size() - 8);
    return true;
  }
  const char* Name() const override { return "tessera.bench.AddCounters"; }
};

// Compressible like a serialized profile: field tags, short strings and numbers, not noise.
std::string ProfileLikeValue(uint64_t seed, size_t bytes) {
  std::string value;
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  while (value.size() < bytes) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    absl::StrAppend(&value, "\x12\x0b", "email:u", x % 100000, "@gmail.com\x1a\x04", "web\x10", x % 97);
  }
  value.resize(bytes);
  return value;
}

uint64_t NextKey(uint64_t& state, uint64_t keys) {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state % keys;
}

std::string ProfileKey(uint64_t id) { return absl::StrCat("pf/", BigEndian64(id)); }

int Kv(const Flags& flags) {
  const std::string dir = flags.Required("dir");
  const uint64_t keys = static_cast<uint64_t>(flags.Int("keys", 100'000));
  const int64_t ops = flags.Int("ops", 200'000);
  const size_t value_bytes = static_cast<size_t>(flags.Int("value-bytes", 600));
  const int64_t batch_size = flags.Int("batch-size", 5000);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  RocksStoreOptions store_options;  // the pipeline's: 256 MiB block cache, synced commits
  auto store = RocksStore::Open(dir + "/store", store_options);
  if (!store.ok()) return Fail(store.status());
  rocksdb::DB* db = (*store)->db();
  // Profiles have a column family of their own, with its own compression (common/rocks_options.h).
  rocksdb::ColumnFamilyHandle* profiles = (*store)->FamilyOf(ProfileKey(0));
  rocksdb::WriteOptions unsynced;
  rocksdb::WriteOptions synced;
  synced.sync = true;

  // Preload every key, then flush, so reads hit SST files and the block cache as in a running store.
  for (uint64_t i = 0; i < keys;) {
    rocksdb::WriteBatch batch;
    for (int n = 0; n < 10'000 && i < keys; ++n, ++i) batch.Put(profiles, ProfileKey(i), ProfileLikeValue(i, value_bytes));
    if (!db->Write(unsynced, &batch).ok()) return Fail(absl::InternalError("preload"));
  }
  if (absl::Status flushed = (*store)->Flush(); !flushed.ok()) return Fail(flushed);

  JsonWriter w;
  w.BeginObject();
  w.Key("keys").Uint(keys).Key("value_bytes").Uint(value_bytes).Key("batch_size").Int(batch_size);
  uint64_t state = 88172645463325252ULL;
  std::string value;
  int64_t found = 0;
  {
    Stopwatch watch;
    for (int64_t i = 0; i < ops; ++i) {
      if (db->Get(rocksdb::ReadOptions(), profiles, ProfileKey(NextKey(state, keys)), &value).ok()) ++found;
    }
    WriteRate(w, "get", ops, watch);
  }
  {
    Stopwatch watch;
    for (int64_t i = 0; i < ops; ++i) {
      const std::string key = ProfileKey(NextKey(state, keys));
      if (db->Get(rocksdb::ReadOptions(), profiles, key, &value).ok()) ++found;
      if (value.empty()) value = ProfileLikeValue(i, value_bytes);
      value[0] = static_cast<char>(i);
      if (!db->Put(unsynced, profiles, key, value).ok()) return Fail(absl::InternalError("put"));
    }
    WriteRate(w, "get_put", ops, watch);
  }
  {
    Stopwatch watch;
    for (int64_t i = 0; i < ops;) {
      rocksdb::WriteBatch batch;
      for (int64_t n = 0; n < batch_size && i < ops; ++n, ++i) {
        const std::string key = ProfileKey(NextKey(state, keys));
        if (db->Get(rocksdb::ReadOptions(), profiles, key, &value).ok()) ++found;
        if (value.empty()) value = ProfileLikeValue(i, value_bytes);
      value[0] = static_cast<char>(i);
        batch.Put(profiles, key, value);
      }
      if (!db->Write(synced, &batch).ok()) return Fail(absl::InternalError("write batch"));
    }
    WriteRate(w, "batched_update", ops, watch);
  }
  store->reset();

  // Merge needs an operator at open; otherwise the pipeline's own options.
  {
    const rocksdb::Options base = TesseraRocksOptions(store_options.block_cache_bytes);
    rocksdb::Options options(base, TesseraProfilesFamilyOptions(base));  // the profiles family's
    options.merge_operator = std::make_shared<AddCounters>();
    rocksdb::DB* raw = nullptr;
    if (!rocksdb::DB::Open(options, dir + "/merge", &raw).ok()) return Fail(absl::InternalError("open merge db"));
    std::unique_ptr<rocksdb::DB> merge_db(raw);
    const std::string delta(8, '\x01');
    Stopwatch watch;
    for (int64_t i = 0; i < ops; ++i) {
      if (!merge_db->Merge(unsynced, ProfileKey(NextKey(state, keys)), delta).ok()) {
        return Fail(absl::InternalError("merge"));
      }
    }
    WriteRate(w, "merge", ops, watch);
  }
  w.Key("found").Int(found);
  Print(w);
  std::filesystem::remove_all(dir);
  return 0;
}

// ---------------------------------------------------------------------------------------------

std::vector<WorkloadEvent> Corpus(const WorkloadOptions& options, WorkloadStats* stats) {
  WorkloadGenerator generator(options);
  std::vector<WorkloadEvent> corpus;
  corpus.reserve(static_cast<size_t>(options.events));
  WorkloadEvent event;
  while (generator.Next(event)) corpus.push_back(event);
  *stats = generator.stats();
  return corpus;
}

int Parse(const Flags& flags) {
  const WorkloadOptions options = WorkloadFrom(flags);
  WorkloadStats stats;
  const std::vector<WorkloadEvent> corpus = Corpus(options, &stats);
  std::vector<simdjson::padded_string> padded;
  padded.reserve(corpus.size());
  for (const WorkloadEvent& e : corpus) padded.emplace_back(e.payload);
  JsonWriter w;
  w.BeginObject();
  WriteWorkloadStats(w, options, stats);
  {
    simdjson::dom::parser parser;
    int64_t parsed = 0;
    int64_t rounds = 0;
    Stopwatch watch;
    do {  // at least a second, for a stable rate
      for (const auto& doc : padded) {
        auto result = parser.parse(doc);
        if (result.error() == simdjson::SUCCESS) ++parsed;
      }
      ++rounds;
    } while (watch.wall() < 1.0);
    const double wall = watch.wall();
    w.Key("simdjson").BeginObject();
    w.Key("docs").Int(parsed).Key("rounds").Int(rounds);
    w.Key("mb_per_s").Raw(Num(static_cast<double>(stats.bytes) * rounds / wall / 1e6));
    w.Key("docs_per_s").Raw(Num(static_cast<double>(parsed) / wall));
    w.EndObject();
  }
  {
    ingest::EventParser parser{ingest::IngestOptions{}};
    v1::SourcePosition source;
    int64_t rejected = 0;
    Stopwatch watch;
    for (const WorkloadEvent& e : corpus) {
      if (std::holds_alternative<ingest::Rejection>(parser.Parse(e.channel, e.payload, source, 0))) ++rejected;
    }
    const double wall = watch.wall();
    WriteRate(w, "event_parser", stats.events, watch);
    w.Key("event_parser_mb_per_s").Raw(Num(static_cast<double>(stats.bytes) / wall / 1e6));
    w.Key("event_parser_rejected").Int(rejected);
  }
  Print(w);
  return 0;
}

// Forwards to the current batch's staged writes (the pipeline keeps one view for its lifetime).
class CurrentBatchView final : public KeyValueView {
 public:
  void set(StagedWrites* current) { current_ = current; }
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override { return current_->Get(key); }
  void Put(std::string_view key, std::string_view value) override { current_->Put(key, value); }
  void Delete(std::string_view key) override { current_->Delete(key); }
  // Forwarded as `tessera run`'s view does: without it every profile and event-store read of a
  // batch was a Get of its own, and this baseline measured a pipeline slower than the real one.
  absl::Status Prefetch(const std::vector<std::string>& keys) override { return current_->Prefetch(keys); }

 private:
  StagedWrites* current_ = nullptr;
};

int Pipeline(const Flags& flags) {
  const std::string dir = flags.Required("dir");
  const size_t batch_size = static_cast<size_t>(flags.Int("batch-size", 5000));
  const WorkloadOptions options = WorkloadFrom(flags);
  WorkloadStats stats;
  const std::vector<WorkloadEvent> corpus = Corpus(options, &stats);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // Opened as `tessera run` opens its store (expiring prefixes, the identity presence filter):
  // before, this baseline read every identity miss from RocksDB, which `tessera run` does not.
  auto store = app::OpenStageStore(dir + "/store", app::RunOptions{});
  if (!store.ok()) return Fail(store.status());
  app::FusedPipelineOptions pipeline_options;
  if (const std::string config = flags.Str("config", ""); !config.empty()) {
    absl::StatusOr<app::ActivationSetup> setup = app::LoadActivationSetup(config, "UTC");
    if (!setup.ok()) return Fail(setup.status());
    pipeline_options.activation = setup->activation;
    pipeline_options.computed_traits = setup->computed;
  }
  CurrentBatchView view;
  app::FusedPipeline pipeline(&view, pipeline_options, &SystemClock());
  const app::Topics topics("bench.");
  int64_t updates = 0;
  int64_t merges = 0;
  int64_t dead_letters = 0;
  int64_t segment_changes = 0;
  int64_t output_bytes = 0;
  Stopwatch watch;
  for (size_t start = 0; start < corpus.size(); start += batch_size) {
    StagedWrites staged(store->get());
    view.set(&staged);
    std::map<TopicPartition, int64_t> next_offsets;
    const size_t end = std::min(corpus.size(), start + batch_size);
    std::vector<app::RawRecord> records(end - start);
    for (size_t i = start; i < end; ++i) {
      app::RawRecord& record = records[i - start];
      record.channel = corpus[i].channel;
      record.payload = corpus[i].payload;
      record.source.set_topic(topics.Raw(corpus[i].channel));
      record.source.set_offset(static_cast<int64_t>(i));
      record.received_at_ms = SystemClock().NowMillis();
      next_offsets[{record.source.topic(), 0}] = static_cast<int64_t>(i) + 1;
    }
    if (absl::Status s = pipeline.ApplyAll(records); !s.ok()) return Fail(s);
    auto outputs = pipeline.FinishBatch();
    if (!outputs.ok()) return Fail(outputs.status());
    for (const auto& u : outputs->updates) output_bytes += static_cast<int64_t>(app::ProfileUpdateOutput(topics, u).value.size());
    for (const auto& m : outputs->merges) output_bytes += static_cast<int64_t>(app::MergeOutput(topics, m).value.size());
    for (const auto& d : outputs->dead_letters) output_bytes += static_cast<int64_t>(app::DeadLetterOutput(topics, d).value.size());
    for (const auto& c : outputs->segment_changes) output_bytes += static_cast<int64_t>(app::SegmentChangeOutput(topics, c).value.size());
    for (const auto& t : outputs->triggers) output_bytes += static_cast<int64_t>(app::TriggerOutput(topics, t).value.size());
    segment_changes += static_cast<int64_t>(outputs->segment_changes.size());
    updates += static_cast<int64_t>(outputs->updates.size());
    merges += static_cast<int64_t>(outputs->merges.size());
    dead_letters += static_cast<int64_t>(outputs->dead_letters.size());
    app::StageOffsets(staged, "bench.fused", next_offsets);
    if (absl::Status s = staged.Commit(); !s.ok()) return Fail(s);
  }
  JsonWriter w;
  w.BeginObject();
  WriteRate(w, "pipeline", stats.events, watch);
  w.Key("updates").Int(updates).Key("merges").Int(merges).Key("dead_letters").Int(dead_letters);
  w.Key("segment_changes").Int(segment_changes);
  w.Key("output_bytes").Int(output_bytes);
  w.Key("expected_profiles").Int(stats.expected_profiles).Key("generated_merges").Int(stats.merges);
  Print(w);
  store->reset();
  if (flags.Str("keep", "no") != "yes") std::filesystem::remove_all(dir);
  return 0;
}

// ---------------------------------------------------------------------------------------------

int Store(const Flags& flags) {
  const std::string dir = flags.Required("dir");
  if (flags.Str("compact", "no") == "yes") {
    // Opened as `tessera run` opens it, so compaction drops what the pipeline's expiry would.
    auto store = app::OpenStageStore(dir, app::RunOptions{});
    if (!store.ok()) return Fail(store.status());
    if (absl::Status s = (*store)->Flush(); !s.ok()) return Fail(s);
    if (absl::Status s = (*store)->CompactAll(); !s.ok()) return Fail(s);
  }
  int64_t sst = 0, wal = 0, other = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    const int64_t size = static_cast<int64_t>(entry.file_size());
    const std::string ext = entry.path().extension().string();
    const std::string name = entry.path().filename().string();
    if (ext == ".sst") sst += size;
    else if (ext == ".log") wal += size;
    else if (name.rfind("LOG", 0) == 0) continue;  // RocksDB's own info log, text for humans
    else other += size;
  }
  if (ec) return Fail(absl::NotFoundError(absl::StrCat("cannot list ", dir)));
  // Read-only secondary: the numbers above are what the stopped primary left.
  const std::string scratch = dir + ".bench-secondary";
  auto store = RocksStore::OpenSecondary(dir, scratch);
  if (!store.ok()) return Fail(store.status());
  struct PrefixFootprint {
    int64_t keys = 0;
    int64_t logical_bytes = 0;  // key + value, uncompressed
    uint64_t sst_bytes = 0;     // on disk, compressed, in SST files (not the WAL or memtables)
  };
  std::map<std::string, PrefixFootprint> by_prefix;
  absl::Status scan = (*store)->ScanPrefix("", [&](std::string_view key, std::string_view value) {
    PrefixFootprint& prefix = by_prefix[std::string(key.substr(0, 3))];
    ++prefix.keys;
    prefix.logical_bytes += static_cast<int64_t>(key.size() + value.size());
    return true;
  });
  rocksdb::SizeApproximationOptions files_only;
  files_only.include_files = true;
  files_only.include_memtables = false;
  rocksdb::DB* db = (*store)->db();
  for (auto& [prefix, footprint] : by_prefix) {
    if (!scan.ok()) break;
    const std::string end = PrefixEnd(prefix);
    const rocksdb::Range range(prefix, end);
    if (rocksdb::Status s = db->GetApproximateSizes(files_only, (*store)->FamilyOf(prefix), &range, 1,
                                                    &footprint.sst_bytes);
        !s.ok()) {
      scan = absl::InternalError(absl::StrCat("approximate size of ", prefix, ": ", s.ToString()));
    }
  }
  store->reset();
  std::filesystem::remove_all(scratch, ec);  // also when the scan failed: nothing is left behind
  if (!scan.ok()) return Fail(scan);
  JsonWriter w;
  w.BeginObject();
  w.Key("sst_bytes").Int(sst).Key("wal_bytes").Int(wal).Key("other_bytes").Int(other);
  w.Key("prefixes").BeginObject();
  for (const auto& [prefix, footprint] : by_prefix) {
    w.Key(prefix).BeginObject();
    w.Key("keys").Int(footprint.keys).Key("logical_bytes").Int(footprint.logical_bytes);
    w.Key("sst_bytes").Uint(footprint.sst_bytes);
    w.EndObject();
  }
  w.EndObject();
  Print(w);
  return 0;
}

}  // namespace
}  // namespace tessera::bench

int main(int argc, char** argv) {
  using namespace tessera::bench;
  if (argc < 2) {
    std::fprintf(stderr, "usage: tessera-bench produce|pass|kv|parse|pipeline|store|topics|latency --flag value ...\n");
    return 2;
  }
  const std::string_view command = argv[1];
  const Flags flags(argc, argv, 2);
  if (command == "produce") return Produce(flags);
  if (command == "pass") return Pass(flags);
  if (command == "kv") return Kv(flags);
  if (command == "parse") return Parse(flags);
  if (command == "pipeline") return Pipeline(flags);
  if (command == "store") return Store(flags);
  if (command == "topics") return Topics(flags);
  if (command == "latency") return Latency(flags);
  std::fprintf(stderr, "tessera-bench: unknown command %s\n", argv[1]);
  return 2;
}
