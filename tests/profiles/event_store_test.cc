// Pins profiles/event_store.cc: the timeline is newest first and pages through every event exactly
// once, filters by time and type, survives merges (the winner's timeline is the union of every
// absorbed profile's), and ProfileAsOf folds the stored events into exactly the profile the
// pipeline built, whatever the arrival order.
#include "profiles/event_store.h"

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/identifier.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "identity/identity_resolver.h"
#include "profiles/profile_state.h"
#include "profiles/profile_store.h"
#include "tests/fakes/memory_kv.h"
#include "tests/query/mini_pipeline.h"

namespace tessera::profiles {
namespace {

using testing::kMinute;
using testing::kT0;
using testing::MakeEvent;
using testing::MiniPipeline;

std::vector<std::string> MessageIds(const std::vector<TimelineEntry>& entries) {
  std::vector<std::string> ids;
  for (const TimelineEntry& entry : entries) ids.push_back(entry.event.message_id());
  return ids;
}

// Every page of a timeline query, following the cursors.
std::vector<TimelineEntry> ReadAll(const KeyRangeReader& reader, TimelineQuery query) {
  std::vector<TimelineEntry> all;
  for (int pages = 0; pages < 1000; ++pages) {
    TimelinePage page = ReadTimeline(reader, query).value();
    EXPECT_LE(page.entries.size(), query.limit);
    for (TimelineEntry& entry : page.entries) all.push_back(std::move(entry));
    if (page.next_cursor.empty()) return all;
    query.cursor = page.next_cursor;
  }
  ADD_FAILURE() << "the cursor never ended";
  return all;
}

TEST(EventStoreTest, KeysSortNewestFirstWithinOneProfile) {
  const std::string older = EventKey(7, MakeEvent("m-1", kT0, "page", {}));
  const std::string newer = EventKey(7, MakeEvent("m-2", kT0 + 1, "page", {}));
  const std::string before_epoch = EventKey(7, MakeEvent("m-3", -5, "page", {}));
  EXPECT_LT(newer, older);
  EXPECT_LT(older, before_epoch);
  EXPECT_EQ(newer.substr(0, EventTimelinePrefix("baankafe", 7).size()), EventTimelinePrefix("baankafe", 7));
  EXPECT_NE(EventTimelinePrefix("baankafe", 7), EventTimelinePrefix("baankafe-2", 7));
}

TEST(EventStoreTest, PagesThroughEveryEventOnceNewestFirstForAnyPageSize) {
  MiniPipeline pipeline;
  std::mt19937 rng(7);
  std::vector<std::pair<int64_t, std::string>> expected;
  for (int i = 0; i < 57; ++i) {
    // Several events share a timestamp: the message id breaks the tie (ascending byte order).
    const int64_t ts = kT0 + static_cast<int64_t>(rng() % 20) * kMinute;
    const std::string id = "m-" + std::to_string(i);
    pipeline.Apply(MakeEvent(id, ts, "page", {"anonymous_id:a-1"}));
    expected.push_back({ts, id});
  }
  std::sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::string> expected_ids;
  for (const auto& [ts, id] : expected) expected_ids.push_back(id);

  const uint64_t root = pipeline.Root("anonymous_id:a-1");
  const MapRangeReader reader = pipeline.reader();
  for (size_t limit : {1, 2, 5, 56, 57, 58, 200}) {
    TimelineQuery query;
    query.workspace = "baankafe";
    query.profile_ids = {root};
    query.limit = limit;
    EXPECT_EQ(MessageIds(ReadAll(reader, query)), expected_ids) << "limit " << limit;
  }
}

TEST(EventStoreTest, FiltersBySinceUntilAndType) {
  MiniPipeline pipeline;
  pipeline.Apply(MakeEvent("m-1", kT0, "page", {"anonymous_id:a-1"}));
  pipeline.Apply(MakeEvent("m-2", kT0 + kMinute, "track", {"anonymous_id:a-1"}, "Product Viewed"));
  pipeline.Apply(MakeEvent("m-3", kT0 + 2 * kMinute, "page", {"anonymous_id:a-1"}));
  pipeline.Apply(MakeEvent("m-4", kT0 + 3 * kMinute, "track", {"anonymous_id:a-1"}, "Order Completed"));
  const MapRangeReader reader = pipeline.reader();
  TimelineQuery query;
  query.workspace = "baankafe";
  query.profile_ids = {pipeline.Root("anonymous_id:a-1")};

  query.since_ms = kT0 + kMinute;      // inclusive
  query.until_ms = kT0 + 3 * kMinute;  // exclusive
  EXPECT_EQ(MessageIds(ReadAll(reader, query)), (std::vector<std::string>{"m-3", "m-2"}));

  query.since_ms.reset();
  query.until_ms.reset();
  query.type = "track";
  EXPECT_EQ(MessageIds(ReadAll(reader, query)), (std::vector<std::string>{"m-4", "m-2"}));
  query.type = "web.page";
  EXPECT_EQ(MessageIds(ReadAll(reader, query)), (std::vector<std::string>{"m-3", "m-1"}));
  query.type = "Order Completed";
  EXPECT_EQ(MessageIds(ReadAll(reader, query)), (std::vector<std::string>{"m-4"}));
  query.type = "social.page";
  EXPECT_TRUE(ReadAll(reader, query).empty());
}

TEST(EventStoreTest, RejectsACursorItDidNotIssue) {
  testing::MemoryKv kv;
  TimelineQuery query;
  query.workspace = "baankafe";
  query.profile_ids = {1};
  query.cursor = "not a cursor!";
  EXPECT_EQ(ReadTimeline(MapRangeReader(&kv.data()), query).status().code(), absl::StatusCode::kInvalidArgument);
  query.cursor = "AAAA";  // valid base64, too short for a position
  EXPECT_EQ(ReadTimeline(MapRangeReader(&kv.data()), query).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EventStoreTest, TimelineSurvivesMerges) {
  MiniPipeline pipeline;
  // Three anonymous visitors, then identify calls that prove them one person: two merges.
  pipeline.Apply(MakeEvent("p-1", kT0, "page", {"anonymous_id:a-1"}));
  pipeline.Apply(MakeEvent("p-2", kT0 + kMinute, "page", {"anonymous_id:a-2"}));
  pipeline.Apply(MakeEvent("p-3", kT0 + 2 * kMinute, "page", {"anonymous_id:a-3"}));
  pipeline.Apply(MakeEvent("i-1", kT0 + 3 * kMinute, "identify", {"anonymous_id:a-3", "email:s@example.com"}));
  pipeline.Apply(MakeEvent("i-2", kT0 + 4 * kMinute, "identify", {"anonymous_id:a-2", "email:s@example.com"}));
  pipeline.Apply(MakeEvent("i-3", kT0 + 5 * kMinute, "identify", {"anonymous_id:a-1", "anonymous_id:a-3"}));

  const uint64_t root = pipeline.Root("anonymous_id:a-3");
  ASSERT_EQ(pipeline.Root("anonymous_id:a-1"), root);
  ASSERT_EQ(pipeline.Root("anonymous_id:a-2"), root);
  const v1::Profile profile = pipeline.Profile(root);
  ASSERT_EQ(profile.merged_from_size(), 2);

  TimelineQuery query;
  query.workspace = "baankafe";
  query.profile_ids = {root};
  query.profile_ids.insert(query.profile_ids.end(), profile.merged_from().begin(), profile.merged_from().end());
  query.limit = 2;
  const std::vector<TimelineEntry> all = ReadAll(pipeline.reader(), query);
  EXPECT_EQ(MessageIds(all), (std::vector<std::string>{"i-3", "i-2", "i-1", "p-3", "p-2", "p-1"}));
  std::set<uint64_t> stored_under;
  for (const TimelineEntry& entry : all) stored_under.insert(entry.stored_under);
  EXPECT_EQ(stored_under.size(), 3u) << "the losers' events stay under their own ids";

  const std::vector<v1::MergeRecord> merges = MergeHistory(pipeline.reader(), root).value();
  ASSERT_EQ(merges.size(), 2u);
  std::set<uint64_t> losers;
  for (const v1::MergeRecord& merge : merges) losers.insert(merge.loser());
  EXPECT_EQ(losers, std::set<uint64_t>(profile.merged_from().begin(), profile.merged_from().end()));
  EXPECT_LE(merges[0].timestamp_ms(), merges[1].timestamp_ms());
}

TEST(EventStoreTest, StagingAnEventTwiceCountsItOnce) {
  testing::MemoryKv kv;
  const v1::Event event = MakeEvent("m-1", kT0, "page", {"anonymous_id:a-1"});
  ASSERT_TRUE(StageEvent(&kv, 5, event).ok());
  ASSERT_TRUE(StageEvent(&kv, 5, event).ok());
  ASSERT_TRUE(StageEvent(&kv, 5, MakeEvent("m-2", kT0, "page", {"anonymous_id:a-1"})).ok());
  const std::optional<std::string> counter = kv.Get(EventCounterKey("baankafe", "web")).value();
  ASSERT_TRUE(counter.has_value());
  EXPECT_EQ(ReadBigEndian64(*counter), 2u);
  // The value starts with the event time, which the retention filter reads.
  const std::string value = kv.Get(EventKey(5, event)).value().value();
  EXPECT_EQ(static_cast<int64_t>(ReadBigEndian64(value)), kT0);
}

TEST(EventStoreTest, TheStoredValueLeavesOutWhatTheKeyHoldsAndReadsBackWhole) {
  testing::MemoryKv kv;
  v1::Event event = MakeEvent("node-next-1796652099000-6f1c2a9e-4b1d-4c8e-9a3f-2d7b5e0c1a84", kT0, "track",
                              {"anonymous_id:a-1", "email:somchai@example.com"}, "Product Viewed");
  event.set_received_at_ms(kT0 + 40);  // the fields after the time must survive its removal
  event.set_properties_json(R"({"sku":"latte"})");
  (*event.mutable_traits())["first_name"] = R"("สมชาย")";
  event.set_source_name("website");
  ASSERT_TRUE(StageEvent(&kv, 5, event).ok());
  const std::string key = EventKey(5, event);
  const std::string value = kv.Get(key).value().value();

  v1::Event left = event;
  left.clear_message_id();
  left.clear_workspace();
  left.clear_timestamp_ms();
  EXPECT_EQ(value, BigEndian64(static_cast<uint64_t>(kT0)) + left.SerializeAsString());

  const std::string suffix = key.substr(EventTimelinePrefix("baankafe", 5).size());
  v1::Event read;
  ASSERT_TRUE(ParseStoredEvent("baankafe", suffix, value, read));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(read, event)) << read.ShortDebugString();
  // As every event was stored before (whole): the same event.
  const std::string whole = BigEndian64(static_cast<uint64_t>(kT0)) + event.SerializeAsString();
  ASSERT_TRUE(ParseStoredEvent("baankafe", suffix, whole, read));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(read, event)) << read.ShortDebugString();
  // Malformed: too short a value or key suffix, bytes that do not parse.
  EXPECT_FALSE(ParseStoredEvent("baankafe", suffix, value.substr(0, 7), read));
  EXPECT_FALSE(ParseStoredEvent("baankafe", suffix.substr(0, 7), value, read));
  EXPECT_FALSE(ParseStoredEvent("baankafe", suffix, BigEndian64(1) + "\xff\xff", read));

