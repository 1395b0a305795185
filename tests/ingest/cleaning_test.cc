// Pins the cleaning half of ingest (docs/data-quality.md) through EventParser: junk identifier
// values, invalid emails and phones in real-world formats, consent, tracking plans and the quality
// counters every outcome leaves.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ingest/ingest.h"
#include "ingest/ingest_config.h"
#include "ingest/quality.h"
#include "tests/fakes/memory_kv.h"

namespace tessera::ingest {
namespace {

constexpr int64_t kReceivedAt = 1709300000000;  // 2024-03-01T13:33:20Z
constexpr int64_t kHour = 1709298000000;        // 2024-03-01T13:00:00Z

std::vector<std::string> Identifiers(const v1::Event& event) {
  std::vector<std::string> out;
  for (const v1::Identifier& id : event.identifiers()) out.push_back(id.type() + ":" + id.value());
  return out;
}

class CleaningTest : public ::testing::Test {
 protected:
  explicit CleaningTest(std::string_view config_yaml = "", std::string region = "TH") {
    IngestOptions options;
    options.workspace = "acme";
    options.default_phone_region = std::move(region);
    if (!config_yaml.empty()) options.cleaning = ParseIngestConfig(config_yaml).value();
    parser_ = std::make_unique<EventParser>(options);
  }

  ParseOutcome Parse(v1::Channel channel, std::string_view payload, RecordOrigin origin = {}) {
    return parser_->Parse(channel, payload, v1::SourcePosition(), kReceivedAt, origin);
  }
  v1::Event ParseOk(v1::Channel channel, std::string_view payload, RecordOrigin origin = {}) {
    ParseOutcome outcome = Parse(channel, payload, origin);
    if (const Rejection* r = std::get_if<Rejection>(&outcome)) {
      ADD_FAILURE() << "rejected " << r->reason << " (" << r->detail << "): " << payload;
      return v1::Event();
    }
    return std::get<v1::Event>(std::move(outcome));
  }
  Rejection ParseRejected(v1::Channel channel, std::string_view payload, RecordOrigin origin = {}) {
    ParseOutcome outcome = Parse(channel, payload, origin);
    if (std::holds_alternative<v1::Event>(outcome)) {
      ADD_FAILURE() << "accepted: " << payload;
      return Rejection();
    }
    return std::get<Rejection>(std::move(outcome));
  }
  // Identify with one trait set to the raw JSON `value`.
  v1::Event IdentifyWith(std::string_view trait, std::string_view json_value) {
    return ParseOk(v1::CHANNEL_WEB, std::string(R"({"type":"identify","userId":"u-1","traits":{")") +
                                        std::string(trait) + "\":" + std::string(json_value) + "}}");
  }
  int64_t Counter(std::string_view counter, std::string_view source = "web", std::string_view workspace = "acme") {
    return parser_->quality().Pending(workspace, source, kReceivedAt, counter);
  }

