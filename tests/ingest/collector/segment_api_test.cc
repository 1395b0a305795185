// Pins the Segment tracking API rules of ingest/collector/segment_api.h without sockets or Kafka:
// endpoints, auth, limits and malformed input (status and reason), enrichment and the timestamp
// correction. collector_server_test covers the same through HTTP and Kafka.
#include "ingest/collector/segment_api.h"

#include <gtest/gtest.h>

#include "tests/ingest/collector/gzip_for_tests.h"
#include <zlib.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "simdjson.h"

namespace tessera::collector {
namespace {

constexpr int64_t kNow = 1'709'262'930'250;  // 2024-03-01T03:15:30.250Z
constexpr char kKey[] = "wk_test";

using testing::Gzip;

std::string Basic(std::string_view key) { return absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(AbslView(key), ":"))); }

CollectorConfig TestConfig() {
  CollectorConfig config;
  config.sources_by_write_key[kKey] = SourceConfig{"shop", "web", v1::CHANNEL_WEB};
  config.sources_by_write_key["wk_social"] = SourceConfig{"shop", "social", v1::CHANNEL_SOCIAL};
  config.sources_by_write_key["wk_purchase"] = SourceConfig{"shop", "purchase", v1::CHANNEL_PURCHASE};
  config.trusted_proxies = {"10.0.0.5"};
  config.rate_limit_per_second = 0;
  return config;
}

struct Sent {
  std::string path = "/v1/track";
  std::string body = "";
  std::string authorization = Basic(kKey);
  std::string encoding = "";
  std::string peer = "203.0.113.9";
  std::string forwarded_for = "";
  // As the server sends it: kBodyPadding bytes of this after the body, and body_padded set.
  std::optional<char> padding = std::nullopt;
};

PreparedRequest Send(SegmentApi& api, const Sent& sent, int64_t now = kNow) {
  std::optional<Endpoint> endpoint = EndpointFromPath(sent.path);
  EXPECT_TRUE(endpoint.has_value()) << sent.path;
  const std::string storage = sent.body + std::string(sent.padding ? kBodyPadding : 0, sent.padding.value_or(' '));
  return api.Prepare(endpoint.value_or(Endpoint::kTrack),
                     HttpRequestView{sent.path, sent.authorization, sent.encoding,
                                     std::string_view(storage.data(), sent.body.size()), sent.peer, sent.forwarded_for,
                                     sent.padding.has_value()},
                     now);
}

std::string Reason(const HttpReply& reply) {
  simdjson::dom::parser parser;
  std::string_view reason;
  if (parser.parse(reply.body).get_object()["reason"].get(reason) != simdjson::SUCCESS) return "<none: " + reply.body + ">";
  return std::string(reason);
}

// A field of the one produced record, as compact JSON text ("" if absent).
std::string Field(const OutgoingRecord& record, std::string_view pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element value;
  if (parser.parse(record.value).at_pointer(pointer).get(value) != simdjson::SUCCESS) return "";
  return simdjson::minify(value);
}

TEST(EndpointFromPathTest, LongShortAndBatchPaths) {
  EXPECT_EQ(EndpointFromPath("/v1/track"), Endpoint::kTrack);
  EXPECT_EQ(EndpointFromPath("/v1/t"), Endpoint::kTrack);
  EXPECT_EQ(EndpointFromPath("/v1/i"), Endpoint::kIdentify);
  EXPECT_EQ(EndpointFromPath("/v1/p"), Endpoint::kPage);
  EXPECT_EQ(EndpointFromPath("/v1/s"), Endpoint::kScreen);
  EXPECT_EQ(EndpointFromPath("/v1/g"), Endpoint::kGroup);
  EXPECT_EQ(EndpointFromPath("/v1/a"), Endpoint::kAlias);
  EXPECT_EQ(EndpointFromPath("/v1/b"), Endpoint::kBatch);
  EXPECT_EQ(EndpointFromPath("/v1/batch/"), Endpoint::kBatch);
  EXPECT_EQ(EndpointFromPath("/v1/import?x=1"), Endpoint::kImport);
  EXPECT_EQ(EndpointFromPath("/v1/purchase"), std::nullopt);
  EXPECT_EQ(EndpointFromPath("/v2/track"), std::nullopt);
  EXPECT_EQ(EndpointFromPath("/track"), std::nullopt);
}

TEST(SegmentApiTest, TrackIsEnrichedAndKeyedByUser) {
  SegmentApi api(TestConfig());
  PreparedRequest out = Send(api, {.body = R"({ "userId" : "u-1", "event":"Order Completed", "properties": { "revenue" : 201.00 },)"
                                           R"( "x\u0041":"a b\"}", "messageId":"m-1"})"});
  EXPECT_EQ(out.reply.status, 200);
  EXPECT_EQ(out.reply.body, R"({"success":true})");
  ASSERT_EQ(out.records.size(), 1u);
  const OutgoingRecord& r = out.records[0];
  EXPECT_EQ(r.key, "u-1");
  EXPECT_EQ(r.channel, v1::CHANNEL_WEB);
  EXPECT_EQ(Field(r, "/type"), R"("track")");
  EXPECT_EQ(Field(r, "/messageId"), R"("m-1")");
  EXPECT_NE(r.value.find(R"("x\u0041":"a b\"}")"), std::string::npos) << r.value;
  // Values pass through as spelled (ingest reads amounts from their text), only white space removed.
  EXPECT_NE(r.value.find(R"("properties":{"revenue":201.00})"), std::string::npos) << r.value;
  EXPECT_EQ(Field(r, "/receivedAt"), R"("2024-03-01T03:15:30.250Z")");
  EXPECT_EQ(Field(r, "/timestamp"), R"("2024-03-01T03:15:30.250Z")");  // none sent: receivedAt
  EXPECT_EQ(Field(r, "/context/ip"), R"("203.0.113.9")");
  ASSERT_EQ(out.headers.size(), 2u);
  EXPECT_EQ(out.headers[0].value, "shop");
}

TEST(SegmentApiTest, StringsWithEscapesAndJsonPunctuationPassThroughExactly) {
  SegmentApi api(TestConfig());
  // Escaped backslashes right before a closing quote, an escaped quote after them, and white space
  // and brackets inside strings: only the white space between tokens may go.
  PreparedRequest out = Send(api, {.body = R"({"userId":"u","event":"E","properties":{ "a" : "x\\" ,)"
                                           R"( "b" : " \" , } ] { " , "c":"\\\"" , "d" : [ "\\" , 1 ] }})"});
  ASSERT_EQ(out.records.size(), 1u) << out.reply.body;
  EXPECT_NE(out.records[0].value.find(R"("properties":{"a":"x\\","b":" \" , } ] { ","c":"\\\"","d":["\\",1]})"),
            std::string::npos)
      << out.records[0].value;
}

// A pretty-printed batch (white space between every token, and inside strings where it must stay;
// compacted once, then scanned byte by byte) gives exactly the records of the same batch sent compact
// (read from simdjson's structural positions, body_scan.h), batch-level context and integrations
// included; no messageId, so the one derived from each message's text must match too.
TEST(SegmentApiTest, APrettyPrintedBatchGivesTheRecordsOfTheSameBatchSentCompact) {
  SegmentApi api(TestConfig());
  const std::string compact =
      R"({"batch":[{"type":"track","userId":"u-1","event":"Order Completed","properties":{"revenue":201.00,)"
      R"("note":"two  spaces, a tab\t and \" quote"},"context":{"locale":"th-TH"}},{"type":"identify",)"
      R"("anonymousId":"a-2","traits":{"name":"สมชาย ใจดี","tags":[ "x" ]}}],"context":{"library":)"
      R"({"name":"analytics-node"},"ip":"198.51.100.7"},"integrations":{"All":true}})";
  const std::string pretty =
      "{\n  \"batch\" : [\n    { \"type\" : \"track\" , \"userId\" : \"u-1\" , \"event\" : \"Order Completed\" ,\n"
      "      \"properties\" : { \"revenue\" : 201.00 , \"note\" : \"two  spaces, a tab\\t and \\\" quote\" } ,\n"
      "      \"context\" : { \"locale\" : \"th-TH\" } } ,\r\n"
      "    {\t\"type\":\"identify\", \"anonymousId\": \"a-2\", \"traits\": {\"name\": \"สมชาย ใจดี\", \"tags\": [ \"x\" ] } }\n"
      "  ],\n  \"context\" : { \"library\" : { \"name\" : \"analytics-node\" } , \"ip\" : \"198.51.100.7\" } ,\n"
      "  \"integrations\" : { \"All\" : true }\n}\n";
  const PreparedRequest from_compact = Send(api, {.path = "/v1/batch", .body = compact});
  const PreparedRequest from_pretty = Send(api, {.path = "/v1/batch", .body = pretty});
  ASSERT_EQ(from_compact.reply.status, 200) << from_compact.reply.body;
  ASSERT_EQ(from_pretty.reply.status, 200) << from_pretty.reply.body;
  ASSERT_EQ(from_compact.records.size(), 2u);
  ASSERT_EQ(from_pretty.records.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(from_pretty.records[i].value, from_compact.records[i].value) << i;
    EXPECT_EQ(from_pretty.records[i].key, from_compact.records[i].key) << i;
  }
  const std::string_view track = from_compact.records[0].value;
  EXPECT_NE(track.find(R"("note":"two  spaces, a tab\t and \" quote")"), std::string::npos) << track;
  EXPECT_NE(track.find(R"("revenue":201.00)"), std::string::npos) << track;
  EXPECT_EQ(Field(from_compact.records[0], "/context/locale"), R"("th-TH")");
  EXPECT_EQ(Field(from_compact.records[0], "/context/library/name"), R"("analytics-node")");
  EXPECT_EQ(Field(from_compact.records[1], "/context/ip"), R"("198.51.100.7")");
  EXPECT_EQ(Field(from_compact.records[1], "/integrations/All"), "true");
}

TEST(SegmentApiTest, TimestampIsCorrectedForTheClientClock) {
  SegmentApi api(TestConfig());
  // The client clock is 1 h fast: the call happened 5 s before it was sent.
  PreparedRequest out = Send(api, {.body = R"({"anonymousId":"a","event":"E","timestamp":"2024-03-01T04:15:25.250Z",)"
                                           R"("sentAt":"2024-03-01T04:15:30.250Z"})"});
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(Field(out.records[0], "/timestamp"), R"("2024-03-01T03:15:25.250Z")");
  EXPECT_EQ(Field(out.records[0], "/originalTimestamp"), R"("2024-03-01T04:15:25.250Z")");
  EXPECT_EQ(Field(out.records[0], "/sentAt"), R"("2024-03-01T04:15:30.250Z")");
  // Without sentAt the timestamp is taken as sent (an import of history).
  out = Send(api, {.body = R"({"anonymousId":"a","event":"E","timestamp":"2020-01-01T00:00:00+07:00"})"});
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(Field(out.records[0], "/timestamp"), R"("2019-12-31T17:00:00.000Z")");
  // A batch-level sentAt applies to every message.
  out = Send(api, {.path = "/v1/batch",
                   .body = R"({"sentAt":"2024-03-01T03:15:40.250Z","batch":[{"type":"track","userId":"u","event":"E",)"
                           R"("timestamp":"2024-03-01T03:15:39.250Z"}]})"});
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(Field(out.records[0], "/timestamp"), R"("2024-03-01T03:15:29.250Z")");
  // The batch's sentAt is read once for all its messages; a message's own sentAt still wins over it,
  // and one that does not read refuses each message that has none of its own, naming it.
  out = Send(api, {.path = "/v1/batch",
                   .body = R"({"sentAt":"2024-03-01T03:15:40.250Z","batch":[)"
                           R"({"type":"track","userId":"u","event":"E","timestamp":"2024-03-01T03:15:39.250Z"},)"
                           R"({"type":"track","userId":"u","event":"E","timestamp":"2024-03-01T03:15:39.250Z",)"
                           R"("sentAt":"2024-03-01T03:15:49.250Z"}]})"});
  ASSERT_EQ(out.records.size(), 2u) << out.reply.body;
  EXPECT_EQ(Field(out.records[0], "/timestamp"), R"("2024-03-01T03:15:29.250Z")");
  EXPECT_EQ(Field(out.records[1], "/timestamp"), R"("2024-03-01T03:15:20.250Z")");
  EXPECT_EQ(Field(out.records[1], "/sentAt"), R"("2024-03-01T03:15:49.250Z")");
  out = Send(api, {.path = "/v1/batch",
                   .body = R"({"sentAt":"yesterday","batch":[{"type":"track","userId":"u","event":"E"},)"
                           R"({"type":"track","userId":"u","event":"E","sentAt":"2024-03-01T03:15:49.250Z"}]})"});
  EXPECT_EQ(out.reply.status, 400);
  ASSERT_EQ(out.records.size(), 1u) << out.reply.body;
  EXPECT_EQ(Field(out.records[0], "/sentAt"), R"("2024-03-01T03:15:49.250Z")");
  EXPECT_NE(out.reply.body.find(R"("index":0,"reason":"invalid_timestamp","detail":"sentAt 'yesterday' is not RFC 3339")"),
            std::string::npos)
      << out.reply.body;
}

// The client's messageId, timestamps and sentAt go into the record as it wrote them (escapes and
// all: the same strings to any JSON reader), and a name the client wrote with escapes is still the
// name it spells: the record has it once, with the client's value.
TEST(SegmentApiTest, ClientStringsKeepTheirSpellingAndEscapedNamesAreTheNamesTheySpell) {
  SegmentApi api(TestConfig());
  PreparedRequest out = Send(api, {.body = R"({"userId":"u","event":"E","messageId":"m\u00e9-1\/x",)"
                                           R"("timestamp":"2024-03-01T04:15:25.250\u005a","originalTimestamp":"ignored",)"
                                           R"("sentAt":"2024-03-01T04:15:30.250\u005A"})"});
  ASSERT_EQ(out.records.size(), 1u) << out.reply.body;
  const std::string_view value = out.records[0].value;
  EXPECT_NE(value.find(R"("messageId":"m\u00e9-1\/x")"), std::string::npos) << value;
  EXPECT_EQ(Field(out.records[0], "/messageId"), "\"m\xC3\xA9-1/x\"");
  // timestamp wins over originalTimestamp, as Segment reads them.
  EXPECT_NE(value.find(R"("originalTimestamp":"2024-03-01T04:15:25.250\u005a")"), std::string::npos) << value;
  EXPECT_NE(value.find(R"("sentAt":"2024-03-01T04:15:30.250\u005A")"), std::string::npos) << value;
  EXPECT_EQ(Field(out.records[0], "/timestamp"), R"("2024-03-01T03:15:25.250Z")");
  EXPECT_EQ(value.find("ignored"), std::string::npos) << value;

  // Only originalTimestamp; the batch's sentAt as it was written.
  out = Send(api, {.path = "/v1/batch",
                   .body = R"({"sentAt":"2024-03-01T03:15:40.250\u005a","batch":[{"type":"track","userId":"u","event":"E",)"
                           R"("originalTimestamp":"2024-03-01T03:15:39\u002e250Z"}]})"});
  ASSERT_EQ(out.records.size(), 1u) << out.reply.body;
  EXPECT_NE(out.records[0].value.find(R"("originalTimestamp":"2024-03-01T03:15:39\u002e250Z")"), std::string::npos)
      << out.records[0].value;
  EXPECT_NE(out.records[0].value.find(R"("sentAt":"2024-03-01T03:15:40.250\u005a")"), std::string::npos)
      << out.records[0].value;
  EXPECT_EQ(Field(out.records[0], "/timestamp"), R"("2024-03-01T03:15:29.250Z")");

  // Names spelled with escapes: each is the member it spells, written once under its plain name.
  out = Send(api, {.body = R"({"userId":"u","event":"E","message\u0049d":"m-2","\u0074imestamp":"2020-01-01T00:00:00Z",)"
                           R"("receivedA\u0074":"2000-01-01T00:00:00Z","integration\u0073":{"All":false},"x\u0041":1})"});
  ASSERT_EQ(out.records.size(), 1u) << out.reply.body;
  const std::string_view escaped = out.records[0].value;
  EXPECT_EQ(Field(out.records[0], "/messageId"), R"("m-2")");
  EXPECT_EQ(Field(out.records[0], "/originalTimestamp"), R"("2020-01-01T00:00:00Z")");
  EXPECT_EQ(Field(out.records[0], "/timestamp"), R"("2020-01-01T00:00:00.000Z")");
  EXPECT_EQ(Field(out.records[0], "/receivedAt"), R"("2024-03-01T03:15:30.250Z")");
  EXPECT_EQ(Field(out.records[0], "/integrations"), R"({"All":false})");
  for (std::string_view spelled : {"message\\u0049d", "\\u0074imestamp", "receivedA\\u0074", "integration\\u0073"}) {
    EXPECT_EQ(escaped.find(spelled), std::string::npos) << spelled << " in " << escaped;
  }
  EXPECT_NE(escaped.find(R"("x\u0041":1)"), std::string::npos) << escaped;  // any other name stays as spelled

  // In context too: the client's ip under an escaped name is its ip (no second one added), and a
  // batch's context member the message has under another spelling is not added beside it.
  out = Send(api, {.path = "/v1/batch",
                   .body = R"({"context":{"loc\u0061le":"en-US","app":"a"},"batch":[{"type":"track","userId":"u","event":"E",)"
                           R"("context":{"\u0069p":"198.51.100.7","locale":"th-TH"}}]})"});
  ASSERT_EQ(out.records.size(), 1u) << out.reply.body;
  EXPECT_EQ(Field(out.records[0], "/context"), R"({"ip":"198.51.100.7","locale":"th-TH","app":"a"})") << out.records[0].value;

  // context itself, and the batch's context, integrations and sentAt, under escaped names: kept
  // and applied, not dropped.
  out = Send(api, {.path = "/v1/batch",
                   .body = R"({"cont\u0065xt":{"app":"a"},"integr\u0061tions":{"All":false},"sent\u0041t":"2024-03-01T03:15:40.250Z",)"
                           R"("batch":[{"type":"track","userId":"u","event":"E","timestamp":"2024-03-01T03:15:39.250Z",)"
                           R"("cont\u0065xt":{"locale":"th-TH"}}]})"});
  ASSERT_EQ(out.records.size(), 1u) << out.reply.body;
  EXPECT_EQ(Field(out.records[0], "/context"), R"({"locale":"th-TH","app":"a","ip":"203.0.113.9"})") << out.records[0].value;
  EXPECT_EQ(Field(out.records[0], "/integrations"), R"({"All":false})") << out.records[0].value;
  EXPECT_EQ(Field(out.records[0], "/sentAt"), R"("2024-03-01T03:15:40.250Z")") << out.records[0].value;
  EXPECT_EQ(Field(out.records[0], "/timestamp"), R"("2024-03-01T03:15:29.250Z")");
  out = Send(api, {.body = R"({"userId":"u","event":"E","cont\u0065xt":{"locale":"th-TH"}})"});
  ASSERT_EQ(out.records.size(), 1u) << out.reply.body;
  EXPECT_EQ(Field(out.records[0], "/context"), R"({"locale":"th-TH","ip":"203.0.113.9"})") << out.records[0].value;
}

