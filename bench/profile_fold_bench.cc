// profile-fold-bench: Google Benchmark of the profile fold (profiles::ApplyEvent) with computed
// traits, on one core, in memory (no RocksDB, no Kafka): the CPU the profiles stage spends per event
// on top of its storage.
//
// Method. 20,000 pre-built events over 2,000 profiles, shaped like a shop's traffic: page views,
// product views and adds carrying Segment-spec properties, checkouts, web "Order Completed" calls,
// email events and purchase-channel orders with items, spread over 120 days so day buckets slide and
// get pruned. Each iteration folds the next event into its profile (a flat array of v1::Profile,
// indexed by profile), cycling through the list, so the profiles reach a steady size (orders are
// last-writer-wins per order id, carts close, windows prune). Reported: items_per_second = events
// folded per second on one thread.
//   BM_ApplyEvent/0  the default config (built-in computed-trait state only)
//   BM_ApplyEvent/10 ten user-defined computed traits (every aggregate, windowed and all-time)
//   BM_ComputeTraits computing every computed trait of a profile (the read side: profile get,
//                    profile-updates, segment evaluation)
//
//   build-bench/bench/profile-fold-bench --benchmark_min_time=2
#include <random>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "common/identifier.h"
#include "profiles/computed_traits.h"
#include "profiles/profile_state.h"

namespace tessera::profiles {
namespace {

constexpr int kProfiles = 2'000;
constexpr int kEvents = 20'000;
constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kT0 = 1'795'575'845'000;  // 2026-11-25T03:04:05Z

constexpr char kTenTraits[] = R"(
profiles:
  default_time_zone: Asia/Bangkok
  computed_traits:
    - {name: orders_all, event: "Order Completed", aggregate: count}
    - {name: revenue_30d, event: "Order Completed", property: revenue, aggregate: sum, window_days: 30}
    - {name: revenue_max, event: "Order Completed", property: revenue, aggregate: max}
    - {name: first_order_revenue, event: "Order Completed", property: revenue, aggregate: first}
    - {name: last_viewed, event: "Product Viewed", property: name, aggregate: last}
    - {name: viewed_category, event: "Product Viewed", property: category, aggregate: most_frequent}
    - {name: viewed_skus_90d, event: "Product Viewed", property: sku, aggregate: unique_list, window_days: 90}
    - {name: views_7d, event: "Product Viewed", aggregate: count, window_days: 7}
    - {name: store_spend, event: purchase.order, property: total, aggregate: sum}
    - {name: min_price_added, event: "Product Added", property: price, aggregate: min}
)";

struct Workload {
  std::vector<v1::Event> events;
  std::vector<int> profile_of;  // index into the profiles array
};

const Workload& TheWorkload() {
  static const Workload* const workload = [] {
    auto* w = new Workload();
    std::mt19937_64 rng(8);
    const char* kCategories[] = {"coffee", "tea", "bakery", "merch"};
    const char* kEmail[] = {"Email Delivered", "Email Opened", "Email Link Clicked"};
    for (int i = 0; i < kEvents; ++i) {
      const int person = static_cast<int>(rng() % kProfiles);
      v1::Event event;
      event.set_message_id("m" + std::to_string(i));
      event.set_workspace("baankafe");
      event.set_timestamp_ms(kT0 - static_cast<int64_t>(rng() % 120) * kDayMs + static_cast<int64_t>(rng() % kDayMs));
      *event.add_identifiers() = ParseIdentifier("anonymous_id:a" + std::to_string(person)).value();
      const std::string sku = "sku-" + std::to_string(rng() % 50);
      const std::string category = kCategories[rng() % 4];
      const std::string product = R"({"product_id":")" + sku + R"(","sku":")" + sku + R"(","name":"Product )" + sku +
                                  R"(","category":")" + category + R"(","price":)" + std::to_string(50 + rng() % 200) +
                                  R"(,"quantity":1})";
      switch (rng() % 10) {
        case 0:
        case 1:
        case 2:
          event.set_channel(v1::CHANNEL_WEB);
          event.set_type("page");
          event.set_name("Menu");
          break;
        case 3:
        case 4:
          event.set_channel(v1::CHANNEL_WEB);
          event.set_type("track");
          event.set_name("Product Viewed");
          event.set_properties_json(product);
          break;
        case 5:
          event.set_channel(v1::CHANNEL_WEB);
          event.set_type("track");
          event.set_name("Product Added");
          event.set_properties_json(product);
          break;
        case 6:
          event.set_channel(v1::CHANNEL_WEB);
          event.set_type("track");
          event.set_name(rng() % 2 ? "Checkout Started" : "Order Completed");
          event.set_properties_json(R"({"order_id":"w)" + std::to_string(i) + R"(","revenue":)" +
                                    std::to_string(100 + rng() % 900) + R"(.50,"currency":"THB","products":[)" + product +
                                    "]}");
          break;
        case 7:
          event.set_channel(v1::CHANNEL_WEB);
          event.set_type("track");
          event.set_name(kEmail[rng() % 3]);
          break;
        default: {
          event.set_channel(v1::CHANNEL_PURCHASE);
          event.set_type("order");
          v1::Order& order = *event.mutable_order();
          order.set_order_id("o" + std::to_string(person) + "-" + std::to_string(rng() % 5));
          order.set_channel(rng() % 2 ? "store" : "web");
          order.set_status(rng() % 6 ? v1::ORDER_STATUS_COMPLETED : v1::ORDER_STATUS_REFUNDED);
          order.mutable_total()->set_minor_units(10'000 + static_cast<int64_t>(rng() % 100'000));
          order.mutable_total()->set_currency("THB");
          for (int item = 0; item < 2; ++item) {
            v1::OrderItem& line = *order.add_items();
            line.set_sku("sku-" + std::to_string(rng() % 50));
            line.set_category(kCategories[rng() % 4]);
            line.set_quantity(1 + static_cast<int64_t>(rng() % 3));
            line.set_unit_price_minor(5'000 + static_cast<int64_t>(rng() % 10'000));
          }
          break;
        }
      }
      w->events.push_back(std::move(event));
      w->profile_of.push_back(person);
    }
    return w;
  }();
  return *workload;
}