  std::unique_ptr<EventParser> parser_;
};

// ---------------------------------------------------------------- blocklist

TEST_F(CleaningTest, JunkIdentifierValuesAreDroppedAndCounted) {
  struct Case {
    std::string userId;  // JSON of userId
    std::string expected_reason;  // "" = kept
  };
  const std::vector<Case> cases = {
      {R"("null")", "value"},       {R"("NULL")", "value"},        {R"("undefined")", "value"},
      {R"("anonymous")", "value"},  {R"("none")", "value"},        {R"("n/a")", "value"},
      {R"("0")", "value"},          {"0", "value"},                {"-1", "value"},
      {R"("[object Object]")", "value"}, {R"("unknown")", "value"}, {R"("   ")", "empty"},
      {R"("\u00a0")", "empty"},     {R"("u-1001")", ""},           {"1001", ""},
      {R"("nullable-user")", ""},
  };
  for (const Case& c : cases) {
    const v1::Event event = ParseOk(
        v1::CHANNEL_WEB, R"({"type":"track","event":"E","anonymousId":"anon-1","userId":)" + c.userId + "}");
    const bool kept = std::count_if(event.identifiers().begin(), event.identifiers().end(),
                                    [](const v1::Identifier& id) { return id.type() == "user_id"; }) == 1;
    EXPECT_EQ(kept, c.expected_reason.empty()) << c.userId;
    EXPECT_EQ(Identifiers(event).back(), c.expected_reason.empty() ? Identifiers(event).back() : "anonymous_id:anon-1");
  }
  EXPECT_EQ(Counter("blocked.user_id.value"), 11);
  EXPECT_EQ(Counter("blocked.user_id.empty"), 2);
  EXPECT_EQ(Counter("accepted"), static_cast<int64_t>(cases.size()));
}

TEST_F(CleaningTest, JunkEmailsAndPhonesAreNeitherIdentifiersNorTraits) {
  struct Case {
    std::string trait, value, counter;
  };
  const std::vector<Case> cases = {
      {"email", "test@test.com", "blocked.email.value"},
      {"email", " TEST@Example.com ", "blocked.email.value"},
      {"email", "noemail@gmail.com", "blocked.email.pattern"},
      {"email", "no-email@shop.co.th", "blocked.email.pattern"},
      {"email", "noreply@shop.co.th", "blocked.email.pattern"},
      {"email", "none@none.com", "blocked.email.value"},
      {"phone", "+66 88 888 8888", "blocked.phone.pattern"},
      {"phone", "+44 7777 777777", "blocked.phone.pattern"},
  };
  for (const Case& c : cases) {
    const v1::Event event = IdentifyWith(c.trait, "\"" + c.value + "\"");
    EXPECT_EQ(Identifiers(event), std::vector<std::string>{"user_id:u-1"}) << c.value;
    EXPECT_FALSE(event.traits().contains(c.trait)) << c.value;
    EXPECT_FALSE(event.traits().contains(c.trait + "_invalid")) << c.value;
  }
  EXPECT_EQ(Counter("blocked.email.value"), 3);
  EXPECT_EQ(Counter("blocked.email.pattern"), 3);
  EXPECT_EQ(Counter("blocked.phone.pattern"), 2);
}

TEST_F(CleaningTest, AnEventLeftWithoutIdentifiersIsRejected) {
  Rejection web = ParseRejected(v1::CHANNEL_WEB, R"({"type":"track","event":"E","userId":"undefined","anonymousId":"null"})");
  EXPECT_EQ(web.reason, "no_identifier");
  EXPECT_NE(web.detail.find("blocklist"), std::string::npos) << web.detail;
  Rejection purchase = ParseRejected(
      v1::CHANNEL_PURCHASE,
      R"({"order_id":"1","timestamp":"2024-03-01T10:00:00Z","currency":"THB","status":"completed","total":1,)"
      R"("customer":{"email":"test@test.com","user_id":"0"}})");
  EXPECT_EQ(purchase.reason, "no_identifier");
  Rejection social = ParseRejected(
      v1::CHANNEL_SOCIAL,
      R"({"platform":"line","action":"message","handle":"unknown","timestamp":"2024-03-01T10:00:00Z"})");
  EXPECT_EQ(social.reason, "no_identifier");
  EXPECT_EQ(Counter("rejected.no_identifier"), 1);
  EXPECT_EQ(Counter("rejected.no_identifier", "purchase"), 1);
  EXPECT_EQ(Counter("rejected.no_identifier", "social"), 1);
  EXPECT_EQ(Counter("blocked.anonymous_id.value"), 1);  // blocked values explain the rejection
  EXPECT_EQ(Counter("blocked.line.value", "social"), 1);
  EXPECT_EQ(Counter("accepted"), 0);
}

TEST(CleaningConfigTest, WorkspaceBlocklistsAddToTheDefaultsOrReplaceThem) {
  IngestOptions options;
  options.workspace = "baankafe";
  options.cleaning = ParseIngestConfig(R"(
ingest:
  blocklist:
    values: {email: ["info@baankafe.co.th"]}
    patterns: {user_id: ['guest-\d+']}
  workspaces:
    lenient:
      blocklist: {use_defaults: false, values: {user_id: ["nobody"]}}
)").value();
  EventParser parser(options);
  auto ids = [&](std::string_view workspace, std::string_view user_id, std::string_view email) {
    ParseOutcome outcome = parser.Parse(
        v1::CHANNEL_WEB,
        std::string(R"({"type":"identify","userId":")") + std::string(user_id) + R"(","traits":{"email":")" +
            std::string(email) + R"("}})",
        v1::SourcePosition(), kReceivedAt, RecordOrigin{workspace, ""});
    return std::holds_alternative<v1::Event>(outcome) ? Identifiers(std::get<v1::Event>(outcome))
                                                      : std::vector<std::string>{std::get<Rejection>(outcome).reason};
  };
  EXPECT_EQ(ids("baankafe", "u-1", "info@baankafe.co.th"), std::vector<std::string>{"user_id:u-1"});
  EXPECT_EQ(ids("baankafe", "guest-42", "a@baankafe.co.th"), std::vector<std::string>{"email:a@baankafe.co.th"});
  EXPECT_EQ(ids("baankafe", "null", "test@test.com"), std::vector<std::string>{"no_identifier"});
  // "lenient" starts from an empty list: only its own value is blocked.
  EXPECT_EQ(ids("lenient", "null", "test@test.com"),
            (std::vector<std::string>{"user_id:null", "email:test@test.com"}));
  EXPECT_EQ(ids("lenient", "nobody", "info@baankafe.co.th"), std::vector<std::string>{"email:info@baankafe.co.th"});
}

