#include "app/query_command.h"

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "app/cli_args.h"
#include "app/runner.h"
#include "common/absl_compat.h"
#include "common/clock.h"
#include "common/json_writer.h"
#include "common/log.h"
#include "common/rocks_store.h"
#include "ingest/collector/collector_config.h"
#include "profiles/computed_facts.h"
#include "profiles/computed_traits.h"
#include "profiles/query/export.h"
#include "profiles/query/profile_search.h"
#include "profiles/query/query_server.h"
#include "profiles/query/store_readers.h"
#include "profiles/triggers.h"
#include "simdjson.h"

namespace tessera::app {

// The stores of a data directory, opened as RocksDB secondaries and read as one: the fused store
// (DIR/store), or the identity store and every profiles worker's store of a distributed setup.
// Opened on the first Refresh() that finds them; later Refresh() calls catch up with the primary,
// and open them again once a primary of this version has moved an older store's profiles into
// their column family (RocksStore::CatchUp).
class QueryStores final : public profiles::KeyRangeReader {
 public:
  explicit QueryStores(std::string data_dir) : data_dir_(std::move(data_dir)) {}
  ~QueryStores() override {
    absl::MutexLock lock(&mu_);
    set_.reset();
    readers_.clear();
    stores_.clear();
    std::error_code ignored;  // best effort: a leftover scratch dir in /tmp harms nothing
    for (const std::string& dir : scratch_dirs_) std::filesystem::remove_all(dir, ignored);
  }

  absl::Status Refresh() {
    {
      absl::ReaderMutexLock lock(&mu_);
      if (set_ != nullptr) {
        bool current = true;
        for (const auto& store : stores_) {
          absl::StatusOr<bool> caught_up = store->CatchUp();
          if (!caught_up.ok()) return caught_up.status();
          current = current && *caught_up;
        }
        if (current) return absl::OkStatus();
        // A primary of this version gave an older store the profiles' column family: these
        // secondaries cannot follow it, and are opened again below.
      }
    }
    std::vector<std::string> paths;
    if (std::filesystem::exists(FusedStorePath(data_dir_))) {
      paths.push_back(FusedStorePath(data_dir_));
    } else if (std::filesystem::exists(IdentityStorePath(data_dir_))) {
      paths.push_back(IdentityStorePath(data_dir_));
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(data_dir_, ec)) {
        if (entry.is_directory() && entry.path().filename().string().rfind("profiles", 0) == 0) {
          paths.push_back(entry.path().string());
        }
      }
    } else {
      return absl::UnavailableError(absl::StrCat("no Tessera store under ", data_dir_, " yet (use --data-dir)"));
    }
    std::vector<std::unique_ptr<RocksStore>> stores;
    std::vector<std::string> scratch_dirs;
    for (const std::string& path : paths) {
      std::string scratch = (std::filesystem::temp_directory_path() / "tessera-query-XXXXXX").string();
      if (mkdtemp(scratch.data()) == nullptr) return absl::InternalError("cannot create a scratch directory");
      scratch_dirs.push_back(scratch);
      // A secondary's open races the primary's flushes and compactions (a file vanishing while it
      // is read): such a failure passes, so try a few times.
      absl::StatusOr<std::unique_ptr<RocksStore>> store = RocksStore::OpenSecondary(path, scratch);
      for (int attempt = 1; !store.ok() && attempt < 5; ++attempt) {
        absl::SleepFor(absl::Milliseconds(100 * attempt));
        store = RocksStore::OpenSecondary(path, scratch);
      }
      if (!store.ok()) {
        std::error_code ignored;
        for (const std::string& dir : scratch_dirs) std::filesystem::remove_all(dir, ignored);
        return store.status();
      }
      stores.push_back(*std::move(store));
    }
    for (const auto& store : stores) {
      absl::StatusOr<bool> under_way = store->MoveOfProfilesUnderWay();
      if (under_way.ok() && !*under_way) continue;
      // Opened while the profiles are being moved, they would miss those not yet moved: keep
      // serving what was read before (if anything) and try again on the next refresh.
      stores.clear();
      std::error_code ignored;
      for (const std::string& dir : scratch_dirs) std::filesystem::remove_all(dir, ignored);
      if (!under_way.ok()) return under_way.status();
      return absl::UnavailableError(absl::StrCat("the profiles under ", data_dir_,
                                                 " are being moved into their column family; reading them once done"));
    }
    absl::MutexLock lock(&mu_);
    set_.reset();  // a reopen: the readers over the old stores go first
    readers_.clear();
    stores_ = std::move(stores);
    std::error_code ignored;
    for (const std::string& dir : scratch_dirs_) std::filesystem::remove_all(dir, ignored);
    scratch_dirs_ = std::move(scratch_dirs);
    std::vector<const profiles::KeyRangeReader*> readers;
    for (const auto& store : stores_) {
      readers_.push_back(std::make_unique<query::RocksRangeReader>(store.get()));
      readers.push_back(readers_.back().get());
    }
    set_ = std::make_unique<query::StoreSetReader>(std::move(readers));
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const override {
    absl::ReaderMutexLock lock(&mu_);
    if (set_ == nullptr) return NotReady();
    return set_->Get(key);
  }
  absl::Status Scan(std::string_view prefix, std::string_view start, const Visitor& visit) const override {
    absl::ReaderMutexLock lock(&mu_);
    if (set_ == nullptr) return NotReady();
    return set_->Scan(prefix, start, visit);
  }

