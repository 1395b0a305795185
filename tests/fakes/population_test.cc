// Pins the synthetic population: deterministic, people disjoint, and every expected value equal to
// what an independent reading of the generated records gives (simdjson for the JSON,
// libphonenumber for phones, a union-find over identifiers for who is who). If this passes, a
// pipeline that disagrees with expected.json is wrong, not the generator.
#include "tests/fakes/population.h"

#include <phonenumbers/phonenumberutil.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "ingest/ingest.h"
#include "simdjson.h"
#include "tests/fakes/bad_input.h"

namespace tessera::testing {
namespace {

constexpr int64_t kBaseTimeMs = 1711929600000;  // 2024-04-01T00:00:00Z
constexpr int64_t kThirtyDaysMs = 30LL * 24 * 60 * 60 * 1000;

// Debian's Abseil has its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0).
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// ---------------------------------------------------------------------------------------------
// A JSON value with numbers kept as their text, so amounts are read exactly.

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  std::string text;  // string value, or number text
  bool boolean = false;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> fields;

  const Json* Get(std::string_view key) const {
    for (const auto& [name, value] : fields) {
      if (name == key) return &value;
    }
    return nullptr;
  }
  std::string Str(std::string_view key) const {
    const Json* v = Get(key);
    return v == nullptr ? "" : v->text;
  }
};

Json Convert(simdjson::ondemand::value value) {
  Json out;
  switch (value.type().value()) {
    case simdjson::ondemand::json_type::object:
      out.kind = Json::Kind::kObject;
      for (auto field : value.get_object()) {
        std::string key(field.unescaped_key().value());
        out.fields.emplace_back(std::move(key), Convert(field.value().value()));
      }
      break;
    case simdjson::ondemand::json_type::array:
      out.kind = Json::Kind::kArray;
      for (auto item : value.get_array()) out.items.push_back(Convert(item.value()));
      break;
    case simdjson::ondemand::json_type::number:
      out.kind = Json::Kind::kNumber;
      out.text = std::string(absl::StripAsciiWhitespace(Absl(value.raw_json_token())));
      break;
    case simdjson::ondemand::json_type::string:
      out.kind = Json::Kind::kString;
      out.text = std::string(value.get_string().value());
      break;
    case simdjson::ondemand::json_type::boolean:
      out.kind = Json::Kind::kBool;
      out.boolean = value.get_bool().value();
      break;
    default:
      break;
  }
  return out;
}

// Parses one message; throws (test-only) on anything that is not a JSON object.
Json ParseObject(const std::string& payload) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(payload);
  simdjson::ondemand::document doc = parser.iterate(padded);
  Json out;
  out.kind = Json::Kind::kObject;
  for (auto field : doc.get_object()) {
    std::string key(field.unescaped_key().value());
    out.fields.emplace_back(std::move(key), Convert(field.value().value()));
  }
  return out;
}

bool IsValidJson(const std::string& payload) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  return parser.parse(payload).get(element) == simdjson::SUCCESS;
}

// ---------------------------------------------------------------------------------------------
// The normalization rules of /tmp/formats.md, for the values this generator writes.

std::string NormalizeEmail(std::string_view raw) {
  std::string email = absl::AsciiStrToLower(absl::StripAsciiWhitespace(Absl(raw)));
  const size_t at = email.find('@');
  if (at == std::string::npos || at == 0 || email.find('.', at) == std::string::npos) return "";
  return email;
}

std::string NormalizePhone(std::string_view raw) {
  using i18n::phonenumbers::PhoneNumber;
  using i18n::phonenumbers::PhoneNumberUtil;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  PhoneNumber number;
  if (util.Parse(std::string(raw), "TH", &number) != PhoneNumberUtil::NO_PARSING_ERROR) return "";
  if (!util.IsValidNumber(number)) return "";
  std::string e164;
  util.Format(number, PhoneNumberUtil::E164, &e164);
  return e164;
}