// ---------------------------------------------------------------- emails and phones

TEST_F(CleaningTest, EmailsAreTrimmedLowerCasedAndSyntaxChecked) {
  struct Case {
    std::string raw;
    std::string identifier;  // "" = invalid: not an identifier, kept as email_invalid
  };
  const std::vector<Case> cases = {
      {"Somchai.J@Example.CO.TH", "somchai.j@example.co.th"},
      {"  somsri.m@gmail.com  ", "somsri.m@gmail.com"},
      {"\u00a0EMMA.BROWN@OUTLOOK.COM\u3000", "emma.brown@outlook.com"},
      {"wichai+shop@hotmail.co.th", "wichai+shop@hotmail.co.th"},
      {"ณัฐ@ตัวอย่าง.ไทย", "ณัฐ@ตัวอย่าง.ไทย"},
      {"somchai at gmail.com", ""},
      {"somchai@gmail", ""},
      {"som chai@gmail.com", ""},
      {"somchai@@gmail.com", ""},
      {".somchai@gmail.com", ""},
      {"somchai@gmail..com", ""},
      {"@gmail.com", ""},
  };
  for (const Case& c : cases) {
    const v1::Event event = IdentifyWith("email", "\"" + c.raw + "\"");
    if (c.identifier.empty()) {
      EXPECT_EQ(Identifiers(event), std::vector<std::string>{"user_id:u-1"}) << c.raw;
      EXPECT_FALSE(event.traits().contains("email")) << c.raw;
      EXPECT_EQ(event.traits().at("email_invalid"), "\"" + c.raw + "\"") << c.raw;
    } else {
      EXPECT_EQ(Identifiers(event), (std::vector<std::string>{"user_id:u-1", "email:" + c.identifier})) << c.raw;
      EXPECT_EQ(event.traits().at("email"), "\"" + c.identifier + "\"") << c.raw;  // the trait is the identifier
    }
  }
  EXPECT_EQ(Counter("invalid.email"), 7);
  EXPECT_EQ(Counter("normalized.email"), 3);  // the first three changed; the last two were already clean
}

struct PhoneCase {
  std::string region;
  std::string raw;       // JSON
  std::string e164;      // "" = invalid
};

void PrintTo(const PhoneCase& c, std::ostream* os) { *os << c.region << " " << c.raw; }

