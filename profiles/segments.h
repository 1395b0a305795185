// Segments: named conditions (profiles/conditions.h) whose membership is kept per profile, in
// Profile.segments (name -> entered at), and whose every enter and exit becomes one SegmentChange.
// Because membership is stored with the profile and the profile is written in the same WriteBatch
// as the input offsets, a replayed batch re-evaluates against the membership it already recorded
// and never reports a transition twice.
//
// Event-in-window conditions read Profile.event_windows: per-UTC-day counts of each (event,
// property filter) selector a segment uses, counted here when the profile stage applies an event
// (RecordEvent). Only selectors some segment uses are counted, and only from the moment a segment
// using them is configured: history before that is not reconstructed (docs/segments.md).
//
// Thread-safety: a SegmentEngine is immutable after construction; its const methods may be called
// from any thread on profiles the caller owns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "profiles/conditions.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::profiles {

struct SegmentDefinition {
  std::string name;
  std::string description;
  Condition condition;
};

// One transition of one profile, as published on segment-changes.
struct SegmentChange {
  uint64_t profile_id = 0;
  std::string segment;
  bool entered = false;  // false: exited
  int64_t at_ms = 0;     // when the transition was evaluated (wall clock)
  uint64_t version = 0;  // the profile's version that carries the new membership (0 = tombstone)
  std::string reason;    // empty, or "merged" / "removed" for an exit not caused by the condition
};

// The segment-changes JSON value: {"profile_id":"…","segment":"…","change":"entered"|"exited",
// "at":"RFC 3339","version":N[,"reason":"merged"]}. profile_id is a decimal string.
std::string SegmentChangeToJson(const SegmentChange& change);

// What changed in a profile since its segments were last evaluated, for an evaluation of only the
// segments that read it (SegmentEngine::Evaluate). Filled by the profile stage per batch: whether
// any trait's value changed, whether an order event was folded in, and which of the engine's
// window selectors RecordEvent counted an event for (bit i: selector i; RecordEvent returns them).
struct SegmentInputsChanged {
  bool traits = false;
  bool orders = false;  // an order event folded in (what ComputedTraitSource::DerivedFromOrders reads)
  uint64_t windows = 0;
};

class SegmentEngine {
 public:
  // `computed` (may be null: ProfileFactsView's built-ins) tells which computed traits only orders
  // change (ComputedTraitSource::DerivedFromOrders); it is not kept.
  explicit SegmentEngine(std::vector<SegmentDefinition> segments, const ComputedTraitSource* computed = nullptr);

  const std::vector<SegmentDefinition>& segments() const { return segments_; }
  bool empty() const { return segments_.empty(); }

  // Counts `event` in profile.event_windows for every selector it matches (by its event-time UTC
  // day); a day already outside every window that reads the selector is not counted. Returns the
  // selectors counted, as SegmentInputsChanged::windows bits.
  uint64_t RecordEvent(const v1::Event& event, int64_t now_ms, v1::Profile& profile) const;

  // Drops day buckets that no window reaches any more (they can never count again).
  void PruneWindows(int64_t now_ms, v1::Profile& profile) const;

  // Re-evaluates every segment for `profile` at `now`, updating profile.segments and appending one
  // change per transition (version left 0 for the caller to fill in), exits before enters, each
  // group in configuration order. Memberships of segments no longer configured exit with reason
  // "removed". Returns the earliest time membership could
  // change without an event (nullopt: only an event can change it).
  //
  // With `changed`, only the segments whose conditions read something it names (a computed trait
  // not derived from orders alone counts as reading everything) are evaluated again; the others
  // keep their membership, and their next change is still computed, so the answer is the same as
  // without.
  // Sound only when nothing else changed since the last evaluation and no segment could have
  // changed with time alone since then (the caller's segment timer is not due yet).
  std::optional<absl::Time> Evaluate(v1::Profile& profile, const ProfileFacts& facts, absl::Time now,
                                     std::vector<SegmentChange>& changes,
                                     const SegmentInputsChanged* changed = nullptr) const;

  // The configured segment named `name`, or nullptr.
  const SegmentDefinition* Find(std::string_view name) const;

  // Evaluate for one segment only (tessera segment backfill NAME): updates its membership, appends
  // its transition if any, and returns when it could next change without an event.
  static std::optional<absl::Time> EvaluateOne(const SegmentDefinition& segment, v1::Profile& profile,
                                               const ProfileFacts& facts, absl::Time now,
                                               std::vector<SegmentChange>& changes);

  // A profile merged away: it leaves every segment (reason "merged"); the winner is re-evaluated
  // with the absorbed state and enters on its own account.
  static void Retire(const v1::Profile& loser, absl::Time now, std::vector<SegmentChange>& changes);

  // Adds the loser's day buckets to the winner's (call only when AbsorbProfile will absorb it, i.e.
  // the loser is not in winner.merged_from yet: the buckets are counters).
  static void AbsorbWindows(const v1::Profile& loser, v1::Profile& winner);

 private:
  std::vector<SegmentDefinition> segments_;
  // What each segment's condition reads (same order as segments_).
  struct SegmentReads {
    bool everything = false;  // a computed trait not derived from orders alone, or a window past bit 63
    bool traits = false;
    bool orders = false;  // a computed trait derived from orders (and time) alone
    uint64_t windows = 0;  // bits of selectors_
  };
  std::vector<SegmentReads> reads_;
  // Every selector some segment reads, with its canonical key and the longest window (0: all time).
  struct SelectorUse {
    EventSelector selector;
    std::string key;
    int32_t max_window_days = 0;
  };
  std::vector<SelectorUse> selectors_;
};

}  // namespace tessera::profiles
