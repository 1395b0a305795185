#include "profiles/query/query_api.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/currency.h"
#include "common/identifier.h"
#include "common/json_writer.h"
#include "common/status_macros.h"
#include "identity/identity_explain.h"
#include "identity/identity_resolver.h"
#include "identity/identity_split.h"
#include "profiles/profile_state.h"
#include "profiles/profile_store.h"
#include "profiles/query/masking.h"
#include "simdjson.h"

namespace tessera::query {
namespace {

constexpr size_t kDefaultLimit = 50;
constexpr size_t kMaxLimit = 1000;

// A read-only KeyValueView over a KeyRangeReader, for the spine's lookups (ProfileStore,
// LookupIdentifier), which never write.
class ReaderView final : public KeyValueView {
 public:
  explicit ReaderView(const profiles::KeyRangeReader* reader) : reader_(reader) {}
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override { return reader_->Get(key); }
  void Put(std::string_view, std::string_view) override {}     // never called by the lookups used here
  void Delete(std::string_view) override {}

 private:
  const profiles::KeyRangeReader* reader_;
};

QueryResponse Error(int status, std::string_view code, std::string_view message) {
  JsonWriter w;
  w.BeginObject().Key("error").BeginObject().Key("code").String(code).Key("message").String(message).EndObject().EndObject();
  return QueryResponse{status, std::move(w).Take(), {}};
}

QueryResponse FromStatus(const absl::Status& status) {
  const std::string message(StdView(status.message()));
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument: return Error(400, "bad_request", message);
    case absl::StatusCode::kNotFound: return Error(404, "not_found", message);
    case absl::StatusCode::kUnimplemented: return Error(501, "not_implemented", message);
    case absl::StatusCode::kUnavailable: return Error(503, "unavailable", message);
    default: return Error(500, "internal", message);
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding; '+' means a space only in a query string.
absl::StatusOr<std::string> Decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      const int hi = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) return absl::InvalidArgumentError("bad percent-encoding in the URL");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (plus_is_space && text[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

struct Target {
  std::vector<std::string> segments;  // decoded path segments after "/v1"
  std::map<std::string, std::string> params;
  std::string raw_query;
};

absl::StatusOr<Target> ParseTarget(std::string_view target) {
  Target out;
  const size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  if (question != std::string_view::npos) out.raw_query = std::string(target.substr(question + 1));
  for (absl::string_view segment : absl::StrSplit(AbslView(path), '/', absl::SkipEmpty())) {
    ASSIGN_OR_RETURN(std::string decoded, Decode(StdView(segment), false));
    out.segments.push_back(std::move(decoded));
  }
  for (absl::string_view pair : absl::StrSplit(AbslView(out.raw_query), '&', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    ASSIGN_OR_RETURN(std::string name, Decode(StdView(pair.substr(0, eq)), true));
    std::string value;
    if (eq != absl::string_view::npos) {
      ASSIGN_OR_RETURN(value, Decode(StdView(pair.substr(eq + 1)), true));
    }
    out.params[name] = std::move(value);
  }
  return out;
}

// RFC 3339 ("2026-11-25T03:04:05Z", fractions and offsets allowed) or epoch milliseconds.
absl::StatusOr<int64_t> ParseTimeParam(std::string_view name, const std::string& text) {
  int64_t ms = 0;
  if (absl::SimpleAtoi(AbslView(text), &ms)) return ms;
  absl::Time time;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &time, &error)) return absl::ToUnixMillis(time);
  return absl::InvalidArgumentError(
      absl::StrCat(AbslView(name), ": '", text, "' is neither RFC 3339 (2026-11-25T03:04:05Z) nor epoch milliseconds"));
}

std::string FormatTime(int64_t ms) {
  return FormatUtcMillis(ms);
}

std::string_view ChannelText(v1::Channel channel) {
  switch (channel) {
    case v1::CHANNEL_WEB: return "web";
    case v1::CHANNEL_SOCIAL: return "social";
    case v1::CHANNEL_PURCHASE: return "purchase";
    default: return "unknown";
  }
}

std::string_view StatusText(v1::OrderStatus status) {
  switch (status) {
    case v1::ORDER_STATUS_COMPLETED: return "completed";
    case v1::ORDER_STATUS_REFUNDED: return "refunded";
    case v1::ORDER_STATUS_CANCELLED: return "cancelled";
    default: return "unknown";
  }
}

void WriteMoney(const v1::Money& money, JsonWriter& w) {
  const std::optional<int> exponent = CurrencyExponent(money.currency());
  w.BeginObject().Key("currency").String(money.currency());
  w.Key("amount").String(exponent.has_value() ? FormatMinorUnits(money.minor_units(), *exponent)
                                              : std::to_string(money.minor_units()));
  w.EndObject();
}

void WriteEvent(const profiles::TimelineEntry& entry, JsonWriter& w) {
  const v1::Event& e = entry.event;
  w.BeginObject();
  w.Key("message_id").String(e.message_id());
  w.Key("profile_id").String(std::to_string(entry.stored_under));
  w.Key("channel").String(ChannelText(e.channel()));
  w.Key("type").String(e.type());
  if (!e.name().empty()) w.Key("name").String(e.name());
  w.Key("timestamp").String(FormatTime(e.timestamp_ms()));
  if (e.received_at_ms() != 0) w.Key("received_at").String(FormatTime(e.received_at_ms()));
  std::vector<std::string> identifiers;
  for (const v1::Identifier& id : e.identifiers()) identifiers.push_back(FormatIdentifier(id));
  std::sort(identifiers.begin(), identifiers.end());
  w.Key("identifiers").BeginArray();
  for (const std::string& id : identifiers) w.String(id);
  w.EndArray();
  if (!e.traits().empty()) {
    std::map<std::string, std::string> sorted(e.traits().begin(), e.traits().end());
    w.Key("traits").BeginObject();
    for (const auto& [name, json] : sorted) w.Key(name).Raw(json);
    w.EndObject();
  }
  if (!e.properties_json().empty()) w.Key("properties").Raw(e.properties_json());
  if (e.has_order()) {
    const v1::Order& o = e.order();
    w.Key("order").BeginObject();
    w.Key("order_id").String(o.order_id());
    w.Key("status").String(StatusText(o.status()));
    if (!o.channel().empty()) w.Key("channel").String(o.channel());
    if (!o.store_id().empty()) w.Key("store_id").String(o.store_id());
    w.Key("total");
    WriteMoney(o.total(), w);
    w.Key("items").BeginArray();
    for (const v1::OrderItem& item : o.items()) {
      w.BeginObject().Key("sku").String(item.sku()).Key("name").String(item.name());
      w.Key("category").String(item.category()).Key("quantity").Int(item.quantity()).EndObject();
    }
    w.EndArray();
    if (!o.coupon().empty()) w.Key("coupon").String(o.coupon());
    if (!o.campaign().empty()) w.Key("campaign").String(o.campaign());
    w.EndObject();
  }
  if (e.has_social()) {
    const v1::SocialInteraction& s = e.social();
    w.Key("social").BeginObject().Key("platform").String(s.platform()).Key("action").String(s.action());
    w.Key("handle").String(s.handle());
    if (!s.text().empty()) w.Key("text").String(s.text());
    if (!s.post_id().empty()) w.Key("post_id").String(s.post_id());
    if (s.rating() != 0) w.Key("rating").Int(s.rating());
    w.EndObject();
  }
  if (!e.consent().empty()) {
    std::map<std::string, bool> sorted(e.consent().begin(), e.consent().end());
    w.Key("consent").BeginObject();
    for (const auto& [purpose, granted] : sorted) w.Key(purpose).Bool(granted);
    w.EndObject();
  }
  w.EndObject();
}

void WriteMerge(const v1::MergeRecord& m, JsonWriter& w) {
  w.BeginObject();
  w.Key("winner").String(std::to_string(m.winner()));
  w.Key("loser").String(std::to_string(m.loser()));
  w.Key("message_id").String(m.message_id());
  w.Key("event_time").String(FormatTime(m.timestamp_ms()));
  w.Key("merged_at").String(FormatTime(m.merged_at_ms()));
  w.Key("source").BeginObject().Key("topic").String(m.source().topic()).Key("partition").Int(m.source().partition());
  w.Key("offset").Int(m.source().offset()).EndObject();
  std::vector<std::string> evidence;
  for (const v1::Identifier& id : m.evidence()) evidence.push_back(FormatIdentifier(id));
  std::sort(evidence.begin(), evidence.end());
  w.Key("evidence").BeginArray();
  for (const std::string& id : evidence) w.String(id);
  w.EndArray();
  w.EndObject();
}

// The page size of ?limit= (absent: the default).
absl::StatusOr<size_t> LimitParam(const std::map<std::string, std::string>& params) {
  auto it = params.find("limit");
  if (it == params.end()) return kDefaultLimit;
  size_t limit = 0;
  if (!absl::SimpleAtoi(AbslView(it->second), &limit) || limit < 1 || limit > kMaxLimit) {
    return absl::InvalidArgumentError(absl::StrCat("limit: a whole number from 1 to ", kMaxLimit, ", got '", it->second, "'"));
  }
  return limit;
}

// What a {key} path segment names, once resolved.
struct Resolved {
  uint64_t id = 0;                   // the live profile
  std::optional<uint64_t> moved_to;  // set instead when {key} is a merged-away id: redirect
  v1::Profile profile;
};

class Handler {
 public:
  Handler(const profiles::KeyRangeReader* reader, const QueryConfig& config, const SearchContext& search,
          int64_t now_ms, uint32_t scopes, Target target)
      : reader_(reader),
        view_(reader),
        config_(config),
        search_(search),
        now_ms_(now_ms),
        scopes_(scopes),
        target_(std::move(target)) {}

  QueryResponse Profiles() {
    const std::vector<std::string>& s = target_.segments;  // "v1", "profiles", key, [sub]
    if (s.size() < 3 || s.size() > 4) return Error(404, "not_found", "no such endpoint");
    absl::StatusOr<Resolved> resolved = Resolve(s[2]);
    if (!resolved.ok()) return FromStatus(resolved.status());
    if (resolved->moved_to.has_value()) return Redirect(*resolved->moved_to);
    if (s.size() == 3) return Profile(*resolved);
    if (s[3] == "events") return Events(*resolved);
    if (s[3] == "history") return History(*resolved);
    return Error(404, "not_found", absl::StrCat("no endpoint /v1/profiles/{id}/", AbslView(s[3])));
  }

 private:
  bool pii() const { return (scopes_ & kScopeReadPii) != 0; }

  std::string Workspace() const {
    auto it = target_.params.find("workspace");
    return it == target_.params.end() || it->second.empty() ? config_.default_workspace : it->second;
  }

  absl::StatusOr<std::optional<v1::Profile>> Load(uint64_t id) {
    profiles::ProfileStore store(&view_);
    return store.Load(id);
  }

  // The next hop of a merged-away id: the profiles store's redirect, else identity's.
  absl::StatusOr<std::optional<uint64_t>> MovedTo(uint64_t id) {
    profiles::ProfileStore store(&view_);
    ASSIGN_OR_RETURN(std::optional<uint64_t> winner, store.MergedInto(id));
    if (winner.has_value()) return winner;
    ASSIGN_OR_RETURN(std::optional<std::string> redirect, reader_->Get(absl::StrCat("rd/", BigEndian64(id))));
    if (redirect.has_value() && redirect->size() == 8) return ReadBigEndian64(*redirect);
    return std::nullopt;
  }

  absl::StatusOr<Resolved> Resolve(const std::string& key) {
    Resolved out;
    uint64_t id = 0;
    const bool by_id = key.find(':') == std::string::npos;
    if (by_id) {
      if (!absl::SimpleAtoi(AbslView(key), &id) || id == 0) {
        return absl::InvalidArgumentError(absl::StrCat("'", key, "' is neither a profile id nor TYPE:VALUE"));
      }
    } else {
      ASSIGN_OR_RETURN(v1::Identifier identifier, ParseIdentifier(key));
      if (identifier.type() == "email") {
        std::string lower = identifier.value();
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        identifier.set_value(lower);
      }
      ASSIGN_OR_RETURN(std::optional<uint64_t> root, identity::LookupIdentifier(view_, Workspace(), identifier));
      if (!root.has_value()) return absl::NotFoundError(absl::StrCat("no profile has ", key, " in workspace ", Workspace()));
      id = *root;
    }
    // Follow merges: an identifier resolves to the live profile; an id the caller named is redirected.
    for (int hops = 0; hops < 64; ++hops) {
      ASSIGN_OR_RETURN(std::optional<v1::Profile> profile, Load(id));
      if (profile.has_value()) {
        if (by_id && hops > 0) {
          out.moved_to = id;
          return out;
        }
        out.id = id;
        out.profile = *std::move(profile);
        return out;
      }
      ASSIGN_OR_RETURN(std::optional<uint64_t> next, MovedTo(id));
      if (!next.has_value()) break;
      id = *next;
    }
    return absl::NotFoundError(by_id ? absl::StrCat("no profile ", key)
                                     : absl::StrCat(key, " belongs to profile ", id, ", which has no state yet"));
  }

  QueryResponse Redirect(uint64_t winner) {
    std::string location = absl::StrCat("/v1/profiles/", winner);
    for (size_t i = 3; i < target_.segments.size(); ++i) absl::StrAppend(&location, "/", target_.segments[i]);
    if (!target_.raw_query.empty()) absl::StrAppend(&location, "?", target_.raw_query);
    JsonWriter w;
    w.BeginObject().Key("error").BeginObject().Key("code").String("moved");
    w.Key("message").String(absl::StrCat("profile ", target_.segments[2], " was merged into ", winner)).EndObject();
    w.Key("merged_into").String(std::to_string(winner)).EndObject();
    QueryResponse response{308, std::move(w).Take(), {{"Location", location}}};
    return response;
  }

  absl::StatusOr<std::optional<int64_t>> TimeParam(const char* name) {
    auto it = target_.params.find(name);
    if (it == target_.params.end()) return std::nullopt;
    ASSIGN_OR_RETURN(int64_t ms, ParseTimeParam(name, it->second));
    return ms;
  }

  QueryResponse Profile(Resolved& resolved) {
    absl::StatusOr<std::optional<int64_t>> as_of = TimeParam("as_of");
    if (!as_of.ok()) return FromStatus(as_of.status());
    v1::Profile profile = std::move(resolved.profile);
    if (as_of->has_value()) {
      absl::StatusOr<v1::Profile> past = profiles::ProfileAsOf(*reader_, profile.workspace(), resolved.id, **as_of);
      if (!past.ok()) return FromStatus(past.status());
      profile = *std::move(past);
    }
    // Computed traits (as the pipeline's config computes them, at as_of or now) and segment
    // memberships (a past profile has none: they are not in the event store).
    const std::map<std::string, int64_t> segments(profile.segments().begin(), profile.segments().end());
    if (!pii()) MaskProfile(profile);
    std::string json = search_.computed_traits == nullptr
                           ? profiles::ProfileToJson(profile)
                           : profiles::ProfileToJson(profile, absl::FromUnixMillis(as_of->value_or(now_ms_)),
                                                     *search_.computed_traits);
    if (!segments.empty() && json.size() > 1 && json.back() == '}') {
      JsonWriter w;
      w.BeginObject();
      for (const auto& [name, entered_at] : segments) w.Key(name).String(FormatTime(entered_at));
      w.EndObject();
      json.pop_back();
      absl::StrAppend(&json, ",\"segments\":", std::move(w).Take(), "}");
    }
    return QueryResponse{200, std::move(json), {}};
  }

  QueryResponse Events(const Resolved& resolved) {
    profiles::TimelineQuery query;
    query.workspace = resolved.profile.workspace();
    query.profile_ids.push_back(resolved.id);
    query.profile_ids.insert(query.profile_ids.end(), resolved.profile.merged_from().begin(),
                             resolved.profile.merged_from().end());
    absl::StatusOr<std::optional<int64_t>> since = TimeParam("since");
    if (!since.ok()) return FromStatus(since.status());
    absl::StatusOr<std::optional<int64_t>> until = TimeParam("until");
    if (!until.ok()) return FromStatus(until.status());
    query.since_ms = *since;
    query.until_ms = *until;
    if (auto it = target_.params.find("type"); it != target_.params.end()) query.type = it->second;
    if (auto it = target_.params.find("cursor"); it != target_.params.end()) query.cursor = it->second;
    absl::StatusOr<size_t> limit = LimitParam(target_.params);
    if (!limit.ok()) return FromStatus(limit.status());
    query.limit = *limit;
    absl::StatusOr<profiles::TimelinePage> page = profiles::ReadTimeline(*reader_, query);
    if (!page.ok()) return FromStatus(page.status());
    JsonWriter w;
    w.BeginObject().Key("profile_id").String(std::to_string(resolved.id)).Key("events").BeginArray();
    for (profiles::TimelineEntry& entry : page->entries) {
      if (!pii()) MaskEvent(entry.event);
      WriteEvent(entry, w);
    }
    w.EndArray().Key("next_cursor");
    if (page->next_cursor.empty()) {
      w.Null();
    } else {
      w.String(page->next_cursor);
    }
    w.EndObject();
    return QueryResponse{200, std::move(w).Take(), {}};
  }

  QueryResponse History(const Resolved& resolved) {
    absl::StatusOr<std::vector<v1::MergeRecord>> merges = profiles::MergeHistory(*reader_, resolved.id);
    if (!merges.ok()) return FromStatus(merges.status());
    JsonWriter w;
    w.BeginObject().Key("profile_id").String(std::to_string(resolved.id));
    w.Key("first_seen");
    if (resolved.profile.first_seen_ms() != 0) {
      w.String(FormatTime(resolved.profile.first_seen_ms()));
    } else {
      w.Null();
    }
    w.Key("merges").BeginArray();
    for (v1::MergeRecord& merge : *merges) {
      if (!pii()) MaskMergeRecord(merge);
      WriteMerge(merge, w);
    }
    w.EndArray();
    absl::Status identity_history = WriteIdentityHistory(resolved, w);
    if (!identity_history.ok()) return FromStatus(identity_history);
    w.EndObject();
    return QueryResponse{200, std::move(w).Take(), {}};
  }

  std::string Identifier(const std::string& text) const { return pii() ? text : MaskIdentifierText(text); }

  void IdentifierArray(const std::vector<std::string>& identifiers, JsonWriter& w) const {
    w.BeginArray();
    for (const std::string& id : identifiers) w.String(Identifier(id));
    w.EndArray();
  }

  // "links", "refused" and "splits" of the history, from the identity store: the link log as
  // `tessera profile explain` reads it (the events that linked each identifier), the links the rules
  // refused around the profile, and the splits it took part in (either side).
  absl::Status WriteIdentityHistory(const Resolved& resolved, JsonWriter& w) {
    const identity::PrefixScan scan = [this](std::string_view prefix, const profiles::KeyRangeReader::Visitor& visit) {
      return reader_->Scan(prefix, "", visit);
    };
    identity::ProfileExplanation explanation;
    if (resolved.profile.identifiers_size() > 0) {
      ASSIGN_OR_RETURN(const v1::Identifier identifier, ParseIdentifier(resolved.profile.identifiers(0)));
      absl::StatusOr<identity::ProfileExplanation> why =
          identity::ExplainProfile(view_, scan, resolved.profile.workspace(), identifier);
      if (why.ok()) {
        explanation = *std::move(why);
      } else if (!absl::IsNotFound(why.status())) {
        return why.status();
      }  // NotFound: the identity store has not seen the identifier yet (a distributed store lagging)
    }
    w.Key("links").BeginArray();
    for (const identity::ExplainedLink& link : explanation.links) {
      w.BeginObject();
      w.Key("linked");
      IdentifierArray(link.linked, w);
      w.Key("with");
      IdentifierArray(link.with, w);
      w.Key("message_id").String(link.event.message_id);
      w.Key("event_time").String(FormatTime(link.event.event_time_ms));
      w.Key("logged").Bool(link.logged);
      if (link.logged) {
        w.Key("source").BeginObject().Key("topic").String(link.event.source_topic);
        w.Key("partition").Int(link.event.source_partition).Key("offset").Int(link.event.source_offset).EndObject();
      }
      w.EndObject();
    }
    w.EndArray();
    w.Key("refused").BeginArray();
    for (const identity::IdentityViolation& refused : explanation.refused) {
      w.BeginObject();
      w.Key("rule").String(refused.rule);
      w.Key("identifier").String(Identifier(refused.identifier));
      w.Key("held_by").String(std::to_string(refused.held_by));
      w.Key("message_id").String(refused.message_id);
      w.Key("event_time").String(FormatTime(refused.event_time_ms));
      // The detail names identifiers in free text, so it is PII-scoped as a whole.
      if (pii()) w.Key("detail").String(refused.detail);
      w.EndObject();
    }
    w.EndArray();
    ASSIGN_OR_RETURN(std::vector<identity::SplitRecord> splits, identity::ReadSplits(scan, resolved.id));
    w.Key("splits").BeginArray();
    for (const identity::SplitRecord& split : splits) {
      w.BeginObject();
      w.Key("profile_id").String(std::to_string(split.profile_id));
      w.Key("new_ids").BeginArray();
      for (uint64_t id : split.new_ids) w.String(std::to_string(id));
      w.EndArray();
      w.Key("identifiers").BeginObject();
      for (const auto& [id, identifiers] : split.identifiers) {
        w.Key(std::to_string(id));
        IdentifierArray(identifiers, w);
      }
      w.EndObject();
      // What was removed names identifiers too ("link A--B"): shown with read_pii only.
      if (pii()) w.Key("removed").String(split.removed);
      w.Key("removed_events").BeginArray();
      for (const std::string& message_id : split.removed_events) w.String(message_id);
      w.EndArray();
      w.Key("by").String(split.by);
      w.Key("at").String(FormatTime(split.at_ms));
      w.EndObject();
    }
    w.EndArray();
    return absl::OkStatus();
  }

  const profiles::KeyRangeReader* reader_;
  ReaderView view_;
  const QueryConfig& config_;
  const SearchContext& search_;
  const int64_t now_ms_;
  const uint32_t scopes_;
  const Target target_;
};

// A counter's key suffix after "es/" <workspace> '\0'.
void AddEventCounts(const profiles::KeyRangeReader& reader, JsonWriter& w, int64_t& total) {
  std::map<std::string, std::map<std::string, int64_t>> by_workspace;
  absl::Status ignored = reader.Scan(profiles::kEventStatsPrefix, "", [&](std::string_view key, std::string_view value) {
    const std::string_view rest = key.substr(profiles::kEventStatsPrefix.size());
    const size_t nul = rest.find('\0');
    if (nul == std::string_view::npos || value.size() != 8) return true;
    const std::string_view name = rest.substr(nul + 1);
    if (name.substr(0, 7) != "events/") return true;
    const int64_t count = static_cast<int64_t>(ReadBigEndian64(value));
    by_workspace[std::string(rest.substr(0, nul))][std::string(name.substr(7))] += count;
    total += count;
    return true;
  });
  ignored.IgnoreError();  // a failed scan shows as zero counts; stats are informational
  w.Key("events_by_workspace").BeginObject();
  for (const auto& [workspace, channels] : by_workspace) {
    w.Key(workspace).BeginObject();
    for (const auto& [channel, count] : channels) w.Key(channel).Int(count);
    w.EndObject();
  }
  w.EndObject();
}

// Counts profiles, identifiers by type and merges by scanning their keys.
std::string CountKeys(const profiles::KeyRangeReader& reader) {
  int64_t profiles = 0;
  int64_t merges = 0;
  int64_t identifiers = 0;
  std::map<std::string, int64_t> identifiers_by_type;
  absl::Status ignored = reader.Scan("pf/", "", [&](std::string_view, std::string_view) {
    ++profiles;
    return true;
  });
  ignored.IgnoreError();
  ignored = reader.Scan("mg/", "", [&](std::string_view, std::string_view) {
    ++merges;
    return true;
  });
  ignored.IgnoreError();
  ignored = reader.Scan("ix/", "", [&](std::string_view key, std::string_view) {
    const size_t nul = key.find('\0');
    if (nul == std::string_view::npos) return true;
    const std::string_view identifier = key.substr(nul + 1);
    ++identifiers;
    ++identifiers_by_type[std::string(identifier.substr(0, identifier.find(':')))];
    return true;
  });
  ignored.IgnoreError();  // stats are informational: a failed scan counts what it saw
  JsonWriter w;
  w.BeginObject();
  w.Key("profiles").Int(profiles);
  w.Key("identifiers").Int(identifiers);
  w.Key("identifiers_by_type").BeginObject();
  for (const auto& [type, count] : identifiers_by_type) w.Key(type).Int(count);
  w.EndObject();
  w.Key("merges").Int(merges);
  w.EndObject();
  return std::move(w).Take();
}

// The first PII trait (masking.h) a condition reads, or "".
std::string PiiTraitIn(const profiles::Condition& condition) {
  if (condition.kind == profiles::Condition::Kind::kTrait && IsPiiTrait(condition.name)) return condition.name;
  for (const profiles::Condition& child : condition.children) {
    std::string found = PiiTraitIn(child);
    if (!found.empty()) return found;
  }
  return "";
}

void WriteCursor(const std::string& cursor, JsonWriter& w) {
  if (cursor.empty()) {
    w.Null();
  } else {
    w.String(cursor);
  }
}

// The body of POST /v1/profiles/search.
struct SearchBody {
  profiles::Condition filter;
  MatchQuery query;
};

constexpr std::string_view kSearchUsage =
    R"(the body is a JSON object: {"filter": {"trait": "city", "eq": "Bangkok"}, "limit": 50, "cursor": "...", "count": true, "workspace": "..."})";

absl::StatusOr<SearchBody> ParseSearchBody(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  if (parser.parse(text.data(), text.size()).get(body) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(AbslView(kSearchUsage));
  }
  SearchBody out;
  bool has_filter = false;
  std::optional<bool> count;
  for (auto [key, value] : body) {
    if (key == "filter") {
      // The condition language is YAML or JSON: a string holds its text, an object is its JSON.
      std::string_view condition_text;
      std::string minified;
      if (value.get(condition_text) != simdjson::SUCCESS) {
        if (!value.is_object()) return absl::InvalidArgumentError("filter: a condition object or its text");
        minified = simdjson::minify(value);
        condition_text = minified;
      }
      absl::StatusOr<profiles::Condition> parsed = profiles::ParseCondition(condition_text);
      if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat("filter: ", parsed.status().message()));
      out.filter = *std::move(parsed);
      has_filter = true;
    } else if (key == "limit") {
      int64_t limit = 0;
      if (value.get(limit) != simdjson::SUCCESS || limit < 1 || limit > static_cast<int64_t>(kMaxLimit)) {
        return absl::InvalidArgumentError(absl::StrCat("limit: a whole number from 1 to ", kMaxLimit));
      }
      out.query.limit = static_cast<size_t>(limit);
    } else if (key == "cursor" || key == "workspace") {
      std::string_view text_value;
      if (value.get(text_value) != simdjson::SUCCESS) {
        return absl::InvalidArgumentError(absl::StrCat(AbslView(key), ": a string"));
      }
      (key == "cursor" ? out.query.cursor : out.query.workspace) = std::string(text_value);
    } else if (key == "count") {
      bool flag = false;
      if (value.get(flag) != simdjson::SUCCESS) return absl::InvalidArgumentError("count: true or false");
      count = flag;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown key '", AbslView(key), "'; ", AbslView(kSearchUsage)));
    }
  }
  if (!has_filter) return absl::InvalidArgumentError(absl::StrCat("filter is missing; ", AbslView(kSearchUsage)));
  // The count is asked for ("count": true): it is a scan of every profile (about 5 CPU-seconds per
  // million), while a page costs only the profiles stepped over to fill it, so a search's first page
  // comes back in milliseconds unless the caller wants the total.
  out.query.count = count.value_or(false);
  return out;
}

}  // namespace

bool IsQueryPath(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  for (std::string_view root : {"/v1/profiles", "/v1/stats", "/v1/segments", "/v1/export"}) {
    if (path.substr(0, root.size()) == root && (path.size() == root.size() || path[root.size()] == '/')) return true;
  }
  return false;
}

QueryApi::QueryApi(const profiles::KeyRangeReader* reader, QueryConfig config, const Clock* clock)
    : reader_(reader), config_(std::move(config)), clock_(clock) {}

QueryResponse QueryApi::Handle(const QueryRequest& request) const {
  absl::StatusOr<Target> target = ParseTarget(request.target);
  if (!target.ok()) return FromStatus(target.status());
  const std::vector<std::string>& s = target->segments;
  if (s.size() < 2 || s[0] != "v1") return Error(404, "not_found", "no such endpoint");

  // Authentication before anything else, so an anonymous caller learns nothing about the data.
  constexpr std::string_view kBearer = "Bearer ";
  if (request.authorization.substr(0, kBearer.size()) != kBearer) {
    QueryResponse response = Error(401, "unauthorized", "send Authorization: Bearer <query token>");
    response.headers.push_back({"WWW-Authenticate", "Bearer"});
    return response;
  }
  auto token = config_.scopes_by_token.find(AbslView(request.authorization.substr(kBearer.size())));
  if (token == config_.scopes_by_token.end()) {
    QueryResponse response = Error(401, "unauthorized", "unknown token");
    response.headers.push_back({"WWW-Authenticate", "Bearer error=\"invalid_token\""});
    return response;
  }
  const uint32_t scopes = token->second;
  auto require = [&](uint32_t scope, std::string_view name) -> std::optional<QueryResponse> {
    if ((scopes & scope) != 0) return std::nullopt;
    return Error(403, "forbidden", absl::StrCat("this token lacks the ", AbslView(name), " scope"));
  };

  const bool get = request.method == "GET" || request.method == "HEAD";
  if (s[1] == "profiles" && s.size() == 3 && s[2] == "search") {
    if (request.method != "POST") return Error(405, "method_not_allowed", "search takes POST");
    if (auto denied = require(kScopeReadProfiles, "read_profiles")) return *denied;
    return Search(request, scopes);
  }
  if (!get) return Error(405, "method_not_allowed", "this endpoint takes GET");
  if (s[1] == "profiles") {
    if (auto denied = require(kScopeReadProfiles, "read_profiles")) return *denied;
    return Handler(reader_, config_, search_, clock_->NowMillis(), scopes, *std::move(target)).Profiles();
  }
  if (s[1] == "stats" && s.size() == 2) {
    if (auto denied = require(kScopeReadProfiles, "read_profiles")) return *denied;
    return Stats();
  }
  if (s[1] == "segments") {
    if (auto denied = require(kScopeReadProfiles, "read_profiles")) return *denied;
    return Segments(s, target->params, scopes);
  }
  if (s[1] == "export") {
    if (auto denied = require(kScopeExport, "export")) return *denied;
    return Error(501, "not_implemented", "export over HTTP is not served yet; use tessera export");
  }
  return Error(404, "not_found", "no such endpoint");
}

QueryResponse QueryApi::Stats() const {
  const int64_t now = clock_->NowMillis();
  std::string counts;
  int64_t counted_at = 0;
  {
    absl::MutexLock lock(&stats_mu_);
    if (stats_counted_at_ms_ < 0 || now - stats_counted_at_ms_ >= stats_max_age_ms_) {
      stats_counts_json_ = CountKeys(*reader_);
      stats_counted_at_ms_ = now;
    }
    counts = stats_counts_json_;
    counted_at = stats_counted_at_ms_;
  }
  JsonWriter w;
  w.BeginObject();
  int64_t events = 0;
  AddEventCounts(*reader_, w, events);
  w.Key("events").Int(events);
  w.Key("counts").Raw(counts);
  w.Key("counted_at").String(FormatTime(counted_at));
  w.EndObject();
  return QueryResponse{200, std::move(w).Take(), {}};
}

QueryResponse QueryApi::Search(const QueryRequest& request, uint32_t scopes) const {
  absl::StatusOr<SearchBody> body = ParseSearchBody(request.body);
  if (!body.ok()) return FromStatus(body.status());
  const bool pii = (scopes & kScopeReadPii) != 0;
  // A filter is an oracle: without read_pii, `email gt "s"` would reveal a masked value by halves.
  if (const std::string trait = PiiTraitIn(body->filter); !pii && !trait.empty()) {
    return Error(403, "forbidden", absl::StrCat("filtering on the PII trait '", trait, "' needs the read_pii scope"));
  }
  const ProfilePredicate predicate =
      FilterPredicate(std::move(body->filter), search_, absl::FromUnixMillis(clock_->NowMillis()));
  absl::StatusOr<MatchPage> page = FindProfiles(*reader_, predicate, body->query);
  if (!page.ok()) return FromStatus(page.status());
  JsonWriter w;
  w.BeginObject().Key("count");
  if (page->count.has_value()) {
    w.Int(*page->count);
  } else {
    w.Null();
  }
  w.Key("profiles").BeginArray();
  for (v1::Profile& profile : page->profiles) {
    if (!pii) MaskProfile(profile);
    w.Raw(profiles::ProfileToJson(profile));
  }
  w.EndArray().Key("next_cursor");
  WriteCursor(page->next_cursor, w);
  w.EndObject();
  return QueryResponse{200, std::move(w).Take(), {}};
}

absl::StatusOr<std::pair<std::map<std::string, int64_t>, int64_t>> QueryApi::SegmentMembers() const {
  const int64_t now = clock_->NowMillis();
  absl::MutexLock lock(&stats_mu_);
  if (segments_counted_at_ms_ < 0 || now - segments_counted_at_ms_ >= stats_max_age_ms_) {
    absl::StatusOr<std::map<std::string, int64_t>> counted = CountSegmentMembers(*reader_, "");
    if (!counted.ok()) return counted.status();
    segment_members_ = *std::move(counted);
    segments_counted_at_ms_ = now;
  }
  return std::make_pair(segment_members_, segments_counted_at_ms_);
}

QueryResponse QueryApi::Segments(const std::vector<std::string>& path, const std::map<std::string, std::string>& params,
                                 uint32_t scopes) const {
  if (path.size() != 2 && (path.size() != 4 || path[3] != "members")) {
    return Error(404, "not_found", "no such endpoint (GET /v1/segments or /v1/segments/{name}/members)");
  }
  if (path.size() == 2) {
    absl::StatusOr<std::pair<std::map<std::string, int64_t>, int64_t>> counts = SegmentMembers();
    if (!counts.ok()) return FromStatus(counts.status());
    const std::map<std::string, int64_t>& members = counts->first;
    auto members_of = [&](const std::string& name) {
      auto it = members.find(name);
      return it == members.end() ? int64_t{0} : it->second;
    };
    JsonWriter w;
    w.BeginObject().Key("segments").BeginArray();
    std::set<std::string> listed;
    for (const profiles::SegmentDefinition& segment : search_.segments) {
      listed.insert(segment.name);
      w.BeginObject().Key("name").String(segment.name).Key("description").String(segment.description);
      w.Key("condition").Raw(ConditionToJson(segment.condition)).Key("configured").Bool(true);
      w.Key("members").Int(members_of(segment.name)).EndObject();
    }
    // Memberships of a segment no longer configured stay until each profile is evaluated again.
    for (const auto& [name, count] : members) {
      if (listed.contains(name)) continue;
      w.BeginObject().Key("name").String(name).Key("configured").Bool(false).Key("members").Int(count).EndObject();
    }
    w.EndArray().Key("counted_at").String(FormatTime(counts->second)).EndObject();
    return QueryResponse{200, std::move(w).Take(), {}};
  }

  const std::string& name = path[2];
  const bool configured = std::any_of(search_.segments.begin(), search_.segments.end(),
                                      [&](const profiles::SegmentDefinition& segment) { return segment.name == name; });
  MatchQuery query;
  auto param = [&](const char* key) {
    auto it = params.find(key);
    return it == params.end() ? std::string() : it->second;
  };
  absl::StatusOr<size_t> limit = LimitParam(params);
  if (!limit.ok()) return FromStatus(limit.status());
  query.limit = *limit;
  query.cursor = param("cursor");
  query.workspace = param("workspace");
  absl::StatusOr<MatchPage> page = FindProfiles(*reader_, SegmentPredicate(name), query);
  if (!page.ok()) return FromStatus(page.status());
  // A name neither configured nor held by anyone (the first page scanned every profile to know).
  if (!configured && query.cursor.empty() && page->profiles.empty()) {
    return Error(404, "not_found", absl::StrCat("no segment '", name, "'"));
  }
  const bool pii = (scopes & kScopeReadPii) != 0;
  JsonWriter w;
  w.BeginObject().Key("segment").String(name).Key("members").BeginArray();
  for (v1::Profile& profile : page->profiles) {
    if (!pii) MaskProfile(profile);
    w.BeginObject().Key("profile_id").String(std::to_string(profile.id()));
    w.Key("workspace").String(profile.workspace());
    w.Key("entered_at").String(FormatTime(profile.segments().at(name)));
    w.Key("identifiers").BeginArray();
    for (const std::string& identifier : profile.identifiers()) w.String(identifier);
    w.EndArray().EndObject();
  }
  w.EndArray().Key("next_cursor");
  WriteCursor(page->next_cursor, w);
  w.EndObject();
  return QueryResponse{200, std::move(w).Take(), {}};
}

}  // namespace tessera::query