  // A stored value too short for its time is lost data to every reader, not an event to skip.
  testing::MemoryKv damaged;
  damaged.Put(key, "\x01\x02\x03");
  TimelineQuery damaged_query;
  damaged_query.workspace = "baankafe";
  damaged_query.profile_ids = {5};
  EXPECT_TRUE(absl::IsDataLoss(ReadTimeline(MapRangeReader(&damaged.data()), damaged_query).status()));
  EXPECT_TRUE(absl::IsDataLoss(ProfileAsOf(MapRangeReader(&damaged.data()), "baankafe", 5, kT0).status()));

  // And through every reader: the timeline and the profile as of now.
  TimelineQuery query;
  query.workspace = "baankafe";
  query.profile_ids = {5};
  const TimelinePage page = ReadTimeline(MapRangeReader(&kv.data()), query).value();
  ASSERT_EQ(page.entries.size(), 1u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(page.entries[0].event, event));
  v1::Profile folded;
  folded.set_id(5);
  folded.set_workspace("baankafe");
  ApplyEvent(event, folded);
  const v1::Profile as_of = ProfileAsOf(MapRangeReader(&kv.data()), "baankafe", 5, kT0).value();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(as_of, folded)) << as_of.ShortDebugString();
}

TEST(EventStoreTest, RetentionPrefixesPutWorkspacesBeforeTheDefault) {
  EventRetention retention;
  retention.default_days = 365;
  retention.days_by_workspace = {{"shop-b", 90}, {"archive", 0}};
  const std::vector<ExpiringPrefix> prefixes = EventRetentionPrefixes(retention);
  ASSERT_EQ(prefixes.size(), 3u);
  EXPECT_EQ(prefixes[0].prefix, std::string("ev/archive") + '\0');
  EXPECT_EQ(prefixes[0].ttl_ms, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(prefixes[1].prefix, std::string("ev/shop-b") + '\0');
  EXPECT_EQ(prefixes[1].ttl_ms, 90 * 86'400'000LL);
  EXPECT_EQ(prefixes[2].prefix, "ev/");
  EXPECT_EQ(prefixes[2].ttl_ms, 365 * 86'400'000LL);
  retention.default_days = 0;
  EXPECT_EQ(EventRetentionPrefixes(retention).size(), 2u);
}

// A population whose events link in waves: people with 1-3 anonymous ids, an email and
// sometimes a phone, events spread over an hour.
std::vector<v1::Event> Population(std::mt19937& rng, int people) {
  std::vector<v1::Event> events;
  int next = 0;
  for (int p = 0; p < people; ++p) {
    const std::string email = "email:p" + std::to_string(p) + "@example.com";
    const int devices = 1 + static_cast<int>(rng() % 3);
    for (int d = 0; d < devices; ++d) {
      const std::string anon = "anonymous_id:p" + std::to_string(p) + "-d" + std::to_string(d);
      for (int k = 0; k < 3; ++k) {
        const int64_t ts = kT0 + static_cast<int64_t>(rng() % 60) * kMinute;
        events.push_back(MakeEvent("m-" + std::to_string(next++), ts, k == 0 ? "page" : "track", {anon}, "Viewed"));
      }
      v1::Event identify = MakeEvent("m-" + std::to_string(next++), kT0 + static_cast<int64_t>(rng() % 60) * kMinute,
                                     "identify", {anon, email});
      (*identify.mutable_traits())["name"] = "\"P" + std::to_string(p) + "-" + std::to_string(d) + "\"";
      events.push_back(std::move(identify));
    }
  }
  return events;
}

TEST(EventStoreTest, ProfileAsOfNowIsTheStoredProfileForShuffledArrivals) {
  std::mt19937 rng(11);
  const std::vector<v1::Event> events = Population(rng, 12);
  for (int round = 0; round < 8; ++round) {
    std::vector<v1::Event> shuffled = events;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    MiniPipeline pipeline;
    for (const v1::Event& event : shuffled) pipeline.Apply(event);
    for (int p = 0; p < 12; ++p) {
      const uint64_t root = pipeline.Root("email:p" + std::to_string(p) + "@example.com");
      v1::Profile stored = pipeline.Profile(root);
      stored.clear_version();
      const v1::Profile rebuilt = ProfileAsOf(pipeline.reader(), "baankafe", root, kT0 + 1000 * kMinute).value();
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(rebuilt, stored))
          << "round " << round << " person " << p << "\nrebuilt " << ProfileToJson(rebuilt) << "\nstored  "
          << ProfileToJson(stored);
    }
  }
}

