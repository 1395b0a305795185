// The per-profile event store: every event applied to a profile is kept, keyed so that a profile's
// timeline is one range scan, newest first:
//
//   "ev/" <workspace> '\0' <be64 profile id> <be64 (2^63 - event time ms)> <message id>
//        -> <be64 event time ms> <serialized tessera.v1.Event without what the key and that time
//           hold: its message id, workspace and timestamp_ms>
//   "es/" <workspace> '\0' "events/" <channel>   -> be64 count of events stored (stats counters)
//
// The workspace leads the key so retention can differ per workspace: the value starts with the
// event time, which is what common/rocks_store.h's ExpiringPrefix compaction filter reads, so
// EventRetentionPrefixes() turns a retention policy into filters (an expired event lingers until a
// compaction reaches it; readers do not hide it).
//
// Merges do not move events: the loser's timeline stays under the loser's id, and the winner's
// timeline is the union of its own and every absorbed id's (a k-way merge of range scans, no
// rewrite). The merge records of the identity store ("mg/" <be64 winner> <be64 loser>) say which
// ids were absorbed and when, so ProfileAsOf can rebuild the profile as it was at any event time by
// folding the stored events with ApplyEvent (which is order-independent, hence exact).
//
// Reads go through a KeyRangeReader (ordered scans), which KeyValueView does not offer: a RocksDB
// adapter lives in profiles/query/store_readers.h, MapRangeReader below serves tests.
//
// Thread-safety: the functions are stateless; StageEvent writes through the caller's view (one
// processing thread); the read functions only call const methods of the reader, which the
// implementations here allow from many threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kv.h"
#include "common/rocks_store.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::profiles {

inline constexpr std::string_view kEventKeyPrefix = "ev/";
inline constexpr std::string_view kEventStatsPrefix = "es/";

// Ordered, read-only access to a store.
class KeyRangeReader {
 public:
  using Visitor = std::function<bool(std::string_view key, std::string_view value)>;
  virtual ~KeyRangeReader() = default;

  virtual absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const = 0;
  // Visits, in key order, the keys that start with `prefix` and are >= `start` (a `start` before
  // the prefix means all of them); stops early when `visit` returns false.
  virtual absl::Status Scan(std::string_view prefix, std::string_view start, const Visitor& visit) const = 0;
};

// A KeyRangeReader over a sorted map the caller owns (tests: MemoryKv::data()).
class MapRangeReader final : public KeyRangeReader {
 public:
  explicit MapRangeReader(const std::map<std::string, std::string>* data) : data_(data) {}
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const override;
  absl::Status Scan(std::string_view prefix, std::string_view start, const Visitor& visit) const override;

 private:
  const std::map<std::string, std::string>* data_;
};

// "ev/" <workspace> '\0' <be64 profile id>: every key of one profile's own timeline.
std::string EventTimelinePrefix(std::string_view workspace, uint64_t profile_id);
// The full key of `event` in `profile_id`'s timeline.
std::string EventKey(uint64_t profile_id, const v1::Event& event);
// "es/" <workspace> '\0' "events/" <channel name>.
std::string EventCounterKey(std::string_view workspace, std::string_view channel);

// Stores `event` in `profile_id`'s timeline and counts it. Call it where the event is applied to
// the profile, through the same view, so the event, the profile and the input offsets commit in
// one WriteBatch (a replayed batch rewrites the same key; the counter relies on replays being
// skipped upstream, as the profile's own counters do).
absl::Status StageEvent(KeyValueView* kv, uint64_t profile_id, const v1::Event& event);

// Parses what StageEvent stored: `key_suffix` is the key past EventTimelinePrefix(workspace, id)
// (time and message id), `value` the stored value. The message id, workspace and time come from
// the key and the value's time, whether the serialized event left them out (as StageEvent has
// since 2026-12-07, the message id being its largest field) or not. False when either is malformed.
bool ParseStoredEvent(std::string_view workspace, std::string_view key_suffix, std::string_view value,
                      v1::Event& event);

// Tells `kv` that StageEvent is about to be called for these (profile id, event) pairs, so that
// the existence check each does is one batched read for all of them (KeyValueView::Prefetch).
absl::Status PrefetchEvents(KeyValueView* kv, const std::vector<std::pair<uint64_t, const v1::Event*>>& events);

// Retention: days to keep events per workspace; `default_days` for the others (0 keeps forever).
struct EventRetention {
  int64_t default_days = 365;
  std::map<std::string, int64_t> days_by_workspace;
};
// The compaction filters that enforce `retention` (RocksStoreOptions::expiring_prefixes), most
// specific first: the filter uses the first prefix that matches.
std::vector<ExpiringPrefix> EventRetentionPrefixes(const EventRetention& retention);

// One event of a timeline and the profile id it is stored under (the profile itself or one it
// absorbed).
struct TimelineEntry {
  uint64_t stored_under = 0;
  v1::Event event;
};

struct TimelineQuery {
  std::string workspace;
  std::vector<uint64_t> profile_ids;  // the profile and every id it absorbed
  std::optional<int64_t> since_ms;    // event time >= since
  std::optional<int64_t> until_ms;    // event time < until
  // "" for all; else matches the event's type ("track"), "channel.type" ("web.track") or name
  // ("Order Completed").
  std::string type;
  size_t limit = 50;
  std::string cursor;  // TimelinePage::next_cursor of the previous page; "" for the first
};

struct TimelinePage {
  std::vector<TimelineEntry> entries;  // newest event time first; equal times by message id (byte order)
  std::string next_cursor;             // "" when this is the last page
};

// One page of the merged timeline of query.profile_ids. InvalidArgument for a malformed cursor.
absl::StatusOr<TimelinePage> ReadTimeline(const KeyRangeReader& reader, const TimelineQuery& query);

// The merges that made `root`, read from the identity store's "mg/" records: every profile
// absorbed, directly or transitively, each with the record of its own merge (into `root` or into
// another absorbed profile). Ordered by merge event time.
absl::StatusOr<std::vector<v1::MergeRecord>> MergeHistory(const KeyRangeReader& reader, uint64_t root);

// The profile as it was at event time `as_of_ms`: the stored events of `root` and of every profile
// merged into it by an event at or before `as_of_ms` (transitively), with event time <= as_of_ms,
// folded by ApplyEvent. Exact while the events are retained. `workspace` is the profile's.
// NotFound when no event of the profile is that old.
absl::StatusOr<v1::Profile> ProfileAsOf(const KeyRangeReader& reader, std::string_view workspace, uint64_t root,
                                        int64_t as_of_ms);

}  // namespace tessera::profiles
