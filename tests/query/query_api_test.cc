// Pins profiles/query/query_api.cc and query_server.cc: every endpoint and every error, tokens and
// scopes, masking without read_pii, redirects of merged-away ids, the timeline across merges with
// its cursor, point-in-time reads, and the same answers over real HTTP on an ephemeral port, from
// a real RocksDB.
#include "profiles/query/query_api.h"

#include <filesystem>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "ingest/collector/collector_server.h"
#include "profiles/query/query_server.h"
#include "profiles/query/store_readers.h"
#include "simdjson.h"
#include "tests/query/http_get.h"
#include "tests/query/mini_pipeline.h"

namespace tessera::query {
namespace {

using testing::kMinute;
using testing::kT0;
using testing::MakeEvent;

class SystemClockForTest final : public Clock {
 public:
  int64_t NowMillis() const override { return now; }
  int64_t now = kT0 + 1000 * kMinute;
};

QueryConfig Tokens() {
  QueryConfig config;
  config.default_workspace = "baankafe";
  config.scopes_by_token["t-all"] = kAllScopes;
  config.scopes_by_token["t-read"] = kScopeReadProfiles;
  config.scopes_by_token["t-export"] = kScopeExport;
  return config;
}

// Somchai: two anonymous visits that become one profile when he identifies on both devices
// (a merge), with PII traits; Nok: one identify.
void LoadCustomers(testing::MiniPipeline& pipeline) {
  pipeline.Apply(MakeEvent("p-1", kT0, "page", {"anonymous_id:a-1"}, "Home"));
  pipeline.Apply(MakeEvent("p-2", kT0 + kMinute, "page", {"anonymous_id:a-2"}, "Menu"));
  v1::Event identify = MakeEvent("i-1", kT0 + 2 * kMinute, "identify",
                                 {"anonymous_id:a-1", "email:somchai.j@example.com", "phone:+66812345678"});
  (*identify.mutable_traits())["name"] = "\"สมชาย ใจดี\"";
  (*identify.mutable_traits())["email"] = "\"Somchai.J@Example.com\"";
  (*identify.mutable_traits())["city"] = "\"Chiang Mai\"";
  identify.set_properties_json(R"({"note":"call me at 0812345678"})");
  pipeline.Apply(identify);
  v1::Event second = MakeEvent("i-2", kT0 + 10 * kMinute, "identify", {"anonymous_id:a-2", "email:somchai.j@example.com"});
  (*second.mutable_traits())["city"] = "\"Bangkok\"";
  pipeline.Apply(second);
  for (int i = 0; i < 5; ++i) {
    pipeline.Apply(MakeEvent("t-" + std::to_string(i), kT0 + (20 + i) * kMinute, "track", {"anonymous_id:a-2"},
                             "Product Viewed"));
  }
  pipeline.Apply(MakeEvent("n-1", kT0 + 3 * kMinute, "identify", {"anonymous_id:b-1", "email:nok@example.com"}));
}

simdjson::dom::element Parse(simdjson::dom::parser& parser, const std::string& body) {
  simdjson::dom::element element;
  EXPECT_EQ(parser.parse(body).get(element), simdjson::SUCCESS) << body;
  return element;
}

std::string Str(simdjson::dom::element element, const char* pointer) {
  std::string_view value;
  if (element.at_pointer(pointer).get(value) != simdjson::SUCCESS) return "<missing " + std::string(pointer) + ">";
  return std::string(value);
}

class QueryApiTest : public ::testing::Test {
 protected:
  QueryApiTest() : reader_(pipeline_.reader()) {
    LoadCustomers(pipeline_);
    somchai_ = pipeline_.Root("email:somchai.j@example.com");
    const v1::Profile profile = pipeline_.Profile(somchai_);
    loser_ = profile.merged_from(0);
    api_ = std::make_unique<QueryApi>(&reader_, Tokens(), &clock_);
  }

  QueryResponse Get(const std::string& target, const std::string& token = "t-all") const {
    const std::string authorization = token.empty() ? "" : "Bearer " + token;
    return api_->Handle(QueryRequest{"GET", target, authorization});
  }

  std::string ErrorCode(const QueryResponse& response) {
    return Str(Parse(parser_, response.body), "/error/code");
  }

