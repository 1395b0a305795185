// Pins sinks/destination_filter.cc on records rendered by the real profile-updates encoder.
#include "sinks/destination_filter.h"

#include <gtest/gtest.h>

#include "simdjson.h"
#include "sinks/profile_updates.h"

namespace tessera::sinks {
namespace {

v1::ProfileUpdate Update(uint64_t id, uint64_t version, std::map<std::string, bool> consent) {
  v1::ProfileUpdate update;
  update.set_profile_id(id);
  update.set_version(version);
  update.set_updated_at_ms(1764043200000);
  v1::Profile& p = *update.mutable_profile();
  p.set_id(id);
  p.set_version(version);
  p.set_workspace("default");
  p.add_identifiers("email:ann@example.com");
  (*p.mutable_traits())["first_name"].set_json("\"Ann\"");
  for (const auto& [purpose, granted] : consent) {
    v1::ConsentState& state = (*p.mutable_consent())[purpose];
    state.set_granted(granted);
    state.set_timestamp_ms(1764043100000);
  }
  update.add_changed_fields("traits");
  update.add_changed_fields("identifiers");
  return update;
}

DestinationConfig Crm() {
  DestinationConfig d;
  d.name = "crm";
  d.purposes = {"email_marketing"};
  d.fields = {"id", "traits"};
  return d;
}

TEST(DestinationFilterTest, ParsesTheProfileUpdatesFormat) {
  RecordParser parser;
  auto record = parser.ParseProfileUpdate(ProfileUpdateToJson(Update(42, 7, {{"email_marketing", true}, {"sms_marketing", false}})));
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->kind, SinkRecord::Kind::kProfile);
  EXPECT_EQ(record->profile_id, 42u);
  EXPECT_EQ(record->version, 7u);
  EXPECT_EQ(record->consent, (std::map<std::string, bool>{{"email_marketing", true}, {"sms_marketing", false}}));
  EXPECT_EQ(record->changed, (std::vector<std::string>{"traits", "identifiers"}));

  v1::ProfileUpdate tombstone;
  tombstone.set_profile_id(43);
  tombstone.set_version(3);
  tombstone.set_merged_into(42);
  auto merged = parser.ParseProfileUpdate(ProfileUpdateToJson(tombstone));
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(merged->kind, SinkRecord::Kind::kMergedAway);
  EXPECT_EQ(merged->merged_into, 42u);
  EXPECT_FALSE(parser.ParseProfileUpdate("{not json").ok());
  EXPECT_FALSE(parser.ParseProfileUpdate(R"({"version":1})").ok());
}

TEST(DestinationFilterTest, ConsentDecidesProfileDeletionOrSkip) {
  RecordParser parser;
  const DestinationConfig crm = Crm();
  auto none = parser.ParseProfileUpdate(ProfileUpdateToJson(Update(1, 1, {})));
  auto granted = parser.ParseProfileUpdate(ProfileUpdateToJson(Update(1, 2, {{"email_marketing", true}})));
  auto withdrawn = parser.ParseProfileUpdate(ProfileUpdateToJson(Update(1, 3, {{"email_marketing", false}})));
  auto other_purpose = parser.ParseProfileUpdate(ProfileUpdateToJson(Update(1, 4, {{"analytics", true}})));
  ASSERT_TRUE(none.ok() && granted.ok() && withdrawn.ok() && other_purpose.ok());
  EXPECT_EQ(Decide(crm, *none, /*holds_profile=*/false), SinkAction::kSkipConsent);
  EXPECT_EQ(Decide(crm, *granted, false), SinkAction::kSendProfile);
  EXPECT_EQ(Decide(crm, *granted, true), SinkAction::kSendProfile);
  EXPECT_EQ(Decide(crm, *withdrawn, true), SinkAction::kSendDeletion);
  EXPECT_EQ(Decide(crm, *withdrawn, false), SinkAction::kSkipConsent);
  EXPECT_EQ(Decide(crm, *other_purpose, false), SinkAction::kSkipConsent);
  DestinationConfig no_purposes = crm;
  no_purposes.purposes.clear();
  EXPECT_EQ(Decide(no_purposes, *none, false), SinkAction::kSendProfile);
}

// The held bit is read only where the answer depends on it: a consented profile is sent either way.
TEST(DestinationFilterTest, OnlyUnconsentedProfilesMergesAndEventsNeedTheHeldBit) {
  RecordParser parser;
  const DestinationConfig crm = Crm();
  auto granted = parser.ParseProfileUpdate(ProfileUpdateToJson(Update(1, 1, {{"email_marketing", true}})));
  auto withdrawn = parser.ParseProfileUpdate(ProfileUpdateToJson(Update(1, 2, {{"email_marketing", false}})));
  v1::ProfileUpdate tombstone;
  tombstone.set_profile_id(2);
  tombstone.set_version(3);
  tombstone.set_merged_into(1);
  auto merged = parser.ParseProfileUpdate(ProfileUpdateToJson(tombstone));
  auto trigger = parser.ParseEvent(SinkRecord::Kind::kTrigger, 1, R"({"trigger":"birthday"})");
  ASSERT_TRUE(granted.ok() && withdrawn.ok() && merged.ok() && trigger.ok());
  EXPECT_FALSE(DecisionNeedsHeldState(crm, *granted));
  EXPECT_TRUE(DecisionNeedsHeldState(crm, *withdrawn));
  EXPECT_TRUE(DecisionNeedsHeldState(crm, *merged));
  EXPECT_TRUE(DecisionNeedsHeldState(crm, *trigger));
  // Whenever it says "not needed", the decision is indeed the same both ways.
  for (const SinkRecord* record : {&*granted, &*withdrawn, &*merged, &*trigger}) {
    if (!DecisionNeedsHeldState(crm, *record)) {
      EXPECT_EQ(Decide(crm, *record, true), Decide(crm, *record, false));
    }
  }
}

// Profile fields travel as the record spells them (slices, not re-rendered): whitespace between
// tokens is dropped at the edges only, escapes stay escaped, and the record can be moved.
TEST(DestinationFilterTest, FieldsAreSlicesOfTheRecordThatSurviveAMove) {
  RecordParser parser;
  const std::string payload =
      R"({ "profile_id" : "7", "version" : 2, "changed" : ["traits"], "profile" : { "id" : "7" , )"
      R"("traits" : {"note":"say \"hi\"\n", "n": [1, 2]}, "consent" : {"email_marketing": {"granted": true}} } })";
  auto parsed = parser.ParseProfileUpdate(payload);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  SinkRecord record = *std::move(parsed);
  (void)parser.ParseProfileUpdate(ProfileUpdateToJson(Update(9, 9, {})));  // the parser moves on
  ASSERT_EQ(record.profile_fields.size(), 3u);
  EXPECT_EQ(record.profile_fields[0], (std::pair<std::string_view, std::string_view>{"id", R"("7")"}));
  EXPECT_EQ(record.profile_fields[1].second, R"({"note":"say \"hi\"\n", "n": [1, 2]})");
  EXPECT_EQ(record.consent, (std::map<std::string, bool>{{"email_marketing", true}}));
  DestinationConfig all = Crm();
  all.fields.clear();
  const std::string item = RenderItem(all, record, SinkAction::kSendProfile, "7:2");
  simdjson::dom::parser json;
  simdjson::dom::element doc;
  ASSERT_FALSE(json.parse(item).get(doc)) << item;
  EXPECT_EQ(std::string_view(doc["profile"]["traits"]["note"]), "say \"hi\"\n");
  EXPECT_EQ(uint64_t(doc["version"]), 2u);
}

