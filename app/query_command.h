// The analysts' commands: `tessera query` (the HTTP JSON API, docs/query-api.md), `tessera export`,
// and the profile subcommands that mirror the API at a terminal (`profile events`, `profile
// history`, `profile get --as-of`). All of them read a data directory's stores as RocksDB secondary
// instances, so they work beside a running `tessera run`.
//
// `tessera search` and `tessera segment members` print tables for people and the API's JSON with
// --json; `tessera export --segment NAME | --filter EXPR` streams the profiles they select.
//
// A RunningQueryApi owns its stores, its QueryApi and a thread that makes the stores catch up with
// the primary; create and destroy it from one thread. Its api() may be used from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "profiles/query/query_api.h"

namespace tessera::app {

struct QueryApiOptions {
  std::string data_dir = "tessera-data";
  // Tokens (`query:`), segments and computed traits (`profiles:`); "": the query_token of
  // DATA_DIR/credentials holds every scope, and search knows no segments.
  std::string config_path;
  std::string time_zone = "UTC";  // of profiles without a timezone trait, unless the config names one
  int catch_up_interval_ms = 1000;
};

class QueryStores;

// The query API over a data directory. The stores are opened lazily (the primary may not exist
// yet when `tessera run` starts): until then, requests answer 503.
class RunningQueryApi {
 public:
  ~RunningQueryApi();
  const query::QueryApi& api() const { return *api_; }

 private:
  friend absl::StatusOr<std::unique_ptr<RunningQueryApi>> StartQueryApi(const QueryApiOptions& options);
  RunningQueryApi() = default;

  std::unique_ptr<QueryStores> stores_;
  std::unique_ptr<query::QueryApi> api_;
  std::atomic<bool> stop_{false};
  std::thread catch_up_;
};

// Loads the config (tokens, retention, segments, computed traits) or the generated credentials, and
// starts catching up.
absl::StatusOr<std::unique_ptr<RunningQueryApi>> StartQueryApi(const QueryApiOptions& options);

int QueryCommand(const std::vector<std::string>& args);   // tessera query
int ExportCommand(const std::vector<std::string>& args);  // tessera export
int SearchCommand(const std::vector<std::string>& args);  // tessera search EXPR
// tessera segment members NAME (args start at "members").
int SegmentMembersCommand(const std::vector<std::string>& args);

// True for the `profile` subcommands served here: events, history, and get with --as-of.
bool IsQueryProfileCommand(const std::vector<std::string>& args);
int QueryProfileCommand(const std::vector<std::string>& args);

}  // namespace tessera::app
