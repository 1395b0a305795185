// Pins ingest/normalize.cc: how emails, phones, handles and timestamps become comparable values.
#include "ingest/normalize.h"

#include <gtest/gtest.h>

#include <cstdio>

#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace tessera::ingest {
namespace {

TEST(TrimSpacesTest, RemovesAsciiAndUnicodeSpacesAtBothEnds) {
  EXPECT_EQ(TrimSpaces("  a b \t\r\n"), "a b");
  EXPECT_EQ(TrimSpaces("\u00a0\u3000a\u200b\ufeff"), "a");
  EXPECT_EQ(TrimSpaces("\u2003\u202f\u205f\u1680\u0085x\u2028\u2029"), "x");
  EXPECT_EQ(TrimSpaces("   "), "");
  EXPECT_EQ(TrimSpaces(""), "");
  // Thai text is not space, even though its UTF-8 also starts with 0xE0.
  EXPECT_EQ(TrimSpaces(" สมชาย "), "สมชาย");
}

TEST(NormalizeEmailTest, TrimsLowerCasesAndValidates) {
  struct Case {
    std::string_view raw;
    std::optional<std::string_view> normalized;
  };
  const Case cases[] = {
      {"Somchai.K@Example.CO.TH", "somchai.k@example.co.th"},
      {"  somchai@example.com  ", "somchai@example.com"},
      {"\t SOMCHAI@EXAMPLE.COM\n", "somchai@example.com"},
      {"\u00a0somchai@example.com\u3000", "somchai@example.com"},
      {"somchai+promo@gmail.com", "somchai+promo@gmail.com"},
      {"o'brien_1@mail.example.org", "o'brien_1@mail.example.org"},
      {"a@b.co", "a@b.co"},
      {"somchai@xn--72c1a1bt4awk9o.xn--o3cw4h", "somchai@xn--72c1a1bt4awk9o.xn--o3cw4h"},
      {"สมชาย@ตัวอย่าง.ไทย", "สมชาย@ตัวอย่าง.ไทย"},  // internationalized: UTF-8 kept
      {"", std::nullopt},
      {"   ", std::nullopt},
      {"somchai", std::nullopt},
      {"somchai@", std::nullopt},
      {"@example.com", std::nullopt},
      {"somchai@example", std::nullopt},  // no top-level domain
      {"som chai@example.com", std::nullopt},
      {"somchai@exa mple.com", std::nullopt},
      {"somchai@exa\u00a0mple.com", std::nullopt},
      {"somchai@@example.com", std::nullopt},
      {"som@chai@example.com", std::nullopt},
      {"somchai@example.c", std::nullopt},
      {"somchai@example.123", std::nullopt},
      {"somchai@.example.com", std::nullopt},
      {"somchai@example..com", std::nullopt},
      {"somchai@example.com.", std::nullopt},
      {"somchai@-example.com", std::nullopt},
      {".somchai@example.com", std::nullopt},
      {"somchai.@example.com", std::nullopt},
      {"som..chai@example.com", std::nullopt},
      {"\"somchai\"@example.com", std::nullopt},
      {"somchai@example.com\x01", std::nullopt},
      {"null", std::nullopt},
      {"undefined", std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizeEmail(c.raw), c.normalized) << "'" << c.raw << "'";
  }
}

// Property: normalization is idempotent, and insensitive to ASCII case and surrounding spaces.
TEST(NormalizeEmailTest, IsIdempotentAndIgnoresCaseAndPadding) {
  const std::string_view emails[] = {"Somchai.K@Example.CO.TH", "a@b.co", "x_y+z@mail.example.org",
                                     "สมชาย@ตัวอย่าง.ไทย"};
  std::mt19937 random(42);
  for (std::string_view email : emails) {
    const std::optional<std::string> normalized = NormalizeEmail(email);
    ASSERT_TRUE(normalized.has_value()) << email;
    EXPECT_EQ(NormalizeEmail(*normalized), normalized);
    for (int i = 0; i < 50; ++i) {
      std::string variant(email);
      for (char& c : variant) {
        if (random() % 2 == 0 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      }
      const std::string_view pads[] = {"", " ", "\t", "\u00a0", "\u3000", "\n "};
      variant = std::string(pads[random() % 6]) + variant + std::string(pads[random() % 6]);
      EXPECT_EQ(NormalizeEmail(variant), normalized) << "'" << variant << "'";
    }
  }
}

TEST(NormalizePhoneTest, FormatsValidNumbersAsE164) {
  struct Case {
    std::string_view raw;
    std::string_view region;
    std::optional<std::string_view> e164;
  };
  const Case cases[] = {
      // Thailand: mobile and Bangkok landline, national and international forms.
      {"081-234-5678", "TH", "+66812345678"},
      {"0812345678", "TH", "+66812345678"},
      {"+66 81 234 5678", "TH", "+66812345678"},
      {"+66812345678", "TH", "+66812345678"},
      {"(+66) 81-234-5678", "TH", "+66812345678"},
      {" 081 234 5678\u00a0", "TH", "+66812345678"},
      {"02 123 4567", "TH", "+6621234567"},
      // United States and United Kingdom in their own region.
      {"(415) 555-2671", "US", "+14155552671"},
      {"415.555.2671", "US", "+14155552671"},
      {"020 7946 0958", "GB", "+442079460958"},
      {"07400 123456", "GB", "+447400123456"},
      // International numbers keep their country whatever the default region.
      {"+1 415-555-2671", "TH", "+14155552671"},
      {"+44 20 7946 0958", "TH", "+442079460958"},
      {"+66 81 234 5678", "US", "+66812345678"},
      {"+81 3-1234-5678", "TH", "+81312345678"},
      {"+65 6123 4567", "TH", "+6561234567"},
      // Not valid numbers.
      {"", "TH", std::nullopt},
      {"abc", "TH", std::nullopt},
      {"12", "TH", std::nullopt},
      {"0000000000", "TH", std::nullopt},
      {"081-234-567", "TH", std::nullopt},
      {"(415) 555-2671", "TH", std::nullopt},  // a US number read as Thai is not a Thai number
      {"+999 1234 5678", "TH", std::nullopt},
      {"null", "TH", std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizePhone(c.raw, c.region), c.e164) << "'" << c.raw << "' in " << c.region;
  }
}

TEST(NormalizePhoneTest, IsIdempotent) {
  for (std::string_view raw : {"081-234-5678", "02 123 4567", "+1 415-555-2671", "+44 20 7946 0958"}) {
    const std::optional<std::string> e164 = NormalizePhone(raw, "TH");
    ASSERT_TRUE(e164.has_value()) << raw;
    EXPECT_EQ(NormalizePhone(*e164, "TH"), e164);
    EXPECT_EQ(NormalizePhone(*e164, "US"), e164);  // E.164 carries its country
  }
}

// Property: the cache answers exactly what NormalizePhone answers, in any order, repeatedly, and
// across evictions (a capacity of 3 forces many).
TEST(CachedPhoneNormalizerTest, AnswersExactlyLikeNormalizePhone) {
  const std::string_view raws[] = {"081-234-5678", " 0812345678 ", "+66 81 234 5678", "02 123 4567", "abc", "",
                                   "0000000000",   "+1 415-555-2671", "(415) 555-2671", "+44 20 7946 0958"};
  for (size_t capacity : {size_t{3}, size_t{1} << 16}) {
    CachedPhoneNormalizer cache("TH", capacity);
    std::mt19937 random(static_cast<unsigned>(capacity));
    for (int i = 0; i < 300; ++i) {
      const std::string_view raw = raws[random() % std::size(raws)];
      const std::optional<std::string> expected = NormalizePhone(raw, "TH");
      const std::string* actual = cache.Normalize(raw);
      if (expected.has_value()) {
        ASSERT_NE(actual, nullptr) << "'" << raw << "'";
        EXPECT_EQ(*actual, *expected) << "'" << raw << "'";
      } else {
        EXPECT_EQ(actual, nullptr) << "'" << raw << "'";
      }
    }
  }
}

TEST(NormalizeHandleTest, StripsAtAndSpacesAndLowerCasesAscii) {
  struct Case {
    std::string_view raw;
    std::string_view handle;
  };
  const Case cases[] = {
      {"@Somchai.K", "somchai.k"},
      {"Somchai.K", "somchai.k"},
      {"  @@Somchai_K \u00a0", "somchai_k"},
      {"@ สมชาย.ใจดี", "สมชาย.ใจดี"},
      {"\xc3\x89" "COLE", "\xc3\x89" "cole"},  // only ASCII is lower-cased
      {"@", ""},
      {"   ", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizeHandle(c.raw), c.handle) << "'" << c.raw << "'";
    EXPECT_EQ(NormalizeHandle(NormalizeHandle(c.raw)), c.handle) << "idempotent: '" << c.raw << "'";
  }
}

class ParseTimestampTest : public ::testing::Test {
 protected:
  absl::TimeZone bangkok_ = LoadDefaultTimeZone("Asia/Bangkok").value();
};

TEST_F(ParseTimestampTest, ReadsRfc3339) {
  // 2024-03-01T00:00:00Z is 1709251200 s after the epoch.
  constexpr int64_t kMarch1 = 1709251200000;
  struct Case {
    std::string_view text;
    int64_t ms;
  };
  const Case cases[] = {
      {"2024-03-01T10:15:30Z", kMarch1 + 36930000},
      {"2024-03-01T10:15:30z", kMarch1 + 36930000},
      {"2024-03-01t10:15:30Z", kMarch1 + 36930000},
      {"2024-03-01 10:15:30Z", kMarch1 + 36930000},
      {"2024-03-01T10:15:30+00:00", kMarch1 + 36930000},
      {"2024-03-01T10:15:30.250+07:00", kMarch1 + 36930000 - 7 * 3600000 + 250},
      {"2024-03-01T10:15:30.5+07:00", kMarch1 + 36930000 - 7 * 3600000 + 500},
      {"2024-03-01T10:15:30.123456789Z", kMarch1 + 36930123},  // truncated to the millisecond
      {"2024-03-01T10:15:30-05:00", kMarch1 + 36930000 + 5 * 3600000},
      {"2024-03-01T10:15:30+05:30", kMarch1 + 36930000 - 5 * 3600000 - 1800000},
      {" 2024-03-01T10:15:30Z ", kMarch1 + 36930000},
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59.999Z", -1},
      // No offset: local time in the default zone (Bangkok is UTC+7, no daylight saving).
      {"2024-03-01T10:15:30", kMarch1 + 36930000 - 7 * 3600000},
      {"2024-03-01 10:15:30.250", kMarch1 + 36930000 - 7 * 3600000 + 250},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ParseTimestamp(c.text, bangkok_), c.ms) << "'" << c.text << "'";
  }
}

TEST_F(ParseTimestampTest, NoOffsetUsesTheDefaultZone) {
  EXPECT_EQ(ParseTimestamp("2024-03-01T10:15:30", absl::UTCTimeZone()), 1709288130000);
  EXPECT_EQ(ParseTimestamp("2024-03-01T10:15:30", bangkok_), 1709288130000 - 7 * 3600000);
  // An explicit offset wins over the default zone.
  EXPECT_EQ(ParseTimestamp("2024-03-01T10:15:30Z", bangkok_), 1709288130000);
}

TEST_F(ParseTimestampTest, RejectsGarbage) {
  for (std::string_view text :
       {"yesterday", "", "   ", "1709288130000", "1709288130", "2024-03-01", "2024-03-01T10:15Z", "2024-03-01T10:15:30Zjunk",
        "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-03-01T25:00:00Z", "2024-03-01T10:61:00Z",
        "2024-03-01T10:15:30+25:00", "01/03/2024 10:15:30", "2024/03/01T10:15:30Z", "10:15:30 2024-03-01",
        "+12024-03-01T10:15:30Z", "2024-03-01X10:15:30Z", "null"}) {
    EXPECT_EQ(ParseTimestamp(text, bangkok_), std::nullopt) << "'" << text << "'";
  }
}

// absl::ParseTime with the RFC 3339 formats: what ParseTimestamp answered before its fast path for
// what trackers send, and still the judge of everything else.
std::optional<int64_t> ParseWithAbsl(std::string_view text, const absl::TimeZone& zone) {
  text = TrimSpaces(text);
  if (text.size() < 19 || text[4] != '-' || text[7] != '-' || !(text[10] == 'T' || text[10] == 't' || text[10] == ' ')) {
    return std::nullopt;
  }
  for (size_t i : {0, 1, 2, 3}) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  const bool spaced = text[10] == ' ';
  const char last = text.back();
  const bool offset =
      last == 'Z' || last == 'z' || (text.size() >= 25 && (text[text.size() - 6] == '+' || text[text.size() - 6] == '-'));
  const char* format = offset ? (spaced ? "%Y-%m-%d %H:%M:%E*S%Ez" : "%Y-%m-%d%ET%H:%M:%E*S%Ez")
                              : (spaced ? "%Y-%m-%d %H:%M:%E*S" : "%Y-%m-%d%ET%H:%M:%E*S");
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(format, absl::string_view(text.data(), text.size()), zone, &time, &error)) return std::nullopt;
  return absl::ToUnixMillis(time);
}

