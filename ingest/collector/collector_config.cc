#include "ingest/collector/collector_config.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/json_writer.h"
#include "common/yaml_config.h"
#include "simdjson.h"

namespace tessera::collector {
namespace {

absl::StatusOr<SourceConfig> ParseSource(const YAML::Node& node, size_t index, std::string* write_key) {
  const std::string where = absl::StrCat("sources[", index, "]");
  if (!node.IsMap()) return absl::InvalidArgumentError(absl::StrCat(where, " must be a map"));
  if (!node["write_key"] || node["write_key"].as<std::string>().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, " needs a write_key"));
  }
  *write_key = node["write_key"].as<std::string>();
  SourceConfig source;
  if (node["workspace"]) source.workspace = node["workspace"].as<std::string>();
  if (source.workspace.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": empty workspace"));
  const std::string kind = node["source"] ? node["source"].as<std::string>() : "web";
  if (kind == "web") source.channel = v1::CHANNEL_WEB;
  else if (kind == "social") source.channel = v1::CHANNEL_SOCIAL;
  else if (kind == "purchase") source.channel = v1::CHANNEL_PURCHASE;
  else if (kind == "custom") source.channel = v1::CHANNEL_WEB;
  else {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": source must be web, social, purchase or custom, not '", kind, "'"));
  }
  source.name = node["name"] ? node["name"].as<std::string>() : kind;
  if (kind == "custom" && (!node["name"] || source.name.empty())) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": a custom source needs a name"));
  }
  return source;
}

}  // namespace

absl::StatusOr<CollectorConfig> ParseCollectorConfig(std::string_view yaml_text) {
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    if (!root.IsMap()) return absl::InvalidArgumentError("collector config: the top level must be a map");
    CollectorConfig config;
    const YAML::Node sources = root["sources"];
    if (!sources || !sources.IsSequence() || sources.size() == 0) {
      return absl::InvalidArgumentError("collector config: 'sources:' must list at least one write key");
    }
    for (size_t i = 0; i < sources.size(); ++i) {
      std::string write_key;
      absl::StatusOr<SourceConfig> source = ParseSource(sources[i], i, &write_key);
      if (!source.ok()) return absl::InvalidArgumentError(absl::StrCat("collector config: ", source.status().message()));
      if (!config.sources_by_write_key.emplace(write_key, *source).second) {
        return absl::InvalidArgumentError(absl::StrCat("collector config: sources[", i, "] repeats a write_key"));
      }
    }
    if (const YAML::Node proxies = root["trusted_proxies"]) {
      if (!proxies.IsSequence()) return absl::InvalidArgumentError("collector config: trusted_proxies must be a list");
      for (const YAML::Node& p : proxies) config.trusted_proxies.insert(p.as<std::string>());
    }
    if (const YAML::Node limit = root["rate_limit"]) {
      if (limit["requests_per_second"]) config.rate_limit_per_second = limit["requests_per_second"].as<double>();
      config.rate_limit_burst =
          limit["burst"] ? limit["burst"].as<double>() : std::max(1.0, 2 * config.rate_limit_per_second);
      if (config.rate_limit_per_second < 0 || config.rate_limit_burst < 1) {
        return absl::InvalidArgumentError("collector config: rate_limit needs requests_per_second >= 0, burst >= 1");
      }
    }
    if (root["query_token"]) config.query_token = root["query_token"].as<std::string>();
    return config;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("collector config: ", e.what()));
  }
}

absl::StatusOr<CollectorConfig> LoadCollectorConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path, "cannot read collector config ");
  if (!text.ok()) return text.status();
  absl::StatusOr<CollectorConfig> config = ParseCollectorConfig(*text);
  if (!config.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", config.status().message()));
  return config;
}

absl::StatusOr<std::string> RandomToken(std::string_view prefix) {
  unsigned char bytes[16];
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  if (!urandom.read(reinterpret_cast<char*>(bytes), sizeof(bytes))) {
    return absl::InternalError("cannot read /dev/urandom");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token(prefix);
  for (unsigned char b : bytes) {
    token.push_back(kHex[b >> 4]);
    token.push_back(kHex[b & 15]);
  }
  return token;
}

absl::StatusOr<Credentials> LoadOrCreateCredentials(const std::string& data_dir, bool* created) {
  *created = false;
  const std::string path = data_dir + "/credentials";
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (!std::filesystem::exists(path)) {
    absl::StatusOr<std::string> write_key = RandomToken("wk_");
    if (!write_key.ok()) return write_key.status();
    absl::StatusOr<std::string> query_token = RandomToken("qt_");
    if (!query_token.ok()) return query_token.status();
    JsonWriter w;
    w.BeginObject().Key("write_key").String(*write_key).Key("query_token").String(*query_token).EndObject();
    const std::string text = w.str() + "\n";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      const bool synced = ::fsync(fd) == 0;
      ::close(fd);
      if (!written || !synced) return absl::InternalError(absl::StrCat("cannot write ", path));
      *created = true;
      return Credentials{*write_key, *query_token};
    }
    if (errno != EEXIST) return absl::PermissionDeniedError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
    // Another process created it first: read theirs.
  }
  simdjson::padded_string json;
  if (simdjson::padded_string::load(path).get(json) != simdjson::SUCCESS) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read ", path));
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view write_key, query_token;
  if (parser.parse(json).get(root) != simdjson::SUCCESS || root["write_key"].get(write_key) != simdjson::SUCCESS ||
      root["query_token"].get(query_token) != simdjson::SUCCESS || write_key.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not {\"write_key\": …, \"query_token\": …}; fix or delete it"));
  }
  return Credentials{std::string(write_key), std::string(query_token)};
}

CollectorConfig ConfigFromCredentials(const Credentials& credentials) {
  CollectorConfig config;
  config.sources_by_write_key[credentials.write_key] = SourceConfig{};
  config.query_token = credentials.query_token;
  return config;
}

}  // namespace tessera::collector
