// Pins ingest/ingest.cc: raw web, social and purchase JSON -> tessera.v1.Event, or a Rejection
// with the reason docs/events.md promises.
#include "ingest/ingest.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::ingest {
namespace {

constexpr int64_t kReceivedAt = 1709300000000;  // 2024-03-01T13:33:20Z
// 2024-03-01T10:15:30+07:00
constexpr int64_t kMorningBangkok = 1709262930000;

IngestOptions TestOptions() {
  IngestOptions options;
  options.workspace = "acme";
  options.default_phone_region = "TH";
  options.default_time_zone = "Asia/Bangkok";
  return options;
}

v1::SourcePosition Source(v1::Channel channel) {
  v1::SourcePosition source;
  source.set_topic(std::string("raw.") + std::string(ChannelName(channel)));
  source.set_partition(3);
  source.set_offset(42);
  return source;
}

v1::Event EventFromText(std::string_view text_proto) {
  v1::Event event;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(std::string(text_proto), &event)) << text_proto;
  return event;
}

class IngestTest : public ::testing::Test {
 protected:
  ParseOutcome Parse(v1::Channel channel, std::string_view payload) {
    return parser_.Parse(channel, payload, Source(channel), kReceivedAt);
  }

  // The event, or a test failure naming the rejection.
  v1::Event ParseOk(v1::Channel channel, std::string_view payload) {
    ParseOutcome outcome = Parse(channel, payload);
    if (const Rejection* rejection = std::get_if<Rejection>(&outcome)) {
      ADD_FAILURE() << "rejected " << rejection->reason << " (" << rejection->detail << "): " << payload;
      return v1::Event();
    }
    return std::get<v1::Event>(std::move(outcome));
  }

  Rejection ParseRejected(v1::Channel channel, std::string_view payload) {
    ParseOutcome outcome = Parse(channel, payload);
    if (v1::Event* event = std::get_if<v1::Event>(&outcome)) {
      ADD_FAILURE() << "accepted: " << payload << "\n" << event->DebugString();
      return Rejection();
    }
    return std::get<Rejection>(std::move(outcome));
  }

  // Parses and compares the whole event with `expected_text` (plus workspace, channel, source and
  // received_at, which every event carries).
  void ExpectEvent(v1::Channel channel, std::string_view payload, std::string_view expected_text) {
    v1::Event expected = EventFromText(expected_text);
    expected.set_workspace("acme");
    expected.set_channel(channel);
    expected.set_received_at_ms(kReceivedAt);
    *expected.mutable_source() = Source(channel);
    const v1::Event actual = ParseOk(channel, payload);
    std::string differences;
    google::protobuf::util::MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&differences);
    EXPECT_TRUE(differencer.Compare(expected, actual)) << differences << "\nactual:\n" << actual.DebugString();
  }

  EventParser parser_{TestOptions()};
};

// ---------------------------------------------------------------- web

TEST_F(IngestTest, WebIdentify) {
  ExpectEvent(v1::CHANNEL_WEB,
              R"({"type":"identify","messageId":"ajs-id-1","userId":"u-1001","anonymousId":"anon-7f3a",
                  "traits":{"name":"สมชาย ใจดี","email":"  Somchai.J@Example.CO.TH ","phone":"081-234-5678",
                            "age":34,"vip":true,"address":{"city":"กรุงเทพฯ", "postal":"10110"},"nickname":null},
                  "context":{"ip":"203.0.113.9","traits":{"ignored":"yes"}},
                  "sentAt":"2024-03-01T10:15:31Z","unknownField":[1,{"x":null}],
                  "timestamp":"2024-03-01T10:15:30.250+07:00"})",
              R"pb(
                message_id: "ajs-id-1"
                type: "identify"
                timestamp_ms: 1709262930250
                identifiers { type: "user_id" value: "u-1001" }
                identifiers { type: "anonymous_id" value: "anon-7f3a" }
                identifiers { type: "email" value: "somchai.j@example.co.th" }
                identifiers { type: "phone" value: "+66812345678" }
                traits { key: "name" value: "\"สมชาย ใจดี\"" }
                traits { key: "email" value: "\"somchai.j@example.co.th\"" }
                traits { key: "phone" value: "\"+66812345678\"" }
                traits { key: "age" value: "34" }
                traits { key: "vip" value: "true" }
                traits { key: "address" value: "{\"city\":\"กรุงเทพฯ\",\"postal\":\"10110\"}" }
                traits { key: "nickname" value: "null" }
              )pb");
}

TEST_F(IngestTest, WebTrackTakesTraitsFromContextAndKeepsProperties) {
  ExpectEvent(v1::CHANNEL_WEB,
              R"({ "type" : "track", "messageId":"m-2", "userId": 1001, "event":"Order Completed",
                   "properties": { "revenue": 1250.50, "items": [ {"sku":"SKU-1"}, 2 ], "note":"ชำระแล้ว" },
                   "traits": {"ignored": true},
                   "context":{"traits":{"email":"Somchai@Example.com","phone":"not a phone"}},
                   "timestamp":"2024-03-01T03:15:30Z" })",
              R"pb(
                message_id: "m-2"
                type: "track"
                name: "Order Completed"
                timestamp_ms: 1709262930000
                identifiers { type: "user_id" value: "1001" }
                identifiers { type: "email" value: "somchai@example.com" }
                traits { key: "email" value: "\"somchai@example.com\"" }
                traits { key: "phone_invalid" value: "\"not a phone\"" }
                properties_json: "{\"revenue\":1250.50,\"items\":[{\"sku\":\"SKU-1\"},2],\"note\":\"ชำระแล้ว\"}"
              )pb");
}

