#include "sinks/sink_config.h"

#include <cctype>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/yaml_config.h"
#include "common/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace tessera::sinks {
namespace {

const YamlSection kYaml("sinks config");

template <typename T>
absl::Status Read(const YAML::Node& parent, const char* key, std::string_view path, T& out) {
  const YAML::Node node = parent[key];
  if (!node) return absl::OkStatus();
  if (!node.IsScalar()) return kYaml.Bad(absl::StrCat(AbslView(path), ".", key), "expected a single value");
  try {
    out = node.as<T>();
  } catch (const YAML::Exception&) {
    return kYaml.Bad(absl::StrCat(AbslView(path), ".", key), absl::StrCat("cannot read '", node.Scalar(), "'"));
  }
  return absl::OkStatus();
}

absl::Status ReadList(const YAML::Node& parent, const char* key, std::string_view path, std::vector<std::string>& out) {
  const YAML::Node node = parent[key];
  if (!node) return absl::OkStatus();
  if (!node.IsSequence()) return kYaml.Bad(absl::StrCat(AbslView(path), ".", key), "expected a list");
  out.clear();
  for (const YAML::Node& item : node) {
    if (!item.IsScalar()) return kYaml.Bad(absl::StrCat(AbslView(path), ".", key), "expected a list of names");
    out.push_back(item.Scalar());
  }
  return absl::OkStatus();
}

absl::Status ReadEvents(const YAML::Node& node, std::string_view path, DestinationConfig& d) {
  if (!node) return absl::OkStatus();
  if (!node.IsSequence()) return kYaml.Bad(path, "expected a list");
  d.profile_updates = false;
  for (const YAML::Node& item : node) {
    std::string kind;
    YAML::Node options;
    if (item.IsScalar()) {
      kind = item.Scalar();
    } else if (item.IsMap() && item.size() == 1) {
      kind = item.begin()->first.as<std::string>();
      options = item.begin()->second;
    } else {
      return kYaml.Bad(path, "each event is a name or {name: {options}}");
    }
    if (kind == "profile_updates") {
      d.profile_updates = true;
    } else if (kind == "segment_changes") {
      d.segment_changes = true;
      if (options && options.IsMap()) RETURN_IF_ERROR(ReadList(options, "segments", path, d.segments));
    } else if (kind == "triggers") {
      d.triggers = true;
    } else {
      return kYaml.Bad(path, absl::StrCat("unknown event kind '", kind, "' (profile_updates, segment_changes, triggers)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<DestinationConfig>> ParseSinksConfig(std::string_view yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return kYaml.Bad("document", e.what());
  }
  std::vector<DestinationConfig> out;
  if (!root || !root.IsMap() || !root["sinks"]) return out;
  const YAML::Node destinations = root["sinks"]["destinations"];
  if (!destinations) return out;
  if (!destinations.IsSequence()) return kYaml.Bad("sinks.destinations", "expected a list");
  std::set<std::string> names;
  for (size_t i = 0; i < destinations.size(); ++i) {
    const YAML::Node node = destinations[i];
    const std::string path = absl::StrCat("sinks.destinations[", i, "]");
    if (!node.IsMap()) return kYaml.Bad(path, "expected a map");
    DestinationConfig d;
    RETURN_IF_ERROR(Read(node, "name", path, d.name));
    if (d.name.empty()) return kYaml.Bad(path, "name is required");
    for (char c : d.name) {
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) {
        return kYaml.Bad(path, "name may only hold letters, digits, '-' and '_' (it names topics and directories)");
      }
    }
    if (!names.insert(d.name).second) return kYaml.Bad(path, absl::StrCat("duplicate name '", d.name, "'"));
    std::string type = "webhook";
    RETURN_IF_ERROR(Read(node, "type", path, type));
    if (type == "webhook") {
      d.type = DestinationType::kWebhook;
      RETURN_IF_ERROR(Read(node, "url", path, d.url));
      if (d.url.empty()) return kYaml.Bad(path, "a webhook needs a url");
    } else if (type == "kafka") {
      d.type = DestinationType::kKafka;
      RETURN_IF_ERROR(Read(node, "topic", path, d.topic));
      if (d.topic.empty()) return kYaml.Bad(path, "a kafka destination needs a topic");
    } else {
      return kYaml.Bad(path, absl::StrCat("unknown type '", type, "' (webhook, kafka)"));
    }
    RETURN_IF_ERROR(ReadEvents(node["events"], path + ".events", d));
    RETURN_IF_ERROR(ReadList(node, "topics", path, d.input_topics));
    RETURN_IF_ERROR(ReadList(node, "purposes", path, d.purposes));
    RETURN_IF_ERROR(ReadList(node, "fields", path, d.fields));
    if (const YAML::Node batch = node["batch"]; batch) {
      RETURN_IF_ERROR(Read(batch, "max_size", path + ".batch", d.batch_max_size));
      RETURN_IF_ERROR(Read(batch, "max_wait_ms", path + ".batch", d.batch_max_wait_ms));
    }
    RETURN_IF_ERROR(Read(node, "timeout_ms", path, d.timeout_ms));
    RETURN_IF_ERROR(Read(node, "rate_limit_per_s", path, d.rate_limit_per_s));
    if (d.type == DestinationType::kKafka) d.max_in_flight = kKafkaDefaultMaxInFlight;
    RETURN_IF_ERROR(Read(node, "max_in_flight", path, d.max_in_flight));
    RETURN_IF_ERROR(Read(node, "max_pending", path, d.max_pending));
    if (const YAML::Node retry = node["retry"]; retry) {
      int64_t window_s = d.retry.max_window_ms / 1000;
      RETURN_IF_ERROR(Read(retry, "max_window_s", path + ".retry", window_s));
      d.retry.max_window_ms = window_s * 1000;
      RETURN_IF_ERROR(Read(retry, "max_window_ms", path + ".retry", d.retry.max_window_ms));
      RETURN_IF_ERROR(Read(retry, "base_ms", path + ".retry", d.retry.base_ms));
      RETURN_IF_ERROR(Read(retry, "max_ms", path + ".retry", d.retry.max_ms));
    }
    RETURN_IF_ERROR(Read(node, "secret", path, d.secret));
    std::string secret_env;
    RETURN_IF_ERROR(Read(node, "secret_env", path, secret_env));
    if (!secret_env.empty()) {
      const char* value = std::getenv(secret_env.c_str());
      if (value == nullptr) return kYaml.Bad(path, absl::StrCat("environment variable ", secret_env, " is not set"));
      d.secret = value;
    }
    if (d.type == DestinationType::kWebhook && d.secret.empty()) {
      return kYaml.Bad(path, "a webhook needs a secret (secret or secret_env): every request is signed");
    }
    if (d.batch_max_size == 0 || d.max_in_flight == 0 || d.max_pending == 0 || d.timeout_ms <= 0 ||
        d.retry.base_ms <= 0 || d.retry.max_ms < d.retry.base_ms) {
      return kYaml.Bad(path, "batch.max_size, max_in_flight, max_pending, timeout_ms, retry.base_ms must be positive and "
                       "retry.max_ms >= retry.base_ms");
    }
    out.push_back(std::move(d));
  }
  return out;
}

absl::StatusOr<std::vector<DestinationConfig>> LoadSinksConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path, "sinks config: cannot read ");
  if (!text.ok()) return text.status();
  return ParseSinksConfig(*text);
}

std::vector<std::string> InputTopics(const DestinationConfig& d, std::string_view prefix) {
  std::vector<std::string> topics;
  if (!d.input_topics.empty()) {
    for (const std::string& t : d.input_topics) topics.push_back(absl::StrCat(AbslView(prefix), t));
    return topics;
  }
  if (d.profile_updates) topics.push_back(absl::StrCat(AbslView(prefix), "profile-updates"));
  if (d.segment_changes) topics.push_back(absl::StrCat(AbslView(prefix), "segment-changes"));
  if (d.triggers) topics.push_back(absl::StrCat(AbslView(prefix), "triggers"));
  return topics;
}

std::string ConsumerGroup(const DestinationConfig& d, std::string_view prefix) {
  return absl::StrCat(AbslView(prefix), "sink.", d.name);
}

std::string DeadLetterTopic(const DestinationConfig& d, std::string_view prefix) {
  return absl::StrCat(AbslView(prefix), "sink.", d.name, ".dlq");
}

}  // namespace tessera::sinks
