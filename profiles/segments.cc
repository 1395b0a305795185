#include "profiles/segments.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/json_writer.h"

namespace tessera::profiles {

std::string SegmentChangeToJson(const SegmentChange& change) {
  JsonWriter w;
  w.BeginObject();
  w.Key("profile_id").String(absl::StrCat(change.profile_id));
  w.Key("segment").String(change.segment);
  w.Key("change").String(change.entered ? "entered" : "exited");
  w.Key("at").String(FormatUtcMillis(change.at_ms));
  w.Key("version").Uint(change.version);
  if (!change.reason.empty()) w.Key("reason").String(change.reason);
  w.EndObject();
  return std::move(w).Take();
}

namespace {

// Bit i stands for selector i; selectors past the last bit have none.
constexpr size_t kWindowBits = 64;

}  // namespace

SegmentEngine::SegmentEngine(std::vector<SegmentDefinition> segments, const ComputedTraitSource* computed)
    : segments_(std::move(segments)) {
  std::vector<std::pair<EventSelector, int32_t>> used;
  for (const SegmentDefinition& segment : segments_) CollectSelectors(segment.condition, used);
  for (auto& [selector, window] : used) {
    std::string key = selector.Key();
    selectors_.push_back(SelectorUse{std::move(selector), std::move(key), window});
  }
  reads_.reserve(segments_.size());
  for (const SegmentDefinition& segment : segments_) {
    SegmentReads reads;
    std::vector<const Condition*> open = {&segment.condition};
    while (!open.empty()) {
      const Condition* condition = open.back();
      open.pop_back();
      switch (condition->kind) {
        case Condition::Kind::kTrait: reads.traits = true; break;
        case Condition::Kind::kComputed: {
          const bool from_orders = computed != nullptr ? computed->DerivedFromOrders(condition->name)
                                                       : BuiltInDerivedFromOrders(condition->name);
          (from_orders ? reads.orders : reads.everything) = true;
          break;
        }
        case Condition::Kind::kEvent: {
          const std::string key = condition->selector.Key();
          size_t i = 0;
          while (i < selectors_.size() && selectors_[i].key != key) ++i;
          if (i < kWindowBits) {
            reads.windows |= uint64_t{1} << i;
          } else {
            reads.everything = true;  // no bit to tell: evaluated every time
          }
          break;
        }
        default:
          for (const Condition& child : condition->children) open.push_back(&child);
      }
    }
    reads_.push_back(reads);
  }
}

uint64_t SegmentEngine::RecordEvent(const v1::Event& event, int64_t now_ms, v1::Profile& profile) const {
  if (selectors_.empty()) return 0;  // no segment reads an event window
  const int32_t today = UtcDay(now_ms);
  const int32_t day = UtcDay(event.timestamp_ms());
  uint64_t counted = 0;
  for (size_t i = 0; i < selectors_.size(); ++i) {
    const SelectorUse& use = selectors_[i];
    if (use.max_window_days != 0 && day <= today - use.max_window_days) continue;  // already outside
    if (!use.selector.Matches(event)) continue;
    (*(*profile.mutable_event_windows())[use.key].mutable_by_day())[day] += 1;
    if (i < kWindowBits) counted |= uint64_t{1} << i;
  }
  return counted;
}

void SegmentEngine::PruneWindows(int64_t now_ms, v1::Profile& profile) const {
  const int32_t today = UtcDay(now_ms);
  auto& windows = *profile.mutable_event_windows();
  for (auto it = windows.begin(); it != windows.end();) {
    const SelectorUse* use = nullptr;
    for (const SelectorUse& u : selectors_) {
      if (u.key == it->first) use = &u;
    }
    if (use == nullptr) {  // no segment reads it any more
      windows.erase(it++);
      continue;
    }
    if (use->max_window_days != 0) {
      auto& days = *it->second.mutable_by_day();
      for (auto d = days.begin(); d != days.end();) {
        if (d->first <= today - use->max_window_days) {
          days.erase(d++);
        } else {
          ++d;
        }
      }
    }
    ++it;
  }
}

const SegmentDefinition* SegmentEngine::Find(std::string_view name) const {
  for (const SegmentDefinition& segment : segments_) {
    if (segment.name == name) return &segment;
  }
  return nullptr;
}

std::optional<absl::Time> SegmentEngine::EvaluateOne(const SegmentDefinition& segment, v1::Profile& profile,
                                                     const ProfileFacts& facts, absl::Time now,
                                                     std::vector<SegmentChange>& changes) {
  auto& membership = *profile.mutable_segments();
  const bool member = profiles::Evaluate(segment.condition, facts, now);
  const bool was = membership.contains(segment.name);
  if (member != was) {
    const int64_t now_ms = absl::ToUnixMillis(now);
    changes.push_back(SegmentChange{profile.id(), segment.name, member, now_ms, 0, ""});
    if (member) {
      membership[segment.name] = now_ms;
    } else {
      membership.erase(segment.name);
    }
  }
  std::optional<absl::Time> at = NextChange(segment.condition, facts, now);
  if (at.has_value() && *at <= now) return std::nullopt;
  return at;
}

std::optional<absl::Time> SegmentEngine::Evaluate(v1::Profile& profile, const ProfileFacts& facts, absl::Time now,
                                                  std::vector<SegmentChange>& changes,
                                                  const SegmentInputsChanged* changed) const {
  const int64_t now_ms = absl::ToUnixMillis(now);
  const size_t first_change = changes.size();
  std::optional<absl::Time> next;
  auto& membership = *profile.mutable_segments();
  for (size_t i = 0; i < segments_.size(); ++i) {
    const SegmentDefinition& segment = segments_[i];
    const SegmentReads& reads = reads_[i];
    bool unchanged = changed != nullptr && !reads.everything && !(reads.traits && changed->traits) &&
                     !(reads.orders && changed->orders) && (reads.windows & changed->windows) == 0;
    // An unchanged segment keeps its membership; when it could next change is still asked, since
    // the profile's one segment timer is the earliest over all of them. (A time already passed
    // would mean the caller's timer was late: then it is evaluated after all.)
    std::optional<absl::Time> at;
    if (unchanged) {
      at = NextChange(segment.condition, facts, now);
      unchanged = !at.has_value() || *at > now;
    }
    if (!unchanged) at = EvaluateOne(segment, profile, facts, now, changes);
    if (at.has_value()) next = next.has_value() ? std::min(*next, *at) : *at;
  }
  std::vector<std::string> removed;
  for (const auto& [name, entered] : membership) {
    const bool configured = std::any_of(segments_.begin(), segments_.end(),
                                        [&](const SegmentDefinition& s) { return s.name == name; });
    if (!configured) removed.push_back(name);
  }
  std::sort(removed.begin(), removed.end());
  for (const std::string& name : removed) {
    membership.erase(name);
    changes.push_back(SegmentChange{profile.id(), name, false, now_ms, 0, "removed"});
  }
  // Exits before enters: a move between segments of one family (an RFM tier to the next) reads
  // as leaving one, then joining the other.
  std::stable_partition(changes.begin() + static_cast<std::ptrdiff_t>(first_change), changes.end(),
                        [](const SegmentChange& change) { return !change.entered; });
  return next;
}

void SegmentEngine::Retire(const v1::Profile& loser, absl::Time now, std::vector<SegmentChange>& changes) {
  std::vector<std::string> names;
  for (const auto& [name, entered] : loser.segments()) names.push_back(name);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    changes.push_back(SegmentChange{loser.id(), name, false, absl::ToUnixMillis(now), 0, "merged"});
  }
}

void SegmentEngine::AbsorbWindows(const v1::Profile& loser, v1::Profile& winner) {
  for (const auto& [key, counts] : loser.event_windows()) {
    auto& into = *(*winner.mutable_event_windows())[key].mutable_by_day();
    for (const auto& [day, count] : counts.by_day()) into[day] += count;
  }
}

}  // namespace tessera::profiles