class PhoneFormatsTest : public ::testing::TestWithParam<PhoneCase> {};

TEST_P(PhoneFormatsTest, StoredAsE164OrFlaggedInvalid) {
  const PhoneCase& c = GetParam();
  IngestOptions options;
  options.default_phone_region = c.region;
  EventParser parser(options);
  ParseOutcome outcome = parser.Parse(
      v1::CHANNEL_WEB, R"({"type":"identify","userId":"u-1","traits":{"phone":)" + c.raw + "}}", v1::SourcePosition(),
      kReceivedAt);
  ASSERT_TRUE(std::holds_alternative<v1::Event>(outcome)) << c.raw;
  const v1::Event& event = std::get<v1::Event>(outcome);
  if (c.e164.empty()) {
    EXPECT_EQ(Identifiers(event), std::vector<std::string>{"user_id:u-1"});
    EXPECT_EQ(event.traits().at("phone_invalid"), c.raw);
    EXPECT_FALSE(event.traits().contains("phone"));
  } else {
    EXPECT_EQ(Identifiers(event), (std::vector<std::string>{"user_id:u-1", "phone:" + c.e164}));
    EXPECT_EQ(event.traits().at("phone"), "\"" + c.e164 + "\"");
  }
}

INSTANTIATE_TEST_SUITE_P(
    RealWorld, PhoneFormatsTest,
    ::testing::Values(
        // Thailand: mobile 08x/09x/06x, Bangkok landline, with and without the country code.
        PhoneCase{"TH", R"("081-234-5678")", "+66812345678"}, PhoneCase{"TH", R"("0812345678")", "+66812345678"},
        PhoneCase{"TH", R"("081 234 5678")", "+66812345678"}, PhoneCase{"TH", R"("+66 81 234 5678")", "+66812345678"},
        PhoneCase{"TH", R"("+66812345678")", "+66812345678"}, PhoneCase{"TH", R"("(+66) 81-234-5678")", "+66812345678"},
        PhoneCase{"TH", R"("66812345678")", "+66812345678"},  PhoneCase{"TH", "66812345678", "+66812345678"},
        PhoneCase{"TH", R"("+66 (0) 81 234 5678")", "+66812345678"},
        PhoneCase{"TH", R"("096-555-1234")", "+66965551234"}, PhoneCase{"TH", R"("02 123 4567")", "+6621234567"},
        PhoneCase{"TH", R"(" ๐๘๑-๒๓๔-๕๖๗๘ ")", "+66812345678"},  // Thai digits
        PhoneCase{"TH", R"("081-234-567")", ""}, PhoneCase{"TH", R"("0000000000")", ""},
        PhoneCase{"TH", R"("1111111111")", ""}, PhoneCase{"TH", R"("not a phone")", ""},
        PhoneCase{"TH", R"("")", ""},
        // United States.
        PhoneCase{"US", R"("(415) 555-2671")", "+14155552671"}, PhoneCase{"US", R"("415.555.2671")", "+14155552671"},
        PhoneCase{"US", R"("+1 415-555-2671")", "+14155552671"}, PhoneCase{"US", R"("1-415-555-2671")", "+14155552671"},
        PhoneCase{"TH", R"("+1 415-555-2671")", "+14155552671"}, PhoneCase{"US", R"("555-2671")", ""},
        // United Kingdom.
        PhoneCase{"GB", R"("020 7946 0958")", "+442079460958"}, PhoneCase{"GB", R"("07911 123456")", "+447911123456"},
        PhoneCase{"TH", R"("+44 20 7946 0958")", "+442079460958"}, PhoneCase{"TH", R"("+44 (0)20 7946 0958")", "+442079460958"},
        // International, written with the country code.
        PhoneCase{"TH", R"("+65 6123 4567")", "+6561234567"}, PhoneCase{"TH", R"("+81 3-1234-5678")", "+81312345678"},
        PhoneCase{"TH", R"("+49 30 123456")", "+4930123456"}, PhoneCase{"TH", R"("+856 20 5555 1234")", "+8562055551234"}));