TEST_F(IngestTest, WebPageWithoutMessageIdOrOffset) {
  // No messageId: derived from the payload bytes. No offset: Bangkok local time.
  ExpectEvent(v1::CHANNEL_WEB,
              R"({"type":"page","anonymousId":"anon-1","name":"Pricing","timestamp":"2024-03-01 10:15:30",)"
              R"("properties":{"url":"https://shop.example.co.th/pricing"}})",
              R"pb(
                message_id: "web:f112c02596e1b203"
                type: "page"
                name: "Pricing"
                timestamp_ms: 1709262930000
                identifiers { type: "anonymous_id" value: "anon-1" }
                properties_json: "{\"url\":\"https://shop.example.co.th/pricing\"}"
              )pb");
}

TEST_F(IngestTest, WebScreenFallsBackToOriginalTimestamp) {
  ExpectEvent(v1::CHANNEL_WEB,
              R"({"type":"screen","messageId":"m-s","userId":"u-1","name":"Cart",
                  "originalTimestamp":"2024-03-01T10:15:30+07:00","timestamp":null})",
              R"pb(
                message_id: "m-s"
                type: "screen"
                name: "Cart"
                timestamp_ms: 1709262930000
                identifiers { type: "user_id" value: "u-1" }
              )pb");
}

TEST_F(IngestTest, WebGroupWithoutTimestampUsesReceivedAt) {
  // A group call's top-level traits describe the group, not the person: not profile traits.
  ExpectEvent(v1::CHANNEL_WEB,
              R"({"type":"group","messageId":"m-g","userId":"u-1","groupId":"acme-co",
                  "traits":{"name":"Acme Co., Ltd."},"context":{"traits":{"plan":"gold"}}})",
              R"pb(
                message_id: "m-g"
                type: "group"
                group_id: "acme-co"
                timestamp_ms: 1709300000000
                identifiers { type: "user_id" value: "u-1" }
                traits { key: "plan" value: "\"gold\"" }
              )pb");
}

TEST_F(IngestTest, WebAliasTypesPreviousIdAsAnonymousIdAndDeduplicates) {
  ExpectEvent(v1::CHANNEL_WEB,
              R"({"type":"alias","messageId":"m-a","userId":"u-1","previousId":"anon-9","anonymousId":"anon-9",
                  "timestamp":"2024-03-01T10:15:30+07:00"})",
              R"pb(
                message_id: "m-a"
                type: "alias"
                timestamp_ms: 1709262930000
                identifiers { type: "user_id" value: "u-1" }
                identifiers { type: "anonymous_id" value: "anon-9" }
              )pb");
}

TEST_F(IngestTest, WebTypeIsCaseInsensitiveAndNullsAreAbsent) {
  const v1::Event event = ParseOk(
      v1::CHANNEL_WEB,
      R"({"type":"Track","userId":null,"anonymousId":"a-1","event":"Viewed","messageId":null,"properties":null,"context":null})");
  EXPECT_EQ(event.type(), "track");
  ASSERT_EQ(event.identifiers_size(), 1);
  EXPECT_EQ(event.identifiers(0).type(), "anonymous_id");
  EXPECT_EQ(event.properties_json(), "");
  EXPECT_EQ(event.message_id().substr(0, 4), "web:");
}

TEST_F(IngestTest, TraitValuesKeepTheirBytesExactly) {
  // Escapes stay escapes, Thai stays UTF-8, numbers keep their spelling; only white space between
  // tokens goes.
  const v1::Event event = ParseOk(
      v1::CHANNEL_WEB,
      R"({"type":"identify","userId":"u","traits":{"motto":"\"ok\" \u0e2a\n","th":"สมชาย","n":1.50e+2,)"
      R"("deep":{ "a" : [ 1 , { "b" : "ค" } ] , "\u0041": false }, "k\"ey":-0}})");
  EXPECT_EQ(event.traits().at("motto"), R"("\"ok\" \u0e2a\n")");
  EXPECT_EQ(event.traits().at("th"), "\"สมชาย\"");
  EXPECT_EQ(event.traits().at("n"), "1.50e+2");
  EXPECT_EQ(event.traits().at("deep"), R"({"a":[1,{"b":"ค"}],"\u0041":false})");
  EXPECT_EQ(event.traits().at("k\"ey"), "-0");  // the trait name is unescaped
}

TEST_F(IngestTest, MessageIdOfOneHundredCharactersIsAccepted) {
  const std::string id(100, 'm');
  EXPECT_EQ(ParseOk(v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E","messageId":")" + id + "\"}")
                .message_id(),
            id);
  // Characters, not bytes: 100 Thai characters are 300 bytes.
  std::string thai;
  for (int i = 0; i < 100; ++i) thai += "ก";
  EXPECT_EQ(ParseOk(v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E","messageId":")" + thai + "\"}")
                .message_id(),
            thai);
}

TEST_F(IngestTest, PhoneGivenAsAJsonNumberIsReadAsItsDigits) {
  const v1::Event event =
      ParseOk(v1::CHANNEL_WEB, R"({"type":"identify","userId":"u","traits":{"phone":66812345678}})");
  ASSERT_EQ(event.identifiers_size(), 2);
  EXPECT_EQ(event.identifiers(1).type(), "phone");
  EXPECT_EQ(event.identifiers(1).value(), "+66812345678");
  // The trait holds the identifier's form, as a JSON string.
  EXPECT_EQ(event.traits().at("phone"), "\"+66812345678\"");
}

