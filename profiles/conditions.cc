#include "profiles/conditions.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/currency.h"
#include "common/yaml_config.h"
#include "profiles/order_totals.h"
#include "simdjson.h"
#include "yaml-cpp/yaml.h"

namespace tessera::profiles {
namespace {

// ---- values ----

std::string ScalarText(simdjson::dom::element element) {
  switch (element.type()) {
    case simdjson::dom::element_type::STRING: return std::string(std::string_view(element.get_string().value()));
    case simdjson::dom::element_type::BOOL: return element.get_bool().value() ? "true" : "false";
    case simdjson::dom::element_type::INT64: return absl::StrCat(element.get_int64().value());
    case simdjson::dom::element_type::UINT64: return absl::StrCat(element.get_uint64().value());
    case simdjson::dom::element_type::DOUBLE: return absl::StrCat(element.get_double().value());
    case simdjson::dom::element_type::NULL_VALUE: return "null";
    default: return "";
  }
}

simdjson::dom::parser& Parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

// ---- parsing ----

const YamlSection kYaml("");

absl::StatusOr<int64_t> IntOf(const YAML::Node& node, std::string_view path) {
  absl::StatusOr<std::string> text = kYaml.Scalar<std::string>(node, path);
  if (!text.ok()) return text.status();
  int64_t value = 0;
  if (!absl::SimpleAtoi(*text, &value) || value < 0) {
    return kYaml.Bad(path, absl::StrCat("expected a whole number >= 0, got '", *text, "'"));
  }
  return value;
}

void AddOperand(Condition& c, std::string text) {
  double number = 0;
  c.numbers.push_back(absl::SimpleAtod(text, &number) ? std::optional<double>(number) : std::nullopt);
  c.operands.push_back(std::move(text));
}

const std::map<std::string, Condition::Op, std::less<>>& OpNames() {
  static const auto* ops = new std::map<std::string, Condition::Op, std::less<>>{
      {"exists", Condition::Op::kExists}, {"eq", Condition::Op::kEq},       {"ne", Condition::Op::kNe},
      {"in", Condition::Op::kIn},         {"contains", Condition::Op::kContains}, {"gt", Condition::Op::kGt},
      {"gte", Condition::Op::kGte},       {"lt", Condition::Op::kLt},       {"lte", Condition::Op::kLte},
      {"age_between", Condition::Op::kAgeBetween}};
  return *ops;
}

absl::StatusOr<Condition> FromYaml(const YAML::Node& node, const std::string& path);

absl::StatusOr<Condition> Combinator(Condition::Kind kind, const YAML::Node& node, const std::string& path) {
  Condition c;
  c.kind = kind;
  if (kind == Condition::Kind::kNot) {
    absl::StatusOr<Condition> child = FromYaml(node, path);
    if (!child.ok()) return child.status();
    c.children.push_back(*std::move(child));
    return c;
  }
  if (!node.IsSequence() || node.size() == 0) return kYaml.Bad(path, "expected a non-empty list of conditions");
  for (size_t i = 0; i < node.size(); ++i) {
    absl::StatusOr<Condition> child = FromYaml(node[i], absl::StrCat(path, "[", i, "]"));
    if (!child.ok()) return child.status();
    c.children.push_back(*std::move(child));
  }
  return c;
}

absl::StatusOr<Condition> FactLeaf(Condition::Kind kind, const YAML::Node& node, const std::string& path) {
  Condition c;
  c.kind = kind;
  const char* key = kind == Condition::Kind::kTrait ? "trait" : "computed";
  absl::StatusOr<std::string> name = kYaml.Scalar<std::string>(node[key], absl::StrCat(path, ".", key));
  if (!name.ok()) return name.status();
  if (name->empty()) return kYaml.Bad(path, absl::StrCat(key, " needs a name"));
  c.name = *std::move(name);
  int ops = 0;
  for (const auto& entry : node) {
    const std::string k = entry.first.as<std::string>();
    if (k == key) continue;
    auto op = OpNames().find(k);
    if (op == OpNames().end()) {
      return kYaml.Bad(path, absl::StrCat("unknown key '", k, "' (operators: exists, eq, ne, in, contains, gt, gte, lt, lte, "
                                    "age_between)"));
    }
    ++ops;
    c.op = op->second;
    const std::string op_path = absl::StrCat(path, ".", k);
    const YAML::Node& operand = entry.second;
    switch (c.op) {
      case Condition::Op::kExists: {
        absl::StatusOr<std::string> text = kYaml.Scalar<std::string>(operand, op_path);
        if (!text.ok()) return text.status();
        if (*text != "true" && *text != "false") return kYaml.Bad(op_path, "expected true or false");
        c.exists = *text == "true";
        break;
      }
      case Condition::Op::kIn:
      case Condition::Op::kAgeBetween: {
        if (!operand.IsSequence() || operand.size() == 0) return kYaml.Bad(op_path, "expected a non-empty list");
        for (size_t i = 0; i < operand.size(); ++i) {
          absl::StatusOr<std::string> text = kYaml.Scalar<std::string>(operand[i], absl::StrCat(op_path, "[", i, "]"));
          if (!text.ok()) return text.status();
          AddOperand(c, *std::move(text));
        }
        if (c.op == Condition::Op::kAgeBetween &&
            (c.operands.size() != 2 || !c.numbers[0].has_value() || !c.numbers[1].has_value() ||
             *c.numbers[0] > *c.numbers[1])) {
          return kYaml.Bad(op_path, "expected [MIN, MAX] in years, MIN <= MAX");
        }
        break;
      }
      default: {
        absl::StatusOr<std::string> text = kYaml.Scalar<std::string>(operand, op_path);
        if (!text.ok()) return text.status();
        AddOperand(c, *std::move(text));
        if ((c.op == Condition::Op::kGt || c.op == Condition::Op::kGte || c.op == Condition::Op::kLt ||
             c.op == Condition::Op::kLte) &&
            c.operands[0].empty()) {
          return kYaml.Bad(op_path, "expected a number or a date");
        }
      }
    }
  }
  if (ops != 1) return kYaml.Bad(path, absl::StrCat("a ", key, " condition needs exactly one operator"));
  return c;
}

absl::StatusOr<Condition> EventLeaf(bool negated, const YAML::Node& node, const std::string& path) {
  Condition c;
  c.kind = Condition::Kind::kEvent;
  const char* key = negated ? "no_event" : "event";
  absl::StatusOr<std::string> name = kYaml.Scalar<std::string>(node[key], absl::StrCat(path, ".", key));
  if (!name.ok()) return name.status();
  if (name->empty()) return kYaml.Bad(path, absl::StrCat(key, " needs an event name"));
  c.selector.event = *std::move(name);
  if (negated) {
    c.count_gte = 0;
    c.count_lte = 0;
  }
  for (const auto& entry : node) {
    const std::string k = entry.first.as<std::string>();
    const std::string k_path = absl::StrCat(path, ".", k);
    if (k == key) continue;
    if (k == "where") {
      if (!entry.second.IsMap()) return kYaml.Bad(k_path, "expected a map of property to value");
      for (const auto& prop : entry.second) {
        const std::string property = prop.first.as<std::string>();
        absl::StatusOr<std::string> value = kYaml.Scalar<std::string>(prop.second, absl::StrCat(k_path, ".", property));
        if (!value.ok()) return value.status();
        c.selector.where.emplace_back(property, *std::move(value));
      }
      std::sort(c.selector.where.begin(), c.selector.where.end());
    } else if (k == "within_days") {
      absl::StatusOr<int64_t> days = IntOf(entry.second, k_path);
      if (!days.ok()) return days.status();
      if (*days > 3660) return kYaml.Bad(k_path, "at most 3660 days");
      c.within_days = static_cast<int32_t>(*days);
    } else if (k == "count_gte" && !negated) {
      absl::StatusOr<int64_t> n = IntOf(entry.second, k_path);
      if (!n.ok()) return n.status();
      c.count_gte = *n;
    } else if (k == "count_lte" && !negated) {
      absl::StatusOr<int64_t> n = IntOf(entry.second, k_path);
      if (!n.ok()) return n.status();
      c.count_lte = *n;
    } else {
      return kYaml.Bad(path, absl::StrCat("unknown key '", k, "' (", key, " takes where, within_days",
                                    negated ? "" : ", count_gte, count_lte", ")"));
    }
  }
  return c;
}

absl::StatusOr<Condition> FromYaml(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap() || node.size() == 0) return kYaml.Bad(path, "expected a condition (a map such as {trait: gender, eq: female})");
  if (node.size() == 1) {
    const std::string key = node.begin()->first.as<std::string>();
    if (key == "all") return Combinator(Condition::Kind::kAll, node["all"], path + ".all");
    if (key == "any") return Combinator(Condition::Kind::kAny, node["any"], path + ".any");
    if (key == "not") return Combinator(Condition::Kind::kNot, node["not"], path + ".not");
  }
  if (node["trait"]) return FactLeaf(Condition::Kind::kTrait, node, path);
  if (node["computed"]) return FactLeaf(Condition::Kind::kComputed, node, path);
  if (node["event"]) return EventLeaf(false, node, path);
  if (node["no_event"]) return EventLeaf(true, node, path);
  return kYaml.Bad(path, "expected one of all, any, not, trait, computed, event, no_event");
}

// ---- evaluation ----

int Compare(const FactValue& value, const Condition& c, size_t i) {
  if (value.kind == FactValue::Kind::kNumber && c.numbers[i].has_value()) {
    return value.number < *c.numbers[i] ? -1 : (value.number > *c.numbers[i] ? 1 : 0);
  }
  return value.text.compare(c.operands[i]) < 0 ? -1 : (value.text == c.operands[i] ? 0 : 1);
}

bool Equals(const FactValue& value, const Condition& c, size_t i) {
  if (value.kind == FactValue::Kind::kNumber && c.numbers[i].has_value()) return value.number == *c.numbers[i];
  return value.text == c.operands[i];
}

// Whole years between `birth` and the day `now` falls on in `zone`.
std::optional<int64_t> AgeYears(const FactValue& value, absl::Time now, absl::TimeZone zone) {
  std::optional<absl::CivilDay> birth = ParseCivilDay(value.text);
  if (!birth.has_value()) return std::nullopt;
  const absl::CivilDay today = absl::ToCivilDay(now, zone);
  int64_t age = today.year() - birth->year();
  if (today.month() < birth->month() || (today.month() == birth->month() && today.day() < birth->day())) --age;
  return age;
}

// The next birthday of `birth` strictly after the day `now` falls on, at local midnight. A
// 29 February birthday counts on 1 March in other years (absl normalises the civil day).
absl::Time NextBirthday(absl::CivilDay birth, absl::Time now, absl::TimeZone zone) {
  const absl::CivilDay today = absl::ToCivilDay(now, zone);
  absl::CivilDay next(today.year(), birth.month(), birth.day());
  if (next <= today) next = absl::CivilDay(today.year() + 1, birth.month(), birth.day());
  return absl::FromCivil(next, zone);
}

bool EvaluateFact(const Condition& c, const FactValue* value, absl::Time now, absl::TimeZone zone) {
  const bool present = value != nullptr && value->kind != FactValue::Kind::kNull;
  if (c.op == Condition::Op::kExists) return present == c.exists;
  if (!present) return c.op == Condition::Op::kNe;
  switch (c.op) {
    case Condition::Op::kEq: return Equals(*value, c, 0);
    case Condition::Op::kNe: return !Equals(*value, c, 0);
    case Condition::Op::kIn:
      for (size_t i = 0; i < c.operands.size(); ++i) {
        if (Equals(*value, c, i)) return true;
      }
      return false;
    case Condition::Op::kContains:
      if (value->kind == FactValue::Kind::kList) {
        return std::find(value->list.begin(), value->list.end(), c.operands[0]) != value->list.end();
      }
      return value->kind == FactValue::Kind::kString && value->text.find(c.operands[0]) != std::string::npos;
    case Condition::Op::kGt: return Compare(*value, c, 0) > 0;
    case Condition::Op::kGte: return Compare(*value, c, 0) >= 0;
    case Condition::Op::kLt: return Compare(*value, c, 0) < 0;
    case Condition::Op::kLte: return Compare(*value, c, 0) <= 0;
    case Condition::Op::kAgeBetween: {
      std::optional<int64_t> age = AgeYears(*value, now, zone);
      return age.has_value() && *age >= *c.numbers[0] && *age <= *c.numbers[1];
    }
    case Condition::Op::kExists: break;
  }
  return false;
}

std::optional<absl::Time> Earliest(std::optional<absl::Time> a, std::optional<absl::Time> b) {
  if (!a.has_value()) return b;
  if (!b.has_value()) return a;
  return std::min(*a, *b);
}

std::string_view OrderStatusName(v1::OrderStatus status) {
  switch (status) {
    case v1::ORDER_STATUS_COMPLETED: return "completed";
    case v1::ORDER_STATUS_REFUNDED: return "refunded";
    case v1::ORDER_STATUS_CANCELLED: return "cancelled";
    default: return "";
  }
}

std::string_view ChannelName(v1::Channel channel) {
  switch (channel) {
    case v1::CHANNEL_WEB: return "web";
    case v1::CHANNEL_SOCIAL: return "social";
    case v1::CHANNEL_PURCHASE: return "purchase";
    default: return "";
  }
}

bool PropertyMatches(const v1::Event& event, std::string_view property, std::string_view value) {
  if (event.channel() == v1::CHANNEL_PURCHASE) {
    const v1::Order& order = event.order();
    if (property == "category") {
      return std::any_of(order.items().begin(), order.items().end(),
                         [&](const v1::OrderItem& item) { return item.category() == value; });
    }
    if (property == "channel") return order.channel() == value;
    if (property == "status") return OrderStatusName(order.status()) == value;
    if (property == "coupon") return order.coupon() == value;
    return false;
  }
  if (event.properties_json().empty()) return false;
  simdjson::dom::element root;
  if (Parser().parse(event.properties_json()).get(root) != simdjson::SUCCESS) return false;
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return false;
  simdjson::dom::element found;
  if (object.at_key(property).get(found) == simdjson::SUCCESS) return ScalarText(found) == value;
  // Segment's ecommerce events carry per-product properties in `products`.
  simdjson::dom::array products;
  if (object.at_key("products").get_array().get(products) != simdjson::SUCCESS) return false;
  for (simdjson::dom::element product : products) {
    simdjson::dom::element item_value;
    if (product.at_key(property).get(item_value) == simdjson::SUCCESS && ScalarText(item_value) == value) return true;
  }
  return false;
}

}  // namespace

