// Orders kept apart (Profile.order_buckets, profiles/profile_store.h): a customer with hundreds of
// orders by email, a phone-only customer with dozens who turns out to be the same person (some
// orders seen under both before the merge), refunds of the earliest and latest completed orders,
// and time-zone changes, through the fused pipeline over a real RocksDB in shuffled orders and
// batch sizes. Every run must store the same profile; its kept totals must equal those counted
// afresh from every stored order; every order must be stored once, in its final state, and no
// bucket of the merged-away profile may be left behind.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "app/fused_pipeline.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/json_writer.h"
#include "common/rocks_store.h"
#include "google/protobuf/util/message_differencer.h"
#include "profiles/computed_traits.h"
#include "profiles/order_totals.h"
#include "profiles/profile_state.h"
#include "profiles/profile_store.h"
#include "tests/fakes/population.h"
#include "tests/fakes/test_store_options.h"
#include "tests/integration/feed_pipeline.h"

namespace tessera {
namespace {

constexpr int64_t kNowMs = 1'790'000'000'000;
constexpr int64_t kDayMs = 86'400'000;
constexpr char kEmail[] = "somchai@example.co.th";
constexpr char kPhone[] = "0812345678";

class FixedClock final : public Clock {
 public:
  int64_t NowMillis() const override { return kNowMs; }
};

struct FinalOrder {
  std::string status;
  int64_t at_ms = 0;
  int64_t total_minor = 0;
};

struct Workload {
  std::vector<testing::RawRecord> records;
  std::map<std::string, FinalOrder> orders;  // the state each order must end in (latest event wins)
};

std::string OrderJson(const std::string& order_id, std::string_view status, int64_t at_ms, int64_t total_minor,
                      bool with_email, bool with_phone, std::string_view category) {
  const std::string amount = absl::StrFormat("%d.%02d", total_minor / 100, total_minor % 100);
  JsonWriter w;
  w.BeginObject();
  w.Key("order_id").String(order_id);
  w.Key("timestamp").String(FormatUtcMillis(at_ms));
  w.Key("channel").String("web");
  w.Key("currency").String("THB");
  w.Key("customer").BeginObject();
  if (with_email) w.Key("email").String(kEmail);
  if (with_phone) w.Key("phone").String(kPhone);
  w.EndObject();
  w.Key("items").BeginArray().BeginObject();
  w.Key("sku").String("SKU-" + std::string(category)).Key("name").String("กาแฟ").Key("category").String(category);
  w.Key("quantity").Int(1).Key("unit_price").String(amount);
  w.EndObject().EndArray();
  w.Key("total").String(amount);
  w.Key("status").String(status);
  w.EndObject();
  return std::move(w).Take();
}

std::string TimeZoneIdentifyJson(int n, int64_t at_ms, std::string_view zone) {
  JsonWriter w;
  w.BeginObject();
  w.Key("type").String("identify").Key("messageId").String(absl::StrCat("tz-", n));
  w.Key("anonymousId").String("anon-somchai").Key("timestamp").String(FormatUtcMillis(at_ms));
  w.Key("traits").BeginObject().Key("email").String(kEmail).Key("timezone").String(zone).EndObject();
  w.EndObject();
  return std::move(w).Take();
}

Workload MakeWorkload() {
  std::mt19937_64 rng(20261204);
  const int64_t start = kNowMs - 300 * kDayMs;
  std::uniform_int_distribution<int64_t> when(0, 280 * kDayMs);
  std::uniform_int_distribution<int64_t> price(5'000, 250'000);
  constexpr std::array<std::string_view, 4> kCategories = {"coffee", "bakery", "tea", "merch"};
  Workload w;
  auto order = [&](const std::string& id, int64_t at, bool email, bool phone) {
    const int64_t total = price(rng);
    w.records.push_back({v1::CHANNEL_PURCHASE,
                         OrderJson(id, "completed", at, total, email, phone, kCategories[rng() % kCategories.size()])});
    w.orders[id] = {"completed", at, total};
  };
  auto refund = [&](const std::string& id, bool email, bool phone) {
    FinalOrder& o = w.orders[id];
    const int64_t at = o.at_ms + 1 + static_cast<int64_t>(rng() % (10 * kDayMs));
    w.records.push_back({v1::CHANNEL_PURCHASE, OrderJson(id, "refunded", at, o.total_minor, email, phone, "coffee")});
    o = {"refunded", at, o.total_minor};
  };
  // 300 orders by email, 40 by phone alone: both past kInlineOrders, so both keep them apart.
  for (int i = 0; i < 300; ++i) order(absl::StrFormat("A-%03d", i), start + when(rng), true, false);
  for (int i = 0; i < 40; ++i) order(absl::StrFormat("B-%02d", i), start + when(rng), false, true);
  // Five orders completed under the phone and refunded under the email: each profile holds a state
  // of the same order until the merge decides between them.
  for (int i = 0; i < 5; ++i) {
    const std::string id = absl::StrCat("S-", i);
    order(id, start + when(rng), false, true);
    refund(id, true, false);
  }
  // Refunds of the earliest and the latest completed order of each (the span moves), and of 40
  // others.
  for (const char* prefix : {"A-", "B-"}) {
    std::string earliest, latest;
    for (const auto& [id, o] : w.orders) {
      if (id.rfind(prefix, 0) != 0) continue;
      if (earliest.empty() || o.at_ms < w.orders[earliest].at_ms) earliest = id;
      if (latest.empty() || o.at_ms > w.orders[latest].at_ms) latest = id;
    }
    refund(earliest, prefix[0] == 'A', prefix[0] == 'B');
    refund(latest, prefix[0] == 'A', prefix[0] == 'B');
  }
  for (int i = 0; i < 40; ++i) {
    const std::string id = absl::StrFormat("A-%03d", 7 * i + 3);
    if (w.orders[id].status == "completed") refund(id, true, false);
  }
  // The order that proves the email and the phone are one person.
  order("L-1", start + 150 * kDayMs, true, true);
  // Three changes of zone (the latest by event time wins): the usual purchase times are recounted.
  w.records.push_back({v1::CHANNEL_WEB, TimeZoneIdentifyJson(1, start + 10 * kDayMs, "Europe/London")});
  w.records.push_back({v1::CHANNEL_WEB, TimeZoneIdentifyJson(2, start + 200 * kDayMs, "America/New_York")});
  w.records.push_back({v1::CHANNEL_WEB, TimeZoneIdentifyJson(3, start + 290 * kDayMs, "Asia/Tokyo")});
  return w;
}

struct StoredCustomer {
  size_t profiles = 0;
  v1::Profile profile;  // with every order read back from its buckets
  std::string json;     // with computed traits; id, version and merged_from blanked
  std::vector<std::string> bucket_owners;  // the profile id of every "po/" key, as decimal text
};

StoredCustomer RunPipeline(const std::vector<testing::RawRecord>& records, std::mt19937_64& rng, size_t max_batch) {
  testing::TempDir dir;
  auto store = RocksStore::Open(dir.path() + "/store", tessera::testing::PipelineStoreOptions());
  EXPECT_TRUE(store.ok()) << store.status();
  FixedClock clock;
  testing::FeedInRandomBatches(**store, clock, records, rng, max_batch, [](app::BatchOutputs& outputs) {
    EXPECT_TRUE(outputs.dead_letters.empty())
        << outputs.dead_letters.front().reason() << ": " << outputs.dead_letters.front().detail();
  });

  StoredCustomer out;
  std::vector<uint64_t> ids;
  EXPECT_TRUE((*store)->ScanPrefix("pf/", [&](std::string_view key, std::string_view) {
                        if (key.size() == 11) ids.push_back(ReadBigEndian64(key.substr(3)));
                        return true;
                      }).ok());
  EXPECT_TRUE((*store)->ScanPrefix("po/", [&](std::string_view key, std::string_view) {
                        out.bucket_owners.push_back(absl::StrCat(ReadBigEndian64(key.substr(3))));
                        return true;
                      }).ok());
  out.profiles = ids.size();
  if (ids.size() != 1) return out;
  StoreReader reader(store->get());
  profiles::ProfileStore profiles(&reader);
  auto loaded = profiles.Load(ids[0]);
  EXPECT_TRUE(loaded.ok() && loaded->has_value());
  if (!loaded.ok() || !loaded->has_value()) return out;
  out.profile = **loaded;
  EXPECT_TRUE(out.profile.orders().empty()) << "a profile keeping its orders apart is stored without them";
  EXPECT_FALSE(out.profile.orders_partial());
  EXPECT_FALSE(out.profile.order_totals().stale());
  EXPECT_TRUE(profiles.LoadAllOrders(out.profile).ok());
  v1::Profile blank = out.profile;
  blank.set_id(0);
  blank.set_version(0);
  blank.clear_merged_from();
  out.json = profiles::ProfileToJson(blank, absl::FromUnixMillis(kNowMs), profiles::DefaultComputedTraitsConfig());
  return out;
}

void ExpectCustomer(const StoredCustomer& got, const Workload& workload, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(got.profiles, 1u) << "the email and the phone are one person";
  const v1::Profile& profile = got.profile;
  // 346 orders: past 8 x 32, so 16 buckets.
  EXPECT_EQ(profile.order_buckets(), profiles::OrderBucketsFor(static_cast<int64_t>(workload.orders.size())));
  EXPECT_EQ(profile.order_buckets(), 16u);
  for (const std::string& owner : got.bucket_owners) {
    EXPECT_EQ(owner, absl::StrCat(profile.id())) << "a bucket of a merged-away profile was left behind";
  }
  EXPECT_LE(got.bucket_owners.size(), profile.order_buckets());

  ASSERT_EQ(profile.orders_size(), static_cast<int>(workload.orders.size()));
  int64_t completed = 0, spend = 0, refunded = 0;
  for (const auto& [id, expected] : workload.orders) {
    auto it = profile.orders().find(id);
    ASSERT_NE(it, profile.orders().end()) << id;
    EXPECT_EQ(it->second.timestamp_ms(), expected.at_ms) << id;
    const v1::OrderStatus status =
        expected.status == "completed" ? v1::ORDER_STATUS_COMPLETED : v1::ORDER_STATUS_REFUNDED;
    EXPECT_EQ(it->second.status(), status) << id;
    if (status == v1::ORDER_STATUS_COMPLETED) {
      ++completed;
      spend += expected.total_minor;
    } else {
      ++refunded;
    }
  }
  const v1::OrderTotals& kept = profile.order_totals();
  EXPECT_EQ(kept.completed(), completed);
  EXPECT_EQ(kept.refunded(), refunded);
  EXPECT_EQ(kept.spend().at("THB"), spend);
  EXPECT_EQ(kept.orders(), static_cast<int64_t>(workload.orders.size()));
  EXPECT_EQ(kept.zone(), "Asia/Tokyo");
  const profiles::NamedTimeZone zone = profiles::ProfileTimeZone(profile, profiles::DefaultComputedTraitsConfig());
  const v1::OrderTotals afresh = profiles::ComputeOrderTotals(profile.orders(), &zone);
  std::string diff;
  google::protobuf::util::MessageDifferencer differ;
  differ.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differ.Compare(afresh, kept)) << "kept totals differ from a count over every stored order: " << diff;
}

TEST(OrderBucketsTest, ShuffledBatchesOfAManyOrderCustomerGiveOneProfileWithEveryOrderStoredOnce) {
  const Workload workload = MakeWorkload();
  std::mt19937_64 rng(7);
  const StoredCustomer in_order = RunPipeline(workload.records, rng, 50);
  ExpectCustomer(in_order, workload, "in order, batches of 1-50");
  // All in one batch: the orders move apart inside the batch that brought them.
  const StoredCustomer one_batch = RunPipeline(workload.records, rng, workload.records.size());
  ExpectCustomer(one_batch, workload, "one batch");
  EXPECT_EQ(one_batch.json, in_order.json);
  for (int round = 0; round < 5; ++round) {
    std::vector<testing::RawRecord> shuffled = workload.records;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    // Small batches grow the buckets one doubling at a time; larger ones skip some.
    const StoredCustomer run = RunPipeline(shuffled, rng, round % 2 == 0 ? 8 : 120);
    ExpectCustomer(run, workload, absl::StrCat("shuffled round ", round));
    EXPECT_EQ(run.json, in_order.json) << "round " << round;
  }
}

// Below kInlineOrders a profile keeps its orders in the record, as before.
TEST(OrderBucketsTest, AFewOrdersStayInline) {
  Workload w;
  for (int i = 0; i < profiles::kInlineOrders; ++i) {
    w.records.push_back({v1::CHANNEL_PURCHASE,
                         OrderJson(absl::StrCat("O-", i), "completed", kNowMs - (i + 1) * kDayMs, 10'000, true, false,
                                   "coffee")});
  }
  testing::TempDir dir;
  std::mt19937_64 rng(3);
  auto store = RocksStore::Open(dir.path() + "/store", tessera::testing::PipelineStoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  FixedClock clock;
  StagedWrites staged(store->get());
  app::FusedPipeline pipeline(&staged, app::FusedPipelineOptions{}, &clock);
  int64_t offset = 0;
  for (const testing::RawRecord& r : w.records) {
    ASSERT_TRUE(testing::ApplyRecord(pipeline, r, offset++, kNowMs).ok());
  }
  auto outputs = pipeline.FinishBatch();
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->updates.size(), 1u);
  ASSERT_TRUE(staged.Commit().ok());
  StoreReader reader(store->get());
  profiles::ProfileStore profiles(&reader);
  auto loaded = profiles.Load(outputs->updates[0].profile_id());
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->order_buckets(), 0u);
  EXPECT_EQ((*loaded)->orders_size(), profiles::kInlineOrders);
  int buckets = 0;
  ASSERT_TRUE((*store)->ScanPrefix("po/", [&](std::string_view, std::string_view) {
                ++buckets;
                return true;
              }).ok());
  EXPECT_EQ(buckets, 0);
}

}  // namespace
}  // namespace tessera
