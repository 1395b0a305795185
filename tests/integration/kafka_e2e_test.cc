// End-to-end on a real Apache Kafka broker (started by the ctest fixture from deploy/kafka.sh):
// raw events of all three channels for hundreds of synthetic people go through `tessera run`
// (fused) or four one-stage processes (distributed), and a plain consumer of profile-updates must
// see exactly one profile per person with the right counts and spend. A crash test kills the fused
// process with SIGKILL mid-stream, restarts it, and demands the same result.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "app/topics.h"
#include "common/kafka.h"
#include "tests/fakes/bad_input.h"
#include "tests/fakes/population.h"
#include "tests/integration/child_process.h"
#include "tests/integration/profile_snapshot.h"

namespace tessera {
namespace {

using testing::ChildProcess;
using testing::Population;

constexpr int64_t kBaseTime = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

class KafkaEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* brokers = std::getenv("TESSERA_TEST_BROKERS");
    ASSERT_NE(brokers, nullptr) << "TESSERA_TEST_BROKERS is not set: run through ctest (the kafka fixture starts "
                                   "a broker), or start one with deploy/kafka.sh start and export it";
    brokers_ = brokers;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    prefix_ = absl::StrCat("e2e-", info->name(), "-", getpid(), "-", std::chrono::steady_clock::now().time_since_epoch().count(), ".");
    dir_ = (std::filesystem::temp_directory_path() / prefix_).string();
    std::filesystem::create_directories(dir_);
    topics_ = std::make_unique<app::Topics>(prefix_);
    ASSERT_TRUE(CreateTopics(brokers_, topics_->Specs(4)).ok());
  }
  void TearDown() override {
    // TESSERA_KEEP_TEST_LOGS=1 keeps the workers' logs and stores of passing tests too.
    if (!HasFailure() && !std::getenv("TESSERA_KEEP_TEST_LOGS")) std::filesystem::remove_all(dir_);
    else std::fprintf(stderr, "logs kept in %s\n", dir_.c_str());
  }

  void Produce(const std::vector<testing::RawRecord>& records) {
    auto producer = KafkaProducer::Create(brokers_);
    ASSERT_TRUE(producer.ok()) << producer.status();
    for (const auto& r : records) ASSERT_TRUE((*producer)->Produce(topics_->Raw(r.channel), "", r.payload).ok());
    ASSERT_TRUE((*producer)->Flush(absl::Seconds(60)).ok());
  }

  // In a shuffled order many people first appear as several profiles that later merge.
  void ProduceShuffled(std::vector<testing::RawRecord> records, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::shuffle(records.begin(), records.end(), rng);
    Produce(records);
  }

