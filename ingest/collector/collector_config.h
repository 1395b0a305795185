// Who may send to the collector and where their events go: write keys, each mapped to a workspace
// and a source (web, social, purchase, or a named custom source), trusted proxies and the rate
// limit. Loaded from YAML (`tessera collector --config FILE`); with no config, from the generated
// DATA_DIR/credentials (one write key for workspace "default", source web).
//
// A CollectorConfig is a plain value: immutable after loading, safe to share between threads.
//
//   sources:
//     - write_key: wk_live_4f2a            # required, unique
//       workspace: shop-th                 # default "default"
//       source: web                        # web | social | purchase | custom
//       name: website                      # required for custom; default = source
//   trusted_proxies: [10.0.0.5, 127.0.0.1] # peers whose X-Forwarded-For is believed
//   rate_limit: { requests_per_second: 1000, burst: 2000 }   # per write key; 0 turns it off
//   query_token: qt_9c1e                   # for the query API
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::collector {

struct SourceConfig {
  std::string workspace = "default";
  std::string name = "web";               // "web", "social", "purchase" or the custom source's name
  v1::Channel channel = v1::CHANNEL_WEB;  // picks the raw topic; custom sources are web
};

struct CollectorConfig {
  absl::flat_hash_map<std::string, SourceConfig> sources_by_write_key;
  absl::flat_hash_set<std::string> trusted_proxies;  // peer IPs, as text
  double rate_limit_per_second = 1000;               // per write key; 0 = unlimited
  double rate_limit_burst = 2000;
  std::string query_token;
};

// Parses the YAML text of a config file. InvalidArgument naming the problem (yaml-cpp's exceptions
// are caught here).
absl::StatusOr<CollectorConfig> ParseCollectorConfig(std::string_view yaml_text);
absl::StatusOr<CollectorConfig> LoadCollectorConfig(const std::string& path);

struct Credentials {
  std::string write_key;
  std::string query_token;
};

// Reads DATA_DIR/credentials, or on first start creates it (mode 0600, never overwriting a file
// another process made in the meantime) with a random write key and query token. `created` says
// which happened.
absl::StatusOr<Credentials> LoadOrCreateCredentials(const std::string& data_dir, bool* created);

// The default config around generated credentials: the write key for workspace "default", web.
CollectorConfig ConfigFromCredentials(const Credentials& credentials);

// A random token: `prefix` + 32 lower-case hex digits from the OS's random source.
absl::StatusOr<std::string> RandomToken(std::string_view prefix);

}  // namespace tessera::collector
