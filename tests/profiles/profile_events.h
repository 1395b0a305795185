// Builders of normalized events for profile tests: one line per event in a test table. Header-only
// test helpers; no state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/identifier.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::profiles::test_events {

constexpr int64_t kSecondMs = 1000;
constexpr int64_t kMinuteMs = 60 * kSecondMs;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kDayMs = 24 * kHourMs;
// 2026-11-25T03:04:05.000Z, a Wednesday (10:04 in Bangkok).
constexpr int64_t kT0 = 1'795'575'845'000;

inline v1::Event BaseEvent(const std::string& message_id, int64_t ts, v1::Channel channel,
                           const std::vector<std::string>& identifiers) {
  v1::Event event;
  event.set_message_id(message_id);
  event.set_workspace("baankafe");
  event.set_channel(channel);
  event.set_timestamp_ms(ts);
  for (const std::string& text : identifiers) *event.add_identifiers() = ParseIdentifier(text).value();
  return event;
}

// A web track call with its properties as the JSON ingest stores.
inline v1::Event Track(const std::string& message_id, int64_t ts, const std::string& name,
                       const std::string& properties_json = "",
                       const std::vector<std::string>& identifiers = {"anonymous_id:a-1"}) {
  v1::Event event = BaseEvent(message_id, ts, v1::CHANNEL_WEB, identifiers);
  event.set_type("track");
  event.set_name(name);
  event.set_properties_json(properties_json);
  return event;
}

inline v1::Event Page(const std::string& message_id, int64_t ts, const std::string& name = "Menu",
                      const std::vector<std::string>& identifiers = {"anonymous_id:a-1"}) {
  v1::Event event = BaseEvent(message_id, ts, v1::CHANNEL_WEB, identifiers);
  event.set_type("page");
  event.set_name(name);
  return event;
}

inline v1::Event IdentifyTraits(const std::string& message_id, int64_t ts,
                                const std::vector<std::pair<std::string, std::string>>& traits,
                                const std::vector<std::string>& identifiers = {"anonymous_id:a-1"}) {
  v1::Event event = BaseEvent(message_id, ts, v1::CHANNEL_WEB, identifiers);
  event.set_type("identify");
  for (const auto& [name, json] : traits) (*event.mutable_traits())[name] = json;
  return event;
}

struct Line {
  std::string sku;
  std::string category;
  int64_t quantity = 1;
  int64_t unit_price_minor = 0;
};

struct OrderOptions {
  std::vector<Line> lines;
  std::string channel = "store";
  std::string coupon;
};

// A raw.purchase message as ingest normalizes it (message id "order:<id>:<status>").
inline v1::Event OrderEvent(const std::string& order_id, int64_t ts, v1::OrderStatus status, int64_t total_minor,
                            const std::string& currency, const OrderOptions& options = {},
                            const std::vector<std::string>& identifiers = {"email:somchai@example.com"}) {
  const std::string status_name = status == v1::ORDER_STATUS_COMPLETED  ? "completed"
                                  : status == v1::ORDER_STATUS_REFUNDED ? "refunded"
                                                                        : "cancelled";
  v1::Event event = BaseEvent("order:" + order_id + ":" + status_name, ts, v1::CHANNEL_PURCHASE, identifiers);
  event.set_type("order");
  event.set_name(status_name);
  v1::Order& order = *event.mutable_order();
  order.set_order_id(order_id);
  order.set_channel(options.channel);
  order.set_coupon(options.coupon);
  order.set_status(status);
  order.mutable_total()->set_minor_units(total_minor);
  order.mutable_total()->set_currency(currency);
  for (const Line& line : options.lines) {
    v1::OrderItem& item = *order.add_items();
    item.set_sku(line.sku);
    item.set_name("name of " + line.sku);
    item.set_category(line.category);
    item.set_quantity(line.quantity);
    item.set_unit_price_minor(line.unit_price_minor);
  }
  return event;
}

inline v1::Event Completed(const std::string& order_id, int64_t ts, int64_t total_minor,
                           const std::string& currency = "THB", const OrderOptions& options = {}) {
  return OrderEvent(order_id, ts, v1::ORDER_STATUS_COMPLETED, total_minor, currency, options);
}

}  // namespace tessera::profiles::test_events
