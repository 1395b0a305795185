#include "profiles/event_store.h"

#include <algorithm>
#include <array>
#include <deque>
#include <limits>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/bytes.h"
#include "common/status_macros.h"
#include "profiles/profile_state.h"

namespace tessera::profiles {
namespace {

constexpr uint64_t kTimeFlip = uint64_t{1} << 63;
constexpr std::string_view kMergePrefix = "mg/";

// Newest first: a later event time gives a smaller key. Wraps correctly for negative times.
uint64_t InvertedTime(int64_t time_ms) { return kTimeFlip - static_cast<uint64_t>(time_ms); }

std::string_view ChannelText(v1::Channel channel) {
  switch (channel) {
    case v1::CHANNEL_WEB: return "web";
    case v1::CHANNEL_SOCIAL: return "social";
    case v1::CHANNEL_PURCHASE: return "purchase";
    default: return "unknown";
  }
}

bool MatchesType(const v1::Event& event, std::string_view type) {
  if (type.empty() || event.type() == type || event.name() == type) return true;
  const std::string_view channel = ChannelText(event.channel());
  return type.size() == channel.size() + 1 + event.type().size() && type.substr(0, channel.size()) == channel &&
         type[channel.size()] == '.' && type.substr(channel.size() + 1) == event.type();
}

struct Candidate {
  std::string suffix;  // <be64 inverted time> <message id>: the global timeline order
  TimelineEntry entry;
};

// Appends `event`'s serialization without the fields its key and the value's time hold: appended
// whole, then those fields (fields 1, 2 and 6: generated code writes known fields in number order,
// so the scan stops past 6) cut out of the appended bytes, rather than cleared on a copy.
void AppendStoredEvent(const v1::Event& event, std::string& out) {
  using google::protobuf::internal::WireFormatLite;
  const size_t begin = out.size();
  event.AppendToString(&out);
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(out.data() + begin),
                                            static_cast<int>(out.size() - begin));
  std::array<std::pair<size_t, size_t>, 3> cuts;  // [from, to) past `begin`, in order
  size_t cut = 0;
  while (true) {
    const size_t start = static_cast<size_t>(in.CurrentPosition());
    const uint32_t tag = in.ReadTag();
    if (tag == 0 || !WireFormatLite::SkipField(&in, tag)) break;  // the end (our own bytes parse)
    const uint32_t field = WireFormatLite::GetTagFieldNumber(tag);
    if (field > v1::Event::kTimestampMsFieldNumber) break;  // known fields come in number order
    if (field == v1::Event::kMessageIdFieldNumber || field == v1::Event::kWorkspaceFieldNumber ||
        field == v1::Event::kTimestampMsFieldNumber) {
      if (cut == cuts.size()) break;  // not from generated code; the rest stays
      cuts[cut++] = {start, static_cast<size_t>(in.CurrentPosition())};
    }
  }
  while (cut > 0) {
    const auto [from, to] = cuts[--cut];
    out.erase(begin + from, to - from);
  }
}

}  // namespace

bool ParseStoredEvent(std::string_view workspace, std::string_view key_suffix, std::string_view value,
                      v1::Event& event) {
  if (key_suffix.size() < 8 || value.size() < 8) return false;
  if (!event.ParseFromArray(value.data() + 8, static_cast<int>(value.size() - 8))) return false;
  event.set_message_id(std::string(key_suffix.substr(8)));
  event.set_workspace(std::string(workspace));
  event.set_timestamp_ms(static_cast<int64_t>(ReadBigEndian64(value)));
  return true;
}

absl::StatusOr<std::optional<std::string>> MapRangeReader::Get(std::string_view key) const {
  auto it = data_->find(std::string(key));
  if (it == data_->end()) return std::nullopt;
  return it->second;
}

absl::Status MapRangeReader::Scan(std::string_view prefix, std::string_view start, const Visitor& visit) const {
  for (auto it = data_->lower_bound(std::string(std::max(prefix, start))); it != data_->end(); ++it) {
    if (std::string_view(it->first).substr(0, prefix.size()) != prefix) break;
    if (!visit(it->first, it->second)) break;
  }
  return absl::OkStatus();
}

std::string EventTimelinePrefix(std::string_view workspace, uint64_t profile_id) {
  std::string key = WorkspaceKey(kEventKeyPrefix, workspace);
  AppendBigEndian64(profile_id, key);
  return key;
}

