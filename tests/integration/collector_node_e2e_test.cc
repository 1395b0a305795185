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
#include <regex>
#include <sstream>
#include <thread>

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
  const std::string config = dir_ + "/collector.yaml";
  std::ofstream(config) << "sources:\n  - write_key: wk_node_e2e\n    workspace: default\n    source: web\n";
  const std::string collector_log = dir_ + "/collector.log";
  ChildProcess collector({TESSERA_BIN, "collector", "--brokers", brokers_, "--http", "127.0.0.1:0", "--config", config,
                          "--topic-prefix", prefix_},
                         collector_log);
  const int port = WaitForCollectorPort(collector_log);
  ASSERT_GT(port, 0) << ReadFile(collector_log);
  ChildProcess run({TESSERA_BIN, "run", "--brokers", brokers_, "--topic-prefix", prefix_, "--data-dir", dir_ + "/data"},
                   dir_ + "/run.log");

  constexpr int kBulk = 2000;
  int exit_code = -1;
  const std::string node_out = testing::RunAndCapture(
      {"/usr/bin/env", absl::StrCat("COLLECTOR_URL=http://127.0.0.1:", port), "WRITE_KEY=wk_node_e2e",
       absl::StrCat("RUN_ID=", run_id_), absl::StrCat("BULK_EVENTS=", kBulk), "node",
       std::string(TESSERA_SOURCE_DIR) + "/tests/integration/node/" + script},
      &exit_code);
  ASSERT_EQ(exit_code, 0) << node_out << "\ncollector log:\n" << ReadFile(collector_log);

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

  run.Signal(SIGTERM);
  EXPECT_EQ(run.Wait(), 0);
  collector.Signal(SIGTERM);
  EXPECT_EQ(collector.Wait(), 0);
}

TEST_F(CollectorNodeEndToEndTest, SegmentAnalyticsNodeCallsEndUpInTheirProfiles) {
  ExpectSdkCallsInTheirProfiles("segment_node_e2e.mjs", "node");
}

TEST_F(CollectorNodeEndToEndTest, RudderstackNodeSdkCallsEndUpInTheirProfiles) {
  ExpectSdkCallsInTheirProfiles("rudder_node_e2e.mjs", "rudder");
}

}  // namespace
}  // namespace tessera