 private:
  absl::Status NotReady() const {
    return absl::UnavailableError(absl::StrCat("the store under ", data_dir_, " is not open yet"));
  }

  const std::string data_dir_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<RocksStore>> stores_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<query::RocksRangeReader>> readers_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<query::StoreSetReader> set_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> scratch_dirs_ ABSL_GUARDED_BY(mu_);
};

namespace {

std::atomic<bool> g_query_stop{false};
void OnQuerySignal(int) { g_query_stop.store(true); }

// The token the CLI uses with the in-process API: the CLI reads the store directly, so it has
// every scope anyway.
constexpr char kCliToken[] = "cli";

int Fail(std::string_view command, const absl::Status& status) {
  std::fprintf(stderr, "tessera %s: %s\n", std::string(command).c_str(), std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

absl::StatusOr<query::QueryConfig> ConfigFrom(const QueryApiOptions& options) {
  query::QueryConfig config;
  if (!options.config_path.empty()) {
    absl::StatusOr<query::QueryConfig> loaded = query::LoadQueryConfig(options.config_path);
    if (!loaded.ok()) return loaded.status();
    config = *std::move(loaded);
  }
  if (config.scopes_by_token.empty()) {
    bool created = false;
    absl::StatusOr<collector::Credentials> credentials = collector::LoadOrCreateCredentials(options.data_dir, &created);
    if (!credentials.ok()) return credentials.status();
    config.WithAllScopes(credentials->query_token);
    LogInfo(absl::StrCat("query: the query_token of ", options.data_dir, "/credentials has every scope",
                         created ? " (generated now)" : "", "; configure query.tokens for scoped tokens"));
  }
  return config;
}

// Segments and computed traits from the `profiles:` section of `config_path` ("" = none), the
// default time zone from it or else `time_zone`.
absl::StatusOr<query::SearchContext> SearchContextFrom(const std::string& config_path, const std::string& time_zone) {
  query::SearchContext context;
  std::string zone_name = time_zone;
  if (!config_path.empty()) {
    absl::StatusOr<profiles::ComputedTraitsConfig> computed = profiles::LoadComputedTraitsConfig(config_path);
    if (!computed.ok()) return computed.status();
    absl::StatusOr<profiles::ActivationConfig> activation = profiles::LoadActivationConfig(config_path);
    if (!activation.ok()) return activation.status();
    if (computed->default_time_zone_configured) {
      zone_name = computed->default_time_zone;
    } else {
      computed->default_time_zone = zone_name;
    }
    profiles::AddRfmTierSegments(*computed, *activation);
    context.segments = std::move(activation->segments);
    context.computed_traits = std::make_shared<const profiles::ComputedTraitsConfig>(*std::move(computed));
  }
  std::optional<absl::TimeZone> zone = profiles::LoadZone(zone_name);
  if (!zone.has_value()) return absl::InvalidArgumentError(absl::StrCat("unknown time zone '", zone_name, "'"));
  context.default_zone = *zone;
  return context;
}

}  // namespace

RunningQueryApi::~RunningQueryApi() {
  stop_.store(true);
  if (catch_up_.joinable()) catch_up_.join();
}

absl::StatusOr<std::unique_ptr<RunningQueryApi>> StartQueryApi(const QueryApiOptions& options) {
  absl::StatusOr<query::QueryConfig> config = ConfigFrom(options);
  if (!config.ok()) return config.status();
  absl::StatusOr<query::SearchContext> search = SearchContextFrom(options.config_path, options.time_zone);
  if (!search.ok()) return search.status();
  std::unique_ptr<RunningQueryApi> running(new RunningQueryApi());
  running->stores_ = std::make_unique<QueryStores>(options.data_dir);
  if (absl::Status s = running->stores_->Refresh(); !s.ok()) {
    LogWarning(absl::StrCat("query: ", s.message(), "; retrying every ", options.catch_up_interval_ms, " ms"));
  }
  running->api_ = std::make_unique<query::QueryApi>(running->stores_.get(), *std::move(config), &SystemClock());
  running->api_->set_search_context(*std::move(search));
  const int interval_ms = std::max(10, options.catch_up_interval_ms);
  running->catch_up_ = std::thread([raw = running.get(), interval_ms] {
    absl::Status last = absl::OkStatus();
    while (!raw->stop_.load()) {
      for (int slept = 0; slept < interval_ms && !raw->stop_.load(); slept += 10) absl::SleepFor(absl::Milliseconds(10));
      absl::Status s = raw->stores_->Refresh();
      if (!s.ok() && s.ToString() != last.ToString()) LogWarning(absl::StrCat("query: catching up: ", s.message()));
      last = s;
    }
  });
  return running;
}

int QueryCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args =
      CliArgs::Parse(raw_args, {"data-dir", "http", "config", "io-threads", "catch-up-ms", "port-file", "time-zone"}, {});
  if (!args.ok()) return Fail("query", args.status());
  if (!args->positionals().empty()) {
    return Fail("query", absl::InvalidArgumentError(
                             "usage: tessera query [--data-dir DIR] [--http 127.0.0.1:8089] [--config FILE] [--io-threads N] "
                             "[--time-zone Asia/Bangkok]"));
  }
  QueryApiOptions options;
  options.data_dir = args->GetOr("data-dir", options.data_dir);
  options.config_path = args->GetOr("config", "");
  options.time_zone = args->GetOr("time-zone", options.time_zone);
  query::QueryServerOptions server_options;
  if (auto http = args->Get("http")) {
    const size_t colon = http->rfind(':');
    if (colon == std::string::npos || !absl::SimpleAtoi(AbslView(std::string_view(*http).substr(colon + 1)), &server_options.port) ||
        server_options.port < 0 || server_options.port > 65535) {
      return Fail("query", absl::InvalidArgumentError(absl::StrCat("--http needs HOST:PORT, got '", *http, "'")));
    }
    server_options.host = http->substr(0, colon);
  }
  for (auto [name, out] : {std::pair{"io-threads", &server_options.io_threads},
                           std::pair{"catch-up-ms", &options.catch_up_interval_ms}}) {
    if (auto v = args->Get(name); v && (!absl::SimpleAtoi(*v, out) || *out < 1)) {
      return Fail("query", absl::InvalidArgumentError(absl::StrCat("--", name, " needs a positive whole number")));
    }
  }
  absl::StatusOr<std::unique_ptr<RunningQueryApi>> api = StartQueryApi(options);
  if (!api.ok()) return Fail("query", api.status());
  absl::StatusOr<std::unique_ptr<query::QueryServer>> server = query::QueryServer::Start(server_options, &(*api)->api());
  if (!server.ok()) return Fail("query", server.status());
  if (auto port_file = args->Get("port-file")) {
    std::ofstream out(*port_file, std::ios::trunc);
    out << (*server)->port() << "\n";
  }
  std::signal(SIGINT, OnQuerySignal);
  std::signal(SIGTERM, OnQuerySignal);
  LogInfo(absl::StrCat("tessera query: http://", server_options.host, ":", (*server)->port(), "/v1/ over ",
                       options.data_dir, " (", server_options.io_threads, " threads)"));
  while (!g_query_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  LogInfo("tessera query: stopping");
  (*server)->Stop();
  return 0;
}

int ExportCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(
      raw_args, {"segment", "filter", "format", "out", "data-dir", "workspace", "currencies", "config", "time-zone"},
      {"all", "mask-pii"});
  if (!args.ok()) return Fail("export", args.status());
  const int selectors = args->Has("segment") + args->Has("filter") + args->Has("all");
  if (selectors != 1 || !args->positionals().empty()) {
    return Fail("export", absl::InvalidArgumentError(
                              "usage: tessera export (--all | --segment NAME | --filter EXPR) --format ndjson|csv "
                              "[--out FILE] [--data-dir DIR] [--workspace W] [--currencies THB,USD] [--mask-pii] "
                              "[--config FILE] [--time-zone Z]"));
  }
  // The filter's computed traits and time zone come from the config, as in the pipeline.
  absl::StatusOr<query::SearchContext> search =
      SearchContextFrom(args->GetOr("config", ""), args->GetOr("time-zone", "UTC"));
  if (!search.ok()) return Fail("export", search.status());
  query::ProfilePredicate filter;
  if (auto segment = args->Get("segment")) filter = query::SegmentPredicate(*segment);
  if (auto expression = args->Get("filter")) {
    absl::StatusOr<profiles::Condition> condition = profiles::ParseCondition(*expression);
    if (!condition.ok()) return Fail("export", absl::InvalidArgumentError(absl::StrCat("--filter: ", condition.status().message())));
    filter = query::FilterPredicate(*std::move(condition), *search, absl::Now());
  }
  absl::StatusOr<query::ExportFormat> format = query::ExportFormatFromName(args->GetOr("format", "ndjson"));
  if (!format.ok()) return Fail("export", format.status());
  query::ExportOptions options;
  options.format = *format;
  options.workspace = args->GetOr("workspace", "");
  options.mask_pii = args->Has("mask-pii");
  if (auto currencies = args->Get("currencies")) {
    for (absl::string_view c : absl::StrSplit(*currencies, ',', absl::SkipEmpty())) options.currencies.emplace_back(c);
  }
  options.filter = filter;
  QueryStores stores(args->GetOr("data-dir", "tessera-data"));
  if (absl::Status s = stores.Refresh(); !s.ok()) return Fail("export", s);

  std::ofstream file;
  const std::string out_path = args->GetOr("out", "-");
  if (out_path != "-") {
    file.open(out_path, std::ios::trunc | std::ios::binary);
    if (!file) return Fail("export", absl::FailedPreconditionError(absl::StrCat("cannot write ", out_path)));
  }
  std::ostream& out = out_path == "-" ? std::cout : file;
  // A progress bar needs the total: a count of what will be exported (a scan that decodes only what
  // the selection reads) when a person watches.
  const bool tty = isatty(STDERR_FILENO) != 0;
  int64_t total = 0;
  if (tty) {
    query::MatchQuery count_only;
    count_only.limit = 0;
    count_only.count = true;
    count_only.workspace = options.workspace;
    absl::StatusOr<query::MatchPage> counted = query::FindProfiles(stores, filter, count_only);
    if (counted.ok()) total = counted->count.value_or(0);  // without a total the bar shows a count only
  }
  const absl::Time started = absl::Now();
  auto progress = [&](int64_t done) {
    const double seconds = std::max(1e-3, absl::ToDoubleSeconds(absl::Now() - started));
    if (total > 0) {
      const int width = 30;
      const int filled = static_cast<int>(width * std::min<int64_t>(done, total) / total);
      std::fprintf(stderr, "\rexport [%s%s] %lld/%lld profiles, %.0f/s", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), static_cast<long long>(done),
                   static_cast<long long>(total), done / seconds);
    } else {
      std::fprintf(stderr, "%sexport: %lld profiles, %.0f/s%s", tty ? "\r" : "", static_cast<long long>(done),
                   done / seconds, tty ? "" : "\n");
    }
  };
  absl::StatusOr<int64_t> written = query::ExportProfiles(stores, options, out, progress);
  if (tty) std::fputc('\n', stderr);
  if (!written.ok()) return Fail("export", written.status());
  std::fprintf(stderr, "export: %lld profiles in %.1f s%s%s\n", static_cast<long long>(*written),
               absl::ToDoubleSeconds(absl::Now() - started), out_path == "-" ? "" : " to ",
               out_path == "-" ? "" : out_path.c_str());
  return 0;
}

namespace {

std::string JsonString(simdjson::dom::element element, const char* pointer) {
  std::string_view value;
  return element.at_pointer(pointer).get(value) == simdjson::SUCCESS ? std::string(value) : std::string();
}

// The cursor of the next page, if there is one.
void PrintMoreHint(simdjson::dom::element body) {
  const std::string cursor = JsonString(body, "/next_cursor");
  if (!cursor.empty()) std::printf("(more: --cursor %s)\n", cursor.c_str());
}

void PrintEventsTable(simdjson::dom::element body) {
  std::printf("%-24s  %-18s  %-24s  %-20s  %s\n", "TIME", "EVENT", "NAME", "PROFILE", "MESSAGE ID");
  simdjson::dom::array events;
  if (body["events"].get(events) != simdjson::SUCCESS) return;
  for (simdjson::dom::element e : events) {
    const std::string kind = JsonString(e, "/channel") + "." + JsonString(e, "/type");
    std::printf("%-24s  %-18s  %-24s  %-20s  %s\n", JsonString(e, "/timestamp").c_str(), kind.c_str(),
                JsonString(e, "/name").c_str(), JsonString(e, "/profile_id").c_str(), JsonString(e, "/message_id").c_str());
  }
  PrintMoreHint(body);
}

std::string Escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':' || c == '@') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// The API in this process over a data directory's stores, for the CLI: it reads the store
// directly, so it holds every scope.
class LocalApi {
 public:
  // --data-dir, --workspace (the default for TYPE:VALUE), and with `search` --config and
  // --time-zone (segments and computed traits).
  static absl::StatusOr<std::unique_ptr<LocalApi>> Open(const CliArgs& args, bool search) {
    auto local = std::unique_ptr<LocalApi>(new LocalApi(args.GetOr("data-dir", "tessera-data")));
    if (absl::Status s = local->stores_.Refresh(); !s.ok()) return s;
    query::QueryConfig config;
    config.WithAllScopes(kCliToken);
    if (auto workspace = args.Get("workspace")) config.default_workspace = *workspace;
    local->api_ = std::make_unique<query::QueryApi>(&local->stores_, std::move(config), &SystemClock());
    if (search) {
      absl::StatusOr<query::SearchContext> context = SearchContextFrom(args.GetOr("config", ""), args.GetOr("time-zone", "UTC"));
      if (!context.ok()) return context.status();
      local->api_->set_search_context(*std::move(context));
    }
    return local;
  }