  testing::MiniPipeline pipeline_;
  profiles::MapRangeReader reader_;
  SystemClockForTest clock_;
  std::unique_ptr<QueryApi> api_;
  simdjson::dom::parser parser_;
  uint64_t somchai_ = 0;
  uint64_t loser_ = 0;
};

TEST_F(QueryApiTest, ProfileByIdentifierIsTheSpineJsonWithPii) {
  const QueryResponse response = Get("/v1/profiles/email:somchai.j@example.com");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body, profiles::ProfileToJson(pipeline_.Profile(somchai_)));
  // Any identifier of the profile finds it, percent-encoded or not, and emails ignore case.
  EXPECT_EQ(Get("/v1/profiles/phone:%2B66812345678").body, response.body);
  EXPECT_EQ(Get("/v1/profiles/email:SOMCHAI.J%40example.com").body, response.body);
  EXPECT_EQ(Get("/v1/profiles/anonymous_id:a-2?workspace=baankafe").body, response.body);
  EXPECT_EQ(Get("/v1/profiles/" + std::to_string(somchai_)).body, response.body);
}

TEST_F(QueryApiTest, WithoutReadPiiEmailsPhonesAndNamesAreMasked) {
  const QueryResponse response = Get("/v1/profiles/email:somchai.j@example.com", "t-read");
  ASSERT_EQ(response.status, 200) << response.body;
  simdjson::dom::element profile = Parse(parser_, response.body);
  std::vector<std::string> identifiers;
  for (simdjson::dom::element id : profile["identifiers"].get_array()) identifiers.push_back(std::string(id.get_string().value()));
  EXPECT_EQ(identifiers, (std::vector<std::string>{"anonymous_id:a-1", "anonymous_id:a-2", "email:s*****@example.com",
                                                   "phone:+66*****5678"}));
  EXPECT_EQ(Str(profile, "/traits/name"), "ส*****");
  EXPECT_EQ(Str(profile, "/traits/email"), "S*****@Example.com");
  EXPECT_EQ(Str(profile, "/traits/city"), "Bangkok");  // not PII
  EXPECT_EQ(response.body.find("somchai.j"), std::string::npos);
  EXPECT_EQ(response.body.find("12345678"), std::string::npos);

  // The timeline too, and free-form properties are withheld.
  const QueryResponse events = Get("/v1/profiles/" + std::to_string(somchai_) + "/events?limit=100", "t-read");
  ASSERT_EQ(events.status, 200) << events.body;
  EXPECT_EQ(events.body.find("somchai.j"), std::string::npos);
  EXPECT_EQ(events.body.find("0812345678"), std::string::npos);
  EXPECT_NE(events.body.find("s*****@example.com"), std::string::npos);
  EXPECT_NE(Get("/v1/profiles/" + std::to_string(somchai_) + "/events?limit=100").body.find("0812345678"),
            std::string::npos);
}

TEST_F(QueryApiTest, AMergedAwayIdRedirectsToTheWinnerKeepingPathAndQuery) {
  QueryResponse response = Get("/v1/profiles/" + std::to_string(loser_) + "?as_of=2026-11-25T03:30:00Z");
  EXPECT_EQ(response.status, 308);
  ASSERT_EQ(response.headers.size(), 1u);
  EXPECT_EQ(response.headers[0].first, "Location");
  EXPECT_EQ(response.headers[0].second, "/v1/profiles/" + std::to_string(somchai_) + "?as_of=2026-11-25T03:30:00Z");
  EXPECT_EQ(Str(Parse(parser_, response.body), "/merged_into"), std::to_string(somchai_));

  response = Get("/v1/profiles/" + std::to_string(loser_) + "/events?limit=2");
  EXPECT_EQ(response.status, 308);
  EXPECT_EQ(response.headers[0].second, "/v1/profiles/" + std::to_string(somchai_) + "/events?limit=2");
}

TEST_F(QueryApiTest, UnknownProfilesAnswer404AndMalformedKeys400) {
  EXPECT_EQ(Get("/v1/profiles/email:nobody@example.com").status, 404);
  EXPECT_EQ(ErrorCode(Get("/v1/profiles/email:nobody@example.com")), "not_found");
  EXPECT_EQ(Get("/v1/profiles/email:somchai.j@example.com?workspace=other-shop").status, 404);
  EXPECT_EQ(Get("/v1/profiles/999999").status, 404);
  EXPECT_EQ(Get("/v1/profiles/not-an-id").status, 400);
  EXPECT_EQ(ErrorCode(Get("/v1/profiles/not-an-id")), "bad_request");
  EXPECT_EQ(Get("/v1/profiles/email:").status, 400);
  EXPECT_EQ(Get("/v1/profiles/email:a%zz").status, 400);
  EXPECT_EQ(Get("/v1/profiles/" + std::to_string(somchai_) + "/friends").status, 404);
  EXPECT_EQ(Get("/v1/nothing").status, 404);
}

TEST_F(QueryApiTest, TokensAndScopes) {
  QueryResponse response = Get("/v1/profiles/email:somchai.j@example.com", "");
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(ErrorCode(response), "unauthorized");
  EXPECT_EQ(response.headers.at(0).first, "WWW-Authenticate");
  EXPECT_EQ(Get("/v1/profiles/email:somchai.j@example.com", "t-wrong").status, 401);
  EXPECT_EQ(api_->Handle(QueryRequest{"GET", "/v1/stats", "Basic dDp0"}).status, 401);
  // An unknown profile still answers 401 to a stranger: nothing is revealed before auth.
  EXPECT_EQ(Get("/v1/profiles/email:nobody@example.com", "").status, 401);

  response = Get("/v1/profiles/email:somchai.j@example.com", "t-export");
  EXPECT_EQ(response.status, 403);
  EXPECT_EQ(ErrorCode(response), "forbidden");
  EXPECT_EQ(Get("/v1/stats", "t-export").status, 403);
  EXPECT_EQ(Get("/v1/export", "t-read").status, 403);
  EXPECT_EQ(Get("/v1/export", "t-export").status, 501);
}

TEST_F(QueryApiTest, TheTimelineRunsNewestFirstAcrossTheMergeAndPagesByCursor) {
  const std::string base = "/v1/profiles/email:somchai.j@example.com/events";
  std::vector<std::string> seen;
  std::string cursor;
  std::set<std::string> stored_under;
  for (int page = 0; page < 10; ++page) {
    const QueryResponse response = Get(base + "?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(response.status, 200) << response.body;
    simdjson::dom::element body = Parse(parser_, response.body);
    for (simdjson::dom::element event : body["events"].get_array()) {
      seen.push_back(std::string(event["message_id"].get_string().value()));
      stored_under.insert(std::string(event["profile_id"].get_string().value()));
    }
    if (body["next_cursor"].is_null()) break;
    cursor = std::string(body["next_cursor"].get_string().value());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"t-4", "t-3", "t-2", "t-1", "t-0", "i-2", "i-1", "p-2", "p-1"}));
  EXPECT_EQ(stored_under.size(), 2u) << "events of the merged-away profile are part of the timeline";