FactValue FactValue::String(std::string value) {
  FactValue v;
  v.kind = Kind::kString;
  v.text = std::move(value);
  return v;
}

FactValue FactValue::Number(double value) {
  FactValue v;
  v.kind = Kind::kNumber;
  v.number = value;
  v.text = absl::StrCat(value);
  return v;
}

FactValue FactValue::FromJson(std::string_view json) {
  FactValue v;
  simdjson::dom::element root;
  if (Parser().parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) return v;
  switch (root.type()) {
    case simdjson::dom::element_type::STRING:
      v.kind = Kind::kString;
      v.text = ScalarText(root);
      break;
    case simdjson::dom::element_type::BOOL:
      v.kind = Kind::kBool;
      v.boolean = root.get_bool().value();
      v.text = ScalarText(root);
      break;
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      v.kind = Kind::kNumber;
      v.number = root.get_double().value();
      v.text = ScalarText(root);
      break;
    case simdjson::dom::element_type::ARRAY: {
      v.kind = Kind::kList;
      simdjson::dom::array items;
      if (root.get_array().get(items) != simdjson::SUCCESS) break;
      for (simdjson::dom::element item : items) v.list.push_back(ScalarText(item));
      break;
    }
    default: break;
  }
  return v;
}

std::string EventSelector::Key() const {
  std::string key;
  AppendKey(key);
  return key;
}

