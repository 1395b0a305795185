// The query API end to end: `tessera run --embedded` loads deploy/samples, `tessera query` serves
// the store beside it (a RocksDB secondary that catches up), and the API, the CLI mirrors and the
// export answer from what the pipeline wrote: the profile, its whole timeline across merges
// (paged by cursor), its merge history, point-in-time reads, stats, auth and masking.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "simdjson.h"
#include "tests/integration/child_process.h"
#include "tests/query/http_get.h"

namespace tessera {
namespace {

using testing::ChildProcess;
using testing::HttpGet;
using testing::RunAndCapture;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string WaitForLine(const std::string& path) {
  std::string line;
  for (int i = 0; i < 150 && line.empty(); ++i) {
    std::ifstream in(path);
    std::getline(in, line);
    if (line.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return line;
}

int64_t Int(simdjson::dom::element element, const char* pointer) {
  int64_t value = -1;
  if (element.at_pointer(pointer).get(value) != simdjson::SUCCESS) return -1;
  return value;
}

TEST(QueryEndToEndTest, SamplesAreServedWhileRunHoldsTheStore) {
  const std::string dir = (std::filesystem::temp_directory_path() / absl::StrCat("tessera-query-e2e-", getpid())).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ChildProcess run({TESSERA_BIN, "run", "--embedded", "--data-dir", dir}, dir + "/run.log");
  const std::string brokers = WaitForLine(dir + "/brokers");
  ASSERT_FALSE(brokers.empty()) << ReadFile(dir + "/run.log");
  int exit_code = -1;
  for (const char* channel : {"web", "social", "purchase"}) {
    RunAndCapture({TESSERA_BIN, "import", "--channel", channel, "--brokers", brokers,
                   absl::StrCat(TESSERA_SOURCE_DIR, "/deploy/samples/", channel, ".ndjson")},
                  &exit_code);
    ASSERT_EQ(exit_code, 0) << channel;
  }
  ChildProcess query({TESSERA_BIN, "query", "--data-dir", dir, "--http", "127.0.0.1:0", "--port-file",
                      dir + "/query_port", "--catch-up-ms", "200"},
                     dir + "/query.log");
  const std::string port_text = WaitForLine(dir + "/query_port");
  ASSERT_FALSE(port_text.empty()) << ReadFile(dir + "/query.log");
  const int port = std::stoi(port_text);
  simdjson::dom::parser parser;
  simdjson::dom::element credentials;
  ASSERT_EQ(parser.parse(ReadFile(dir + "/credentials")).get(credentials), simdjson::SUCCESS);
  const std::string token(credentials["query_token"].get_string().value());

  // Wait until the store has every event of Somchai (deploy/samples/README.md): 8 events.
  const std::string somchai = "/v1/profiles/phone:%2B66812345678";
  testing::HttpAnswer answer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    answer = HttpGet(port, somchai, token);
    if (answer.status == 200 && answer.body.find("\"event_counts\":{\"purchase\":2,\"social\":2,\"web\":4}") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(answer.status, 200) << answer.body << ReadFile(dir + "/query.log");
  EXPECT_NE(answer.body.find("\"email:somchai.j@example.com\""), std::string::npos) << answer.body;
  simdjson::dom::parser profile_parser;
  simdjson::dom::element profile;
  ASSERT_EQ(profile_parser.parse(answer.body).get(profile), simdjson::SUCCESS);
  const std::string id(profile["id"].get_string().value());
  const size_t merged = profile["merged_from"].get_array().size();

  // The timeline: every event of every profile merged into Somchai's, newest first, by cursor.
  std::vector<std::string> times;
  std::string cursor;
  for (int page = 0; page < 20; ++page) {
    answer = HttpGet(port, "/v1/profiles/" + id + "/events?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor), token);
    ASSERT_EQ(answer.status, 200) << answer.body;
    simdjson::dom::element body;
    ASSERT_EQ(parser.parse(answer.body).get(body), simdjson::SUCCESS);
    for (simdjson::dom::element event : body["events"].get_array()) {
      times.push_back(std::string(event["timestamp"].get_string().value()));
    }
    if (body["next_cursor"].is_null()) break;
    cursor = std::string(body["next_cursor"].get_string().value());
  }
  EXPECT_EQ(times.size(), 8u);
  EXPECT_TRUE(std::is_sorted(times.rbegin(), times.rend())) << "newest first";

  // History: one merge record per merged-away profile.
  answer = HttpGet(port, "/v1/profiles/" + id + "/history", token);
  ASSERT_EQ(answer.status, 200) << answer.body;
  simdjson::dom::element history;
  ASSERT_EQ(parser.parse(answer.body).get(history), simdjson::SUCCESS);
  EXPECT_EQ(history["merges"].get_array().size(), merged);

  // Point in time: before any of Somchai's events there is nothing; long after, all of them.
  EXPECT_EQ(HttpGet(port, somchai + "?as_of=2000-01-01T00:00:00Z", token).status, 404);
  answer = HttpGet(port, somchai + "?as_of=2100-01-01T00:00:00Z", token);
  EXPECT_NE(answer.body.find("\"event_counts\":{\"purchase\":2,\"social\":2,\"web\":4}"), std::string::npos) << answer.body;

  // Stats, auth.
  answer = HttpGet(port, "/v1/stats", token);
  ASSERT_EQ(answer.status, 200);
  simdjson::dom::element stats;
  ASSERT_EQ(parser.parse(answer.body).get(stats), simdjson::SUCCESS);
  EXPECT_GE(Int(stats, "/events"), 8);
  const int64_t profiles = Int(stats, "/counts/profiles");
  EXPECT_GE(profiles, 4);
  EXPECT_EQ(HttpGet(port, somchai).status, 401);
  EXPECT_EQ(HttpGet(port, somchai, "qt_wrong").status, 401);
  EXPECT_EQ(HttpGet(port, "/v1/profiles/email:nobody@example.com", token).status, 404);

  // The CLI mirrors the API.
  std::string out = RunAndCapture({TESSERA_BIN, "profile", "events", "phone:+66812345678", "--data-dir", dir, "--json",
                                   "--limit", "100"},
                                  &exit_code);
  EXPECT_EQ(exit_code, 0) << out;
  EXPECT_NE(out.find("\"events\":["), std::string::npos) << out;
  out = RunAndCapture({TESSERA_BIN, "profile", "events", id, "--data-dir", dir}, &exit_code);
  EXPECT_EQ(exit_code, 0);
  EXPECT_NE(out.find("MESSAGE ID"), std::string::npos) << out;
  out = RunAndCapture({TESSERA_BIN, "profile", "history", "phone:+66812345678", "--data-dir", dir}, &exit_code);
  EXPECT_EQ(exit_code, 0) << out;
  out = RunAndCapture({TESSERA_BIN, "profile", "get", "phone:+66812345678", "--as-of", "2100-01-01T00:00:00Z",
                       "--data-dir", dir},
                      &exit_code);
  EXPECT_EQ(exit_code, 0);
  EXPECT_NE(out.find("\"event_counts\":{\"purchase\":2,\"social\":2,\"web\":4}"), std::string::npos) << out;

  // Export: one line per profile.
  RunAndCapture({TESSERA_BIN, "export", "--all", "--format", "ndjson", "--out", dir + "/profiles.ndjson", "--data-dir", dir},
                &exit_code);
  EXPECT_EQ(exit_code, 0);
  const std::string exported = ReadFile(dir + "/profiles.ndjson");
  EXPECT_EQ(static_cast<int64_t>(std::count(exported.begin(), exported.end(), '\n')), profiles);
  RunAndCapture({TESSERA_BIN, "export", "--segment", "vip", "--format", "csv", "--data-dir", dir}, &exit_code);
  EXPECT_NE(exit_code, 0) << "segments are not available yet";

  query.Signal(SIGTERM);
  EXPECT_EQ(query.Wait(), 0);
  run.Signal(SIGTERM);
  EXPECT_EQ(run.Wait(), 0);
  if (!HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera
