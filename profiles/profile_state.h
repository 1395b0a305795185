// The 360-degree profile as a value, and the pure functions that change it. No storage, no Kafka:
// the profile stage and the fused pipeline call these, and the property tests pin them.
//
// Every change is order-independent (a join): identifiers and merged_from are sorted sets, traits
// are last-writer-wins by (event time, message id), first/last seen are min/max, orders are
// last-writer-wins per order id, counters sum. Counters rely on each event being applied once
// (upstream skips replays), so absorbing a profile twice is guarded by merged_from.
//
// Thread-safety: plain functions over values the caller owns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "profiles/computed_traits.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::profiles {

// Folds one resolved event into `profile` (whose id is already set). Does not touch the version.
// Also keeps the state computed traits need (computed_traits.h): engagement day buckets, the open
// cart, each order's lines, and the user-defined traits `config` defines. The two-argument form
// uses DefaultComputedTraitsConfig() (no user-defined traits).
void ApplyEvent(const v1::Event& event, v1::Profile& profile, const ComputedTraitsConfig& config);
void ApplyEvent(const v1::Event& event, v1::Profile& profile);

// The order an event sets (ApplyEvent keeps its state in Profile.orders), or empty for an event
// that sets none: what a profile keeping its orders apart must have in memory before the fold.
std::string_view OrderIdOf(const v1::Event& event);

// Folds a merged-away profile into the winner: as if every event of `loser` had been applied to
// `winner`. No-op if loser.id() is already in winner.merged_from (a replayed transfer).
// Does not touch the version.
// `config` gives the default time zone the merged profile's usual purchase times are counted in;
// the two-argument form uses DefaultComputedTraitsConfig().
void AbsorbProfile(const v1::Profile& loser, v1::Profile& winner, const ComputedTraitsConfig& config);
void AbsorbProfile(const v1::Profile& loser, v1::Profile& winner);

// The profile as the JSON the CLI prints and the query API serves (docs/profile.md has the shape):
// id, workspace, identifiers, traits, first_seen, last_seen, event_counts, event_type_counts,
// orders_count, refunds_count, cancelled_count, total_spend (currency -> decimal string, net of
// refunds), refunded (same), items_by_category, social (platform -> action -> count),
// track_events, merged_from, version. Times are RFC 3339 UTC with milliseconds.
std::string ProfileToJson(const v1::Profile& profile);
// The same with a `computed` object (ComputedTraitsToJson of ComputeTraits(profile, now, config))
// between `consent` and `merged_from`. The one-argument form leaves it out: it is a function of
// the stored state alone, which the golden and order-independence tests compare byte for byte.
std::string ProfileToJson(const v1::Profile& profile, absl::Time now, const ComputedTraitsConfig& config);

// Names of the top-level JSON fields whose value differs between two states of one profile, in
// the JSON's order. Exact for every profile built from ingested events; for strings that are not
// UTF-8 it may also list a field whose JSON rendered alike (the .cc says why), never miss one.
std::vector<std::string> ChangedFields(const v1::Profile& before, const v1::Profile& after);
// The same over the JSON with `computed`, both computed at `now`: "computed" is listed when an
// event changed a computed trait (not when time alone moved one).
std::vector<std::string> ChangedFields(const v1::Profile& before, const v1::Profile& after, absl::Time now,
                                       const ComputedTraitsConfig& config);
// A profile as it was, kept to compare with what it becomes, without a copy of its order history:
// everything but `orders` (the JSON renders orders_count .. items_by_category from order_totals).
// A copy of every order on every touch (plus freeing it) made a customer with thousands of orders
// cost milliseconds per batch (docs/architecture.md, "Known limits"). Nor does it copy the state
// the profile's JSON is not rendered from (engagement days, cart, custom trait states, segments,
// event windows, timers: the computed traits' inputs and activation's), which was most of the
// copy for a profile with segments and computed traits configured.
class ProfileSnapshot {
 public:
  ProfileSnapshot() = default;  // of a profile that did not exist yet
  // Takes `profile`'s order map out while it copies the rest, then puts it back: `profile` is left
  // exactly as it was. The copy is made on `profile`'s arena, if it has one (and then lives as long
  // as that arena, not longer), else owned by the snapshot. `scratch`, if given, is an empty
  // profile on the same arena, lent for the call to set the parts aside in and left empty: a batch
  // that snapshots thousands of profiles then makes one such message, not one each (an empty
  // Profile on an arena costs a cleanup per map field to make and to free: with ProfileRecordBytes'
  // the same, 6-8% of the profiles stage).
  explicit ProfileSnapshot(v1::Profile& profile, v1::Profile* scratch = nullptr);

 private:
  friend std::vector<std::string> ChangedFields(const ProfileSnapshot& before, const v1::Profile& after);
  friend bool TraitsChanged(const ProfileSnapshot& before, const v1::Profile& after);
  std::unique_ptr<v1::Profile> owned_;  // the copy of a profile on no arena
  // With order_totals, computed here if the stored profile predates them. Null: of no profile.
  v1::Profile* without_orders_ = nullptr;
};
// ChangedFields(before, after) for the profile `before` was taken of.
std::vector<std::string> ChangedFields(const ProfileSnapshot& before, const v1::Profile& after);
// Whether any trait was added, removed or given another value (its JSON) from `before` to `after`:
// what segments' trait conditions read (SegmentInputsChanged::traits).
bool TraitsChanged(const ProfileSnapshot& before, const v1::Profile& after);
// What ChangedFields must always answer, by rendering both profiles' JSON whole (ChangedFields
// renders only the fields whose proto parts differ). For the tests that hold them equal.
std::vector<std::string> ChangedFieldsByFullJson(const v1::Profile& before, const v1::Profile& after);

}  // namespace tessera::profiles