void EventSelector::AppendKey(std::string& out) const {
  out.append(event);
  char separator = '?';
  for (const auto& [property, value] : where) {
    out.push_back(separator);
    absl::StrAppend(&out, property, "=", value);
    separator = '&';
  }
}

bool EventSelector::Matches(const v1::Event& e) const {
  if (e.name() != event) {
    const std::string_view channel = ChannelName(e.channel());
    const std::string_view name = event;
    if (name.size() != channel.size() + 1 + e.type().size() || name.substr(0, channel.size()) != channel ||
        name[channel.size()] != '.' || name.substr(channel.size() + 1) != e.type()) {
      return false;
    }
  }
  for (const auto& [property, value] : where) {
    if (!PropertyMatches(e, property, value)) return false;
  }
  return true;
}

absl::StatusOr<Condition> ConditionFromYaml(const YAML::Node& node, std::string_view path) {
  try {
    return FromYaml(node, std::string(path));
  } catch (const YAML::Exception& e) {
    return kYaml.Bad(path, e.what());
  }
}

absl::StatusOr<Condition> ParseCondition(std::string_view text) {
  try {
    const YAML::Node node = YAML::Load(std::string(text));
    return FromYaml(node, "condition");
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("condition: cannot parse: ", e.what()));
  }
}

