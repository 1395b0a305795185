#include "profiles/query/query_config.h"

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/yaml_config.h"
#include "yaml-cpp/yaml.h"

namespace tessera::query {
namespace {

const YamlSection kYaml("query config");

absl::StatusOr<std::string> Text(const YAML::Node& node, std::string_view path) {
  if (!node || !node.IsScalar()) return kYaml.Bad(path, "expected a single value");
  return node.Scalar();
}

absl::StatusOr<int64_t> Days(const YAML::Node& node, std::string_view path) {
  if (!node.IsScalar()) return kYaml.Bad(path, "expected a number of days");
  try {
    const int64_t days = node.as<int64_t>();
    if (days < 0) return kYaml.Bad(path, "must be 0 (forever) or more");
    return days;
  } catch (const YAML::Exception&) {
    return kYaml.Bad(path, absl::StrCat("cannot read '", node.Scalar(), "' as a number of days"));
  }
}

absl::Status ParseSection(const YAML::Node& section, QueryConfig& config) {
  if (!section.IsMap()) return kYaml.Bad("query", "expected a map");
  for (const auto& entry : section) {
    const std::string key = entry.first.as<std::string>();
    const YAML::Node& value = entry.second;
    if (key == "tokens") {
      if (!value.IsSequence()) return kYaml.Bad("query.tokens", "expected a list of {token, scopes}");
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string path = absl::StrCat("query.tokens[", i, "]");
        if (!value[i].IsMap()) return kYaml.Bad(path, "expected {token, scopes}");
        absl::StatusOr<std::string> token = Text(value[i]["token"], absl::StrCat(path, ".token"));
        if (!token.ok()) return token.status();
        if (token->empty()) return kYaml.Bad(absl::StrCat(path, ".token"), "must not be empty");
        if (config.scopes_by_token.contains(*token)) return kYaml.Bad(absl::StrCat(path, ".token"), "appears twice");
        const YAML::Node scopes = value[i]["scopes"];
        if (!scopes || !scopes.IsSequence()) return kYaml.Bad(absl::StrCat(path, ".scopes"), "expected a list of scopes");
        uint32_t bits = 0;
        for (size_t j = 0; j < scopes.size(); ++j) {
          const std::string scope_path = absl::StrCat(path, ".scopes[", j, "]");
          absl::StatusOr<std::string> name = Text(scopes[j], scope_path);
          if (!name.ok()) return name.status();
          const uint32_t bit = ScopeFromName(*name);
          if (bit == 0) return kYaml.Bad(scope_path, absl::StrCat("unknown scope '", *name, "' (read_profiles, read_pii, export)"));
          bits |= bit;
        }
        config.scopes_by_token[*token] = bits;
      }
    } else if (key == "retention_days") {
      if (value.IsScalar()) {
        absl::StatusOr<int64_t> days = Days(value, "query.retention_days");
        if (!days.ok()) return days.status();
        config.retention.default_days = *days;
        continue;
      }
      if (!value.IsMap()) return kYaml.Bad("query.retention_days", "expected a number or {default: N, WORKSPACE: N}");
      for (const auto& ws : value) {
        const std::string workspace = ws.first.as<std::string>();
        absl::StatusOr<int64_t> days = Days(ws.second, absl::StrCat("query.retention_days.", workspace));
        if (!days.ok()) return days.status();
        if (workspace == "default") {
          config.retention.default_days = *days;
        } else {
          config.retention.days_by_workspace[workspace] = *days;
        }
      }
    } else if (key == "workspace") {
      absl::StatusOr<std::string> workspace = Text(value, "query.workspace");
      if (!workspace.ok()) return workspace.status();
      config.default_workspace = *workspace;
    } else {
      return kYaml.Bad(absl::StrCat("query.", key), "unknown key (tokens, retention_days, workspace)");
    }
  }
  return absl::OkStatus();
}

}  // namespace

uint32_t ScopeFromName(std::string_view name) {
  if (name == "read_profiles") return kScopeReadProfiles;
  if (name == "read_pii") return kScopeReadPii;
  if (name == "export") return kScopeExport;
  return 0;
}

absl::StatusOr<QueryConfig> ParseQueryConfig(std::string_view yaml_text) {
  QueryConfig config;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("query config: not YAML: ", e.what()));
  }
  if (!root || root.IsNull()) return config;
  if (!root.IsMap()) return kYaml.Bad("(top level)", "expected a map");
  try {
    // The collector's config has a top-level query_token (collector_config.h): it holds every scope.
    if (const YAML::Node token = root["query_token"]; token && token.IsScalar() && !token.Scalar().empty()) {
      config.scopes_by_token[token.Scalar()] = kAllScopes;
    }
    if (const YAML::Node section = root["query"]; section && !section.IsNull()) {
      absl::Status status = ParseSection(section, config);
      if (!status.ok()) return status;
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("query config: ", e.what()));
  }
  return config;
}

absl::StatusOr<QueryConfig> LoadQueryConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path, "cannot read the config file ");
  if (!text.ok()) return text.status();
  return ParseQueryConfig(*text);
}

}  // namespace tessera::query
