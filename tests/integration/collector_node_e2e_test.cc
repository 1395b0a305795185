// End-to-end with real client libraries: the unmodified @segment/analytics-node and
// @rudderstack/rudder-sdk-node from npm (tests/integration/node) post identify, track, page, group, alias and a large batch to
// `tessera collector` on a real Kafka broker; `tessera run` on the same topics must put every call
// into the profile it belongs to, and nothing twice.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "app/topics.h"
#include "common/kafka.h"
#include "simdjson.h"
#include "tests/integration/child_process.h"

namespace tessera {
namespace {

using testing::ChildProcess;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class CollectorNodeEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* brokers = std::getenv("TESSERA_TEST_BROKERS");
    ASSERT_NE(brokers, nullptr) << "TESSERA_TEST_BROKERS is not set: run through ctest (the kafka fixture starts a broker)";
    brokers_ = brokers;
    run_id_ = absl::StrCat(getpid(), "x", std::chrono::steady_clock::now().time_since_epoch().count() % 1'000'000'007);
    prefix_ = absl::StrCat("collector-e2e-", run_id_, ".");
    dir_ = (std::filesystem::temp_directory_path() / prefix_).string();
    std::filesystem::create_directories(dir_);
    ASSERT_TRUE(CreateTopics(brokers_, app::Topics(prefix_).Specs(4)).ok());
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
    else std::fprintf(stderr, "logs kept in %s\n", dir_.c_str());
  }

