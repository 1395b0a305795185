// Pins profiles/query/query_api.cc and query_server.cc: every endpoint and every error, tokens and
// scopes, masking without read_pii, redirects of merged-away ids, the timeline across merges with
// its cursor, point-in-time reads, and the same answers over real HTTP on an ephemeral port, from
// a real RocksDB.
#include "profiles/query/query_api.h"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "ingest/collector/collector_server.h"
#include "profiles/computed_traits.h"
#include "profiles/profile_store.h"
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

TEST_F(QueryApiTest, HistoryListsTheLinksOfTheLinkLogAndNoSplits) {
  const QueryResponse response = Get("/v1/profiles/" + std::to_string(somchai_) + "/history");
  ASSERT_EQ(response.status, 200) << response.body;
  simdjson::dom::element body = Parse(parser_, response.body);
  // Every identifier of the profile was linked by some logged event; the first link starts it.
  std::set<std::string> linked;
  std::vector<std::string> linking_events;
  for (simdjson::dom::element link : body["links"].get_array()) {
    for (simdjson::dom::element id : link["linked"].get_array()) linked.insert(std::string(id.get_string().value()));
    linking_events.push_back(std::string(link["message_id"].get_string().value()));
    EXPECT_TRUE(link["logged"].get_bool().value());
  }
  const v1::Profile profile = pipeline_.Profile(somchai_);
  EXPECT_EQ(linked, std::set<std::string>(profile.identifiers().begin(), profile.identifiers().end()));
  ASSERT_FALSE(linking_events.empty());
  EXPECT_EQ(body["links"].at(0)["with"].get_array().size(), 0u) << "the first event links to nothing";
  // Each identifier is credited to the first event that asserted it: the two page views started
  // a profile each, the first identify brought the email and the phone; the second identify only
  // merged (its evidence is under "merges").
  EXPECT_EQ(linking_events, (std::vector<std::string>{"p-1", "p-2", "i-1"}));
  EXPECT_EQ(body["splits"].get_array().size(), 0u);
  EXPECT_EQ(body["refused"].get_array().size(), 0u);
  const QueryResponse masked = Get("/v1/profiles/" + std::to_string(somchai_) + "/history", "t-read");
  EXPECT_EQ(masked.body.find("somchai.j"), std::string::npos);
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

TEST_F(QueryApiTest, MethodsAndPaths) {
  EXPECT_EQ(api_->Handle(QueryRequest{"GET", "/v1/profiles/search", "Bearer t-all"}).status, 405);
  EXPECT_EQ(api_->Handle(QueryRequest{"DELETE", "/v1/profiles/1", "Bearer t-all"}).status, 405);
  EXPECT_EQ(api_->Handle(QueryRequest{"POST", "/v1/segments", "Bearer t-all"}).status, 405);
  EXPECT_EQ(Get("/v1/segments/vip").status, 404);
  EXPECT_EQ(Get("/v1/segments/vip/members/x").status, 404);
  EXPECT_TRUE(IsQueryPath("/v1/profiles/1?x=1"));
  EXPECT_TRUE(IsQueryPath("/v1/stats"));
  EXPECT_TRUE(IsQueryPath("/v1/segments/vip/members?cursor=x"));
  EXPECT_FALSE(IsQueryPath("/v1/track"));
  EXPECT_FALSE(IsQueryPath("/v1/profilesx"));
}

// Search and segments: a shop of 40 customers beside Somchai and Nok, a third of them in
// Chiang Mai, every fifth in the "vip" segment, every seventh in "lapsed" (no longer configured).
class SearchApiTest : public QueryApiTest {
 protected:
  SearchApiTest() {
    profiles::ProfileStore store(&pipeline_.kv());
    for (int i = 0; i < 40; ++i) {
      v1::Event identify = MakeEvent("c-" + std::to_string(i), kT0 + (30 + i) * kMinute, "identify",
                                     {"email:customer" + std::to_string(i) + "@example.com"});
      (*identify.mutable_traits())["city"] = i % 3 == 0 ? "\"Chiang Mai\"" : "\"Bangkok\"";
      (*identify.mutable_traits())["points"] = std::to_string(i * 10);
      (*identify.mutable_traits())["name"] = "\"Customer " + std::to_string(i) + "\"";
      const uint64_t id = pipeline_.Apply(identify);
      v1::Profile profile = pipeline_.Profile(id);
      if (i % 5 == 0) (*profile.mutable_segments())["vip"] = kT0 + i * kMinute;
      if (i % 7 == 0) (*profile.mutable_segments())["lapsed"] = kT0;
      store.Save(profile);
      ids_.push_back(id);
    }
    SearchContext context;
    context.segments.push_back(profiles::SegmentDefinition{
        "vip", "big spenders", profiles::ParseCondition("{computed: orders_count, gte: 3}").value()});
    context.segments.push_back(profiles::SegmentDefinition{
        "chiang_mai", "", profiles::ParseCondition("{trait: city, eq: Chiang Mai}").value()});
    context.computed_traits =
        std::make_shared<const profiles::ComputedTraitsConfig>(profiles::DefaultComputedTraitsConfig());
    api_->set_search_context(std::move(context));
  }

  QueryResponse Post(const std::string& body, const std::string& token = "t-all") const {
    return api_->Handle(QueryRequest{"POST", "/v1/profiles/search", "Bearer " + token, body});
  }

  // Every page of a search, its profile ids in order, and the count of the first page.
  std::vector<std::string> SearchAll(const std::string& filter, int limit, int64_t* count = nullptr) {
    std::vector<std::string> ids;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      const std::string body = "{\"filter\": " + filter + ", \"limit\": " + std::to_string(limit) +
                               (cursor.empty() ? "" : ", \"cursor\": \"" + cursor + "\"") +
                               (page == 0 && count != nullptr ? ", \"count\": true" : "") + "}";
      const QueryResponse response = Post(body);
      EXPECT_EQ(response.status, 200) << body << " " << response.body;
      if (response.status != 200) break;
      simdjson::dom::element answer = Parse(parser_, response.body);
      if (page == 0 && count != nullptr) {
        EXPECT_EQ(answer["count"].get(*count), simdjson::SUCCESS);
      }
      if (page > 0 || count == nullptr) {
        EXPECT_TRUE(answer["count"].is_null()) << "only a page that asks for the count carries it";
      }
      for (simdjson::dom::element profile : answer["profiles"].get_array()) {
        ids.push_back(std::string(profile["id"].get_string().value()));
      }
      if (answer["next_cursor"].is_null()) break;
      cursor = std::string(answer["next_cursor"].get_string().value());
    }
    return ids;
  }

  // The expected answer, straight from the stored profiles.
  std::vector<std::string> IdsWhere(const std::function<bool(const v1::Profile&)>& test) {
    std::vector<std::string> ids;
    for (const auto& [key, value] : pipeline_.kv().data()) {
      const std::optional<uint64_t> id = profiles::ProfileIdOfKey(key);
      if (!id.has_value()) continue;
      v1::Profile profile;
      EXPECT_TRUE(profiles::ParseStoredProfile(*id, value, profile));
      if (test(profile)) ids.push_back(std::to_string(profile.id()));
    }
    return ids;
  }

  static std::string City(const v1::Profile& profile) {
    auto it = profile.traits().find("city");
    return it == profile.traits().end() ? "" : it->second.json();
  }

  std::vector<uint64_t> ids_;
};

TEST_F(SearchApiTest, SearchPagesThroughEveryMatchInIdOrderWithTheCount) {
  const std::vector<std::string> expected =
      IdsWhere([](const v1::Profile& p) { return City(p) == "\"Chiang Mai\""; });
  ASSERT_EQ(expected.size(), 14u);  // 14 customers; Somchai's city is now Bangkok
  for (int limit : {1, 3, 5, 14, 50}) {
    int64_t count = -1;
    EXPECT_EQ(SearchAll(R"({"trait": "city", "eq": "Chiang Mai"})", limit, &count), expected) << "limit " << limit;
    EXPECT_EQ(count, 14) << "limit " << limit;
  }
  // The condition language's text form, numbers and combinators work as in segments.
  EXPECT_EQ(SearchAll(R"("{all: [{trait: city, eq: Bangkok}, {trait: points, gte: 300}]}")", 4),
            IdsWhere([](const v1::Profile& p) {
              auto points = p.traits().find("points");
              return City(p) == "\"Bangkok\"" && points != p.traits().end() && std::stoi(points->second.json()) >= 300;
            }));
  int64_t none = -1;
  EXPECT_TRUE(SearchAll(R"({"trait": "city", "eq": "Phuket"})", 10, &none).empty());
  EXPECT_EQ(none, 0);
  // Without "count": true there is no count (it is a scan of every profile), with false neither.
  for (const char* body : {R"({"filter": {"trait": "city", "exists": true}, "count": false})",
                           R"({"filter": {"trait": "city", "exists": true}})"}) {
    simdjson::dom::element answer = Parse(parser_, Post(body).body);
    EXPECT_TRUE(answer["count"].is_null()) << body;
    EXPECT_EQ(answer["profiles"].get_array().size(), 41u);  // everyone but Nok
  }
}

