// Computed traits: what marketing acts on (value, RFM, preferences, engagement, cart, and traits a
// workspace defines in config), derived from a Profile by a pure function of (profile, now, config).
//
// Only order-independent state is stored in the Profile (sums, min/max, last-writer-wins, sets,
// UTC day buckets; see the proto and profile_state.h). Everything that depends on "now" or on a
// ranking (averages, scores, tiers, favourites, counts in the last N days, cart abandonment) is
// computed here on demand and never stored, so merges and reordering cannot disturb it.
// docs/computed-traits.md describes every field.
//
//   absl::StatusOr<ComputedTraitsConfig> config = LoadComputedTraitsConfig("tessera.yaml");
//   ApplyEvent(event, profile, *config);                        // profile_state.h
//   ComputedTraits traits = ComputeTraits(profile, absl::Now(), *config);
//   if (auto change = TierChanged(before_traits, traits)) Publish(*change);
//
// Thread-safety: ComputedTraitsConfig is immutable after loading and may be shared by any number
// of threads; the functions are pure over values the caller owns.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "profiles/order_totals.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::profiles {

// How a user-defined trait folds the values it sees.
enum class Aggregate { kCount, kSum, kMin, kMax, kFirst, kLast, kMostFrequent, kUniqueList };

// One user-defined computed trait (`profiles: computed_traits:` in the YAML config).
struct CustomTraitDefinition {
  std::string name;
  // Which events feed it: a track event name ("Order Completed"), or "channel.type" as in
  // event_type_counts ("purchase.order", "web.page", "social.comment").
  std::string event;
  // The property to aggregate, dotted for nesting ("product.price"); empty: the event itself (count
  // counts events; first/last give the event time). Purchase events expose their order's fields.
  std::string property;
  Aggregate aggregate = Aggregate::kCount;
  int window_days = 0;  // 0: all time; else the current UTC day and the window_days - 1 before it
};

// RFM thresholds. A score is 1 + the number of thresholds reached, so four thresholds give 1..5.
struct RfmThresholds {
  // Days since the last order, ascending: at most recency_days[0] days scores 5, ... beyond the
  // last scores 1.
  std::vector<int> recency_days = {30, 60, 120, 240};
  // Completed orders, ascending: at least frequency[3] scores 5, below frequency[0] scores 1.
  std::vector<int64_t> frequency = {2, 3, 5, 10};
  // Lifetime spend in major units per currency, ascending. Currencies do not convert: a profile's
  // monetary score is the best it reaches in any currency listed here (1 when none is).
  std::map<std::string, std::vector<double>> monetary = {{"THB", {1000, 3000, 10000, 30000}}};
};

struct ComputedTraitsConfig {
  RfmThresholds rfm;
  std::string reporting_currency = "THB";  // favourites "by spend" rank spend in this currency
  // When the profile has no `timezone` trait: the one default zone of computed traits, segments
  // and triggers (`profiles.default_time_zone`; `profiles.triggers.default_time_zone` is a
  // deprecated alias read into the same field).
  std::string default_time_zone = "UTC";
  // Whether default_time_zone came from the config; when not, the runner puts --time-zone there.
  bool default_time_zone_configured = false;
  // Publish RFM tier changes downstream as built-in segments "rfm_tier:<tier>"
  // (`profiles.rfm.tier_segments`, default true; computed_facts.h AddRfmTierSegments).
  bool rfm_tier_segments = true;
  absl::Duration cart_abandon_after = absl::Hours(1);
  int favourites = 3;  // how many categories / products each favourites list holds
  std::vector<CustomTraitDefinition> custom_traits;

  // Indices into custom_traits by their `event` selector; built by Index() (the loaders call it).
  absl::flat_hash_map<std::string, std::vector<int>> traits_by_event;
  void Index();
};

// The config with no user-defined traits and the documented defaults.
const ComputedTraitsConfig& DefaultComputedTraitsConfig();

// Reads the `profiles:` section of the YAML config (other sections, and the `segments` and
// `triggers` keys inside it, belong to other readers and are skipped). InvalidArgument, with the
// key path, for YAML that does not parse or does not describe computed traits; unknown keys are
// errors. A file without `profiles:` gives the defaults.
absl::StatusOr<ComputedTraitsConfig> ParseComputedTraitsConfig(std::string_view yaml);
// NotFound when the file cannot be read; otherwise as ParseComputedTraitsConfig.
absl::StatusOr<ComputedTraitsConfig> LoadComputedTraitsConfig(const std::string& path);

// One product in the open cart.
struct CartProduct {
  std::string product_id;
  std::string sku;
  std::string name;
  std::string category;
  int64_t quantity = 0;
  std::string price_json;  // the price as sent (a JSON number), empty when absent
  absl::Time added_at;
  bool operator==(const CartProduct&) const = default;
};

struct RfmScore {
  int recency = 0;    // 1..5
  int frequency = 0;  // 1..5
  int monetary = 0;   // 1..5
  std::string tier;   // champions, loyal, potential_loyalist, new, at_risk, hibernating, lost
  bool operator==(const RfmScore&) const = default;
};

// Everything computed about one profile at one instant. Money is in minor units by currency.
struct ComputedTraits {
  // Value: orders whose current status is completed (a refund moves an order out).
  std::map<std::string, int64_t> lifetime_spend;
  std::map<std::string, int64_t> refunded;
  int64_t orders = 0;
  std::map<std::string, int64_t> average_order_value;  // rounded half up
  std::optional<absl::Time> first_order_at;
  std::optional<absl::Time> last_order_at;
  std::optional<int64_t> days_since_last_order;  // whole days, 0 for an order in the future