  // The port the collector printed on start ("tessera collector: http://127.0.0.1:PORT/v1/ ...").
  int WaitForCollectorPort(const std::string& log) {
    const std::regex listening("tessera collector: http://[^ ]*:([0-9]+)/v1/");
    for (int i = 0; i < 200; ++i) {
      std::smatch m;
      const std::string text = ReadFile(log);
      if (std::regex_search(text, m, listening)) return std::stoi(m[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return 0;
  }

  // `tessera profile get` as JSON, or "" while the profile does not exist yet.
  std::string Profile(const std::string& identifier) {
    int exit_code = -1;
    std::string json = testing::RunAndCapture({TESSERA_BIN, "profile", "get", identifier, "--data-dir", dir_ + "/data"}, &exit_code);
    return exit_code == 0 ? json : "";
  }

  void ExpectSdkCallsInTheirProfiles(const std::string& script, const std::string& tag);

  // A collector with one write key (workspace default, source web) and `tessera run` (store in
  // DIR/data) on `brokers`, both on this test's topic prefix; port 0 if the collector did not start.
  struct Pipeline {
    std::unique_ptr<ChildProcess> collector, run;
    int port = 0;
    void Stop() {
      run->Signal(SIGTERM);
      EXPECT_EQ(run->Wait(), 0);
      collector->Signal(SIGTERM);
      EXPECT_EQ(collector->Wait(), 0);
    }
  };
  Pipeline StartCollectorAndRun(const std::string& brokers, const std::string& write_key,
                                const std::vector<std::string>& collector_flags = {}) {
    const std::string config = dir_ + "/collector.yaml";
    std::ofstream(config) << "sources:\n  - write_key: " << write_key << "\n    workspace: default\n    source: web\n";
    const std::string collector_log = dir_ + "/collector.log";
    std::vector<std::string> argv = {TESSERA_BIN, "collector", "--brokers", brokers, "--http", "127.0.0.1:0", "--config",
                                     config, "--topic-prefix", prefix_};
    argv.insert(argv.end(), collector_flags.begin(), collector_flags.end());
    Pipeline pipeline;
    pipeline.collector = std::make_unique<ChildProcess>(argv, collector_log);
    pipeline.port = WaitForCollectorPort(collector_log);
    EXPECT_GT(pipeline.port, 0) << ReadFile(collector_log);
    pipeline.run = std::make_unique<ChildProcess>(
        std::vector<std::string>{TESSERA_BIN, "run", "--brokers", brokers, "--topic-prefix", prefix_, "--data-dir",
                                 dir_ + "/data"},
        dir_ + "/run.log");
    return pipeline;
  }

  std::string brokers_, run_id_, prefix_, dir_;
};

int64_t Count(simdjson::dom::element profile, std::string_view type) {
  int64_t n = 0;
  return profile["event_type_counts"][type].get(n) == simdjson::SUCCESS ? n : 0;
}

bool HasIdentifier(simdjson::dom::element profile, std::string_view id) {
  simdjson::dom::array ids;
  if (profile["identifiers"].get(ids) != simdjson::SUCCESS) return false;
  for (simdjson::dom::element e : ids) {
    if (std::string_view(e) == id) return true;
  }
  return false;
}

// Runs tests/integration/node/<script> against a collector and `tessera run`, then checks the
// profiles of the ids it uses (<tag>-u-RUN, <tag>-a-RUN, <tag>-prev-RUN, <tag>-bulk-RUN).
void CollectorNodeEndToEndTest::ExpectSdkCallsInTheirProfiles(const std::string& script, const std::string& tag) {
  Pipeline pipeline = StartCollectorAndRun(brokers_, "wk_node_e2e");
  const int port = pipeline.port;
  ASSERT_GT(port, 0);

  constexpr int kBulk = 2000;
  int exit_code = -1;
  const std::string node_out = testing::RunAndCapture(
      {"/usr/bin/env", absl::StrCat("COLLECTOR_URL=http://127.0.0.1:", port), "WRITE_KEY=wk_node_e2e",
       absl::StrCat("RUN_ID=", run_id_), absl::StrCat("BULK_EVENTS=", kBulk), "node",
       std::string(TESSERA_SOURCE_DIR) + "/tests/integration/node/" + script},
      &exit_code);
  ASSERT_EQ(exit_code, 0) << node_out << "\ncollector log:\n" << ReadFile(dir_ + "/collector.log");

  simdjson::dom::parser parser;
  std::string user_json, bulk_json;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool done = false;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    user_json = Profile(absl::StrCat("user_id:", tag, "-u-", run_id_));
    bulk_json = Profile(absl::StrCat("user_id:", tag, "-bulk-", run_id_));
    simdjson::dom::element user, bulk;
    done = !user_json.empty() && !bulk_json.empty() && parser.parse(user_json).get(user) == simdjson::SUCCESS &&
           Count(user, "web.alias") == 1 && Count(user, "web.page") == 1 && Count(user, "web.group") == 1 &&
           HasIdentifier(user, absl::StrCat("anonymous_id:", tag, "-prev-", run_id_));
    if (done) {
      simdjson::dom::parser bulk_parser;
      done = bulk_parser.parse(bulk_json).get(bulk) == simdjson::SUCCESS && Count(bulk, "web.track") >= kBulk;
    }
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(done) << "user: " << user_json << "\nbulk: " << bulk_json;
  // Let anything duplicated arrive before counting exactly.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  user_json = Profile(absl::StrCat("user_id:", tag, "-u-", run_id_));
  bulk_json = Profile(absl::StrCat("user_id:", tag, "-bulk-", run_id_));
  simdjson::dom::element user = parser.parse(user_json);
  EXPECT_TRUE(HasIdentifier(user, absl::StrCat("anonymous_id:", tag, "-a-", run_id_))) << user_json;
  EXPECT_TRUE(HasIdentifier(user, absl::StrCat("email:", tag, ".", run_id_, "@example.com"))) << user_json;
  EXPECT_TRUE(HasIdentifier(user, absl::StrCat("anonymous_id:", tag, "-prev-", run_id_))) << user_json;
  for (const char* type : {"web.identify", "web.track", "web.page", "web.group", "web.alias"}) {
    EXPECT_EQ(Count(user, type), 1) << type << " in " << user_json;
  }
  int64_t revenue_events = 0;
  EXPECT_EQ(user["track_events"]["Order Completed"].get(revenue_events), simdjson::SUCCESS);
  EXPECT_EQ(revenue_events, 1);
  simdjson::dom::parser bulk_parser;
  simdjson::dom::element bulk = bulk_parser.parse(bulk_json);
  EXPECT_EQ(Count(bulk, "web.track"), kBulk) << bulk_json;

  // Nothing went to the dead-letter topic.
  auto dead = ReadTopicToEnd(brokers_, app::Topics(prefix_).dlq);
  ASSERT_TRUE(dead.ok());
  EXPECT_TRUE(dead->empty()) << dead->size() << " dead letters";
  pipeline.Stop();
}

TEST_F(CollectorNodeEndToEndTest, SegmentAnalyticsNodeCallsEndUpInTheirProfiles) {
  ExpectSdkCallsInTheirProfiles("segment_node_e2e.mjs", "node");
}

TEST_F(CollectorNodeEndToEndTest, RudderstackNodeSdkCallsEndUpInTheirProfiles) {
  ExpectSdkCallsInTheirProfiles("rudder_node_e2e.mjs", "rudder");
}

// Acceptance: the unmodified browser library, @segment/analytics-next, on a test page in Debian's
// headless Chromium (tests/integration/node/analytics_next_e2e.mjs: bundled from npm with esbuild,
// served from localhost, no CDN), posts identify, page and track across origins (CORS preflight);
// each ends up, once, in the profile of the user it identified.
TEST_F(CollectorNodeEndToEndTest, AnalyticsNextInHeadlessChromiumPageAndTrackEndUpInTheProfile) {
  Pipeline pipeline = StartCollectorAndRun(brokers_, "wk_browser_e2e");
  const int port = pipeline.port;
  ASSERT_GT(port, 0);

  int exit_code = -1;
  const std::string node_out = testing::RunAndCapture(
      {"/usr/bin/env", absl::StrCat("COLLECTOR_URL=http://127.0.0.1:", port), "WRITE_KEY=wk_browser_e2e",
       absl::StrCat("RUN_ID=", run_id_), "node",
       std::string(TESSERA_SOURCE_DIR) + "/tests/integration/node/analytics_next_e2e.mjs"},
      &exit_code);
  ASSERT_EQ(exit_code, 0) << node_out << "\ncollector log:\n" << ReadFile(dir_ + "/collector.log");
  simdjson::dom::parser parser;
  simdjson::dom::element sent;
  ASSERT_EQ(parser.parse(node_out.substr(node_out.rfind("{\"userId\""))).get(sent), simdjson::SUCCESS) << node_out;
  const std::string user_id = std::string(std::string_view(sent["userId"]));
  const std::string anonymous_id = std::string(std::string_view(sent["anonymousId"]));
  EXPECT_EQ(user_id, absl::StrCat("next-u-", run_id_));
  ASSERT_FALSE(anonymous_id.empty()) << node_out;
  // Each call was a cross-origin POST with an Authorization header, which the browser sends only
  // after the collector answered its CORS preflight.
  simdjson::dom::array answers;
  ASSERT_EQ(sent["answers"].get(answers), simdjson::SUCCESS);
  for (simdjson::dom::element answer : answers) {
    EXPECT_TRUE(bool(answer["authorization"])) << node_out;
    EXPECT_TRUE(bool(answer["crossOrigin"])) << node_out;
  }

  std::string json;
  simdjson::dom::parser profile_parser;
  simdjson::dom::element profile;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool done = false;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    json = Profile("user_id:" + user_id);
    done = !json.empty() && profile_parser.parse(json).get(profile) == simdjson::SUCCESS &&
           Count(profile, "web.page") >= 1 && Count(profile, "web.track") >= 1 && Count(profile, "web.identify") >= 1;
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(done) << json;
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let any duplicate arrive before counting
  json = Profile("user_id:" + user_id);
  ASSERT_EQ(profile_parser.parse(json).get(profile), simdjson::SUCCESS) << json;
  for (const char* type : {"web.identify", "web.page", "web.track"}) EXPECT_EQ(Count(profile, type), 1) << type << json;
  EXPECT_TRUE(HasIdentifier(profile, "anonymous_id:" + anonymous_id)) << json;
  EXPECT_TRUE(HasIdentifier(profile, absl::StrCat("email:next.", run_id_, "@example.com"))) << json;
  int64_t viewed = 0;
  EXPECT_EQ(profile["track_events"]["Product Viewed"].get(viewed), simdjson::SUCCESS) << json;
  EXPECT_EQ(viewed, 1);
  pipeline.Stop();
}

// The test's own broker (deploy/kafka.sh on ports 19794/19795 and a data dir of its own): the
// shared fixture's broker must not be stopped under the other tests.
class PrivateKafka {
 public:
  explicit PrivateKafka(std::string data_dir) : data_dir_(std::move(data_dir)) {}
  ~PrivateKafka() { Run("reset"); }
  static constexpr char kBrokers[] = "127.0.0.1:19794";
  // `deploy/kafka.sh VERB`; its exit code. Its output goes to a file: the broker it starts keeps
  // the script's stdout open, so a pipe would never see the end.
  int Run(const std::string& verb) {
    ChildProcess script({"/usr/bin/env", "KAFKA_PORT=19794", "KAFKA_CONTROLLER_PORT=19795",
                         "KAFKA_DATA_DIR=" + data_dir_, "bash", std::string(TESSERA_SOURCE_DIR) + "/deploy/kafka.sh",
                         verb},
                        data_dir_ + ".log");
    return script.Wait();
  }

 private:
  std::string data_dir_;
};

// Acceptance: Kafka stopped mid-test. While the broker is down the collector answers 503 with
// Retry-After; the unmodified @segment/analytics-node retries; once Kafka is back, every call the
// library reports acknowledged is in its profile exactly once (the retries of records that did
// reach Kafka carry the same messageId and ingest's dedup drops them).
TEST_F(CollectorNodeEndToEndTest, KafkaStoppedMidStreamLosesAndDuplicatesNothingAcknowledged) {
  PrivateKafka kafka(dir_ + "/kafka");
  ASSERT_EQ(kafka.Run("start"), 0) << "deploy/kafka.sh start on 19794 failed";
  const std::string brokers = PrivateKafka::kBrokers;
  ASSERT_TRUE(CreateTopics(brokers, app::Topics(prefix_).Specs(2)).ok());
  Pipeline pipeline = StartCollectorAndRun(brokers, "wk_kafka_down", {"--delivery-timeout-ms", "3000"});
  const int port = pipeline.port;
  ASSERT_GT(port, 0);
  const std::string data_dir = dir_ + "/data";

  constexpr int kMessages = 60;
  constexpr int kUsers = 6;
  const std::string node_out_path = dir_ + "/node.out";
  ChildProcess node({"/usr/bin/env", absl::StrCat("COLLECTOR_URL=http://127.0.0.1:", port), "WRITE_KEY=wk_kafka_down",
                     absl::StrCat("RUN_ID=", run_id_), absl::StrCat("MESSAGES=", kMessages), "INTERVAL_MS=200",
                     absl::StrCat("USERS=", kUsers), "node",
                     std::string(TESSERA_SOURCE_DIR) + "/tests/integration/node/kafka_down_e2e.mjs"},
                    node_out_path);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_EQ(kafka.Run("stop"), 0);
  // A call of our own while Kafka is down: 503, Retry-After, after the delivery timeout.
  int exit_code = -1;
  const std::string answer = testing::RunAndCapture(
      {"/usr/bin/curl", "-s", "-D", "-", "-o", "/dev/null", "-u", "wk_kafka_down:", "--data-binary",
       R"({"userId":"kd-probe","event":"Probe"})", absl::StrCat("http://127.0.0.1:", port, "/v1/track")},
      &exit_code);
  EXPECT_NE(answer.find("HTTP/1.1 503"), std::string::npos) << answer;
  EXPECT_NE(answer.find("Retry-After: "), std::string::npos) << answer;
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_EQ(kafka.Run("start"), 0);

  ASSERT_EQ(node.Wait(), 0) << ReadFile(node_out_path);
  const std::string node_out = ReadFile(node_out_path);
  const size_t json_start = node_out.rfind("{\"acked\"");
  ASSERT_NE(json_start, std::string::npos) << node_out;
  simdjson::dom::parser parser;
  simdjson::dom::element result;
  ASSERT_EQ(parser.parse(node_out.substr(json_start)).get(result), simdjson::SUCCESS) << node_out;
  simdjson::dom::array acked, failed;
  ASSERT_EQ(result["acked"].get(acked), simdjson::SUCCESS);
  ASSERT_EQ(result["failed"].get(failed), simdjson::SUCCESS);
  EXPECT_EQ(failed.size(), 0u) << node_out;  // the library outlasted the outage
  std::map<std::string, int64_t> acked_per_user;
  for (simdjson::dom::element call : acked) acked_per_user[std::string(std::string_view(call["userId"]))]++;
  EXPECT_EQ(acked.size(), static_cast<size_t>(kMessages)) << node_out;

  const auto profile_of = [&](const std::string& user) {
    int code = -1;
    std::string json = testing::RunAndCapture(
        {TESSERA_BIN, "profile", "get", "user_id:" + user, "--data-dir", data_dir}, &code);
    return code == 0 ? json : "";
  };
  const auto all_there = [&]() {
    for (const auto& [user, n] : acked_per_user) {
      simdjson::dom::parser p;
      simdjson::dom::element profile;
      const std::string json = profile_of(user);
      if (json.empty() || p.parse(json).get(profile) != simdjson::SUCCESS) return false;
      if (Count(profile, "web.track") < n) return false;
    }
    return true;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!all_there() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));  // let any duplicate arrive before counting
  for (const auto& [user, n] : acked_per_user) {
    const std::string json = profile_of(user);
    simdjson::dom::parser p;
    simdjson::dom::element profile;
    ASSERT_EQ(p.parse(json).get(profile), simdjson::SUCCESS) << user << ": " << json << "\nrun log:\n"
                                                              << ReadFile(dir_ + "/run.log");
    EXPECT_EQ(Count(profile, "web.track"), n) << user << ": " << json;
  }
  pipeline.Stop();
}

}  // namespace
}  // namespace tessera