void CollectSelectors(const Condition& condition, std::vector<std::pair<EventSelector, int32_t>>& out) {
  if (condition.kind == Condition::Kind::kEvent) {
    for (auto& [selector, window] : out) {
      if (selector.Key() == condition.selector.Key()) {
        // All time wins over any window; otherwise the longest window.
        window = (window == 0 || condition.within_days == 0) ? 0 : std::max(window, condition.within_days);
        return;
      }
    }
    out.emplace_back(condition.selector, condition.within_days);
    return;
  }
  for (const Condition& child : condition.children) CollectSelectors(child, out);
}

std::optional<absl::CivilDay> ParseCivilDay(std::string_view text) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int year = 0, month = 0, day = 0;
  if (!absl::SimpleAtoi(AbslView(text.substr(0, 4)), &year) || !absl::SimpleAtoi(AbslView(text.substr(5, 2)), &month) ||
      !absl::SimpleAtoi(AbslView(text.substr(8, 2)), &day) || month < 1 || month > 12 || day < 1 || day > 31) {
    return std::nullopt;
  }
  return absl::CivilDay(year, month, day);
}

std::optional<absl::TimeZone> LoadZone(std::string_view name) {
  static std::mutex mu;
  static auto* cache = new std::map<std::string, std::optional<absl::TimeZone>, std::less<>>();
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = cache->find(name); it != cache->end()) return it->second;
  absl::TimeZone zone;
  std::optional<absl::TimeZone> loaded;
  if (!name.empty() && absl::LoadTimeZone(std::string(name), &zone)) loaded = zone;
  cache->emplace(std::string(name), loaded);
  return loaded;
}