// A repeated name is refused (the rejection table below); names that only share a length and their
// end bytes (RepeatedNames' filter cannot tell them apart) are different names, and each is kept.
TEST_F(IngestTest, NamesThatShareOnlyLengthAndEndsAreNotRepeats) {
  const v1::Event event = ParseOk(
      v1::CHANNEL_WEB, R"({"type":"identify","userId":"u","traits":{"aXz":1,"aYz":2,"plan":"a","pl\u0061m":"b"}})");
  EXPECT_EQ(event.traits().at("aXz"), "1");
  EXPECT_EQ(event.traits().at("aYz"), "2");
  EXPECT_EQ(event.traits().at("plan"), "\"a\"");
  EXPECT_EQ(event.traits().at("plam"), "\"b\"");
}

TEST_F(IngestTest, DeepNestingIsRefused) {
  const auto nested = [](int depth) {
    return R"({"type":"identify","userId":"u","traits":{"deep":)" + std::string(depth, '[') + std::string(depth, ']') +
           "}}";
  };
  // A guard for the validating walk's stack, not a format rule: generous, and far below simdjson's
  // own limit of 1024.
  EXPECT_EQ(ParseOk(v1::CHANNEL_WEB, nested(120)).traits().at("deep").size(), 2u * 120u);
  EXPECT_EQ(ParseRejected(v1::CHANNEL_WEB, nested(130)).reason, kInvalidJson);
  EXPECT_EQ(ParseRejected(v1::CHANNEL_WEB, nested(5000)).reason, kInvalidJson);
}

// ---------------------------------------------------------------- social

TEST_F(IngestTest, SocialComment) {
  ExpectEvent(v1::CHANNEL_SOCIAL,
              R"({"messageId":"ig-c-1","platform":"Instagram","action":"comment","handle":" @Somchai.K ",
                  "text":"สวยมากค่ะ ราคาเท่าไหร่","post_id":"C0ffee","email":"Somchai@Example.com",
                  "phone":"+66 81 234 5678","timestamp":"2024-03-01T12:00:00+07:00","likes":12})",
              R"pb(
                message_id: "ig-c-1"
                type: "comment"
                timestamp_ms: 1709269200000
                identifiers { type: "instagram" value: "somchai.k" }
                identifiers { type: "email" value: "somchai@example.com" }
                identifiers { type: "phone" value: "+66812345678" }
                traits { key: "email" value: "\"somchai@example.com\"" }
                traits { key: "phone" value: "\"+66812345678\"" }
                social {
                  platform: "instagram"
                  action: "comment"
                  handle: "somchai.k"
                  text: "สวยมากค่ะ ราคาเท่าไหร่"
                  post_id: "C0ffee"
                }
              )pb");
}

TEST_F(IngestTest, SocialReview) {
  ExpectEvent(v1::CHANNEL_SOCIAL,
              R"({"messageId":"fb-r-9","platform":"facebook","action":"review","handle":"@nok.bkk","userId":77,
                  "rating":5,"post_id":123456,"email":null,"timestamp":"2024-03-01T05:00:00Z"})",
              R"pb(
                message_id: "fb-r-9"
                type: "review"
                timestamp_ms: 1709269200000
                identifiers { type: "facebook" value: "nok.bkk" }
                identifiers { type: "user_id" value: "77" }
                social { platform: "facebook" action: "review" handle: "nok.bkk" post_id: "123456" rating: 5 }
              )pb");
}

TEST_F(IngestTest, SocialWithoutMessageIdGetsADerivedOne) {
  const std::string_view payload =
      R"({"platform":"line","action":"like","handle":"@Nok","timestamp":"2024-03-01T09:00:00+07:00"})";
  EXPECT_EQ(ParseOk(v1::CHANNEL_SOCIAL, payload).message_id(), "social:65af1fad7c1ea8c2");
}

// ---------------------------------------------------------------- purchase

TEST_F(IngestTest, PurchaseOrder) {
  ExpectEvent(v1::CHANNEL_PURCHASE,
              R"({"order_id":"TH-100234","timestamp":"2024-03-01T14:30:00+07:00","channel":"store","store_id":"BKK-01",
                  "currency":"THB",
                  "customer":{"user_id":"u-1001","email":"SOMCHAI@example.com","phone":"0812345678",
                              "loyalty_id":" L-556677 ","name":"สมชาย ใจดี","address":{"city":"เชียงใหม่"},"tier":"gold"},
                  "items":[{"sku":"TEA-01","name":"ชาไทย","category":" Beverages ","quantity":2,"unit_price":"45.50"},
                           {"sku":"CAKE-9","name":"เค้กมะพร้าว","category":"Bakery","quantity":1,"unit_price":120}],
                  "discount":"10.00","total":201,"status":"completed","coupon":"SONGKRAN","campaign":"songkran-2024"})",
              R"pb(
                message_id: "order:TH-100234:completed"
                type: "order"
                name: "completed"
                timestamp_ms: 1709278200000
                identifiers { type: "user_id" value: "u-1001" }
                identifiers { type: "email" value: "somchai@example.com" }
                identifiers { type: "phone" value: "+66812345678" }
                identifiers { type: "loyalty_id" value: "L-556677" }
                traits { key: "email" value: "\"somchai@example.com\"" }
                traits { key: "phone" value: "\"+66812345678\"" }
                traits { key: "name" value: "\"สมชาย ใจดี\"" }
                traits { key: "address" value: "{\"city\":\"เชียงใหม่\"}" }
                order {
                  order_id: "TH-100234"
                  channel: "store"
                  store_id: "BKK-01"
                  status: ORDER_STATUS_COMPLETED
                  total { minor_units: 20100 currency: "THB" }
                  discount { minor_units: 1000 currency: "THB" }
                  items { sku: "TEA-01" name: "ชาไทย" category: "beverages" quantity: 2 unit_price_minor: 4550 }
                  items { sku: "CAKE-9" name: "เค้กมะพร้าว" category: "bakery" quantity: 1 unit_price_minor: 12000 }
                  coupon: "SONGKRAN"
                  campaign: "songkran-2024"
                }
              )pb");
}

TEST_F(IngestTest, PurchaseRefundMinimal) {
  ExpectEvent(v1::CHANNEL_PURCHASE,
              R"({"order_id":98765,"timestamp":"2024-03-02T09:00:00+07:00","currency":"thb","status":"Refunded",
                  "total":"1250.50","customer":{"loyalty_id":"L-1"}})",
              R"pb(
                message_id: "order:98765:refunded"
                type: "order"
                name: "refunded"
                timestamp_ms: 1709344800000
                identifiers { type: "loyalty_id" value: "L-1" }
                order {
                  order_id: "98765"
                  status: ORDER_STATUS_REFUNDED
                  total { minor_units: 125050 currency: "THB" }
                }
              )pb");
}

TEST_F(IngestTest, AmountsAsNumbersOrStringsAreExact) {
  struct Case {
    std::string_view currency;
    std::string_view total_json;
    int64_t minor_units;
  };
  const Case cases[] = {
      {"THB", "1250.50", 125050},  {"THB", R"("1250.50")", 125050}, {"THB", "1250.5", 125050},
      {"THB", R"("1250")", 125000}, {"THB", R"("10.500")", 1050},   {"THB", "0.1", 10},
      {"THB", "0", 0},             {"JPY", "1250", 1250},           {"JPY", R"("1250.00")", 1250},
      {"KWD", R"("1.234")", 1234}, {"USD", "19.99", 1999},          {"THB", R"(" 99.00 ")", 9900},
  };
  for (const Case& c : cases) {
    const std::string payload = std::string(R"({"order_id":"o-1","timestamp":"2024-03-01T10:00:00Z","status":"completed",)") +
                                R"("customer":{"user_id":"u"},"currency":")" + std::string(c.currency) +
                                R"(","total":)" + std::string(c.total_json) + "}";
    const v1::Event event = ParseOk(v1::CHANNEL_PURCHASE, payload);
    EXPECT_EQ(event.order().total().minor_units(), c.minor_units) << payload;
    EXPECT_EQ(event.order().total().currency(), c.currency) << payload;
  }
}

TEST_F(IngestTest, ItemWithoutQuantityCountsOne) {
  const v1::Event event = ParseOk(
      v1::CHANNEL_PURCHASE,
      R"({"order_id":"o","timestamp":"2024-03-01T10:00:00Z","status":"completed","currency":"THB","total":5,)"
      R"("customer":{"email":"a@b.co"},"items":[{"sku":"x"}]})");
  ASSERT_EQ(event.order().items_size(), 1);
  EXPECT_EQ(event.order().items(0).quantity(), 1);
  EXPECT_EQ(event.order().items(0).unit_price_minor(), 0);
}

// ---------------------------------------------------------------- rejections

struct RejectionCase {
  std::string_view name;
  v1::Channel channel;
  std::string payload;
  std::string_view reason;
  std::string_view detail_contains;
};

std::vector<RejectionCase> RejectionCases() {
  const std::string order_head = R"({"order_id":"o-1","timestamp":"2024-03-01T10:00:00Z","status":"completed",)";
  const std::string good_customer = R"("customer":{"user_id":"u"})";
  const std::string social_head = R"({"platform":"instagram","action":"comment","handle":"@a",)";
  std::string thai_30, thai_21;  // 90 and 63 bytes: a detail quotes 64 bytes at most, whole characters
  for (int i = 0; i < 30; ++i) thai_30 += "ก";
  for (int i = 0; i < 21; ++i) thai_21 += "ก";
  // The collector's detail for the same message (SegmentApiTest.ALongRepeatedNameIsCutWholeCharacters).
  static const std::string long_repeat_detail = "message: '" + thai_21 + "...' appears more than once";
  return {
      // invalid_json
      {"not json", v1::CHANNEL_WEB, "{not json", kInvalidJson, ""},
      {"empty", v1::CHANNEL_WEB, "", kInvalidJson, ""},
      {"array", v1::CHANNEL_WEB, "[1,2]", kInvalidJson, "not a JSON object"},
      {"string", v1::CHANNEL_SOCIAL, R"("hello")", kInvalidJson, "not a JSON object"},
      {"truncated", v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E")", kInvalidJson, ""},
      {"trailing object", v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E"} {"x":1})", kInvalidJson,
       "after the top-level object"},
      {"trailing brace", v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E"}})", kInvalidJson, ""},
      {"bad unread array", v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E","x":[1,2,]})", kInvalidJson, ""},
      {"bad unread atom", v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E","x":tru})", kInvalidJson, ""},
      {"bad unread escape", v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E","x":"\q"})", kInvalidJson,
       ""},
      {"bad unread number", v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E","x":01})", kInvalidJson, ""},
      {"bad trait number", v1::CHANNEL_WEB, R"({"type":"identify","userId":"u","traits":{"n":1.}})", kInvalidJson,
       ""},
      {"trailing comma", v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E",})", kInvalidJson, ""},
      {"invalid utf-8", v1::CHANNEL_WEB, "{\"type\":\"track\",\"userId\":\"u\xff\",\"event\":\"E\"}", kInvalidJson,
       "UTF-8"},
      {"overlong utf-8", v1::CHANNEL_SOCIAL, social_head + "\"text\":\"\xc0\xaf\",\"timestamp\":\"2024-03-01T10:00:00Z\"}",
       kInvalidJson, "UTF-8"},
      // too_large
      {"over 32 KiB", v1::CHANNEL_WEB,
       R"({"type":"track","userId":"u","event":"E","properties":{"blob":")" + std::string(32 * 1024, 'x') + "\"}}",
       kTooLarge, "32768"},
      // missing_field
      {"web without type", v1::CHANNEL_WEB, R"({"userId":"u","event":"E"})", kMissingField, "type"},
      {"track without event", v1::CHANNEL_WEB, R"({"type":"track","userId":"u"})", kMissingField, "event"},
      {"alias without previousId", v1::CHANNEL_WEB, R"({"type":"alias","userId":"u"})", kMissingField, "previousId"},
      {"alias without userId", v1::CHANNEL_WEB, R"({"type":"alias","anonymousId":"a","previousId":"p"})", kMissingField,
       "userId"},
      {"group without groupId", v1::CHANNEL_WEB, R"({"type":"group","userId":"u"})", kMissingField, "groupId"},
      {"social without handle", v1::CHANNEL_SOCIAL,
       R"({"platform":"x","action":"like","timestamp":"2024-03-01T10:00:00Z"})", kMissingField, "handle"},
      {"social without platform", v1::CHANNEL_SOCIAL,
       R"({"handle":"a","action":"like","timestamp":"2024-03-01T10:00:00Z"})", kMissingField, "platform"},
      {"social without timestamp", v1::CHANNEL_SOCIAL, social_head + R"("text":"hi"})", kMissingField, "timestamp"},
      {"order without order_id", v1::CHANNEL_PURCHASE,
       R"({"timestamp":"2024-03-01T10:00:00Z","status":"completed","currency":"THB","total":1,"customer":{"user_id":"u"}})",
       kMissingField, "order_id"},
      {"order without total", v1::CHANNEL_PURCHASE, order_head + R"("currency":"THB",)" + good_customer + "}",
       kMissingField, "total"},
      {"order without customer", v1::CHANNEL_PURCHASE, order_head + R"("currency":"THB","total":1})", kMissingField,
       "customer"},
      {"order with null customer", v1::CHANNEL_PURCHASE, order_head + R"("currency":"THB","total":1,"customer":null})",
       kMissingField, "customer"},
      {"order without currency", v1::CHANNEL_PURCHASE, order_head + R"("total":1,)" + good_customer + "}",
       kMissingField, "currency"},
      // unknown_type
      {"unknown web type", v1::CHANNEL_WEB, R"({"type":"purchase","userId":"u"})", kUnknownType, "purchase"},
      {"unknown social action", v1::CHANNEL_SOCIAL,
       R"({"platform":"instagram","action":"poke","handle":"a","timestamp":"2024-03-01T10:00:00Z"})", kUnknownType,
       "poke"},
      {"unknown order status", v1::CHANNEL_PURCHASE,
       R"({"order_id":"o","timestamp":"2024-03-01T10:00:00Z","status":"pending","currency":"THB","total":1,)" +
           good_customer + "}",
       kUnknownType, "pending"},
      {"unspecified channel", v1::CHANNEL_UNSPECIFIED, R"({"type":"track"})", kUnknownType, "channel"},
      // invalid_field
      {"messageId of 101 characters", v1::CHANNEL_WEB,
       R"({"type":"track","userId":"u","event":"E","messageId":")" + std::string(101, 'm') + "\"}", kInvalidField,
       "messageId"},
      {"userId boolean", v1::CHANNEL_WEB, R"({"type":"track","userId":true,"event":"E"})", kInvalidField, "userId"},
      {"type number", v1::CHANNEL_WEB, R"({"type":7,"userId":"u"})", kInvalidField, "type"},
      {"properties array", v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E","properties":[1]})",
       kInvalidField, "properties"},
      {"traits string", v1::CHANNEL_WEB, R"({"type":"identify","userId":"u","traits":"vip"})", kInvalidField, "traits"},
      // a name twice in an object ingest reads by name: JSON.parse would keep the last, the collector
      // keyed the record by the first (ingest::RepeatedNames)
      {"userId twice", v1::CHANNEL_WEB, R"({"type":"identify","userId":"first","userId":"second"})", kInvalidField,
       "message: 'userId' appears more than once"},
      {"userId twice, once escaped", v1::CHANNEL_WEB, R"({"type":"track","userId":"u","user\u0049d":"v","event":"E"})",
       kInvalidField, "message: 'userId' appears more than once"},
      {"unread name twice", v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E","x":1,"x":2})",
       kInvalidField, "message: 'x' appears more than once"},
      {"traits twice", v1::CHANNEL_WEB, R"({"type":"identify","userId":"u","traits":{"a":1},"traits":{"b":1}})",
       kInvalidField, "message: 'traits' appears more than once"},
      {"trait twice", v1::CHANNEL_WEB, R"({"type":"identify","userId":"u","traits":{"plan":"a","plan":"b"}})",
       kInvalidField, "traits: 'plan' appears more than once"},
      {"context trait twice", v1::CHANNEL_WEB,
       R"({"type":"track","userId":"u","event":"E","context":{"traits":{"email":"a@b.co","email":"c@d.co"}}})",
       kInvalidField, "context.traits: 'email' appears more than once"},
      {"social handle twice", v1::CHANNEL_SOCIAL, social_head + R"("handle":"@b","timestamp":"2024-03-01T10:00:00Z"})",
       kInvalidField, "message: 'handle' appears more than once"},
      {"customer email twice", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":1,"customer":{"user_id":"u","email":"a@b.co","email":"c@d.co"}})",
       kInvalidField, "customer: 'email' appears more than once"},
      // the same details the collector answers for these (SegmentApiTest.RepeatsInTheDeeperObjectsIngestReadsAreRefusedToo)
      {"consent member twice", v1::CHANNEL_WEB,
       R"({"type":"track","userId":"u","event":"E","context":{"consent":{"a":1,"a":2}}})", kInvalidField,
       "context.consent: 'a' appears more than once"},
      {"consent purpose twice", v1::CHANNEL_WEB,
       R"({"type":"track","userId":"u","event":"E","context":{"consent":{"categoryPreferences":{"ads":true,"ads":false}}}})",
       kInvalidField, "context.consent.categoryPreferences: 'ads' appears more than once"},
      {"long Thai name twice", v1::CHANNEL_WEB,
       R"({"type":"track","userId":"u","event":"E",")" + thai_30 + R"(":1,")" + thai_30 + R"(":2})", kInvalidField,
       long_repeat_detail},
      {"item sku twice", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":1,"customer":{"user_id":"u"},"items":[{"sku":"s"},{"sku":"s","sku":"t"}]})",
       kInvalidField, "items[1]: 'sku' appears more than once"},
      {"rating 6", v1::CHANNEL_SOCIAL, social_head + R"("rating":6,"timestamp":"2024-03-01T10:00:00Z"})",
       kInvalidField, "rating"},
      {"rating 0", v1::CHANNEL_SOCIAL, social_head + R"("rating":0,"timestamp":"2024-03-01T10:00:00Z"})",
       kInvalidField, "rating"},
      {"rating 4.5", v1::CHANNEL_SOCIAL, social_head + R"("rating":4.5,"timestamp":"2024-03-01T10:00:00Z"})",
       kInvalidField, "rating"},
      {"rating string", v1::CHANNEL_SOCIAL, social_head + R"("rating":"5","timestamp":"2024-03-01T10:00:00Z"})",
       kInvalidField, "rating"},
      {"platform posing as email", v1::CHANNEL_SOCIAL,
       R"({"platform":"email","action":"like","handle":"a@b.co","timestamp":"2024-03-01T10:00:00Z"})", kInvalidField,
       "platform"},
      {"platform with colon", v1::CHANNEL_SOCIAL,
       R"({"platform":"ig:x","action":"like","handle":"a","timestamp":"2024-03-01T10:00:00Z"})", kInvalidField,
       "platform"},
      {"handle only @", v1::CHANNEL_SOCIAL,
       R"({"platform":"x","action":"like","handle":" @ ","timestamp":"2024-03-01T10:00:00Z"})", kInvalidField,
       "handle"},
      {"quantity zero", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":1,"items":[{"sku":"a","quantity":0}],)" + good_customer + "}",
       kInvalidField, "items[0].quantity"},
      {"quantity fractional", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":1,"items":[{"sku":"a","quantity":1},{"quantity":1.5}],)" +
           good_customer + "}",
       kInvalidField, "items[1].quantity"},
      {"quantity string", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":1,"items":[{"quantity":"2"}],)" + good_customer + "}", kInvalidField,
       "items[0].quantity"},
      {"quantity negative", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":1,"items":[{"quantity":-1}],)" + good_customer + "}", kInvalidField,
       "items[0].quantity"},
      {"item not an object", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":1,"items":["a"],)" + good_customer + "}", kInvalidField, "items[0]"},
      {"unknown order channel", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":1,"channel":"telepathy",)" + good_customer + "}", kInvalidField,
       "channel"},
      {"customer array", v1::CHANNEL_PURCHASE, order_head + R"("currency":"THB","total":1,"customer":[]})",
       kInvalidField, "customer"},
      // invalid_currency
      {"currency XXY", v1::CHANNEL_PURCHASE, order_head + R"("currency":"XXY","total":1,)" + good_customer + "}",
       kInvalidCurrency, "XXY"},
      {"currency gold", v1::CHANNEL_PURCHASE, order_head + R"("currency":"XAU","total":1,)" + good_customer + "}",
       kInvalidCurrency, "XAU"},
      {"currency number", v1::CHANNEL_PURCHASE, order_head + R"("currency":764,"total":1,)" + good_customer + "}",
       kInvalidCurrency, "currency"},
      // invalid_amount
      {"12.345 THB", v1::CHANNEL_PURCHASE, order_head + R"("currency":"THB","total":"12.345",)" + good_customer + "}",
       kInvalidAmount, "total"},
      {"12.345 THB as number", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":12.345,)" + good_customer + "}", kInvalidAmount, "total"},
      {"exponent notation", v1::CHANNEL_PURCHASE, order_head + R"("currency":"THB","total":1e3,)" + good_customer + "}",
       kInvalidAmount, "total"},
      {"negative total", v1::CHANNEL_PURCHASE, order_head + R"("currency":"THB","total":-5,)" + good_customer + "}",
       kInvalidAmount, "total"},
      {"words", v1::CHANNEL_PURCHASE, order_head + R"("currency":"THB","total":"ten baht",)" + good_customer + "}",
       kInvalidAmount, "total"},
      {"total boolean", v1::CHANNEL_PURCHASE, order_head + R"("currency":"THB","total":true,)" + good_customer + "}",
       kInvalidAmount, "total"},
      {"fractional yen", v1::CHANNEL_PURCHASE, order_head + R"("currency":"JPY","total":"5.5",)" + good_customer + "}",
       kInvalidAmount, "total"},
      {"bad discount", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":1,"discount":"0.001",)" + good_customer + "}", kInvalidAmount,
       "discount"},
      {"bad unit price", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":1,"items":[{"unit_price":"1.999"}],)" + good_customer + "}",
       kInvalidAmount, "items[0].unit_price"},
      {"overflowing total", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":"99999999999999999999",)" + good_customer + "}", kInvalidAmount,
       "total"},
      // invalid_timestamp
      {"web timestamp yesterday", v1::CHANNEL_WEB,
       R"({"type":"track","userId":"u","event":"E","timestamp":"yesterday"})", kInvalidTimestamp, "yesterday"},
      {"web timestamp number", v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"E","timestamp":1709262930})",
       kInvalidTimestamp, "timestamp"},
      {"web originalTimestamp garbage", v1::CHANNEL_WEB,
       R"({"type":"track","userId":"u","event":"E","originalTimestamp":"2024-02-30T10:00:00Z"})", kInvalidTimestamp,
       "originalTimestamp"},
      {"social timestamp yesterday", v1::CHANNEL_SOCIAL, social_head + R"("timestamp":"yesterday"})",
       kInvalidTimestamp, "timestamp"},
      {"order timestamp date only", v1::CHANNEL_PURCHASE,
       R"({"order_id":"o","timestamp":"2024-03-01","status":"completed","currency":"THB","total":1,)" + good_customer +
           "}",
       kInvalidTimestamp, "timestamp"},
      // no_identifier
      {"web without userId or anonymousId", v1::CHANNEL_WEB,
       R"({"type":"identify","traits":{"email":"somchai@example.com"}})", kNoIdentifier, "userId or anonymousId"},
      {"web with empty ids", v1::CHANNEL_WEB, R"({"type":"track","userId":"","anonymousId":null,"event":"E"})",
       kNoIdentifier, ""},
      {"customer with only a name", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":1,"customer":{"name":"สมชาย"}})", kNoIdentifier, "customer"},
      {"customer with unusable email and phone", v1::CHANNEL_PURCHASE,
       order_head + R"("currency":"THB","total":1,"customer":{"email":"n/a","phone":"000","loyalty_id":"  "}})",
       kNoIdentifier, "customer"},
  };
}

