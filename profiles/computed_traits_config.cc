// ParseComputedTraitsConfig / LoadComputedTraitsConfig (declared in computed_traits.h): the only
// profiles code that touches yaml-cpp; its exceptions stop here and come back as a Status. Built as
// its own target (tessera_profiles_config) so the fold does not link yaml-cpp.
//
//   profiles:
//     default_time_zone: Asia/Bangkok
//     reporting_currency: THB
//     cart_abandon_after_minutes: 60
//     favourites: 3
//     rfm:
//       recency_days: [30, 60, 120, 240]
//       frequency: [2, 3, 5, 10]
//       monetary: {THB: [1000, 3000, 10000, 30000]}
//       tier_segments: true        # publish tier changes as segments rfm_tier:<tier>
//     computed_traits:
//       - {name: coffee_spend_30d, event: "Order Completed", property: revenue, aggregate: sum, window_days: 30}
#include <set>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/yaml_config.h"
#include "common/currency.h"
#include "profiles/computed_traits.h"
#include "yaml-cpp/yaml.h"

namespace tessera::profiles {
namespace {

const YamlSection kYaml("profiles config");

// Exactly four ascending thresholds: the scores run 1..5 and the tier grid assumes it.
template <typename T>
absl::StatusOr<std::vector<T>> Thresholds(const YAML::Node& node, std::string_view path) {
  if (!node.IsSequence() || node.size() != 4) return kYaml.Bad(path, "expected a list of four ascending thresholds");
  std::vector<T> out;
  for (size_t i = 0; i < node.size(); ++i) {
    absl::StatusOr<T> value = kYaml.Scalar<T>(node[i], absl::StrCat(AbslView(path), "[", i, "]"));
    if (!value.ok()) return value.status();
    if (!out.empty() && !(out.back() < *value)) return kYaml.Bad(path, "thresholds must be strictly ascending");
    out.push_back(*value);
  }
  return out;
}

absl::Status ParseRfm(const YAML::Node& node, RfmThresholds& rfm, bool& tier_segments) {
  if (!node.IsMap()) return kYaml.Bad("profiles.rfm", "expected a map (recency_days, frequency, monetary, tier_segments)");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string here = absl::StrCat("profiles.rfm.", key);
    if (key == "recency_days") {
      absl::StatusOr<std::vector<int>> days = Thresholds<int>(kv.second, here);
      if (!days.ok()) return days.status();
      rfm.recency_days = *std::move(days);
    } else if (key == "frequency") {
      absl::StatusOr<std::vector<int64_t>> counts = Thresholds<int64_t>(kv.second, here);
      if (!counts.ok()) return counts.status();
      rfm.frequency = *std::move(counts);
    } else if (key == "monetary") {
      if (!kv.second.IsMap()) return kYaml.Bad(here, "expected a map of currency to four thresholds");
      rfm.monetary.clear();
      for (const auto& currency : kv.second) {
        const std::string code = currency.first.as<std::string>();
        if (!CurrencyExponent(code).has_value()) return kYaml.Bad(absl::StrCat(here, ".", code), "not an ISO 4217 currency");
        absl::StatusOr<std::vector<double>> amounts = Thresholds<double>(currency.second, absl::StrCat(here, ".", code));
        if (!amounts.ok()) return amounts.status();
        rfm.monetary[code] = *std::move(amounts);
      }
    } else if (key == "tier_segments") {
      absl::StatusOr<bool> on = kYaml.Scalar<bool>(kv.second, here);
      if (!on.ok()) return on.status();
      tier_segments = *on;
    } else {
      return kYaml.Bad(here, "unknown key (recency_days, frequency, monetary, tier_segments)");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Aggregate> ParseAggregate(const std::string& text, std::string_view path) {
  static const std::map<std::string, Aggregate> kNames = {
      {"count", Aggregate::kCount}, {"sum", Aggregate::kSum},     {"min", Aggregate::kMin},
      {"max", Aggregate::kMax},     {"first", Aggregate::kFirst}, {"last", Aggregate::kLast},
      {"most_frequent", Aggregate::kMostFrequent}, {"unique_list", Aggregate::kUniqueList}};
  auto it = kNames.find(text);
  if (it == kNames.end()) {
    return kYaml.Bad(path, absl::StrCat("unknown aggregate '", text, "' (count, sum, min, max, first, last, most_frequent, unique_list)"));
  }
  return it->second;
}

absl::Status ParseCustomTraits(const YAML::Node& node, ComputedTraitsConfig& config) {
  if (!node.IsSequence()) return kYaml.Bad("profiles.computed_traits", "expected a list");
  // Names the built-in computed fields use: a user-defined trait may not shadow one.
  std::set<std::string> taken;
  const ComputedTraits builtin = ComputeTraits(v1::Profile(), absl::UnixEpoch(), DefaultComputedTraitsConfig());
  for (const auto& [name, json] : ComputedTraitFields(builtin)) taken.insert(name);
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = absl::StrCat("profiles.computed_traits[", i, "]");
    const YAML::Node& entry = node[i];
    if (!entry.IsMap()) return kYaml.Bad(path, "expected {name, event, property, aggregate, window_days}");
    CustomTraitDefinition definition;
    bool has_aggregate = false;
    for (const auto& kv : entry) {
      const std::string key = kv.first.as<std::string>();
      const std::string here = absl::StrCat(path, ".", key);
      if (key == "name" || key == "event" || key == "property") {
        absl::StatusOr<std::string> text = kYaml.Scalar<std::string>(kv.second, here);
        if (!text.ok()) return text.status();
        (key == "name" ? definition.name : key == "event" ? definition.event : definition.property) = *text;
      } else if (key == "aggregate") {
        absl::StatusOr<std::string> text = kYaml.Scalar<std::string>(kv.second, here);
        if (!text.ok()) return text.status();
        absl::StatusOr<Aggregate> aggregate = ParseAggregate(*text, here);
        if (!aggregate.ok()) return aggregate.status();
        definition.aggregate = *aggregate;
        has_aggregate = true;
      } else if (key == "window_days") {
        if (kv.second.IsScalar() && kv.second.Scalar() == "all") {
          definition.window_days = 0;
          continue;
        }
        absl::StatusOr<int> days = kYaml.Scalar<int>(kv.second, here);
        if (!days.ok()) return days.status();
        if (*days < 1 || *days > 3660) return kYaml.Bad(here, "expected 1..3660 days or \"all\"");
        definition.window_days = *days;
      } else {
        return kYaml.Bad(here, "unknown key (name, event, property, aggregate, window_days)");
      }
    }
    if (definition.name.empty()) return kYaml.Bad(path, "a name is required");
    if (definition.event.empty()) return kYaml.Bad(path, "an event is required");
    if (!has_aggregate) return kYaml.Bad(path, "an aggregate is required");
    if (definition.property.empty() && definition.aggregate != Aggregate::kCount &&
        definition.aggregate != Aggregate::kFirst && definition.aggregate != Aggregate::kLast) {
      return kYaml.Bad(path, "this aggregate needs a property");
    }
    if (!taken.insert(definition.name).second) {
      return kYaml.Bad(path, absl::StrCat("the name '", definition.name, "' is already taken (a built-in or an earlier trait)"));
    }
    config.custom_traits.push_back(std::move(definition));
  }
  return absl::OkStatus();
}

// `profiles.triggers.default_time_zone`, from when triggers had a zone of their own: one default
// zone now serves computed traits, segments and triggers. The old key still works, with a warning;
// both keys naming different zones is an error rather than a silent choice.
absl::Status ReadTimeZoneAlias(const YAML::Node& profiles, ComputedTraitsConfig& config) {
  const YAML::Node triggers = profiles["triggers"];
  if (!triggers || !triggers.IsMap() || !triggers["default_time_zone"]) return absl::OkStatus();
  constexpr char kAlias[] = "profiles.triggers.default_time_zone";
  absl::StatusOr<std::string> name = kYaml.Scalar<std::string>(triggers["default_time_zone"], kAlias);
  if (!name.ok()) return name.status();
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(*name, &zone)) return kYaml.Bad(kAlias, absl::StrCat("unknown time zone '", *name, "'"));
  if (config.default_time_zone_configured) {
    if (*name != config.default_time_zone) {
      return kYaml.Bad(kAlias, absl::StrCat("'", *name, "' differs from profiles.default_time_zone '",
                                            config.default_time_zone, "': keep only profiles.default_time_zone"));
    }
    return absl::OkStatus();
  }
  LogWarning(absl::StrCat(kAlias, " is deprecated: write profiles.default_time_zone: ", *name,
                          " (one default zone for computed traits, segments and triggers)"));
  config.default_time_zone = *name;
  config.default_time_zone_configured = true;
  return absl::OkStatus();
}

absl::Status ParseProfiles(const YAML::Node& node, ComputedTraitsConfig& config) {
  if (!node.IsMap()) return kYaml.Bad("profiles", "expected a map");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    const std::string here = absl::StrCat("profiles.", key);
    const YAML::Node& value = kv.second;
    if (key == "segments" || key == "triggers") continue;  // read by profiles/segments.h, triggers.h
    if (key == "rfm") {
      if (absl::Status s = ParseRfm(value, config.rfm, config.rfm_tier_segments); !s.ok()) return s;
    } else if (key == "computed_traits") {
      if (absl::Status s = ParseCustomTraits(value, config); !s.ok()) return s;
    } else if (key == "reporting_currency") {
      absl::StatusOr<std::string> code = kYaml.Scalar<std::string>(value, here);
      if (!code.ok()) return code.status();
      if (!CurrencyExponent(*code).has_value()) return kYaml.Bad(here, "not an ISO 4217 currency (upper case)");
      config.reporting_currency = *code;
    } else if (key == "default_time_zone") {
      absl::StatusOr<std::string> name = kYaml.Scalar<std::string>(value, here);
      if (!name.ok()) return name.status();
      absl::TimeZone zone;
      if (!absl::LoadTimeZone(*name, &zone)) return kYaml.Bad(here, absl::StrCat("unknown time zone '", *name, "'"));
      config.default_time_zone = *name;
      config.default_time_zone_configured = true;
    } else if (key == "cart_abandon_after_minutes") {
      absl::StatusOr<int> minutes = kYaml.Scalar<int>(value, here);
      if (!minutes.ok()) return minutes.status();
      if (*minutes < 1) return kYaml.Bad(here, "must be at least 1");
      config.cart_abandon_after = absl::Minutes(*minutes);
    } else if (key == "favourites") {
      absl::StatusOr<int> n = kYaml.Scalar<int>(value, here);
      if (!n.ok()) return n.status();
      if (*n < 1 || *n > 100) return kYaml.Bad(here, "expected 1..100");
      config.favourites = *n;
    } else {
      return kYaml.Bad(here,
                 "unknown key (rfm, computed_traits, reporting_currency, default_time_zone, "
                 "cart_abandon_after_minutes, favourites, segments, triggers)");
    }
  }
  return ReadTimeZoneAlias(node, config);
}

}  // namespace

absl::StatusOr<ComputedTraitsConfig> ParseComputedTraitsConfig(std::string_view yaml) {
  try {
    const YAML::Node root = YAML::Load(std::string(yaml));
    ComputedTraitsConfig config;
    if (root && root.IsMap()) {
      const YAML::Node profiles = root["profiles"];
      if (profiles && !profiles.IsNull()) {
        if (absl::Status s = ParseProfiles(profiles, config); !s.ok()) return s;
      }
    } else if (root && !root.IsNull()) {
      return kYaml.Bad("(top)", "expected a map");
    }
    config.Index();
    return config;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("profiles config: not valid YAML: ", e.what()));
  }
}

absl::StatusOr<ComputedTraitsConfig> LoadComputedTraitsConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path, "cannot read the config file ");
  if (!text.ok()) return text.status();
  return ParseComputedTraitsConfig(*text);
}

}  // namespace tessera::profiles
