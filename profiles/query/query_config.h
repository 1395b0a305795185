// Who may read what through the query API, and how long events are kept: the `query:` section of
// the YAML config file (other sections belong to other parts of Tessera and are ignored here).
//
//   query:
//     tokens:                                   # bearer tokens and their scopes
//       - {token: qt_analyst_1, scopes: [read_profiles]}               # PII comes back masked
//       - {token: qt_dpo, scopes: [read_profiles, read_pii, export]}
//     retention_days: {default: 365, shop-b: 90}   # events per workspace; 0 keeps forever
//     workspace: default                        # the workspace of TYPE:VALUE lookups without ?workspace=
//
// A top-level `query_token:` (the collector's config key) holds every scope. With no tokens
// configured at all, the generated query_token of DATA_DIR/credentials holds every scope
// (the caller passes it in; see WithAllScopes).
//
// A QueryConfig is a plain value: immutable after loading, safe to share between threads.
#pragma once

#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "profiles/event_store.h"

namespace tessera::query {

// Scopes, as bits.
enum Scope : uint32_t {
  kScopeReadProfiles = 1,  // profiles, timelines, history, stats
  kScopeReadPii = 2,       // emails, phones, names, addresses and birthdays unmasked
  kScopeExport = 4,        // bulk export
};
inline constexpr uint32_t kAllScopes = kScopeReadProfiles | kScopeReadPii | kScopeExport;

// "read_profiles" -> kScopeReadProfiles; 0 for an unknown name.
uint32_t ScopeFromName(std::string_view name);

struct QueryConfig {
  absl::flat_hash_map<std::string, uint32_t> scopes_by_token;
  profiles::EventRetention retention;
  std::string default_workspace = "default";

  // The config with `token` holding every scope (used when none are configured).
  void WithAllScopes(const std::string& token) { scopes_by_token[token] = kAllScopes; }
};

// Parses the `query:` section of a config file's YAML text (absent: defaults). InvalidArgument
// naming the key at fault (yaml-cpp's exceptions are caught here).
absl::StatusOr<QueryConfig> ParseQueryConfig(std::string_view yaml_text);
absl::StatusOr<QueryConfig> LoadQueryConfig(const std::string& path);

}  // namespace tessera::query
