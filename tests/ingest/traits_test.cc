// Pins ingest/traits.cc: the documented forms of birthday, gender, names, address and country
// (docs/data-quality.md), and NormalizeEventTraits over whole events.
#include "ingest/traits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tessera::ingest {
namespace {

struct Case {
  std::string input;
  std::optional<std::string> expected;
};

TEST(NormalizeBirthdayTest, RealWorldForms) {
  const std::vector<Case> cases = {
      {"1990-11-25", "1990-11-25"},
      {" 1990-11-25 ", "1990-11-25"},
      {"1990/11/25", "1990-11-25"},
      {"1990.11.25", "1990-11-25"},
      {"1990-1-5", "1990-01-05"},
      {"19901125", "1990-11-25"},
      {"1990-11-25T00:00:00Z", "1990-11-25"},
      {"1990-11-25T00:00:00.000+07:00", "1990-11-25"},
      {"1990-11-25 08:30:00", "1990-11-25"},
      {"25/11/1990 10:00:00", "1990-11-25"},
      {"11/25/1990 10:00 PM", "1990-11-25"},
      {"25/11/1990", "1990-11-25"},        // day first: Thailand, UK, most of the world
      {"25-11-1990", "1990-11-25"},
      {"25.11.1990", "1990-11-25"},
      {"5/1/1990", "1990-01-05"},          // ambiguous: day first
      {"11/25/1990", "1990-11-25"},        // the day cannot be a month: American order
      {"Nov 25 1990", "1990-11-25"},
      {"Nov 25, 1990", "1990-11-25"},
      {"November 25, 1990", "1990-11-25"},
      {"25 Nov 1990", "1990-11-25"},
      {"25-Nov-1990", "1990-11-25"},
      {"25th November 1990", "1990-11-25"},
      {"Sept 3 1985", "1985-09-03"},
      {"sun nov 25 1990 00:00:00 gmt+0700 (indochina time)", "1990-11-25"},  // JavaScript Date.toString()
      {"Sun Nov 25 1990 00:00:00 GMT+0700 (Indochina Time)", "1990-11-25"},
      {"25/11/2533", "1990-11-25"},        // Buddhist era
      {"2533-11-25", "1990-11-25"},
      {"25 พ.ย. 2533", "1990-11-25"},
      {"25 พฤศจิกายน 2533", "1990-11-25"},
      {"25 พ.ย. พ.ศ. 2533", "1990-11-25"},
      {"29/02/2000", "2000-02-29"},        // leap year
      {"29/02/1900", std::nullopt},        // not a leap year
      {"31/04/1990", std::nullopt},
      {"1990-13-01", std::nullopt},
      {"25/11/90", std::nullopt},          // two-digit year: which century?
      {"1850-01-01", std::nullopt},
      {"", std::nullopt},
      {"yesterday", std::nullopt},
      {"Nov 1990", std::nullopt},
      {"25 Nov 1990 extra", std::nullopt},
      {"1990-11-25T", "1990-11-25"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizeBirthday(c.input), c.expected) << "'" << c.input << "'";
  }
}

TEST(NormalizeGenderTest, EnglishAndThaiSpellings) {
  const std::vector<Case> cases = {
      {"female", "female"}, {"F", "female"},       {" Woman ", "female"}, {"หญิง", "female"}, {"ผู้หญิง", "female"},
      {"male", "male"},     {"M", "male"},         {"MAN", "male"},       {"ชาย", "male"},    {"ผู้ชาย", "male"},
      {"non-binary", "non_binary"}, {"Non Binary", "non_binary"}, {"nonbinary", "non_binary"},
      {"non_binary", "non_binary"}, {"other", "other"}, {"อื่นๆ", "other"},
      {"unknown", "unknown"}, {"Prefer not to say", "unknown"}, {"prefer_not_to_say", "unknown"},
      {"ไม่ระบุ", "unknown"},
      {"asdf", std::nullopt}, {"", std::nullopt}, {"fe male", std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizeGender(c.input), c.expected) << "'" << c.input << "'";
  }
}

TEST(NormalizePersonNameTest, TrimsCollapsesAndKeepsThai) {
  EXPECT_EQ(NormalizePersonName("  Somchai   Jaidee "), "Somchai Jaidee");
  EXPECT_EQ(NormalizePersonName("สมชาย\u00a0\u00a0ใจดี"), "สมชาย ใจดี");
  EXPECT_EQ(NormalizePersonName("\u3000สมหญิง\t\tรักไทย\n"), "สมหญิง รักไทย");
  EXPECT_EQ(NormalizePersonName("McDonald"), "McDonald");  // never re-cased
  // NFC: "e" + combining acute becomes the precomposed "é"; Thai vowels and tone marks stay.
  EXPECT_EQ(NormalizePersonName("Rene\u0301e"), "Ren\u00e9e");
  EXPECT_EQ(NormalizePersonName("น้ำ"), "น้ำ");
  EXPECT_EQ(NormalizePersonName(" \u200b "), "");
}

TEST(NormalizeCountryTest, CodesAndNamesInEnglishAndThai) {
  const std::vector<Case> cases = {
      {"TH", "TH"}, {"th", "TH"}, {"THA", "TH"}, {"Thailand", "TH"}, {" thailand ", "TH"}, {"ไทย", "TH"},
      {"ประเทศไทย", "TH"}, {"US", "US"}, {"USA", "US"}, {"U.S.A.", "US"}, {"United States", "US"},
      {"United States of America", "US"}, {"UK", "GB"}, {"United Kingdom", "GB"}, {"GBR", "GB"},
      {"England", "GB"}, {"Japan", "JP"}, {"ญี่ปุ่น", "JP"}, {"Germany", "DE"}, {"DEU", "DE"},
      {"Singapore", "SG"}, {"LAO", "LA"}, {"Laos", "LA"}, {"Viet Nam", "VN"}, {"Vietnam", "VN"},
      {"Atlantis", std::nullopt}, {"", std::nullopt}, {"XX", std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizeCountry(c.input), c.expected) << "'" << c.input << "'";
  }
}

class NormalizeEventTraitsTest : public ::testing::Test {
 protected:
  // Normalizes traits given as name -> compact JSON; returns the counters, sorted.
  std::vector<std::string> Normalize(std::map<std::string, std::string> traits) {
    event_ = v1::Event();
    for (auto& [name, json] : traits) (*event_.mutable_traits())[name] = json;
    std::vector<std::string> counters;
    NormalizeEventTraits(event_, phones_, &counters);
    std::sort(counters.begin(), counters.end());
    return counters;
  }
  std::map<std::string, std::string> Traits() const { return {event_.traits().begin(), event_.traits().end()}; }