// ---------------------------------------------------------------- phone region per source

// One parser, several sources: each reads national numbers in its own configured region
// (`ingest.phone_regions`), whatever the parser's --phone-region; "*" covers the other sources of
// its level, and a workspace's regions override the top level's per source.
constexpr char kPhoneRegionsYaml[] = R"(
ingest:
  phone_regions: {line-oa: TH, uk-shop: GB, social: TH}
  workspaces:
    acme-us:
      phone_regions: {"*": US, uk-shop: GB}
)";

struct SourcePhoneCase {
  std::string workspace;  // "" = the parser's (acme)
  std::string source;     // "" = the channel's (web)
  v1::Channel channel;
  std::string raw;   // the phone as JSON
  std::string e164;  // "" = invalid
};

void PrintTo(const SourcePhoneCase& c, std::ostream* os) { *os << c.workspace << "/" << c.source << " " << c.raw; }

class SourcePhoneRegionTest : public ::testing::TestWithParam<SourcePhoneCase> {};

TEST_P(SourcePhoneRegionTest, NationalNumbersAreReadInTheSourcesRegion) {
  const SourcePhoneCase& c = GetParam();
  IngestOptions options;
  options.workspace = "acme";
  options.default_phone_region = "US";  // the parser's default: only sources without a region use it
  options.cleaning = ParseIngestConfig(kPhoneRegionsYaml).value();
  EventParser parser(options);
  const std::string payload =
      c.channel == v1::CHANNEL_SOCIAL
          ? R"({"platform":"line","action":"message","handle":"U1","phone":)" + c.raw + R"(,"timestamp":"2024-03-01T10:00:00Z"})"
          : R"({"type":"identify","userId":"u-1","traits":{"phone":)" + c.raw + "}}";
  // Twice: the second parse answers from the region's cache, which must not leak between regions.
  for (int round = 0; round < 2; ++round) {
    ParseOutcome outcome = parser.Parse(c.channel, payload, v1::SourcePosition(), kReceivedAt,
                                        RecordOrigin{c.workspace, c.source});
    ASSERT_TRUE(std::holds_alternative<v1::Event>(outcome)) << std::get<Rejection>(outcome).detail;
    const v1::Event& event = std::get<v1::Event>(outcome);
    if (c.e164.empty()) {
      EXPECT_FALSE(event.traits().contains("phone")) << event.traits().at("phone");
      EXPECT_EQ(event.traits().at("phone_invalid"), c.raw);
    } else {
      EXPECT_EQ(event.traits().at("phone"), "\"" + c.e164 + "\"");
      const std::vector<std::string> ids = Identifiers(event);
      EXPECT_NE(std::find(ids.begin(), ids.end(), "phone:" + c.e164), ids.end());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Configured, SourcePhoneRegionTest,
    ::testing::Values(
        // A Thai shop's LINE source: 081-234-5678 is +66812345678, as it would be written with +66.
        SourcePhoneCase{"", "line-oa", v1::CHANNEL_WEB, R"("081-234-5678")", "+66812345678"},
        SourcePhoneCase{"", "line-oa", v1::CHANNEL_WEB, R"("+66812345678")", "+66812345678"},
        SourcePhoneCase{"", "line-oa", v1::CHANNEL_WEB, R"("02 123 4567")", "+6621234567"},
        SourcePhoneCase{"", "line-oa", v1::CHANNEL_WEB, R"("(415) 555-2671")", ""},  // not a Thai number
        SourcePhoneCase{"", "line-oa", v1::CHANNEL_WEB, R"("+1 415-555-2671")", "+14155552671"},
        // The social channel, named by its channel (no collector header).
        SourcePhoneCase{"", "", v1::CHANNEL_SOCIAL, R"("0812345678")", "+66812345678"},
        // A UK source in the same workspace.
        SourcePhoneCase{"", "uk-shop", v1::CHANNEL_WEB, R"("07911 123456")", "+447911123456"},
        SourcePhoneCase{"", "uk-shop", v1::CHANNEL_WEB, R"("020 7946 0958")", "+442079460958"},
        SourcePhoneCase{"", "uk-shop", v1::CHANNEL_WEB, R"("081-234-5678")", ""},
        // A source without a region: the parser's default (US).
        SourcePhoneCase{"", "", v1::CHANNEL_WEB, R"("(415) 555-2671")", "+14155552671"},
        SourcePhoneCase{"", "", v1::CHANNEL_WEB, R"("081-234-5678")", ""},
        // Workspace acme-us: "*" is US for its other sources; uk-shop stays GB; line-oa inherits TH.
        SourcePhoneCase{"acme-us", "web", v1::CHANNEL_WEB, R"("415.555.2671")", "+14155552671"},
        SourcePhoneCase{"acme-us", "uk-shop", v1::CHANNEL_WEB, R"("07911 123456")", "+447911123456"},
        SourcePhoneCase{"acme-us", "line-oa", v1::CHANNEL_WEB, R"("081 234 5678")", "+66812345678"}));

TEST(PhoneRegionConfigTest, UnknownRegionsAndShapesNameTheirKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ingest: {phone_regions: {web: XX}}", "ingest.phone_regions.web"},
      {"ingest: {phone_regions: {web: th}}", "unknown phone region 'th'"},
      {"ingest: {phone_regions: [TH]}", "ingest.phone_regions"},
      {"ingest: {workspaces: {a: {phone_regions: {web: Thailand}}}}", "ingest.workspaces.a.phone_regions.web"},
  };
  for (const auto& [yaml, expected] : cases) {
    absl::StatusOr<std::shared_ptr<const CleaningConfig>> config = ParseIngestConfig(yaml);
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_NE(std::string(config.status().message()).find(expected), std::string::npos)
        << yaml << " -> " << config.status().message();
  }
}

// ---------------------------------------------------------------- consent

TEST_F(CleaningTest, ConsentFromSegmentContextAndFromIdentifyTraits) {
  const v1::Event track = ParseOk(
      v1::CHANNEL_WEB,
      R"({"type":"track","event":"E","userId":"u-1","context":{"consent":{"categoryPreferences":)"
      R"({"Advertising":false,"analytics":true,"Email_Marketing":"granted","weird":3,"x":null}}}})");
  EXPECT_EQ((std::map<std::string, bool>(track.consent().begin(), track.consent().end())),
            (std::map<std::string, bool>{{"advertising", false}, {"analytics", true}, {"email_marketing", true}}));
  // An identify's consent trait states purposes too, and wins over the context for the same purpose.
  const v1::Event identify = ParseOk(
      v1::CHANNEL_WEB,
      R"({"type":"identify","userId":"u-1","context":{"consent":{"categoryPreferences":{"sms_marketing":true}}},)"
      R"("traits":{"consent":{"sms_marketing":"denied","personalization":true},"name":"A"}})");
  EXPECT_EQ((std::map<std::string, bool>(identify.consent().begin(), identify.consent().end())),
            (std::map<std::string, bool>{{"sms_marketing", false}, {"personalization", true}}));
  EXPECT_FALSE(identify.traits().contains("consent"));
  // Malformed consent is a type error like any other object field.
  EXPECT_EQ(ParseRejected(v1::CHANNEL_WEB, R"({"type":"track","event":"E","userId":"u","context":{"consent":[]}})").reason,
            "invalid_field");
}

// ---------------------------------------------------------------- tracking plans

constexpr char kPlans[] = R"(
ingest:
  tracking_plans:
    web:
      mode: reject
      events:
        "Order Completed":
          properties: {order_id: string, revenue: number, items: integer}
          required: [order_id]
        "Product Viewed": {}
      traits: [email, name]
    social:
      mode: strip
      traits: [email]
    website:
      mode: flag
      events:
        "Signed Up": {properties: {plan: string}}
      traits: [email]
)";

