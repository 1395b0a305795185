// The collector's write key decides the workspace and source of what it sends, through the whole
// pipeline: records carry the `tessera-workspace` / `tessera-source` Kafka headers, and ingest (fused
// `RunFused` and the distributed `RunIngestStage`) keys tracking plans, phone regions, events and
// quality counts by them. `tessera quality` then reads the counts of the live run's stores; the
// distributed ingest stage's counts survive a restart without being counted twice.
//
// Everything runs on librdkafka's mock cluster (EmbeddedKafka), in process, except the tessera CLI
// (`quality`, `profile get`) and curl, which post and read like a user would.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "app/runner.h"
#include "app/topics.h"
#include "common/kafka.h"
#include "common/kafka_async.h"
#include "ingest/collector/collector_server.h"
#include "ingest/ingest.h"
#include "ingest/ingest_config.h"
#include "proto/tessera/v1/tessera.pb.h"
#include "simdjson.h"
#include "tests/integration/child_process.h"

namespace tessera {
namespace {

using testing::RunAndCapture;

constexpr char kWebKey[] = "wk_origin_web";
constexpr char kLineKey[] = "wk_origin_line";

// The LINE source may only send "Message Received"; its national phone numbers are Thai, while the
// pipeline's own --phone-region is US.
constexpr char kIngestYaml[] = R"(
ingest:
  phone_regions: {line-oa: TH}
  tracking_plans:
    line-oa:
      mode: reject
      events: {"Message Received": {}}
)";

class CollectorOriginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() / absl::StrCat("tessera-origin-", getpid(), "-",
                                                                    ::testing::UnitTest::GetInstance()->random_seed()))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto kafka = EmbeddedKafka::Start();
    ASSERT_TRUE(kafka.ok()) << kafka.status();
    kafka_ = *std::move(kafka);
    ASSERT_TRUE(kafka_->CreateTopics(topics_.Specs(2)).ok());

    AsyncKafkaProducer::Options producer_options;
    producer_options.brokers = kafka_->bootstrap_servers();
    auto producer = AsyncKafkaProducer::Create(producer_options);
    ASSERT_TRUE(producer.ok()) << producer.status();
    producer_ = *std::move(producer);
    collector::CollectorConfig config;
    config.sources_by_write_key[kWebKey] = collector::SourceConfig{"shop-th", "web", v1::CHANNEL_WEB};
    config.sources_by_write_key[kLineKey] = collector::SourceConfig{"shop-th", "line-oa", v1::CHANNEL_WEB};
    config.rate_limit_per_second = 0;
    collector::CollectorServerOptions server_options;
    server_options.port = 0;
    server_options.raw_topics = {{v1::CHANNEL_WEB, topics_.raw_web}};
    auto server = collector::CollectorServer::Start(server_options, config, producer_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);

    options_.brokers = kafka_->bootstrap_servers();
    options_.topic_prefix = kPrefix;
    options_.data_dir = dir_ + "/data";
    options_.ingest.default_phone_region = "US";
    options_.ingest.cleaning = ingest::ParseIngestConfig(kIngestYaml).value();
    options_.poll_timeout = absl::Milliseconds(20);
  }
  void TearDown() override {
    server_.reset();
    producer_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // POSTs `body` to /v1/track with `key` as the Basic user name; the HTTP status.
  int Track(const std::string& key, const std::string& body) {
    int exit_code = -1;
    const std::string status =
        RunAndCapture({"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", key + ":", "-H",
                       "Content-Type: application/json", "--data-binary", body,
                       absl::StrCat("http://127.0.0.1:", server_->port(), "/v1/track")},
                      &exit_code);
    return exit_code == 0 ? std::atoi(status.c_str()) : -1;
  }

  // Three calls: LINE in plan (Thai national phone), LINE off plan (rejected), web.
  void SendThreeCalls() {
    EXPECT_EQ(Track(kLineKey, R"({"userId":"line-u1","event":"Message Received","messageId":"o-1",)"
                              R"("context":{"traits":{"phone":"081-234-5678"}}})"),
              200);
    EXPECT_EQ(Track(kLineKey, R"({"userId":"line-u2","event":"Order Completed","messageId":"o-2"})"), 200);
    EXPECT_EQ(Track(kWebKey, R"({"userId":"web-u1","event":"Order Completed","messageId":"o-3"})"), 200);
  }

  // `tessera quality --json` over the run's data dir, for workspace shop-th.
  std::string QualityJson() {
    int exit_code = -1;
    std::string json = RunAndCapture(
        {TESSERA_BIN, "quality", "--data-dir", options_.data_dir, "--workspace", "shop-th", "--json"}, &exit_code);
    EXPECT_EQ(exit_code, 0) << json;
    return json;
  }

  // A count of `tessera quality --json` output: sources.<source>.<pointer> ("accepted",
  // "rejected/tracking_plan"); -1 when absent.
  static int64_t QualityCount(const std::string& json, const std::string& source, const std::string& pointer) {
    simdjson::dom::parser parser;
    int64_t n = -1;
    if (parser.parse(json).at_pointer("/sources/" + source + "/" + pointer).get(n) != simdjson::SUCCESS) return -1;
    return n;
  }

  void ExpectCountsKeyedByTheWriteKeysSource(const std::string& json) {
    EXPECT_EQ(QualityCount(json, "line-oa", "accepted"), 1) << json;
    EXPECT_EQ(QualityCount(json, "line-oa", "rejected/tracking_plan"), 1) << json;
    EXPECT_EQ(QualityCount(json, "web", "accepted"), 1) << json;
    EXPECT_EQ(QualityCount(json, "web", "rejected/tracking_plan"), -1) << json;
    // Nothing was counted under the pipeline's own workspace.
    int exit_code = -1;
    const std::string other = RunAndCapture(
        {TESSERA_BIN, "quality", "--data-dir", options_.data_dir, "--workspace", "default", "--json"}, &exit_code);
    EXPECT_NE(other.find(R"("sources":{})"), std::string::npos) << other;
  }

  static constexpr char kPrefix[] = "origin.";
  const app::Topics topics_{kPrefix};
  std::string dir_;
  std::unique_ptr<EmbeddedKafka> kafka_;
  std::unique_ptr<AsyncKafkaProducer> producer_;
  std::unique_ptr<collector::CollectorServer> server_;
  app::RunOptions options_;
};