int64_t ParseTime(std::string_view iso) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", std::string(iso), &t, &error)) {
    ADD_FAILURE() << "unparsable timestamp " << iso << ": " << error;
    return 0;
  }
  return absl::ToUnixMillis(t);
}

// "1250.5" -> 125050 for a two-decimal currency; -1 for anything else.
int64_t ParseCents(std::string_view text) {
  const size_t dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  std::string fraction(dot == std::string_view::npos ? "" : text.substr(dot + 1));
  if (fraction.size() > 2 || whole.empty()) return -1;
  while (fraction.size() < 2) fraction.push_back('0');
  int64_t units = 0, cents = 0;
  if (!absl::SimpleAtoi(Absl(whole), &units) || !absl::SimpleAtoi(fraction, &cents)) return -1;
  return units * 100 + cents;
}

std::string FormatCents(int64_t cents) { return absl::StrFormat("%d.%02d", cents / 100, cents % 100); }

struct Reading {
  v1::Channel channel;
  Json json;
  std::vector<std::string> identifiers;  // normalized "type:value"
  int64_t timestamp_ms = 0;
  std::string message_id;
};

Reading Read(const RawRecord& record) {
  Reading r{record.channel, ParseObject(record.payload), {}, 0, ""};
  const Json& j = r.json;
  std::set<std::string> ids;
  const auto add_email = [&ids](const Json* v) {
    if (v != nullptr && !NormalizeEmail(v->text).empty()) ids.insert("email:" + NormalizeEmail(v->text));
  };
  const auto add_phone = [&ids](const Json* v) {
    if (v == nullptr) return;
    const std::string phone = NormalizePhone(v->text);
    EXPECT_FALSE(phone.empty()) << "phone not valid for libphonenumber: " << v->text;
    if (!phone.empty()) ids.insert("phone:" + phone);
  };
  switch (record.channel) {
    case v1::CHANNEL_WEB: {
      r.message_id = j.Str("messageId");
      const Json* ts = j.Get("timestamp") != nullptr ? j.Get("timestamp") : j.Get("originalTimestamp");
      r.timestamp_ms = ParseTime(ts->text);
      if (j.Get("anonymousId") != nullptr) ids.insert("anonymous_id:" + j.Str("anonymousId"));
      if (j.Get("userId") != nullptr) ids.insert("user_id:" + j.Str("userId"));
      const Json* traits = j.Str("type") == "identify" ? j.Get("traits") : nullptr;
      if (traits == nullptr && j.Get("context") != nullptr) traits = j.Get("context")->Get("traits");
      if (traits != nullptr) {
        add_email(traits->Get("email"));
        add_phone(traits->Get("phone"));
      }
      break;
    }
    case v1::CHANNEL_SOCIAL: {
      r.message_id = j.Str("messageId");
      r.timestamp_ms = ParseTime(j.Str("timestamp"));
      std::string handle = absl::AsciiStrToLower(absl::StripAsciiWhitespace(j.Str("handle")));
      if (!handle.empty() && handle[0] == '@') handle.erase(0, 1);
      ids.insert(absl::StrCat(j.Str("platform"), ":", handle));
      if (j.Get("userId") != nullptr) ids.insert("user_id:" + j.Str("userId"));
      add_email(j.Get("email"));
      add_phone(j.Get("phone"));
      break;
    }
    case v1::CHANNEL_PURCHASE: {
      r.message_id = absl::StrCat("order:", j.Str("order_id"), ":", j.Str("status"));
      r.timestamp_ms = ParseTime(j.Str("timestamp"));
      const Json& customer = *j.Get("customer");
      if (customer.Get("user_id") != nullptr) ids.insert("user_id:" + customer.Str("user_id"));
      if (customer.Get("loyalty_id") != nullptr) {
        ids.insert("loyalty_id:" + std::string(absl::StripAsciiWhitespace(customer.Str("loyalty_id"))));
      }
      add_email(customer.Get("email"));
      add_phone(customer.Get("phone"));
      break;
    }
    default:
      ADD_FAILURE() << "unexpected channel";
  }
  r.identifiers.assign(ids.begin(), ids.end());
  return r;
}

// Union-find over identifier strings.
class Groups {
 public:
  int Id(const std::string& identifier) {
    auto [it, inserted] = ids_.try_emplace(identifier, static_cast<int>(parent_.size()));
    if (inserted) parent_.push_back(it->second);
    return it->second;
  }
  int Find(int x) {
    while (parent_[x] != x) x = parent_[x] = parent_[parent_[x]];
    return x;
  }
  void Union(int a, int b) {
    a = Find(a);
    b = Find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);
  }

 private:
  absl::flat_hash_map<std::string, int> ids_;
  std::vector<int> parent_;
};

// Folds one person's readings into an ExpectedProfile following the profile semantics.
ExpectedProfile Fold(const std::vector<const Reading*>& readings) {
  ExpectedProfile p;
  std::set<std::string> ids;
  std::tuple<int64_t, std::string> name_stamp{std::numeric_limits<int64_t>::min(), ""};
  struct OrderState {
    std::tuple<int64_t, std::string> stamp{std::numeric_limits<int64_t>::min(), ""};
    const Json* json = nullptr;
  };
  std::map<std::string, OrderState> orders;
  p.first_seen_ms = std::numeric_limits<int64_t>::max();
  p.last_seen_ms = std::numeric_limits<int64_t>::min();
  const auto set_name = [&](const Json* name, const Reading& r) {
    if (name == nullptr) return;
    std::tuple<int64_t, std::string> stamp{r.timestamp_ms, r.message_id};
    if (stamp > name_stamp) {
      name_stamp = stamp;
      p.name = name->text;
    }
  };
  for (const Reading* r : readings) {
    ids.insert(r->identifiers.begin(), r->identifiers.end());
    p.first_seen_ms = std::min(p.first_seen_ms, r->timestamp_ms);
    p.last_seen_ms = std::max(p.last_seen_ms, r->timestamp_ms);
    const Json& j = r->json;
    switch (r->channel) {
      case v1::CHANNEL_WEB:
        ++p.event_counts["web"];
        if (j.Str("type") == "track") ++p.track_event_counts[j.Str("event")];
        if (j.Str("type") == "identify") {
          set_name(j.Get("traits")->Get("name"), *r);
        } else if (j.Get("context") != nullptr && j.Get("context")->Get("traits") != nullptr) {
          set_name(j.Get("context")->Get("traits")->Get("name"), *r);
        }
        break;
      case v1::CHANNEL_SOCIAL:
        ++p.event_counts["social"];
        ++p.social_counts[absl::StrCat(j.Str("platform"), ".", j.Str("action"))];
        break;
      case v1::CHANNEL_PURCHASE: {
        ++p.event_counts["purchase"];
        set_name(j.Get("customer")->Get("name"), *r);
        OrderState& order = orders[j.Str("order_id")];
        std::tuple<int64_t, std::string> stamp{r->timestamp_ms, r->message_id};
        if (stamp > order.stamp) order = {stamp, &j};
        break;
      }
      default:
        break;
    }
  }
  std::map<std::string, int64_t> spend, refunded;
  for (const auto& [order_id, state] : orders) {
    const Json& o = *state.json;
    const std::string status = o.Str("status");
    const int64_t total = ParseCents(o.Str("total"));
    EXPECT_GE(total, 0) << "total " << o.Str("total");
    if (status == "completed") {
      ++p.orders_count;
      spend[o.Str("currency")] += total;
      int64_t item_sum = 0;
      for (const Json& item : o.Get("items")->items) {
        int64_t quantity = 0;
        EXPECT_TRUE(absl::SimpleAtoi(item.Str("quantity"), &quantity));
        p.items_by_category[absl::AsciiStrToLower(absl::StripAsciiWhitespace(item.Str("category")))] += quantity;
        item_sum += quantity * ParseCents(item.Str("unit_price"));
      }
      // The generator's totals are the items less the discount: a shop system would say the same.
      const int64_t discount = o.Get("discount") == nullptr ? 0 : ParseCents(o.Str("discount"));
      EXPECT_EQ(item_sum - discount, total) << order_id;
    } else if (status == "refunded") {
      ++p.refunds_count;
      refunded[o.Str("currency")] += total;
    } else {
      EXPECT_EQ(status, "cancelled");
      ++p.cancelled_count;
    }
  }
  for (const auto& [currency, cents] : spend) p.total_spend[currency] = FormatCents(cents);
  for (const auto& [currency, cents] : refunded) p.refunded[currency] = FormatCents(cents);
  p.identifiers.assign(ids.begin(), ids.end());
  for (const std::string& id : p.identifiers) {
    if (id.starts_with("email:")) p.key_email = id;
  }
  return p;
}