TEST_F(SearchApiTest, SearchMasksWithoutReadPiiAndRefusesFiltersOnPii) {
  QueryResponse response = Post(R"({"filter": {"trait": "city", "eq": "Chiang Mai"}, "limit": 100})", "t-read");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body.find("customer"), std::string::npos) << "identifiers masked";
  EXPECT_NE(response.body.find("c*****@example.com"), std::string::npos);
  EXPECT_EQ(response.body.find("Customer 3"), std::string::npos) << "names masked";
  EXPECT_NE(Post(R"({"filter": {"trait": "city", "eq": "Chiang Mai"}, "limit": 100})").body.find("customer3@example.com"),
            std::string::npos);

  // A filter on a PII trait would reveal a masked value by bisection: it needs read_pii.
  response = Post(R"({"filter": {"any": [{"trait": "city", "eq": "x"}, {"trait": "email", "gt": "s"}]}})", "t-read");
  EXPECT_EQ(response.status, 403);
  EXPECT_EQ(ErrorCode(response), "forbidden");
  EXPECT_NE(response.body.find("email"), std::string::npos);
  EXPECT_EQ(Post(R"({"filter": {"trait": "email", "gt": "s"}})").status, 200);

  EXPECT_EQ(Post(R"({"filter": {"trait": "city", "eq": "x"}})", "t-export").status, 403);
  EXPECT_EQ(Post(R"({"filter": {"trait": "city", "eq": "x"}})", "t-nobody").status, 401);
  EXPECT_EQ(api_->Handle(QueryRequest{"POST", "/v1/profiles/search", "", R"({"filter": {}})"}).status, 401);
}

TEST_F(SearchApiTest, ABadSearchAnswers400WithWhatIsWrong) {
  struct Case {
    std::string body;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"", "the body is a JSON object"},
           {"[1, 2]", "the body is a JSON object"},
           {R"({"limit": 5})", "filter is missing"},
           {R"({"filter": {"trait": "city", "eqq": "x"}})", "unknown key 'eqq'"},
           {R"({"filter": {"all": []}})", "non-empty list"},
           {R"({"filter": 42})", "filter: a condition"},
           {R"({"filter": "{trait: city"})", "filter:"},
           {R"({"filter": {"trait": "city", "exists": true}, "limit": 0})", "limit"},
           {R"({"filter": {"trait": "city", "exists": true}, "limit": 1001})", "limit"},
           {R"({"filter": {"trait": "city", "exists": true}, "cursor": "!!"})", "cursor"},
           {R"({"filter": {"trait": "city", "exists": true}, "cursor": 7})", "cursor: a string"},
           {R"({"filter": {"trait": "city", "exists": true}, "count": "yes"})", "count: true or false"},
           {R"({"filter": {"trait": "city", "exists": true}, "sort": "id"})", "unknown key 'sort'"},
       }) {
    const QueryResponse response = Post(c.body);
    EXPECT_EQ(response.status, 400) << c.body << " " << response.body;
    EXPECT_EQ(ErrorCode(response), "bad_request") << c.body;
    EXPECT_NE(Str(Parse(parser_, response.body), "/error/message").find(c.says), std::string::npos)
        << c.body << " -> " << response.body;
  }
}

TEST_F(SearchApiTest, AProfileShowsItsSegmentsAndComputedTraits) {
  QueryResponse response = Get("/v1/profiles/email:customer35@example.com", "t-read");
  ASSERT_EQ(response.status, 200) << response.body;
  simdjson::dom::element profile = Parse(parser_, response.body);
  EXPECT_EQ(Str(profile, "/segments/vip"), "2026-11-25T03:39:05.000Z");
  EXPECT_EQ(Str(profile, "/segments/lapsed"), "2026-11-25T03:04:05.000Z");
  simdjson::dom::object computed;
  EXPECT_EQ(profile["computed"].get(computed), simdjson::SUCCESS) << "with a computed-traits config";
  EXPECT_EQ(Str(profile, "/traits/name"), "C*****");
  // Nobody else's memberships, and none for a profile in no segment.
  response = Get("/v1/profiles/email:customer1@example.com");
  EXPECT_EQ(response.body.find("\"segments\""), std::string::npos) << response.body;
  EXPECT_NE(response.body.find("\"computed\":{"), std::string::npos);
}