  // The answer to one request; a merged-away id's redirect is followed.
  query::QueryResponse Call(std::string_view method, std::string target, std::string_view body = "") const {
    const std::string authorization = absl::StrCat("Bearer ", kCliToken);
    query::QueryResponse response = api_->Handle(query::QueryRequest{method, target, authorization, body});
    for (int hops = 0; response.status == 308 && hops < 8; ++hops) {
      for (const auto& [name, value] : response.headers) {
        if (name == "Location") target = value;
      }
      response = api_->Handle(query::QueryRequest{method, target, authorization, body});
    }
    return response;
  }

 private:
  explicit LocalApi(std::string data_dir) : stores_(std::move(data_dir)) {}
  QueryStores stores_;
  std::unique_ptr<query::QueryApi> api_;
};

// Prints an API error's message; exit code 2 for a bad request, 1 otherwise.
int FailWith(const std::string& command, const query::QueryResponse& response, const simdjson::dom::element* body) {
  const std::string message = body != nullptr ? JsonString(*body, "/error/message") : response.body;
  std::fprintf(stderr, "tessera %s: %s\n", command.c_str(), message.c_str());
  return response.status == 400 ? 2 : 1;
}

std::string IdentifierList(simdjson::dom::element identifiers) {
  std::string out;
  simdjson::dom::array list;
  if (identifiers.get(list) != simdjson::SUCCESS) return out;
  for (simdjson::dom::element id : list) {
    std::string_view text;
    if (id.get(text) == simdjson::SUCCESS) absl::StrAppend(&out, out.empty() ? "" : " ", AbslView(text));
  }
  return out;
}

void PrintHistoryTable(simdjson::dom::element body) {
  std::printf("profile %s, first seen %s\n", JsonString(body, "/profile_id").c_str(), JsonString(body, "/first_seen").c_str());
  simdjson::dom::array merges;
  if (body["merges"].get(merges) != simdjson::SUCCESS || merges.size() == 0) {
    std::printf("no merges: every event arrived with identifiers of this one profile\n");
  } else {
    std::printf("\n%-24s  %-20s  %-20s  %-24s  %s\n", "EVENT TIME", "MERGED", "INTO", "BY EVENT", "EVIDENCE");
    for (simdjson::dom::element m : merges) {
      std::printf("%-24s  %-20s  %-20s  %-24s  %s\n", JsonString(m, "/event_time").c_str(), JsonString(m, "/loser").c_str(),
                  JsonString(m, "/winner").c_str(), JsonString(m, "/message_id").c_str(),
                  IdentifierList(m["evidence"]).c_str());
    }
  }
  simdjson::dom::array links;
  if (body["links"].get(links) == simdjson::SUCCESS && links.size() > 0) {
    std::printf("\n%-24s  %-24s  %-40s  %s\n", "EVENT TIME", "BY EVENT", "LINKED", "TO");
    for (simdjson::dom::element l : links) {
      std::printf("%-24s  %-24s  %-40s  %s\n", JsonString(l, "/event_time").c_str(), JsonString(l, "/message_id").c_str(),
                  IdentifierList(l["linked"]).c_str(), IdentifierList(l["with"]).c_str());
    }
  }
  simdjson::dom::array refused;
  if (body["refused"].get(refused) == simdjson::SUCCESS && refused.size() > 0) {
    std::printf("\n%-24s  %-24s  %-20s  %s\n", "EVENT TIME", "BY EVENT", "REFUSED BY RULE", "IDENTIFIER");
    for (simdjson::dom::element r : refused) {
      std::printf("%-24s  %-24s  %-20s  %s\n", JsonString(r, "/event_time").c_str(), JsonString(r, "/message_id").c_str(),
                  JsonString(r, "/rule").c_str(), JsonString(r, "/identifier").c_str());
    }
  }
  simdjson::dom::array splits;
  if (body["splits"].get(splits) == simdjson::SUCCESS && splits.size() > 0) {
    std::printf("\n%-24s  %-20s  %-20s  %s\n", "SPLIT AT", "PROFILE SPLIT", "NEW PROFILES", "BY");
    for (simdjson::dom::element sp : splits) {
      std::printf("%-24s  %-20s  %-20s  %s\n", JsonString(sp, "/at").c_str(), JsonString(sp, "/profile_id").c_str(),
                  IdentifierList(sp["new_ids"]).c_str(), JsonString(sp, "/by").c_str());
    }
  }
}

void PrintMembersTable(simdjson::dom::element body) {
  std::printf("%-20s  %-12s  %-24s  %s\n", "PROFILE", "WORKSPACE", "ENTERED", "IDENTIFIERS");
  simdjson::dom::array members;
  if (body["members"].get(members) != simdjson::SUCCESS) return;
  for (simdjson::dom::element m : members) {
    std::printf("%-20s  %-12s  %-24s  %s\n", JsonString(m, "/profile_id").c_str(), JsonString(m, "/workspace").c_str(),
                JsonString(m, "/entered_at").c_str(), IdentifierList(m["identifiers"]).c_str());
  }
  PrintMoreHint(body);
}

void PrintSearchTable(simdjson::dom::element body) {
  int64_t count = 0;
  if (body["count"].get(count) == simdjson::SUCCESS) {
    std::printf("%lld profile%s match\n", static_cast<long long>(count), count == 1 ? "" : "s");
  }
  std::printf("%-20s  %-12s  %-24s  %s\n", "PROFILE", "WORKSPACE", "LAST SEEN", "IDENTIFIERS");
  simdjson::dom::array profiles;
  if (body["profiles"].get(profiles) != simdjson::SUCCESS) return;
  for (simdjson::dom::element p : profiles) {
    std::printf("%-20s  %-12s  %-24s  %s\n", JsonString(p, "/id").c_str(), JsonString(p, "/workspace").c_str(),
                JsonString(p, "/last_seen").c_str(), IdentifierList(p["identifiers"]).c_str());
  }
  PrintMoreHint(body);
}

}  // namespace

