// The fused pipeline (ingest -> identity -> profiles) over a real RocksDB, without Kafka: the same
// events in shuffled orders and batch sizes must give the same profiles, equal to the population's
// ground truth, and bad records must become dead letters without stopping anything.
#include "app/fused_pipeline.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/rocks_store.h"
#include "sinks/profile_updates.h"
#include "tests/fakes/bad_input.h"
#include "tests/fakes/population.h"
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

class TempDir {
 public:
  TempDir() {
    path_ = (std::filesystem::temp_directory_path() / "tessera-test-XXXXXX").string();
    if (mkdtemp(path_.data()) == nullptr) std::abort();
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct RunResult {
  std::map<std::string, std::string> profiles;  // from the store
  std::vector<std::string> update_values;       // profile-updates JSON, in publish order
  std::vector<v1::DeadLetter> dead_letters;
  size_t merges = 0;
  int64_t duplicates = 0;
};

// Feeds `records` in batches whose sizes are drawn from `rng`, committing each batch like the
// worker loop does.
RunResult RunPipeline(const std::vector<RawRecord>& records, std::mt19937_64& rng) {
  TempDir dir;
  auto store = RocksStore::Open(dir.path() + "/store", RocksStoreOptions{.sync_writes = false, .expiring_prefixes = {}});
  EXPECT_TRUE(store.ok()) << store.status();
  FixedClock clock;
  RunResult result;
  std::uniform_int_distribution<size_t> batch_size(1, 200);
  size_t next = 0;
  int64_t offset = 0;
  while (next < records.size()) {
    StagedWrites staged(store->get());
    app::FusedPipeline pipeline(&staged, app::FusedPipelineOptions{}, &clock);
    const size_t end = std::min(records.size(), next + batch_size(rng));
    for (; next < end; ++next) {
      app::RawRecord raw;
      raw.channel = records[next].channel;
      raw.payload = records[next].payload;
      raw.source.set_topic(std::string(app::RawTopicSuffix(raw.channel)));
      raw.source.set_offset(offset++);
      raw.received_at_ms = clock.NowMillis();
      EXPECT_TRUE(pipeline.Apply(raw).ok());
    }
    auto outputs = pipeline.FinishBatch();
    EXPECT_TRUE(outputs.ok()) << outputs.status();
    for (const auto& u : outputs->updates) result.update_values.push_back(sinks::ProfileUpdateToJson(u));
    for (auto& d : outputs->dead_letters) result.dead_letters.push_back(std::move(d));
    result.merges += outputs->merges.size();
    result.duplicates += outputs->duplicates;
    EXPECT_TRUE(staged.Commit().ok());
  }
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

}  // namespace
}  // namespace tessera
