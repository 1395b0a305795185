#include "app/commands.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "app/activation_driver.h"
#include "app/cli_args.h"
#include "app/collector_command.h"
#include "app/identity_commands.h"
#include "app/query_command.h"
#include "app/runner.h"
#include "app/topics.h"
#include "common/bytes.h"
#include "common/identifier.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/rocks_store.h"
#include "common/status_macros.h"
#include "identity/identity_resolver.h"
#include "identity/rules_config.h"
#include "ingest/ingest.h"
#include "ingest/ingest_config.h"
#include "profiles/computed_facts.h"
#include "profiles/computed_traits.h"
#include "profiles/query/query_config.h"
#include "profiles/query/query_server.h"
#include "profiles/triggers.h"
#include "sinks/delivery_service.h"
#include "sinks/sink_config.h"
#include "profiles/profile_state.h"
#include "profiles/profile_store.h"

namespace tessera::app {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

void InstallStopHandlers() {
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "tessera: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

const std::set<std::string> kRunValueOptions = {"brokers",    "data-dir",  "topic-prefix", "partitions",
                                                "phone-region", "time-zone", "workspace",    "batch-size",
                                                "max-records",  "instance-id", "block-cache-mb",
                                                "dedup-window-hours", "own-partitions", "http", "config",
                                                "batch-linger-ms", "fetch-wait-ms", "presence-filter-save-s"};

absl::StatusOr<RunOptions> RunOptionsFrom(const CliArgs& args) {
  RunOptions options;
  options.brokers = args.GetOr("brokers", "");
  options.data_dir = args.GetOr("data-dir", options.data_dir);
  options.topic_prefix = args.GetOr("topic-prefix", options.topic_prefix);
  options.instance_id = args.GetOr("instance-id", "");
  options.ingest.default_phone_region = args.GetOr("phone-region", options.ingest.default_phone_region);
  options.ingest.default_time_zone = args.GetOr("time-zone", options.ingest.default_time_zone);
  options.ingest.workspace = args.GetOr("workspace", options.ingest.workspace);
  auto number = [&](const char* name, auto& out) -> absl::Status {
    if (auto v = args.Get(name)) {
      int64_t parsed = 0;
      if (!absl::SimpleAtoi(*v, &parsed) || parsed < 0) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a whole number, got '", *v, "'"));
      }
      out = static_cast<std::remove_reference_t<decltype(out)>>(parsed);
    }
    return absl::OkStatus();
  };
  auto milliseconds = [&](const char* name, absl::Duration& out) -> absl::Status {
    int64_t ms = absl::ToInt64Milliseconds(out);
    RETURN_IF_ERROR(number(name, ms));
    out = absl::Milliseconds(ms);
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(number("batch-size", options.batch_size));
  RETURN_IF_ERROR(number("max-records", options.max_records));
  RETURN_IF_ERROR(milliseconds("batch-linger-ms", options.batch_linger));
  RETURN_IF_ERROR(milliseconds("fetch-wait-ms", options.fetch_wait));
  int64_t save_s = absl::ToInt64Seconds(options.presence_filter_snapshot_every);
  RETURN_IF_ERROR(number("presence-filter-save-s", save_s));
  options.presence_filter_snapshot_every = absl::Seconds(save_s);
  size_t cache_mb = options.block_cache_bytes >> 20;
  RETURN_IF_ERROR(number("block-cache-mb", cache_mb));
  options.block_cache_bytes = cache_mb << 20;
  if (auto owned = args.Get("own-partitions")) {
    for (absl::string_view part : absl::StrSplit(*owned, ',')) {
      int32_t partition = -1;
      if (!absl::SimpleAtoi(part, &partition) || partition < 0) {
        return absl::InvalidArgumentError(absl::StrCat("--own-partitions needs a list like 0,1, got '", *owned, "'"));
      }
      options.owned_partitions.push_back(partition);
    }
  }
  if (auto config = args.Get("config")) {
    ASSIGN_OR_RETURN(identity::RulesConfig rules, identity::LoadRulesConfig(*config));
    ASSIGN_OR_RETURN(options.identity_rules, identity::CompileRulesConfig(rules));
    ASSIGN_OR_RETURN(options.ingest.cleaning, ingest::LoadIngestConfig(*config));
    // Computed traits, segments and triggers with one default zone (--time-zone unless the
    // profiles section names one) and the built-in RFM tier segments (docs/segments.md).
    ASSIGN_OR_RETURN(ActivationSetup setup, LoadActivationSetup(*config, options.ingest.default_time_zone));
    options.computed_traits = std::move(setup.computed);
    options.activation = std::move(setup.activation);
    ASSIGN_OR_RETURN(query::QueryConfig query_config, query::LoadQueryConfig(*config));
    options.event_retention = query_config.retention;
  }
  int64_t dedup_hours = options.dedup_window_ms / 3'600'000;
  RETURN_IF_ERROR(number("dedup-window-hours", dedup_hours));
  options.dedup_window_ms = dedup_hours * 3'600'000;
  return options;
}

int PartitionsFrom(const CliArgs& args) {
  int partitions = 4;
  if (auto v = args.Get("partitions"); v && (!absl::SimpleAtoi(*v, &partitions) || partitions < 1)) partitions = 4;
  return partitions;
}

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::FailedPreconditionError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace

int RunCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(raw_args, kRunValueOptions, {"embedded"});
  if (!args.ok()) return Fail(args.status());
  absl::StatusOr<RunOptions> options = RunOptionsFrom(*args);
  if (!options.ok()) return Fail(options.status());
  const bool embedded = args->Has("embedded");
  if (embedded == !options->brokers.empty()) {
    return Fail(absl::InvalidArgumentError("tessera run needs exactly one of --brokers HOST:PORT or --embedded"));
  }
  std::error_code ec;
  std::filesystem::create_directories(options->data_dir, ec);
  const Topics topics(options->topic_prefix);
  std::unique_ptr<EmbeddedKafka> mock;
  if (embedded) {
    absl::StatusOr<std::unique_ptr<EmbeddedKafka>> started = EmbeddedKafka::Start();
    if (!started.ok()) return Fail(started.status());
    mock = *std::move(started);
    if (absl::Status s = mock->CreateTopics(topics.Specs(PartitionsFrom(*args))); !s.ok()) return Fail(s);
    options->brokers = mock->bootstrap_servers();
    const std::string brokers_file = options->data_dir + "/brokers";
    if (absl::Status s = WriteFile(brokers_file, options->brokers + "\n"); !s.ok()) return Fail(s);
    LogWarning(absl::StrCat(
        "--embedded: librdkafka's mock cluster at ", options->brokers, " (written to ", brokers_file,
        "). For try-outs only: it keeps the log in memory (gone when tessera stops), silently drops a "
        "partition's oldest data past ~5 MiB, and has no compaction or read_committed. Use --brokers with a "
        "real Kafka (deploy/kafka.sh start) for data you care about."));
  } else if (absl::Status s = CreateTopics(options->brokers, topics.Specs(PartitionsFrom(*args))); !s.ok()) {
    return Fail(s);
  }
  InstallStopHandlers();
  LogInfo(absl::StrCat("tessera run: brokers ", options->brokers, ", data ", options->data_dir));
  // Destinations declared in --config get their delivery workers (docs/sinks.md); they stop after
  // the pipeline.
  std::unique_ptr<sinks::DeliveryService> sink_service;
  if (auto config = args->Get("config")) {
    absl::StatusOr<std::vector<sinks::DestinationConfig>> destinations = sinks::LoadSinksConfig(*config);
    if (!destinations.ok()) return Fail(destinations.status());
    if (!destinations->empty()) {
      const auto specs = sinks::SinkTopicSpecs(*destinations, options->topic_prefix, PartitionsFrom(*args));
      if (absl::Status s = mock ? mock->CreateTopics(specs) : CreateTopics(options->brokers, specs); !s.ok()) {
        return Fail(s);
      }
      sinks::WorkerOptions worker;
      worker.brokers = options->brokers;
      worker.topic_prefix = options->topic_prefix;
      worker.data_dir = options->data_dir;
      worker.fetch_wait = options->fetch_wait;
      absl::StatusOr<std::unique_ptr<sinks::DeliveryService>> started = sinks::DeliveryService::Start(*destinations, worker);
      if (!started.ok()) return Fail(started.status());
      sink_service = *std::move(started);
    }
  }
  // The collector and the query API stop when they go out of scope, after the pipeline.
  std::unique_ptr<RunningQueryApi> query_api;
  std::unique_ptr<RunningCollector> collector;
  if (auto http = args->Get("http")) {
    QueryApiOptions q;
    q.data_dir = options->data_dir;
    q.config_path = args->GetOr("config", "");
    absl::StatusOr<std::unique_ptr<RunningQueryApi>> api = StartQueryApi(q);
    if (!api.ok()) return Fail(api.status());
    query_api = *std::move(api);
    CollectorCommandOptions c;
    c.other_routes = query::QueryRoutes(&query_api->api());
    c.brokers = options->brokers;
    c.http = *http;
    c.config_path = args->GetOr("config", "");
    c.data_dir = options->data_dir;
    c.topic_prefix = options->topic_prefix;
    absl::StatusOr<std::unique_ptr<RunningCollector>> started = StartCollector(c);
    if (!started.ok()) return Fail(started.status());
    collector = *std::move(started);
  }
  absl::Status status = RunFused(*options, g_stop);
  if (sink_service != nullptr) {
    if (absl::Status s = sink_service->Stop(); !s.ok()) LogWarning(absl::StrCat("sinks: ", s.message()));
  }
  return status.ok() ? 0 : Fail(status);
}

int StageCommand(const std::string& stage, const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(raw_args, kRunValueOptions, {});
  if (!args.ok()) return Fail(args.status());
  absl::StatusOr<RunOptions> options = RunOptionsFrom(*args);
  if (!options.ok()) return Fail(options.status());
  if (options->brokers.empty()) return Fail(absl::InvalidArgumentError(absl::StrCat("tessera ", stage, " needs --brokers")));
  InstallStopHandlers();
  absl::Status status;
  if (stage == "ingest") status = RunIngestStage(*options, g_stop);
  else if (stage == "identity") status = RunIdentityStage(*options, g_stop);
  else if (stage == "profiles") status = RunProfilesStage(*options, g_stop);
  else status = RunSinksStage(*options, g_stop);
  return status.ok() ? 0 : Fail(status);
}

int ImportCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(raw_args, {"channel", "brokers", "topic-prefix"}, {});
  if (!args.ok()) return Fail(args.status());
  const v1::Channel channel = ingest::ChannelFromName(args->GetOr("channel", ""));
  if (channel == v1::CHANNEL_UNSPECIFIED || args->positionals().size() != 1 || !args->Has("brokers")) {
    return Fail(absl::InvalidArgumentError(
        "usage: tessera import --channel web|social|purchase --brokers HOST:PORT FILE   (NDJSON; - for stdin)"));
  }
  const std::string path = args->positionals()[0];
  std::ifstream file;
  if (path != "-") {
    file.open(path);
    if (!file) return Fail(absl::NotFoundError(absl::StrCat("cannot open ", path)));
  }
  std::istream& in = path == "-" ? std::cin : file;
  absl::StatusOr<std::unique_ptr<KafkaProducer>> producer = KafkaProducer::Create(*args->Get("brokers"));
  if (!producer.ok()) return Fail(producer.status());
  const std::string topic = Topics(args->GetOr("topic-prefix", "tessera.")).Raw(channel);
  int64_t sent = 0;
  int64_t enqueue_failed = 0;
  absl::Time last_progress = absl::Now();
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (absl::Status s = (*producer)->Produce(topic, "", line); !s.ok()) {
      ++enqueue_failed;
      LogError(s.ToString());
      continue;
    }
    ++sent;
    if (absl::Now() - last_progress > absl::Seconds(1)) {
      std::fprintf(stderr, "\rimport %s: %lld sent", topic.c_str(), static_cast<long long>(sent));
      last_progress = absl::Now();
    }
  }
  absl::Status flushed = (*producer)->Flush(absl::Minutes(2));
  const int64_t failed = enqueue_failed + (*producer)->failed_count();
  const int64_t delivered = (*producer)->delivered_count();
  std::fprintf(stderr, "\rimport %s: %lld sent, %lld failed\n", topic.c_str(), static_cast<long long>(delivered),
               static_cast<long long>(failed));
  if (!flushed.ok()) return Fail(flushed);
  return failed == 0 ? 0 : 1;
}