  simdjson::dom::element filtered =
      Parse(parser_, Get(base + "?type=identify&since=2026-11-25T03:05:05Z&until=" + std::to_string(kT0 + 11 * kMinute)).body);
  std::vector<std::string> identifies;
  for (simdjson::dom::element event : filtered["events"].get_array()) {
    identifies.push_back(std::string(event["message_id"].get_string().value()));
  }
  EXPECT_EQ(identifies, (std::vector<std::string>{"i-2", "i-1"}));
}

TEST_F(QueryApiTest, BadTimelineParametersAnswer400) {
  const std::string base = "/v1/profiles/" + std::to_string(somchai_) + "/events";
  for (const std::string query : {"?limit=0", "?limit=1001", "?limit=ten", "?cursor=%21%21", "?since=yesterday",
                                  "?until=2026-13-45T00:00:00Z"}) {
    const QueryResponse response = Get(base + query);
    EXPECT_EQ(response.status, 400) << query << " " << response.body;
    EXPECT_EQ(ErrorCode(response), "bad_request") << query;
  }
  EXPECT_EQ(Get("/v1/profiles/" + std::to_string(somchai_) + "?as_of=noon").status, 400);
}

TEST_F(QueryApiTest, HistoryListsTheMergeWithItsEventAndEvidence) {
  const QueryResponse response = Get("/v1/profiles/anonymous_id:a-1/history");
  ASSERT_EQ(response.status, 200) << response.body;
  simdjson::dom::element body = Parse(parser_, response.body);
  EXPECT_EQ(Str(body, "/profile_id"), std::to_string(somchai_));
  EXPECT_EQ(Str(body, "/merges/0/loser"), std::to_string(loser_));
  EXPECT_EQ(Str(body, "/merges/0/winner"), std::to_string(somchai_));
  EXPECT_EQ(Str(body, "/merges/0/message_id"), "i-2");
  EXPECT_EQ(Str(body, "/merges/0/event_time"), "2026-11-25T03:14:05.000Z");
  EXPECT_NE(response.body.find("email:somchai.j@example.com"), std::string::npos);  // the evidence
  const QueryResponse masked = Get("/v1/profiles/anonymous_id:a-1/history", "t-read");
  EXPECT_EQ(masked.body.find("somchai.j"), std::string::npos);
  EXPECT_NE(masked.body.find("email:s*****@example.com"), std::string::npos);
}