TEST(DestinationFilterTest, EventsFollowTheHeldProfileAndTheSegmentList) {
  RecordParser parser;
  DestinationConfig crm = Crm();
  crm.segments = {"vip"};
  auto vip = parser.ParseEvent(SinkRecord::Kind::kSegmentChange, 9, R"({"segment":"vip","change":"entered"})");
  auto other = parser.ParseEvent(SinkRecord::Kind::kSegmentChange, 9, R"({"segment":"churn","change":"entered"})");
  ASSERT_TRUE(vip.ok() && other.ok());
  EXPECT_EQ(Decide(crm, *vip, true), SinkAction::kSendEvent);
  EXPECT_EQ(Decide(crm, *vip, false), SinkAction::kSkipConsent);
  EXPECT_EQ(Decide(crm, *other, true), SinkAction::kSkipOther);
  const std::string item = RenderItem(crm, *vip, SinkAction::kSendEvent, "t:0:5");
  EXPECT_EQ(item, R"({"type":"segment_change","idempotency_key":"t:0:5","profile_id":"9","data":{"segment":"vip","change":"entered"}})");
}

TEST(DestinationFilterTest, ItemsCarryOnlyAllowedFieldsAndTheKey) {
  RecordParser parser;
  const DestinationConfig crm = Crm();
  auto record = parser.ParseProfileUpdate(ProfileUpdateToJson(Update(42, 7, {{"email_marketing", true}})));
  ASSERT_TRUE(record.ok());
  const std::string key = IdempotencyKey(*record, "");
  EXPECT_EQ(key, "42:7");
  const std::string item = RenderItem(crm, *record, SinkAction::kSendProfile, key);
  simdjson::dom::parser json;
  simdjson::dom::element doc = json.parse(item);
  EXPECT_EQ(std::string_view(doc["type"]), "profile");
  EXPECT_EQ(std::string_view(doc["idempotency_key"]), "42:7");
  EXPECT_EQ(uint64_t(doc["version"]), 7u);
  simdjson::dom::object profile = doc["profile"];
  std::vector<std::string> keys;
  for (auto [k, v] : profile) keys.emplace_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "traits"}));
  EXPECT_EQ(std::string_view(doc["profile"]["traits"]["first_name"]), "Ann");
  simdjson::dom::array changed = doc["changed"];
  EXPECT_EQ(changed.size(), 1u);  // "identifiers" changed but is not allowed

  EXPECT_EQ(RenderItem(crm, *record, SinkAction::kSendDeletion, key),
            R"({"type":"deletion","idempotency_key":"42:7","profile_id":"42","version":7,"reason":"consent_withdrawn"})");
  std::string a = "{\"x\":1}", b = "{\"y\":2}";
  EXPECT_EQ(RenderBatch("crm", {&a, &b}), R"({"destination":"crm","items":[{"x":1},{"y":2}]})");
}

}  // namespace
}  // namespace tessera::sinks