bool IsQueryProfileCommand(const std::vector<std::string>& args) {
  if (args.empty()) return false;
  if (args[0] == "events" || args[0] == "history") return true;
  if (args[0] != "get") return false;
  for (const std::string& arg : args) {
    if (arg == "--as-of" || arg.rfind("--as-of=", 0) == 0) return true;
  }
  return false;
}

int QueryProfileCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(
      raw_args, {"data-dir", "workspace", "limit", "cursor", "since", "until", "type", "as-of"}, {"json"});
  if (!args.ok()) return Fail("profile", args.status());
  const auto& pos = args->positionals();
  if (pos.size() != 2) {
    return Fail("profile", absl::InvalidArgumentError(
                               "usage: tessera profile events ID|TYPE:VALUE [--limit N] [--since T] [--until T] [--type T] "
                               "[--cursor C] [--json]\n       tessera profile history ID|TYPE:VALUE [--json]\n"
                               "       tessera profile get TYPE:VALUE --as-of T     (T: RFC 3339 or epoch ms)"));
  }
  const std::string sub = pos[0];
  std::string target = absl::StrCat("/v1/profiles/", Escape(pos[1]));
  if (sub == "events") target += "/events";
  if (sub == "history") target += "/history";
  std::vector<std::string> params;
  auto param = [&](const char* option, const char* name) {
    if (auto v = args->Get(option)) params.push_back(absl::StrCat(name, "=", Escape(*v)));
  };
  param("workspace", "workspace");
  if (sub == "events") {
    param("limit", "limit");
    param("cursor", "cursor");
    param("since", "since");
    param("until", "until");
    param("type", "type");
  }
  if (sub == "get") param("as-of", "as_of");
  if (!params.empty()) absl::StrAppend(&target, "?", absl::StrJoin(params, "&"));

  absl::StatusOr<std::unique_ptr<LocalApi>> api = LocalApi::Open(*args, false);
  if (!api.ok()) return Fail("profile", api.status());
  const query::QueryResponse response = (*api)->Call("GET", target);
  simdjson::dom::parser parser;
  simdjson::dom::element body;
  const bool parsed = parser.parse(response.body).get(body) == simdjson::SUCCESS;
  if (response.status != 200) return FailWith(absl::StrCat("profile ", sub), response, parsed ? &body : nullptr);
  if (args->Has("json") || sub == "get" || !parsed) {
    std::printf("%s\n", response.body.c_str());
  } else if (sub == "events") {
    PrintEventsTable(body);
  } else {
    PrintHistoryTable(body);
  }
  return 0;
}

int SearchCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(
      raw_args, {"data-dir", "workspace", "limit", "cursor", "config", "time-zone"}, {"json", "no-count"});
  if (!args.ok()) return Fail("search", args.status());
  if (args->positionals().size() != 1) {
    return Fail("search", absl::InvalidArgumentError(
                              "usage: tessera search EXPR [--limit N] [--cursor C] [--workspace W] [--no-count] [--json] "
                              "[--data-dir DIR] [--config FILE] [--time-zone Z]\n"
                              "  EXPR: a segment condition, e.g. '{all: [{trait: city, eq: Bangkok}, {computed: orders_count, gte: 3}]}'"));
  }
  JsonWriter request;
  request.BeginObject().Key("filter").String(args->positionals()[0]);
  if (auto limit = args->Get("limit")) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(*limit, &n)) return Fail("search", absl::InvalidArgumentError("--limit needs a whole number"));
    request.Key("limit").Int(n);
  }
  if (auto cursor = args->Get("cursor")) request.Key("cursor").String(*cursor);
  if (auto workspace = args->Get("workspace")) request.Key("workspace").String(*workspace);
  // A person at a terminal gets the total with the first page unless --no-count (the API counts only
  // when asked).
  request.Key("count").Bool(!args->Has("no-count") && !args->Has("cursor"));
  request.EndObject();
  absl::StatusOr<std::unique_ptr<LocalApi>> api = LocalApi::Open(*args, true);
  if (!api.ok()) return Fail("search", api.status());
  const query::QueryResponse response = (*api)->Call("POST", "/v1/profiles/search", std::move(request).Take());
  simdjson::dom::parser parser;
  simdjson::dom::element body;
  const bool parsed = parser.parse(response.body).get(body) == simdjson::SUCCESS;
  if (response.status != 200) return FailWith("search", response, parsed ? &body : nullptr);
  if (args->Has("json") || !parsed) {
    std::printf("%s\n", response.body.c_str());
  } else {
    PrintSearchTable(body);
  }
  return 0;
}

int SegmentMembersCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args =
      CliArgs::Parse(raw_args, {"data-dir", "workspace", "limit", "cursor", "config", "time-zone"}, {"json"});
  if (!args.ok()) return Fail("segment", args.status());
  const auto& pos = args->positionals();
  if (pos.size() != 2 || pos[0] != "members") {
    return Fail("segment", absl::InvalidArgumentError(
                               "usage: tessera segment members NAME [--limit N] [--cursor C] [--workspace W] [--json] "
                               "[--data-dir DIR] [--config FILE]"));
  }
  std::vector<std::string> params;
  for (const char* name : {"limit", "cursor", "workspace"}) {
    if (auto v = args->Get(name)) params.push_back(absl::StrCat(name, "=", Escape(*v)));
  }
  std::string target = absl::StrCat("/v1/segments/", Escape(pos[1]), "/members");
  if (!params.empty()) absl::StrAppend(&target, "?", absl::StrJoin(params, "&"));
  absl::StatusOr<std::unique_ptr<LocalApi>> api = LocalApi::Open(*args, true);
  if (!api.ok()) return Fail("segment", api.status());
  const query::QueryResponse response = (*api)->Call("GET", target);
  simdjson::dom::parser parser;
  simdjson::dom::element body;
  const bool parsed = parser.parse(response.body).get(body) == simdjson::SUCCESS;
  if (response.status != 200) return FailWith("segment members", response, parsed ? &body : nullptr);
  if (args->Has("json") || !parsed) {
    std::printf("%s\n", response.body.c_str());
  } else {
    PrintMembersTable(body);
  }
  return 0;
}

}  // namespace tessera::app
