// The condition language of segments (and, later, of the query API): a declarative tree over a
// profile's traits, its computed traits and its events in a sliding window, written in YAML (the
// config file) or as the same text in JSON (flow style):
//
//   {all: [{trait: gender, eq: female},
//          {trait: birthday, age_between: [25, 34]},
//          {computed: rfm_tier, in: [champions, loyal]},
//          {event: "Order Completed", where: {category: coffee}, count_gte: 3, within_days: 30},
//          {no_event: web.page, within_days: 60}]}
//
// Leaves:
//   {trait|computed: NAME, OP: OPERAND} with OP one of exists (true/false), eq, ne, in (list),
//     contains (the value is a list holding the operand, or a string containing it), gt, gte, lt,
//     lte (numbers, or ISO dates/times compared as text), age_between: [MIN, MAX] (whole years
//     from a "YYYY-MM-DD..." value, in the profile's time zone). A missing trait satisfies only
//     `exists: false` and `ne`.
//   {event: NAME, where: {PROPERTY: VALUE, ...}, count_gte: N (default 1), count_lte: M,
//     within_days: D (0 or absent: all time since the selector was configured)}
//   {no_event: NAME, where: ..., within_days: D}   (the same as count_lte: 0)
// NAME is a track/page/screen name ("Order Completed") or "channel.type" ("web.page",
// "purchase.order", "social.comment"). `where` compares a top-level property of the event, or of any
// item of its `products` list; on purchase events: category (any item), channel, status, coupon.
// A window of D days is the last D UTC calendar days, today included.
// Combinators: {all: [..]}, {any: [..]}, {not: {..}}.
//
// Facts come through the ProfileFacts interface so computed traits can plug in their own source;
// ProfileFactsView is the default over a stored v1::Profile.
//
// Thread-safety: a parsed Condition is an immutable value, safe to share between threads once
// built. ProfileFactsView reads a profile the caller owns; one per thread.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace YAML {
class Node;
}

namespace tessera::profiles {

inline constexpr int64_t kMillisPerDay = 86'400'000;

// A JSON-ish value a leaf compares against.
struct FactValue {
  enum class Kind { kNull, kBool, kNumber, kString, kList };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string text;               // kString: the string; kNumber/kBool: its JSON text
  std::vector<std::string> list;  // kList: each scalar item as text (strings unquoted)

  static FactValue String(std::string value);
  static FactValue Number(double value);
  // From a trait's stored JSON text ("\"female\"", "42", "[\"a\",\"b\"]"); objects become kNull.
  static FactValue FromJson(std::string_view json);
};

// Which events an event leaf counts: a name plus property equalities.
struct EventSelector {
  std::string event;
  std::vector<std::pair<std::string, std::string>> where;  // sorted by property

  // Canonical text, the key of Profile.event_windows: `event` alone, or `event?k=v&k2=v2`.
  std::string Key() const;
  void AppendKey(std::string& out) const;  // Key(), appended to `out`
  bool Matches(const v1::Event& event) const;
};

struct Condition {
  enum class Kind { kAll, kAny, kNot, kTrait, kComputed, kEvent };
  enum class Op { kExists, kEq, kNe, kIn, kContains, kGt, kGte, kLt, kLte, kAgeBetween };
  Kind kind = Kind::kAll;
  std::vector<Condition> children;  // kAll, kAny; kNot has exactly one

  // kTrait / kComputed
  std::string name;
  Op op = Op::kExists;
  std::vector<std::string> operands;  // as text; numbers also parsed into `numbers`
  std::vector<std::optional<double>> numbers;
  bool exists = true;  // kExists

