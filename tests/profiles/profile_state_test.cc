// Pins profiles/profile_state.cc: what each event does to each field, the JSON the CLI and query
// API serve, and the property that absorbing profiles is a join (the same as applying every event
// to one profile, in any order of absorption).
#include "profiles/profile_state.h"

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/identifier.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "profiles/message_key.h"

namespace tessera::profiles {
namespace {

constexpr int64_t kT0 = 1'795'575'845'000;  // 2026-11-25T03:04:05.000Z

void AddIdentifiers(const std::vector<std::string>& identifiers, v1::Event& event) {
  for (const std::string& text : identifiers) *event.add_identifiers() = ParseIdentifier(text).value();
}

v1::Event Web(const std::string& message_id, int64_t ts, const std::string& type, const std::string& name = "",
              const std::vector<std::string>& identifiers = {"anonymous_id:a-1"}) {
  v1::Event event;
  event.set_message_id(message_id);
  event.set_workspace("baankafe");
  event.set_channel(v1::CHANNEL_WEB);
  event.set_type(type);
  event.set_name(name);
  event.set_timestamp_ms(ts);
  AddIdentifiers(identifiers, event);
  return event;
}

v1::Event Identify(const std::string& message_id, int64_t ts, std::map<std::string, std::string> traits,
                   const std::vector<std::string>& identifiers = {"anonymous_id:a-1"}) {
  v1::Event event = Web(message_id, ts, "identify", "", identifiers);
  for (auto& [name, json] : traits) (*event.mutable_traits())[name] = json;
  return event;
}

v1::Event Social(const std::string& message_id, int64_t ts, const std::string& platform, const std::string& action,
                 const std::string& handle = "somchai.k") {
  v1::Event event;
  event.set_message_id(message_id);
  event.set_workspace("baankafe");
  event.set_channel(v1::CHANNEL_SOCIAL);
  event.set_type(action);
  event.set_timestamp_ms(ts);
  AddIdentifiers({platform + ":" + handle}, event);
  event.mutable_social()->set_platform(platform);
  event.mutable_social()->set_action(action);
  event.mutable_social()->set_handle(handle);
  return event;
}

struct Item {
  std::string category;
  int64_t quantity;
};

v1::Event Purchase(const std::string& order_id, int64_t ts, v1::OrderStatus status, int64_t total_minor,
                   const std::string& currency, const std::vector<Item>& items = {},
                   const std::vector<std::string>& identifiers = {"email:somchai@example.com"}) {
  static const std::map<v1::OrderStatus, std::string> kNames = {{v1::ORDER_STATUS_COMPLETED, "completed"},
                                                                {v1::ORDER_STATUS_REFUNDED, "refunded"},
                                                                {v1::ORDER_STATUS_CANCELLED, "cancelled"}};
  v1::Event event;
  event.set_message_id("order:" + order_id + ":" + kNames.at(status));
  event.set_workspace("baankafe");
  event.set_channel(v1::CHANNEL_PURCHASE);
  event.set_type("order");
  event.set_name(kNames.at(status));
  event.set_timestamp_ms(ts);
  AddIdentifiers(identifiers, event);
  v1::Order& order = *event.mutable_order();
  order.set_order_id(order_id);
  order.set_channel("store");
  order.set_status(status);
  order.mutable_total()->set_minor_units(total_minor);
  order.mutable_total()->set_currency(currency);
  for (const Item& item : items) {
    v1::OrderItem& out = *order.add_items();
    out.set_sku("sku-" + item.category);
    out.set_category(item.category);
    out.set_quantity(item.quantity);
    out.set_unit_price_minor(1000);
  }
  return event;
}

v1::Profile NewProfile(uint64_t id = 42) {
  v1::Profile profile;
  profile.set_id(id);
  return profile;
}

v1::Profile ApplyAll(const std::vector<v1::Event>& events, uint64_t id = 42) {
  v1::Profile profile = NewProfile(id);
  for (const v1::Event& event : events) ApplyEvent(event, profile);
  return profile;
}

// The value text of a top-level field of the profile JSON: scans the object once, tracking
// string and nesting state, so a key repeated inside a nested object ("social" in event_counts)
// is never mistaken for the top-level one.
std::string Field(const std::string& json, const std::string& name) {
  int depth = 0;
  bool in_string = false;
  size_t key_start = 0, value_start = 0;
  std::string key;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
        if (depth == 1 && value_start == 0) key = json.substr(key_start + 1, i - key_start - 1);
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      if (depth == 1 && value_start == 0) key_start = i;
    } else if (c == ':' && depth == 1 && value_start == 0) {
      value_start = i + 1;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == ',' && depth == 1) || ((c == '}' || c == ']') && --depth == 0)) {
      if (key == name) return json.substr(value_start, i - value_start);
      value_start = 0;
    }
  }
  return "<missing>";
}

