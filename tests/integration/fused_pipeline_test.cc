// The fused pipeline (ingest -> identity -> profiles) over a real RocksDB, without Kafka: the same
// events in shuffled orders and batch sizes must give the same profiles, equal to the population's
// ground truth, and bad records must become dead letters without stopping anything.
#include "app/fused_pipeline.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/rocks_store.h"
#include "tests/fakes/test_store_options.h"
#include "identity/identity_resolver.h"
#include "sinks/profile_updates.h"
#include "tests/fakes/bad_input.h"
#include "tests/fakes/manual_clock.h"
#include "tests/fakes/population.h"
#include "tests/integration/feed_pipeline.h"
#include "tests/integration/profile_snapshot.h"

namespace tessera {
namespace {

using testing::GeneratePopulation;
using testing::Population;
using testing::RawRecord;

class FixedClock final : public Clock {
 public:
  int64_t NowMillis() const override { return 1'790'000'000'000; }
};

using testing::TempDir;

struct RunResult {
  std::map<std::string, std::string> profiles;  // from the store
  std::vector<std::string> update_values;       // profile-updates JSON, in publish order
  std::vector<v1::DeadLetter> dead_letters;
  size_t merges = 0;
  int64_t duplicates = 0;
};

// Feeds `records` in batches whose sizes are drawn from `rng`, committing each batch like the
// worker loop does.
RunResult RunPipeline(const std::vector<RawRecord>& records, std::mt19937_64& rng,
                      testing::Feed feed = testing::Feed::kEither) {
  TempDir dir;
  auto store = RocksStore::Open(dir.path() + "/store", tessera::testing::PipelineStoreOptions());
  EXPECT_TRUE(store.ok()) << store.status();
  FixedClock clock;
  RunResult result;
  testing::FeedInRandomBatches(**store, clock, records, rng, 200, [&result](app::BatchOutputs& outputs) {
    for (const auto& u : outputs.updates) result.update_values.push_back(sinks::ProfileUpdateToJson(u));
    for (auto& d : outputs.dead_letters) result.dead_letters.push_back(std::move(d));
    result.merges += outputs.merges.size();
    result.duplicates += outputs.duplicates;
  }, feed);
  auto profiles = testing::ProfilesByIdentifiers(**store);
  EXPECT_TRUE(profiles.ok()) << profiles.status();
  result.profiles = *std::move(profiles);
  return result;
}

TEST(FusedPipelineTest, PopulationResolvesToOneProfilePerPersonWithExpectedContents) {
  const Population population = GeneratePopulation(/*seed=*/7, /*people=*/250, 1'767'225'600'000);
  std::mt19937_64 rng(1);
  const RunResult run = RunPipeline(population.records, rng);
  EXPECT_TRUE(run.dead_letters.empty()) << run.dead_letters.front().reason() << ": " << run.dead_letters.front().detail();
  EXPECT_EQ(run.profiles.size(), population.people.size());
  auto live = testing::LiveProfilesFromUpdates(run.update_values);
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(testing::CompareWithExpected(*live, population.people), "");
}

TEST(FusedPipelineTest, ShuffledOrdersBatchSizesAndDuplicatesGiveTheSameProfiles) {
  const Population population = GeneratePopulation(/*seed=*/11, /*people=*/120, 1'767'225'600'000);
  std::mt19937_64 rng(2);
  const RunResult in_order = RunPipeline(population.records, rng);
  ASSERT_EQ(in_order.profiles.size(), population.people.size());
  size_t merges_seen = 0;
  for (int round = 0; round < 6; ++round) {
    std::vector<RawRecord> shuffled = population.records;
    // Trackers retry: about one event in ten arrives twice. The copies must change nothing.
    for (size_t i = 0; i < population.records.size(); i += 10) shuffled.push_back(population.records[i]);
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    const RunResult run = RunPipeline(shuffled, rng);
    merges_seen += run.merges;
    EXPECT_EQ(run.duplicates, static_cast<int64_t>((population.records.size() + 9) / 10)) << "round " << round;
    ASSERT_EQ(run.profiles.size(), in_order.profiles.size()) << "round " << round;
    for (const auto& [identifiers, json] : in_order.profiles) {
      auto it = run.profiles.find(identifiers);
      ASSERT_NE(it, run.profiles.end()) << "round " << round << ": no profile with " << identifiers;
      EXPECT_EQ(it->second, json) << "round " << round;
    }
  }
  // Shuffling must actually have exercised merges (anonymous visits after the purchase, ...).
  EXPECT_GT(merges_seen, 0u);
}

// ApplyAll parses a whole batch before it resolves any of it (to read the batch's dedup keys in one
// MultiGet): the same batches, with copies of events inside a batch and across batches and bad
// records among them, must give the same updates in the same order, the same dead letters and the
// same duplicate count as Apply record by record.
TEST(FusedPipelineTest, ApplyAllGivesWhatApplyingEachRecordGives) {
  const Population population = GeneratePopulation(/*seed=*/5, /*people=*/80, 1'767'225'600'000);
  std::vector<RawRecord> records = population.records;
  for (size_t i = 0; i < population.records.size(); i += 7) records.push_back(population.records[i]);
  for (const auto& bad : testing::BadRecords()) records.push_back(RawRecord{bad.channel, bad.payload});
  std::mt19937_64 shuffle(9);
  std::shuffle(records.begin(), records.end(), shuffle);
  std::mt19937_64 rng_one(4), rng_all(4);  // the same batch sizes for both
  const RunResult one_by_one = RunPipeline(records, rng_one, testing::Feed::kOneByOne);
  const RunResult all = RunPipeline(records, rng_all, testing::Feed::kAll);
  EXPECT_EQ(all.duplicates, static_cast<int64_t>((population.records.size() + 6) / 7));
  EXPECT_EQ(all.duplicates, one_by_one.duplicates);
  EXPECT_EQ(all.update_values, one_by_one.update_values);
  EXPECT_EQ(all.profiles, one_by_one.profiles);
  EXPECT_EQ(all.merges, one_by_one.merges);
  ASSERT_EQ(all.dead_letters.size(), one_by_one.dead_letters.size());
  for (size_t i = 0; i < all.dead_letters.size(); ++i) {
    EXPECT_EQ(all.dead_letters[i].payload(), one_by_one.dead_letters[i].payload());
    EXPECT_EQ(all.dead_letters[i].reason(), one_by_one.dead_letters[i].reason());
  }
}

TEST(FusedPipelineTest, BadRecordsBecomeDeadLettersAndThePipelineGoesOn) {
  const Population population = GeneratePopulation(/*seed=*/3, /*people=*/20, 1'767'225'600'000);
  std::vector<RawRecord> records = population.records;
  const auto bad = testing::BadRecords();
  // Interleave every bad record among the good ones.
  for (size_t i = 0; i < bad.size(); ++i) {
    records.insert(records.begin() + static_cast<long>((i * 7) % records.size()), RawRecord{bad[i].channel, bad[i].payload});
  }
  std::mt19937_64 rng(3);
  const RunResult run = RunPipeline(records, rng);
  ASSERT_EQ(run.dead_letters.size(), bad.size());
  std::multiset<std::string> want_reasons, got_reasons;
  std::multiset<std::string> want_payloads, got_payloads;
  for (const auto& b : bad) {
    want_reasons.insert(b.reason);
    want_payloads.insert(b.payload);
  }
  for (const auto& d : run.dead_letters) {
    got_reasons.insert(d.reason());
    got_payloads.insert(d.payload());
    EXPECT_FALSE(d.detail().empty());
    EXPECT_FALSE(d.source().topic().empty());
  }
  EXPECT_EQ(got_reasons, want_reasons);
  EXPECT_EQ(got_payloads, want_payloads);  // original bytes, untouched
  auto live = testing::LiveProfilesFromUpdates(run.update_values);
  ASSERT_TRUE(live.ok());
  EXPECT_EQ(testing::CompareWithExpected(*live, population.people), "");
}

std::vector<RawRecord> ReadSamples() {
  std::vector<RawRecord> records;
  for (auto [channel, file] : {std::pair{v1::CHANNEL_WEB, "web"}, {v1::CHANNEL_SOCIAL, "social"},
                               {v1::CHANNEL_PURCHASE, "purchase"}}) {
    std::ifstream in(absl::StrCat(TESSERA_SOURCE_DIR, "/deploy/samples/", file, ".ndjson"));
    EXPECT_TRUE(in) << file;
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) records.push_back(RawRecord{channel, line});
    }
  }
  return records;
}