TEST(EventStoreTest, ProfileAsOfFoldsOnlyWhatHadHappenedAndWasMergedByThen) {
  MiniPipeline pipeline;
  pipeline.Apply(MakeEvent("p-1", kT0, "page", {"anonymous_id:a-1"}));
  pipeline.Apply(MakeEvent("p-2", kT0 + kMinute, "page", {"anonymous_id:a-2"}));
  v1::Event identify = MakeEvent("i-1", kT0 + 2 * kMinute, "identify", {"anonymous_id:a-1"});
  (*identify.mutable_traits())["plan"] = "\"gold\"";
  pipeline.Apply(identify);
  // a-2 joins a-1 by an event at +10 minutes.
  pipeline.Apply(MakeEvent("i-2", kT0 + 10 * kMinute, "identify", {"anonymous_id:a-1", "anonymous_id:a-2"}));
  const uint64_t root = pipeline.Root("anonymous_id:a-1");
  const MapRangeReader reader = pipeline.reader();

  // Before anything happened: nothing to show.
  EXPECT_EQ(ProfileAsOf(reader, "baankafe", root, kT0 - 1).status().code(), absl::StatusCode::kNotFound);

  // At +1 min: a-1's first page only; a-2 was someone else then.
  v1::Profile early = ProfileAsOf(reader, "baankafe", root, kT0 + kMinute).value();
  v1::Profile expected;
  expected.set_id(root);
  expected.set_workspace("baankafe");
  ApplyEvent(MakeEvent("p-1", kT0, "page", {"anonymous_id:a-1"}), expected);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(early, expected)) << ProfileToJson(early);
  EXPECT_EQ(early.merged_from_size(), 0);
  EXPECT_EQ(early.traits().count("plan"), 0u);

  // At +5 min: the trait is there, still no merge.
  v1::Profile middle = ProfileAsOf(reader, "baankafe", root, kT0 + 5 * kMinute).value();
  EXPECT_EQ(middle.traits().at("plan").json(), "\"gold\"");
  EXPECT_EQ(middle.merged_from_size(), 0);
  EXPECT_EQ(middle.event_counts().at("web"), 2);

  // At +10 min: merged, with a-2's page.
  v1::Profile late = ProfileAsOf(reader, "baankafe", root, kT0 + 10 * kMinute).value();
  EXPECT_EQ(late.merged_from_size(), 1);
  EXPECT_EQ(late.event_counts().at("web"), 4);
}

}  // namespace
}  // namespace tessera::profiles