TEST(ProfileStateTest, GoldenJsonOfASmallThaiCustomer) {
  v1::Profile profile = ApplyAll({
      Identify("w1", kT0, {{"name", "\"สมชาย ใจดี\""}, {"age", "34"}},
               {"anonymous_id:a-1", "user_id:u-1", "email:somchai@example.com"}),
      Web("w2", kT0 + 1000, "track", "Order Viewed"),
      Social("s1", kT0 + 1500, "instagram", "comment"),
      Purchase("o-1", kT0 + 2000, v1::ORDER_STATUS_COMPLETED, 125050, "THB", {{"coffee", 2}}),
  }, (uint64_t{1} << 48) | 5);
  profile.set_version(3);
  EXPECT_EQ(ProfileToJson(profile),
            R"({"id":"281474976710661","workspace":"baankafe",)"
            R"("identifiers":["anonymous_id:a-1","email:somchai@example.com","instagram:somchai.k","user_id:u-1"],)"
            R"("traits":{"age":34,"name":"สมชาย ใจดี"},)"
            R"("first_seen":"2026-11-25T03:04:05.000Z","last_seen":"2026-11-25T03:04:07.000Z",)"
            R"("event_counts":{"purchase":1,"social":1,"web":2},)"
            R"("event_type_counts":{"purchase.order":1,"social.comment":1,"web.identify":1,"web.track":1},)"
            R"("orders_count":1,"refunds_count":0,"cancelled_count":0,)"
            R"("total_spend":{"THB":"1250.50"},"refunded":{},"items_by_category":{"coffee":2},)"
            R"("social":{"instagram":{"comment":1}},"track_events":{"Order Viewed":1},)"
            R"("consent":{},"merged_from":[],"version":3})");
}

TEST(ProfileStateTest, AnEmptyProfileHasNullTimesAndEmptyCollections) {
  const std::string json = ProfileToJson(NewProfile(7));
  EXPECT_EQ(json,
            R"({"id":"7","workspace":"","identifiers":[],"traits":{},"first_seen":null,"last_seen":null,)"
            R"("event_counts":{},"event_type_counts":{},"orders_count":0,"refunds_count":0,"cancelled_count":0,)"
            R"("total_spend":{},"refunded":{},"items_by_category":{},"social":{},"track_events":{},)"
            R"("consent":{},"merged_from":[],"version":0})");
}

v1::Event WithConsent(v1::Event event, std::initializer_list<std::pair<const char*, bool>> purposes) {
  for (const auto& [purpose, granted] : purposes) (*event.mutable_consent())[purpose] = granted;
  return event;
}

TEST(ProfileStateTest, ConsentIsTheLatestStatementPerPurposeWhateverTheOrder) {
  const std::vector<v1::Event> events = {
      WithConsent(Web("c1", kT0, "track", "Consent Given"), {{"email_marketing", true}, {"advertising", true}}),
      WithConsent(Web("c2", kT0 + 5000, "track", "Consent Changed"), {{"advertising", false}}),
      WithConsent(Web("c3", kT0 + 1000, "track", "Late Replay"), {{"advertising", true}, {"analytics", true}}),
  };
  const std::string forward = ProfileToJson(ApplyAll(events, 9));
  const std::string backward = ProfileToJson(ApplyAll({events[2], events[1], events[0]}, 9));
  EXPECT_EQ(forward, backward);
  EXPECT_EQ(Field(forward, "consent"),
            R"({"advertising":{"granted":false,"at":"2026-11-25T03:04:10.000Z"},)"
            R"("analytics":{"granted":true,"at":"2026-11-25T03:04:06.000Z"},)"
            R"("email_marketing":{"granted":true,"at":"2026-11-25T03:04:05.000Z"}})");

  // Split across two profiles and merged: the same answer.
  v1::Profile winner = ApplyAll({events[1]}, 9);
  AbsorbProfile(ApplyAll({events[0], events[2]}, 10), winner);
  EXPECT_EQ(Field(ProfileToJson(winner), "consent"), Field(forward, "consent"));
}

TEST(ProfileStateTest, CountsByChannelTypeTrackNameAndSocialPlatformAction) {
  const v1::Profile profile = ApplyAll({
      Web("w1", kT0, "track", "Product Viewed"), Web("w2", kT0, "track", "Product Viewed"),
      Web("w3", kT0, "track", "Order Completed"), Web("w4", kT0, "page", "Menu"),
      Social("s1", kT0, "instagram", "comment"), Social("s2", kT0, "instagram", "comment"),
      Social("s3", kT0, "instagram", "like"), Social("s4", kT0, "line", "message"),
      Purchase("o1", kT0, v1::ORDER_STATUS_COMPLETED, 100, "THB")});
  const std::string json = ProfileToJson(profile);
  EXPECT_EQ(Field(json, "event_counts"), R"({"purchase":1,"social":4,"web":4})");
  EXPECT_EQ(Field(json, "event_type_counts"),
            R"({"purchase.order":1,"social.comment":2,"social.like":1,"social.message":1,"web.page":1,"web.track":3})");
  EXPECT_EQ(Field(json, "track_events"), R"({"Order Completed":1,"Product Viewed":2})");
  EXPECT_EQ(Field(json, "social"), R"({"instagram":{"comment":2,"like":1},"line":{"message":1}})");
  EXPECT_EQ(profile.social_counts().at("instagram.comment"), 2);
}

