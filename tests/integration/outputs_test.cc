// The profile-changes record (app/outputs.h ProfileChangeOutput): what the sinks stage renders
// from it must be what it would render from the whole profile, and it must not carry the state
// only the profiles stage reads.
#include "app/outputs.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/time/time.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/message_differencer.h"
#include "app/activation_driver.h"
#include "app/profile_batch.h"
#include "profiles/profile_state.h"
#include "profiles/profile_store.h"
#include "sinks/profile_updates.h"
#include "tests/fakes/memory_kv.h"

namespace tessera::app {
namespace {

constexpr char kConfig[] = R"(
profiles:
  segments:
    - {name: women, condition: {trait: gender, eq: female}}
    - {name: buyers, condition: {computed: orders_count, gte: 1}}
    - {name: browsers, condition: {event: web.page, count_gte: 1, within_days: 30}}
  triggers:
    birthday: {days_before: 7}
  computed_traits:
    - {name: pages_all, event: web.page, aggregate: count}
)";

constexpr int64_t kNowMs = 1'780'000'000'000;  // 2026-05-28

v1::Event Page(const std::string& id, int64_t at_ms) {
  v1::Event e;
  e.set_message_id(id);
  e.set_workspace("shop");
  e.set_timestamp_ms(at_ms);
  e.set_channel(v1::CHANNEL_WEB);
  e.set_type("page");
  e.set_name("Menu");
  return e;
}

v1::Event Identify(int64_t at_ms) {
  v1::Event e = Page("identify-1", at_ms);
  e.set_type("identify");
  e.clear_name();
  (*e.mutable_traits())["gender"] = R"("female")";
  (*e.mutable_traits())["birthday"] = R"("1990-06-01")";
  (*e.mutable_traits())["first_name"] = R"("สมหญิง")";
  return e;
}

v1::Event Order(const std::string& order_id, int64_t at_ms) {
  v1::Event e = Page("order:" + order_id, at_ms);
  e.set_channel(v1::CHANNEL_PURCHASE);
  e.set_type("order");
  e.set_name("completed");
  v1::Order& order = *e.mutable_order();
  order.set_order_id(order_id);
  order.set_status(v1::ORDER_STATUS_COMPLETED);
  order.mutable_total()->set_currency("THB");
  order.mutable_total()->set_minor_units(125'000);
  v1::OrderItem& item = *order.add_items();
  item.set_sku("latte");
  item.set_category("coffee");
  item.set_quantity(2);
  item.set_unit_price_minor(62'500);
  return e;
}

// A profile as the profiles stage saves it with activation configured: orders, segment
// memberships, event windows, timers and computed traits' state all set.
v1::ProfileUpdate ActivatedUpdate() {
  absl::StatusOr<ActivationSetup> setup = ParseActivationSetup(kConfig, "Asia/Bangkok");
  EXPECT_TRUE(setup.ok()) << setup.status();
  v1::Profile profile;
  profile.set_id(42);
  profile.set_workspace("shop");
  for (const v1::Event& e : {Identify(kNowMs - 3'600'000), Page("p-1", kNowMs - 60'000), Order("o-1", kNowMs - 30'000),
                             Order("o-2", kNowMs - 20'000)}) {
    profiles::ApplyEvent(e, profile, *setup->computed);
    setup->activation->RecordEvent(e, kNowMs, profile);
  }
  testing::MemoryKv kv;
  profiles::ActivationOutputs outputs;
  EXPECT_TRUE(setup->activation->Evaluate(profile, kv, absl::FromUnixMillis(kNowMs), outputs).ok());
  profile.set_version(5);
  v1::ProfileUpdate update;
  update.set_profile_id(profile.id());
  update.set_version(profile.version());
  update.add_changed_fields("orders_count");
  update.set_updated_at_ms(kNowMs);
  *update.mutable_profile() = std::move(profile);
  return update;
}

TEST(ProfileChangeOutputTest, TheSinksRenderTheSameJsonWithoutActivationStateOrOrders) {
  const v1::ProfileUpdate whole = ActivatedUpdate();
  // The fixture must have what the record leaves out, or this test could not fail.
  ASSERT_EQ(whole.profile().orders_size(), 2);
  ASSERT_TRUE(whole.profile().segments().contains("women"));
  ASSERT_TRUE(whole.profile().segments().contains("buyers"));
  ASSERT_FALSE(whole.profile().event_windows().empty());
  ASSERT_FALSE(whole.profile().timers().empty());
  ASSERT_FALSE(whole.profile().custom_traits().empty());

  const Topics topics("t.");
  v1::ProfileUpdate stripped = whole;
  const OutputRecord record = ProfileChangeOutput(topics, stripped);
  EXPECT_EQ(record.topic, topics.profile_changes);
  EXPECT_EQ(record.key, "42");

  v1::ProfileUpdate read;
  ASSERT_TRUE(read.ParseFromString(record.value));
  EXPECT_EQ(sinks::ProfileUpdateToJson(read), sinks::ProfileUpdateToJson(whole));
  EXPECT_EQ(read.profile().orders_size(), 0);
  EXPECT_TRUE(read.profile().segments().empty());
  EXPECT_TRUE(read.profile().event_windows().empty());
  EXPECT_TRUE(read.profile().timers().empty());
  // Kept: the order totals the JSON reads, and computed traits' inputs.
  EXPECT_EQ(read.profile().order_totals().completed(), 2);
  EXPECT_EQ(read.profile().custom_traits().size(), whole.profile().custom_traits().size());
  EXPECT_EQ(read.changed_fields_size(), 1);
  EXPECT_EQ(read.changed_fields(0), "orders_count");
  EXPECT_LT(record.value.size(), whole.ByteSizeLong());
}

TEST(ProfileChangeOutputTest, ATombstoneGoesAsItIs) {
  v1::ProfileUpdate tombstone;
  tombstone.set_profile_id(7);
  tombstone.set_version(3);
  tombstone.set_merged_into(42);
  tombstone.set_updated_at_ms(kNowMs);
  v1::ProfileUpdate copy = tombstone;
  const OutputRecord record = ProfileChangeOutput(Topics("t."), copy);
  v1::ProfileUpdate read;
  ASSERT_TRUE(read.ParseFromString(record.value));
  EXPECT_FALSE(read.has_profile());
  EXPECT_EQ(read.SerializeAsString(), tombstone.SerializeAsString());
}

// The profiles stage serializes a profile once, in two parts: their concatenation is what it
// stores, the first is the record's profile. Both must read back as the stripping path's.
TEST(ProfileChangeOutputTest, ThePartsSavedMakeTheWholeProfileAndTheSameRecord) {
  v1::ProfileUpdate whole = ActivatedUpdate();
  ASSERT_TRUE(whole.profile().has_order_totals());
  ASSERT_NE(whole.profile().wake_ms(), 0);
  const v1::Profile before = whole.profile();
  std::optional<ProfileRecordParts> parts = ProfileRecordBytes(*whole.mutable_profile());
  ASSERT_TRUE(parts.has_value());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(whole.profile(), before)) << "set aside and back";

  v1::Profile stored;
  ASSERT_TRUE(stored.ParseFromString(parts->record + parts->rest));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(stored, before));

  const Topics topics("t.");
  v1::ProfileUpdate stripped = whole;
  const OutputRecord by_stripping = ProfileChangeOutput(topics, stripped);
  const OutputRecord from_parts = ProfileChangeOutput(topics, whole, parts->record);
  EXPECT_EQ(from_parts.key, by_stripping.key);
  v1::ProfileUpdate read_stripped, read_parts;
  ASSERT_TRUE(read_stripped.ParseFromString(by_stripping.value));
  ASSERT_TRUE(read_parts.ParseFromString(from_parts.value));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(read_parts, read_stripped))
      << read_parts.DebugString() << "\nvs\n" << read_stripped.DebugString();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(whole.profile(), before))
      << "the update keeps its profile (the fused pipeline renders it)";

  // The same parts with a scratch profile lent on the profile's arena (as ProfileBatch lends one),
  // which is left empty.
  google::protobuf::Arena arena;
  v1::Profile* on_arena = google::protobuf::Arena::CreateMessage<v1::Profile>(&arena);
  *on_arena = before;
  v1::Profile* scratch = google::protobuf::Arena::CreateMessage<v1::Profile>(&arena);
  for (int round = 0; round < 2; ++round) {
    std::optional<ProfileRecordParts> lent = ProfileRecordBytes(*on_arena, scratch);
    ASSERT_TRUE(lent.has_value());
    v1::Profile lent_record, record, lent_whole;  // as messages: map order is a copy's own
    ASSERT_TRUE(lent_record.ParseFromString(lent->record));
    ASSERT_TRUE(record.ParseFromString(parts->record));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(lent_record, record));
    ASSERT_TRUE(lent_whole.ParseFromString(lent->record + lent->rest));
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(lent_whole, before));
    EXPECT_EQ(scratch->ByteSizeLong(), 0u) << scratch->ShortDebugString();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*on_arena, before));
  }

  // Orders without totals (stored before totals existed): the record has to count them.
  v1::Profile old = before;
  old.clear_order_totals();
  EXPECT_FALSE(ProfileRecordBytes(old).has_value());
}