// deploy/samples/README.md promises what `tessera profile get` shows for the four sample customers.
TEST(FusedPipelineTest, SamplesGiveTheProfilesTheQuickstartDocuments) {
  std::vector<RawRecord> records = ReadSamples();
  std::mt19937_64 rng(4);
  std::shuffle(records.begin(), records.end(), rng);
  const RunResult run = RunPipeline(records, rng);
  std::multiset<std::string> reasons;
  for (const auto& d : run.dead_letters) reasons.insert(d.reason());
  EXPECT_EQ(reasons, (std::multiset<std::string>{"invalid_json", "missing_field"}));
  auto live = testing::LiveProfilesFromUpdates(run.update_values);
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_EQ(live->size(), 4u);
  std::map<std::string, testing::PublishedProfile> by_email;
  for (const auto& p : *live) {
    for (const auto& id : p.identifiers) {
      if (id.rfind("email:", 0) == 0) by_email[id] = p;
    }
  }
  const auto& somchai = by_email["email:somchai.j@example.com"];
  EXPECT_EQ(somchai.identifiers,
            (std::vector<std::string>{"anonymous_id:3f6c1b9e-7a2d-4c58-9e0f-5b8a1d2c4e61", "email:somchai.j@example.com",
                                      "instagram:somchai.j", "loyalty_id:BK00001001", "phone:+66812345678",
                                      "user_id:u-1001"}));
  EXPECT_EQ(somchai.event_counts, (std::map<std::string, int64_t>{{"purchase", 2}, {"social", 2}, {"web", 4}}));
  EXPECT_EQ(somchai.orders_count, 2);
  EXPECT_EQ(somchai.total_spend, (std::map<std::string, std::string>{{"THB", "650.00"}}));
  EXPECT_EQ(somchai.name, "สมชาย ใจดี");
  const auto& somsri = by_email["email:somsri.meesuk@gmail.com"];
  EXPECT_EQ(somsri.orders_count, 1);
  EXPECT_EQ(somsri.refunds_count, 1);
  EXPECT_EQ(somsri.total_spend, (std::map<std::string, std::string>{{"THB", "175.50"}}));
  EXPECT_EQ(somsri.social_counts, (std::map<std::string, int64_t>{{"facebook.review", 1}, {"line.message", 1}}));
  const auto& emma = by_email["email:emma.brown@outlook.com"];
  EXPECT_EQ(emma.orders_count, 2);
  EXPECT_EQ(emma.total_spend, (std::map<std::string, std::string>{{"USD", "41.35"}}));
  EXPECT_EQ(emma.event_counts, (std::map<std::string, int64_t>{{"purchase", 3}, {"social", 1}, {"web", 2}}));
  const auto& wichai = by_email["email:wichai.r@hotmail.com"];
  EXPECT_EQ(wichai.identifiers, (std::vector<std::string>{"email:wichai.r@hotmail.com", "facebook:wichai.rakthai",
                                                          "phone:+66865551234", "x:wichai_r"}));
  EXPECT_EQ(wichai.total_spend, (std::map<std::string, std::string>{{"THB", "185.00"}}));
}