void ExpectSameProfile(const ExpectedProfile& want, const ExpectedProfile& got) {
  EXPECT_EQ(want.key_email, got.key_email);
  EXPECT_EQ(want.identifiers, got.identifiers);
  EXPECT_EQ(want.event_counts, got.event_counts);
  EXPECT_EQ(want.orders_count, got.orders_count);
  EXPECT_EQ(want.refunds_count, got.refunds_count);
  EXPECT_EQ(want.cancelled_count, got.cancelled_count);
  EXPECT_EQ(want.total_spend, got.total_spend);
  EXPECT_EQ(want.refunded, got.refunded);
  EXPECT_EQ(want.items_by_category, got.items_by_category);
  EXPECT_EQ(want.social_counts, got.social_counts);
  EXPECT_EQ(want.track_event_counts, got.track_event_counts);
  EXPECT_EQ(want.name, got.name);
  EXPECT_EQ(want.first_seen_ms, got.first_seen_ms);
  EXPECT_EQ(want.last_seen_ms, got.last_seen_ms);
}

// ---------------------------------------------------------------------------------------------

TEST(PopulationTest, SameSeedGivesSameBytesAndOtherSeedsDiffer) {
  for (uint64_t seed : {1ULL, 7ULL, 0xdeadbeefULL}) {
    const Population a = GeneratePopulation(seed, 120, kBaseTimeMs);
    const Population b = GeneratePopulation(seed, 120, kBaseTimeMs);
    ASSERT_EQ(a.records.size(), b.records.size());
    for (size_t i = 0; i < a.records.size(); ++i) {
      EXPECT_EQ(a.records[i].channel, b.records[i].channel);
      EXPECT_EQ(a.records[i].payload, b.records[i].payload);
    }
    EXPECT_EQ(ExpectedProfilesToJson(a.people), ExpectedProfilesToJson(b.people));
    const Population other = GeneratePopulation(seed + 1, 120, kBaseTimeMs);
    EXPECT_NE(ToNdjson(a.records, v1::CHANNEL_WEB), ToNdjson(other.records, v1::CHANNEL_WEB));
  }
}

TEST(PopulationTest, LargerPopulationExtendsSmallerOne) {
  const Population small = GeneratePopulation(3, 40, kBaseTimeMs);
  const Population large = GeneratePopulation(3, 240, kBaseTimeMs);
  ASSERT_EQ(large.people.size(), 240u);
  const std::vector<ExpectedProfile> prefix(large.people.begin(), large.people.begin() + 40);
  EXPECT_EQ(ExpectedProfilesToJson(small.people), ExpectedProfilesToJson(prefix));
  std::set<std::string> large_payloads;
  for (const RawRecord& r : large.records) large_payloads.insert(r.payload);
  for (const RawRecord& r : small.records) EXPECT_TRUE(large_payloads.contains(r.payload));
}

