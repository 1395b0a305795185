// The query API end to end: `tessera run --embedded` loads deploy/samples, `tessera query` serves
// the store beside it (a RocksDB secondary that catches up), and the API, the CLI mirrors and the
// export answer from what the pipeline wrote: the profile, its whole timeline across merges
// (paged by cursor), its merge history, point-in-time reads, stats, auth and masking; and, with a
// config that defines a segment and scoped tokens, the segment endpoints, search, their CLI mirrors
// and the export of a segment or a filter.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "simdjson.h"
#include "tests/integration/child_process.h"
#include "tests/integration/query_child.h"
#include "tests/query/http_get.h"

namespace tessera {
namespace {

using testing::ChildProcess;
using testing::HttpGet;
using testing::HttpRequest;
using testing::ReadFile;
using testing::WaitForLine;
using testing::RunAndCapture;

int64_t Int(simdjson::dom::element element, const char* pointer) {
  int64_t value = -1;
  if (element.at_pointer(pointer).get(value) != simdjson::SUCCESS) return -1;
  return value;
}

TEST(QueryEndToEndTest, SamplesAreServedWhileRunHoldsTheStore) {
  const std::string dir = (std::filesystem::temp_directory_path() / absl::StrCat("tessera-query-e2e-", getpid())).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // Somchai and Emma have two completed orders or more (deploy/samples/README.md).
  std::ofstream(dir + "/tessera.yaml") << R"(query:
  tokens:
    - {token: qt_reader, scopes: [read_profiles]}
    - {token: qt_all, scopes: [read_profiles, read_pii, export]}
profiles:
  segments:
    - {name: repeat_buyers, description: two orders or more, condition: {computed: orders_count, gte: 2}}
)";
  ChildProcess run({TESSERA_BIN, "run", "--embedded", "--data-dir", dir, "--config", dir + "/tessera.yaml"},
                   dir + "/run.log");
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
  const std::string token = testing::QueryTokenOf(dir);
  ASSERT_FALSE(token.empty()) << ReadFile(dir + "/credentials");
  simdjson::dom::parser parser;

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
  EXPECT_NE(out.find("LINKED"), std::string::npos) << out;  // the link log's events, as the API's "links"
  EXPECT_NE(out.find("phone:+66812345678"), std::string::npos) << out;
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

  // Segments and search, from a query server that reads the same config (its tokens, the segment).
  ChildProcess configured({TESSERA_BIN, "query", "--data-dir", dir, "--config", dir + "/tessera.yaml", "--http",
                           "127.0.0.1:0", "--port-file", dir + "/configured_port", "--catch-up-ms", "200"},
                          dir + "/configured.log");
  const std::string configured_port = WaitForLine(dir + "/configured_port");
  ASSERT_FALSE(configured_port.empty()) << ReadFile(dir + "/configured.log");
  const int port2 = std::stoi(configured_port);
  const std::string filter = R"({"filter": {"computed": "orders_count", "gte": 2}, "limit": 1, "count": true})";
  std::vector<std::string> members;
  std::vector<std::string> found;
  int64_t count = -1;
  for (int attempt = 0; attempt < 100; ++attempt) {  // until the pipeline has evaluated every profile
    members.clear();
    found.clear();
    answer = HttpGet(port2, "/v1/segments/repeat_buyers/members?limit=1", "qt_reader");
    std::string next;
    for (int page = 0; page < 20 && answer.status == 200; ++page) {
      simdjson::dom::element body;
      ASSERT_EQ(parser.parse(answer.body).get(body), simdjson::SUCCESS);
      for (simdjson::dom::element m : body["members"].get_array()) members.emplace_back(m["profile_id"].get_string().value());
      if (body["next_cursor"].is_null()) break;
      next = std::string(body["next_cursor"].get_string().value());
      answer = HttpGet(port2, "/v1/segments/repeat_buyers/members?limit=1&cursor=" + next, "qt_reader");
    }
    answer = HttpRequest(port2, "POST", "/v1/profiles/search", "qt_all", filter);
    for (int page = 0; page < 20 && answer.status == 200; ++page) {
      simdjson::dom::element body;
      ASSERT_EQ(parser.parse(answer.body).get(body), simdjson::SUCCESS);
      if (page == 0) count = Int(body, "/count");
      for (simdjson::dom::element p : body["profiles"].get_array()) found.emplace_back(p["id"].get_string().value());
      if (body["next_cursor"].is_null()) break;
      const std::string more = absl::StrCat(R"({"filter": {"computed": "orders_count", "gte": 2}, "limit": 1, "cursor": ")",
                                            std::string(body["next_cursor"].get_string().value()), "\"}");
      answer = HttpRequest(port2, "POST", "/v1/profiles/search", "qt_all", more);
    }
    if (members.size() == 2 && members == found) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // The pipeline's memberships and a search evaluated now agree, page by page.
  EXPECT_EQ(members.size(), 2u) << ReadFile(dir + "/run.log");
  EXPECT_EQ(members, found);
  EXPECT_EQ(count, 2);
  EXPECT_NE(std::find(members.begin(), members.end(), id), members.end()) << "Somchai is a repeat buyer";