ProfileFactsView::ProfileFactsView(const v1::Profile* profile, absl::TimeZone default_zone,
                                   const ComputedTraitSource* computed, absl::Time now)
    : profile_(profile), zone_(default_zone), computed_(computed), now_(now) {
  if (auto it = profile->traits().find("timezone"); it != profile->traits().end()) {
    const FactValue value = FactValue::FromJson(it->second.json());
    if (value.kind == FactValue::Kind::kString) {
      if (std::optional<absl::TimeZone> zone = LoadZone(value.text)) zone_ = *zone;
    }
  }
}

namespace {

const FactValue* ValueOf(const std::optional<FactValue>& value) { return value.has_value() ? &*value : nullptr; }

}  // namespace

const FactValue* ProfileFactsView::Trait(std::string_view name) const {
  for (const auto& [parsed_name, value] : parsed_traits_) {
    if (parsed_name == name) return ValueOf(value);
  }
  std::optional<FactValue> value;
  if (auto it = profile_->traits().find(std::string(name)); it != profile_->traits().end()) {
    value = FactValue::FromJson(it->second.json());
  }
  return ValueOf(parsed_traits_.emplace_back(std::string(name), std::move(value)).second);
}

const FactValue* ProfileFactsView::Computed(std::string_view name) const {
  // Computing may be costly (a part of ComputeTraits): once per name per evaluation.
  for (const auto& [computed_name, value] : computed_values_) {
    if (computed_name == name) return ValueOf(value);
  }
  std::optional<FactValue> value = computed_ != nullptr ? computed_->Get(*profile_, name, now_) : BuiltInComputed(name);
  return ValueOf(computed_values_.emplace_back(std::string(name), std::move(value)).second);
}