// No wall-clock bound here: a timed unit test flakes on a loaded machine (it did under ASan in CI);
// the generator's speed shows in the end-to-end tests' run times.
TEST(PopulationTest, AThousandPeopleEachHaveTheirRecords) {
  const Population population = GeneratePopulation(11, 1000, kBaseTimeMs);
  EXPECT_EQ(population.people.size(), 1000u);
  EXPECT_GT(population.records.size(), 1000u * 5);
}

TEST(PopulationTest, EveryIdentifierBelongsToExactlyOnePerson) {
  const Population population = GeneratePopulation(5, 2000, kBaseTimeMs);
  std::map<std::string, size_t> owner;
  for (size_t i = 0; i < population.people.size(); ++i) {
    const ExpectedProfile& p = population.people[i];
    EXPECT_TRUE(std::is_sorted(p.identifiers.begin(), p.identifiers.end()));
    EXPECT_TRUE(std::binary_search(p.identifiers.begin(), p.identifiers.end(), p.key_email)) << p.key_email;
    for (const std::string& id : p.identifiers) {
      auto [it, inserted] = owner.emplace(id, i);
      EXPECT_TRUE(inserted) << id << " belongs to people " << it->second << " and " << i;
    }
  }
}

// The heart: read the raw records the way ingest + identity + profiles are specified to, and
// demand the generator's ground truth.
TEST(PopulationTest, ExpectedProfilesMatchAnIndependentReadingOfTheRecords) {
  for (uint64_t seed : {1ULL, 2ULL, 42ULL}) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    const Population population = GeneratePopulation(seed, 250, kBaseTimeMs);
    std::vector<Reading> readings;
    readings.reserve(population.records.size());
    std::set<std::string> message_ids;
    for (const RawRecord& record : population.records) {
      EXPECT_LE(record.payload.size(), 32u * 1024);
      EXPECT_EQ(record.payload.find('\n'), std::string::npos);
      readings.push_back(Read(record));
      const Reading& r = readings.back();
      EXPECT_FALSE(r.identifiers.empty());
      EXPECT_LE(r.message_id.size(), 100u);
      EXPECT_TRUE(message_ids.insert(r.message_id).second) << "duplicate message id " << r.message_id;
      EXPECT_GE(r.timestamp_ms, kBaseTimeMs);
      EXPECT_LT(r.timestamp_ms, kBaseTimeMs + kThirtyDaysMs);
    }
    // Records come ordered by event time.
    for (size_t i = 1; i < readings.size(); ++i) EXPECT_LE(readings[i - 1].timestamp_ms, readings[i].timestamp_ms);

    Groups groups;
    for (const Reading& r : readings) {
      for (const std::string& id : r.identifiers) groups.Union(groups.Id(r.identifiers[0]), groups.Id(id));
    }
    std::map<int, std::vector<const Reading*>> by_group;
    for (const Reading& r : readings) by_group[groups.Find(groups.Id(r.identifiers[0]))].push_back(&r);
    ASSERT_EQ(by_group.size(), population.people.size()) << "people are not exactly the linked groups";

    std::map<std::string, const ExpectedProfile*> by_email;
    for (const ExpectedProfile& p : population.people) by_email[p.key_email] = &p;
    for (const auto& [group, members] : by_group) {
      // One person's events: strictly increasing in time.
      for (size_t i = 1; i < members.size(); ++i) EXPECT_LT(members[i - 1]->timestamp_ms, members[i]->timestamp_ms);
      const ExpectedProfile got = Fold(members);
      auto it = by_email.find(got.key_email);
      ASSERT_NE(it, by_email.end()) << got.key_email;
      SCOPED_TRACE(got.key_email);
      ExpectSameProfile(*it->second, got);
    }
  }
}

