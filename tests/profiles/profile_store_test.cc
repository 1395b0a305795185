// Pins profiles/profile_store.cc: the key layout, round trips, merge redirects and corruption.
#include "profiles/profile_store.h"

#include "common/bytes.h"
#include "gtest/gtest.h"
#include "tests/fakes/memory_kv.h"

namespace tessera::profiles {
namespace {

using ::tessera::testing::MemoryKv;

v1::Profile SampleProfile(uint64_t id) {
  v1::Profile profile;
  profile.set_id(id);
  profile.set_workspace("baankafe");
  profile.add_identifiers("email:somchai@example.com");
  v1::TraitValue& name = (*profile.mutable_traits())["name"];
  name.set_json("\"สมชาย\"");
  name.set_timestamp_ms(1'795'575'845'000);
  name.set_message_id("w1");
  (*profile.mutable_event_counts())["web"] = 3;
  profile.set_version(4);
  return profile;
}

TEST(ProfileStoreTest, SavedProfilesLoadBackUnderTheirBigEndianId) {
  MemoryKv kv;
  ProfileStore store(&kv);
  const uint64_t id = (uint64_t{2} << 48) | 17;
  store.Save(SampleProfile(id));
  ASSERT_TRUE(kv.data().contains("pf/" + BigEndian64(id)));

  auto loaded = store.Load(id);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->SerializeAsString(), SampleProfile(id).SerializeAsString());

  // Saving again replaces the value.
  v1::Profile newer = SampleProfile(id);
  newer.set_version(5);
  store.Save(newer);
  EXPECT_EQ(store.Load(id).value()->version(), 5u);
}

TEST(ProfileStoreTest, TheStoredValueLeavesOutTheIdTheKeyHolds) {
  MemoryKv kv;
  ProfileStore store(&kv);
  const uint64_t id = (uint64_t{3} << 48) | 123'456;  // a 9-byte varint, as from identity writer 3
  const v1::Profile profile = SampleProfile(id);
  store.Save(profile);
  const std::string& stored = kv.data().at(ProfileKey(id));
  v1::Profile without_id = profile;
  without_id.clear_id();
  EXPECT_EQ(stored, without_id.SerializeAsString());
  EXPECT_EQ(profile.SerializeAsString().size() - stored.size(), 1u + 8u);  // the tag and the id

  // The same through SaveSerialized, and with an id of 0 (not serialized: nothing to leave out).
  store.SaveSerialized(id + 1, profile.SerializeAsString());
  EXPECT_EQ(kv.data().at(ProfileKey(id + 1)), stored);
  v1::Profile zero = SampleProfile(0);
  store.SaveSerialized(0, zero.SerializeAsString());
  EXPECT_EQ(kv.data().at(ProfileKey(0)), zero.SerializeAsString());

  // Every reader takes the id from the key.
  EXPECT_EQ(store.Load(id).value()->id(), id);
  EXPECT_EQ(store.Load(id + 1).value()->id(), id + 1);
  EXPECT_EQ(ProfileIdOfKey(ProfileKey(id)), id);
  EXPECT_EQ(ProfileIdOfKey("pr/" + BigEndian64(id)), std::nullopt);
  EXPECT_EQ(ProfileIdOfKey("pf/" + BigEndian64(id) + "x"), std::nullopt);
  v1::Profile parsed;
  parsed.set_version(99);  // cleared by the parse
  ASSERT_TRUE(ParseStoredProfile(id, stored, parsed));
  EXPECT_EQ(parsed.SerializeAsString(), profile.SerializeAsString());
}

TEST(ProfileStoreTest, AValueStoredWithItsIdLoadsAsBefore) {
  MemoryKv kv;
  ProfileStore store(&kv);
  const v1::Profile profile = SampleProfile(41);
  kv.Put(ProfileKey(41), profile.SerializeAsString());  // as every profile was stored before
  auto loaded = store.Load(41);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->SerializeAsString(), profile.SerializeAsString());
}

TEST(ProfileStoreTest, WithoutProfileIdLeavesBytesWithoutAWholeLeadingIdAsTheyAre) {
  EXPECT_EQ(WithoutProfileId(""), "");
  EXPECT_EQ(WithoutProfileId(std::string("\x08\x05", 2)), "");
  EXPECT_EQ(WithoutProfileId(std::string("\x08\x85\x01\x12\x01w", 6)), std::string("\x12\x01w", 3));
  EXPECT_EQ(WithoutProfileId(std::string("\x08\x85\x81", 3)), std::string("\x08\x85\x81", 3));  // cut short
  EXPECT_EQ(WithoutProfileId(std::string("\x12\x01w", 3)), std::string("\x12\x01w", 3));
}