// The store leaves a profile's id out (its key holds it); the record made as it was saved, and
// the profile-changes record from it, carry it, as does the profile read back.
TEST(ProfileChangeOutputTest, TheRecordCarriesTheIdTheStoredProfileLeavesOut) {
  const uint64_t id = (uint64_t{5} << 48) | 77;  // from identity writer 5
  testing::MemoryKv kv;
  profiles::ProfileStore store(&kv);
  for (int round = 0; round < 2; ++round) {  // a new profile, then the stored one again
    ProfileBatch batch(&store);
    absl::StatusOr<v1::Profile*> profile = batch.Get(id, "shop");
    ASSERT_TRUE(profile.ok()) << profile.status();
    profiles::ApplyEvent(Page(absl::StrCat("p-", round), kNowMs + round), **profile);
    absl::StatusOr<ProfileUpdates> updates = batch.Finish(kNowMs);
    ASSERT_TRUE(updates.ok()) << updates.status();
    ASSERT_EQ(updates->size(), 1u);
    ASSERT_FALSE(updates->profile_record(0).empty());

    const std::string& stored = kv.data().at(profiles::ProfileKey(id));
    v1::Profile as_stored;
    ASSERT_TRUE(as_stored.ParseFromString(stored));
    EXPECT_EQ(as_stored.id(), 0u);
    EXPECT_EQ(as_stored.event_type_counts().at("web.page"), round + 1);

    std::vector<OutputRecord> records;
    AppendProfileChangeOutputs(Topics("t."), *updates, records);
    ASSERT_EQ(records.size(), 1u);
    v1::ProfileUpdate read;
    ASSERT_TRUE(read.ParseFromString(records[0].value));
    EXPECT_EQ(read.profile().id(), id);
    EXPECT_EQ(read.profile().event_type_counts().at("web.page"), round + 1);
    EXPECT_EQ(store.Load(id).value()->id(), id);
  }
}

}  // namespace
}  // namespace tessera::app
