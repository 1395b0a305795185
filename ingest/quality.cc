#include "ingest/quality.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/absl_compat.h"
#include "common/bytes.h"
#include "common/json_writer.h"
#include "common/status_macros.h"

namespace tessera::ingest {
namespace {

int64_t HourOf(int64_t ms) {
  const int64_t floor = ms / kQualityBucketMs * kQualityBucketMs;
  return floor > ms ? floor - kQualityBucketMs : floor;  // negative times round down too
}

}  // namespace

std::string EncodeQualityKey(const QualityKey& key) {
  std::string name;
  name.reserve(8 + key.source.size() + 1 + key.counter.size());
  AppendBigEndian64(static_cast<uint64_t>(key.hour_ms), name);
  name.append(key.source);
  name.push_back('\0');
  name.append(key.counter);
  return WorkspaceKey(kQualityKeyPrefix, key.workspace, name);
}

std::optional<QualityKey> DecodeQualityKey(std::string_view key) {
  if (key.substr(0, kQualityKeyPrefix.size()) != kQualityKeyPrefix) return std::nullopt;
  key.remove_prefix(kQualityKeyPrefix.size());
  const size_t workspace_end = key.find('\0');
  if (workspace_end == std::string_view::npos || key.size() < workspace_end + 1 + 8) return std::nullopt;
  QualityKey out;
  out.workspace = std::string(key.substr(0, workspace_end));
  key.remove_prefix(workspace_end + 1);
  out.hour_ms = static_cast<int64_t>(ReadBigEndian64(key));
  key.remove_prefix(8);
  const size_t source_end = key.find('\0');
  if (source_end == std::string_view::npos) return std::nullopt;
  out.source = std::string(key.substr(0, source_end));
  out.counter = std::string(key.substr(source_end + 1));
  return out;
}

std::optional<int64_t> DecodeQualityCount(std::string_view value) {
  if (value.size() != 8) return std::nullopt;
  return static_cast<int64_t>(ReadBigEndian64(value));
}

std::string QualityWorkspacePrefix(std::string_view workspace) { return WorkspaceKey(kQualityKeyPrefix, workspace); }

void QualityCounters::Add(std::string_view workspace, std::string_view source, int64_t received_at_ms,
                          std::string_view counter, int64_t n) {
  pending_[EncodeQualityKey(
      {std::string(workspace), HourOf(received_at_ms), std::string(source), std::string(counter)})] += n;
}

absl::Status QualityCounters::StageInto(KeyValueView* kv) {
  for (const auto& [key, count] : pending_) {
    ASSIGN_OR_RETURN(std::optional<std::string> stored, kv->Get(key));
    const int64_t before = stored.has_value() ? DecodeQualityCount(*stored).value_or(0) : 0;
    kv->Put(key, BigEndian64(static_cast<uint64_t>(before + count)));
  }
  pending_.clear();
  return absl::OkStatus();
}

int64_t QualityCounters::Pending(std::string_view workspace, std::string_view source, int64_t received_at_ms,
                                 std::string_view counter) const {
  auto it = pending_.find(EncodeQualityKey(
      {std::string(workspace), HourOf(received_at_ms), std::string(source), std::string(counter)}));
  return it == pending_.end() ? 0 : it->second;
}

void QualityReport::AddStored(std::string_view key, std::string_view value) {
  const std::optional<QualityKey> decoded = DecodeQualityKey(key);
  const std::optional<int64_t> count = DecodeQualityCount(value);
  if (!decoded.has_value() || !count.has_value() || decoded->workspace != workspace_) return;
  if (decoded->hour_ms < since_ms_ || decoded->hour_ms >= until_ms_) return;
  by_source_[decoded->source][decoded->counter] += *count;
}

namespace {

// Counter families shown as a column and broken down below it: "rejected.invalid_json" is
// family "rejected", detail "invalid_json".
constexpr std::string_view kFamilies[] = {"rejected", "blocked", "invalid", "normalized", "tracking_plan"};

int64_t Get(const std::map<std::string, int64_t>& counters, std::string_view name) {
  auto it = counters.find(std::string(name));
  return it == counters.end() ? 0 : it->second;
}

// family -> detail -> count
std::map<std::string, std::map<std::string, int64_t>> Families(const std::map<std::string, int64_t>& counters) {
  std::map<std::string, std::map<std::string, int64_t>> out;
  for (const auto& [name, count] : counters) {
    const size_t dot = name.find('.');
    if (dot == std::string::npos || count == 0) continue;
    out[name.substr(0, dot)][name.substr(dot + 1)] += count;
  }
  return out;
}

int64_t Total(const std::map<std::string, int64_t>& details) {
  int64_t total = 0;
  for (const auto& [detail, count] : details) total += count;
  return total;
}

}  // namespace

std::string QualityReport::ToText() const {
  std::string out = absl::StrFormat("%-16s %10s %10s %10s %10s %10s %10s %10s\n", "source", "accepted", "duplicates",
                                    "rejected", "blocked", "invalid", "normalized", "plan");
  for (const auto& [source, counters] : by_source_) {
    auto families = Families(counters);
    absl::StrAppend(&out, absl::StrFormat("%-16s %10d %10d %10d %10d %10d %10d %10d\n", source,
                                          Get(counters, kCounterAccepted), Get(counters, kCounterDuplicate),
                                          Total(families["rejected"]), Total(families["blocked"]),
                                          Total(families["invalid"]), Total(families["normalized"]),
                                          Total(families["tracking_plan"])));
  }
  for (const auto& [source, counters] : by_source_) {
    const auto families = Families(counters);
    for (std::string_view family : kFamilies) {
      auto it = families.find(std::string(family));
      if (it == families.end()) continue;
      std::vector<std::string> parts;
      for (const auto& [detail, count] : it->second) parts.push_back(absl::StrCat(detail, " ", count));
      absl::StrAppend(&out, "  ", source, " ", AbslView(family), ": ", absl::StrJoin(parts, ", "), "\n");
    }
  }
  if (by_source_.empty()) absl::StrAppend(&out, "(nothing counted in this range)\n");
  return out;
}

std::string QualityReport::ToJson() const {
  JsonWriter w;
  w.BeginObject();
  w.Key("workspace").String(workspace_);
  w.Key("since_ms").Int(since_ms_);
  w.Key("until_ms").Int(until_ms_);
  w.Key("sources").BeginObject();
  for (const auto& [source, counters] : by_source_) {
    w.Key(source).BeginObject();
    w.Key("accepted").Int(Get(counters, kCounterAccepted));
    w.Key("duplicates").Int(Get(counters, kCounterDuplicate));
    const auto families = Families(counters);
    for (std::string_view family : kFamilies) {
      w.Key(family).BeginObject();
      if (auto it = families.find(std::string(family)); it != families.end()) {
        for (const auto& [detail, count] : it->second) w.Key(detail).Int(count);
      }
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return std::move(w).Take();
}

}  // namespace tessera::ingest