bool BuiltInDerivedFromOrders(std::string_view name) {
  return name == "orders_count" || name == "refunds_count" || name == "cancelled_count" ||
         name.starts_with("total_spend.");
}

std::optional<FactValue> ProfileFactsView::BuiltInComputed(std::string_view name) const {
  auto count = [](const auto& map, std::string_view key) -> std::optional<FactValue> {
    auto it = map.find(std::string(key));
    return FactValue::Number(it == map.end() ? 0 : static_cast<double>(it->second));
  };
  v1::OrderTotals scratch;
  const v1::OrderTotals& totals = OrderTotalsOf(*profile_, scratch);
  const auto number = [](int64_t n) { return FactValue::Number(static_cast<double>(n)); };
  if (name == "orders_count") return number(totals.completed());
  if (name == "refunds_count") return number(totals.refunded());
  if (name == "cancelled_count") return number(totals.cancelled());
  if (name == "days_since_last_seen") {
    if (profile_->last_seen_ms() == 0) return std::nullopt;
    return FactValue::Number(
        std::floor(absl::ToDoubleMilliseconds(now_ - absl::FromUnixMillis(profile_->last_seen_ms())) / kMillisPerDay));
  }
  if (name.starts_with("total_spend.")) {
    const std::string_view currency = name.substr(12);
    auto spend = totals.spend().find(std::string(currency));
    const int64_t minor = spend == totals.spend().end() ? 0 : spend->second;
    // Major units, through the currency's exponent; unknown currencies stay in minor units.
    const int exponent = CurrencyExponent(currency).value_or(0);
    return FactValue::Number(static_cast<double>(minor) / std::pow(10.0, exponent));
  }
  if (name.starts_with("event_type_counts.")) return count(profile_->event_type_counts(), name.substr(18));
  if (name.starts_with("track_events.")) return count(profile_->track_event_counts(), name.substr(13));
  return std::nullopt;
}

const v1::EventDayCounts* ProfileFactsView::WindowOf(const EventSelector& selector) const {
  // Every segment evaluation looks windows up: the key is built in a buffer kept per thread
  // rather than allocated each time (the map's find takes a std::string).
  thread_local std::string key;
  key.clear();
  selector.AppendKey(key);
  auto it = profile_->event_windows().find(key);
  return it == profile_->event_windows().end() ? nullptr : &it->second;
}

int64_t ProfileFactsView::CountEvents(const EventSelector& selector, int32_t within_days, absl::Time now) const {
  const v1::EventDayCounts* window = WindowOf(selector);
  if (window == nullptr) return 0;
  const int32_t today = UtcDay(absl::ToUnixMillis(now));
  int64_t total = 0;
  for (const auto& [day, count] : window->by_day()) {
    if (within_days == 0 || (day > today - within_days && day <= today)) total += count;
  }
  return total;
}