  // kEvent (no_event is count_lte 0)
  EventSelector selector;
  int64_t count_gte = 1;
  std::optional<int64_t> count_lte;
  int32_t within_days = 0;  // 0: all time
};

// Parses a condition from YAML or JSON text. InvalidArgument with the path of the offending node
// ("condition.all[1]: unknown key 'eqq'") for anything malformed.
absl::StatusOr<Condition> ParseCondition(std::string_view text);
// The same from an already-parsed YAML node (config files); `path` prefixes error messages.
absl::StatusOr<Condition> ConditionFromYaml(const YAML::Node& node, std::string_view path);

// Every event selector a condition uses, with the largest window each needs (0 = all time).
void CollectSelectors(const Condition& condition, std::vector<std::pair<EventSelector, int32_t>>& out);

// What a condition reads. Implementations answer from a profile at one moment.
class ProfileFacts {
 public:
  virtual ~ProfileFacts() = default;
  // The value, or nullptr when the profile has none. Valid as long as the facts object.
  virtual const FactValue* Trait(std::string_view name) const = 0;
  virtual const FactValue* Computed(std::string_view name) const = 0;
  // Events matching `selector` in the last `within_days` UTC days up to `now` (0: all kept days).
  virtual int64_t CountEvents(const EventSelector& selector, int32_t within_days, absl::Time now) const = 0;
  // The earliest time after `now` at which CountEvents(selector, within_days, t) drops because a
  // day leaves the window, or rises because a day counted ahead of `now` (an event dated in the
  // future) enters it; nullopt if it never will.
  virtual std::optional<absl::Time> NextWindowExit(const EventSelector& selector, int32_t within_days,
                                                   absl::Time now) const = 0;
  // The earliest time after `now` at which Computed(name) may change without an event (e.g.
  // "days since last order"); nullopt if only events change it.
  virtual std::optional<absl::Time> ComputedChangesAt(std::string_view name, absl::Time now) const = 0;
  // The profile's time zone (trait `timezone`, else the configured default).
  virtual absl::TimeZone TimeZone() const = 0;
};

// Computed traits as the computed-traits engine provides them for one profile. The default
// (nullptr) answers a few built-ins from the profile's own fields: orders_count, refunds_count,
// cancelled_count, total_spend.<CUR> (major units), event_type_counts.<channel.type>,
// track_events.<name>, days_since_last_seen.
class ComputedTraitSource {
 public:
  virtual ~ComputedTraitSource() = default;
  virtual std::optional<FactValue> Get(const v1::Profile& profile, std::string_view name, absl::Time now) const = 0;
  virtual std::optional<absl::Time> ChangesAt(const v1::Profile& profile, std::string_view name,
                                              absl::Time now) const = 0;
  // Whether Get(name) reads nothing of the profile but its orders (their totals), so that only
  // an order, a merge or time can change it: a segment reading such a name is evaluated again after
  // an event only when the orders changed (SegmentInputsChanged). False is always safe.
  virtual bool DerivedFromOrders(std::string_view name) const {
    (void)name;
    return false;
  }
};

// DerivedFromOrders of the built-ins above: orders_count, refunds_count, cancelled_count,
// total_spend.<CUR>.
bool BuiltInDerivedFromOrders(std::string_view name);

// ProfileFacts over a stored profile (Profile.traits, Profile.event_windows, the built-ins above).
class ProfileFactsView final : public ProfileFacts {
 public:
  // `computed` may be null; both pointers must outlive the view.
  ProfileFactsView(const v1::Profile* profile, absl::TimeZone default_zone, const ComputedTraitSource* computed,
                   absl::Time now);

  const FactValue* Trait(std::string_view name) const override;
  const FactValue* Computed(std::string_view name) const override;
  int64_t CountEvents(const EventSelector& selector, int32_t within_days, absl::Time now) const override;
  std::optional<absl::Time> NextWindowExit(const EventSelector& selector, int32_t within_days,
                                           absl::Time now) const override;
  std::optional<absl::Time> ComputedChangesAt(std::string_view name, absl::Time now) const override;
  absl::TimeZone TimeZone() const override { return zone_; }

 private:
  // Computed(name) without a ComputedTraitSource: the built-ins listed at ComputedTraitSource.
  std::optional<FactValue> BuiltInComputed(std::string_view name) const;
  // The profile's day counts for `selector`, or nullptr.
  const v1::EventDayCounts* WindowOf(const EventSelector& selector) const;

  const v1::Profile* profile_;
  absl::TimeZone zone_;
  const ComputedTraitSource* computed_;
  absl::Time now_;
  // Traits already parsed from their JSON and computed traits already computed (a profile is
  // evaluated against every segment at once). Deques: Trait and Computed hand out pointers into them.
  mutable std::deque<std::pair<std::string, std::optional<FactValue>>> parsed_traits_;
  mutable std::deque<std::pair<std::string, std::optional<FactValue>>> computed_values_;
  mutable std::vector<std::pair<std::string, std::optional<absl::Time>>> computed_changes_;  // at now_
};

// Is `condition` true of `facts` at `now`?
bool Evaluate(const Condition& condition, const ProfileFacts& facts, absl::Time now);
// The earliest time after `now` at which the value of `condition` could change with no event
// (a window day leaving, a birthday making someone a year older, a computed trait ageing).
std::optional<absl::Time> NextChange(const Condition& condition, const ProfileFacts& facts, absl::Time now);

// Parses "YYYY-MM-DD" (optionally followed by a time, which is ignored) into a civil day.
std::optional<absl::CivilDay> ParseCivilDay(std::string_view text);
// A time zone by IANA name; nullopt if unknown. Loads are cached (thread-safe).
std::optional<absl::TimeZone> LoadZone(std::string_view name);
// UTC day number (days since 1970-01-01) of `ms`.
inline int32_t UtcDay(int64_t ms) {
  return static_cast<int32_t>(ms >= 0 ? ms / kMillisPerDay : (ms - kMillisPerDay + 1) / kMillisPerDay);
}

}  // namespace tessera::profiles