class TrackingPlanCleaningTest : public CleaningTest {
 protected:
  TrackingPlanCleaningTest() : CleaningTest(kPlans) {}
};

TEST_F(TrackingPlanCleaningTest, RejectModeSendsViolationsToTheDeadLetterTopic) {
  ParseOk(v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"Order Completed","properties":{"order_id":"A1","revenue":12.5,"items":2}})");
  ParseOk(v1::CHANNEL_WEB, R"({"type":"track","userId":"u","event":"Product Viewed","properties":{"anything":[1]}})");
  ParseOk(v1::CHANNEL_WEB, R"({"type":"page","userId":"u","properties":{"url":"/"}})");  // not a track call
  const std::vector<std::pair<std::string, std::string>> rejected = {
      {R"({"type":"track","userId":"u","event":"Coupon Scraped"})", "unplanned_event 'Coupon Scraped'"},
      {R"({"type":"track","userId":"u","event":"Order Completed","properties":{"order_id":"A1","card_number":"4111"}})",
       "undeclared_property 'card_number'"},
      {R"({"type":"track","userId":"u","event":"Order Completed","properties":{"order_id":"A1","items":2.5}})",
       "wrong_type 'items'"},
      {R"({"type":"track","userId":"u","event":"Order Completed","properties":{"revenue":1}})",
       "missing_property 'order_id'"},
      {R"({"type":"identify","userId":"u","traits":{"email":"a@b.co","national_id":"1234"}})",
       "undeclared_trait 'national_id'"},
  };
  for (const auto& [payload, detail] : rejected) {
    const Rejection r = ParseRejected(v1::CHANNEL_WEB, payload);
    EXPECT_EQ(r.reason, "tracking_plan") << payload;
    EXPECT_NE(r.detail.find(detail), std::string::npos) << r.detail;
  }
  EXPECT_EQ(Counter("rejected.tracking_plan"), 5);
  EXPECT_EQ(Counter("accepted"), 3);
}

