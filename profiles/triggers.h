// Time triggers and the activation engine that runs segments and triggers for the profile stage.
//
// A trigger kind (birthday, first-order anniversary, points or a benefit about to expire,
// inactivity, an abandoned cart) has, for a profile, a sequence of occurrences, each with a key
// ("birthday:2027"), a due time and a time it stops being relevant (`until`: the birthday itself,
// the expiry). An occurrence is published once, on the topic `triggers`, as soon as the engine
// evaluates the profile at a time in [due, until): either because the profile changed or because a
// timer for it came due. Dates are read in the profile's time zone (trait `timezone`, else the
// configured default).
//
// Storage (through the KeyValueView, in the same WriteBatch as the profile and the offsets):
//   "tm/" <be64 wake ms> <be64 profile id>        -> ""            the timer index, in time order
//   "tf/" <be64 profile id> <occurrence key>      -> be64 fired ms  fired-once records
// A timer coming due only means "evaluate this profile now": the evaluation decides what fires,
// so a stale timer is harmless and the index never has to be exact, only complete. A profile has
// one index key (Profile.wake_ms), at the earliest of what it waits for (Profile.timers): a timer
// that moves while another comes first (the inactivity timer on every visit, before a birthday)
// writes no index key. (Profiles stored before wake_ms had a key per timer, "tm/" <due> <id>
// <name>; their first evaluation deletes them.)
//
// Thread-safety: ActivationEngine is immutable after construction; Evaluate/Retire may be called
// from any thread with that thread's own KeyValueView and profiles.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/kv.h"
#include "profiles/conditions.h"
#include "profiles/segments.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::profiles {

inline constexpr std::string_view kTimerPrefix = "tm/";
inline constexpr std::string_view kFiredPrefix = "tf/";
// Fired-once records older than this are compacted away; every occurrence key names its date or
// year, so a record only has to outlive its occurrence's [due, until) span.
inline constexpr int64_t kFiredRecordTtlMs = 400 * kMillisPerDay;

// An abandoned cart as the computed-traits engine sees it (profiles/computed_traits.h provides
// CartAbandonedAt; the lead plugs it in through TriggerConfig::cart_abandoned).
struct CartAbandonment {
  int64_t abandoned_at_ms = 0;  // when the cart counts as abandoned (due time)
  std::string occurrence;       // unique per cart, e.g. the time the cart was last touched
  std::string detail_json;      // the products, as a JSON array (may be empty)
};

struct TriggerConfig {
  std::string default_time_zone = "UTC";
  std::optional<int32_t> birthday_days_before;  // unset: no birthday trigger
  std::optional<int32_t> first_order_anniversary_days_before;
  std::string points_expiry_trait = "points_expire_at";
  std::optional<int32_t> points_expiry_days_before;
  std::string benefits_trait = "benefits";  // [{"name": "...", "expires_at": "2027-01-31"}, ...]
  std::optional<int32_t> benefits_expiry_days_before;
  std::vector<int32_t> inactivity_days;  // one trigger per entry: inactive_60d
  // The current abandoned cart of a profile, if any (nullptr: no cart trigger).
  std::function<std::optional<CartAbandonment>(const v1::Profile&)> cart_abandoned;
};

// One occurrence of a trigger, as published on `triggers`.
struct TriggerFiring {
  uint64_t profile_id = 0;
  std::string trigger;     // birthday, first_order_anniversary, points_expiring, benefit_expiring,
                           // inactive_<N>d, cart_abandoned
  std::string occurrence;  // e.g. "birthday:2027"; unique per profile
  int64_t due_at_ms = 0;
  int64_t fired_at_ms = 0;
  std::string time_zone;    // the zone the due time was computed in
  std::string detail_json;  // extra JSON object/array, or empty
};

// {"profile_id":"…","trigger":"birthday","occurrence":"birthday:2027","due_at":"…","fired_at":"…",
//  "time_zone":"Asia/Bangkok"[,"detail":…]}
std::string TriggerFiringToJson(const TriggerFiring& firing);