TEST_F(CollectorOriginTest, RawRecordsCarryTheWriteKeysWorkspaceAndSource) {
  SendThreeCalls();
  absl::StatusOr<std::vector<KafkaMessage>> raw = ReadTopicToEnd(kafka_->bootstrap_servers(), topics_.raw_web);
  ASSERT_TRUE(raw.ok()) << raw.status();
  ASSERT_EQ(raw->size(), 3u);
  int line = 0;
  for (const KafkaMessage& m : *raw) {
    const ingest::RecordOrigin origin = ingest::OriginFromHeaders(m);
    EXPECT_EQ(origin.workspace, "shop-th");
    const bool from_line = m.key.rfind("line-", 0) == 0;
    line += from_line;
    EXPECT_EQ(origin.source, from_line ? "line-oa" : "web") << m.key;
  }
  EXPECT_EQ(line, 2);
}

TEST_F(CollectorOriginTest, FusedRunKeysPlansPhoneRegionsAndQualityByTheWriteKeysSource) {
  SendThreeCalls();
  options_.max_records = 3;
  std::atomic<bool> stop{false};
  ASSERT_TRUE(app::RunFused(options_, stop).ok());

  ExpectCountsKeyedByTheWriteKeysSource(QualityJson());
  // The profile is in workspace shop-th, and its Thai phone was read in line-oa's region (TH),
  // not the pipeline's (US).
  int exit_code = -1;
  const std::string profile = RunAndCapture(
      {TESSERA_BIN, "profile", "get", "phone:+66812345678", "--data-dir", options_.data_dir, "--workspace", "shop-th"},
      &exit_code);
  EXPECT_EQ(exit_code, 0) << profile;
  EXPECT_NE(profile.find(R"("user_id:line-u1")"), std::string::npos) << profile;
  // The off-plan LINE call is a dead letter, the web one a profile.
  absl::StatusOr<std::vector<KafkaMessage>> dlq = ReadTopicToEnd(kafka_->bootstrap_servers(), topics_.dlq);
  ASSERT_TRUE(dlq.ok()) << dlq.status();
  ASSERT_EQ(dlq->size(), 1u);
  v1::DeadLetter letter;
  ASSERT_TRUE(letter.ParseFromString((*dlq)[0].payload));
  EXPECT_EQ(letter.reason(), "tracking_plan");
  RunAndCapture({TESSERA_BIN, "profile", "get", "user_id:web-u1", "--data-dir", options_.data_dir, "--workspace",
                 "shop-th"},
                &exit_code);
  EXPECT_EQ(exit_code, 0);
}

TEST_F(CollectorOriginTest, DistributedIngestStoresItsQualityCountsOnceAcrossARestart) {
  SendThreeCalls();
  options_.max_records = 3;
  std::atomic<bool> stop{false};
  ASSERT_TRUE(app::RunIngestStage(options_, stop).ok());
  ASSERT_TRUE(std::filesystem::exists(options_.data_dir + "/ingest"));

  absl::StatusOr<std::vector<KafkaMessage>> events = ReadTopicToEnd(kafka_->bootstrap_servers(), topics_.events);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 2u);
  for (const KafkaMessage& m : *events) {
    v1::Event event;
    ASSERT_TRUE(event.ParseFromString(m.payload));
    EXPECT_EQ(event.workspace(), "shop-th");
    EXPECT_EQ(m.key, "shop-th");  // one identity writer per workspace
    if (event.message_id() == "o-1") {
      EXPECT_EQ(event.source_name(), "line-oa");
      EXPECT_EQ(event.traits().at("phone"), R"("+66812345678")");
    } else {
      EXPECT_EQ(event.source_name(), "web");
    }
  }
  ExpectCountsKeyedByTheWriteKeysSource(QualityJson());

  // A restarted worker resumes after its committed offsets, and the counts it committed on the way
  // are all there: given one new call, it adds that one only (had it started over, its first batch
  // would recount the others; had it lost its last batch's counts, line-oa would read 0).
  EXPECT_EQ(Track(kWebKey, R"({"userId":"web-u2","event":"Order Completed","messageId":"o-4"})"), 200);
  options_.max_records = 1;
  ASSERT_TRUE(app::RunIngestStage(options_, stop).ok());
  const std::string second = QualityJson();
  EXPECT_EQ(QualityCount(second, "web", "accepted"), 2) << second;
  EXPECT_EQ(QualityCount(second, "line-oa", "accepted"), 1) << second;
  EXPECT_EQ(QualityCount(second, "line-oa", "rejected/tracking_plan"), 1) << second;
}

}  // namespace
}  // namespace tessera