namespace {

// A read-only view of a store that a running process may hold: a RocksDB secondary instance,
// whose own info log lives in a scratch directory removed again when the view closes.
class StoreSnapshot {
 public:
  static absl::StatusOr<StoreSnapshot> Open(const std::string& path) {
    std::string scratch = (std::filesystem::temp_directory_path() / "tessera-reader-XXXXXX").string();
    if (mkdtemp(scratch.data()) == nullptr) return absl::InternalError("cannot create a scratch directory");
    StoreSnapshot snapshot;
    snapshot.scratch_ = scratch;
    // A secondary instance replays the primary's MANIFEST and WALs; when the primary deletes a
    // file it is reading (a flush or compaction finishing), the open fails. Such a race passes:
    // try again a few times before reporting it.
    absl::StatusOr<std::unique_ptr<RocksStore>> store = RocksStore::OpenSecondary(path, scratch);
    for (int attempt = 1; !store.ok() && attempt < 5; ++attempt) {
      absl::SleepFor(absl::Milliseconds(100 * attempt));
      store = RocksStore::OpenSecondary(path, scratch);
    }
    if (!store.ok()) return store.status();
    snapshot.store_ = *std::move(store);
    return snapshot;
  }
  StoreSnapshot() = default;
  StoreSnapshot(StoreSnapshot&& other) noexcept
      : scratch_(std::exchange(other.scratch_, {})), store_(std::move(other.store_)) {}
  StoreSnapshot& operator=(StoreSnapshot&& other) noexcept {
    Close();
    scratch_ = std::exchange(other.scratch_, {});
    store_ = std::move(other.store_);
    return *this;
  }
  ~StoreSnapshot() { Close(); }
  RocksStore* store() const { return store_.get(); }