TEST(PopulationTest, PopulationCoversTheInterestingCases) {
  const Population population = GeneratePopulation(9, 300, kBaseTimeMs);
  int refunded = 0, cancelled = 0, usd = 0, loyalty = 0, latin_only = 0;
  std::set<std::string> platforms;
  for (const ExpectedProfile& p : population.people) {
    EXPECT_FALSE(p.name.empty());
    EXPECT_GE(p.event_counts.at("web"), 2);
    EXPECT_GE(p.event_counts.at("purchase"), 1);
    EXPECT_GE(p.event_counts.at("social"), 1);
    refunded += p.refunds_count > 0;
    cancelled += p.cancelled_count > 0;
    usd += p.total_spend.contains("USD") || p.refunded.contains("USD");
    for (const std::string& id : p.identifiers) {
      loyalty += id.starts_with("loyalty_id:");
      const std::string type = id.substr(0, id.find(':'));
      if (type != "email" && type != "phone" && type != "user_id" && type != "anonymous_id" && type != "loyalty_id") {
        platforms.insert(type);
      }
    }
    latin_only += std::all_of(p.name.begin(), p.name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  }
  EXPECT_GT(refunded, 10);
  EXPECT_GT(cancelled, 5);
  EXPECT_GT(usd, 10);
  EXPECT_GT(loyalty, 60);
  EXPECT_GT(latin_only, 10);
  EXPECT_EQ(platforms, (std::set<std::string>{"facebook", "instagram", "line", "tiktok", "x"}));
  // The messy spellings that normalization must undo are really there.
  const std::string web = ToNdjson(population.records, v1::CHANNEL_WEB);
  const std::string purchase = ToNdjson(population.records, v1::CHANNEL_PURCHASE);
  const std::string social = ToNdjson(population.records, v1::CHANNEL_SOCIAL);
  EXPECT_NE(web.find(R"("email":" )"), std::string::npos);
  EXPECT_NE(web.find(R"("userId":1)"), std::string::npos) << "numeric userId";
  EXPECT_NE(web.find(R"("originalTimestamp")"), std::string::npos);
  EXPECT_NE(purchase.find(R"("phone":"08)"), std::string::npos);
  EXPECT_NE(purchase.find(R"("total":")"), std::string::npos) << "decimal string amount";
  EXPECT_NE(purchase.find(R"("status":"refunded")"), std::string::npos);
  EXPECT_NE(social.find(R"("phone":"+66 8)"), std::string::npos);
  EXPECT_NE(social.find(R"("rating":)"), std::string::npos);
}

TEST(PopulationTest, NdjsonHasOneLinePerRecordOfTheChannel) {
  const Population population = GeneratePopulation(4, 50, kBaseTimeMs);
  size_t lines = 0;
  for (v1::Channel channel : {v1::CHANNEL_WEB, v1::CHANNEL_SOCIAL, v1::CHANNEL_PURCHASE}) {
    const std::string ndjson = ToNdjson(population.records, channel);
    ASSERT_FALSE(ndjson.empty());
    EXPECT_EQ(ndjson.back(), '\n');
    lines += static_cast<size_t>(std::count(ndjson.begin(), ndjson.end(), '\n'));
  }
  EXPECT_EQ(lines, population.records.size());
}

TEST(PopulationTest, ExpectedJsonIsValidAndNamesEveryone) {
  const Population population = GeneratePopulation(8, 30, kBaseTimeMs);
  const std::string json = ExpectedProfilesToJson(population.people);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(json).get(root), simdjson::SUCCESS);
  simdjson::dom::array people;
  ASSERT_EQ(root.get_array().get(people), simdjson::SUCCESS);
  ASSERT_EQ(people.size(), 30u);
  size_t i = 0;
  for (simdjson::dom::element person : people) {
    std::string_view email, name;
    ASSERT_EQ(person["key_email"].get_string().get(email), simdjson::SUCCESS);
    ASSERT_EQ(person["name"].get_string().get(name), simdjson::SUCCESS);
    EXPECT_EQ(email, population.people[i].key_email);
    EXPECT_EQ(name, population.people[i].name);
    ++i;
  }
}

// ---------------------------------------------------------------------------------------------

TEST(BadInputTest, EveryRejectionReasonIsCoveredByAValidLookingRecord) {
  const std::vector<BadRecord> bad = BadRecords();
  std::set<std::string> reasons, payloads;
  for (const BadRecord& r : bad) {
    SCOPED_TRACE(r.what);
    reasons.insert(r.reason);
    EXPECT_TRUE(payloads.insert(r.payload).second) << "duplicate payload";
    EXPECT_NE(r.channel, v1::CHANNEL_UNSPECIFIED);
    if (r.reason == ingest::kTooLarge) {
      EXPECT_GT(r.payload.size(), 32u * 1024);
      EXPECT_TRUE(IsValidJson(r.payload)) << "only its size should be wrong";
    } else {
      EXPECT_LE(r.payload.size(), 32u * 1024);
      // Everything but invalid_json is well-formed JSON, so the parser gets to the real problem.
      EXPECT_EQ(IsValidJson(r.payload) && r.payload.front() == '{', r.reason != ingest::kInvalidJson);
    }
  }
  const std::set<std::string> all = {
      std::string(ingest::kInvalidJson),     std::string(ingest::kTooLarge),
      std::string(ingest::kMissingField),    std::string(ingest::kInvalidField),
      std::string(ingest::kUnknownType),     std::string(ingest::kInvalidTimestamp),
      std::string(ingest::kInvalidCurrency), std::string(ingest::kInvalidAmount),
      std::string(ingest::kNoIdentifier)};
  EXPECT_EQ(reasons, all);
}

TEST(BadInputTest, TheBriefsNamedCasesArePresent) {
  const std::vector<BadRecord> bad = BadRecords();
  const auto has = [&bad](v1::Channel channel, std::string_view reason, std::string_view needle) {
    return std::any_of(bad.begin(), bad.end(), [&](const BadRecord& r) {
      return r.channel == channel && r.reason == reason && r.payload.find(needle) != std::string::npos;
    });
  };
  EXPECT_TRUE(has(v1::CHANNEL_PURCHASE, ingest::kInvalidCurrency, R"("currency":"XXY")"));
  EXPECT_TRUE(has(v1::CHANNEL_PURCHASE, ingest::kInvalidAmount, R"("total":"12.345")"));
  EXPECT_TRUE(has(v1::CHANNEL_SOCIAL, ingest::kInvalidTimestamp, R"("timestamp":"yesterday")"));
  EXPECT_TRUE(has(v1::CHANNEL_WEB, ingest::kInvalidField, std::string(101, 'm')));
  EXPECT_TRUE(has(v1::CHANNEL_WEB, ingest::kTooLarge, std::string(40 * 1024, 'x')));
  const auto web_track_without_event = std::any_of(bad.begin(), bad.end(), [](const BadRecord& r) {
    return r.channel == v1::CHANNEL_WEB && r.reason == ingest::kMissingField &&
           r.payload.find(R"("type":"track")") != std::string::npos && r.payload.find(R"("event")") == std::string::npos;
  });
  EXPECT_TRUE(web_track_without_event);
  const auto order_without_id = std::any_of(bad.begin(), bad.end(), [](const BadRecord& r) {
    return r.channel == v1::CHANNEL_PURCHASE && r.reason == ingest::kMissingField &&
           r.payload.find("order_id") == std::string::npos;
  });
  EXPECT_TRUE(order_without_id);
  const auto web_without_ids = std::any_of(bad.begin(), bad.end(), [](const BadRecord& r) {
    return r.channel == v1::CHANNEL_WEB && r.reason == ingest::kNoIdentifier &&
           r.payload.find("userId") == std::string::npos && r.payload.find("anonymousId") == std::string::npos;
  });
  EXPECT_TRUE(web_without_ids);
}

}  // namespace
}  // namespace tessera::testing