std::string EventKey(uint64_t profile_id, const v1::Event& event) {
  std::string key = EventTimelinePrefix(event.workspace(), profile_id);
  AppendBigEndian64(InvertedTime(event.timestamp_ms()), key);
  key.append(event.message_id());
  return key;
}

std::string EventCounterKey(std::string_view workspace, std::string_view channel) {
  return WorkspaceKey(kEventStatsPrefix, workspace, absl::StrCat("events/", AbslView(channel)));
}

absl::Status StageEvent(KeyValueView* kv, uint64_t profile_id, const v1::Event& event) {
  const std::string key = EventKey(profile_id, event);
  // A replayed batch restages the same key: count only an event this store has not seen.
  ASSIGN_OR_RETURN(std::optional<std::string> existing, kv->Get(key));
  std::string value = BigEndian64(static_cast<uint64_t>(event.timestamp_ms()));
  AppendStoredEvent(event, value);
  kv->Put(key, value);
  if (existing.has_value()) return absl::OkStatus();
  const std::string counter_key = EventCounterKey(event.workspace(), ChannelText(event.channel()));
  ASSIGN_OR_RETURN(std::optional<std::string> counter, kv->Get(counter_key));
  const uint64_t count = counter.has_value() && counter->size() == 8 ? ReadBigEndian64(*counter) : 0;
  kv->Put(counter_key, BigEndian64(count + 1));
  return absl::OkStatus();
}

absl::Status PrefetchEvents(KeyValueView* kv, const std::vector<std::pair<uint64_t, const v1::Event*>>& events) {
  std::vector<std::string> keys;
  keys.reserve(events.size());
  for (const auto& [profile_id, event] : events) keys.push_back(EventKey(profile_id, *event));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return kv->Prefetch(keys);
}

std::vector<ExpiringPrefix> EventRetentionPrefixes(const EventRetention& retention) {
  constexpr int64_t kDayMs = 86'400'000;
  std::vector<ExpiringPrefix> prefixes;
  for (const auto& [workspace, days] : retention.days_by_workspace) {
    // 0 = forever: a prefix with a TTL no event reaches still has to shadow the default.
    const int64_t ttl = days > 0 ? days * kDayMs : std::numeric_limits<int64_t>::max();
    prefixes.push_back(ExpiringPrefix{WorkspaceKey(kEventKeyPrefix, workspace), ttl});
  }
  if (retention.default_days > 0) {
    prefixes.push_back(ExpiringPrefix{std::string(kEventKeyPrefix), retention.default_days * kDayMs});
  }
  return prefixes;
}

absl::StatusOr<TimelinePage> ReadTimeline(const KeyRangeReader& reader, const TimelineQuery& query) {
  std::string after_cursor;  // the smallest suffix after the cursor
  if (!query.cursor.empty()) {
    std::string decoded;
    if (!absl::WebSafeBase64Unescape(AbslView(query.cursor), &decoded) || decoded.size() < 8) {
      return absl::InvalidArgumentError("cursor: not a cursor this API returned");
    }
    after_cursor = decoded + '\0';
  }
  std::string from_until;
  if (query.until_ms.has_value()) from_until = BigEndian64(InvertedTime(*query.until_ms) + 1);
  const std::string start_suffix = std::max(after_cursor, from_until);
  const std::optional<uint64_t> last_inverted =
      query.since_ms.has_value() ? std::optional<uint64_t>(InvertedTime(*query.since_ms)) : std::nullopt;
  const size_t limit = std::max<size_t>(query.limit, 1);

  std::vector<Candidate> candidates;
  bool more = false;
  for (uint64_t id : query.profile_ids) {
    const std::string prefix = EventTimelinePrefix(query.workspace, id);
    size_t taken = 0;
    absl::Status decode_error;
    RETURN_IF_ERROR(reader.Scan(prefix, prefix + start_suffix, [&](std::string_view key, std::string_view value) {
      const std::string_view suffix = key.substr(prefix.size());
      if (suffix.size() < 8) return true;  // not an event key
      if (last_inverted.has_value() && ReadBigEndian64(suffix) > *last_inverted) return false;  // older than since
      v1::Event event;
      if (!ParseStoredEvent(query.workspace, suffix, value, event)) {  // a value too short to hold its time too
        decode_error = absl::DataLossError(absl::StrCat("undecodable event under profile ", id));
        return false;
      }
      if (!MatchesType(event, query.type)) return true;
      if (taken == limit) {
        more = true;
        return false;
      }
      ++taken;
      candidates.push_back(Candidate{std::string(suffix), TimelineEntry{id, std::move(event)}});
      return true;
    }));
    RETURN_IF_ERROR(decode_error);
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.suffix != b.suffix ? a.suffix < b.suffix : a.entry.stored_under < b.entry.stored_under;
  });
  // The same event stored under two ids (a replay across a merge) is shown once.
  candidates.erase(std::unique(candidates.begin(), candidates.end(),
                               [](const Candidate& a, const Candidate& b) { return a.suffix == b.suffix; }),
                   candidates.end());
  TimelinePage page;
  if (candidates.size() > limit) {
    more = true;
    candidates.resize(limit);
  }
  for (Candidate& c : candidates) page.entries.push_back(std::move(c.entry));
  if (more && !candidates.empty()) {
    page.next_cursor = StdView(absl::WebSafeBase64Escape(AbslView(candidates.back().suffix)));
  }
  return page;
}