TEST(ProfileStoreTest, AnUnknownIdLoadsAsNothing) {
  MemoryKv kv;
  ProfileStore store(&kv);
  auto loaded = store.Load(99);
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
  auto merged = store.MergedInto(99);
  ASSERT_TRUE(merged.ok());
  EXPECT_FALSE(merged->has_value());
}

TEST(ProfileStoreTest, MarkMergedDeletesTheLoserAndLeavesARedirect) {
  MemoryKv kv;
  ProfileStore store(&kv);
  store.Save(SampleProfile(5));
  store.Save(SampleProfile(9));
  store.MarkMerged(9, 5);
  EXPECT_FALSE(store.Load(9).value().has_value());
  EXPECT_TRUE(store.Load(5).value().has_value());
  EXPECT_EQ(kv.data().at("pr/" + BigEndian64(9)), BigEndian64(5));
  auto merged = store.MergedInto(9);
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(*merged, 5u);
  EXPECT_FALSE(store.MergedInto(5).value().has_value());
}

TEST(ProfileStoreTest, CorruptValuesAreDataLoss) {
  MemoryKv kv;
  ProfileStore store(&kv);
  kv.Put("pf/" + BigEndian64(1), "\xff\xff\xff");
  EXPECT_EQ(store.Load(1).status().code(), absl::StatusCode::kDataLoss);
  kv.Put("pr/" + BigEndian64(1), "abc");
  EXPECT_EQ(store.MergedInto(1).status().code(), absl::StatusCode::kDataLoss);
}

// The bucket of an order addresses stored keys: the hash must never change (FNV-1a, 64 bits,
// values computed independently).
TEST(ProfileStoreTest, OrderBucketsHashTheOrderIdTheSameOnEveryBuild) {
  EXPECT_EQ(OrderBucketOf("A-001", 16), 14u);
  EXPECT_EQ(OrderBucketOf("A-001", 1024), 238u);
  EXPECT_EQ(OrderBucketOf("order-42", 16), 4u);
  EXPECT_EQ(OrderBucketOf("order-42", 1024), 724u);
  EXPECT_EQ(OrderBucketOf("", 16), 5u);
  EXPECT_EQ(OrderBucketOf("anything", 1), 0u);
  EXPECT_EQ(OrderBucketsFor(1), 1u);
  EXPECT_EQ(OrderBucketsFor(kMaxOrdersPerBucket), 1u);
  EXPECT_EQ(OrderBucketsFor(kMaxOrdersPerBucket + 1), 2u);
  EXPECT_EQ(OrderBucketsFor(12'000), 512u);
}

TEST(ProfileStoreTest, OrderBucketsRoundTripUnderTheProfileIdAndLoadAllOrdersReadsThemAll) {
  MemoryKv kv;
  ProfileStore store(&kv);
  v1::Profile profile = SampleProfile(7);
  profile.set_order_buckets(4);
  for (int i = 0; i < 40; ++i) {
    const std::string id = "o-" + std::to_string(i);
    v1::OrderBucket bucket;
    auto existing = store.LoadOrderBucket(7, OrderBucketOf(id, 4));
    ASSERT_TRUE(existing.ok());
    if (existing->has_value()) {
      ASSERT_TRUE(bucket.ParseFromString(**existing));
    }
    (*bucket.mutable_orders())[id].set_timestamp_ms(i);
    store.SaveOrderBucket(7, OrderBucketOf(id, 4), bucket.SerializeAsString());
  }
  EXPECT_TRUE(kv.data().contains("po/" + BigEndian64(7) + std::string("\0\0\0\3", 4)));
  store.SaveOrderBucket(7, 9, "");  // empty bytes delete (here: nothing there)
  EXPECT_FALSE(kv.data().contains("po/" + BigEndian64(7) + std::string("\0\0\0\x09", 4)));
  v1::Profile whole = profile;
  whole.set_orders_partial(true);
  ASSERT_TRUE(store.LoadAllOrders(whole).ok());
  EXPECT_FALSE(whole.orders_partial());
  ASSERT_EQ(whole.orders_size(), 40);
  EXPECT_EQ(whole.orders().at("o-17").timestamp_ms(), 17);

  kv.Put("po/" + BigEndian64(7) + std::string("\0\0\0\1", 4), "\xff\xff");
  EXPECT_EQ(store.LoadAllOrders(whole).code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace tessera::profiles
