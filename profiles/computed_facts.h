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
  // Each call computes the profile's traits afresh (about 10 µs).
  std::optional<FactValue> Get(const v1::Profile& profile, std::string_view name, absl::Time now) const override;
  std::optional<absl::Time> ChangesAt(const v1::Profile& profile, std::string_view name,
                                      absl::Time now) const override;

 private:
  const ComputedTraitsConfig* config_;
};

// The profile's open cart as a trigger occurrence: due when CartAbandonedAt says, one occurrence
// per cart ("cart:<ms of the activity that started the timeout>", so a new add re-arms it and an
// order cancels it), the products as a JSON array.
std::optional<CartAbandonment> CartAbandonmentOf(const v1::Profile& profile, const ComputedTraitsConfig& config);

}  // namespace tessera::profiles