  // `tessera profile get ID --data-dir DIR`, retried for a few seconds: a batch's updates reach
  // Kafka just before its WriteBatch commits, so the store may trail the topic by one batch.
  std::string ProfileGet(const std::string& id, const std::string& data_dir, int* exit_code) {
    std::string json;
    for (int attempt = 0; attempt < 50; ++attempt) {
      json = testing::RunAndCapture(Tessera({"profile", "get", id, "--data-dir", data_dir}), exit_code);
      if (*exit_code == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return json;
  }

  std::vector<std::string> Tessera(std::vector<std::string> args) {
    args.insert(args.begin(), TESSERA_BIN);
    return args;
  }

  std::vector<std::string> StageArgs(const std::string& stage, const std::string& data_dir,
                                     std::vector<std::string> more = {}) {
    std::vector<std::string> args = {stage, "--brokers", brokers_, "--topic-prefix", prefix_, "--data-dir", data_dir};
    args.insert(args.end(), more.begin(), more.end());
    return Tessera(args);
  }

  std::vector<std::string> UpdateValues() {
    auto records = ReadTopicToEnd(brokers_, topics_->profile_updates);
    std::vector<std::string> values;
    if (!records.ok()) return values;
    for (auto& r : *records) values.push_back(std::move(r.payload));
    return values;
  }

  // Waits (up to a minute) until profile-updates holds more than `count` records.
  void WaitForUpdatesBeyond(size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (UpdateValues().size() <= count && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // Waits until profile-updates has stopped growing for a second (the stages are idle).
  void WaitUntilUpdatesStopGrowing(int timeout_s = 120) {
    size_t last = UpdateValues().size();
    auto quiet_since = std::chrono::steady_clock::now();
    const auto deadline = quiet_since + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      const size_t now = UpdateValues().size();
      if (now != last) {
        last = now;
        quiet_since = std::chrono::steady_clock::now();
      } else if (last > 0 && std::chrono::steady_clock::now() - quiet_since > std::chrono::seconds(1)) {
        return;
      }
    }
  }

  // Waits until profile-updates shows exactly the expected people; returns the last difference.
  std::string WaitForProfiles(const std::vector<testing::ExpectedProfile>& expected, int timeout_s = 240) {
    std::string diff = "nothing read yet";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      auto live = testing::LiveProfilesFromUpdates(UpdateValues());
      if (live.ok()) {
        diff = testing::CompareWithExpected(*live, expected);
        if (diff.empty()) return diff;
      } else {
        diff = std::string(live.status().message());
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    return diff;
  }

  std::string brokers_;
  std::string prefix_;
  std::string dir_;
  std::unique_ptr<app::Topics> topics_;
};

TEST_F(KafkaEndToEndTest, FusedRunMakesOneProfilePerPerson) {
  const Population population = testing::GeneratePopulation(21, 250, kBaseTime);
  Produce(population.records);
  ChildProcess run(StageArgs("run", dir_ + "/data"), dir_ + "/run.log");
  EXPECT_EQ(WaitForProfiles(population.people), "");

  // An analyst's lookup works while `tessera run` holds the store.
  int exit_code = -1;
  const std::string json = ProfileGet(population.people[0].key_email, dir_ + "/data", &exit_code);
  EXPECT_EQ(exit_code, 0);
  EXPECT_NE(json.find(absl::StrCat("\"", population.people[0].key_email, "\"")), std::string::npos) << json;
  testing::RunAndCapture(Tessera({"profile", "get", "email:nobody@example.com", "--data-dir", dir_ + "/data"}), &exit_code);
  EXPECT_EQ(exit_code, 1);

  run.Signal(SIGTERM);
  EXPECT_EQ(run.Wait(), 0);
}

// Every fifth record is also sent again (a tracker retrying), shuffled among the rest: some copies
// meet their original in one batch of the identity stage, some in another. Each is dropped there
// (the profiles count every event once) and counted as a duplicate.
TEST_F(KafkaEndToEndTest, DistributedStagesMakeOneProfilePerPerson) {
  const Population population = testing::GeneratePopulation(22, 250, kBaseTime);
  std::vector<testing::RawRecord> records = population.records;
  for (size_t i = 0; i < population.records.size(); i += 5) records.push_back(population.records[i]);
  const int64_t resent = static_cast<int64_t>(records.size() - population.records.size());
  ProduceShuffled(records, 22);
  std::vector<std::unique_ptr<ChildProcess>> stages;
  for (const char* stage : {"ingest", "identity", "profiles", "sinks"}) {
    // One data dir for all four: identity and profiles keep their stores in its subfolders.
    stages.push_back(std::make_unique<ChildProcess>(StageArgs(stage, dir_ + "/data"),
                                                    absl::StrCat(dir_, "/", stage, ".log")));
  }
  EXPECT_EQ(WaitForProfiles(population.people), "");
  WaitUntilUpdatesStopGrowing();  // a copy counted late would show only now
  EXPECT_EQ(WaitForProfiles(population.people, /*timeout_s=*/5), "");
  int exit_code = -1;
  const std::string json = ProfileGet(population.people[1].key_email, dir_ + "/data", &exit_code);
  EXPECT_EQ(exit_code, 0);
  EXPECT_NE(json.find(absl::StrCat("\"", population.people[1].key_email, "\"")), std::string::npos) << json;
  const std::string quality =
      testing::RunAndCapture(Tessera({"quality", "--data-dir", dir_ + "/data", "--json"}), &exit_code);
  EXPECT_EQ(exit_code, 0) << quality;
  int64_t duplicates = 0;  // summed over the sources
  const std::string key = "\"duplicates\":";
  for (size_t at = quality.find(key); at != std::string::npos; at = quality.find(key, at + 1)) {
    duplicates += std::strtoll(quality.c_str() + at + key.size(), nullptr, 10);
  }
  EXPECT_EQ(duplicates, resent) << quality;
  for (auto& stage : stages) {
    stage->Signal(SIGTERM);
    EXPECT_EQ(stage->Wait(), 0);
  }
}

// A customer with a long order history (a shop's walk-in account, a reseller). The profiles stage
// hands each change to the sinks stage on profile-changes; those records carry the order totals the
// JSON is rendered from, not every order, so their size does not grow with the history. Before,
// they carried every order, and in the full benchmark (1M people, Zipf-skewed) a profile with some
// thousands of orders passed the broker's 1 MB message limit: the profiles stage stopped for good.
TEST_F(KafkaEndToEndTest, DistributedStagesPublishACustomerWithTwelveThousandOrders) {
  constexpr int kOrders = 12'000;
  std::vector<testing::RawRecord> records;
  records.reserve(kOrders);
  for (int i = 0; i < kOrders; ++i) {
    const std::string at = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(kBaseTime + int64_t{i} * 60'000),
                                            absl::UTCTimeZone());
    records.push_back({v1::CHANNEL_PURCHASE,
                       absl::StrCat(R"({"order_id":"WALKIN-)", i, R"(","timestamp":")", at,
                                    R"(","channel":"store","currency":"THB","customer":{"email":"walk-in@baankafe.example"},)",
                                    R"("items":[{"sku":"LATTE-)", i % 40, R"(","name":"ลาเต้เย็น","category":"coffee",)",
                                    R"("quantity":1,"unit_price":65}],"total":65,"status":"completed"})")});
  }
  Produce(records);
  std::vector<std::unique_ptr<ChildProcess>> stages;
  for (const char* stage : {"ingest", "identity", "profiles", "sinks"}) {
    stages.push_back(std::make_unique<ChildProcess>(StageArgs(stage, dir_ + "/data"),
                                                    absl::StrCat(dir_, "/", stage, ".log")));
  }
  std::string last;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  while (std::chrono::steady_clock::now() < deadline) {
    auto live = testing::LiveProfilesFromUpdates(UpdateValues());
    if (live.ok() && live->size() == 1 && live->front().orders_count == kOrders) break;
    last = live.ok() ? absl::StrCat(live->size(), " profiles, first with ",
                                    live->empty() ? 0 : live->front().orders_count, " orders")
                     : std::string(live.status().message());
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  auto live = testing::LiveProfilesFromUpdates(UpdateValues());
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_EQ(live->size(), 1u) << last;
  EXPECT_EQ(live->front().orders_count, kOrders) << last;
  EXPECT_EQ(live->front().total_spend, (std::map<std::string, std::string>{{"THB", "780000.00"}}));

  auto changes = ReadTopicToEnd(brokers_, topics_->profile_changes);
  ASSERT_TRUE(changes.ok()) << changes.status();
  ASSERT_FALSE(changes->empty());
  size_t largest = 0;
  for (const KafkaMessage& change : *changes) largest = std::max(largest, change.payload.size());
  EXPECT_LT(largest, 16u * 1024) << "a profile-changes record grew with the order history";
  for (auto& stage : stages) {
    stage->Signal(SIGTERM);
    EXPECT_EQ(stage->Wait(), 0);
  }
}

TEST_F(KafkaEndToEndTest, ScaledOutStagesMakeOneProfilePerPerson) {
  const Population population = testing::GeneratePopulation(25, 300, kBaseTime);
  const std::string data = dir_ + "/data";
  std::vector<std::unique_ptr<ChildProcess>> workers;
  auto start = [&](const std::string& name, const std::vector<std::string>& args) {
    workers.push_back(std::make_unique<ChildProcess>(args, absl::StrCat(dir_, "/", name, ".log")));
  };
  // Stateless stages scale by consumer group; the stateful profiles stage by owned partitions,
  // so each worker's RocksDB stays with its partitions.
  start("ingest-a", StageArgs("ingest", data, {"--instance-id", "ingest-a"}));
  start("ingest-b", StageArgs("ingest", data, {"--instance-id", "ingest-b"}));
  start("identity", StageArgs("identity", data));
  start("profiles-a", StageArgs("profiles", data, {"--own-partitions", "0,1"}));
  start("profiles-b", StageArgs("profiles", data, {"--own-partitions", "2,3"}));
  start("sinks-a", StageArgs("sinks", data, {"--instance-id", "sinks-a"}));
  start("sinks-b", StageArgs("sinks", data, {"--instance-id", "sinks-b"}));
  // In waves that force merges whatever order the consumers read the topics in: web builds
  // {anonymous id, user id, email}; social then starts a second profile from {handle, phone};
  // the orders (email + phone) prove the two are one person. Each merge moves a profile from one
  // profiles worker's partition to the other's half the time.
  for (v1::Channel wave : {v1::CHANNEL_WEB, v1::CHANNEL_SOCIAL, v1::CHANNEL_PURCHASE}) {
    std::vector<testing::RawRecord> records;
    for (const auto& r : population.records) {
      if (r.channel == wave) records.push_back(r);
    }
    ProduceShuffled(records, 25);
    WaitUntilUpdatesStopGrowing();
  }
  EXPECT_EQ(WaitForProfiles(population.people), "");
  // Merges crossed profiles partitions, and `profile get` finds people in either worker's store.
  int exit_code = -1;
  for (int person : {0, 1, 2, 3}) {
    ProfileGet(population.people[person].key_email, data, &exit_code);
    EXPECT_EQ(exit_code, 0) << population.people[person].key_email;
  }
  auto merges = ReadTopicToEnd(brokers_, topics_->merges);
  ASSERT_TRUE(merges.ok());
  EXPECT_GE(merges->size(), population.people.size() / 2) << "the waves should have forced merges";
  EXPECT_TRUE(std::filesystem::exists(data + "/profiles-p0-1"));
  EXPECT_TRUE(std::filesystem::exists(data + "/profiles-p2-3"));
  for (auto& worker : workers) {
    worker->Signal(SIGTERM);
    EXPECT_EQ(worker->Wait(), 0);
  }
}

// Crash tests feed the input in waves while the workers run. After a wave is produced they wait
// until its first profile updates appear (the workers are busy with it: small batches, each with a
// Kafka flush and a synced WriteBatch), then kill a worker a random 0-40 ms later. The later waves
// are not even produced yet, so every kill lands mid-stream whatever the machine's speed.
std::vector<std::vector<testing::RawRecord>> ShuffledWaves(std::vector<testing::RawRecord> records, int waves,
                                                           uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::shuffle(records.begin(), records.end(), rng);
  std::vector<std::vector<testing::RawRecord>> out(waves);
  for (size_t i = 0; i < records.size(); ++i) out[i * waves / records.size()].push_back(std::move(records[i]));
  return out;
}

void SleepRandomMillis(std::mt19937_64& rng, int low, int high) {
  std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(low, high)(rng)));
}

// The record count of the last "stopped after N records" line in a worker's log (-1 if none).
int64_t LastStoppedAfter(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string line;
  int64_t last = -1;
  while (std::getline(in, line)) {
    const size_t at = line.find("stopped after ");
    if (at != std::string::npos) last = std::atoll(line.c_str() + at + 14);
  }
  return last;
}

TEST_F(KafkaEndToEndTest, KillNineMidStreamLosesNothingAndCountsNothingTwice) {
  const Population population = testing::GeneratePopulation(23, 600, kBaseTime);
  // Small batches: many WriteBatch commits, so each kill lands between or inside one.
  const std::vector<std::string> args = StageArgs("run", dir_ + "/data", {"--batch-size", "5"});
  std::mt19937_64 rng(23);
  auto run = std::make_unique<ChildProcess>(args, dir_ + "/run.log");
  for (auto& wave : ShuffledWaves(population.records, 4, 23)) {
    const size_t before = UpdateValues().size();
    Produce(wave);
    WaitForUpdatesBeyond(before);
    SleepRandomMillis(rng, 0, 40);
    ASSERT_TRUE(run->Running()) << "tessera run exited early; see " << dir_ << "/run.log";
    run->Signal(SIGKILL);
    EXPECT_EQ(run->Wait(), 128 + SIGKILL);
    run = std::make_unique<ChildProcess>(args, dir_ + "/run.log");
  }
  EXPECT_EQ(WaitForProfiles(population.people), "");
  run->Signal(SIGTERM);
  EXPECT_EQ(run->Wait(), 0);
  // The killed runs had committed work of their own: the last run did not start from scratch.
  EXPECT_LT(LastStoppedAfter(dir_ + "/run.log"), static_cast<int64_t>(population.records.size()));
}

// The distributed stages under the same abuse: the stateful identity and profiles workers are
// killed mid-stream and restarted; replays between stages must be skipped, transfers must not be
// absorbed twice.
TEST_F(KafkaEndToEndTest, DistributedKillNineOfStatefulStagesLosesNothingAndCountsNothingTwice) {
  const Population population = testing::GeneratePopulation(26, 500, kBaseTime);
  const std::string data = dir_ + "/data";
  ChildProcess ingest(StageArgs("ingest", data, {"--batch-size", "50"}), dir_ + "/ingest.log");
  ChildProcess sinks(StageArgs("sinks", data), dir_ + "/sinks.log");
  const std::vector<std::string> identity_args = StageArgs("identity", data, {"--batch-size", "5"});
  const std::vector<std::string> profiles_args = StageArgs("profiles", data, {"--batch-size", "5"});
  auto identity = std::make_unique<ChildProcess>(identity_args, dir_ + "/identity.log");
  auto profiles = std::make_unique<ChildProcess>(profiles_args, dir_ + "/profiles.log");
  std::mt19937_64 rng(26);
  int wave_number = 0;
  for (auto& wave : ShuffledWaves(population.records, 4, 26)) {
    const size_t before = UpdateValues().size();
    Produce(wave);
    WaitForUpdatesBeyond(before);
    SleepRandomMillis(rng, 0, 40);
    // Alternate: identity, profiles, both at once, identity.
    const int crash = wave_number++;
    std::vector<std::unique_ptr<ChildProcess>*> victims;
    if (crash != 1) victims.push_back(&identity);
    if (crash == 1 || crash == 2) victims.push_back(&profiles);
    for (auto* victim : victims) {
      ASSERT_TRUE((*victim)->Running()) << "a stage exited early; logs in " << dir_;
      (*victim)->Signal(SIGKILL);
      EXPECT_EQ((*victim)->Wait(), 128 + SIGKILL);
    }
    for (auto* victim : victims) {
      const bool is_identity = victim == &identity;
      *victim = std::make_unique<ChildProcess>(is_identity ? identity_args : profiles_args,
                                               dir_ + (is_identity ? "/identity.log" : "/profiles.log"));
    }
  }
  EXPECT_EQ(WaitForProfiles(population.people), "");
  for (ChildProcess* p : {&ingest, &sinks, identity.get(), profiles.get()}) {
    p->Signal(SIGTERM);
    EXPECT_EQ(p->Wait(), 0);
  }
  // The killed workers had committed work of their own: the last ones did not start from scratch.
  EXPECT_LT(LastStoppedAfter(dir_ + "/identity.log"), static_cast<int64_t>(population.records.size()));
}

// A worker started the moment its topics were created must find them: CreateTopics returns only
// when every new partition has a leader (before, the controller's answer came first and a consumer
// subscribing at once could fail with "Subscribed topic not available").
TEST_F(KafkaEndToEndTest, TopicsAreUsableTheMomentCreateTopicsReturns) {
  for (int round = 0; round < 3; ++round) {
    std::vector<TopicSpec> specs;
    std::vector<std::string> names;
    for (int i = 0; i < 3; ++i) {
      names.push_back(absl::StrCat(prefix_, "fresh-", round, "-", i));
      specs.push_back({names.back(), 6, {}});
    }
    ASSERT_TRUE(CreateTopics(brokers_, specs).ok());
    absl::StatusOr<std::vector<GroupPartitionLag>> lag = ReadGroupLag(brokers_, prefix_ + "fresh-group", names);
    ASSERT_TRUE(lag.ok()) << lag.status();
    EXPECT_EQ(lag->size(), 18u) << "every partition of the three topics, with its watermarks";
    KafkaConsumer::Options options;
    options.brokers = brokers_;
    options.group_id = absl::StrCat(prefix_, "fresh-consumer-", round);
    options.topics = names;
    absl::StatusOr<std::unique_ptr<KafkaConsumer>> consumer = KafkaConsumer::Create(std::move(options));
    ASSERT_TRUE(consumer.ok()) << consumer.status();
    absl::StatusOr<std::vector<KafkaMessage>> polled = (*consumer)->PollBatch(10, absl::Seconds(1));
    EXPECT_TRUE(polled.ok()) << polled.status();
    (*consumer)->Close();
  }
}

// The benchmark deletes each run's big topics once measured; the deletion must take exactly the
// topics under the prefix, and a topic recreated under the same name afterwards must be empty.
TEST_F(KafkaEndToEndTest, DeleteTopicsWithPrefixDeletesExactlyThoseTopics) {
  const std::string doomed = prefix_ + "doomed.";
  const std::string kept = prefix_ + "doomedness";  // shares the prefix minus its dot: must survive
  ASSERT_TRUE(CreateTopics(brokers_, {{doomed + "a", 2, {}}, {doomed + "b", 1, {}}, {kept, 1, {}}}).ok());
  {
    auto producer = KafkaProducer::Create(brokers_);
    ASSERT_TRUE(producer.ok()) << producer.status();
    ASSERT_TRUE((*producer)->Produce(doomed + "a", "k", "old record").ok());
    ASSERT_TRUE((*producer)->Flush(absl::Seconds(10)).ok());
  }
  absl::StatusOr<std::vector<std::string>> listed = ListTopics(brokers_, doomed);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(*listed, (std::vector<std::string>{doomed + "a", doomed + "b"}));

  absl::StatusOr<std::vector<std::string>> deleted = DeleteTopicsWithPrefix(brokers_, doomed);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, (std::vector<std::string>{doomed + "a", doomed + "b"}));
  listed = ListTopics(brokers_, doomed);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_TRUE(listed->empty());
  listed = ListTopics(brokers_, kept);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(*listed, std::vector<std::string>{kept});

