#include "profiles/order_totals.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace tessera::profiles {
namespace {

using Counts = google::protobuf::Map<std::string, int64_t>;
using Orders = google::protobuf::Map<std::string, v1::OrderSummary>;

constexpr int kWeekdays = 7;
constexpr int kHours = 24;

// Adds `delta` to counts[key]; an entry that reaches zero is removed, so equal orders give equal
// maps however they were reached.
void AddTo(Counts& counts, const std::string& key, int64_t delta) {
  if (delta == 0) return;
  auto it = counts.find(key);
  if (it == counts.end()) {
    counts[key] = delta;
  } else if ((it->second += delta) == 0) {
    counts.erase(it);
  }
}

// Adds `delta` minor units to money[currency] while `present` (the currency still has an order of
// this kind: an order of 0.00 shows its currency too); removes the entry otherwise.
void AddMoney(Counts& money, const std::string& currency, int64_t delta, bool present) {
  if (!present) {
    money.erase(currency);
    return;
  }
  money[currency] += delta;
}

bool Has(const Counts& counts, const std::string& key) { return counts.find(key) != counts.end(); }

// Counts one completed order's local weekday and hour in `zone`.
void CountUsualTime(int64_t timestamp_ms, int sign, const absl::TimeZone& zone, v1::OrderTotals& totals) {
  const absl::CivilHour local = absl::ToCivilHour(absl::FromUnixMillis(timestamp_ms), zone);
  const int weekday = static_cast<int>(absl::GetWeekday(local));
  totals.set_weekday_counts(weekday, totals.weekday_counts(weekday) + sign);
  totals.set_hour_counts(local.hour(), totals.hour_counts(local.hour()) + sign);
}

void StartUsualTimes(const NamedTimeZone& zone, v1::OrderTotals& totals) {
  totals.set_zone(zone.name);
  totals.mutable_weekday_counts()->Resize(kWeekdays, 0);
  totals.mutable_hour_counts()->Resize(kHours, 0);
}

// Adds (sign +1) or removes (sign -1) one order's contribution; the usual times only with a zone
// (the one the totals' counts are in). Returns true when a removal took away the earliest or the
// latest completed order while others remain: the span must then be recomputed (a min or a max
// cannot be undone from the sums).
bool Contribute(const v1::OrderSummary& order, int sign, const NamedTimeZone* zone, v1::OrderTotals& totals) {
  const std::string& currency = order.total().currency();
  const int64_t total = sign * order.total().minor_units();
  switch (order.status()) {
    case v1::ORDER_STATUS_COMPLETED: {
      const bool first_completed = totals.completed() == 0;
      totals.set_completed(totals.completed() + sign);
      AddTo(*totals.mutable_completed_by_currency(), currency, sign);
      AddMoney(*totals.mutable_spend(), currency, total, Has(totals.completed_by_currency(), currency));
      for (const auto& [category, quantity] : order.category_quantities()) {
        AddTo(*totals.mutable_items_by_category(), category, sign * quantity);
      }
      for (const auto& [key, line] : order.lines()) {
        AddTo(*totals.mutable_product_quantity(), key, sign * line.quantity());
        AddTo(*totals.mutable_product_spend(), CurrencyKey(currency, key), sign * line.spend_minor());
        AddTo(*totals.mutable_category_spend(), CurrencyKey(currency, line.category()), sign * line.spend_minor());
      }
      if (!order.channel().empty()) AddTo(*totals.mutable_channels(), order.channel(), sign);
      if (!order.coupon().empty()) totals.set_with_coupon(totals.with_coupon() + sign);
      const int64_t at = order.timestamp_ms();
      if (zone != nullptr) {
        if (first_completed) StartUsualTimes(*zone, totals);
        CountUsualTime(at, sign, zone->zone, totals);
      }
      if (sign > 0) {
        totals.set_first_completed_ms(first_completed ? at : std::min(totals.first_completed_ms(), at));
        totals.set_last_completed_ms(first_completed ? at : std::max(totals.last_completed_ms(), at));
        return false;
      }
      if (totals.completed() == 0) {  // nothing completed is left: no span, no usual times
        totals.clear_first_completed_ms();
        totals.clear_last_completed_ms();
        totals.clear_zone();
        totals.clear_weekday_counts();
        totals.clear_hour_counts();
        return false;
      }
      return at == totals.first_completed_ms() || at == totals.last_completed_ms();
    }
    case v1::ORDER_STATUS_REFUNDED:
      totals.set_refunded(totals.refunded() + sign);
      AddTo(*totals.mutable_refunded_by_currency(), currency, sign);
      AddMoney(*totals.mutable_refunded_money(), currency, total, Has(totals.refunded_by_currency(), currency));
      return false;
    case v1::ORDER_STATUS_CANCELLED:
      totals.set_cancelled(totals.cancelled() + sign);
      return false;
    default:
      return false;
  }
}

void RecomputeCompletedSpan(const Orders& orders, v1::OrderTotals& totals) {
  bool any = false;
  for (const auto& [id, order] : orders) {
    if (order.status() != v1::ORDER_STATUS_COMPLETED) continue;
    const int64_t at = order.timestamp_ms();
    totals.set_first_completed_ms(any ? std::min(totals.first_completed_ms(), at) : at);
    totals.set_last_completed_ms(any ? std::max(totals.last_completed_ms(), at) : at);
    any = true;
  }
}

void RecountUsualTimes(const Orders& orders, const NamedTimeZone& zone, v1::OrderTotals& totals) {
  totals.clear_weekday_counts();
  totals.clear_hour_counts();
  StartUsualTimes(zone, totals);
  for (const auto& [id, order] : orders) {
    if (order.status() == v1::ORDER_STATUS_COMPLETED) CountUsualTime(order.timestamp_ms(), +1, zone.zone, totals);
  }
}

}  // namespace