TEST(ProfileStateTest, IdentifiersAreASortedSetOfTypeValue) {
  v1::Profile profile = NewProfile();
  ApplyEvent(Web("w1", kT0, "page", "", {"user_id:u-2", "anonymous_id:z"}), profile);
  ApplyEvent(Web("w2", kT0, "page", "", {"email:b@example.com", "user_id:u-2", "anonymous_id:a"}), profile);
  ApplyEvent(Web("w3", kT0, "page", "", {"anonymous_id:m", "anonymous_id:a"}), profile);
  EXPECT_EQ(std::vector<std::string>(profile.identifiers().begin(), profile.identifiers().end()),
            (std::vector<std::string>{"anonymous_id:a", "anonymous_id:m", "anonymous_id:z", "email:b@example.com",
                                      "user_id:u-2"}));
}

TEST(ProfileStateTest, TraitsAreLastWriterWinsByEventTimeInEitherArrivalOrder) {
  const v1::Event older = Identify("m-z", kT0, {{"name", "\"Old\""}, {"tier", "\"gold\""}});
  const v1::Event newer = Identify("m-a", kT0 + 1, {{"name", "\"New\""}});
  for (const auto& events : {std::vector<v1::Event>{older, newer}, std::vector<v1::Event>{newer, older}}) {
    const v1::Profile profile = ApplyAll(events);
    EXPECT_EQ(profile.traits().at("name").json(), "\"New\"");
    EXPECT_EQ(profile.traits().at("name").timestamp_ms(), kT0 + 1);
    EXPECT_EQ(profile.traits().at("name").message_key(), MessageKey("m-a"));
    EXPECT_EQ(profile.traits().at("name").message_id(), "") << "the hash is kept, not the id";
    EXPECT_EQ(profile.traits().at("tier").json(), "\"gold\"");  // untouched by the newer event
  }
}

TEST(ProfileStateTest, TraitTimeTiesAreBrokenByTheLargerHashedMessageId) {
  const v1::Event a = Identify("msg-a", kT0, {{"name", "\"A\""}});
  const v1::Event b = Identify("msg-b", kT0, {{"name", "\"B\""}});
  const std::string winner = MessageKey("msg-a") > MessageKey("msg-b") ? "\"A\"" : "\"B\"";
  EXPECT_EQ(ApplyAll({a, b}).traits().at("name").json(), winner);
  EXPECT_EQ(ApplyAll({b, a}).traits().at("name").json(), winner);
}

// Profiles stored before 2026-12-07 hold a tie-breaker's message id, not its hash: such a value
// ties with a new one as its hash would (the winner is the same whichever form was stored), and
// the replay of the very event that set it changes nothing.
TEST(ProfileStateTest, StoredMessageIdsFromBeforeTheHashesOrderAsTheirHashes) {
  const std::string uuid_a = "node-next-1795575845000-743be593-7789-4b74-8078-cbcc8894c586";
  const std::string uuid_b = "node-next-1795575845000-0f9b2a6e-31c4-4d2a-9e57-5a1d3c8b7e20";
  for (const auto& [stored_id, other_id] : {std::pair{uuid_a, uuid_b}, std::pair{uuid_b, uuid_a}}) {
    const v1::Event stored = WithConsent(Identify(stored_id, kT0, {{"name", "\"Stored\""}}), {{"advertising", true}});
    const v1::Event other = WithConsent(Identify(other_id, kT0, {{"name", "\"Other\""}}), {{"advertising", false}});
    v1::Profile old_format = ApplyAll({stored});
    v1::TraitValue& trait = (*old_format.mutable_traits())["name"];
    trait.set_message_id(stored_id);
    trait.clear_message_key();
    v1::ConsentState& consent = (*old_format.mutable_consent())["advertising"];
    consent.set_message_id(stored_id);
    consent.clear_message_key();

    v1::Profile replayed = old_format;
    ApplyEvent(stored, replayed);
    EXPECT_EQ(replayed.traits().at("name").SerializeAsString(), trait.SerializeAsString());
    EXPECT_EQ(replayed.consent().at("advertising").SerializeAsString(), consent.SerializeAsString());

    v1::Profile upgraded = old_format;
    ApplyEvent(other, upgraded);
    const v1::Profile both_new = ApplyAll({stored, other});
    EXPECT_EQ(upgraded.traits().at("name").json(), both_new.traits().at("name").json()) << stored_id;
    EXPECT_EQ(upgraded.consent().at("advertising").granted(), both_new.consent().at("advertising").granted());
    const bool stored_wins = MessageKey(stored_id) > MessageKey(other_id);
    EXPECT_EQ(upgraded.traits().at("name").json(), stored_wins ? "\"Stored\"" : "\"Other\"");
  }
}

TEST(ProfileStateTest, ThaiTraitsAreWrittenByteExact) {
  const std::string thai = "\"\xE0\xB8\xAA\xE0\xB8\xA1\xE0\xB8\x8A\xE0\xB8\xB2\xE0\xB8\xA2\"";  // "สมชาย"
  const std::string address = R"({"city":"กรุงเทพมหานคร","line1":"99/1 ถนนสุขุมวิท"})";
  const v1::Profile profile = ApplyAll({Identify("w1", kT0, {{"name", thai}, {"address", address}})});
  EXPECT_EQ(Field(ProfileToJson(profile), "traits"), "{\"address\":" + address + ",\"name\":" + thai + "}");
}