std::optional<absl::Time> ProfileFactsView::NextWindowExit(const EventSelector& selector, int32_t within_days,
                                                           absl::Time now) const {
  if (within_days == 0) return std::nullopt;
  const v1::EventDayCounts* window = WindowOf(selector);
  if (window == nullptr) return std::nullopt;
  const int32_t today = UtcDay(absl::ToUnixMillis(now));
  std::optional<int32_t> oldest, next_future;
  for (const auto& [day, count] : window->by_day()) {
    if (count == 0) continue;
    if (day > today - within_days && day <= today && (!oldest.has_value() || day < *oldest)) oldest = day;
    if (day > today && (!next_future.has_value() || day < *next_future)) next_future = day;
  }
  // Day d is in the window until the start of day d + within_days (UTC); an event dated ahead of
  // the clock (a device's wrong clock) enters it at the start of its day.
  std::optional<absl::Time> at;
  if (oldest.has_value()) at = absl::FromUnixMillis(static_cast<int64_t>(*oldest + within_days) * kMillisPerDay);
  if (next_future.has_value()) {
    const absl::Time enters = absl::FromUnixMillis(static_cast<int64_t>(*next_future) * kMillisPerDay);
    if (!at.has_value() || enters < *at) at = enters;
  }
  return at;
}

std::optional<absl::Time> ProfileFactsView::ComputedChangesAt(std::string_view name, absl::Time now) const {
  if (computed_ != nullptr) {
    if (now != now_) return computed_->ChangesAt(*profile_, name, now);
    // Several segments often ask about the same trait (one per RFM tier): once per name.
    for (const auto& [computed_name, at] : computed_changes_) {
      if (computed_name == name) return at;
    }
    std::optional<absl::Time> at = computed_->ChangesAt(*profile_, name, now);
    computed_changes_.emplace_back(std::string(name), at);
    return at;
  }
  if (name == "days_since_last_seen" && profile_->last_seen_ms() != 0) {
    const int64_t since = absl::ToUnixMillis(now) - profile_->last_seen_ms();
    return absl::FromUnixMillis(profile_->last_seen_ms() + (since / kMillisPerDay + 1) * kMillisPerDay);
  }
  return std::nullopt;
}

bool Evaluate(const Condition& c, const ProfileFacts& facts, absl::Time now) {
  switch (c.kind) {
    case Condition::Kind::kAll:
      return std::all_of(c.children.begin(), c.children.end(),
                         [&](const Condition& child) { return Evaluate(child, facts, now); });
    case Condition::Kind::kAny:
      return std::any_of(c.children.begin(), c.children.end(),
                         [&](const Condition& child) { return Evaluate(child, facts, now); });
    case Condition::Kind::kNot: return !Evaluate(c.children[0], facts, now);
    case Condition::Kind::kTrait: return EvaluateFact(c, facts.Trait(c.name), now, facts.TimeZone());
    case Condition::Kind::kComputed: return EvaluateFact(c, facts.Computed(c.name), now, facts.TimeZone());
    case Condition::Kind::kEvent: {
      const int64_t n = facts.CountEvents(c.selector, c.within_days, now);
      return n >= c.count_gte && (!c.count_lte.has_value() || n <= *c.count_lte);
    }
  }
  return false;
}

std::optional<absl::Time> NextChange(const Condition& c, const ProfileFacts& facts, absl::Time now) {
  switch (c.kind) {
    case Condition::Kind::kAll:
    case Condition::Kind::kAny:
    case Condition::Kind::kNot: {
      std::optional<absl::Time> next;
      for (const Condition& child : c.children) next = Earliest(next, NextChange(child, facts, now));
      return next;
    }
    case Condition::Kind::kTrait: {
      if (c.op != Condition::Op::kAgeBetween) return std::nullopt;
      const FactValue* value = facts.Trait(c.name);
      if (value == nullptr) return std::nullopt;
      std::optional<absl::CivilDay> birth = ParseCivilDay(value->text);
      if (!birth.has_value()) return std::nullopt;
      return NextBirthday(*birth, now, facts.TimeZone());
    }
    case Condition::Kind::kComputed: return facts.ComputedChangesAt(c.name, now);
    case Condition::Kind::kEvent: return facts.NextWindowExit(c.selector, c.within_days, now);
  }
  return std::nullopt;
}

}  // namespace tessera::profiles