// A batch's updates own the arena their profiles live on: they stay whole while the same pipeline
// runs its next batch, and after the pipeline is gone (the runner encodes them after both).
TEST(FusedPipelineTest, UpdatesOutliveTheNextBatchAndThePipeline) {
  const std::vector<RawRecord> records = ReadSamples();
  TempDir dir;
  auto store = RocksStore::Open(dir.path() + "/store", tessera::testing::PipelineStoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  FixedClock clock;
  StagedWrites staged(store->get());
  app::BatchOutputs first;
  std::vector<std::string> first_json;
  {
    app::FusedPipeline pipeline(&staged, app::FusedPipelineOptions{}, &clock);
    const size_t half = records.size() / 2;
    for (size_t i = 0; i < records.size(); ++i) {
      if (i == half) {
        auto outputs = pipeline.FinishBatch();
        ASSERT_TRUE(outputs.ok()) << outputs.status();
        first = *std::move(outputs);
        for (const auto& u : first.updates) first_json.push_back(sinks::ProfileUpdateToJson(u));
      }
      ASSERT_TRUE(testing::ApplyRecord(pipeline, records[i], static_cast<int64_t>(i), clock.NowMillis()).ok());
    }
    auto second = pipeline.FinishBatch();
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_FALSE(second->updates.empty());
  }
  ASSERT_FALSE(first_json.empty());
  std::vector<std::string> again;
  for (const auto& u : first.updates) again.push_back(sinks::ProfileUpdateToJson(u));
  EXPECT_EQ(again, first_json);
}

// Updates with nothing in them (an empty batch, or what is left after a move) have no arena and
// iterate no times, whether read or written through.
TEST(FusedPipelineTest, AnEmptyBatchAndAMovedFromBatchHaveNoUpdates) {
  TempDir dir;
  auto store = RocksStore::Open(dir.path() + "/store", tessera::testing::PipelineStoreOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  FixedClock clock;
  StagedWrites staged(store->get());
  app::FusedPipeline pipeline(&staged, app::FusedPipelineOptions{}, &clock);
  auto empty = pipeline.FinishBatch();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->updates.empty());
  EXPECT_EQ(empty->updates.size(), 0u);
  size_t visited = 0;
  for ([[maybe_unused]] auto& u : empty->updates) ++visited;
  for ([[maybe_unused]] const auto& u : std::as_const(empty->updates)) ++visited;
  EXPECT_EQ(visited, 0u);

  const std::vector<RawRecord> records = ReadSamples();
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_TRUE(testing::ApplyRecord(pipeline, records[i], static_cast<int64_t>(i), clock.NowMillis()).ok());
  }
  auto full = pipeline.FinishBatch();
  ASSERT_TRUE(full.ok()) << full.status();
  const size_t count = full->updates.size();
  ASSERT_GT(count, 0u);
  app::ProfileUpdates taken = std::move(full->updates);
  EXPECT_EQ(taken.size(), count);
  EXPECT_TRUE(full->updates.empty());  // NOLINT(bugprone-use-after-move): a moved-from batch is empty
  for ([[maybe_unused]] auto& u : full->updates) ++visited;
  EXPECT_EQ(visited, 0u);
}

