#include "profiles/profile_state.h"

#include <algorithm>
#include <array>
#include <bitset>
#include <iterator>
#include <map>
#include <memory>
#include <string_view>
#include <utility>

#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "common/clock.h"
#include "common/deterministic_bytes.h"
#include "common/currency.h"
#include "common/identifier.h"
#include "common/json_writer.h"
#include "profiles/message_key.h"
#include "profiles/order_totals.h"

namespace tessera::profiles {
namespace {

std::string_view ChannelName(v1::Channel channel) {
  switch (channel) {
    case v1::CHANNEL_WEB: return "web";
    case v1::CHANNEL_SOCIAL: return "social";
    case v1::CHANNEL_PURCHASE: return "purchase";
    default: return "unknown";
  }
}

// A profile has been seen once it counted an event; first/last seen are meaningless before that.
// (Testing the times for 0 would lose an event stamped at the epoch.)
bool HasSeenEvents(const v1::Profile& profile) { return !profile.event_counts().empty(); }

// Inserts into the sorted unique `identifiers` with a binary search; O(log n) compares plus a
// pointer rotation, never a re-sort.
void InsertSorted(std::string value, google::protobuf::RepeatedPtrField<std::string>& identifiers) {
  auto pos = std::lower_bound(identifiers.begin(), identifiers.end(), value);
  if (pos != identifiers.end() && *pos == value) return;
  const int index = static_cast<int>(pos - identifiers.begin());
  *identifiers.Add() = std::move(value);
  for (int i = identifiers.size() - 1; i > index; --i) identifiers.SwapElements(i, i - 1);
}

// Last-writer-wins order: event time, then message id (hashed: profiles/message_key.h), then
// (only for two different values stamped identically, which deduplicated input never produces, or
// two ids that hash alike) the value itself, so the winner never depends on which side was applied
// first.
bool TraitWins(const v1::TraitValue& candidate, const v1::TraitValue& current) {
  if (candidate.timestamp_ms() != current.timestamp_ms()) return candidate.timestamp_ms() > current.timestamp_ms();
  if (const uint32_t x = TieKey(candidate), y = TieKey(current); x != y) return x > y;
  return candidate.json() > current.json();
}

void MergeTrait(const std::string& name, const v1::TraitValue& candidate, v1::Profile& profile) {
  auto& traits = *profile.mutable_traits();
  auto it = traits.find(name);
  if (it == traits.end()) {
    traits[name] = candidate;
  } else if (TraitWins(candidate, it->second)) {
    it->second = candidate;
  }
}

// Two states of one order stamped in the same millisecond (a shop's records often carry whole
// seconds): the later status in the order their names sort, cancelled < completed < refunded, so a
// refund beats its completion. Ingest names an order's message "order:<id>:<status>", and until
// 2026-12-07 the summary kept that id to compare, which came to the same; it adds nothing a
// summary does not hold, so it is no longer stored.
int StatusTieRank(v1::OrderStatus status) {
  switch (status) {
    case v1::ORDER_STATUS_CANCELLED:
      return 1;
    case v1::ORDER_STATUS_COMPLETED:
      return 2;
    case v1::ORDER_STATUS_REFUNDED:
      return 3;
    default:
      return 0;
  }
}

bool OrderWins(const v1::OrderSummary& candidate, const v1::OrderSummary& current) {
  if (candidate.timestamp_ms() != current.timestamp_ms()) return candidate.timestamp_ms() > current.timestamp_ms();
  if (const int x = StatusTieRank(candidate.status()), y = StatusTieRank(current.status()); x != y) return x > y;
  return DeterministicBytes(candidate) > DeterministicBytes(current);
}

bool ConsentWins(const v1::ConsentState& candidate, const v1::ConsentState& current) {
  if (candidate.timestamp_ms() != current.timestamp_ms()) return candidate.timestamp_ms() > current.timestamp_ms();
  if (const uint32_t x = TieKey(candidate), y = TieKey(current); x != y) return x > y;
  return candidate.granted() < current.granted();  // same stamp, two answers: withdrawn wins
}

void MergeConsent(const std::string& purpose, const v1::ConsentState& candidate, v1::Profile& profile) {
  auto& consent = *profile.mutable_consent();
  auto it = consent.find(purpose);
  if (it == consent.end()) {
    consent[purpose] = candidate;
  } else if (ConsentWins(candidate, it->second)) {
    it->second = candidate;
  }
}

void MergeOrder(const std::string& order_id, const v1::OrderSummary& candidate, const NamedTimeZone& zone,
                v1::Profile& profile) {
  auto it = profile.orders().find(order_id);
  if (it == profile.orders().end() || OrderWins(candidate, it->second)) SetOrder(order_id, candidate, zone, profile);
}

void MergeSeen(int64_t first_ms, int64_t last_ms, bool target_has_seen, v1::Profile& profile) {
  if (!target_has_seen) {
    profile.set_first_seen_ms(first_ms);
    profile.set_last_seen_ms(last_ms);
    return;
  }
  profile.set_first_seen_ms(std::min(profile.first_seen_ms(), first_ms));
  profile.set_last_seen_ms(std::max(profile.last_seen_ms(), last_ms));
}

void AddCounts(const google::protobuf::Map<std::string, int64_t>& from,
               google::protobuf::Map<std::string, int64_t>& into) {
  for (const auto& [key, count] : from) into[key] += count;
}

template <typename Value>
std::vector<std::pair<std::string, Value>> SortedEntries(const google::protobuf::Map<std::string, Value>& map) {
  std::vector<std::pair<std::string, Value>> entries(map.begin(), map.end());
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return entries;
}

void WriteCounts(const google::protobuf::Map<std::string, int64_t>& counts, JsonWriter& w) {
  w.BeginObject();
  for (const auto& [key, count] : SortedEntries(counts)) w.Key(key).Int(count);
  w.EndObject();
}

void WriteTime(bool set, int64_t ms, JsonWriter& w) {
  if (!set) {
    w.Null();
    return;
  }
  w.String(FormatUtcMillis(ms));
}

// Money as a decimal string with the currency's exponent; a currency ingest would never have let
// through (no exponent known) is written as plain minor units rather than guessed at.
void WriteMoneyByCurrency(const google::protobuf::Map<std::string, int64_t>& by_currency, JsonWriter& w) {
  w.BeginObject();
  for (const auto& [currency, minor_units] : SortedEntries(by_currency)) {
    w.Key(currency).String(FormatMinorUnits(minor_units, CurrencyExponent(currency).value_or(0)));
  }
  w.EndObject();
}

// The groups of the profile's JSON fields, each rendered from its own part of the proto: equal
// parts render equal JSON, so ChangedFields renders only the groups whose parts differ.
enum JsonGroup : size_t {
  kIdGroup, kWorkspaceGroup, kIdentifiersGroup, kTraitsGroup, kFirstSeenGroup, kLastSeenGroup, kEventCountsGroup,
  kEventTypeCountsGroup, kOrdersGroup /* orders_count .. items_by_category */, kSocialGroup, kTrackEventsGroup,
  kConsentGroup, kComputedGroup, kMergedFromGroup, kVersionGroup, kJsonGroupCount
};
using JsonGroups = std::bitset<kJsonGroupCount>;

// The one field of each group that has one ("" for the orders group's six and "computed"): the
// names JsonFields writes and ChangedFields lists.
constexpr std::array<std::string_view, kJsonGroupCount> kOneFieldGroupNames = {
    "id", "workspace", "identifiers", "traits", "first_seen", "last_seen", "event_counts", "event_type_counts",
    "", "social", "track_events", "consent", "", "merged_from", "version"};

// The groups ChangedFields names without rendering (it says when that holds): all of one field
// but social, whose keys are split and summed, so two different maps can render alike.
const JsonGroups kNamedWithoutRendering = [] {
  JsonGroups groups;
  for (size_t group = 0; group < kJsonGroupCount; ++group) groups[group] = !kOneFieldGroupNames[group].empty();
  groups[kSocialGroup] = false;
  return groups;
}();

// The profile's JSON as (field name, JSON value text) in output order. ProfileToJson joins them;
// ChangedFields compares them, so both always agree on what a field is.
// `computed`, when set, is inserted as the "computed" field before merged_from. With `only`, just
// the fields of those groups.
std::vector<std::pair<std::string_view, std::string>> JsonFields(const v1::Profile& profile,
                                                                 const std::string* computed = nullptr,
                                                                 const JsonGroups* only = nullptr) {
  std::vector<std::pair<std::string_view, std::string>> fields;
  fields.reserve(20);
  const auto add = [&fields](std::string_view name, JsonWriter&& w) {
    fields.emplace_back(name, std::move(w).Take());
  };
  const auto add_one = [&add](JsonGroup group, JsonWriter&& w) { add(kOneFieldGroupNames[group], std::move(w)); };
  const auto want = [only](JsonGroup group) { return only == nullptr || only->test(group); };

  if (want(kIdGroup)) add_one(kIdGroup, std::move(JsonWriter().String(std::to_string(profile.id()))));
  if (want(kWorkspaceGroup)) add_one(kWorkspaceGroup, std::move(JsonWriter().String(profile.workspace())));
  if (want(kIdentifiersGroup)) {
    JsonWriter w;
    w.BeginArray();
    for (const std::string& identifier : profile.identifiers()) w.String(identifier);
    w.EndArray();
    add_one(kIdentifiersGroup, std::move(w));
  }
  if (want(kTraitsGroup)) {
    JsonWriter w;
    w.BeginObject();
    for (const auto& [name, value] : SortedEntries(profile.traits())) {
      w.Key(name);
      // Stored values are canonical JSON from ingest; an empty one would break the document.
      if (value.json().empty()) {
        w.Null();
      } else {
        w.Raw(value.json());
      }
    }
    w.EndObject();
    add_one(kTraitsGroup, std::move(w));
  }
  const bool seen = HasSeenEvents(profile);
  if (want(kFirstSeenGroup)) {
    JsonWriter w;
    WriteTime(seen, profile.first_seen_ms(), w);
    add_one(kFirstSeenGroup, std::move(w));
  }
  if (want(kLastSeenGroup)) {
    JsonWriter w;
    WriteTime(seen, profile.last_seen_ms(), w);
    add_one(kLastSeenGroup, std::move(w));
  }
  if (want(kEventCountsGroup)) {
    JsonWriter w;
    WriteCounts(profile.event_counts(), w);
    add_one(kEventCountsGroup, std::move(w));
  }
  if (want(kEventTypeCountsGroup)) {
    JsonWriter w;
    WriteCounts(profile.event_type_counts(), w);
    add_one(kEventTypeCountsGroup, std::move(w));
  }

  if (want(kOrdersGroup)) {
    // Order-derived fields, from the totals: only an order's current (last-written) status
    // counts, so a refund replaces the completed order's contribution instead of adding to it.
    v1::OrderTotals scratch;
    const v1::OrderTotals& totals = OrderTotalsOf(profile, scratch);
    add("orders_count", std::move(JsonWriter().Int(totals.completed())));
    add("refunds_count", std::move(JsonWriter().Int(totals.refunded())));
    add("cancelled_count", std::move(JsonWriter().Int(totals.cancelled())));
    {
      JsonWriter w;
      WriteMoneyByCurrency(totals.spend(), w);
      add("total_spend", std::move(w));
    }
    {
      JsonWriter w;
      WriteMoneyByCurrency(totals.refunded_money(), w);
      add("refunded", std::move(w));
    }
    {
      JsonWriter w;
      WriteCounts(totals.items_by_category(), w);
      add("items_by_category", std::move(w));
    }
  }
  if (want(kSocialGroup)) {
    // social_counts keys are "platform.action"; actions never contain '.', platforms might.
    std::map<std::string, std::map<std::string, int64_t>> social;
    for (const auto& [key, count] : profile.social_counts()) {
      const size_t dot = key.rfind('.');
      if (dot == std::string::npos) {
        social[key][""] += count;
      } else {
        social[key.substr(0, dot)][key.substr(dot + 1)] += count;
      }
    }
    JsonWriter w;
    w.BeginObject();
    for (const auto& [platform, actions] : social) {
      w.Key(platform).BeginObject();
      for (const auto& [action, count] : actions) w.Key(action).Int(count);
      w.EndObject();
    }
    w.EndObject();
    add_one(kSocialGroup, std::move(w));
  }
  if (want(kTrackEventsGroup)) {
    JsonWriter w;
    WriteCounts(profile.track_event_counts(), w);
    add_one(kTrackEventsGroup, std::move(w));
  }
  if (want(kConsentGroup)) {
    JsonWriter w;
    w.BeginObject();
    for (const auto& [purpose, state] : SortedEntries(profile.consent())) {
      w.Key(purpose).BeginObject();
      w.Key("granted").Bool(state.granted());
      w.Key("at");
      WriteTime(true, state.timestamp_ms(), w);
      w.EndObject();
    }
    w.EndObject();
    add_one(kConsentGroup, std::move(w));
  }
  if (computed != nullptr && want(kComputedGroup)) fields.emplace_back("computed", *computed);
  if (want(kMergedFromGroup)) {
    JsonWriter w;
    w.BeginArray();
    for (uint64_t id : profile.merged_from()) w.String(std::to_string(id));
    w.EndArray();
    add_one(kMergedFromGroup, std::move(w));
  }
  if (want(kVersionGroup)) add_one(kVersionGroup, std::move(JsonWriter().Uint(profile.version())));
  return fields;
}

// One order line per SKU (the item name when the SKU is empty): favourite products and categories.
void AddOrderLines(const v1::Order& order, v1::OrderSummary& summary) {
  auto& lines = *summary.mutable_lines();
  for (const v1::OrderItem& item : order.items()) {
    const std::string& key = item.sku().empty() ? item.name() : item.sku();
    if (key.empty()) continue;
    v1::OrderLine& line = lines[key];
    line.set_quantity(line.quantity() + item.quantity());
    line.set_spend_minor(line.spend_minor() + item.quantity() * item.unit_price_minor());
    if (line.category().empty()) line.set_category(item.category());
    if (line.name().empty()) line.set_name(item.name());
  }
}

}  // namespace

void ApplyEvent(const v1::Event& event, v1::Profile& profile) {
  ApplyEvent(event, profile, DefaultComputedTraitsConfig());
}

void ApplyEvent(const v1::Event& event, v1::Profile& profile, const ComputedTraitsConfig& config) {
  if (profile.workspace().empty()) profile.set_workspace(event.workspace());
  for (const v1::Identifier& identifier : event.identifiers()) {
    if (identifier.type().empty() || identifier.value().empty()) continue;
    InsertSorted(FormatIdentifier(identifier), *profile.mutable_identifiers());
  }
  for (const auto& [name, json] : event.traits()) {
    v1::TraitValue value;
    value.set_json(json);
    value.set_timestamp_ms(event.timestamp_ms());
    value.set_message_key(MessageKey(event.message_id()));
    MergeTrait(name, value, profile);
  }
  for (const auto& [purpose, granted] : event.consent()) {
    v1::ConsentState state;
    state.set_granted(granted);
    state.set_timestamp_ms(event.timestamp_ms());
    state.set_message_key(MessageKey(event.message_id()));
    MergeConsent(purpose, state, profile);
  }
  const std::optional<int32_t> previous_last_seen_day =
      HasSeenEvents(profile) ? std::optional<int32_t>(UtcDayNumber(profile.last_seen_ms())) : std::nullopt;
  MergeSeen(event.timestamp_ms(), event.timestamp_ms(), HasSeenEvents(profile), profile);

  const std::string channel(ChannelName(event.channel()));
  ++(*profile.mutable_event_counts())[channel];
  ++(*profile.mutable_event_type_counts())[channel + "." + event.type()];

  if (event.channel() == v1::CHANNEL_WEB && event.type() == "track" && !event.name().empty()) {
    ++(*profile.mutable_track_event_counts())[event.name()];
  }
  if (event.channel() == v1::CHANNEL_SOCIAL) {
    const std::string& action = event.social().action().empty() ? event.type() : event.social().action();
    ++(*profile.mutable_social_counts())[event.social().platform() + "." + action];
  }
  if (!OrderIdOf(event).empty()) {
    const v1::Order& order = event.order();
    v1::OrderSummary summary;
    summary.set_status(order.status());
    *summary.mutable_total() = order.total();
    summary.set_timestamp_ms(event.timestamp_ms());
    summary.set_channel(order.channel());
    summary.set_coupon(order.coupon());
    for (const v1::OrderItem& item : order.items()) {
      (*summary.mutable_category_quantities())[item.category()] += item.quantity();
    }
    AddOrderLines(order, summary);
    MergeOrder(order.order_id(), summary, ProfileTimeZone(profile, config), profile);
  } else if (event.traits().contains("timezone") || (!profile.has_order_totals() && !profile.orders().empty())) {
    // The profile's zone may have moved (the usual purchase times are counted in it), or it was
    // stored before order totals existed.
    SetOrderZone(ProfileTimeZone(profile, config), profile);
  }
  // After the counters: HasSeenEvents is true from here on, and last_seen includes this event.
  ApplyComputedState(event, previous_last_seen_day, config, profile);
}

std::string_view OrderIdOf(const v1::Event& event) {
  if (event.channel() != v1::CHANNEL_PURCHASE) return {};
  return event.order().order_id();
}

void AbsorbProfile(const v1::Profile& loser, v1::Profile& winner) {
  AbsorbProfile(loser, winner, DefaultComputedTraitsConfig());
}

void AbsorbProfile(const v1::Profile& loser, v1::Profile& winner, const ComputedTraitsConfig& config) {
  if (loser.id() == winner.id()) return;  // absorbing itself would double every counter
  if (std::binary_search(winner.merged_from().begin(), winner.merged_from().end(), loser.id())) return;

  if (winner.workspace().empty()) winner.set_workspace(loser.workspace());

  {
    std::vector<uint64_t> absorbed;
    std::vector<uint64_t> from_loser(loser.merged_from().begin(), loser.merged_from().end());
    from_loser.push_back(loser.id());
    std::sort(from_loser.begin(), from_loser.end());
    std::set_union(winner.merged_from().begin(), winner.merged_from().end(), from_loser.begin(), from_loser.end(),
                   std::back_inserter(absorbed));
    absorbed.erase(std::unique(absorbed.begin(), absorbed.end()), absorbed.end());
    winner.mutable_merged_from()->Assign(absorbed.begin(), absorbed.end());
  }
  {
    // Both sides are sorted sets: one linear merge.
    std::vector<std::string> identifiers;
    identifiers.reserve(winner.identifiers_size() + loser.identifiers_size());
    std::set_union(winner.identifiers().begin(), winner.identifiers().end(), loser.identifiers().begin(),
                   loser.identifiers().end(), std::back_inserter(identifiers));
    identifiers.erase(std::unique(identifiers.begin(), identifiers.end()), identifiers.end());
    auto& field = *winner.mutable_identifiers();
    field.Clear();
    for (std::string& identifier : identifiers) *field.Add() = std::move(identifier);
  }
  for (const auto& [name, value] : loser.traits()) MergeTrait(name, value, winner);
  for (const auto& [purpose, state] : loser.consent()) MergeConsent(purpose, state, winner);
  if (HasSeenEvents(loser)) {
    MergeSeen(loser.first_seen_ms(), loser.last_seen_ms(), HasSeenEvents(winner), winner);
  }
  AddCounts(loser.event_counts(), *winner.mutable_event_counts());
  AddCounts(loser.event_type_counts(), *winner.mutable_event_type_counts());
  AddCounts(loser.social_counts(), *winner.mutable_social_counts());
  AddCounts(loser.track_event_counts(), *winner.mutable_track_event_counts());
  // After the traits: the zone is the merged profile's. SetOrderZone recounts the usual times when
  // the loser's timezone trait won, and also covers a loser without orders.
  const NamedTimeZone zone = ProfileTimeZone(winner, config);
  SetOrderZone(zone, winner);
  for (const auto& [order_id, order] : loser.orders()) MergeOrder(order_id, order, zone, winner);
  AbsorbComputedState(loser, winner);
}

std::string ProfileToJson(const v1::Profile& profile) {
  JsonWriter w;
  w.BeginObject();
  for (const auto& [name, value] : JsonFields(profile)) w.Key(name).Raw(value);
  w.EndObject();
  return std::move(w).Take();
}

std::string ProfileToJson(const v1::Profile& profile, absl::Time now, const ComputedTraitsConfig& config) {
  const std::string computed = ComputedTraitsToJson(ComputeTraits(profile, now, config));
  JsonWriter w;
  w.BeginObject();
  for (const auto& [name, value] : JsonFields(profile, &computed)) w.Key(name).Raw(value);
  w.EndObject();
  return std::move(w).Take();
}

namespace {

std::vector<std::string> DifferentFields(const std::vector<std::pair<std::string_view, std::string>>& before_fields,
                                         const std::vector<std::pair<std::string_view, std::string>>& after_fields) {
  std::vector<std::string> changed;
  for (size_t i = 0; i < after_fields.size(); ++i) {
    if (before_fields[i].second != after_fields[i].second) changed.emplace_back(after_fields[i].first);
  }
  return changed;
}

template <typename Value, typename Same>
bool SameMap(const google::protobuf::Map<std::string, Value>& a, const google::protobuf::Map<std::string, Value>& b,
             const Same& same) {
  if (a.size() != b.size()) return false;
  for (const auto& [key, value] : a) {
    const auto it = b.find(key);
    if (it == b.end() || !same(value, it->second)) return false;
  }
  return true;
}

template <typename Repeated>
bool SameRepeated(const Repeated& a, const Repeated& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// The traits as their JSON shows them (and segment conditions read them): by value, not by stamp.
bool SameTraits(const v1::Profile& a, const v1::Profile& b) {
  return SameMap(a.traits(), b.traits(), [](const v1::TraitValue& x, const v1::TraitValue& y) { return x.json() == y.json(); });
}

// The groups whose JSON may differ: those whose proto parts differ (by what the JSON reads of them).
JsonGroups GroupsToCompare(const v1::Profile& a, const v1::Profile& b) {
  const auto same_count = [](int64_t x, int64_t y) { return x == y; };
  const bool same_seen = HasSeenEvents(a) == HasSeenEvents(b);
  JsonGroups differ;
  differ[kIdGroup] = a.id() != b.id();
  differ[kWorkspaceGroup] = a.workspace() != b.workspace();
  differ[kIdentifiersGroup] = !SameRepeated(a.identifiers(), b.identifiers());
  differ[kTraitsGroup] = !SameTraits(a, b);
  differ[kFirstSeenGroup] = !same_seen || a.first_seen_ms() != b.first_seen_ms();
  differ[kLastSeenGroup] = !same_seen || a.last_seen_ms() != b.last_seen_ms();
  differ[kEventCountsGroup] = !SameMap(a.event_counts(), b.event_counts(), same_count);
  differ[kEventTypeCountsGroup] = !SameMap(a.event_type_counts(), b.event_type_counts(), same_count);
  {
    v1::OrderTotals a_scratch, b_scratch;
    const v1::OrderTotals& x = OrderTotalsOf(a, a_scratch);
    const v1::OrderTotals& y = OrderTotalsOf(b, b_scratch);
    differ[kOrdersGroup] = x.completed() != y.completed() || x.refunded() != y.refunded() ||
                           x.cancelled() != y.cancelled() || !SameMap(x.spend(), y.spend(), same_count) ||
                           !SameMap(x.refunded_money(), y.refunded_money(), same_count) ||
                           !SameMap(x.items_by_category(), y.items_by_category(), same_count);
  }
  differ[kSocialGroup] = !SameMap(a.social_counts(), b.social_counts(), same_count);
  differ[kTrackEventsGroup] = !SameMap(a.track_event_counts(), b.track_event_counts(), same_count);
  differ[kConsentGroup] = !SameMap(a.consent(), b.consent(), [](const v1::ConsentState& x, const v1::ConsentState& y) {
    return x.granted() == y.granted() && x.timestamp_ms() == y.timestamp_ms();
  });
  differ[kComputedGroup] = true;  // rendered by the caller already; compared as text
  differ[kMergedFromGroup] = !SameRepeated(a.merged_from(), b.merged_from());
  differ[kVersionGroup] = a.version() != b.version();
  return differ;
}

}  // namespace

std::vector<std::string> ChangedFields(const v1::Profile& before, const v1::Profile& after) {
  // Renders only the groups whose inputs differ (an event touches two or three), not both
  // profiles whole: the same answer as comparing every field's JSON, at a fraction of the cost.
  // A group of one field whose JSON is a one-to-one rendering of the parts GroupsToCompare
  // compares is not rendered at all: those parts differ, so its JSON does. That holds for every
  // profile built from ingested events; it could only list a field whose JSON did not change for
  // strings that are not UTF-8 (rendered as U+FFFD) or a stored trait of empty JSON (rendered as
  // null), which ingest never lets through. Rendering them was most of ChangedFields' time.
  JsonGroups groups = GroupsToCompare(before, after);
  groups.reset(kComputedGroup);  // this form has no "computed" field
  std::vector<std::string> changed;
  for (size_t group = 0; group < kJsonGroupCount; ++group) {  // in the JSON's order
    if (!groups.test(group)) continue;
    if (kNamedWithoutRendering.test(group)) {
      changed.emplace_back(kOneFieldGroupNames[group]);
      continue;
    }
    JsonGroups one;
    one.set(group);
    for (std::string& field : DifferentFields(JsonFields(before, nullptr, &one), JsonFields(after, nullptr, &one))) {
      changed.push_back(std::move(field));
    }
  }
  return changed;
}

std::vector<std::string> ChangedFields(const v1::Profile& before, const v1::Profile& after, absl::Time now,
                                       const ComputedTraitsConfig& config) {
  const std::string before_computed = ComputedTraitsToJson(ComputeTraits(before, now, config));
  const std::string after_computed = ComputedTraitsToJson(ComputeTraits(after, now, config));
  const JsonGroups groups = GroupsToCompare(before, after);
  return DifferentFields(JsonFields(before, &before_computed, &groups), JsonFields(after, &after_computed, &groups));
}

ProfileSnapshot::ProfileSnapshot(v1::Profile& profile, v1::Profile* scratch) {
  // The orders group renders from the totals, so the copy needs no orders. A profile stored before
  // totals existed gets them computed here, from the orders it had. The other parts set aside are
  // never read by JsonFields (the "computed" field is rendered by the caller, from them); setting
  // aside rather than copying field by field, so that a field added later is copied by default.
  // They are set aside into a message on the profile's own arena: swapping a map or a message out
  // and back is then constant time (between arenas it would be a copy).
  google::protobuf::Arena* arena = profile.GetArena();
  const bool lent = scratch != nullptr && scratch->GetArena() == arena;
  v1::Profile* aside = lent ? scratch : google::protobuf::Arena::CreateMessage<v1::Profile>(arena);
  const std::unique_ptr<v1::Profile> aside_owned(!lent && arena == nullptr ? aside : nullptr);
  const auto set_aside = [&] {
    aside->mutable_orders()->swap(*profile.mutable_orders());
    aside->mutable_engagement_days()->swap(*profile.mutable_engagement_days());
    aside->mutable_cart()->Swap(profile.mutable_cart());
    aside->mutable_custom_traits()->swap(*profile.mutable_custom_traits());
    aside->mutable_segments()->swap(*profile.mutable_segments());
    aside->mutable_event_windows()->swap(*profile.mutable_event_windows());
    aside->mutable_timers()->Swap(profile.mutable_timers());
  };
  const bool had_cart = profile.has_cart();
  set_aside();
  without_orders_ = google::protobuf::Arena::CreateMessage<v1::Profile>(arena);
  if (arena == nullptr) owned_.reset(without_orders_);
  *without_orders_ = profile;
  set_aside();  // and back
  if (!had_cart) profile.clear_cart();  // mutable_cart() set it
  aside->clear_cart();  // the scratch is left as lent: empty
  if (!without_orders_->has_order_totals() && !profile.orders().empty()) {
    *without_orders_->mutable_order_totals() = ComputeOrderTotals(profile.orders());
  }
}

std::vector<std::string> ChangedFields(const ProfileSnapshot& before, const v1::Profile& after) {
  return ChangedFields(before.without_orders_ != nullptr ? *before.without_orders_ : v1::Profile::default_instance(),
                       after);
}

bool TraitsChanged(const ProfileSnapshot& before, const v1::Profile& after) {
  return !SameTraits(before.without_orders_ != nullptr ? *before.without_orders_ : v1::Profile::default_instance(), after);
}

std::vector<std::string> ChangedFieldsByFullJson(const v1::Profile& before, const v1::Profile& after) {
  return DifferentFields(JsonFields(before), JsonFields(after));
}

}  // namespace tessera::profiles
