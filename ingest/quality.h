// Data-quality counters: per workspace, source and hour, how many events ingest accepted, rejected
// (by reason), dropped as duplicates, and how many identifier values it blocked and trait values it
// normalized or found invalid (docs/data-quality.md lists the counter names). `tessera quality`
// prints them.
//
// Counting happens in memory, per event; StageInto adds the batch's counts to the stage's store
// through its KeyValueView at the end of the batch, so they are committed in the same WriteBatch as
// the state and offsets of that batch: a replayed batch is not counted twice.
//
// Keys: "qc/" <workspace> '\0' <hour start, 8 bytes big-endian epoch ms> <source> '\0' <counter>
// -> count, 8 bytes big-endian. One workspace's keys are contiguous and ordered by hour.
//
// Thread-safety: not thread-safe; one QualityCounters per processing thread (EventParser owns one).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/kv.h"

namespace tessera::ingest {

inline constexpr std::string_view kQualityKeyPrefix = "qc/";
inline constexpr int64_t kQualityBucketMs = int64_t{3600} * 1000;

// Counter names (more: "rejected.<reason>", "blocked.<type>.<reason>", "normalized.<field>",
// "invalid.<field>", "tracking_plan.<violation>").
inline constexpr std::string_view kCounterAccepted = "accepted";
inline constexpr std::string_view kCounterDuplicate = "duplicate";

struct QualityKey {
  std::string workspace;
  int64_t hour_ms = 0;  // start of the hour (UTC epoch ms) the records were received in
  std::string source;
  std::string counter;
};

std::string EncodeQualityKey(const QualityKey& key);
// nullopt for a key that is not a quality counter key.
std::optional<QualityKey> DecodeQualityKey(std::string_view key);
// nullopt for a value that is not 8 bytes.
std::optional<int64_t> DecodeQualityCount(std::string_view value);
// Every key of `workspace` starts with this.
std::string QualityWorkspacePrefix(std::string_view workspace);

class QualityCounters {
 public:
  // Adds `n` to `counter` of (workspace, source, the hour of `received_at_ms`).
  void Add(std::string_view workspace, std::string_view source, int64_t received_at_ms, std::string_view counter,
           int64_t n = 1);

  // Adds every pending count to the stored one under "qc/" (read-modify-write through `kv`), then
  // forgets them. An error is the store failing: the batch must then be discarded.
  absl::Status StageInto(KeyValueView* kv);

  // Discards what was counted since the last StageInto (the batch was abandoned).
  void Discard() { pending_.clear(); }

  // The pending (not yet staged) count of one counter; 0 if none.
  int64_t Pending(std::string_view workspace, std::string_view source, int64_t received_at_ms,
                  std::string_view counter) const;
  bool empty() const { return pending_.empty(); }

 private:
  absl::flat_hash_map<std::string, int64_t> pending_;  // encoded key -> count
};

// What `tessera quality` prints: counts summed per source over a range of hours.
class QualityReport {
 public:
  // Hours starting in [since_ms, until_ms) are counted.
  QualityReport(std::string workspace, int64_t since_ms, int64_t until_ms)
      : workspace_(std::move(workspace)), since_ms_(since_ms), until_ms_(until_ms) {}

  // Adds one stored counter (a key and value of the store); keys of other workspaces, hours
  // outside the range, and keys that are not quality counters are skipped.
  void AddStored(std::string_view key, std::string_view value);

  // source -> counter -> count
  const std::map<std::string, std::map<std::string, int64_t>>& by_source() const { return by_source_; }

  // A table per source: accepted, duplicates, rejected, blocked, invalid, normalized, and each
  // family broken down by reason / field.
  std::string ToText() const;
  // {"workspace":..,"since_ms":..,"until_ms":..,"sources":{"web":{"accepted":N,..}}}
  std::string ToJson() const;

 private:
  std::string workspace_;
  int64_t since_ms_;
  int64_t until_ms_;
  std::map<std::string, std::map<std::string, int64_t>> by_source_;
};

}  // namespace tessera::ingest