TEST_F(TrackingPlanCleaningTest, StripModeRemovesWhatThePlanDoesNotAllow) {
  const v1::Event event = ParseOk(
      v1::CHANNEL_SOCIAL,
      R"({"platform":"instagram","action":"comment","handle":"somchai.k","email":"A@B.co","phone":"0812345678",)"
      R"("timestamp":"2024-03-01T10:00:00Z"})");
  EXPECT_EQ(event.traits().size(), 1u);
  EXPECT_EQ(event.traits().at("email"), R"("a@b.co")");
  // The phone is still an identifier: plans govern traits and properties, not identity.
  EXPECT_EQ(Identifiers(event), (std::vector<std::string>{"instagram:somchai.k", "email:a@b.co", "phone:+66812345678"}));
  EXPECT_EQ(Counter("tracking_plan.undeclared_trait", "social"), 1);
}

TEST_F(TrackingPlanCleaningTest, FlagModeKeepsEverythingAndMarksTheEvent) {
  // "website" is the collector's name for a source: plans are found by it when the record says so.
  const v1::Event event = ParseOk(
      v1::CHANNEL_WEB,
      R"({"type":"track","userId":"u","event":"Signed Up","properties":{"plan":"gold","ref":"fb","n":1},)"
      R"("context":{"traits":{"email":"a@b.co","shoe_size":42}}})",
      RecordOrigin{"", "website"});
  EXPECT_EQ(event.source_name(), "website");
  EXPECT_EQ(event.properties_json(), R"({"plan":"gold","ref":"fb","n":1})");
  EXPECT_TRUE(event.traits().contains("shoe_size"));
  std::vector<std::string> flags(event.quality_flags().begin(), event.quality_flags().end());
  std::sort(flags.begin(), flags.end());
  EXPECT_EQ(flags, (std::vector<std::string>{"tracking_plan:undeclared_property:n", "tracking_plan:undeclared_property:ref",
                                             "tracking_plan:undeclared_trait:shoe_size"}));
  EXPECT_EQ(Counter("tracking_plan.undeclared_property", "website"), 2);
  EXPECT_EQ(Counter("accepted", "website"), 1);
  // The same record without a named source is the web channel's: reject mode.
  EXPECT_EQ(ParseRejected(v1::CHANNEL_WEB,
                          R"({"type":"track","userId":"u","event":"Signed Up","properties":{"plan":"gold"}})")
                .reason,
            "tracking_plan");
}