// The fast path for the common shape must agree with absl on every text: well-formed ones across
// years 0000-9999, fractions of 0-12 digits, every offset form, and the same texts with one byte
// changed (out-of-range fields, stray characters), which either path may refuse but both alike.
TEST_F(ParseTimestampTest, AgreesWithAbslParseTimeOnRandomAndMutatedTexts) {
  // Month ends, leap days of century years included (a wrong leap rule only shows there).
  for (int year : {0, 1600, 1700, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 9999}) {
    for (int month = 1; month <= 12; ++month) {
      for (int day = 27; day <= 32; ++day) {
        char text[32];
        std::snprintf(text, sizeof text, "%04d-%02d-%02dT23:59:59.999Z", year, month, day);
        ASSERT_EQ(ParseTimestamp(text, bangkok_), ParseWithAbsl(text, bangkok_)) << "'" << text << "'";
      }
    }
  }
  std::mt19937_64 rng(20261206);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const std::string alphabet = "0123456789:-+.TtZz 9x";
  int fast_shape = 0, compared = 0;
  for (int round = 0; round < 200000; ++round) {
    const int year = pick(0, 3) == 0 ? pick(0, 9999) : pick(1960, 2040);
    const int month = pick(1, 12);
    const int day = pick(1, pick(0, 9) == 0 ? 31 : 28);
    char text[64];
    int n = std::snprintf(text, sizeof text, "%04d-%02d-%02d%c%02d:%02d:%02d", year, month, day, "TTTt "[pick(0, 4)],
                          pick(0, 23), pick(0, 59), pick(0, 59));
    std::string s(text, n);
    if (const int digits = pick(-6, 12); digits > 0) {
      s.push_back('.');
      for (int d = 0; d < digits; ++d) s.push_back(static_cast<char>('0' + pick(0, 9)));
    }
    switch (pick(0, 5)) {
      case 0: s += "Z"; break;
      case 1: s += "z"; break;
      case 2: break;  // local time in the zone
      default:
        std::snprintf(text, sizeof text, "%c%02d:%02d", pick(0, 1) ? '+' : '-', pick(0, 14), pick(0, 3) * 15);
        s += text;
    }
    if (pick(0, 2) == 0) {  // one byte changed
      s[static_cast<size_t>(pick(0, static_cast<int>(s.size()) - 1))] = alphabet[static_cast<size_t>(pick(0, static_cast<int>(alphabet.size()) - 1))];
    }
    const std::optional<int64_t> expected = ParseWithAbsl(s, bangkok_);
    ASSERT_EQ(ParseTimestamp(s, bangkok_), expected) << "'" << s << "'";
    fast_shape += expected.has_value() && (s.back() == 'Z' || s.back() == 'z' || s[s.size() - 6] == '+' || s[s.size() - 6] == '-');
    ++compared;
  }
  // The comparison must have covered plenty of accepted texts, not only refusals.
  EXPECT_GT(fast_shape, compared / 3);
}

TEST(LoadDefaultTimeZoneTest, KnowsIanaNamesOnly) {
  EXPECT_TRUE(LoadDefaultTimeZone("Asia/Bangkok").ok());
  EXPECT_TRUE(LoadDefaultTimeZone("UTC").ok());
  EXPECT_EQ(LoadDefaultTimeZone("Mars/Olympus_Mons").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::ingest