// A request's records live in a few blocks of RecordBytes: what Keep returned stays as it was kept
// however many blocks follow, and after a move.
TEST(RecordBytesTest, KeptBytesStayWhateverFollowsAndAfterAMove) {
  RecordBytes bytes;
  std::vector<std::string> originals;
  std::vector<std::string_view> kept;
  for (int i = 0; i < 3000; ++i) {
    // Mostly record-sized, some larger than a block.
    const size_t size = i % 7 == 0 ? 5000 : i % 97 == 0 ? 3 * RecordBytes::kBlockBytes : static_cast<size_t>(i % 97);
    originals.push_back(std::string(size, static_cast<char>('a' + i % 26)) + std::to_string(i));
    kept.push_back(bytes.Keep(originals.back()));
  }
  kept.push_back(bytes.Keep(""));
  RecordBytes moved = std::move(bytes);
  // What is kept after the move, in either, lands in blocks of its own.
  const std::string_view after_move = moved.Keep("after the move");
  const std::string_view in_the_moved_from = bytes.Keep(std::string(100, 'z'));  // NOLINT(bugprone-use-after-move)
  for (size_t i = 0; i < originals.size(); ++i) ASSERT_EQ(kept[i], originals[i]) << i;
  EXPECT_TRUE(kept.back().empty());
  EXPECT_EQ(after_move, "after the move");
  EXPECT_EQ(in_the_moved_from, std::string(100, 'z'));

  // A first block sized for one record: what does not fit goes on in blocks of the usual size.
  RecordBytes single;
  single.SizeFirstBlock(16);
  const std::string_view key = single.Keep("0123456789");
  const std::string_view value = single.Keep("a record longer than what is left of the first block");
  const std::string_view more = single.Keep("and more");
  EXPECT_EQ(key, "0123456789");
  EXPECT_EQ(value, "a record longer than what is left of the first block");
  EXPECT_EQ(more, "and more");
}

// A batch of many records fills many blocks: every record is still its own.
TEST(SegmentApiTest, ABatchOfTinyMessagesKeepsEveryRecordIntact) {
  SegmentApi api(TestConfig());
  std::string body = R"({"batch":[)";
  for (int i = 0; i < 2000; ++i) absl::StrAppend(&body, i ? "," : "", R"({"type":"track","userId":"u)", i, R"(","event":"E"})");
  body += "]}";
  PreparedRequest out = Send(api, {.path = "/v1/batch", .body = body});
  ASSERT_EQ(out.reply.status, 200) << out.reply.body;
  ASSERT_EQ(out.records.size(), 2000u);
  const PreparedRequest moved = std::move(out);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(moved.records[i].key, absl::StrCat("u", i));
    ASSERT_EQ(Field(moved.records[i], "/userId"), absl::StrCat("\"u", i, "\"")) << moved.records[i].value;
    ASSERT_EQ(Field(moved.records[i], "/context/ip"), R"("203.0.113.9")");
  }
}

TEST(SegmentApiTest, MessageIdIsAssignedDeterministicallyWhenAbsent) {
  SegmentApi api(TestConfig());
  const std::string body = R"({"userId":"u-1","event":"E"})";
  const std::string id1 = Field(Send(api, {.body = body}).records.at(0), "/messageId");
  const std::string id2 = Field(Send(api, {.body = body}, kNow + 5000).records.at(0), "/messageId");
  const std::string other = Field(Send(api, {.body = R"({"userId":"u-2","event":"E"})"}).records.at(0), "/messageId");
  EXPECT_EQ(id1.rfind("\"col-", 0), 0u) << id1;
  EXPECT_EQ(id1, id2);  // a retried request keeps its ids, so dedup drops the copy
  EXPECT_NE(id1, other);
}

TEST(SegmentApiTest, PathTypeWinsAndBatchItemsNeedTheirOwn) {
  SegmentApi api(TestConfig());
  PreparedRequest out = Send(api, {.path = "/v1/i", .body = R"({"type":"track","userId":"u","traits":{"email":"a@b.co"}})"});
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(Field(out.records[0], "/type"), R"("identify")");
  out = Send(api, {.path = "/v1/batch", .body = R"({"batch":[{"type":"Identify","userId":"u"}]})"});
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(Field(out.records[0], "/type"), R"("identify")");
}