TEST_F(QueryApiTest, AsOfShowsTheProfileAsItWasThen) {
  // Before the merge (+10 min) and the second identify: one anonymous id's events, the first city.
  const QueryResponse before = Get("/v1/profiles/email:somchai.j@example.com?as_of=" + std::to_string(kT0 + 5 * kMinute));
  ASSERT_EQ(before.status, 200) << before.body;
  simdjson::dom::element profile = Parse(parser_, before.body);
  EXPECT_EQ(Str(profile, "/traits/city"), "Chiang Mai");
  EXPECT_EQ(profile["merged_from"].get_array().size(), 0u);
  int64_t web = 0;
  ASSERT_EQ(profile.at_pointer("/event_counts/web").get(web), simdjson::SUCCESS);
  EXPECT_EQ(web, 2);

  const QueryResponse now = Get("/v1/profiles/email:somchai.j@example.com?as_of=2030-01-01T00:00:00Z");
  v1::Profile stored = pipeline_.Profile(somchai_);
  stored.clear_version();
  EXPECT_EQ(now.body, profiles::ProfileToJson(stored));

  EXPECT_EQ(Get("/v1/profiles/email:somchai.j@example.com?as_of=2020-01-01T00:00:00Z").status, 404);
}

TEST_F(QueryApiTest, StatsCountProfilesIdentifiersEventsAndMerges) {
  const QueryResponse response = Get("/v1/stats");
  ASSERT_EQ(response.status, 200) << response.body;
  simdjson::dom::element stats = Parse(parser_, response.body);
  int64_t value = 0;
  ASSERT_EQ(stats.at_pointer("/events").get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, 10);
  ASSERT_EQ(stats.at_pointer("/events_by_workspace/baankafe/web").get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, 10);
  ASSERT_EQ(stats.at_pointer("/counts/profiles").get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, 2);
  ASSERT_EQ(stats.at_pointer("/counts/merges").get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, 1);
  ASSERT_EQ(stats.at_pointer("/counts/identifiers").get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, 6);
  ASSERT_EQ(stats.at_pointer("/counts/identifiers_by_type/anonymous_id").get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, 3);
}

TEST_F(QueryApiTest, MethodsAndEndpointsStillToCome) {
  EXPECT_EQ(api_->Handle(QueryRequest{"POST", "/v1/profiles/search", "Bearer t-all"}).status, 501);
  EXPECT_EQ(api_->Handle(QueryRequest{"GET", "/v1/profiles/search", "Bearer t-all"}).status, 405);
  EXPECT_EQ(api_->Handle(QueryRequest{"DELETE", "/v1/profiles/1", "Bearer t-all"}).status, 405);
  EXPECT_EQ(Get("/v1/segments").status, 501);
  EXPECT_EQ(Get("/v1/segments/vip/members?cursor=x").status, 501);
  EXPECT_TRUE(IsQueryPath("/v1/profiles/1?x=1"));
  EXPECT_TRUE(IsQueryPath("/v1/stats"));
  EXPECT_FALSE(IsQueryPath("/v1/track"));
  EXPECT_FALSE(IsQueryPath("/v1/profilesx"));
}

