#include "ingest/tracking_plan.h"

#include <algorithm>
#include <utility>

#include "common/json_writer.h"
#include "ingest/json_text.h"

namespace tessera::ingest {
namespace {

struct Violation {
  std::string_view kind;
  std::string name;  // the event, property or trait
};

bool HasType(std::string_view json, PropertyType type) {
  const JsonValueKind kind = JsonKind(json);
  if (kind == JsonValueKind::kNull) return true;
  switch (type) {
    case PropertyType::kAny: return true;
    case PropertyType::kString: return kind == JsonValueKind::kString;
    case PropertyType::kNumber: return kind == JsonValueKind::kNumber;
    case PropertyType::kInteger: return IsJsonInteger(json);
    case PropertyType::kBoolean: return kind == JsonValueKind::kBoolean;
    case PropertyType::kObject: return kind == JsonValueKind::kObject;
    case PropertyType::kArray: return kind == JsonValueKind::kArray;
  }
  return false;
}

}  // namespace

std::optional<PropertyType> PropertyTypeFromName(std::string_view name) {
  if (name == "any") return PropertyType::kAny;
  if (name == "string") return PropertyType::kString;
  if (name == "number") return PropertyType::kNumber;
  if (name == "integer") return PropertyType::kInteger;
  if (name == "boolean") return PropertyType::kBoolean;
  if (name == "object") return PropertyType::kObject;
  if (name == "array") return PropertyType::kArray;
  return std::nullopt;
}

std::optional<PlanMode> PlanModeFromName(std::string_view name) {
  if (name == "reject") return PlanMode::kReject;
  if (name == "strip") return PlanMode::kStrip;
  if (name == "flag") return PlanMode::kFlag;
  return std::nullopt;
}

std::optional<std::string> ApplyTrackingPlan(const TrackingPlan& plan, v1::Event& event,
                                             std::vector<std::string>* counters) {
  std::vector<Violation> violations;
  std::set<std::string> strip_properties;
  std::vector<std::string> strip_traits;
  bool unstrippable = false;

  if (plan.check_events && event.channel() == v1::CHANNEL_WEB && event.type() == "track") {
    auto it = plan.events.find(event.name());
    if (it == plan.events.end()) {
      violations.push_back({kUnplannedEvent, event.name()});
      unstrippable = true;
    } else if (const EventPlan& event_plan = it->second; event_plan.check_properties || !event_plan.required.empty()) {
      std::set<std::string, std::less<>> present;
      if (!event.properties_json().empty()) {
        ForEachMember(event.properties_json(), [&](const std::string& key, std::string_view raw) {
          if (JsonKind(raw) != JsonValueKind::kNull) present.insert(key);
          if (!event_plan.check_properties) return true;
          auto declared = event_plan.properties.find(key);
          if (declared == event_plan.properties.end()) {
            violations.push_back({kUndeclaredProperty, key});
            strip_properties.insert(key);
          } else if (!HasType(raw, declared->second)) {
            violations.push_back({kWrongType, key});
            strip_properties.insert(key);
          }
          return true;
        });
      }
      for (const std::string& required : event_plan.required) {
        if (!present.contains(required) || strip_properties.contains(required)) {
          violations.push_back({kMissingProperty, required});
          unstrippable = true;
        }
      }
    }
  }
  if (plan.check_traits) {
    for (const auto& [name, json] : event.traits()) {
      if (!plan.traits.contains(name)) {
        violations.push_back({kUndeclaredTrait, name});
        strip_traits.push_back(name);
      }
    }
  }
  if (violations.empty()) return std::nullopt;

  if (plan.mode == PlanMode::kReject || (plan.mode == PlanMode::kStrip && unstrippable)) {
    const Violation& first = unstrippable && plan.mode == PlanMode::kStrip
                                 ? *std::find_if(violations.begin(), violations.end(),
                                                 [](const Violation& v) {
                                                   return v.kind == kUnplannedEvent || v.kind == kMissingProperty;
                                                 })
                                 : violations.front();
    return std::string(first.kind) + " '" + first.name + "'" +
           (violations.size() > 1 ? " and " + std::to_string(violations.size() - 1) + " more" : "");
  }
  for (const Violation& violation : violations) counters->push_back("tracking_plan." + std::string(violation.kind));
  if (plan.mode == PlanMode::kFlag) {
    for (const Violation& violation : violations) {
      event.add_quality_flags("tracking_plan:" + std::string(violation.kind) + ":" + violation.name);
    }
    return std::nullopt;
  }
  // Strip.
  for (const std::string& name : strip_traits) event.mutable_traits()->erase(name);
  if (!strip_properties.empty()) {
    std::string kept = "{";
    ForEachMember(event.properties_json(), [&](const std::string& key, std::string_view raw) {
      if (strip_properties.contains(key)) return true;
      if (kept.size() > 1) kept.push_back(',');
      // The key re-encoded from its unescaped form: the same JSON string, perhaps other escapes.
      AppendJsonString(key, kept);
      kept.push_back(':');
      kept.append(raw);
      return true;
    });
    kept.push_back('}');
    event.set_properties_json(std::move(kept));
  }
  return std::nullopt;
}

}  // namespace tessera::ingest