 private:
  void Close() {
    store_.reset();
    std::error_code ignored;  // best effort: a leftover scratch dir in /tmp harms nothing
    if (!scratch_.empty()) std::filesystem::remove_all(scratch_, ignored);
    scratch_.clear();
  }

  std::string scratch_;
  std::unique_ptr<RocksStore> store_;
};

absl::StatusOr<std::string> ProfileJsonFor(const std::string& data_dir, const std::string& workspace,
                                           const v1::Identifier& id, const profiles::ComputedTraitsConfig& computed) {
  const bool fused = std::filesystem::exists(FusedStorePath(data_dir));
  const std::string identity_path = fused ? FusedStorePath(data_dir) : IdentityStorePath(data_dir);
  if (!std::filesystem::exists(identity_path)) {
    return absl::NotFoundError(absl::StrCat("no Tessera store under ", data_dir, " (use --data-dir)"));
  }
  ASSIGN_OR_RETURN(StoreSnapshot identity_store, StoreSnapshot::Open(identity_path));
  StoreReader identity_view(identity_store.store());
  ASSIGN_OR_RETURN(std::optional<uint64_t> profile_id, identity::LookupIdentifier(identity_view, workspace, id));
  if (!profile_id.has_value()) return absl::NotFoundError(absl::StrCat("no profile has ", FormatIdentifier(id)));

  // Fused: the same store. Distributed: every profiles worker's store under the data dir
  // (DIR/profiles, or DIR/profiles-p0-1 ... for workers that own partitions).
  std::vector<StoreSnapshot> profile_stores;
  if (!fused) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(data_dir, ec)) {
      if (entry.is_directory() && entry.path().filename().string().rfind("profiles", 0) == 0) {
        ASSIGN_OR_RETURN(StoreSnapshot snapshot, StoreSnapshot::Open(entry.path().string()));
        profile_stores.push_back(std::move(snapshot));
      }
    }
  }
  std::vector<RocksStore*> stores;
  if (fused) stores.push_back(identity_store.store());
  for (const StoreSnapshot& snapshot : profile_stores) stores.push_back(snapshot.store());

  // A profiles store may have applied a merge the identity store made: follow its redirects.
  for (int hops = 0; hops < 64; ++hops) {
    std::optional<uint64_t> next;
    for (RocksStore* store : stores) {
      StoreReader view(store);
      profiles::ProfileStore profiles_store(&view);
      ASSIGN_OR_RETURN(std::optional<v1::Profile> profile, profiles_store.Load(*profile_id));
      if (profile.has_value()) return profiles::ProfileToJson(*profile, absl::Now(), computed);
      ASSIGN_OR_RETURN(std::optional<uint64_t> winner, profiles_store.MergedInto(*profile_id));
      if (winner.has_value()) next = winner;
    }
    if (!next.has_value()) break;
    profile_id = next;
  }
  return absl::NotFoundError(absl::StrCat(FormatIdentifier(id), " belongs to profile ", *profile_id,
                                          ", which has no state yet (its events are still in flight)"));
}

}  // namespace

int ProfileCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(raw_args, {"data-dir", "workspace", "config", "time-zone"}, {});
  if (!args.ok()) return Fail(args.status());
  const auto& pos = args->positionals();
  if (pos.size() != 2 || pos[0] != "get") {
    return Fail(absl::InvalidArgumentError(
        "usage: tessera profile get TYPE:VALUE [--data-dir DIR] [--workspace W] [--config FILE] [--time-zone Z]"));
  }
  absl::StatusOr<v1::Identifier> id = ParseIdentifier(pos[1]);
  if (!id.ok()) return Fail(id.status());
  // The `computed` object is derived at read time (docs/computed-traits.md): it needs the same
  // thresholds and user-defined traits the pipeline runs with.
  profiles::ComputedTraitsConfig computed;
  if (auto config = args->Get("config")) {
    absl::StatusOr<profiles::ComputedTraitsConfig> loaded = profiles::LoadComputedTraitsConfig(*config);
    if (!loaded.ok()) return Fail(loaded.status());
    computed = *std::move(loaded);
  }
  if (computed.default_time_zone == "UTC") computed.default_time_zone = args->GetOr("time-zone", "UTC");
  absl::StatusOr<std::string> json =
      ProfileJsonFor(args->GetOr("data-dir", "tessera-data"), args->GetOr("workspace", "default"), *id, computed);
  if (!json.ok()) return Fail(json.status());
  std::printf("%s\n", json->c_str());
  return 0;
}

int TopicsCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(raw_args, {"brokers", "partitions", "topic-prefix"}, {});
  if (!args.ok()) return Fail(args.status());
  if (args->positionals() != std::vector<std::string>{"create"} || !args->Has("brokers")) {
    return Fail(absl::InvalidArgumentError("usage: tessera topics create --brokers HOST:PORT [--partitions N]"));
  }
  const Topics topics(args->GetOr("topic-prefix", "tessera."));
  const std::vector<TopicSpec> specs = topics.Specs(PartitionsFrom(*args));
  if (absl::Status s = CreateTopics(*args->Get("brokers"), specs); !s.ok()) return Fail(s);
  for (const TopicSpec& spec : specs) std::printf("%s (%d partitions)\n", spec.name.c_str(), spec.partitions);
  return 0;
}

}  // namespace tessera::app