TEST(ProfileStateTest, FirstAndLastSeenAreMinAndMaxIncludingAnEventAtTheEpoch) {
  const v1::Profile profile = ApplyAll({Web("w1", kT0 + 5000, "page"), Web("w2", kT0 - 86'400'000, "page"),
                                        Web("w3", kT0, "page")});
  EXPECT_EQ(profile.first_seen_ms(), kT0 - 86'400'000);
  EXPECT_EQ(profile.last_seen_ms(), kT0 + 5000);
  const std::string json = ProfileToJson(profile);
  EXPECT_EQ(Field(json, "first_seen"), R"("2026-11-24T03:04:05.000Z")");
  EXPECT_EQ(Field(json, "last_seen"), R"("2026-11-25T03:04:10.000Z")");

  const v1::Profile epoch = ApplyAll({Web("w1", 0, "page"), Web("w2", 1234, "page")});
  EXPECT_EQ(epoch.first_seen_ms(), 0);
  EXPECT_EQ(Field(ProfileToJson(epoch), "first_seen"), R"("1970-01-01T00:00:00.000Z")");
  EXPECT_EQ(Field(ProfileToJson(epoch), "last_seen"), R"("1970-01-01T00:00:01.234Z")");
}

TEST(ProfileStateTest, ARefundReplacesTheCompletedOrderInSpendWhicheverArrivesFirst) {
  const v1::Event completed = Purchase("o-1", kT0, v1::ORDER_STATUS_COMPLETED, 125050, "THB", {{"coffee", 2}});
  const v1::Event refunded = Purchase("o-1", kT0 + 60'000, v1::ORDER_STATUS_REFUNDED, 125050, "THB", {{"coffee", 2}});
  const v1::Event other = Purchase("o-2", kT0, v1::ORDER_STATUS_COMPLETED, 9900, "THB", {{"bakery", 3}});
  for (const auto& events : {std::vector<v1::Event>{completed, refunded, other},
                             std::vector<v1::Event>{refunded, other, completed}}) {
    const v1::Profile profile = ApplyAll(events);
    const std::string json = ProfileToJson(profile);
    EXPECT_EQ(Field(json, "orders_count"), "1");
    EXPECT_EQ(Field(json, "refunds_count"), "1");
    EXPECT_EQ(Field(json, "cancelled_count"), "0");
    EXPECT_EQ(Field(json, "total_spend"), R"({"THB":"99.00"})");
    EXPECT_EQ(Field(json, "refunded"), R"({"THB":"1250.50"})");
    EXPECT_EQ(Field(json, "items_by_category"), R"({"bakery":3})");
    EXPECT_EQ(Field(json, "event_counts"), R"({"purchase":3})");  // every applied event still counts
    EXPECT_EQ(profile.orders().at("o-1").status(), v1::ORDER_STATUS_REFUNDED);
    EXPECT_EQ(profile.orders().at("o-1").message_id(), "") << "its status says what the id said";
  }
}

TEST(ProfileStateTest, ACurrencyLeavesTotalSpendWhenItsOnlyOrderIsRefunded) {
  const std::string json = ProfileToJson(
      ApplyAll({Purchase("o-1", kT0, v1::ORDER_STATUS_COMPLETED, 500, "USD"),
                Purchase("o-1", kT0 + 1, v1::ORDER_STATUS_REFUNDED, 500, "USD")}));
  EXPECT_EQ(Field(json, "total_spend"), "{}");
  EXPECT_EQ(Field(json, "refunded"), R"({"USD":"5.00"})");
}

TEST(ProfileStateTest, CancelledOrdersCountButNeverSpend) {
  const std::string json = ProfileToJson(
      ApplyAll({Purchase("o-1", kT0, v1::ORDER_STATUS_COMPLETED, 5000, "THB", {{"tea", 1}}),
                Purchase("o-1", kT0 + 1, v1::ORDER_STATUS_CANCELLED, 5000, "THB", {{"tea", 1}}),
                Purchase("o-2", kT0, v1::ORDER_STATUS_CANCELLED, 700, "THB")}));
  EXPECT_EQ(Field(json, "orders_count"), "0");
  EXPECT_EQ(Field(json, "cancelled_count"), "2");
  EXPECT_EQ(Field(json, "total_spend"), "{}");
  EXPECT_EQ(Field(json, "refunded"), "{}");
  EXPECT_EQ(Field(json, "items_by_category"), "{}");
}

TEST(ProfileStateTest, SpendIsKeptPerCurrencyWithEachCurrencysExponent) {
  const std::string json = ProfileToJson(ApplyAll({
      Purchase("o-1", kT0, v1::ORDER_STATUS_COMPLETED, 125050, "THB", {{"coffee", 1}}),
      Purchase("o-2", kT0, v1::ORDER_STATUS_COMPLETED, 5, "THB", {{"coffee", 2}}),
      Purchase("o-3", kT0, v1::ORDER_STATUS_COMPLETED, 1999, "USD", {{"merch", 1}}),
      Purchase("o-4", kT0, v1::ORDER_STATUS_COMPLETED, 3000, "JPY", {{"coffee", 4}}),
      Purchase("o-5", kT0, v1::ORDER_STATUS_REFUNDED, 120, "JPY"),
  }));
  EXPECT_EQ(Field(json, "total_spend"), R"({"JPY":"3000","THB":"1250.55","USD":"19.99"})");
  EXPECT_EQ(Field(json, "refunded"), R"({"JPY":"120"})");
  EXPECT_EQ(Field(json, "items_by_category"), R"({"coffee":7,"merch":1})");
  EXPECT_EQ(Field(json, "orders_count"), "4");
  EXPECT_EQ(Field(json, "refunds_count"), "1");
}

TEST(ProfileStateTest, OrderTimeTiesGoToTheStatusThatSortsLater) {
  // cancelled < completed < refunded, as the names sort: the refund wins a same-millisecond tie.
  const v1::Event completed = Purchase("o-1", kT0, v1::ORDER_STATUS_COMPLETED, 100, "THB");
  const v1::Event refunded = Purchase("o-1", kT0, v1::ORDER_STATUS_REFUNDED, 100, "THB");
  const v1::Event cancelled = Purchase("o-1", kT0, v1::ORDER_STATUS_CANCELLED, 100, "THB");
  EXPECT_EQ(ApplyAll({completed, refunded}).orders().at("o-1").status(), v1::ORDER_STATUS_REFUNDED);
  EXPECT_EQ(ApplyAll({refunded, completed}).orders().at("o-1").status(), v1::ORDER_STATUS_REFUNDED);
  EXPECT_EQ(ApplyAll({cancelled, completed}).orders().at("o-1").status(), v1::ORDER_STATUS_COMPLETED);
  EXPECT_EQ(ApplyAll({completed, cancelled}).orders().at("o-1").status(), v1::ORDER_STATUS_COMPLETED);
  EXPECT_EQ(ApplyAll({refunded, cancelled, completed}).orders().at("o-1").status(), v1::ORDER_STATUS_REFUNDED);
}

// A summary stored before 2026-12-07 still holds its "order:<id>:<status>" id. Replaying the event
// that set it ties on time and status; whichever summary the bytes then pick, the profile reads the
// same: the same status, orders, spend and counts.
TEST(ProfileStateTest, ReplayingAnOrderOntoASummaryStoredWithItsIdChangesNothingVisible) {
  const v1::Event completed = Purchase("o-1", kT0, v1::ORDER_STATUS_COMPLETED, 12050, "THB", {{"bakery", 2}});
  v1::Profile old_format = ApplyAll({completed});
  (*old_format.mutable_orders())["o-1"].set_message_id(completed.message_id());
  const std::string before = ProfileToJson(old_format);
  v1::Profile replayed = old_format;
  ApplyEvent(completed, replayed);
  EXPECT_EQ(replayed.orders().at("o-1").status(), v1::ORDER_STATUS_COMPLETED);
  for (const char* field : {"orders_count", "total_spend", "items_by_category", "refunds_count"}) {
    EXPECT_EQ(Field(ProfileToJson(replayed), field), Field(before, field)) << field;
  }
}

TEST(ProfileStateTest, ChangedFieldsNamesExactlyTheTopLevelFieldsThatDiffer) {
  const v1::Profile before = ApplyAll({Web("w1", kT0, "page")});
  EXPECT_TRUE(ChangedFields(before, before).empty());

  v1::Profile after = before;
  ApplyEvent(Web("w2", kT0 + 1, "track", "Product Viewed"), after);
  EXPECT_EQ(ChangedFields(before, after),
            (std::vector<std::string>{"last_seen", "event_counts", "event_type_counts", "track_events"}));

  v1::Profile bought = after;
  ApplyEvent(Purchase("o-1", kT0 - 1, v1::ORDER_STATUS_COMPLETED, 100, "THB", {{"tea", 1}}), bought);
  bought.set_version(after.version() + 1);
  EXPECT_EQ(ChangedFields(after, bought),
            (std::vector<std::string>{"identifiers", "first_seen", "event_counts", "event_type_counts",
                                      "orders_count", "total_spend", "items_by_category", "version"}));
}

TEST(ProfileStateTest, AbsorbKeepsTheWinnersIdentityAndRecordsTheLoserTransitively) {
  v1::Profile a = ApplyAll({Web("w1", kT0, "page", "", {"anonymous_id:a"})}, 30);
  a.add_merged_from(31);
  v1::Profile b = ApplyAll({Web("w2", kT0, "page", "", {"anonymous_id:b"})}, 20);
  b.add_merged_from(25);
  b.set_version(9);
  AbsorbProfile(a, b);
  EXPECT_EQ(b.id(), 20u);
  EXPECT_EQ(b.workspace(), "baankafe");
  EXPECT_EQ(b.version(), 9u);
  EXPECT_EQ(std::vector<uint64_t>(b.merged_from().begin(), b.merged_from().end()),
            (std::vector<uint64_t>{25, 30, 31}));
  EXPECT_EQ(Field(ProfileToJson(b), "merged_from"), R"(["25","30","31"])");
  EXPECT_EQ(b.event_counts().at("web"), 2);

  // A replayed transfer of the same loser, and absorbing itself, change nothing.
  const std::string once = b.SerializeAsString();
  AbsorbProfile(a, b);
  AbsorbProfile(b, b);
  EXPECT_EQ(b.SerializeAsString(), once);
}

TEST(ProfileStateTest, AbsorbIntoAnEmptyWinnerTakesTheLosersTimesAndWorkspace) {
  const v1::Profile loser = ApplyAll({Web("w1", kT0, "page"), Web("w2", kT0 + 9, "page")}, 8);
  v1::Profile winner = NewProfile(3);
  AbsorbProfile(loser, winner);
  EXPECT_EQ(winner.first_seen_ms(), kT0);
  EXPECT_EQ(winner.last_seen_ms(), kT0 + 9);
  EXPECT_EQ(winner.workspace(), "baankafe");
  // An empty loser does not pull the winner's times to zero.
  v1::Profile seen = ApplyAll({Web("w3", kT0 + 5, "page")}, 2);
  AbsorbProfile(NewProfile(1), seen);
  EXPECT_EQ(seen.first_seen_ms(), kT0 + 5);
}

// ---- Property: absorbing is a join. ----

// Events drawn from small pools so they collide: shared trait names with tied timestamps, orders
// whose status changes (some at the same millisecond), repeated identifiers, all three channels.
std::vector<v1::Event> RandomEvents(std::mt19937_64& rng, int count) {
  const char* kTraits[] = {"name", "tier", "city", "age"};
  const char* kValues[] = {"\"สมชาย\"", "\"gold\"", "\"Chiang Mai\"", "34", "null", "{\"a\":[1,2]}"};
  const char* kPlatforms[] = {"instagram", "facebook", "line", "tiktok"};
  const char* kActions[] = {"comment", "like", "share", "review"};
  const char* kCurrencies[] = {"THB", "USD", "JPY"};
  const char* kCategories[] = {"coffee", "tea", "bakery"};
  const v1::OrderStatus kStatuses[] = {v1::ORDER_STATUS_COMPLETED, v1::ORDER_STATUS_REFUNDED,
                                       v1::ORDER_STATUS_CANCELLED};
  std::vector<v1::Event> events;
  for (int i = 0; i < count; ++i) {
    const int64_t ts = kT0 + static_cast<int64_t>(rng() % 20) * 1000;  // few distinct times: ties
    const std::string id = "m" + std::to_string(i);
    const std::vector<std::string> identifiers = {"anonymous_id:a" + std::to_string(rng() % 15),
                                                  "email:p" + std::to_string(rng() % 6) + "@example.com"};
    switch (rng() % 4) {
      case 0: {
        std::map<std::string, std::string> traits;
        for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k) {
          traits[kTraits[rng() % 4]] = kValues[rng() % 6];
        }
        events.push_back(Identify(id, ts, traits, identifiers));
        break;
      }
      case 1:
        events.push_back(Web(id, ts, rng() % 2 ? "track" : "page", "Event " + std::to_string(rng() % 4),
                             identifiers));
        break;
      case 2:
        events.push_back(Social(id, ts, kPlatforms[rng() % 4], kActions[rng() % 4],
                                "h" + std::to_string(rng() % 5)));
        break;
      default: {
        // An order keeps its currency, total and items; only its status moves.
        const int order = static_cast<int>(rng() % 10);
        std::vector<Item> items = {{kCategories[order % 3], 1 + order % 4}};
        if (order % 2) items.push_back({kCategories[(order + 1) % 3], 2});
        events.push_back(Purchase("o" + std::to_string(order), ts, kStatuses[rng() % 3], 1000 + 137 * order,
                                  kCurrencies[order % 3], items, identifiers));
        break;
      }
    }
  }
  return events;
}