  CachedPhoneNormalizer phones_{"TH"};
  v1::Event event_;
};

TEST_F(NormalizeEventTraitsTest, EachKnownTraitTakesItsDocumentedForm) {
  const std::vector<std::string> counters = Normalize({
      {"email", R"("  Somchai.J@Example.CO.TH ")"},
      {"phone", R"("081-234-5678")"},
      {"birthday", R"("25/11/2533")"},
      {"gender", R"("หญิง")"},
      {"name", R"("  สมชาย   ใจดี ")"},
      {"firstName", R"(" Somchai ")"},
      {"last_name", R"("Jaidee")"},
      {"address", R"({"street":"  99 Sukhumvit  Rd ","city":"กรุงเทพฯ","country":"Thailand","postalCode":10110})"},
      {"plan", R"(" gold ")"},
  });
  EXPECT_EQ(Traits(), (std::map<std::string, std::string>{
                          {"email", R"("somchai.j@example.co.th")"},
                          {"phone", R"("+66812345678")"},
                          {"birthday", R"("1990-11-25")"},
                          {"gender", R"("female")"},
                          {"name", R"("สมชาย ใจดี")"},
                          {"firstName", R"("Somchai")"},
                          {"last_name", R"("Jaidee")"},
                          {"address", R"({"street":"99 Sukhumvit Rd","city":"กรุงเทพฯ","country":"TH","postalCode":10110})"},
                          {"plan", R"(" gold ")"},  // not a known trait: as sent
                      }));
  EXPECT_EQ(counters, (std::vector<std::string>{"normalized.address", "normalized.birthday", "normalized.email",
                                              "normalized.first_name", "normalized.gender", "normalized.name",
                                              "normalized.phone"}));
}

TEST_F(NormalizeEventTraitsTest, InvalidValuesMoveToFlaggedTraits) {
  const std::vector<std::string> counters = Normalize({
      {"email", R"("somchai at example dot com")"},
      {"phone", R"("081-234-567")"},
      {"birthday", R"("sometime in 1990")"},
      {"gender", R"("asdf")"},
  });
  EXPECT_EQ(Traits(), (std::map<std::string, std::string>{
                          {"email_invalid", R"("somchai at example dot com")"},
                          {"phone_invalid", R"("081-234-567")"},
                          {"birthday_invalid", R"("sometime in 1990")"},
                          {"gender_invalid", R"("asdf")"},
                      }));
  EXPECT_EQ(counters, (std::vector<std::string>{"invalid.birthday", "invalid.email", "invalid.gender", "invalid.phone"}));
}

TEST_F(NormalizeEventTraitsTest, UnchangedValuesAndNullsAreNotCounted) {
  const std::map<std::string, std::string> clean = {
      {"email", R"("somchai@example.com")"}, {"phone", R"("+66812345678")"}, {"birthday", R"("1990-11-25")"},
      {"gender", R"("male")"},               {"name", R"("Emma Brown")"},    {"nickname", "null"},
      {"birthday_note", R"("25/11/1990")"},  {"address", "null"}};
  EXPECT_TRUE(Normalize(clean).empty());
  EXPECT_EQ(Traits(), clean);
  // A JSON number phone becomes the E.164 string; an empty name is removed.
  EXPECT_EQ(Normalize({{"phone", "66812345678"}, {"name", R"("   ")"}}),
            (std::vector<std::string>{"normalized.name", "normalized.phone"}));
  EXPECT_EQ(Traits(), (std::map<std::string, std::string>{{"phone", R"("+66812345678")"}}));
}

TEST_F(NormalizeEventTraitsTest, ConsentTraitBecomesEventConsent) {
  Normalize({{"consent", R"({"Email_Marketing":true,"sms_marketing":"denied","analytics":"Granted","ads":42})"},
             {"name", R"("A")"}});
  EXPECT_EQ(Traits(), (std::map<std::string, std::string>{{"name", R"("A")"}}));
  EXPECT_EQ((std::map<std::string, bool>(event_.consent().begin(), event_.consent().end())),
            (std::map<std::string, bool>{{"email_marketing", true}, {"sms_marketing", false}, {"analytics", true}}));
}

}  // namespace
}  // namespace tessera::ingest