absl::StatusOr<std::vector<v1::MergeRecord>> MergeHistory(const KeyRangeReader& reader, uint64_t root) {
  std::vector<v1::MergeRecord> records;
  absl::flat_hash_set<uint64_t> seen = {root};
  std::deque<uint64_t> pending = {root};
  while (!pending.empty()) {
    const uint64_t winner = pending.front();
    pending.pop_front();
    std::string prefix(kMergePrefix);
    AppendBigEndian64(winner, prefix);
    absl::Status decode_error;
    RETURN_IF_ERROR(reader.Scan(prefix, prefix, [&](std::string_view key, std::string_view value) {
      v1::MergeRecord record;
      if (key.size() != prefix.size() + 8 || !record.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        decode_error = absl::DataLossError(absl::StrCat("undecodable merge record of profile ", winner));
        return false;
      }
      if (seen.insert(record.loser()).second) {
        pending.push_back(record.loser());
        records.push_back(std::move(record));
      }
      return true;
    }));
    RETURN_IF_ERROR(decode_error);
  }
  std::sort(records.begin(), records.end(), [](const v1::MergeRecord& a, const v1::MergeRecord& b) {
    return a.timestamp_ms() != b.timestamp_ms() ? a.timestamp_ms() < b.timestamp_ms() : a.loser() < b.loser();
  });
  return records;
}

absl::StatusOr<v1::Profile> ProfileAsOf(const KeyRangeReader& reader, std::string_view workspace, uint64_t root,
                                        int64_t as_of_ms) {
  ASSIGN_OR_RETURN(std::vector<v1::MergeRecord> merges, MergeHistory(reader, root));
  // The ids that were part of `root` at as_of: those whose merge (and their winner's, up to the
  // root) happened by then. Records are ordered by time, so a winner is decided before its losers
  // only when it merged earlier; resolve by walking until nothing changes.
  absl::flat_hash_set<uint64_t> members = {root};
  for (bool grew = true; grew;) {
    grew = false;
    for (const v1::MergeRecord& merge : merges) {
      if (merge.timestamp_ms() <= as_of_ms && members.contains(merge.winner()) &&
          members.insert(merge.loser()).second) {
        grew = true;
      }
    }
  }
  v1::Profile profile;
  profile.set_id(root);
  profile.set_workspace(std::string(workspace));
  bool any = false;
  for (uint64_t id : members) {
    const std::string prefix = EventTimelinePrefix(workspace, id);
    // Newest first: start at the first key with event time <= as_of.
    const std::string start = prefix + BigEndian64(InvertedTime(as_of_ms));
    absl::Status decode_error;
    RETURN_IF_ERROR(reader.Scan(prefix, start, [&](std::string_view key, std::string_view value) {
      v1::Event event;
      if (!ParseStoredEvent(workspace, key.substr(prefix.size()), value, event)) {
        decode_error = absl::DataLossError(absl::StrCat("undecodable event under profile ", id));
        return false;
      }
      ApplyEvent(event, profile);
      any = true;
      return true;
    }));
    RETURN_IF_ERROR(decode_error);
    if (id != root) profile.add_merged_from(id);
  }
  if (!any) return absl::NotFoundError(absl::StrCat("profile ", root, " has no events at or before that time"));
  std::sort(profile.mutable_merged_from()->begin(), profile.mutable_merged_from()->end());
  return profile;
}

}  // namespace tessera::profiles