TEST(SegmentApiTest, WriteKeyFromBasicAuthOrBody) {
  SegmentApi api(TestConfig());
  EXPECT_EQ(Send(api, {.body = R"({"userId":"u","event":"E"})"}).reply.status, 200);
  Sent in_body{.body = R"({"userId":"u","event":"E","writeKey":"wk_test"})", .authorization = ""};
  PreparedRequest out = Send(api, in_body);
  EXPECT_EQ(out.reply.status, 200);
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(Field(out.records[0], "/writeKey"), "");  // never copied to Kafka
  // Without the colon (Segment's backward compatibility).
  EXPECT_EQ(Send(api, {.body = R"({"userId":"u","event":"E"})", .authorization = "Basic " + absl::Base64Escape("wk_test")}).reply.status, 200);
  EXPECT_EQ(WriteKeyFromBasicAuth("basic " + absl::Base64Escape("k:")), "k");
  EXPECT_EQ(WriteKeyFromBasicAuth("Bearer xyz"), std::nullopt);
}

struct Rejected {
  const char* name;
  Sent sent;
  int status;
  const char* reason;
};

TEST(SegmentApiTest, EachLimitAndMalformedInputHasItsStatusAndReason) {
  const std::string big(33 * 1024, 'x');
  std::string many = R"({"batch":[)";
  for (int i = 0; i < 2501; ++i) absl::StrAppend(&many, i ? "," : "", R"({"type":"track","userId":"u","event":"E"})");
  many += "]}";
  std::string huge_batch = R"({"batch":[)";
  for (int i = 0; i < 20; ++i) absl::StrAppend(&huge_batch, i ? "," : "", R"({"type":"track","userId":"u","event":")", std::string(30 * 1024, 'y'), "\"}");
  huge_batch += "]}";
  const std::vector<Rejected> cases = {
      {"bad json", {.body = R"({"userId":"u",)"}, 400, "invalid_json"},
      {"not an object", {.body = "[1,2]"}, 400, "invalid_json"},
      {"bad gzip", {.body = "not gzip at all", .encoding = "gzip"}, 400, "bad_gzip"},
      {"truncated gzip", {.body = Gzip(R"({"userId":"u","event":"E"})").substr(0, 12), .encoding = "gzip"}, 400, "bad_gzip"},
      {"unknown encoding", {.body = "{}", .encoding = "br"}, 415, "unsupported_encoding"},
      {"no ids", {.body = R"({"event":"E"})"}, 400, "no_identifier"},
      {"empty ids", {.body = R"({"userId":"","anonymousId":null,"event":"E"})"}, 400, "no_identifier"},
      {"id of wrong type", {.body = R"({"userId":true,"event":"E"})"}, 400, "invalid_field"},
      {"track without event", {.path = "/v1/track", .body = R"({"userId":"u"})"}, 400, "missing_field"},
      {"group without groupId", {.path = "/v1/group", .body = R"({"userId":"u"})"}, 400, "missing_field"},
      {"alias without previousId", {.path = "/v1/alias", .body = R"({"userId":"u"})"}, 400, "missing_field"},
      {"traits not an object", {.path = "/v1/identify", .body = R"({"userId":"u","traits":[1]})"}, 400, "invalid_field"},
      {"bad timestamp", {.body = R"({"userId":"u","event":"E","timestamp":"yesterday"})"}, 400, "invalid_timestamp"},
      {"numeric timestamp", {.body = R"({"userId":"u","event":"E","timestamp":1709262930})"}, 400, "invalid_timestamp"},
      {"messageId over 100", {.body = absl::StrCat(R"({"userId":"u","event":"E","messageId":")", std::string(101, 'm'), "\"}")}, 400, "invalid_field"},
      {"oversized message", {.body = absl::StrCat(R"({"userId":"u","event":"E","properties":{"x":")", big, "\"}}")}, 413, "message_too_large"},
      {"oversized message, gzipped", {.body = Gzip(absl::StrCat(R"({"userId":"u","event":"E","p":")", big, "\"}")), .encoding = "gzip"}, 413, "message_too_large"},
      {"oversized batch", {.path = "/v1/batch", .body = huge_batch}, 413, "batch_too_large"},
      {"too many messages", {.path = "/v1/batch", .body = many}, 413, "too_many_messages"},
      {"empty batch", {.path = "/v1/batch", .body = R"({"batch":[]})"}, 400, "empty_batch"},
      {"no batch", {.path = "/v1/batch", .body = R"({"userId":"u"})"}, 400, "missing_field"},
      {"unknown write key", {.body = R"({"userId":"u","event":"E"})", .authorization = Basic("wk_nope")}, 401, "unknown_write_key"},
      {"unknown write key in body", {.body = R"({"userId":"u","event":"E","writeKey":"wk_nope"})", .authorization = ""}, 401, "unknown_write_key"},
      {"no write key", {.body = R"({"userId":"u","event":"E"})", .authorization = ""}, 401, "no_write_key"},
      {"not basic auth", {.body = R"({"userId":"u","event":"E"})", .authorization = "Bearer abc"}, 401, "no_write_key"},
  };
  SegmentApi api(TestConfig());
  for (const Rejected& c : cases) {
    PreparedRequest out = Send(api, c.sent);
    EXPECT_EQ(out.reply.status, c.status) << c.name << ": " << out.reply.body;
    EXPECT_EQ(Reason(out.reply), c.reason) << c.name;
    EXPECT_TRUE(out.records.empty()) << c.name;
  }
}

TEST(SegmentApiTest, ABatchNamesItsRejectedMessagesAndKeepsTheRest) {
  SegmentApi api(TestConfig());
  PreparedRequest out = Send(api, {.path = "/v1/batch",
                                   .body = R"({"batch":[{"type":"track","userId":"u","event":"E"},)"
                                           R"({"type":"purchase","userId":"u"},)"
                                           R"({"userId":"u","event":"E"},)"
                                           R"({"type":"identify","userId":"u2"}]})"});
  EXPECT_EQ(out.reply.status, 400);
  EXPECT_EQ(Reason(out.reply), "invalid_messages");
  EXPECT_EQ(out.records.size(), 2u);
  simdjson::dom::parser parser;
  simdjson::dom::element body = parser.parse(out.reply.body);
  EXPECT_EQ(int64_t(body["accepted"]), 2);
  simdjson::dom::array rejected = body["rejected"];
  ASSERT_EQ(rejected.size(), 2u);
  EXPECT_EQ(int64_t(rejected.at(0)["index"]), 1);
  EXPECT_EQ(std::string_view(rejected.at(0)["reason"]), "unknown_type");
  EXPECT_EQ(int64_t(rejected.at(1)["index"]), 2);
  EXPECT_EQ(std::string_view(rejected.at(1)["reason"]), "missing_field");
}