  ASSERT_TRUE(CreateTopics(brokers_, {{doomed + "a", 2, {}}}).ok());
  absl::StatusOr<std::vector<KafkaMessage>> records = ReadTopicToEnd(brokers_, doomed + "a");
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_TRUE(records->empty()) << "the recreated topic is a new one";
  EXPECT_FALSE(DeleteTopicsWithPrefix(brokers_, "").ok()) << "an empty prefix would take the cluster's own topics";
}

TEST_F(KafkaEndToEndTest, BadInputLandsInTheDeadLetterTopicWithItsReasonAndThePipelineGoesOn) {
  const Population population = testing::GeneratePopulation(24, 30, kBaseTime);
  const auto bad = testing::BadRecords();
  std::vector<testing::RawRecord> records;
  for (const auto& b : bad) records.push_back({b.channel, b.payload});
  records.insert(records.end(), population.records.begin(), population.records.end());
  Produce(records);
  ChildProcess run(StageArgs("run", dir_ + "/data"), dir_ + "/run.log");
  EXPECT_EQ(WaitForProfiles(population.people), "");
  // The bad records sit on other partitions than the good ones, so they may be applied in a later
  // poll batch than the last profile: wait for the dead-letter topic to hold them all.
  auto dead = ReadTopicToEnd(brokers_, topics_->dlq);
  for (const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       dead.ok() && dead->size() < bad.size() && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    dead = ReadTopicToEnd(brokers_, topics_->dlq);
  }
  ASSERT_TRUE(dead.ok()) << dead.status();
  std::multiset<std::pair<std::string, std::string>> want, got;  // (reason, original bytes)
  for (const auto& b : bad) want.insert({b.reason, b.payload});
  for (const auto& m : *dead) {
    v1::DeadLetter letter;
    ASSERT_TRUE(letter.ParseFromString(m.payload));
    got.insert({letter.reason(), letter.payload()});
    EXPECT_EQ(letter.source().topic().rfind(prefix_ + "raw.", 0), 0u) << letter.source().topic();
  }
  EXPECT_EQ(got, want);
  run.Signal(SIGTERM);
  EXPECT_EQ(run.Wait(), 0);
}

}  // namespace
}  // namespace tessera
