// Pins sinks/delivery_tracker.cc: order per profile, no head-of-line blocking, coalescing, and
// the offsets that are safe to commit; the property test shuffles outcomes and demands the same end.
#include "sinks/delivery_tracker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>

namespace tessera::sinks {
namespace {

PendingRecord Rec(uint64_t key, int32_t partition, int64_t offset, std::string payload, bool coalescible = true) {
  PendingRecord r;
  r.key = key;
  r.source = {"profile-updates", partition};
  r.offset = offset;
  r.coalescible = coalescible;
  r.payload = std::move(payload);
  return r;
}

TEST(DeliveryTrackerTest, AKeysNextRecordWaitsForTheInFlightOneWhileOtherKeysFlow) {
  DeliveryTracker t;
  t.Add(Rec(1, 0, 0, "1v1"));
  t.Add(Rec(2, 0, 1, "2v1"));
  auto first = t.TakeReady(10, 0);
  ASSERT_EQ(first.size(), 2u);
  t.Add(Rec(1, 0, 2, "1v2"));  // behind the in-flight 1v1
  EXPECT_TRUE(t.TakeReady(10, 0).empty());
  t.Retry(1, /*retry_at_ms=*/1000, /*now_ms=*/0);  // 1v1 failed: 1v2 supersedes it, waits for the retry
  t.Finish(2);
  EXPECT_TRUE(t.TakeReady(10, 999).empty());
  t.Add(Rec(3, 0, 3, "3v1"));
  auto other = t.TakeReady(10, 999);
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].record->payload, "3v1");  // key 3 is not blocked by key 1's retry
  auto retried = t.TakeReady(10, 1000);
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].record->payload, "1v2");
  EXPECT_EQ(retried[0].attempts, 1);
  EXPECT_EQ(retried[0].first_failure_ms, 0);
  EXPECT_EQ(t.superseded(), 1);
}

TEST(DeliveryTrackerTest, WaitingFullStatesCoalesceButEventsQueue) {
  DeliveryTracker t;
  t.Add(Rec(7, 0, 0, "v1"));
  t.Add(Rec(7, 0, 1, "v2"));
  t.Add(Rec(7, 0, 2, "v3"));
  auto ready = t.TakeReady(10, 0);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].record->payload, "v3");
  EXPECT_EQ(t.superseded(), 2);
  t.Add(Rec(7, 0, 3, "segment-entered", /*coalescible=*/false));
  t.Add(Rec(7, 0, 4, "v4"));
  t.Add(Rec(7, 0, 5, "v5"));
  t.Finish(7);
  ready = t.TakeReady(10, 0);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].record->payload, "segment-entered");
  t.Finish(7);
  ready = t.TakeReady(10, 0);
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].record->payload, "v5");
  t.Finish(7);
  EXPECT_EQ(t.pending(), 0u);
  EXPECT_EQ((t.CommittableOffsets().at({"profile-updates", 0})), 6);
}

TEST(DeliveryTrackerTest, CommitsOnlyUpToTheLowestUnfinishedOffset) {
  DeliveryTracker t;
  t.Add(Rec(1, 0, 10, "a"));
  t.Add(Rec(2, 0, 11, "b"));
  t.Add(Rec(3, 1, 5, "c"));
  auto ready = t.TakeReady(10, 0);
  ASSERT_EQ(ready.size(), 3u);
  t.Finish(2);
  t.Finish(3);
  auto offsets = t.CommittableOffsets();
  EXPECT_EQ((offsets.at({"profile-updates", 0})), 10);  // 10 is still in flight
  EXPECT_EQ((offsets.at({"profile-updates", 1})), 6);
  t.Finish(1);
  EXPECT_EQ((t.CommittableOffsets().at({"profile-updates", 0})), 12);
}

TEST(DeliveryTrackerTest, RevokedPartitionsAreForgotten) {
  DeliveryTracker t;
  t.Add(Rec(1, 0, 0, "a"));
  t.Add(Rec(2, 1, 0, "b"));
  ASSERT_EQ(t.TakeReady(10, 0).size(), 2u);
  t.RetainPartitions({{"profile-updates", 1}});
  EXPECT_FALSE(t.HoldsInFlight(1));
  EXPECT_TRUE(t.HoldsInFlight(2));
  EXPECT_EQ(t.pending(), 1u);
  EXPECT_EQ(t.in_flight(), 1u);
  EXPECT_FALSE(t.CommittableOffsets().contains({"profile-updates", 0}));
}

// Property: whatever the interleaving of arrivals, failures and retries, every key ends with its
// newest version delivered, versions reach the destination in increasing order per key, a key
// never has two records in flight, and the committable offsets end past every record.
TEST(DeliveryTrackerTest, PropertyShuffledOutcomesKeepOrderAndDeliverTheNewestVersion) {
  for (int seed = 0; seed < 50; ++seed) {
    std::mt19937_64 rng(seed);
    constexpr int kKeys = 20, kPartitions = 3, kRecords = 400;
    std::vector<PendingRecord> input;
    std::map<uint64_t, int> newest;
    std::map<int32_t, int64_t> next_offset;
    for (int i = 0; i < kRecords; ++i) {
      const uint64_t key = rng() % kKeys;
      const int32_t partition = static_cast<int32_t>(key % kPartitions);
      const int version = ++newest[key];
      input.push_back(Rec(key, partition, next_offset[partition]++, std::to_string(version), rng() % 5 != 0));
    }
    DeliveryTracker t;
    std::map<uint64_t, int> delivered_version;
    std::map<uint64_t, int> last_delivered_coalescible;
    std::vector<DeliveryTicket> in_flight;
    size_t fed = 0;
    int64_t now = 0;
    for (int step = 0; step < 100000 && (fed < input.size() || t.pending() > 0); ++step) {
      now += static_cast<int64_t>(rng() % 5);
      const size_t feed = std::min<size_t>(rng() % 8, input.size() - fed);
      for (size_t i = 0; i < feed; ++i) t.Add(input[fed++]);
      for (const DeliveryTicket& ticket : t.TakeReady(rng() % 6, now)) {
        for (const DeliveryTicket& other : in_flight) ASSERT_NE(other.key, ticket.key) << "two in flight";
        in_flight.push_back(ticket);
      }
      std::shuffle(in_flight.begin(), in_flight.end(), rng);
      const size_t settle = in_flight.empty() ? 0 : rng() % (in_flight.size() + 1);
      for (size_t i = 0; i < settle; ++i) {
        const DeliveryTicket ticket = in_flight.back();
        in_flight.pop_back();
        if (rng() % 3 == 0) {
          t.Retry(ticket.key, now + static_cast<int64_t>(rng() % 20), now);
        } else {
          const int version = std::stoi(ticket.record->payload);
          ASSERT_GT(version, delivered_version[ticket.key]) << "out of order for key " << ticket.key;
          delivered_version[ticket.key] = version;
          t.Finish(ticket.key);
        }
      }
    }
    ASSERT_EQ(t.pending(), 0u) << "seed " << seed;
    for (const auto& [key, version] : newest) EXPECT_EQ(delivered_version[key], version) << "key " << key;
    for (const auto& [partition, end] : next_offset) {
      EXPECT_EQ((t.CommittableOffsets().at({"profile-updates", partition})), end);
    }
  }
}

}  // namespace
}  // namespace tessera::sinks