TEST_F(IngestTest, EachRejectionHasItsReason) {
  for (const RejectionCase& c : RejectionCases()) {
    SCOPED_TRACE(c.name);
    const Rejection rejection = ParseRejected(c.channel, c.payload);
    EXPECT_EQ(rejection.reason, c.reason) << rejection.detail;
    EXPECT_NE(rejection.detail.find(c.detail_contains), std::string::npos)
        << "detail '" << rejection.detail << "' should mention '" << c.detail_contains << "'";
    EXPECT_FALSE(rejection.detail.empty());
  }
}

TEST_F(IngestTest, SizeLimitIsInclusiveAndCheckedBeforeParsing) {
  const std::string head = R"({"type":"track","userId":"u","event":"E","properties":{"blob":")";
  const std::string tail = "\"}}";
  const std::string at_limit = head + std::string(32 * 1024 - head.size() - tail.size(), 'x') + tail;
  ASSERT_EQ(at_limit.size(), 32u * 1024u);
  EXPECT_TRUE(std::holds_alternative<v1::Event>(Parse(v1::CHANNEL_WEB, at_limit)));
  // One byte over, and not even JSON: too_large all the same.
  EXPECT_EQ(ParseRejected(v1::CHANNEL_WEB, std::string(32 * 1024 + 1, '{')).reason, kTooLarge);
}

