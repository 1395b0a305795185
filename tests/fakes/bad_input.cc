#include "tests/fakes/bad_input.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "ingest/ingest.h"

namespace tessera::testing {
namespace {

// Valid messages of each channel; every bad record is one of them with exactly one thing broken.
constexpr std::string_view kGoodTrack =
    R"({"type":"track","messageId":"bad-web-1","anonymousId":"6f1c2a9e-bad0-4c3d-8e21-000000000001",)"
    R"("event":"Product Viewed","properties":{"product_id":"BK-LAT-02"},"timestamp":"2024-04-01T10:00:00.000Z"})";

constexpr std::string_view kGoodSocial =
    R"({"messageId":"bad-social-1","platform":"instagram","action":"review","handle":"@bad.input",)"
    R"("text":"อร่อยมาก","post_id":"ig-post-1","rating":5,"timestamp":"2024-04-01T10:00:00Z"})";

constexpr std::string_view kGoodPurchase =
    R"({"order_id":"BAD-0001","timestamp":"2024-04-01T10:00:00+07:00","channel":"store",)"
    R"("store_id":"BKK-SIAM-01","currency":"THB",)"
    R"("customer":{"email":"bad.input@gmail.com","phone":"081-234-5678"},)"
    R"("items":[{"sku":"BK-LAT-02","name":"Iced Latte","category":"coffee","quantity":1,"unit_price":"85.00"}],)"
    R"("total":"85.00","status":"completed"})";

// `good` with `from` replaced by `to`. A `from` that does not occur is a bug in this file: abort
// rather than hand out a record that is not broken the way its reason says.
std::string With(std::string_view good, std::string_view from, std::string_view to) {
  if (good.find(from) == std::string_view::npos) {
    std::fprintf(stderr, "bad_input.cc: '%.*s' not found\n", static_cast<int>(from.size()), from.data());
    std::abort();
  }
  // Debian's Abseil has its own absl::string_view, hence the explicit conversions.
  return absl::StrReplaceAll(absl::string_view(good.data(), good.size()),
                             {{absl::string_view(from.data(), from.size()), absl::string_view(to.data(), to.size())}});
}

}  // namespace

std::vector<BadRecord> BadRecords() {
  using v1::CHANNEL_PURCHASE;
  using v1::CHANNEL_SOCIAL;
  using v1::CHANNEL_WEB;
  std::vector<BadRecord> bad;
  const auto add = [&bad](v1::Channel channel, std::string payload, std::string_view reason, std::string what) {
    bad.push_back(BadRecord{channel, std::move(payload), std::string(reason), std::move(what)});
  };

  // invalid_json
  add(CHANNEL_WEB, std::string(kGoodTrack.substr(0, kGoodTrack.size() - 1)), ingest::kInvalidJson,
      "malformed JSON (closing brace missing)");
  add(CHANNEL_WEB, R"(["track","Product Viewed"])", ingest::kInvalidJson, "JSON array, not an object");
  add(CHANNEL_WEB, "", ingest::kInvalidJson, "empty payload");
  add(CHANNEL_SOCIAL, With(kGoodSocial, "อร่อยมาก", "caf\xC3\x28"), ingest::kInvalidJson,
      "invalid UTF-8 in a string");

  // too_large: a valid-looking track padded past Segment's 32 KB limit.
  add(CHANNEL_WEB,
      With(kGoodTrack, R"("product_id":"BK-LAT-02")",
           absl::StrCat(R"("product_id":"BK-LAT-02","notes":")", std::string(40 * 1024, 'x'), "\"")),
      ingest::kTooLarge, "40 KB track");

  // missing_field
  add(CHANNEL_WEB, With(kGoodTrack, R"("event":"Product Viewed",)", ""), ingest::kMissingField,
      "track without event");
  add(CHANNEL_PURCHASE, With(kGoodPurchase, R"("order_id":"BAD-0001",)", ""), ingest::kMissingField,
      "order without order_id");
  add(CHANNEL_SOCIAL, With(kGoodSocial, R"("handle":"@bad.input",)", ""), ingest::kMissingField,
      "social interaction without handle");

  // unknown_type
  add(CHANNEL_WEB, With(kGoodTrack, R"("type":"track")", R"("type":"pageview")"), ingest::kUnknownType,
      "web type pageview");
  add(CHANNEL_SOCIAL, With(kGoodSocial, R"("action":"review")", R"("action":"poke")"), ingest::kUnknownType,
      "social action poke");
  add(CHANNEL_PURCHASE, With(kGoodPurchase, R"("status":"completed")", R"("status":"shipped")"),
      ingest::kUnknownType, "order status shipped");

  // invalid_field
  add(CHANNEL_WEB, With(kGoodTrack, R"("messageId":"bad-web-1")", absl::StrCat(R"("messageId":")", std::string(101, 'm'), "\"")),
      ingest::kInvalidField, "messageId of 101 characters");
  add(CHANNEL_SOCIAL, With(kGoodSocial, R"("rating":5)", R"("rating":6)"), ingest::kInvalidField,
      "review rating 6");
  add(CHANNEL_PURCHASE, With(kGoodPurchase, R"("quantity":1)", R"("quantity":0)"), ingest::kInvalidField,
      "item quantity 0");
  add(CHANNEL_PURCHASE, With(kGoodPurchase, R"("channel":"store")", R"("channel":"telepathy")"),
      ingest::kInvalidField, "unknown order channel");

  // invalid_currency, invalid_amount, invalid_timestamp
  add(CHANNEL_PURCHASE, With(kGoodPurchase, R"("currency":"THB")", R"("currency":"XXY")"), ingest::kInvalidCurrency,
      "currency XXY");
  add(CHANNEL_PURCHASE, With(kGoodPurchase, R"("total":"85.00")", R"("total":"12.345")"), ingest::kInvalidAmount,
      "THB total with three decimals");
  add(CHANNEL_SOCIAL, With(kGoodSocial, R"("timestamp":"2024-04-01T10:00:00Z")", R"("timestamp":"yesterday")"),
      ingest::kInvalidTimestamp, "timestamp yesterday");
  add(CHANNEL_WEB,
      With(kGoodTrack, R"("timestamp":"2024-04-01T10:00:00.000Z")", R"("timestamp":"2024-13-45T25:61:00Z")"),
      ingest::kInvalidTimestamp, "timestamp with month 13");

  // no_identifier
  add(CHANNEL_WEB, With(kGoodTrack, R"("anonymousId":"6f1c2a9e-bad0-4c3d-8e21-000000000001",)", ""),
      ingest::kNoIdentifier, "web call with neither userId nor anonymousId");
  add(CHANNEL_PURCHASE,
      With(kGoodPurchase, R"({"email":"bad.input@gmail.com","phone":"081-234-5678"})",
           R"({"email":"not an email","phone":"12","name":"Walk-in"})"),
      ingest::kNoIdentifier, "order whose customer has no usable email or phone");
  return bad;
}

}  // namespace tessera::testing