// ---------------------------------------------------------------- quality counters

TEST_F(CleaningTest, CountersAreStagedIntoTheStoreAndAddUp) {
  ParseOk(v1::CHANNEL_WEB, R"({"type":"identify","userId":"u-1","traits":{"email":" A@B.co ","gender":"F"}})");
  const v1::Event second = ParseOk(v1::CHANNEL_WEB, R"({"type":"track","event":"E","userId":"u-2"})");
  ParseRejected(v1::CHANNEL_WEB, "{not json");
  parser_->CountDuplicate(second);
  testing::MemoryKv kv;
  ASSERT_TRUE(parser_->quality().StageInto(&kv).ok());
  EXPECT_TRUE(parser_->quality().empty());
  ParseOk(v1::CHANNEL_WEB, R"({"type":"track","event":"E","userId":"u-3"})");
  ASSERT_TRUE(parser_->quality().StageInto(&kv).ok());

  std::map<std::string, int64_t> stored;
  for (const auto& [key, value] : kv.data()) {
    const std::optional<QualityKey> decoded = DecodeQualityKey(key);
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->workspace, "acme");
    EXPECT_EQ(decoded->source, "web");
    EXPECT_EQ(decoded->hour_ms, kHour);
    stored[decoded->counter] = DecodeQualityCount(value).value();
  }
  EXPECT_EQ(stored, (std::map<std::string, int64_t>{{"accepted", 2},  // 3 accepted, one of them a duplicate
                                                    {"duplicate", 1},
                                                    {"normalized.email", 1},
                                                    {"normalized.gender", 1},
                                                    {"rejected.invalid_json", 1}}));
}

TEST(QualityPropertyTest, CountsDoNotDependOnTheOrderOfRecords) {
  std::vector<std::pair<v1::Channel, std::string>> records = {
      {v1::CHANNEL_WEB, R"({"type":"identify","userId":"u-1","traits":{"email":" A@B.co ","birthday":"25/11/2533"}})"},
      {v1::CHANNEL_WEB, R"({"type":"track","event":"E","userId":"null","anonymousId":"a-1"})"},
      {v1::CHANNEL_WEB, R"({"type":"track","event":"E","userId":"undefined"})"},
      {v1::CHANNEL_WEB, R"({"type":"track"})"},
      {v1::CHANNEL_SOCIAL, R"({"platform":"line","action":"message","handle":" @Somchai ","phone":"000",)"
                           R"("timestamp":"2024-03-01T10:00:00Z"})"},
      {v1::CHANNEL_PURCHASE, R"({"order_id":"1","timestamp":"2024-03-01T10:00:00Z","currency":"THB",)"
                             R"("status":"completed","total":1,"customer":{"email":"x@y.co","name":" สมชาย  ใจดี "}})"},
      {v1::CHANNEL_PURCHASE, R"({"order_id":"2"})"},
  };
  auto run = [&](const std::vector<std::pair<v1::Channel, std::string>>& input) {
    EventParser parser(IngestOptions{});
    for (const auto& [channel, payload] : input) parser.Parse(channel, payload, v1::SourcePosition(), kReceivedAt);
    testing::MemoryKv kv;
    EXPECT_TRUE(parser.quality().StageInto(&kv).ok());
    return kv.data();
  };
  const std::map<std::string, std::string> expected = run(records);
  EXPECT_GE(expected.size(), 10u);
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(records.begin(), records.end(), rng);
    EXPECT_EQ(run(records), expected) << "round " << round;
  }
}

}  // namespace
}  // namespace tessera::ingest
