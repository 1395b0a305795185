#include "profiles/computed_traits.h"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/absl_compat.h"
#include "common/clock.h"
#include "common/currency.h"
#include "common/json_writer.h"
#include "profiles/message_key.h"
#include "profiles/order_totals.h"
#include "simdjson.h"

namespace tessera::profiles {
namespace {

constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kHalfHourMs = 1'800'000;
// Engagement windows are fixed (7, 30, 90 days); day buckets are kept for the longest.
constexpr int kEngagementWindows[] = {7, 30, 90};
constexpr int kEngagementRetentionDays = 90;
// A unique_list keeps the values first seen earliest (ties: the smaller value), at most this many:
// "the N smallest by (first seen, value)" is a join, so the cap is order-independent too.
constexpr int kUniqueListCap = 100;

// ---------------------------------------------------------------------------------------------
// Event properties: a property path looked up in properties_json (parsed once, lazily) or, for
// purchase and social events, in the order / interaction fields.

struct PropertyValue {
  std::string json;              // canonical JSON text of the value
  std::optional<double> number;  // set for numbers and numeric strings
};

std::string NumberJson(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string StringJson(std::string_view value) {
  std::string out;
  AppendJsonString(value, out);
  return out;
}

PropertyValue FromElement(simdjson::dom::element element) {
  PropertyValue value;
  value.json = simdjson::minify(element);
  if (element.is_number()) {
    value.number = element.get_double().value_unsafe();
  } else if (element.is_string()) {
    double parsed;
    if (absl::SimpleAtod(AbslView(element.get_string().value_unsafe()), &parsed) && std::isfinite(parsed)) {
      value.number = parsed;
    }
  }
  return value;
}

// Text of a string or number member ("" when absent or of another type): product ids come as both.
std::string TextMember(simdjson::dom::object object, std::string_view key) {
  simdjson::dom::element element;
  if (object.at_key(key).get(element) != simdjson::SUCCESS) return "";
  if (element.is_string()) return std::string(element.get_string().value_unsafe());
  if (element.is_number()) return simdjson::minify(element);
  return "";
}

class EventProperties {
 public:
  explicit EventProperties(const v1::Event& event) : event_(event) {}

  // The root object of properties_json, if it parses as one.
  std::optional<simdjson::dom::object> Root() {
    if (!parsed_) {
      parsed_ = true;
      if (!event_.properties_json().empty()) {
        simdjson::dom::element element;
        simdjson::dom::object object;
        if (Parser().parse(event_.properties_json()).get(element) == simdjson::SUCCESS &&
            element.get(object) == simdjson::SUCCESS) {
          root_ = object;
        }
      }
    }
    return root_;
  }

  std::optional<PropertyValue> Get(const std::string& path) {
    if (event_.channel() == v1::CHANNEL_PURCHASE) return OrderProperty(path);
    if (event_.channel() == v1::CHANNEL_SOCIAL) return SocialProperty(path);
    std::optional<simdjson::dom::object> root = Root();
    if (!root.has_value()) return std::nullopt;
    simdjson::dom::object object = *root;
    simdjson::dom::element element;
    bool first = true;
    for (absl::string_view part : absl::StrSplit(AbslView(path), '.')) {
      if (!first && element.get(object) != simdjson::SUCCESS) return std::nullopt;
      first = false;
      if (object.at_key(StdView(part)).get(element) != simdjson::SUCCESS) return std::nullopt;
    }
    if (element.is_null()) return std::nullopt;
    return FromElement(element);
  }

 private:
  static simdjson::dom::parser& Parser() {
    // One parser per thread, reused: its buffers grow to the largest document and stay.
    thread_local simdjson::dom::parser parser;
    return parser;
  }

  std::optional<PropertyValue> OrderProperty(const std::string& path) const {
    const v1::Order& order = event_.order();
    const auto text = [](const std::string& value) -> std::optional<PropertyValue> {
      if (value.empty()) return std::nullopt;
      return PropertyValue{StringJson(value), std::nullopt};
    };
    const auto money = [](const v1::Money& amount) -> std::optional<PropertyValue> {
      const int exponent = CurrencyExponent(amount.currency()).value_or(0);
      const std::string decimal = FormatMinorUnits(amount.minor_units(), exponent);
      return PropertyValue{decimal, static_cast<double>(amount.minor_units()) / std::pow(10.0, exponent)};
    };
    if (path == "order_id") return text(order.order_id());
    if (path == "channel") return text(order.channel());
    if (path == "store_id") return text(order.store_id());
    if (path == "coupon") return text(order.coupon());
    if (path == "campaign") return text(order.campaign());
    if (path == "currency") return text(order.total().currency());
    if (path == "total" || path == "revenue") return money(order.total());
    if (path == "discount") return money(order.discount());
    if (path == "quantity") {
      int64_t quantity = 0;
      for (const v1::OrderItem& item : order.items()) quantity += item.quantity();
      return PropertyValue{absl::StrCat(quantity), static_cast<double>(quantity)};
    }
    return std::nullopt;
  }

  std::optional<PropertyValue> SocialProperty(const std::string& path) const {
    const v1::SocialInteraction& social = event_.social();
    const auto text = [](const std::string& value) -> std::optional<PropertyValue> {
      if (value.empty()) return std::nullopt;
      return PropertyValue{StringJson(value), std::nullopt};
    };
    if (path == "platform") return text(social.platform());
    if (path == "action") return text(social.action());
    if (path == "handle") return text(social.handle());
    if (path == "post_id") return text(social.post_id());
    if (path == "rating" && social.rating() > 0) {
      return PropertyValue{absl::StrCat(social.rating()), static_cast<double>(social.rating())};
    }
    return std::nullopt;
  }

  const v1::Event& event_;
  bool parsed_ = false;
  std::optional<simdjson::dom::object> root_;
};

// ---------------------------------------------------------------------------------------------
// Order-independent folds.

// (event time, message id hashed, value) order: which of two stamped values is later, independent of
// which was applied first.
bool LaterStamp(const v1::TraitValue& a, const v1::TraitValue& b) {
  if (a.timestamp_ms() != b.timestamp_ms()) return a.timestamp_ms() > b.timestamp_ms();
  if (const uint32_t x = TieKey(a), y = TieKey(b); x != y) return x > y;
  return a.json() > b.json();
}

void CapUniqueValues(google::protobuf::Map<std::string, int64_t>& values) {
  while (static_cast<int>(values.size()) > kUniqueListCap) {
    auto latest = values.begin();
    for (auto it = values.begin(); it != values.end(); ++it) {
      if (std::tie(it->second, it->first) > std::tie(latest->second, latest->first)) latest = it;
    }
    values.erase(latest);
  }
}

void AddUniqueValue(const std::string& json, int64_t first_seen_ms, google::protobuf::Map<std::string, int64_t>& values) {
  auto [it, inserted] = values.insert({json, first_seen_ms});
  if (!inserted) {
    it->second = std::min(it->second, first_seen_ms);
    return;
  }
  CapUniqueValues(values);
}

void AddToAggregate(Aggregate aggregate, const std::optional<PropertyValue>& value, const v1::Event& event,
                    v1::CustomAggregate& into) {
  switch (aggregate) {
    case Aggregate::kCount:
      into.set_count(into.count() + 1);
      return;
    case Aggregate::kSum:
      if (!value.has_value() || !value->number.has_value()) return;
      into.set_count(into.count() + 1);
      // Beyond ±9e12 the micro-units would overflow; such a value is not a plausible property.
      if (std::fabs(*value->number) < 9e12) into.set_sum_micros(into.sum_micros() + std::llround(*value->number * 1e6));
      return;
    case Aggregate::kMin:
      if (!value.has_value() || !value->number.has_value()) return;
      if (!into.has_min() || *value->number < into.min()) into.set_min(*value->number);
      return;
    case Aggregate::kMax:
      if (!value.has_value() || !value->number.has_value()) return;
      if (!into.has_max() || *value->number > into.max()) into.set_max(*value->number);
      return;
    case Aggregate::kFirst:
    case Aggregate::kLast: {
      v1::TraitValue candidate;
      if (value.has_value()) {
        candidate.set_json(value->json);
      } else {
        // No property: the event's own time.
        candidate.set_json(StringJson(FormatUtcMillis(event.timestamp_ms())));
      }
      candidate.set_timestamp_ms(event.timestamp_ms());
      candidate.set_message_key(MessageKey(event.message_id()));
      v1::TraitValue& current = aggregate == Aggregate::kFirst ? *into.mutable_first() : *into.mutable_last();
      const bool empty = current.json().empty();
      if (empty || (aggregate == Aggregate::kFirst ? LaterStamp(current, candidate) : LaterStamp(candidate, current))) {
        current = std::move(candidate);
      }
      return;
    }
    case Aggregate::kMostFrequent:
      if (!value.has_value()) return;
      ++(*into.mutable_value_counts())[value->json];
      return;
    case Aggregate::kUniqueList:
      if (!value.has_value()) return;
      AddUniqueValue(value->json, event.timestamp_ms(), *into.mutable_unique_values());
      return;
  }
}

void MergeAggregate(const v1::CustomAggregate& from, v1::CustomAggregate& into) {
  into.set_count(into.count() + from.count());
  into.set_sum_micros(into.sum_micros() + from.sum_micros());
  if (from.has_min() && (!into.has_min() || from.min() < into.min())) into.set_min(from.min());
  if (from.has_max() && (!into.has_max() || from.max() > into.max())) into.set_max(from.max());
  if (!from.first().json().empty() && (into.first().json().empty() || LaterStamp(into.first(), from.first()))) {
    *into.mutable_first() = from.first();
  }
  if (!from.last().json().empty() && (into.last().json().empty() || LaterStamp(from.last(), into.last()))) {
    *into.mutable_last() = from.last();
  }
  for (const auto& [json, count] : from.value_counts()) (*into.mutable_value_counts())[json] += count;
  if (!from.unique_values().empty()) {
    auto& values = *into.mutable_unique_values();
    for (const auto& [json, first_seen] : from.unique_values()) {
      auto [it, inserted] = values.insert({json, first_seen});
      if (!inserted) it->second = std::min(it->second, first_seen);
    }
    CapUniqueValues(values);
  }
}

template <typename Value>
void PruneDays(int32_t keep_from_day, google::protobuf::Map<int32_t, Value>& days) {
  for (auto it = days.begin(); it != days.end();) {
    if (it->first < keep_from_day) {
      it = days.erase(it);
    } else {
      ++it;
    }
  }
}

// Drops whatever fell out of every window relative to the newest event time (last_seen). Because
// last_seen only grows and events older than the cut-off are never added, the buckets kept are
// exactly those of the final last_seen, whatever the arrival order.
void PruneWindows(v1::Profile& profile) {
  const int32_t newest_day = UtcDayNumber(profile.last_seen_ms());
  PruneDays(newest_day - kEngagementRetentionDays + 1, *profile.mutable_engagement_days());
  for (auto& [name, state] : *profile.mutable_custom_traits()) {
    if (state.window_days() > 0) PruneDays(newest_day - state.window_days() + 1, *state.mutable_days());
  }
}

bool CartLineWins(const v1::CartLine& candidate, const v1::CartLine& current) {
  if (candidate.timestamp_ms() != current.timestamp_ms()) return candidate.timestamp_ms() > current.timestamp_ms();
  if (const uint32_t x = TieKey(candidate), y = TieKey(current); x != y) return x > y;
  return candidate.SerializeAsString() > current.SerializeAsString();
}

// An order closes the cart: lines not newer than it are dropped, now and on arrival.
bool ClosedByOrder(const v1::CartState& cart, int64_t timestamp_ms) {
  return cart.has_last_order_ms() && timestamp_ms <= cart.last_order_ms();
}

void MergeCartLine(const std::string& key, const v1::CartLine& line, v1::CartState& cart) {
  if (ClosedByOrder(cart, line.timestamp_ms())) return;
  auto& lines = *cart.mutable_lines();
  auto it = lines.find(key);
  if (it == lines.end()) {
    lines[key] = line;
  } else if (CartLineWins(line, it->second)) {
    it->second = line;
  }
}

void RecordOrder(int64_t timestamp_ms, v1::CartState& cart) {
  if (cart.has_last_order_ms() && cart.last_order_ms() >= timestamp_ms) return;
  cart.set_last_order_ms(timestamp_ms);
  // Dropped the same way a checkout arriving after this order is never recorded.
  if (cart.has_last_checkout_ms() && cart.last_checkout_ms() <= timestamp_ms) cart.clear_last_checkout_ms();
  auto& lines = *cart.mutable_lines();
  for (auto it = lines.begin(); it != lines.end();) {
    if (it->second.timestamp_ms() <= timestamp_ms) {
      it = lines.erase(it);
    } else {
      ++it;
    }
  }
}

void RecordCheckout(int64_t timestamp_ms, v1::CartState& cart) {
  if (!cart.has_last_checkout_ms() || cart.last_checkout_ms() < timestamp_ms) cart.set_last_checkout_ms(timestamp_ms);
}

void AddCartProduct(simdjson::dom::object product, bool in_cart, const v1::Event& event, v1::CartState& cart) {
  v1::CartLine line;
  line.set_in_cart(in_cart);
  line.set_timestamp_ms(event.timestamp_ms());
  line.set_message_key(MessageKey(event.message_id()));
  line.set_product_id(TextMember(product, "product_id"));
  line.set_sku(TextMember(product, "sku"));
  line.set_name(TextMember(product, "name"));
  line.set_category(TextMember(product, "category"));
  int64_t quantity = 1;
  if (simdjson::dom::element q; product.at_key("quantity").get(q) == simdjson::SUCCESS && q.is_number()) {
    quantity = std::max<int64_t>(1, std::llround(q.get_double().value_unsafe()));
  }
  line.set_quantity(quantity);
  if (simdjson::dom::element price; product.at_key("price").get(price) == simdjson::SUCCESS && price.is_number()) {
    line.set_price_json(simdjson::minify(price));
  }
  std::string key = !line.product_id().empty() ? line.product_id() : !line.sku().empty() ? line.sku() : line.name();
  if (key.empty()) return;  // nothing to show or match a removal with
  MergeCartLine(key, line, cart);
}

// Touches profile.cart only for a cart event, so the field is present exactly when some cart event
// was applied, whatever the order (MessageDifferencer and the stored bytes see presence).
void ApplyCart(const v1::Event& event, EventProperties& properties, v1::Profile& profile) {
  if (event.channel() == v1::CHANNEL_PURCHASE) {
    if (event.order().status() == v1::ORDER_STATUS_COMPLETED) RecordOrder(event.timestamp_ms(), *profile.mutable_cart());
    return;
  }
  if (event.channel() != v1::CHANNEL_WEB || event.type() != "track") return;
  const std::string& name = event.name();
  if (name == "Order Completed") {
    RecordOrder(event.timestamp_ms(), *profile.mutable_cart());
    return;
  }
  const bool added = name == "Product Added";
  const bool removed = name == "Product Removed";
  const bool checkout = name == "Checkout Started";
  if (!added && !removed && !checkout) return;
  if (ClosedByOrder(profile.cart(), event.timestamp_ms())) return;
  v1::CartState& cart = *profile.mutable_cart();
  if (checkout) RecordCheckout(event.timestamp_ms(), cart);
  std::optional<simdjson::dom::object> root = properties.Root();
  if (!root.has_value()) return;
  if (checkout) {
    simdjson::dom::array products;
    if (root->at_key("products").get(products) != simdjson::SUCCESS) return;
    for (simdjson::dom::element product : products) {
      simdjson::dom::object object;
      if (product.get(object) == simdjson::SUCCESS) AddCartProduct(object, true, event, cart);
    }
  } else {
    AddCartProduct(*root, added, event, cart);
  }
}

void ApplyEngagement(const v1::Event& event, v1::Profile& profile) {
  if (event.channel() != v1::CHANNEL_WEB) return;
  const bool page = event.type() == "page" || event.type() == "screen";
  if (!page && event.type() != "track") return;  // identify/alias/group are often server-side
  const int32_t day = UtcDayNumber(event.timestamp_ms());
  if (day < UtcDayNumber(profile.last_seen_ms()) - kEngagementRetentionDays + 1) return;
  v1::EngagementDay& bucket = (*profile.mutable_engagement_days())[day];
  if (page) bucket.set_page_views(bucket.page_views() + 1);
  const int64_t into_day = event.timestamp_ms() - static_cast<int64_t>(day) * kDayMs;
  bucket.set_session_slots(bucket.session_slots() | (uint64_t{1} << (into_day / kHalfHourMs)));
}

void ApplyCustomTrait(const CustomTraitDefinition& definition, const v1::Event& event, EventProperties& properties,
                      v1::Profile& profile) {
  std::optional<PropertyValue> value;
  if (!definition.property.empty()) {
    value = properties.Get(definition.property);
    if (!value.has_value()) return;  // the event does not carry it: not counted either
  }
  v1::CustomTraitState& state = (*profile.mutable_custom_traits())[definition.name];
  state.set_window_days(definition.window_days);
  if (definition.window_days == 0) {
    AddToAggregate(definition.aggregate, value, event, *state.mutable_all_time());
    return;
  }
  const int32_t day = UtcDayNumber(event.timestamp_ms());
  if (day < UtcDayNumber(profile.last_seen_ms()) - definition.window_days + 1) return;
  AddToAggregate(definition.aggregate, value, event, (*state.mutable_days())[day]);
}

// ---------------------------------------------------------------------------------------------
// Computing.

// "Asia/Bangkok" from the trait's JSON text "\"Asia/Bangkok\"", if it is a plain JSON string.
std::optional<std::string> TimeZoneTrait(const v1::Profile& profile) {
  auto it = profile.traits().find("timezone");
  if (it == profile.traits().end()) return std::nullopt;
  const std::string& json = it->second.json();
  if (json.size() < 3 || json.front() != '"' || json.back() != '"') return std::nullopt;
  std::string name = json.substr(1, json.size() - 2);
  if (name.find('\\') != std::string::npos) return std::nullopt;
  return name;
}

}  // namespace

NamedTimeZone ProfileTimeZone(const v1::Profile& profile, const ComputedTraitsConfig& config) {
  absl::TimeZone zone;
  if (std::optional<std::string> name = TimeZoneTrait(profile); name.has_value() && absl::LoadTimeZone(*name, &zone)) {
    return {*name, zone};
  }
  if (absl::LoadTimeZone(config.default_time_zone, &zone)) return {config.default_time_zone, zone};
  return {"UTC", absl::UTCTimeZone()};
}

namespace {

// The keys with the largest values, best first, ties by key; only positive values.
std::vector<std::string> Top(const std::map<std::string, int64_t>& values, int n) {
  std::vector<std::pair<std::string, int64_t>> entries;
  for (const auto& entry : values) {
    if (entry.second > 0 && !entry.first.empty()) entries.push_back(entry);
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::vector<std::string> out;
  for (int i = 0; i < n && i < static_cast<int>(entries.size()); ++i) out.push_back(entries[i].first);
  return out;
}

template <size_t N>
std::optional<int> Mode(const std::array<int64_t, N>& counts) {
  int best = -1;
  for (size_t i = 0; i < N; ++i) {
    if (counts[i] > 0 && (best < 0 || counts[i] > counts[best])) best = static_cast<int>(i);
  }
  if (best < 0) return std::nullopt;
  return best;
}

int ScoreAtLeast(double value, const std::vector<double>& thresholds) {
  int score = 1;
  for (double threshold : thresholds) score += value >= threshold ? 1 : 0;
  return score;
}

std::string TierOf(int recency, int frequency, int monetary) {
  // A simplification of the common R x FM segment grid (FM = the mean of F and M, rounded up):
  // docs/computed-traits.md draws it.
  const int fm = (frequency + monetary + 1) / 2;
  if (recency >= 4 && frequency == 1) return "new";
  if (recency >= 4 && fm >= 4) return "champions";
  if (recency >= 3 && fm >= 3) return "loyal";
  if (recency >= 3) return "potential_loyalist";
  if (fm >= 3) return "at_risk";
  if (recency == 2) return "hibernating";
  return "lost";
}

std::optional<absl::Time> LastCompletedOrder(const v1::Profile& profile) {
  v1::OrderTotals scratch;
  const v1::OrderTotals& totals = OrderTotalsOf(profile, scratch);
  if (totals.completed() == 0) return std::nullopt;
  return absl::FromUnixMillis(totals.last_completed_ms());
}

std::string TimeJson(absl::Time time) {
  return StringJson(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone()));
}

std::string MoneyJson(const std::map<std::string, int64_t>& by_currency) {
  JsonWriter w;
  w.BeginObject();
  for (const auto& [currency, minor] : by_currency) {
    w.Key(currency).String(FormatMinorUnits(minor, CurrencyExponent(currency).value_or(0)));
  }
  w.EndObject();
  return std::move(w).Take();
}

std::string ListJson(const std::vector<std::string>& values) {
  JsonWriter w;
  w.BeginArray();
  for (const std::string& value : values) w.String(value);
  w.EndArray();
  return std::move(w).Take();
}

// Micro-units as a plain decimal without trailing zeros: 201500000 -> "201.5".
std::string MicrosJson(int64_t micros) {
  std::string text = FormatMinorUnits(micros, 6);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

std::string CustomValueJson(Aggregate aggregate, const v1::CustomAggregate& state) {
  switch (aggregate) {
    case Aggregate::kCount:
      return absl::StrCat(state.count());
    case Aggregate::kSum:
      return MicrosJson(state.sum_micros());
    case Aggregate::kMin:
      return state.has_min() ? NumberJson(state.min()) : "null";
    case Aggregate::kMax:
      return state.has_max() ? NumberJson(state.max()) : "null";
    case Aggregate::kFirst:
      return state.first().json().empty() ? "null" : state.first().json();
    case Aggregate::kLast:
      return state.last().json().empty() ? "null" : state.last().json();
    case Aggregate::kMostFrequent: {
      const std::string* best = nullptr;
      int64_t best_count = 0;
      for (const auto& [json, count] : state.value_counts()) {
        if (count > best_count || (count == best_count && best != nullptr && json < *best)) {
          best = &json;
          best_count = count;
        }
      }
      return best == nullptr ? "null" : *best;
    }
    case Aggregate::kUniqueList: {
      std::vector<std::pair<int64_t, std::string>> values;
      for (const auto& [json, first_seen] : state.unique_values()) values.emplace_back(first_seen, json);
      std::sort(values.begin(), values.end());
      JsonWriter w;
      w.BeginArray();
      for (const auto& [first_seen, json] : values) w.Raw(json);
      w.EndArray();
      return std::move(w).Take();
    }
  }
  return "null";
}

}  // namespace

int32_t UtcDayNumber(int64_t epoch_ms) {
  return static_cast<int32_t>(epoch_ms >= 0 ? epoch_ms / kDayMs : -((-epoch_ms + kDayMs - 1) / kDayMs));
}

void ComputedTraitsConfig::Index() {
  traits_by_event.clear();
  for (size_t i = 0; i < custom_traits.size(); ++i) {
    traits_by_event[custom_traits[i].event].push_back(static_cast<int>(i));
  }
}

const ComputedTraitsConfig& DefaultComputedTraitsConfig() {
  static const ComputedTraitsConfig* const config = new ComputedTraitsConfig();
  return *config;
}

void ApplyComputedState(const v1::Event& event, std::optional<int32_t> previous_last_seen_day,
                        const ComputedTraitsConfig& config, v1::Profile& profile) {
  if (!previous_last_seen_day.has_value() || *previous_last_seen_day != UtcDayNumber(profile.last_seen_ms())) {
    PruneWindows(profile);
  }
  EventProperties properties(event);
  ApplyEngagement(event, profile);
  ApplyCart(event, properties, profile);
  if (config.traits_by_event.empty()) return;
  const auto apply_all = [&](std::string_view selector) {
    auto it = config.traits_by_event.find(AbslView(selector));
    if (it == config.traits_by_event.end()) return;
    for (int index : it->second) ApplyCustomTrait(config.custom_traits[index], event, properties, profile);
  };
  if (event.channel() == v1::CHANNEL_WEB && event.type() == "track" && !event.name().empty()) apply_all(event.name());
  const std::string_view channel = event.channel() == v1::CHANNEL_WEB        ? "web"
                                   : event.channel() == v1::CHANNEL_SOCIAL   ? "social"
                                   : event.channel() == v1::CHANNEL_PURCHASE ? "purchase"
                                                                             : "unknown";
  apply_all(absl::StrCat(AbslView(channel), ".", event.type()));
}

void AbsorbComputedState(const v1::Profile& loser, v1::Profile& winner) {
  for (const auto& [day, bucket] : loser.engagement_days()) {
    v1::EngagementDay& into = (*winner.mutable_engagement_days())[day];
    into.set_page_views(into.page_views() + bucket.page_views());
    into.set_session_slots(into.session_slots() | bucket.session_slots());
  }
  if (loser.has_cart()) {
    v1::CartState& cart = *winner.mutable_cart();
    if (loser.cart().has_last_order_ms()) RecordOrder(loser.cart().last_order_ms(), cart);
    if (loser.cart().has_last_checkout_ms() && !ClosedByOrder(cart, loser.cart().last_checkout_ms())) {
      RecordCheckout(loser.cart().last_checkout_ms(), cart);
    }
    for (const auto& [key, line] : loser.cart().lines()) MergeCartLine(key, line, cart);
  }
  for (const auto& [name, state] : loser.custom_traits()) {
    v1::CustomTraitState& into = (*winner.mutable_custom_traits())[name];
    into.set_window_days(std::max(into.window_days(), state.window_days()));
    if (state.has_all_time()) MergeAggregate(state.all_time(), *into.mutable_all_time());
    for (const auto& [day, aggregate] : state.days()) MergeAggregate(aggregate, (*into.mutable_days())[day]);
  }
  PruneWindows(winner);
}

namespace {

// The parts of ComputeTraits, so a caller that needs one field (a segment condition) computes
// only the part that holds it (ComputeTraitsFor).

// Value and RFM: completed orders, spend, first/last order, days since, the scores and tier.
void ComputeValue(const v1::Profile& profile, absl::Time now, const ComputedTraitsConfig& config,
                  ComputedTraits& out) {
  v1::OrderTotals scratch;
  const v1::OrderTotals& totals = OrderTotalsOf(profile, scratch);
  out.orders = totals.completed();
  out.lifetime_spend.insert(totals.spend().begin(), totals.spend().end());
  for (const auto& [currency, spend] : out.lifetime_spend) {
    auto n = totals.completed_by_currency().find(currency);
    if (n == totals.completed_by_currency().end() || n->second <= 0) continue;  // never: spend follows the count
    out.average_order_value[currency] = (spend + n->second / 2) / n->second;
  }
  if (totals.completed() == 0) return;
  out.first_order_at = absl::FromUnixMillis(totals.first_completed_ms());
  out.last_order_at = absl::FromUnixMillis(totals.last_completed_ms());
  out.days_since_last_order = std::max<int64_t>(0, absl::ToInt64Hours(now - *out.last_order_at) / 24);

  RfmScore rfm;
  const int recency_steps = static_cast<int>(config.rfm.recency_days.size());
  rfm.recency = recency_steps + 1;
  for (int days : config.rfm.recency_days) rfm.recency -= *out.days_since_last_order > days ? 1 : 0;
  rfm.frequency = 1;
  for (int64_t threshold : config.rfm.frequency) rfm.frequency += out.orders >= threshold ? 1 : 0;
  rfm.monetary = 1;
  for (const auto& [currency, thresholds] : config.rfm.monetary) {
    auto spend = out.lifetime_spend.find(currency);
    if (spend == out.lifetime_spend.end()) continue;
    const double major = static_cast<double>(spend->second) / std::pow(10.0, CurrencyExponent(currency).value_or(0));
    rfm.monetary = std::max(rfm.monetary, ScoreAtLeast(major, thresholds));
  }
  rfm.tier = TierOf(rfm.recency, rfm.frequency, rfm.monetary);
  out.rfm = std::move(rfm);
}

// Preferences: favourites, usual weekday and hour in the profile's zone, coupon share, channel.
void ComputePreferences(const v1::Profile& profile, const ComputedTraitsConfig& config, ComputedTraits& out) {
  const auto [zone_name, zone] = ProfileTimeZone(profile, config);
  out.time_zone = zone_name;
  v1::OrderTotals scratch;
  const v1::OrderTotals& totals = OrderTotalsOf(profile, scratch);
  const std::map<std::string, int64_t> categories_by_count(totals.items_by_category().begin(),
                                                           totals.items_by_category().end());
  const std::map<std::string, int64_t> products_by_count(totals.product_quantity().begin(),
                                                         totals.product_quantity().end());
  const std::map<std::string, int64_t> channels(totals.channels().begin(), totals.channels().end());
  // Spend favourites rank spend in the reporting currency only: the "<currency> " keys.
  const std::string reporting_prefix = CurrencyKey(config.reporting_currency, "");
  const auto in_reporting_currency = [&reporting_prefix](const google::protobuf::Map<std::string, int64_t>& spend) {
    std::map<std::string, int64_t> out;
    for (const auto& [key, minor] : spend) {
      if (key.starts_with(reporting_prefix)) out[key.substr(reporting_prefix.size())] += minor;
    }
    return out;
  };
  const std::map<std::string, int64_t> products_by_spend = in_reporting_currency(totals.product_spend());
  const std::map<std::string, int64_t> categories_by_spend = in_reporting_currency(totals.category_spend());
  // The usual weekday and hour: kept in the profile's zone. Totals kept in another zone (the
  // configured default changed since) or not kept at all (a profile stored before them) are counted
  // from the orders here instead. A profile that keeps its orders apart (Profile.order_buckets) has
  // none here: after a change of the default zone its usual times are empty until its next order
  // or zone change recounts them (app/profile_batch.h).
  std::array<int64_t, 7> weekdays{};
  std::array<int64_t, 24> hours{};
  if (HasUsualTimesIn(totals, zone_name)) {
    std::copy(totals.weekday_counts().begin(), totals.weekday_counts().end(), weekdays.begin());
    std::copy(totals.hour_counts().begin(), totals.hour_counts().end(), hours.begin());
  } else if (totals.completed() > 0) {
    for (const auto& [order_id, order] : profile.orders()) {
      if (order.status() != v1::ORDER_STATUS_COMPLETED) continue;
      const absl::CivilHour local = absl::ToCivilHour(absl::FromUnixMillis(order.timestamp_ms()), zone);
      ++weekdays[static_cast<int>(absl::GetWeekday(local))];
      ++hours[local.hour()];
    }
  }
  if (totals.completed() > 0) {
    out.coupon_share = static_cast<double>(totals.with_coupon()) / static_cast<double>(totals.completed());
  }
  out.favourite_categories_by_spend = Top(categories_by_spend, config.favourites);
  out.favourite_categories_by_count = Top(categories_by_count, config.favourites);
  out.favourite_products_by_spend = Top(products_by_spend, config.favourites);
  out.favourite_products_by_count = Top(products_by_count, config.favourites);
  out.usual_purchase_weekday = Mode(weekdays);
  out.usual_purchase_hour = Mode(hours);
  if (std::vector<std::string> best = Top(channels, 1); !best.empty()) out.preferred_channel = best.front();
}

// Engagement: Segment's email spec counts, sessions and page views by window.
void ComputeEngagement(const v1::Profile& profile, absl::Time now, ComputedTraits& out) {
  const auto tracked = [&profile](const char* name) -> int64_t {
    auto it = profile.track_event_counts().find(name);
    return it == profile.track_event_counts().end() ? 0 : it->second;
  };
  out.email_delivered = tracked("Email Delivered");
  out.email_opened = tracked("Email Opened");
  out.email_clicked = tracked("Email Link Clicked");
  out.email_bounced = tracked("Email Bounced");
  out.email_unsubscribed = tracked("Unsubscribed");

  const int32_t today = UtcDayNumber(absl::ToUnixMillis(now));
  for (int window : kEngagementWindows) {
    int64_t sessions = 0, page_views = 0;
    for (const auto& [day, bucket] : profile.engagement_days()) {
      if (day < today - window + 1) continue;
      sessions += std::popcount(bucket.session_slots());
      page_views += bucket.page_views();
    }
    out.sessions[window] = sessions;
    out.page_views[window] = page_views;
  }
}

void ComputeCart(const v1::Profile& profile, absl::Time now, const ComputedTraitsConfig& config,
                 ComputedTraits& out) {
  out.cart_abandoned_at = CartAbandonedAt(profile, config);
  out.cart_abandoned = out.cart_abandoned_at.has_value() && *out.cart_abandoned_at <= now;
  if (!out.cart_abandoned_at.has_value()) return;
  for (const auto& [key, line] : profile.cart().lines()) {
    if (!line.in_cart() || ClosedByOrder(profile.cart(), line.timestamp_ms())) continue;
    out.cart_products.push_back(CartProduct{line.product_id(), line.sku(), line.name(), line.category(),
                                            line.quantity(), line.price_json(),
                                            absl::FromUnixMillis(line.timestamp_ms())});
  }
  std::sort(out.cart_products.begin(), out.cart_products.end(), [](const CartProduct& a, const CartProduct& b) {
    return std::tie(b.added_at, a.product_id, a.sku, a.name) < std::tie(a.added_at, b.product_id, b.sku, b.name);
  });
}

void ComputeCustom(const CustomTraitDefinition& definition, const v1::Profile& profile, absl::Time now,
                   ComputedTraits& out) {
  const int32_t today = UtcDayNumber(absl::ToUnixMillis(now));
  auto it = profile.custom_traits().find(definition.name);
  v1::CustomAggregate aggregate;
  if (it != profile.custom_traits().end()) {
    if (definition.window_days == 0) {
      aggregate = it->second.all_time();
    } else {
      for (const auto& [day, bucket] : it->second.days()) {
        if (day >= today - definition.window_days + 1) MergeAggregate(bucket, aggregate);
      }
    }
  }
  out.custom[definition.name] = CustomValueJson(definition.aggregate, aggregate);
}

constexpr std::string_view kValueFields[] = {
    "lifetime_spend", "orders", "average_order_value", "first_order_at", "last_order_at", "days_since_last_order",
    "rfm_recency", "rfm_frequency", "rfm_monetary", "rfm_tier"};

// Which part of ComputeTraits holds the field `name` of the computed object.
enum class Part { kValue, kPreferences, kEngagement, kCart, kCustom, kUnknown };
Part PartOf(std::string_view name, const ComputedTraitsConfig& config, const CustomTraitDefinition** custom) {
  static constexpr std::string_view kPreferenceFields[] = {
      "favourite_categories_by_spend", "favourite_categories_by_count", "favourite_products_by_spend",
      "favourite_products_by_count", "time_zone", "usual_purchase_weekday", "usual_purchase_hour", "coupon_share",
      "preferred_channel"};
  const auto among = [name](const auto& fields) { return std::find(std::begin(fields), std::end(fields), name) != std::end(fields); };
  if (IsValueField(name)) return Part::kValue;
  if (among(kPreferenceFields)) return Part::kPreferences;
  if (name.starts_with("email_") || name.starts_with("sessions_") || name.starts_with("page_views_")) {
    return Part::kEngagement;
  }
  if (name.starts_with("cart_")) return Part::kCart;
  for (const CustomTraitDefinition& definition : config.custom_traits) {
    if (definition.name == name) {
      *custom = &definition;
      return Part::kCustom;
    }
  }
  return Part::kUnknown;
}

}  // namespace

ComputedTraits ComputeTraits(const v1::Profile& profile, absl::Time now, const ComputedTraitsConfig& config) {
  ComputedTraits out;
  ComputeValue(profile, now, config, out);
  ComputePreferences(profile, config, out);
  ComputeEngagement(profile, now, out);
  ComputeCart(profile, now, config, out);
  for (const CustomTraitDefinition& definition : config.custom_traits) ComputeCustom(definition, profile, now, out);
  return out;
}

bool IsValueField(std::string_view field) {
  return std::find(std::begin(kValueFields), std::end(kValueFields), field) != std::end(kValueFields);
}

ComputedTraits ComputeTraitsFor(const v1::Profile& profile, std::string_view field, absl::Time now,
                                const ComputedTraitsConfig& config) {
  ComputedTraits out;
  const CustomTraitDefinition* custom = nullptr;
  switch (PartOf(field, config, &custom)) {
    case Part::kValue: ComputeValue(profile, now, config, out); break;
    case Part::kPreferences: ComputePreferences(profile, config, out); break;
    case Part::kEngagement: ComputeEngagement(profile, now, out); break;
    case Part::kCart: ComputeCart(profile, now, config, out); break;
    case Part::kCustom: ComputeCustom(*custom, profile, now, out); break;
    case Part::kUnknown: return ComputeTraits(profile, now, config);
  }
  return out;
}

namespace {

// Every field of the computed object in output order, or (`only` non-empty) just that one: the
// JSON text of a field is rendered only when it is wanted.
std::vector<std::pair<std::string, std::string>> RenderFields(const ComputedTraits& traits, std::string_view only) {
  static constexpr const char* kWeekdays[] = {"monday", "tuesday", "wednesday", "thursday",
                                              "friday", "saturday", "sunday"};
  std::vector<std::pair<std::string, std::string>> fields;
  fields.reserve(only.empty() ? 40 + traits.custom.size() : 1);
  const auto add = [&fields, only](std::string_view name, const auto& render) {
    if (only.empty() || only == name) fields.emplace_back(std::string(name), std::string(render()));
  };
  const auto optional_time = [](const std::optional<absl::Time>& time) {
    return time.has_value() ? TimeJson(*time) : std::string("null");
  };
  const auto optional_int = [](const auto& value) {
    return value.has_value() ? absl::StrCat(*value) : std::string("null");
  };

  add("lifetime_spend", [&] { return MoneyJson(traits.lifetime_spend); });
  add("orders", [&] { return absl::StrCat(traits.orders); });
  add("average_order_value", [&] { return MoneyJson(traits.average_order_value); });
  add("first_order_at", [&] { return optional_time(traits.first_order_at); });
  add("last_order_at", [&] { return optional_time(traits.last_order_at); });
  add("days_since_last_order", [&] { return optional_int(traits.days_since_last_order); });
  add("rfm_recency", [&] { return traits.rfm.has_value() ? absl::StrCat(traits.rfm->recency) : "null"; });
  add("rfm_frequency", [&] { return traits.rfm.has_value() ? absl::StrCat(traits.rfm->frequency) : "null"; });
  add("rfm_monetary", [&] { return traits.rfm.has_value() ? absl::StrCat(traits.rfm->monetary) : "null"; });
  add("rfm_tier", [&] { return traits.rfm.has_value() ? StringJson(traits.rfm->tier) : "null"; });
  add("favourite_categories_by_spend", [&] { return ListJson(traits.favourite_categories_by_spend); });
  add("favourite_categories_by_count", [&] { return ListJson(traits.favourite_categories_by_count); });
  add("favourite_products_by_spend", [&] { return ListJson(traits.favourite_products_by_spend); });
  add("favourite_products_by_count", [&] { return ListJson(traits.favourite_products_by_count); });
  add("time_zone", [&] { return StringJson(traits.time_zone); });
  add("usual_purchase_weekday", [&] { return traits.usual_purchase_weekday.has_value() ? StringJson(kWeekdays[*traits.usual_purchase_weekday]) : "null"; });
  add("usual_purchase_hour", [&] { return optional_int(traits.usual_purchase_hour); });
  add("coupon_share", [&] { return traits.coupon_share.has_value() ? NumberJson(*traits.coupon_share) : "null"; });
  add("preferred_channel", [&] { return traits.preferred_channel.empty() ? "null" : StringJson(traits.preferred_channel); });
  add("email_delivered", [&] { return absl::StrCat(traits.email_delivered); });
  add("email_opened", [&] { return absl::StrCat(traits.email_opened); });
  add("email_clicked", [&] { return absl::StrCat(traits.email_clicked); });
  add("email_bounced", [&] { return absl::StrCat(traits.email_bounced); });
  add("email_unsubscribed", [&] { return absl::StrCat(traits.email_unsubscribed); });
  for (const auto& [window, count] : traits.sessions) add(absl::StrCat("sessions_", window, "d"), [&] { return absl::StrCat(count); });
  for (const auto& [window, count] : traits.page_views) add(absl::StrCat("page_views_", window, "d"), [&] { return absl::StrCat(count); });
  add("cart_abandoned", [&] { return traits.cart_abandoned ? "true" : "false"; });
  add("cart_abandoned_at", [&] { return optional_time(traits.cart_abandoned_at); });
  if (only.empty() || only == "cart_products") {
    JsonWriter w;
    w.BeginArray();
    for (const CartProduct& product : traits.cart_products) {
      w.BeginObject();
      w.Key("product_id").String(product.product_id);
      w.Key("sku").String(product.sku);
      w.Key("name").String(product.name);
      w.Key("category").String(product.category);
      w.Key("quantity").Int(product.quantity);
      w.Key("price");
      if (product.price_json.empty()) {
        w.Null();
      } else {
        w.Raw(product.price_json);
      }
      w.Key("added_at").Raw(TimeJson(product.added_at));
      w.EndObject();
    }
    w.EndArray();
    add("cart_products", [&] { return std::move(w).Take(); });
  }
  for (const auto& [name, json] : traits.custom) add(name, [&] { return json; });
  return fields;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ComputedTraitFields(const ComputedTraits& traits) {
  return RenderFields(traits, {});
}

std::string ComputedTraitsToJson(const ComputedTraits& traits) {
  JsonWriter w;
  w.BeginObject();
  for (const auto& [name, json] : ComputedTraitFields(traits)) w.Key(name).Raw(json);
  w.EndObject();
  return std::move(w).Take();
}

std::optional<std::string> ComputedTraitJson(const ComputedTraits& traits, std::string_view name) {
  if (name.empty()) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> field = RenderFields(traits, name);
  if (field.empty()) return std::nullopt;
  return std::move(field.front().second);
}

namespace {

// When the oldest non-empty day of a window over `days` leaves it: the start of day (oldest + window).
template <typename Value>
std::optional<absl::Time> OldestDayLeaves(const google::protobuf::Map<int32_t, Value>& days, int window,
                                          absl::Time now) {
  const int32_t today = UtcDayNumber(absl::ToUnixMillis(now));
  std::optional<int32_t> oldest;
  for (const auto& [day, value] : days) {
    if (day >= today - window + 1 && (!oldest.has_value() || day < *oldest)) oldest = day;
  }
  if (!oldest.has_value()) return std::nullopt;
  return absl::FromUnixMillis((static_cast<int64_t>(*oldest) + window) * kDayMs);
}

}  // namespace

std::optional<absl::Time> ComputedTraitChangesAt(const v1::Profile& profile, std::string_view name, absl::Time now,
                                                 const ComputedTraitsConfig& config) {
  if (name == "days_since_last_order") {
    const std::optional<absl::Time> last = LastCompletedOrder(profile);
    if (!last.has_value()) return std::nullopt;
    if (*last > now) return *last + absl::Hours(24);
    return *last + absl::Hours(24) * (absl::ToInt64Hours(now - *last) / 24 + 1);
  }
  if (name == "rfm_recency" || name == "rfm_tier") return NextRfmChangeAt(profile, now, config);
  if (name == "cart_abandoned") {
    const std::optional<absl::Time> at = CartAbandonedAt(profile, config);
    if (at.has_value() && *at > now) return at;
    return std::nullopt;
  }
  if (name.starts_with("sessions_") || name.starts_with("page_views_")) {
    for (int window : kEngagementWindows) {
      if (name == absl::StrCat("sessions_", window, "d") || name == absl::StrCat("page_views_", window, "d")) {
        return OldestDayLeaves(profile.engagement_days(), window, now);
      }
    }
  }
  for (const CustomTraitDefinition& definition : config.custom_traits) {
    if (definition.name != name) continue;
    if (definition.window_days == 0) return std::nullopt;
    auto it = profile.custom_traits().find(definition.name);
    if (it == profile.custom_traits().end()) return std::nullopt;
    return OldestDayLeaves(it->second.days(), definition.window_days, now);
  }
  return std::nullopt;
}

std::optional<TierChange> TierChanged(const ComputedTraits& before, const ComputedTraits& after) {
  std::string from = before.rfm.has_value() ? before.rfm->tier : "";
  std::string to = after.rfm.has_value() ? after.rfm->tier : "";
  if (from == to) return std::nullopt;
  return TierChange{std::move(from), std::move(to)};
}

std::optional<absl::Time> NextRfmChangeAt(const v1::Profile& profile, absl::Time now,
                                          const ComputedTraitsConfig& config) {
  const std::optional<absl::Time> last = LastCompletedOrder(profile);
  if (!last.has_value()) return std::nullopt;
  // The recency score drops when the whole days since the last order first exceed a threshold.
  for (int days : config.rfm.recency_days) {
    const absl::Time drop = *last + absl::Hours(24) * (static_cast<int64_t>(days) + 1);
    if (drop > now) return drop;
  }
  return std::nullopt;
}

std::optional<absl::Time> CartAbandonedAt(const v1::Profile& profile, const ComputedTraitsConfig& config) {
  const v1::CartState& cart = profile.cart();
  std::optional<int64_t> activity;
  if (cart.has_last_checkout_ms() && !ClosedByOrder(cart, cart.last_checkout_ms())) activity = cart.last_checkout_ms();
  for (const auto& [key, line] : cart.lines()) {
    if (!line.in_cart() || ClosedByOrder(cart, line.timestamp_ms())) continue;
    if (!activity.has_value() || line.timestamp_ms() > *activity) activity = line.timestamp_ms();
  }
  if (!activity.has_value()) return std::nullopt;
  return absl::FromUnixMillis(*activity) + config.cart_abandon_after;
}

}  // namespace tessera::profiles