// Each message's text and members are located in one pass over the body: elements that are not
// objects, brackets and quotes inside strings, nested arrays and empty objects must not shift the
// messages after them.
TEST(SegmentApiTest, EveryMessageOfABatchIsReadWhateverTheElementsBeforeIt) {
  SegmentApi api(TestConfig());
  PreparedRequest out = Send(
      api, {.path = "/v1/batch",
            .body = R"({"sentAt":"2024-03-01T03:15:30.250Z","batch":[)"
                    R"({"type":"track","userId":"u1","event":"E]}","properties":{"list":[[1,{"a":"}"}],[]],"o":{}}},)"
                    R"(7,"{\"type\":\"track\"}",[{"type":"track"}],{},)"
                    R"({"type":"identify","anonymousId":"a2","traits":{"q":"\"[{"}},)"
                    R"({"type":"page","userId":"u3","name":"P"}],"context":{"locale":"th-TH"},"writeKey":"ignored"})"});
  EXPECT_EQ(out.reply.status, 400);
  simdjson::dom::parser parser;
  simdjson::dom::element reply = parser.parse(out.reply.body);
  simdjson::dom::array rejected = reply["rejected"];
  ASSERT_EQ(rejected.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(int64_t(rejected.at(i)["index"]), static_cast<int64_t>(i + 1));
  ASSERT_EQ(out.records.size(), 3u);
  EXPECT_EQ(out.records[0].key, "u1");
  EXPECT_EQ(Field(out.records[0], "/event"), R"("E]}")");
  EXPECT_EQ(Field(out.records[0], "/properties"), R"({"list":[[1,{"a":"}"}],[]],"o":{}})");
  EXPECT_EQ(out.records[1].key, "a2");
  EXPECT_EQ(Field(out.records[1], "/traits/q"), R"("\"[{")");
  EXPECT_EQ(out.records[2].key, "u3");
  EXPECT_EQ(Field(out.records[2], "/name"), R"("P")");
  for (const OutgoingRecord& record : out.records) {
    EXPECT_EQ(Field(record, "/context/locale"), R"("th-TH")");
    EXPECT_EQ(Field(record, "/sentAt"), R"("2024-03-01T03:15:30.250Z")");
  }
}

// A body with two "batch" members: the messages validated (simdjson's at_key: the first) are the
// ones written, never a mix of one array's checks and the other's text.
TEST(SegmentApiTest, OfTwoBatchMembersTheFirstIsValidatedAndWritten) {
  SegmentApi api(TestConfig());
  PreparedRequest out = Send(api, {.path = "/v1/batch",
                                   .body = R"({"batch":[{"type":"track","userId":"u1","event":"First"}],)"
                                           R"("batch":[{"type":"track","event":"Second"}]})"});
  EXPECT_EQ(out.reply.status, 200);
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(out.records[0].key, "u1");
  EXPECT_EQ(Field(out.records[0], "/event"), R"("First")");
}

// A message that repeats a name is refused, with the name (ingest::RepeatedNames): JSON leaves its
// meaning open, and the collector keyed such a record by its first userId while ingest resolved the
// last. Before, a second "context" that was not an object emptied the checked one's fields silently.
TEST(SegmentApiTest, AMessageThatRepeatsANameIsRefusedWithTheName) {
  SegmentApi api(TestConfig());
  PreparedRequest out = Send(api, {.path = "/v1/track",
                                   .body = R"({"userId":"u","event":"E","context":{"locale":"th-TH"},"context":5})"});
  EXPECT_EQ(out.reply.status, 400);
  EXPECT_EQ(Reason(out.reply), "invalid_field");
  EXPECT_NE(out.reply.body.find("message: 'context' appears more than once"), std::string::npos) << out.reply.body;
  EXPECT_TRUE(out.records.empty());

  out = Send(api, {.path = "/v1/batch",
                   .body = R"({"batch":[{"type":"track","userId":"a","event":"E"},)"
                           R"({"type":"track","userId":"a","user\u0049d":"b","event":"E"},)"
                           R"({"type":"identify","userId":"a","traits":{"email":"a@b.co","email":"c@d.co"}},)"
                           R"({"type":"track","userId":"a","event":"E","context":{"ip":"1.2.3.4","ip":"5.6.7.8"}},)"
                           R"({"type":"track","userId":"a","event":"E","context":{"traits":{"plan":"a","plan":"b"}}},)"
                           R"({"type":"identify","userId":"a","traits":{"aXz":1,"aYz":2}}]})"});
  EXPECT_EQ(out.reply.status, 400);
  ASSERT_EQ(out.records.size(), 2u);  // the first and the last: names sharing length and ends are not repeats
  simdjson::dom::parser parser;
  simdjson::dom::element body = parser.parse(out.reply.body);
  simdjson::dom::array rejected = body["rejected"];
  ASSERT_EQ(rejected.size(), 4u) << out.reply.body;
  const std::vector<std::string_view> details = {"message: 'userId'", "traits: 'email'", "context: 'ip'",
                                                 "context.traits: 'plan'"};
  for (size_t i = 0; i < details.size(); ++i) {
    EXPECT_EQ(int64_t(rejected.at(i)["index"]), int64_t(i + 1));
    EXPECT_EQ(std::string_view(rejected.at(i)["reason"]), "invalid_field");
    EXPECT_EQ(std::string_view(rejected.at(i)["detail"]), std::string(details[i]) + " appears more than once");
  }
}