  std::optional<RfmScore> rfm;  // absent without a completed order

  // Preferences (completed orders). Lists are best first, ties by name.
  std::vector<std::string> favourite_categories_by_spend;
  std::vector<std::string> favourite_categories_by_count;
  std::vector<std::string> favourite_products_by_spend;
  std::vector<std::string> favourite_products_by_count;
  std::string time_zone;  // the zone usual weekday and hour are in
  std::optional<int> usual_purchase_weekday;  // 0 = monday .. 6 = sunday
  std::optional<int> usual_purchase_hour;     // 0..23
  std::optional<double> coupon_share;         // orders with a coupon / orders
  std::string preferred_channel;              // web, store, app, marketplace; empty without orders

  // Engagement.
  int64_t email_delivered = 0;
  int64_t email_opened = 0;
  int64_t email_clicked = 0;
  int64_t email_bounced = 0;
  int64_t email_unsubscribed = 0;
  // By window in days (7, 30, 90): the current UTC day and the window - 1 days before it.
  std::map<int, int64_t> sessions;
  std::map<int, int64_t> page_views;

  // Cart.
  std::optional<absl::Time> cart_abandoned_at;  // when it is (or will be) abandoned; absent: no open cart
  bool cart_abandoned = false;                  // cart_abandoned_at <= now
  std::vector<CartProduct> cart_products;       // newest first

  // User-defined traits: name -> JSON value text ("null" when nothing was seen).
  std::map<std::string, std::string> custom;
};

ComputedTraits ComputeTraits(const v1::Profile& profile, absl::Time now, const ComputedTraitsConfig& config);

// The profile's time zone: its `timezone` trait when that names a zone, else the configured
// default, else UTC. Usual purchase times are counted in it (profiles/order_totals.h).
NamedTimeZone ProfileTimeZone(const v1::Profile& profile, const ComputedTraitsConfig& config);

// ComputeTraits limited to the part that holds the field `field` of the computed object (value and
// RFM, preferences, engagement, cart, or the one user-defined trait; everything for an unknown
// name): what a segment condition on one computed trait needs, at a fraction of the cost. The
// fields of that part are exactly those ComputeTraits gives; the others are left empty.
ComputedTraits ComputeTraitsFor(const v1::Profile& profile, std::string_view field, absl::Time now,
                                const ComputedTraitsConfig& config);

// Whether `field` is one of the value and RFM fields (lifetime_spend, orders, average_order_value,
// first_order_at, last_order_at, days_since_last_order, rfm_*), computed from the order totals and
// the time alone.
bool IsValueField(std::string_view field);

// The `computed` object of the profile JSON, compact, keys in the documented order.
std::string ComputedTraitsToJson(const ComputedTraits& traits);

// (name, JSON value text) of every field of the `computed` object, in output order: the lookup a
// segment condition on a computed trait uses (`{computed: rfm_tier, in: [champions, loyal]}`).
std::vector<std::pair<std::string, std::string>> ComputedTraitFields(const ComputedTraits& traits);

// The JSON text of one field of the `computed` object by name (a built-in such as "rfm_tier" or
// "sessions_30d", or a user-defined trait); nullopt for an unknown name. This is what a segment
// condition `{computed: NAME, ...}` reads.
std::optional<std::string> ComputedTraitJson(const ComputedTraits& traits, std::string_view name);

// The first instant after `now` at which the named computed field can change with no new event
// (days_since_last_order and the RFM fields as days pass, cart_abandoned when the timeout runs out,
// a windowed count when its oldest day leaves the window); nullopt when only events change it.
// For the segment engine's timer index.
std::optional<absl::Time> ComputedTraitChangesAt(const v1::Profile& profile, std::string_view name, absl::Time now,
                                                 const ComputedTraitsConfig& config);

// A customer moved from one RFM tier to another ("" = no tier: no completed order yet).
struct TierChange {
  std::string from;
  std::string to;
  bool operator==(const TierChange&) const = default;
};
// The change between two computations of one profile, if its tier differs.
std::optional<TierChange> TierChanged(const ComputedTraits& before, const ComputedTraits& after);

// The first instant after `now` at which the recency score (hence possibly the tier) drops with
// no new event; absent when it cannot drop any more or there is no order. For a timer index.
std::optional<absl::Time> NextRfmChangeAt(const v1::Profile& profile, absl::Time now,
                                          const ComputedTraitsConfig& config);

// When the profile's open cart is (or will be) abandoned: the latest add or checkout after the
// latest order, plus config.cart_abandon_after. Absent when no cart is open. Independent of now.
std::optional<absl::Time> CartAbandonedAt(const v1::Profile& profile, const ComputedTraitsConfig& config);

// --- the fold; profile_state.cc calls these from ApplyEvent / AbsorbProfile. ---

// Folds the parts of one event that computed traits keep (engagement days, cart, user-defined
// traits). Call after first/last seen are updated: pruning is relative to last_seen_ms.
// `previous_last_seen_day` is the UTC day of last_seen before the event (nullopt: none).
void ApplyComputedState(const v1::Event& event, std::optional<int32_t> previous_last_seen_day,
                        const ComputedTraitsConfig& config, v1::Profile& profile);
// Folds the loser's computed-trait state into the winner's (after the winner's last_seen is merged).
void AbsorbComputedState(const v1::Profile& loser, v1::Profile& winner);

// UTC day number (days since 1970-01-01, floor) of an epoch-ms time.
int32_t UtcDayNumber(int64_t epoch_ms);

}  // namespace tessera::profiles