// The profile's content: everything except who it is (id), what it absorbed and its version.
v1::Profile Content(v1::Profile profile) {
  profile.clear_id();
  profile.clear_merged_from();
  profile.clear_version();
  return profile;
}

TEST(ProfileStatePropertyTest, AbsorbingSplitProfilesEqualsApplyingEveryEventToOne) {
  std::mt19937_64 rng(20261125);
  for (int trial = 0; trial < 60; ++trial) {
    std::vector<v1::Event> events = RandomEvents(rng, 20 + static_cast<int>(rng() % 180));
    std::shuffle(events.begin(), events.end(), rng);
    const v1::Profile whole = ApplyAll(events, 1);

    // Split across k profiles at random, each applying its share in its own order.
    const int k = 2 + static_cast<int>(rng() % 5);
    std::vector<v1::Profile> parts;
    for (int p = 0; p < k; ++p) parts.push_back(NewProfile(100 + p));
    for (const v1::Event& event : events) ApplyEvent(event, parts[rng() % k]);

    // Absorb pairwise in a random order and direction until one is left: B absorbs A, then C
    // absorbs B builds chains; absorbing already-merged profiles builds trees.
    std::vector<v1::Profile> alive = parts;
    while (alive.size() > 1) {
      const size_t loser = rng() % alive.size();
      size_t winner = rng() % (alive.size() - 1);
      if (winner >= loser) ++winner;
      AbsorbProfile(alive[loser], alive[winner]);
      alive.erase(alive.begin() + static_cast<std::ptrdiff_t>(loser));
    }
    v1::Profile& merged = alive.front();

    ASSERT_EQ(ProfileToJson(Content(merged)), ProfileToJson(Content(whole))) << "trial " << trial;
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(Content(merged), Content(whole)))
        << "trial " << trial;
    // merged_from names every other part exactly once.
    std::vector<uint64_t> others;
    for (const v1::Profile& part : parts) {
      if (part.id() != merged.id()) others.push_back(part.id());
    }
    std::sort(others.begin(), others.end());
    ASSERT_EQ(std::vector<uint64_t>(merged.merged_from().begin(), merged.merged_from().end()), others);

    // Absorbing any part again (a replayed transfer) changes nothing.
    const std::string before = merged.SerializeAsString();
    for (const v1::Profile& part : parts) AbsorbProfile(part, merged);
    ASSERT_EQ(merged.SerializeAsString(), before) << "trial " << trial;
  }
}