// The deeper objects ingest reads by name are checked here too, so the sender gets the 400 that
// ingest's dead letter would otherwise be: the context's consent and its categoryPreferences on the
// web, a purchase's customer and each of its items. The details are ingest's own.
TEST(SegmentApiTest, RepeatsInTheDeeperObjectsIngestReadsAreRefusedToo) {
  SegmentApi api(TestConfig());
  PreparedRequest out = Send(
      api, {.path = "/v1/batch",
            .body = R"({"batch":[{"type":"track","userId":"a","event":"E","context":{"consent":{"a":1,"a":2}}},)"
                    R"({"type":"track","userId":"a","event":"E",)"
                    R"("context":{"consent":{"categoryPreferences":{"ads":true,"ads":false}}}},)"
                    R"({"type":"track","userId":"a","event":"E","properties":{"p":1,"p":2}},)"
                    R"({"type":"track","userId":"a","event":"E","context":{"consent":{"categoryPreferences":{"ads":true}}}}]})"});
  simdjson::dom::parser parser;
  simdjson::dom::element body = parser.parse(out.reply.body);
  simdjson::dom::array rejected = body["rejected"];
  ASSERT_EQ(rejected.size(), 2u) << out.reply.body;
  EXPECT_EQ(std::string_view(rejected.at(0)["detail"]), "context.consent: 'a' appears more than once");
  EXPECT_EQ(std::string_view(rejected.at(1)["detail"]),
            "context.consent.categoryPreferences: 'ads' appears more than once");
  EXPECT_EQ(out.records.size(), 2u);  // properties are kept as sent (ingest does not read them by name)

  out = Send(api, {.path = "/v1/batch",
                   .body = R"({"batch":[{"order_id":"o1","customer":{"email":"a@b.co","email":"c@d.co"}},)"
                           R"({"order_id":"o2","customer":{"email":"a@b.co"},"items":[{"sku":"s"},{"sku":"s","sku":"t"}]},)"
                           R"({"order_id":"o3","customer":{"email":"a@b.co"},"items":[{"sku":"s"},{"sku":"t"}]}]})",
                   .authorization = Basic("wk_purchase")});
  body = parser.parse(out.reply.body);
  rejected = body["rejected"];
  ASSERT_EQ(rejected.size(), 2u) << out.reply.body;
  EXPECT_EQ(std::string_view(rejected.at(0)["detail"]), "customer: 'email' appears more than once");
  EXPECT_EQ(std::string_view(rejected.at(1)["detail"]), "items[1]: 'sku' appears more than once");
  EXPECT_EQ(out.records.size(), 1u);
}

// A long repeated name is cut to 64 bytes at most, at a character's first byte (the reply stays
// UTF-8), and marked cut, as ingest's detail for the same message (IngestTest.EachRejectionHasItsReason).
TEST(SegmentApiTest, ALongRepeatedNameIsCutWholeCharacters) {
  SegmentApi api(TestConfig());
  std::string thai;
  for (int i = 0; i < 30; ++i) thai += "ก";  // 3 bytes each: 90 bytes
  PreparedRequest out = Send(api, {.body = R"({"userId":"u","event":"E",")" + thai + R"(":1,")" + thai + R"(":2})"});
  EXPECT_EQ(out.reply.status, 400);
  std::string first_21;
  for (int i = 0; i < 21; ++i) first_21 += "ก";  // 63 bytes: the 22nd character would pass 64
  simdjson::dom::parser parser;
  simdjson::dom::element body = parser.parse(out.reply.body);  // throws on invalid UTF-8
  EXPECT_EQ(std::string_view(body["detail"]), "message: '" + first_21 + "...' appears more than once");
}

// The other details that quote a sent value (an unknown type, a timestamp that is not RFC 3339)
// cut it the same way: with 64 bytes of them a Thai value was cut inside its 22nd character.
TEST(SegmentApiTest, LongSentValuesInDetailsAreCutWholeCharacters) {
  SegmentApi api(TestConfig());
  std::string thai;
  for (int i = 0; i < 30; ++i) thai += "ก";
  std::string first_21;
  for (int i = 0; i < 21; ++i) first_21 += "ก";
  PreparedRequest out =
      Send(api, {.path = "/v1/batch",
                 .body = R"({"batch":[{"type":")" + thai + R"(","userId":"u"},)" +
                         R"({"type":"track","userId":"u","event":"E","timestamp":")" + thai + R"("},)" +
                         R"({"type":"track","userId":"u","event":"E","sentAt":")" + thai + R"("}]})"});
  EXPECT_EQ(out.reply.status, 400);
  simdjson::dom::parser parser;
  simdjson::dom::element body = parser.parse(out.reply.body);  // throws on invalid UTF-8
  simdjson::dom::array rejected = body["rejected"];
  ASSERT_EQ(rejected.size(), 3u) << out.reply.body;
  EXPECT_EQ(std::string_view(rejected.at(0)["detail"]),
            "type '" + first_21 + "...' is not identify, track, page, screen, group or alias");
  EXPECT_EQ(std::string_view(rejected.at(1)["detail"]), "timestamp '" + first_21 + "...' is not RFC 3339");
  EXPECT_EQ(std::string_view(rejected.at(2)["detail"]), "sentAt '" + first_21 + "...' is not RFC 3339");
}

TEST(SegmentApiTest, BatchContextAndIntegrationsAreMergedIntoEachMessage) {
  SegmentApi api(TestConfig());
  PreparedRequest out = Send(api, {.path = "/v1/batch",
                                   .body = R"({"context":{"library":{"name":"lib"},"locale":"th-TH"},"integrations":{"All":false},)"
                                           R"("batch":[{"type":"track","userId":"u","event":"E","context":{"locale":"en-US","ip":"1.2.3.4"}}]})"});
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(Field(out.records[0], "/context/locale"), R"("en-US")");  // the message's own wins
  EXPECT_EQ(Field(out.records[0], "/context/library/name"), R"("lib")");
  EXPECT_EQ(Field(out.records[0], "/context/ip"), R"("1.2.3.4")");  // a sent ip is kept
  EXPECT_EQ(Field(out.records[0], "/integrations"), R"({"All":false})");
}