TEST_F(IngestTest, DeadLetterKeepsTheOriginalBytes) {
  const std::string payload = "{\"type\":\"bogus\",\"userId\":\"\xe0\xb8\x81\"}";
  const Rejection rejection = ParseRejected(v1::CHANNEL_WEB, payload);
  const v1::DeadLetter letter = MakeDeadLetter(payload, Source(v1::CHANNEL_WEB), rejection, kReceivedAt + 5);
  EXPECT_EQ(letter.payload(), payload);
  EXPECT_EQ(letter.source().topic(), "raw.web");
  EXPECT_EQ(letter.source().partition(), 3);
  EXPECT_EQ(letter.source().offset(), 42);
  EXPECT_EQ(letter.reason(), "unknown_type");
  EXPECT_EQ(letter.detail(), rejection.detail);
  EXPECT_EQ(letter.stage(), "ingest");
  EXPECT_EQ(letter.rejected_at_ms(), kReceivedAt + 5);
}

TEST(ChannelNameTest, RoundTrips) {
  for (v1::Channel channel : {v1::CHANNEL_WEB, v1::CHANNEL_SOCIAL, v1::CHANNEL_PURCHASE}) {
    EXPECT_EQ(ChannelFromName(ChannelName(channel)), channel);
  }
  EXPECT_EQ(ChannelFromName("Web"), v1::CHANNEL_UNSPECIFIED);
  EXPECT_EQ(ChannelFromName("email"), v1::CHANNEL_UNSPECIFIED);
}

// ---------------------------------------------------------------- derived message ids

TEST_F(IngestTest, DerivedMessageIdIsAStableHashOfThePayload) {
  // FNV-1a 64 of the exact bytes: pinned, because a replayed record must get the same id forever.
  const std::string_view payload = R"({"type":"page","anonymousId":"anon-1","name":"Pricing"})";
  EXPECT_EQ(ParseOk(v1::CHANNEL_WEB, payload).message_id(), "web:07e1978a35957725");
  EventParser another(TestOptions());
  const ParseOutcome again = another.Parse(v1::CHANNEL_WEB, payload, Source(v1::CHANNEL_WEB), kReceivedAt + 1000);
  EXPECT_EQ(std::get<v1::Event>(again).message_id(), "web:07e1978a35957725");
  // Different bytes (even only white space) are a different record.
  EXPECT_NE(ParseOk(v1::CHANNEL_WEB, R"({"type":"page", "anonymousId":"anon-1","name":"Pricing"})").message_id(),
            "web:07e1978a35957725");
}

// ---------------------------------------------------------------- properties