// ChangedFields renders only the fields whose proto parts differ; it must name exactly what
// comparing every field's JSON names, after any event, consent, absorb or version step, and
// between states several steps apart.
// A snapshot sets aside what the JSON is not rendered from instead of copying it, and gives every
// part back: the profile is byte for byte as it was, with or without a cart, on the heap or on an
// arena (where the parts are set aside on the same arena). What it compares is unchanged by those
// parts (they are not in the profile's JSON).
TEST(ProfileStateTest, ASnapshotLeavesEveryPartOfTheProfileAsItWas) {
  for (const bool with_cart : {true, false}) {
    for (const bool on_arena : {false, true}) {
      google::protobuf::Arena arena;
      v1::Profile heap;
      v1::Profile& p = on_arena ? *google::protobuf::Arena::CreateMessage<v1::Profile>(&arena) : heap;
      p = NewProfile(1);
      ApplyEvent(Purchase("o1", kT0, v1::ORDER_STATUS_COMPLETED, 4550, "THB"), p);
      (*p.mutable_engagement_days())[20000].set_page_views(3);
      if (with_cart) {
        p.mutable_cart()->set_last_checkout_ms(kT0);
      } else {
        p.clear_cart();  // the purchase set its last_order_ms
      }
      (*p.mutable_custom_traits())["coffee_spend"].set_window_days(30);
      (*p.mutable_segments())["vip"] = kT0;
      (*(*p.mutable_event_windows())["web.page"].mutable_by_day())[20000] = 2;
      v1::ScheduledTimer& timer = *p.add_timers();
      timer.set_name("segments");
      timer.set_due_ms(kT0 + 1000);
      ASSERT_EQ(p.has_cart(), with_cart);
      const v1::Profile original = p;
      const ProfileSnapshot snapshot(p);
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(p, original)) << "cart " << with_cart;
      EXPECT_EQ(p.has_cart(), with_cart);
      EXPECT_EQ(p.SerializeAsString(), original.SerializeAsString()) << "cart " << with_cart << " arena " << on_arena;
      EXPECT_TRUE(ChangedFields(snapshot, p).empty());
      v1::Profile later = p;
      (*later.mutable_segments())["vip"] = kT0 + 5;  // not in the JSON: nothing changed
      later.clear_timers();
      EXPECT_TRUE(ChangedFields(snapshot, later).empty());
      (*later.mutable_traits())["city"].set_json(R"("Chiang Mai")");
      EXPECT_EQ(ChangedFields(snapshot, later), std::vector<std::string>{"traits"});
    }
  }
}