ComputedTraitsConfig ConfigWith(int traits) {
  if (traits == 0) return DefaultComputedTraitsConfig();
  absl::StatusOr<ComputedTraitsConfig> config = ParseComputedTraitsConfig(kTenTraits);
  if (!config.ok()) std::abort();
  return *std::move(config);
}

void BM_ApplyEvent(benchmark::State& state) {
  const Workload& workload = TheWorkload();
  const ComputedTraitsConfig config = ConfigWith(static_cast<int>(state.range(0)));
  std::vector<v1::Profile> profiles(kProfiles);
  for (int p = 0; p < kProfiles; ++p) profiles[p].set_id(static_cast<uint64_t>(p) + 1);
  // One pass first so the profiles are at their steady size before timing.
  for (int i = 0; i < kEvents; ++i) ApplyEvent(workload.events[i], profiles[workload.profile_of[i]], config);
  size_t next = 0;
  for (auto _ : state) {
    ApplyEvent(workload.events[next], profiles[workload.profile_of[next]], config);
    if (++next == workload.events.size()) next = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ApplyEvent)->Arg(0)->Arg(10);

void BM_ComputeTraits(benchmark::State& state) {
  const Workload& workload = TheWorkload();
  const ComputedTraitsConfig config = ConfigWith(10);
  std::vector<v1::Profile> profiles(kProfiles);
  for (int i = 0; i < kEvents; ++i) ApplyEvent(workload.events[i], profiles[workload.profile_of[i]], config);
  const absl::Time now = absl::FromUnixMillis(kT0 + kDayMs);
  size_t next = 0;
  for (auto _ : state) {
    ComputedTraits traits = ComputeTraits(profiles[next], now, config);
    benchmark::DoNotOptimize(traits);
    if (++next == profiles.size()) next = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ComputeTraits);

}  // namespace
}  // namespace tessera::profiles

BENCHMARK_MAIN();
