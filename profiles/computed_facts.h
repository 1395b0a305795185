// Computed traits as the segment and trigger engines read them: a ComputedTraitSource
// (profiles/conditions.h) over ComputeTraits, and the abandoned cart as a trigger occurrence
// (profiles/triggers.h). The join between computed_traits.h and the activation engine.
//
//   ComputedTraitsFacts facts(&computed_config);
//   ProfileFactsView view(&profile, zone, &facts, now);     // {computed: rfm_tier, in: [...]}
//   trigger_config.cart_abandoned = [&](const v1::Profile& p) { return CartAbandonmentOf(p, computed_config); };
//
// Thread-safety: ComputedTraitsFacts holds only a pointer to an immutable config; any number of
// threads may call it at once. The config must outlive it.
#pragma once

#include <optional>
#include <string_view>

#include "absl/time/time.h"
#include "profiles/computed_traits.h"
#include "profiles/conditions.h"
#include "profiles/triggers.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::profiles {

class ComputedTraitsFacts final : public ComputedTraitSource {
 public:
  explicit ComputedTraitsFacts(const ComputedTraitsConfig* config) : config_(config) {}

  // Any field of the `computed` object by name (docs/computed-traits.md); money fields also per
  // currency in major units ("lifetime_spend.THB", "average_order_value.JPY"). The names the
  // default source answers stay available: orders_count, refunds_count, cancelled_count,
  // total_spend.<CUR>, event_type_counts.<channel.type>, track_events.<name>, days_since_last_seen.
  // Each call computes only the part of the traits that holds the field (ComputeTraitsFor); a
  // ProfileFactsView caches the answer per name for one evaluation.
  std::optional<FactValue> Get(const v1::Profile& profile, std::string_view name, absl::Time now) const override;
  std::optional<absl::Time> ChangesAt(const v1::Profile& profile, std::string_view name,
                                      absl::Time now) const override;
  // The order built-ins and the value and RFM fields (per currency too): ComputeValue reads the
  // order totals and the time only.
  bool DerivedFromOrders(std::string_view name) const override;

 private:
  const ComputedTraitsConfig* config_;
};

// RFM tier changes downstream: one built-in segment per tier, "rfm_tier:<tier>" =
// {computed: rfm_tier, eq: <tier>}. A tier change is then an exit from the old tier's segment and an
// enter into the new one on segment-changes, exactly once each, with everything segments already
// do: the timer index wakes the profile when recency moves its tier with no event
// (ComputedTraitChangesAt), a merge retires the loser's tier, a backfill gives stored buyers their
// tier. A profile without a completed order has no tier and is in none of them. User segment names
// cannot hold ':', so the prefix cannot collide.
inline constexpr std::string_view kRfmTierSegmentPrefix = "rfm_tier:";
inline constexpr std::string_view kRfmTiers[] = {"champions", "loyal",       "potential_loyalist", "new",
                                                 "at_risk",   "hibernating", "lost"};
// Appends the seven tier segments to `activation` (unless computed.rfm_tier_segments is false) and
// the RFM thresholds to its fingerprint, so changed thresholds re-evaluate stored profiles.
void AddRfmTierSegments(const ComputedTraitsConfig& computed, ActivationConfig& activation);

// The profile's open cart as a trigger occurrence: due when CartAbandonedAt says, one occurrence
// per cart ("cart:<ms of the activity that started the timeout>", so a new add re-arms it and an
// order cancels it), the products as a JSON array.
std::optional<CartAbandonment> CartAbandonmentOf(const v1::Profile& profile, const ComputedTraitsConfig& config);

}  // namespace tessera::profiles