TEST(SegmentApiTest, APaddedBodyIsReadToTheSameRecordsAndRepliesWhateverFollowsIt) {
  // The server pads its buffer so simdjson parses the body in place; the padding's bytes (here JSON
  // punctuation and a quote, which would change the document if they were read as part of it) must
  // change nothing, for compact and spaced bodies, batches, single calls, gzip and refusals alike.
  const std::vector<Sent> requests = {
      {.path = "/v1/batch",
       .body = R"({"batch":[{"type":"track","userId":"u-1","event":"E","properties":{"n":1.50}},)"
               R"({"type":"identify","anonymousId":"a-2","traits":{"name":"สมชาย"}}],"context":{"ip":"198.51.100.7"}})"},
      {.path = "/v1/batch", .body = "{ \"batch\" : [ {\"type\":\"page\",\"anonymousId\":\"a\" } ] }\n"},
      {.path = "/v1/track", .body = R"({"userId":"u-3","event":"Viewed","timestamp":"2026-12-07T10:00:00Z"})"},
      {.path = "/v1/batch", .body = Gzip(R"({"batch":[{"type":"page","anonymousId":"a","name":"Home"}]})"), .encoding = "gzip"},
      {.path = "/v1/track", .body = R"({"userId":"u-4","event":"Cut)"},  // a string the padding could close
      {.path = "/v1/track", .body = R"({"userId":"u-5","event":"E"}, {)"},
      {.path = "/v1/batch", .body = R"({"batch":[{"type":"track","userId":"u-6"}]})"},
  };
  for (const char padding : {'"', '}', ']', ' ', '\0'}) {
    for (const Sent& plain : requests) {
      Sent padded = plain;
      padded.padding = padding;
      SegmentApi plain_api(TestConfig()), padded_api(TestConfig());
      const PreparedRequest expected = Send(plain_api, plain);
      const PreparedRequest got = Send(padded_api, padded);
      EXPECT_EQ(got.reply.status, expected.reply.status) << plain.body;
      EXPECT_EQ(got.reply.body, expected.reply.body) << plain.body;
      ASSERT_EQ(got.records.size(), expected.records.size()) << plain.body;
      for (size_t i = 0; i < got.records.size(); ++i) {
        EXPECT_EQ(got.records[i].value, expected.records[i].value);
        EXPECT_EQ(got.records[i].key, expected.records[i].key);
      }
    }
  }
}

TEST(SegmentApiTest, GzipBodiesAreInflated) {
  SegmentApi api(TestConfig());
  PreparedRequest out = Send(api, {.path = "/v1/batch",
                                   .body = Gzip(R"({"batch":[{"type":"page","anonymousId":"a","name":"Home"}]})"),
                                   .encoding = "gzip"});
  EXPECT_EQ(out.reply.status, 200) << out.reply.body;
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(Field(out.records[0], "/name"), R"("Home")");
}

TEST(SegmentApiTest, ClientIpHonoursOnlyTrustedProxies) {
  const absl::flat_hash_set<std::string> trusted = {"10.0.0.5", "10.0.0.6"};
  EXPECT_EQ(ClientIp("203.0.113.9", "1.1.1.1", trusted), "203.0.113.9");  // an untrusted peer cannot claim
  EXPECT_EQ(ClientIp("10.0.0.5", "198.51.100.7", trusted), "198.51.100.7");
  EXPECT_EQ(ClientIp("10.0.0.5", "6.6.6.6, 198.51.100.7, 10.0.0.6", trusted), "198.51.100.7");
  EXPECT_EQ(ClientIp("10.0.0.5", "", trusted), "10.0.0.5");
  SegmentApi api(TestConfig());
  PreparedRequest out = Send(api, {.body = R"({"userId":"u","event":"E"})", .peer = "10.0.0.5", .forwarded_for = "198.51.100.7"});
  EXPECT_EQ(Field(out.records.at(0), "/context/ip"), R"("198.51.100.7")");
}

TEST(SegmentApiTest, RateLimitAnswers429WithRetryAfter) {
  CollectorConfig config = TestConfig();
  config.rate_limit_per_second = 2;
  config.rate_limit_burst = 2;
  SegmentApi api(config);
  const Sent sent{.body = R"({"userId":"u","event":"E"})"};
  EXPECT_EQ(Send(api, sent).reply.status, 200);
  EXPECT_EQ(Send(api, sent).reply.status, 200);
  PreparedRequest limited = Send(api, sent);
  EXPECT_EQ(limited.reply.status, 429);
  EXPECT_EQ(Reason(limited.reply), "rate_limited");
  ASSERT_FALSE(limited.reply.headers.empty());
  EXPECT_EQ(limited.reply.headers[0].first, "Retry-After");
  EXPECT_EQ(limited.reply.headers[0].second, "1");
  EXPECT_EQ(Send(api, sent, kNow + 600).reply.status, 200);  // a token refilled after 0.5 s
}

TEST(SegmentApiTest, SocialSourceGoesToItsChannelWithoutSegmentTypeRules) {
  SegmentApi api(TestConfig());
  PreparedRequest out = Send(api, {.path = "/v1/batch",
                                   .body = R"({"batch":[{"platform":"instagram","action":"comment","handle":"@a","timestamp":"2024-03-01T12:00:00+07:00"}]})",
                                   .authorization = Basic("wk_social")});
  EXPECT_EQ(out.reply.status, 200) << out.reply.body;
  ASSERT_EQ(out.records.size(), 1u);
  EXPECT_EQ(out.records[0].channel, v1::CHANNEL_SOCIAL);
  EXPECT_EQ(Field(out.records[0], "/type"), "");
  EXPECT_EQ(Field(out.records[0], "/action"), R"("comment")");
}

TEST(GunzipTest, StopsAtTheLimitWhileInflating) {
  const std::string zeros(10 * 1024 * 1024, '0');
  const std::string bomb = Gzip(zeros);
  EXPECT_LT(bomb.size(), 50'000u);
  EXPECT_TRUE(absl::IsResourceExhausted(Gunzip(bomb, 500 * 1024).status()));
  absl::StatusOr<std::string> ok = Gunzip(Gzip("hello"), 100);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "hello");
}

}  // namespace
}  // namespace tessera::collector