// The same answers over HTTP, from a real RocksDB written the way the pipeline writes it.
TEST(QueryServerTest, ServesTheApiOverHttpFromRocksDb) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("tessera-query-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  testing::MiniPipeline pipeline;
  LoadCustomers(pipeline);
  {
    std::unique_ptr<RocksStore> store = RocksStore::Open(dir.string()).value();
    StagedWrites writes(store.get());
    for (const auto& [key, value] : pipeline.kv().data()) writes.Put(key, value);
    ASSERT_TRUE(writes.Commit().ok());
  }
  std::unique_ptr<RocksStore> store = RocksStore::Open(dir.string()).value();
  RocksRangeReader reader(store.get());
  SystemClockForTest clock;
  QueryApi api(&reader, Tokens(), &clock);
  std::unique_ptr<QueryServer> server = QueryServer::Start(QueryServerOptions{"127.0.0.1", 0, 2}, &api).value();
  const int port = server->port();
  ASSERT_GT(port, 0);
  const uint64_t somchai = pipeline.Root("email:somchai.j@example.com");

  testing::HttpAnswer answer = testing::HttpGet(port, "/v1/profiles/email:somchai.j@example.com", "t-all");
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.Header("Content-Type"), "application/json");
  EXPECT_EQ(answer.body, profiles::ProfileToJson(pipeline.Profile(somchai)) + "\n");

  answer = testing::HttpGet(port, "/v1/profiles/" + std::to_string(pipeline.Profile(somchai).merged_from(0)), "t-all");
  EXPECT_EQ(answer.status, 308);
  EXPECT_EQ(answer.Header("Location"), "/v1/profiles/" + std::to_string(somchai));

  // Paging through the RocksDB-backed timeline (cursor starts a scan mid-prefix).
  std::vector<std::string> seen;
  std::string cursor;
  simdjson::dom::parser parser;
  for (int page = 0; page < 10; ++page) {
    answer = testing::HttpGet(port, "/v1/profiles/" + std::to_string(somchai) + "/events?limit=4" +
                                        (cursor.empty() ? "" : "&cursor=" + cursor), "t-read");
    ASSERT_EQ(answer.status, 200) << answer.body;
    simdjson::dom::element body = Parse(parser, answer.body);
    for (simdjson::dom::element event : body["events"].get_array()) {
      seen.push_back(std::string(event["message_id"].get_string().value()));
    }
    if (body["next_cursor"].is_null()) break;
    cursor = std::string(body["next_cursor"].get_string().value());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"t-4", "t-3", "t-2", "t-1", "t-0", "i-2", "i-1", "p-2", "p-1"}));

  EXPECT_EQ(testing::HttpGet(port, "/v1/stats").status, 401);
  EXPECT_EQ(testing::HttpGet(port, "/v1/stats", "t-export").status, 403);
  EXPECT_EQ(testing::HttpGet(port, "/v1/profiles/email:nobody@example.com", "t-read").status, 404);
  EXPECT_EQ(testing::HttpGet(port, "/v1/profiles/x/y/z/w", "t-read").status, 404);
  EXPECT_EQ(testing::HttpRequest(port, "POST", "/v1/profiles/search", "t-read").status, 501);
  server->Stop();
  store.reset();
  std::filesystem::remove_all(dir);
}

// `tessera run --http`: the collector's server offers the paths it does not serve to the API.
TEST(QueryServerTest, MountsOnTheCollectorsAddress) {
  testing::MiniPipeline pipeline;
  LoadCustomers(pipeline);
  const profiles::MapRangeReader reader = pipeline.reader();
  SystemClockForTest clock;
  QueryApi api(&reader, Tokens(), &clock);
  collector::CollectorServerOptions options;
  options.port = 0;
  options.io_threads = 1;
  options.other_routes = QueryRoutes(&api);
  // No tracking call is made, so the collector needs no producer here.
  std::unique_ptr<collector::CollectorServer> server =
      collector::CollectorServer::Start(options, collector::CollectorConfig{}, nullptr).value();
  const uint64_t somchai = pipeline.Root("email:somchai.j@example.com");
  testing::HttpAnswer answer = testing::HttpGet(server->port(), "/v1/profiles/email:somchai.j@example.com", "t-all");
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body, profiles::ProfileToJson(pipeline.Profile(somchai)) + "\n");
  EXPECT_EQ(testing::HttpGet(server->port(), "/v1/stats").status, 401);
  // The collector's own paths stay the collector's.
  answer = testing::HttpGet(server->port(), "/v1/track", "t-all");
  EXPECT_EQ(answer.status, 405) << answer.body;
  EXPECT_EQ(testing::HttpGet(server->port(), "/health").status, 200);
  EXPECT_EQ(testing::HttpGet(server->port(), "/elsewhere").status, 404);
  server->Stop();
}

}  // namespace
}  // namespace tessera::query