// ChangedFields names most one-field groups without rendering them: each field changed alone, and
// all at once, must still be listed as comparing the whole JSON lists it, in the JSON's order.
TEST(ChangedFieldsTest, EachFieldAloneAndAllTogetherAreListedInTheJsonsOrder) {
  v1::Profile base = NewProfile(1);
  ApplyEvent(Purchase("o1", kT0, v1::ORDER_STATUS_COMPLETED, 4550, "THB"), base);
  const std::vector<std::function<void(v1::Profile&)>> changes = {
      [](v1::Profile& p) { p.set_id(2); },
      [](v1::Profile& p) { p.set_workspace("other"); },
      [](v1::Profile& p) { p.add_identifiers("email:x@y.co"); },
      [](v1::Profile& p) { (*p.mutable_traits())["city"].set_json(R"("Chiang Mai")"); },
      [](v1::Profile& p) { p.set_first_seen_ms(p.first_seen_ms() - 1); },
      [](v1::Profile& p) { p.set_last_seen_ms(p.last_seen_ms() + 1); },
      [](v1::Profile& p) { (*p.mutable_event_counts())["web"] += 1; },
      [](v1::Profile& p) { (*p.mutable_event_type_counts())["web.page"] += 1; },
      [](v1::Profile& p) { ApplyEvent(Purchase("o2", kT0 - 5, v1::ORDER_STATUS_REFUNDED, 100, "USD"), p); },
      [](v1::Profile& p) { (*p.mutable_social_counts())["line.comment"] += 1; },
      [](v1::Profile& p) { (*p.mutable_track_event_counts())["Signed Up"] += 1; },
      [](v1::Profile& p) { (*p.mutable_consent())["marketing"].set_granted(true); },
      [](v1::Profile& p) { p.add_merged_from(7); },
      [](v1::Profile& p) { p.set_version(p.version() + 1); },
  };
  v1::Profile all = base;
  for (size_t i = 0; i < changes.size(); ++i) {
    v1::Profile one = base;
    changes[i](one);
    changes[i](all);
    const std::vector<std::string> expected = ChangedFieldsByFullJson(base, one);
    EXPECT_FALSE(expected.empty()) << i;
    EXPECT_EQ(ChangedFields(base, one), expected) << i;
    EXPECT_EQ(ChangedFields(base, all), ChangedFieldsByFullJson(base, all)) << "the first " << i + 1;
  }
}