TEST_F(SearchApiTest, SegmentsListDefinitionsAndMemberCounts) {
  const QueryResponse response = Get("/v1/segments", "t-read");
  ASSERT_EQ(response.status, 200) << response.body;
  simdjson::dom::element body = Parse(parser_, response.body);
  EXPECT_EQ(Str(body, "/segments/0/name"), "vip");
  EXPECT_EQ(Str(body, "/segments/0/description"), "big spenders");
  int64_t members = 0;
  ASSERT_EQ(body.at_pointer("/segments/0/members").get(members), simdjson::SUCCESS);
  EXPECT_EQ(members, 8);
  EXPECT_EQ(Str(body, "/segments/0/condition/computed"), "orders_count");
  ASSERT_EQ(body.at_pointer("/segments/0/condition/gte").get(members), simdjson::SUCCESS);
  EXPECT_EQ(members, 3);
  EXPECT_EQ(Str(body, "/segments/1/name"), "chiang_mai");
  ASSERT_EQ(body.at_pointer("/segments/1/members").get(members), simdjson::SUCCESS);
  EXPECT_EQ(members, 0) << "nobody was evaluated into it";
  // Memberships of a segment no longer configured are listed until profiles are re-evaluated.
  EXPECT_EQ(Str(body, "/segments/2/name"), "lapsed");
  bool configured = true;
  ASSERT_EQ(body.at_pointer("/segments/2/configured").get(configured), simdjson::SUCCESS);
  EXPECT_FALSE(configured);
  ASSERT_EQ(body.at_pointer("/segments/2/members").get(members), simdjson::SUCCESS);
  EXPECT_EQ(members, 6);
  EXPECT_EQ(body["segments"].get_array().size(), 3u);
  EXPECT_EQ(Get("/v1/segments", "t-export").status, 403);
  EXPECT_EQ(Get("/v1/segments", "").status, 401);
}

TEST_F(SearchApiTest, SegmentMembersPageByCursorWithWhenTheyEntered) {
  const std::vector<std::string> expected =
      IdsWhere([](const v1::Profile& p) { return p.segments().contains("vip"); });
  ASSERT_EQ(expected.size(), 8u);
  for (int limit : {1, 3, 8, 1000}) {
    std::vector<std::string> seen;
    std::string cursor;
    for (int page = 0; page < 20; ++page) {
      const QueryResponse response = Get("/v1/segments/vip/members?limit=" + std::to_string(limit) +
                                         (cursor.empty() ? "" : "&cursor=" + cursor), "t-read");
      ASSERT_EQ(response.status, 200) << response.body;
      simdjson::dom::element body = Parse(parser_, response.body);
      for (simdjson::dom::element member : body["members"].get_array()) {
        const std::string id = std::string(member["profile_id"].get_string().value());
        seen.push_back(id);
        const v1::Profile profile = pipeline_.Profile(std::stoull(id));
        EXPECT_EQ(std::string(member["entered_at"].get_string().value()),
                  absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(profile.segments().at("vip")),
                                   absl::UTCTimeZone()));
        EXPECT_EQ(Str(member, "/identifiers/0").find("c*****@example.com"), 6u) << "masked without read_pii";
      }
      if (body["next_cursor"].is_null()) break;
      cursor = std::string(body["next_cursor"].get_string().value());
    }
    EXPECT_EQ(seen, expected) << "limit " << limit;
  }
  EXPECT_NE(Get("/v1/segments/vip/members").body.find("customer0@example.com"), std::string::npos);
  EXPECT_EQ(Parse(parser_, Get("/v1/segments/vip/members?workspace=elsewhere").body)["members"].get_array().size(), 0u);
  // A configured segment nobody is in is empty, an unknown one is not found.
  EXPECT_EQ(Parse(parser_, Get("/v1/segments/chiang_mai/members").body)["members"].get_array().size(), 0u);
  EXPECT_EQ(Get("/v1/segments/nosuch/members").status, 404);
  EXPECT_EQ(ErrorCode(Get("/v1/segments/nosuch/members")), "not_found");
  EXPECT_EQ(Get("/v1/segments/vip/members?limit=0").status, 400);
  EXPECT_EQ(Get("/v1/segments/vip/members?cursor=zz").status, 400);
  EXPECT_EQ(Get("/v1/segments/vip/members", "t-export").status, 403);
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
  // Search over HTTP: the body travels, the answer is masked for a read_profiles token.
  answer = testing::HttpRequest(port, "POST", "/v1/profiles/search", "t-read",
                                R"({"filter": {"trait": "city", "eq": "Bangkok"}, "limit": 1, "count": true})");
  ASSERT_EQ(answer.status, 200) << answer.body;
  simdjson::dom::element found = Parse(parser, answer.body);
  int64_t count = 0;
  ASSERT_EQ(found["count"].get(count), simdjson::SUCCESS);
  EXPECT_EQ(count, 1);
  EXPECT_EQ(Str(found, "/profiles/0/id"), std::to_string(somchai));
  EXPECT_EQ(answer.body.find("somchai.j"), std::string::npos);
  EXPECT_EQ(testing::HttpRequest(port, "POST", "/v1/profiles/search", "t-read", R"({"filter": {"trait": "city"}})").status,
            400);
  EXPECT_EQ(testing::HttpGet(port, "/v1/segments", "t-read").status, 200);
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