// ---- Segments and time triggers through the fused pipeline over real RocksDB ----

// A fused node's state across restarts: the store is closed and reopened and every batch builds a
// new pipeline over it, as `tessera run` after a crash would. Time moves only by the manual clock.
class ActivationNode {
 public:
  ActivationNode(const std::string& path, std::shared_ptr<const profiles::ActivationEngine> engine,
                 const Clock* clock)
      : path_(path), engine_(std::move(engine)), clock_(clock) {
    Restart();
  }

  void Restart() {
    store_.reset();
    auto store = RocksStore::Open(path_, tessera::testing::PipelineStoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  // One poll batch of raw records.
  void Feed(const std::vector<std::pair<v1::Channel, std::string>>& records) {
    StagedWrites staged(store_.get());
    app::FusedPipeline pipeline(&staged, Options(), clock_);
    for (const auto& [channel, payload] : records) {
      app::RawRecord raw;
      raw.channel = channel;
      raw.payload = payload;
      raw.source.set_topic(std::string(app::RawTopicSuffix(channel)));
      raw.source.set_offset(offset_++);
      raw.received_at_ms = clock_->NowMillis();
      ASSERT_TRUE(pipeline.Apply(raw).ok());
    }
    Finish(pipeline, staged);
  }

  // What the runner does every second: the due timers, in a batch of their own.
  void Tick() {
    StagedWrites staged(store_.get());
    app::FusedPipeline pipeline(&staged, Options(), clock_);
    auto due = profiles::DueTimers(
        [&](std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& visit) {
          return store_->ScanPrefix(prefix, visit);
        },
        absl::FromUnixMillis(clock_->NowMillis()), 1000);
    ASSERT_TRUE(due.ok()) << due.status();
    ASSERT_TRUE(pipeline.FireTimers(*due).ok());
    Finish(pipeline, staged);
  }

  std::vector<std::string> changes;   // "segment entered|exited", in publish order
  std::vector<std::string> triggers;  // occurrence keys, in publish order
  std::vector<uint64_t> change_versions;

 private:
  app::FusedPipelineOptions Options() const {
    app::FusedPipelineOptions options;
    options.activation = engine_;
    return options;
  }
  void Finish(app::FusedPipeline& pipeline, StagedWrites& staged) {
    auto outputs = pipeline.FinishBatch();
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    for (const auto& u : outputs->updates) {
      if (u.merged_into() == 0) published_version_[u.profile_id()] = u.version();
    }
    for (const auto& c : outputs->segment_changes) {
      changes.push_back(c.segment + (c.entered ? " entered" : " exited"));
      change_versions.push_back(c.version);
      // A change names the version of the profile it was evaluated on: the one published with it
      // (an event changed the profile) or the last one published (time passed). Tombstones differ.
      if (c.reason != "merged") {
        EXPECT_EQ(c.version, published_version_[c.profile_id]) << c.segment;
      }
    }
    for (const auto& t : outputs->triggers) triggers.push_back(t.occurrence);
    ASSERT_TRUE(staged.Commit().ok());
  }

  std::string path_;
  std::shared_ptr<const profiles::ActivationEngine> engine_;
  const Clock* clock_;
  std::unique_ptr<RocksStore> store_;
  int64_t offset_ = 0;
  std::map<uint64_t, uint64_t> published_version_;
};

int64_t Bangkok(int y, int m, int d) {
  return absl::ToUnixMillis(absl::FromCivil(absl::CivilDay(y, m, d), *profiles::LoadZone("Asia/Bangkok")));
}
int64_t Utc(int y, int m, int d, int hh = 0) {
  return absl::ToUnixMillis(absl::FromCivil(absl::CivilHour(y, m, d, hh), absl::UTCTimeZone()));
}

TEST(FusedPipelineActivation, WindowsSlideBirthdaysArrivePointsExpireOnceEachAcrossRestarts) {
  auto config = profiles::ParseActivationConfig(R"(
profiles:
  segments:
    - name: coffee_regulars
      condition: {event: purchase.order, where: {category: coffee}, count_gte: 2, within_days: 7}
    - name: thirties
      condition: {trait: birthday, age_between: [30, 39]}
  triggers:
    default_time_zone: Asia/Bangkok
    birthday: {days_before: 3}
    points_expiry: {days_before: 7}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  auto engine = std::make_shared<const profiles::ActivationEngine>(*std::move(config));
  TempDir dir;
  testing::ManualClock clock(Utc(2026, 11, 2, 9));
  ActivationNode node(dir.path() + "/store", engine, &clock);

  const std::string order = R"({"order_id":"%s","timestamp":"2026-11-02T%s:00:00Z","channel":"store","currency":"THB",)"
                            R"("customer":{"email":"nok@example.com"},"items":[{"sku":"L","name":"Latte",)"
                            R"("category":"Coffee","quantity":1,"unit_price":"80.00"}],"total":"80.00","status":"completed"})";
  auto order_json = [&](const char* id, const char* hour) {
    std::string out = order;
    out.replace(out.find("%s"), 2, id);
    out.replace(out.find("%s"), 2, hour);
    return out;
  };
  node.Feed({{v1::CHANNEL_WEB,
              R"({"type":"identify","messageId":"m-1","userId":"u-1","timestamp":"2026-11-02T08:00:00Z",)"
              R"("traits":{"email":"nok@example.com","birthday":"1996-11-10","points_expire_at":"2026-11-20"}})"},
             {v1::CHANNEL_PURCHASE, order_json("A-1", "08")}});
  EXPECT_TRUE(node.changes.empty());
  node.Feed({{v1::CHANNEL_PURCHASE, order_json("A-2", "08")}});
  EXPECT_EQ(node.changes, std::vector<std::string>{"coffee_regulars entered"});

  // Nothing is due on the 6th; a tick every "second" of it publishes nothing.
  clock.Set(Utc(2026, 11, 6, 12));
  node.Tick();
  node.Tick();
  EXPECT_TRUE(node.triggers.empty());

  // A restart, then the birthday notice comes due (3 days before, Bangkok midnight).
  node.Restart();
  clock.Set(Bangkok(2026, 11, 7));
  node.Tick();
  EXPECT_EQ(node.triggers, std::vector<std::string>{"birthday:2026"});
  node.Tick();
  node.Restart();
  node.Tick();
  EXPECT_EQ(node.triggers.size(), 1u);

  // Both coffees were bought on the 2nd (UTC): they leave the 7-day window at the start of the 9th.
  clock.Set(Utc(2026, 11, 8, 23));
  node.Tick();
  EXPECT_EQ(node.changes.size(), 1u);
  clock.Set(Utc(2026, 11, 9));
  node.Tick();
  node.Tick();
  EXPECT_EQ(node.changes, (std::vector<std::string>{"coffee_regulars entered", "coffee_regulars exited"}));

  // 30 on the 10th, Bangkok time.
  clock.Set(Bangkok(2026, 11, 10));
  node.Tick();
  EXPECT_EQ(node.changes.back(), "thirties entered");

  // Points last through the 20th; the notice is due 7 days before their end.
  node.Restart();
  clock.Set(Bangkok(2026, 11, 21) - 7 * profiles::kMillisPerDay - 1);
  node.Tick();
  EXPECT_EQ(node.triggers.size(), 1u);
  clock.Advance(1);
  node.Tick();
  node.Restart();
  node.Tick();
  clock.Set(Utc(2027, 1, 1));
  node.Tick();
  EXPECT_EQ(node.triggers, (std::vector<std::string>{"birthday:2026", "points_expiring:2026-11-20"}));
  EXPECT_EQ(node.changes,
            (std::vector<std::string>{"coffee_regulars entered", "coffee_regulars exited", "thirties entered"}));
  // Versions never go back; time-driven changes leave the version alone.
  EXPECT_TRUE(std::is_sorted(node.change_versions.begin(), node.change_versions.end()));
  EXPECT_EQ(node.change_versions.back(), node.change_versions.front());
}

// A merge: the loser's memberships exit, and the winner (which absorbed the loser's window counts)
// is evaluated on its own account.
TEST(FusedPipelineActivation, AMergedProfileLeavesItsSegmentsAndTheWinnerEnters) {
  auto config = profiles::ParseActivationConfig(R"(
profiles:
  segments:
    - {name: pages3, condition: {event: web.page, count_gte: 3, within_days: 30}}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  auto engine = std::make_shared<const profiles::ActivationEngine>(*std::move(config));
  TempDir dir;
  testing::ManualClock clock(Utc(2026, 11, 2, 9));
  ActivationNode node(dir.path() + "/store", engine, &clock);
  auto page = [](const char* id, const char* anon) {
    return std::make_pair(v1::CHANNEL_WEB, absl::StrCat(R"({"type":"page","name":"Home","messageId":")", id,
                                                        R"(","anonymousId":")", anon,
                                                        R"(","timestamp":"2026-11-02T08:00:00Z"})"));
  };
  node.Feed({page("p1", "anon-a"), page("p2", "anon-a"), page("p3", "anon-a")});
  node.Feed({page("p4", "anon-b"), page("p5", "anon-b"), page("p6", "anon-b")});
  EXPECT_EQ(node.changes, (std::vector<std::string>{"pages3 entered", "pages3 entered"}));
  auto identify = [](const char* id, const char* anon, const char* user) {
    return std::make_pair(v1::CHANNEL_WEB, absl::StrCat(R"({"type":"identify","messageId":")", id, R"(","anonymousId":")",
                                                        anon, R"(","userId":")", user,
                                                        R"(","timestamp":"2026-11-02T08:01:00Z"})"));
  };
  // Both members merge: the winner stays, the loser exits (reason "merged").
  node.Feed({identify("i1", "anon-b", "u-9")});
  node.Feed({identify("i2", "anon-a", "u-9")});
  EXPECT_EQ(node.changes, (std::vector<std::string>{"pages3 entered", "pages3 entered", "pages3 exited"}));
  // Two non-members whose pages add up to three: the merged profile enters, once.
  node.Feed({page("p7", "anon-c"), page("p8", "anon-c"), page("p9", "anon-d")});
  EXPECT_EQ(node.changes.size(), 3u);
  node.Feed({identify("i3", "anon-c", "u-8")});
  node.Feed({identify("i4", "anon-d", "u-8")});
  node.Feed({identify("i5", "anon-d", "u-8")});
  EXPECT_EQ(node.changes,
            (std::vector<std::string>{"pages3 entered", "pages3 entered", "pages3 exited", "pages3 entered"}));
}

}  // namespace
}  // namespace tessera