// Good messages with explicit message ids (so their events do not depend on the exact bytes).
std::vector<std::pair<v1::Channel, std::string>> GoodMessages() {
  return {
      {v1::CHANNEL_WEB,
       R"({"type":"identify","messageId":"p-1","userId":"u-1","traits":{"name":"สมชาย ใจดี","email":"S@Example.com",)"
       R"("phone":"081-234-5678","tags":["a",{"b":[true,false,null]}],"score":-1.5E-3},"timestamp":"2024-03-01T10:15:30Z"})"},
      {v1::CHANNEL_WEB,
       R"({"type":"track","messageId":"p-2","anonymousId":"a-2","event":"Added to Cart","properties":{"sku":"ชา",)"
       R"("price":45.5,"qty":2,"meta":{}},"context":{"traits":{"email":"x@y.co"},"page":{"url":"/"}}})"},
      {v1::CHANNEL_WEB,
       R"({"type":"alias","messageId":"p-3","userId":"u-3","previousId":"a-3","timestamp":"2024-03-01T10:15:30+07:00"})"},
      {v1::CHANNEL_SOCIAL,
       R"({"messageId":"p-4","platform":"tiktok","action":"review","handle":"@Nok","rating":4,"text":"อร่อย",)"
       R"("phone":"0812345678","timestamp":"2024-03-01T10:15:30+07:00"})"},
      {v1::CHANNEL_PURCHASE,
       R"({"order_id":"p-5","timestamp":"2024-03-01T10:15:30+07:00","currency":"THB","status":"completed",)"
       R"("total":"201.00","discount":0,"customer":{"email":"S@Example.com","name":"สมชาย","address":{"city":"ลำปาง"}},)"
       R"("items":[{"sku":"a","category":"Tea","quantity":2,"unit_price":"45.50"},{"sku":"b","unit_price":120}]})"},
  };
}

// Re-spaces compact JSON: random white space after every structural character outside strings.
std::string Respace(std::string_view json, std::mt19937& random) {
  static constexpr std::string_view kSpaces[] = {"", " ", "\n", "\t", "\r\n  ", "   "};
  std::string out;
  bool in_string = false;
  bool escaped = false;
  for (char c : json) {
    out.push_back(c);
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':') {
      out.append(kSpaces[random() % std::size(kSpaces)]);
    }
  }
  return std::string(kSpaces[random() % std::size(kSpaces)]) + out;
}

// Splits a compact top-level object into its "key":value members (at depth one, outside strings).
std::vector<std::string> TopLevelMembers(std::string_view json) {
  std::vector<std::string> members;
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  size_t start = 1;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
    if ((c == ',' && depth == 1) || depth == 0) {
      members.emplace_back(json.substr(start, i - start));
      start = i + 1;
    }
  }
  return members;
}

// Property: the event depends on the JSON's content, not its layout: any white space between
// tokens and any order of the top-level fields give the same event.
TEST_F(IngestTest, LayoutAndFieldOrderDoNotMatter) {
  std::mt19937 random(1);
  for (const auto& [channel, payload] : GoodMessages()) {
    const v1::Event expected = ParseOk(channel, payload);
    std::vector<std::string> members = TopLevelMembers(payload);
    ASSERT_GE(members.size(), 3u) << payload;
    for (int i = 0; i < 200; ++i) {
      std::shuffle(members.begin(), members.end(), random);
      std::string reordered = "{";
      for (size_t m = 0; m < members.size(); ++m) reordered += (m == 0 ? "" : ",") + members[m];
      reordered += "}";
      const std::string variant = Respace(reordered, random);
      const v1::Event actual = ParseOk(channel, variant);
      ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(expected, actual))
          << variant << "\nexpected:\n" << expected.DebugString() << "actual:\n" << actual.DebugString();
    }
  }
}

// Property: every proper prefix of a message is incomplete JSON, whatever byte it ends on
// (including inside a Thai character), and is rejected as invalid_json: never accepted, never a
// crash, never an over-read (the sanitizer build checks that).
TEST_F(IngestTest, EveryTruncationIsInvalidJson) {
  for (const auto& [channel, payload] : GoodMessages()) {
    for (size_t length = 0; length < payload.size(); ++length) {
      const std::string prefix = payload.substr(0, length);
      const Rejection rejection = ParseRejected(channel, prefix);
      ASSERT_EQ(rejection.reason, kInvalidJson) << prefix << " -> " << rejection.detail;
    }
  }
}

// Property: one parser reused across messages in any order gives each message the same outcome as
// a fresh parser (no state leaks from one record into the next), and corrupted bytes are either
// rejected or give an event that still has an id, a type and an identifier.
TEST_F(IngestTest, ReuseAndCorruptionAreSafe) {
  std::vector<std::pair<v1::Channel, std::string>> messages = GoodMessages();
  std::mt19937 random(7);
  static constexpr char kNasty[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '\0', '\xff', '\xe0', '0', 'e', '-', ' '};
  for (int i = 0; i < 4000; ++i) {
    auto [channel, payload] = messages[random() % messages.size()];
    const int mutations = static_cast<int>(random() % 3);
    for (int m = 0; m < mutations; ++m) payload[random() % payload.size()] = kNasty[random() % std::size(kNasty)];
    const ParseOutcome reused = Parse(channel, payload);
    EventParser fresh(TestOptions());
    const ParseOutcome expected = fresh.Parse(channel, payload, Source(channel), kReceivedAt);
    ASSERT_EQ(reused.index(), expected.index()) << payload;
    if (const v1::Event* event = std::get_if<v1::Event>(&reused)) {
      ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*event, std::get<v1::Event>(expected))) << payload;
      ASSERT_FALSE(event->message_id().empty()) << payload;
      ASSERT_FALSE(event->type().empty()) << payload;
      ASSERT_GT(event->identifiers_size(), 0) << payload;
    } else {
      ASSERT_EQ(std::get<Rejection>(reused).reason, std::get<Rejection>(expected).reason) << payload;
    }
  }
}

}  // namespace
}  // namespace tessera::ingest