// The configuration block `profiles:` of the YAML config (other keys under `profiles:` belong to
// computed traits and are left alone):
//   profiles:
//     segments:
//       - {name: coffee_lovers, description: "...", condition: {event: purchase.order, where: {category: coffee}, count_gte: 3, within_days: 30}}
//     triggers:
//       default_time_zone: Asia/Bangkok
//       birthday: {days_before: 7}
//       first_order_anniversary: {days_before: 0}
//       points_expiry: {trait: points_expire_at, days_before: 14}
//       benefits_expiry: {trait: benefits, days_before: 7}
//       inactivity: {days: [30, 90]}
struct ActivationConfig {
  std::vector<SegmentDefinition> segments;
  TriggerConfig triggers;
  // Text that changes whenever the definitions change: a new one makes the runner re-evaluate
  // (backfill) every stored profile.
  std::string fingerprint;
};
absl::StatusOr<ActivationConfig> ParseActivationConfig(std::string_view yaml);
absl::StatusOr<ActivationConfig> LoadActivationConfig(const std::string& path);

struct ActivationOutputs {
  std::vector<SegmentChange> segment_changes;
  std::vector<TriggerFiring> triggers;
};

// A timer read from the index.
struct DueTimer {
  int64_t due_ms = 0;
  uint64_t profile_id = 0;
  std::string name;
  std::string key;  // the full "tm/" key, to delete it
};
std::string TimerKey(int64_t due_ms, uint64_t profile_id, std::string_view name);
std::string FiredKey(uint64_t profile_id, std::string_view occurrence);

// Ordered prefix scan over committed state (RocksStore::ScanPrefix in production).
using PrefixScan = std::function<absl::Status(
    std::string_view prefix, const std::function<bool(std::string_view key, std::string_view value)>& visit)>;
// Timers due at or before `now`, oldest first, at most `limit`.
absl::StatusOr<std::vector<DueTimer>> DueTimers(const PrefixScan& scan, absl::Time now, size_t limit);

class ActivationEngine {
 public:
  // `computed` (may be null: the built-ins of ProfileFactsView) answers `computed:` conditions.
  explicit ActivationEngine(ActivationConfig config, std::shared_ptr<const ComputedTraitSource> computed = nullptr);

  // Anything configured? When not, the profile stage skips all of this.
  bool enabled() const;
  const SegmentEngine& segments() const { return segments_; }
  const ActivationConfig& config() const { return config_; }

  // Counts an applied event for the window conditions (see SegmentEngine::RecordEvent); returns
  // the selectors it counted (SegmentInputsChanged::windows).
  uint64_t RecordEvent(const v1::Event& event, int64_t now_ms, v1::Profile& profile) const {
    return segments_.RecordEvent(event, now_ms, profile);
  }

  // Brings one live profile up to date at `now`: membership (profile.segments), due trigger
  // occurrences not fired before (written to "tf/"), and its timers (profile.timers, its wake key).
  // Appends what must be published to `out` (segment changes with version 0: the caller sets the
  // version it saves). Returns whether the profile's membership changed.
  //
  // `changed` (optional): everything that changed in the profile since its last Evaluate, when the
  // caller knows (the profile stage: events folded into a stored profile, no merge). Then only the
  // segments that read it are evaluated again (SegmentEngine::Evaluate), unless the profile's
  // segment timer is due, which means a segment may have changed with time: then all of them.
  absl::StatusOr<bool> Evaluate(v1::Profile& profile, KeyValueView& kv, absl::Time now, ActivationOutputs& out,
                                const SegmentInputsChanged* changed = nullptr) const;

  // Evaluate restricted to the segment `name` (tessera segment backfill NAME): its membership and
  // transition only; triggers and other segments are left alone, and the profile's segment timer
  // only moves earlier when this segment can change sooner. Returns whether the membership changed;
  // NotFound when no segment has that name.
  absl::StatusOr<bool> EvaluateSegment(v1::Profile& profile, std::string_view name, KeyValueView& kv, absl::Time now,
                                       ActivationOutputs& out) const;

  // A profile merged away: exits from all its segments and deletes its wake key.
  void Retire(const v1::Profile& loser, KeyValueView& kv, absl::Time now, ActivationOutputs& out) const;

 private:
  ActivationConfig config_;
  SegmentEngine segments_;
  std::shared_ptr<const ComputedTraitSource> computed_;
  absl::TimeZone default_zone_;
};

}  // namespace tessera::profiles
