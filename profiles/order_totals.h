// A profile's order totals (v1::OrderTotals): counts, spend, items, favourites' inputs and usual
// purchase times over every order, each order counted by its current state. The profile keeps them
// up to date as each order changes (SetOrder), so the JSON, computed traits, segment conditions and
// triggers read a few sums instead of walking a history that, for a shop's busiest customers, runs
// to thousands of orders on every change (docs/architecture.md, "Known limits").
//
// The usual weekday and hour are counted in the profile's time zone, which the caller resolves
// (profiles/computed_traits.h ProfileTimeZone) and passes in: a change of zone recounts them from
// the orders (SetOrderZone), so the kept totals are always those of the profile's current zone and
// do not depend on the order the events came in.
//
// Thread-safety: plain functions over values the caller owns.
#pragma once

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::profiles {

// A time zone and the name it was loaded by (the name is what the totals record).
struct NamedTimeZone {
  std::string name;
  absl::TimeZone zone;
};

// The totals of `orders`, computed from scratch; the usual-times counts only with a zone.
v1::OrderTotals ComputeOrderTotals(const google::protobuf::Map<std::string, v1::OrderSummary>& orders,
                                   const NamedTimeZone* zone = nullptr);

// The profile's totals: the ones it keeps, or, for a profile stored before they existed (or built
// by hand in a test), the ones computed from its orders into `scratch` (without usual times).
const v1::OrderTotals& OrderTotalsOf(const v1::Profile& profile, v1::OrderTotals& scratch);

// Whether `totals` holds the usual-times counts for the zone named `zone_name`.
bool HasUsualTimesIn(const v1::OrderTotals& totals, std::string_view zone_name);

// The same from every order of `profile` (which must all be in memory), replacing the totals it
// has: for a batch that held only some of them (Profile.orders_partial) when a change needed all.
void RecountOrderTotals(const NamedTimeZone& zone, v1::Profile& profile);

// Sets order `order_id` of `profile` to `state` (which the caller has decided wins) and moves the
// totals with it: the order's previous contribution out, the new one in. `zone` is the profile's.
// With Profile.orders_partial, the order's bucket must be in memory (its previous state, if any,
// is then in `orders`); what would need the other orders (the span, when the earliest or latest
// completed order stops counting) marks the totals stale instead (OrderTotals.stale).
void SetOrder(const std::string& order_id, const v1::OrderSummary& state, const NamedTimeZone& zone,
              v1::Profile& profile);

// Brings the totals to `zone`, the profile's zone now: counts the usual times again from the
// orders when they were kept in another zone, and fills in totals a profile stored before they
// existed lacks. A no-op (no walk over the orders) when they are already right. With only some of
// the orders in memory (Profile.orders_partial) a recount marks the totals stale instead.
void SetOrderZone(const NamedTimeZone& zone, v1::Profile& profile);

// Clears the profile's orders, first computing its totals if it has none (a profile stored before
// they existed): for a copy that goes where only the totals are read (the sinks stage).
void DropOrdersKeepingTotals(v1::Profile& profile);

// The key of product_spend and category_spend: "<currency> <key>" (currency codes have no space).
std::string CurrencyKey(std::string_view currency, std::string_view key);

}  // namespace tessera::profiles