TEST(ProfileStatePropertyTest, ChangedFieldsEqualsComparingTheWholeJson) {
  std::mt19937_64 rng(20261203);
  int64_t differing_steps = 0;
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<v1::Event> events = RandomEvents(rng, 30 + static_cast<int>(rng() % 60));
    std::vector<v1::Profile> states = {NewProfile(1)};
    for (const v1::Event& event : events) {
      v1::Profile next = states.back();
      switch (rng() % 8) {
        case 0:
          ApplyEvent(WithConsent(event, {{"marketing", rng() % 2 == 0}}), next);
          break;
        case 1: {
          v1::Profile other = NewProfile(50 + static_cast<int>(rng() % 5));
          ApplyEvent(event, other);
          AbsorbProfile(other, next);
          break;
        }
        case 2:
          next.set_version(next.version() + 1);
          break;
        default:
          ApplyEvent(event, next);
      }
      states.push_back(std::move(next));
    }
    for (size_t i = 1; i < states.size(); ++i) {
      const v1::Profile& before = states[i - 1 - rng() % std::min<size_t>(i, 4)];
      const std::vector<std::string> expected = ChangedFieldsByFullJson(before, states[i]);
      ASSERT_EQ(ChangedFields(before, states[i]), expected) << "trial " << trial << " step " << i;
      // The same from a snapshot (no copy of the orders), which leaves the profile as it was.
      v1::Profile taken = before;
      const ProfileSnapshot snapshot(taken);
      ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(taken, before)) << "trial " << trial;
      ASSERT_EQ(ChangedFields(snapshot, states[i]), expected) << "trial " << trial << " step " << i;
      // And of a profile on an arena (as a batch's are).
      google::protobuf::Arena arena;
      v1::Profile* on_arena = google::protobuf::Arena::CreateMessage<v1::Profile>(&arena);
      *on_arena = before;
      const ProfileSnapshot arena_snapshot(*on_arena);
      ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*on_arena, before)) << "trial " << trial;
      ASSERT_EQ(ChangedFields(arena_snapshot, states[i]), expected) << "trial " << trial << " step " << i;
      // And with a scratch profile lent for the set-aside parts (as a batch lends one to all its
      // snapshots): the same answer, and the scratch left empty for the next profile.
      v1::Profile* scratch = google::protobuf::Arena::CreateMessage<v1::Profile>(&arena);
      v1::Profile* lent_to = google::protobuf::Arena::CreateMessage<v1::Profile>(&arena);
      *lent_to = before;
      const ProfileSnapshot lent_snapshot(*lent_to, scratch);
      ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*lent_to, before)) << "trial " << trial;
      ASSERT_EQ(scratch->ByteSizeLong(), 0u) << "trial " << trial << ": " << scratch->ShortDebugString();
      ASSERT_EQ(ChangedFields(lent_snapshot, states[i]), expected) << "trial " << trial << " step " << i;
      v1::Profile* next_lent_to = google::protobuf::Arena::CreateMessage<v1::Profile>(&arena);
      *next_lent_to = states[i];
      const ProfileSnapshot next_snapshot(*next_lent_to, scratch);
      ASSERT_EQ(scratch->ByteSizeLong(), 0u) << "trial " << trial;
      ASSERT_TRUE(ChangedFields(next_snapshot, states[i]).empty()) << "trial " << trial << " step " << i;
      if (!expected.empty()) ++differing_steps;
    }
  }
  EXPECT_GT(differing_steps, 1000);  // the steps really changed fields
  // And from a profile that did not exist.
  v1::Profile bought = NewProfile(1);
  ApplyEvent(Purchase("o1", kT0, v1::ORDER_STATUS_COMPLETED, 4550, "THB"), bought);
  EXPECT_EQ(ChangedFields(ProfileSnapshot(), bought), ChangedFieldsByFullJson(v1::Profile(), bought));
}

TEST(ProfileStatePropertyTest, ApplyingTheSameEventsInAnyOrderGivesTheSameProfile) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 30; ++trial) {
    std::vector<v1::Event> events = RandomEvents(rng, 150);
    const v1::Profile first = ApplyAll(events);
    for (int round = 0; round < 5; ++round) {
      std::shuffle(events.begin(), events.end(), rng);
      ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ApplyAll(events), first))
          << "trial " << trial << " round " << round;
    }
  }
}

}  // namespace
}  // namespace tessera::profiles
