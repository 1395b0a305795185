#include "identity/rules_config.h"

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/yaml_config.h"
#include "yaml-cpp/yaml.h"

namespace tessera::identity {
namespace {

const YamlSection kYaml("identity config");

constexpr std::string_view kNotAMapOfLists = "expected a map of identifier type to a list";

// Applies the keys present in `node` on top of `rules`. `allow_workspaces` only at the top level.
absl::Status ApplyRules(const YAML::Node& node, std::string_view path, IdentityRules& rules,
                        YAML::Node* workspaces, size_t* index_entries) {
  if (!node.IsMap()) return kYaml.Bad(path, "expected a map");
  // The blocklist switch first, so lists given beside it add to what it leaves.
  if (const YAML::Node use_defaults = node["use_default_blocklist"]; use_defaults) {
    absl::StatusOr<bool> on = kYaml.Scalar<bool>(use_defaults, absl::StrCat(AbslView(path), ".use_default_blocklist"));
    if (!on.ok()) return on.status();
    if (!*on) {
      rules.blocked_values.clear();
      rules.blocked_patterns.clear();
    }
  }
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const YAML::Node& value = kv.second;
    const std::string here = absl::StrCat(AbslView(path), ".", key);
    if (key == "use_default_blocklist") continue;
    if (key == "value_limits") {
      if (!value.IsMap()) return kYaml.Bad(here, "expected a map of identifier type to a number or \"unlimited\"");
      for (const auto& limit : value) {
        const std::string type = limit.first.as<std::string>();
        if (limit.second.IsScalar() && limit.second.Scalar() == "unlimited") {
          rules.value_limits.erase(type);
          continue;
        }
        absl::StatusOr<int> n = kYaml.Scalar<int>(limit.second, absl::StrCat(here, ".", type));
        if (!n.ok()) return n.status();
        if (*n < 1) return kYaml.Bad(absl::StrCat(here, ".", type), "a limit is at least 1 (or \"unlimited\")");
        rules.value_limits[type] = *n;
      }
    } else if (key == "shared_device") {
      if (!value.IsMap()) return kYaml.Bad(here, "expected {enabled: BOOL, max_user_ids: N}");
      for (const auto& setting : value) {
        const std::string name = setting.first.as<std::string>();
        if (name == "enabled") {
          absl::StatusOr<bool> on = kYaml.Scalar<bool>(setting.second, absl::StrCat(here, ".enabled"));
          if (!on.ok()) return on.status();
          rules.shared_device_rule = *on;
        } else if (name == "max_user_ids") {
          absl::StatusOr<int> n = kYaml.Scalar<int>(setting.second, absl::StrCat(here, ".max_user_ids"));
          if (!n.ok()) return n.status();
          if (*n < 1) return kYaml.Bad(absl::StrCat(here, ".max_user_ids"), "must be at least 1");
          rules.shared_device_max_user_ids = *n;
        } else {
          return kYaml.Bad(absl::StrCat(here, ".", name), "unknown key (enabled, max_user_ids)");
        }
      }
    } else if (key == "blocked_values") {
      if (absl::Status s = kYaml.AddStringLists(value, here, kNotAMapOfLists, rules.blocked_values); !s.ok()) return s;
    } else if (key == "blocked_patterns") {
      if (absl::Status s = kYaml.AddStringLists(value, here, kNotAMapOfLists, rules.blocked_patterns); !s.ok()) return s;
    } else if (key == "weak_quiet_days") {
      absl::StatusOr<int> n = kYaml.Scalar<int>(value, here);
      if (!n.ok()) return n.status();
      if (*n < 0) return kYaml.Bad(here, "must not be negative");
      rules.weak_quiet_days = *n;
    } else if (key == "max_identifiers_per_profile" || key == "max_merges_per_profile") {
      absl::StatusOr<int> n = kYaml.Scalar<int>(value, here);
      if (!n.ok()) return n.status();
      if (*n < 0) return kYaml.Bad(here, "must not be negative (0: no cap)");
      (key == "max_identifiers_per_profile" ? rules.max_identifiers_per_profile : rules.max_merges_per_profile) = *n;
    } else if (key == "weak_types") {
      absl::StatusOr<std::vector<std::string>> list = kYaml.StringList(value, here);
      if (!list.ok()) return list.status();
      rules.weak_types = *std::move(list);
    } else if (key == "priority") {
      absl::StatusOr<std::vector<std::string>> list = kYaml.StringList(value, here);
      if (!list.ok()) return list.status();
      rules.priority = *std::move(list);
    } else if (key == "fingerprint_index" && index_entries != nullptr) {
      if (!value.IsMap()) return kYaml.Bad(here, "expected {max_entries: N}");
      for (const auto& setting : value) {
        const std::string name = setting.first.as<std::string>();
        if (name != "max_entries") return kYaml.Bad(absl::StrCat(here, ".", name), "unknown key (max_entries)");
        absl::StatusOr<int64_t> n = kYaml.Scalar<int64_t>(setting.second, absl::StrCat(here, ".max_entries"));
        if (!n.ok()) return n.status();
        if (*n < 0) return kYaml.Bad(absl::StrCat(here, ".max_entries"), "must not be negative (0: off)");
        *index_entries = static_cast<size_t>(*n);
      }
    } else if (key == "workspaces" && workspaces != nullptr) {
      if (!value.IsMap()) return kYaml.Bad(here, "expected a map of workspace name to rules");
      *workspaces = value;  // a handle to the same node
    } else {
      return kYaml.Bad(here, "unknown key");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RulesConfig> ParseRulesConfig(std::string_view yaml) {
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    RulesConfig config;
    if (!root || root.IsNull()) return config;
    if (!root.IsMap()) return kYaml.Bad("(top)", "expected a map with an `identity:` key");
    const YAML::Node identity = root["identity"];
    if (!identity || identity.IsNull()) return config;
    YAML::Node workspaces;
    if (absl::Status s = ApplyRules(identity, "identity", config.defaults, &workspaces, &config.fingerprint_index_entries); !s.ok()) return s;
    if (workspaces.IsMap()) {
      for (const auto& kv : workspaces) {
        const std::string name = kv.first.as<std::string>();
        IdentityRules rules = config.defaults;
        if (absl::Status s = ApplyRules(kv.second, absl::StrCat("identity.workspaces.", name), rules, nullptr, nullptr); !s.ok()) {
          return s;
        }
        config.workspaces[name] = std::move(rules);
      }
    }
    return config;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("identity config: not valid YAML: ", e.what()));
  }
}

absl::StatusOr<RulesConfig> LoadRulesConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path, "cannot read the config file ");
  if (!text.ok()) return text.status();
  return ParseRulesConfig(*text);
}

absl::StatusOr<RulesByWorkspace> CompileRulesConfig(const RulesConfig& config) {
  absl::StatusOr<RulesByWorkspace> rules = RulesByWorkspace::Make(config.defaults, config.workspaces);
  if (rules.ok()) rules->set_fingerprint_index_entries(config.fingerprint_index_entries);
  return rules;
}

}  // namespace tessera::identity
