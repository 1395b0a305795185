#include "ingest/ingest_config.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/yaml_config.h"
#include "ingest/blocklist.h"
#include "ingest/normalize.h"
#include "yaml-cpp/yaml.h"

namespace tessera::ingest {
namespace {

const YamlSection kYaml("ingest config");

constexpr std::string_view kNotAMapOfLists = "expected a map of identifier type (or \"*\") to a list";

absl::Status ApplyBlocklist(const YAML::Node& node, std::string_view path, BlocklistRules& rules) {
  if (!node.IsMap()) return kYaml.Bad(path, "expected a map (use_defaults, values, patterns)");
  if (const YAML::Node use_defaults = node["use_defaults"]; use_defaults) {
    bool on = true;
    try {
      on = use_defaults.as<bool>();
    } catch (const YAML::Exception&) {
      return kYaml.Bad(absl::StrCat(AbslView(path), ".use_defaults"), "expected true or false");
    }
    if (!on) rules = BlocklistRules();
  }
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string here = absl::StrCat(AbslView(path), ".", key);
    if (key == "use_defaults") continue;
    if (key == "values") {
      if (absl::Status s = kYaml.AddStringLists(kv.second, here, kNotAMapOfLists, rules.values); !s.ok()) return s;
    } else if (key == "patterns") {
      if (absl::Status s = kYaml.AddStringLists(kv.second, here, kNotAMapOfLists, rules.patterns); !s.ok()) return s;
    } else {
      return kYaml.Bad(here, "unknown key (use_defaults, values, patterns)");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<EventPlan> ParseEventPlan(const YAML::Node& node, std::string_view path) {
  EventPlan plan;
  if (!node || node.IsNull()) return plan;
  if (!node.IsMap()) return kYaml.Bad(path, "expected a map (properties, required)");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string here = absl::StrCat(AbslView(path), ".", key);
    if (key == "properties") {
      if (!kv.second.IsMap()) return kYaml.Bad(here, "expected a map of property name to type");
      plan.check_properties = true;
      for (const auto& property : kv.second) {
        const std::string name = property.first.as<std::string>();
        absl::StatusOr<std::string> type_name = kYaml.Scalar<std::string>(property.second, absl::StrCat(here, ".", name));
        if (!type_name.ok()) return type_name.status();
        std::optional<PropertyType> type = PropertyTypeFromName(*type_name);
        if (!type.has_value()) {
          return kYaml.Bad(absl::StrCat(here, ".", name),
                     absl::StrCat("unknown type '", *type_name, "' (string, number, integer, boolean, object, array, any)"));
        }
        plan.properties[name] = *type;
      }
    } else if (key == "required") {
      absl::StatusOr<std::vector<std::string>> list = kYaml.StringList(kv.second, here);
      if (!list.ok()) return list.status();
      plan.required = *std::move(list);
    } else {
      return kYaml.Bad(here, "unknown key (properties, required)");
    }
  }
  return plan;
}

absl::StatusOr<TrackingPlan> ParsePlan(const YAML::Node& node, std::string_view path) {
  if (!node.IsMap()) return kYaml.Bad(path, "expected a map (mode, events, traits)");
  TrackingPlan plan;
  bool has_mode = false;
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string here = absl::StrCat(AbslView(path), ".", key);
    if (key == "mode") {
      absl::StatusOr<std::string> mode_name = kYaml.Scalar<std::string>(kv.second, here);
      if (!mode_name.ok()) return mode_name.status();
      std::optional<PlanMode> mode = PlanModeFromName(*mode_name);
      if (!mode.has_value()) return kYaml.Bad(here, absl::StrCat("unknown mode '", *mode_name, "' (reject, strip, flag)"));
      plan.mode = *mode;
      has_mode = true;
    } else if (key == "events") {
      if (!kv.second.IsMap()) return kYaml.Bad(here, "expected a map of event name to its plan");
      plan.check_events = true;
      for (const auto& event : kv.second) {
        const std::string name = event.first.as<std::string>();
        absl::StatusOr<EventPlan> event_plan = ParseEventPlan(event.second, absl::StrCat(here, ".", name));
        if (!event_plan.ok()) return event_plan.status();
        plan.events[name] = *std::move(event_plan);
      }
    } else if (key == "traits") {
      absl::StatusOr<std::vector<std::string>> list = kYaml.StringList(kv.second, here);
      if (!list.ok()) return list.status();
      plan.check_traits = true;
      plan.traits.insert(list->begin(), list->end());
    } else {
      return kYaml.Bad(here, "unknown key (mode, events, traits)");
    }
  }
  if (!has_mode) return kYaml.Bad(path, "mode is required (reject, strip, flag)");
  return plan;
}

absl::Status ApplyPlans(const YAML::Node& node, std::string_view path,
                        std::map<std::string, TrackingPlan, std::less<>>& plans) {
  if (!node.IsMap()) return kYaml.Bad(path, "expected a map of source name to its tracking plan");
  for (const auto& kv : node) {
    const std::string source = kv.first.as<std::string>();
    absl::StatusOr<TrackingPlan> plan = ParsePlan(kv.second, absl::StrCat(AbslView(path), ".", source));
    if (!plan.ok()) return plan.status();
    plans[source] = *std::move(plan);
  }
  return absl::OkStatus();
}

using PhoneRegions = std::map<std::string, std::string, std::less<>>;

// `phone_regions: {line-oa: TH, uk-shop: GB, "*": TH}`: regions are checked against libphonenumber's.
absl::Status ApplyPhoneRegions(const YAML::Node& node, std::string_view path, PhoneRegions& regions) {
  if (!node.IsMap()) return kYaml.Bad(path, "expected a map of source name (or \"*\") to a region like TH");
  for (const auto& kv : node) {
    const std::string source = kv.first.as<std::string>();
    const std::string here = absl::StrCat(AbslView(path), ".", source);
    absl::StatusOr<std::string> region = kYaml.Scalar<std::string>(kv.second, here);
    if (!region.ok()) return region.status();
    if (!IsSupportedPhoneRegion(*region)) {
      return kYaml.Bad(here, absl::StrCat("unknown phone region '", *region, "' (ISO 3166 alpha-2, upper case: TH, GB, US)"));
    }
    regions[source] = *std::move(region);
  }
  return absl::OkStatus();
}

// One level of settings (the top, or a workspace) applied on top of `blocklist`, `plans` and
// `phone_regions`.
absl::Status ApplyLevel(const YAML::Node& node, std::string_view path, BlocklistRules& blocklist,
                        std::map<std::string, TrackingPlan, std::less<>>& plans, PhoneRegions& phone_regions,
                        YAML::Node* workspaces) {
  if (!node.IsMap()) return kYaml.Bad(path, "expected a map");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string here = absl::StrCat(AbslView(path), ".", key);
    if (key == "blocklist") {
      if (absl::Status s = ApplyBlocklist(kv.second, here, blocklist); !s.ok()) return s;
    } else if (key == "tracking_plans") {
      if (absl::Status s = ApplyPlans(kv.second, here, plans); !s.ok()) return s;
    } else if (key == "phone_regions") {
      if (absl::Status s = ApplyPhoneRegions(kv.second, here, phone_regions); !s.ok()) return s;
    } else if (key == "workspaces" && workspaces != nullptr) {
      if (!kv.second.IsMap()) return kYaml.Bad(here, "expected a map of workspace name to settings");
      *workspaces = kv.second;
    } else {
      return kYaml.Bad(here, workspaces != nullptr ? "unknown key (blocklist, tracking_plans, phone_regions, workspaces)"
                                             : "unknown key (blocklist, tracking_plans, phone_regions)");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<WorkspaceCleaning> Compile(const BlocklistRules& blocklist,
                                          std::map<std::string, TrackingPlan, std::less<>> plans,
                                          PhoneRegions phone_regions, std::string_view where) {
  absl::StatusOr<std::shared_ptr<const identity::CompiledRules>> compiled = CompileBlocklist(blocklist);
  if (!compiled.ok()) return kYaml.Bad(where, StdView(compiled.status().message()));
  WorkspaceCleaning out;
  out.blocklist = *std::move(compiled);
  out.tracking_plans = std::move(plans);
  out.phone_regions = std::move(phone_regions);
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const CleaningConfig>> ParseIngestConfig(std::string_view yaml) {
  try {
    auto config = std::make_shared<CleaningConfig>();
    const YAML::Node root = YAML::Load(std::string(yaml));
    const bool empty = !root || root.IsNull();
    if (!empty && !root.IsMap()) return kYaml.Bad("(top)", "expected a map with an `ingest:` key");
    const YAML::Node ingest = empty ? YAML::Node() : root["ingest"];
    BlocklistRules blocklist = IngestBlocklistDefaults();
    std::map<std::string, TrackingPlan, std::less<>> plans;
    PhoneRegions phone_regions;
    YAML::Node workspaces;
    if (ingest && !ingest.IsNull()) {
      if (absl::Status s = ApplyLevel(ingest, "ingest", blocklist, plans, phone_regions, &workspaces); !s.ok()) return s;
    }
    absl::StatusOr<WorkspaceCleaning> defaults = Compile(blocklist, plans, phone_regions, "ingest.blocklist");
    if (!defaults.ok()) return defaults.status();
    config->defaults = *std::move(defaults);
    if (workspaces.IsMap()) {
      for (const auto& kv : workspaces) {
        const std::string name = kv.first.as<std::string>();
        const std::string path = absl::StrCat("ingest.workspaces.", name);
        BlocklistRules workspace_blocklist = blocklist;
        std::map<std::string, TrackingPlan, std::less<>> workspace_plans = plans;
        PhoneRegions workspace_regions = phone_regions;
        if (absl::Status s = ApplyLevel(kv.second, path, workspace_blocklist, workspace_plans, workspace_regions, nullptr);
            !s.ok()) {
          return s;
        }
        absl::StatusOr<WorkspaceCleaning> compiled = Compile(workspace_blocklist, std::move(workspace_plans),
                                                             std::move(workspace_regions), absl::StrCat(path, ".blocklist"));
        if (!compiled.ok()) return compiled.status();
        config->workspaces[name] = *std::move(compiled);
      }
    }
    return std::shared_ptr<const CleaningConfig>(std::move(config));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("ingest config: not valid YAML: ", e.what()));
  }
}

absl::StatusOr<std::shared_ptr<const CleaningConfig>> LoadIngestConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path, "cannot read the config file ");
  if (!text.ok()) return text.status();
  return ParseIngestConfig(*text);
}

}  // namespace tessera::ingest
