#include "profiles/computed_facts.h"

#include <cmath>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/absl_compat.h"
#include "common/currency.h"
#include "profiles/order_totals.h"

namespace tessera::profiles {
namespace {

// "lifetime_spend.THB" -> the amount in major units, when the prefix names a money field.
std::optional<FactValue> MoneyField(const ComputedTraits& traits, std::string_view name) {
  const size_t dot = name.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view field = name.substr(0, dot);
  const std::string currency(name.substr(dot + 1));
  const std::map<std::string, int64_t>* by_currency = nullptr;
  if (field == "lifetime_spend" || field == "total_spend") by_currency = &traits.lifetime_spend;
  if (field == "average_order_value") by_currency = &traits.average_order_value;
  if (by_currency == nullptr) return std::nullopt;
  auto it = by_currency->find(currency);
  const int64_t minor = it == by_currency->end() ? 0 : it->second;
  return FactValue::Number(static_cast<double>(minor) / std::pow(10.0, CurrencyExponent(currency).value_or(0)));
}

// What the default source (ProfileFactsView without a ComputedTraitSource) answers beyond the
// computed object, so plugging this source in takes no condition away.
std::optional<FactValue> DefaultSourceFact(const v1::Profile& profile, std::string_view name, absl::Time now) {
  v1::OrderTotals scratch;
  const v1::OrderTotals& totals = OrderTotalsOf(profile, scratch);
  const auto number = [](int64_t n) { return FactValue::Number(static_cast<double>(n)); };
  const auto count = [](const google::protobuf::Map<std::string, int64_t>& map, std::string_view key) {
    auto it = map.find(std::string(key));
    return FactValue::Number(it == map.end() ? 0 : static_cast<double>(it->second));
  };
  if (name == "orders_count") return number(totals.completed());
  if (name == "refunds_count") return number(totals.refunded());
  if (name == "cancelled_count") return number(totals.cancelled());
  if (name == "days_since_last_seen") {
    if (profile.event_counts().empty()) return std::nullopt;
    return FactValue::Number(std::floor(
        absl::ToDoubleMilliseconds(now - absl::FromUnixMillis(profile.last_seen_ms())) / kMillisPerDay));
  }
  if (name.starts_with("event_type_counts.")) return count(profile.event_type_counts(), name.substr(18));
  if (name.starts_with("track_events.")) return count(profile.track_event_counts(), name.substr(13));
  return std::nullopt;
}

}  // namespace

std::optional<FactValue> ComputedTraitsFacts::Get(const v1::Profile& profile, std::string_view name,
                                                  absl::Time now) const {
  if (std::optional<FactValue> fact = DefaultSourceFact(profile, name, now)) return fact;
  // A money field per currency ("lifetime_spend.THB") lives in the part of its prefix.
  std::string_view field = name.substr(0, name.find('.'));
  if (field == "total_spend") field = "lifetime_spend";  // the default source's name for it
  const ComputedTraits traits = ComputeTraitsFor(profile, field, now, *config_);
  if (std::optional<FactValue> money = MoneyField(traits, name)) return money;
  std::optional<std::string> json = ComputedTraitJson(traits, name);
  if (!json.has_value() || *json == "null") return std::nullopt;
  return FactValue::FromJson(*json);
}

bool ComputedTraitsFacts::DerivedFromOrders(std::string_view name) const {
  // The other names DefaultSourceFact answers first (days_since_last_seen, event_type_counts.*,
  // track_events.*) are no value field either, so they read as not derived from orders.
  return BuiltInDerivedFromOrders(name) || IsValueField(name.substr(0, name.find('.')));
}

std::optional<absl::Time> ComputedTraitsFacts::ChangesAt(const v1::Profile& profile, std::string_view name,
                                                         absl::Time now) const {
  if (name == "days_since_last_seen" && !profile.event_counts().empty()) {
    const int64_t since = absl::ToUnixMillis(now) - profile.last_seen_ms();
    return absl::FromUnixMillis(profile.last_seen_ms() + (since / kMillisPerDay + 1) * kMillisPerDay);
  }
  return ComputedTraitChangesAt(profile, name, now, *config_);
}

void AddRfmTierSegments(const ComputedTraitsConfig& computed, ActivationConfig& activation) {
  if (!computed.rfm_tier_segments) return;
  for (std::string_view tier : kRfmTiers) {
    SegmentDefinition segment;
    segment.name = absl::StrCat(AbslView(kRfmTierSegmentPrefix), AbslView(tier));
    segment.description = absl::StrCat("built in: RFM tier ", AbslView(tier), " (docs/computed-traits.md)");
    segment.condition.kind = Condition::Kind::kComputed;
    segment.condition.name = "rfm_tier";
    segment.condition.op = Condition::Op::kEq;
    segment.condition.operands = {std::string(tier)};
    segment.condition.numbers = {std::nullopt};
    activation.segments.push_back(std::move(segment));
  }
  const RfmThresholds& rfm = computed.rfm;
  absl::StrAppend(&activation.fingerprint, "rfm_tier_segments: recency ", absl::StrJoin(rfm.recency_days, ","),
                  " frequency ", absl::StrJoin(rfm.frequency, ","), " monetary");
  for (const auto& [currency, thresholds] : rfm.monetary) {
    absl::StrAppend(&activation.fingerprint, " ", currency, " ", absl::StrJoin(thresholds, ","));
  }
  activation.fingerprint.push_back('\n');
}

std::optional<CartAbandonment> CartAbandonmentOf(const v1::Profile& profile, const ComputedTraitsConfig& config) {
  const std::optional<absl::Time> at = CartAbandonedAt(profile, config);
  if (!at.has_value()) return std::nullopt;
  CartAbandonment cart;
  cart.abandoned_at_ms = absl::ToUnixMillis(*at);
  const int64_t activity_ms = absl::ToUnixMillis(*at - config.cart_abandon_after);
  cart.occurrence = absl::StrCat("cart:", activity_ms);
  // The products as of the abandonment (any instant at or after it gives the same list).
  const ComputedTraits traits = ComputeTraitsFor(profile, "cart_products", *at, config);
  cart.detail_json = ComputedTraitJson(traits, "cart_products").value_or("[]");
  return cart;
}

}  // namespace tessera::profiles
