// Tracking plans per source: which track events a source may send, with which properties of which
// types, and which traits — so a source cannot quietly start collecting data nobody decided to
// collect. What the plan does not allow is, per source, rejected (dead letter, reason
// `tracking_plan`), stripped, or flagged (kept, marked in Event.quality_flags). docs/data-quality.md
// has the rules and the configuration.
//
// TrackingPlan is a plain immutable value; ApplyTrackingPlan is a pure function of it and the event:
// thread-safe.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::ingest {

enum class PlanMode { kReject, kStrip, kFlag };
enum class PropertyType { kAny, kString, kNumber, kInteger, kBoolean, kObject, kArray };

// Violations, as named in quality flags and counters ("tracking_plan.<violation>").
inline constexpr std::string_view kUnplannedEvent = "unplanned_event";
inline constexpr std::string_view kUndeclaredProperty = "undeclared_property";
inline constexpr std::string_view kWrongType = "wrong_type";
inline constexpr std::string_view kMissingProperty = "missing_property";
inline constexpr std::string_view kUndeclaredTrait = "undeclared_trait";

struct EventPlan {
  // False: any properties. True: only those in `properties`, each of its type (null always passes).
  bool check_properties = false;
  std::map<std::string, PropertyType, std::less<>> properties;
  std::vector<std::string> required;  // must be present and not null
};

struct TrackingPlan {
  PlanMode mode = PlanMode::kFlag;
  // False: any track event. True: only the names in `events` (track calls of the web channel;
  // other calls and channels are not events of a plan).
  bool check_events = false;
  std::map<std::string, EventPlan, std::less<>> events;
  // False: any traits. True: only these trait names, on every event of the source.
  bool check_traits = false;
  std::set<std::string, std::less<>> traits;
};

// "string", "number", "integer", "boolean", "object", "array", "any".
std::optional<PropertyType> PropertyTypeFromName(std::string_view name);
std::optional<PlanMode> PlanModeFromName(std::string_view name);

// Applies `plan` to `event`. Returns the rejection detail when the event must go to the dead-letter
// topic (mode reject: any violation; mode strip: an unplanned event or a missing required property,
// which cannot be stripped). Otherwise the event stays, stripped (mode strip) or flagged (mode
// flag: "tracking_plan:<violation>:<name>" in quality_flags), and `counters` gets
// "tracking_plan.<violation>" once per violation.
std::optional<std::string> ApplyTrackingPlan(const TrackingPlan& plan, v1::Event& event,
                                             std::vector<std::string>* counters);

}  // namespace tessera::ingest