std::string CurrencyKey(std::string_view currency, std::string_view key) {
  return absl::StrCat(AbslView(currency), " ", AbslView(key));
}

v1::OrderTotals ComputeOrderTotals(const Orders& orders, const NamedTimeZone* zone) {
  v1::OrderTotals totals;
  for (const auto& [id, order] : orders) Contribute(order, +1, zone, totals);
  totals.set_orders(static_cast<int64_t>(orders.size()));
  return totals;
}

void RecountOrderTotals(const NamedTimeZone& zone, v1::Profile& profile) {
  *profile.mutable_order_totals() = ComputeOrderTotals(profile.orders(), &zone);
}

const v1::OrderTotals& OrderTotalsOf(const v1::Profile& profile, v1::OrderTotals& scratch) {
  if (profile.has_order_totals() || profile.orders().empty()) return profile.order_totals();
  scratch = ComputeOrderTotals(profile.orders());
  return scratch;
}

bool HasUsualTimesIn(const v1::OrderTotals& totals, std::string_view zone_name) {
  return totals.completed() > 0 && totals.zone() == zone_name && totals.weekday_counts_size() == kWeekdays &&
         totals.hour_counts_size() == kHours;
}

void SetOrderZone(const NamedTimeZone& zone, v1::Profile& profile) {
  if (!profile.has_order_totals()) {
    // Stored before totals existed (or no orders at all): all of them, from the orders as they are.
    if (!profile.orders().empty()) *profile.mutable_order_totals() = ComputeOrderTotals(profile.orders(), &zone);
    return;
  }
  if (profile.order_totals().completed() == 0 || HasUsualTimesIn(profile.order_totals(), zone.name)) return;
  if (profile.orders_partial()) {  // the counts need every order: the batch recounts before saving
    profile.mutable_order_totals()->set_stale(true);
    return;
  }
  RecountUsualTimes(profile.orders(), zone, *profile.mutable_order_totals());
}

void DropOrdersKeepingTotals(v1::Profile& profile) {
  if (profile.orders().empty()) return;
  if (!profile.has_order_totals()) *profile.mutable_order_totals() = ComputeOrderTotals(profile.orders());
  profile.clear_orders();
}

void SetOrder(const std::string& order_id, const v1::OrderSummary& state, const NamedTimeZone& zone,
              v1::Profile& profile) {
  SetOrderZone(zone, profile);  // the contributions below are counted in `zone`
  v1::OrderTotals& totals = *profile.mutable_order_totals();
  auto& orders = *profile.mutable_orders();
  auto it = orders.find(order_id);
  if (it == orders.end()) {
    Contribute(state, +1, &zone, totals);
    totals.set_orders(totals.orders() + 1);
    orders[order_id] = state;
    return;
  }
  const bool span_lost = Contribute(it->second, -1, &zone, totals);
  Contribute(state, +1, &zone, totals);
  it->second = state;
  if (!span_lost) return;
  if (profile.orders_partial()) {
    totals.set_stale(true);  // the batch recounts from every order before saving
  } else {
    RecomputeCompletedSpan(orders, totals);
  }
}

}  // namespace tessera::profiles