  answer = HttpGet(port2, "/v1/segments", "qt_reader");
  ASSERT_EQ(answer.status, 200) << answer.body;
  simdjson::dom::element segments;
  ASSERT_EQ(parser.parse(answer.body).get(segments), simdjson::SUCCESS);
  EXPECT_EQ(std::string(segments.at_pointer("/segments/0/name").get_string().value()), "repeat_buyers");
  EXPECT_EQ(Int(segments, "/segments/0/members"), 2);
  EXPECT_EQ(Int(segments, "/segments/0/condition/gte"), 2);

  // Masking and scopes: a read_profiles token sees masked identifiers and may not filter on PII.
  answer = HttpGet(port2, "/v1/segments/repeat_buyers/members", "qt_reader");
  EXPECT_EQ(answer.body.find("somchai.j@"), std::string::npos) << answer.body;
  EXPECT_NE(answer.body.find("email:s*****@example.com"), std::string::npos) << answer.body;
  EXPECT_NE(HttpGet(port2, "/v1/segments/repeat_buyers/members", "qt_all").body.find("email:somchai.j@example.com"),
            std::string::npos);
  answer = HttpRequest(port2, "POST", "/v1/profiles/search", "qt_reader", filter);
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body.find("somchai.j@"), std::string::npos);
  EXPECT_EQ(HttpRequest(port2, "POST", "/v1/profiles/search", "qt_reader",
                        R"({"filter": {"trait": "email", "eq": "somchai.j@example.com"}})").status,
            403);
  answer = HttpRequest(port2, "POST", "/v1/profiles/search", "qt_all", R"({"filter": {"computed": "orders_count", "gte": "x"}})");
  EXPECT_EQ(answer.status, 200) << "a text operand compares as text: " << answer.body;
  answer = HttpRequest(port2, "POST", "/v1/profiles/search", "qt_all", R"({"filter": {"computed": "orders_count"}})");
  EXPECT_EQ(answer.status, 400);
  EXPECT_NE(answer.body.find("exactly one operator"), std::string::npos) << answer.body;
  EXPECT_EQ(HttpGet(port2, "/v1/segments/nosuch/members", "qt_reader").status, 404);
  EXPECT_EQ(HttpGet(port2, "/v1/segments", token).status, 401) << "configured tokens replace the generated one";

  // The CLI mirrors, and the export of a segment and of a filter.
  out = RunAndCapture({TESSERA_BIN, "segment", "members", "repeat_buyers", "--data-dir", dir}, &exit_code);
  EXPECT_EQ(exit_code, 0) << out;
  EXPECT_NE(out.find(id), std::string::npos) << out;
  EXPECT_NE(out.find("ENTERED"), std::string::npos) << out;
  out = RunAndCapture({TESSERA_BIN, "search", "{computed: orders_count, gte: 2}", "--data-dir", dir}, &exit_code);
  EXPECT_EQ(exit_code, 0) << out;
  EXPECT_NE(out.find("2 profiles match"), std::string::npos) << out;
  out = RunAndCapture({TESSERA_BIN, "search", "{computed: orders_count, gte: 2}", "--data-dir", dir, "--json"}, &exit_code);
  EXPECT_NE(out.find("\"count\":2"), std::string::npos) << out;
  out = RunAndCapture({TESSERA_BIN, "search", "{trait: city, eqq: x}", "--data-dir", dir}, &exit_code);
  EXPECT_EQ(exit_code, 2) << out;
  RunAndCapture({TESSERA_BIN, "export", "--segment", "repeat_buyers", "--format", "csv", "--out", dir + "/repeat.csv",
                 "--data-dir", dir},
                &exit_code);
  EXPECT_EQ(exit_code, 0);
  const std::string csv = ReadFile(dir + "/repeat.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3) << csv;  // the header and two rows
  RunAndCapture({TESSERA_BIN, "export", "--filter", "{computed: orders_count, gte: 2}", "--format", "ndjson", "--out",
                 dir + "/repeat.ndjson", "--data-dir", dir},
                &exit_code);
  EXPECT_EQ(exit_code, 0);
  const std::string ndjson = ReadFile(dir + "/repeat.ndjson");
  EXPECT_EQ(std::count(ndjson.begin(), ndjson.end(), '\n'), 2) << ndjson;

  configured.Signal(SIGTERM);
  EXPECT_EQ(configured.Wait(), 0);
  query.Signal(SIGTERM);
  EXPECT_EQ(query.Wait(), 0);
  run.Signal(SIGTERM);
  EXPECT_EQ(run.Wait(), 0);
  if (!HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera
