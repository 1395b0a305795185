// Pins common/currency.cc: the ISO 4217 exponent table and exact decimal <-> minor-unit conversion.
#include "common/currency.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>

namespace tessera {
namespace {

TEST(CurrencyExponentTest, KnowsActiveCodes) {
  struct Case {
    std::string_view code;
    int exponent;
  };
  const Case cases[] = {
      {"THB", 2}, {"USD", 2}, {"EUR", 2}, {"GBP", 2}, {"SGD", 2}, {"MYR", 2}, {"IDR", 2}, {"PHP", 2},
      {"CNY", 2}, {"INR", 2}, {"LAK", 2}, {"MMK", 2}, {"KHR", 2}, {"AED", 2}, {"ZWL", 2}, {"JPY", 0},
      {"KRW", 0}, {"VND", 0}, {"CLP", 0}, {"ISK", 0}, {"PYG", 0}, {"UGX", 0}, {"XOF", 0}, {"XAF", 0},
      {"XPF", 0}, {"KWD", 3}, {"BHD", 3}, {"JOD", 3}, {"OMR", 3}, {"TND", 3}, {"IQD", 3}, {"LYD", 3},
      {"CLF", 4}, {"UYW", 4},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CurrencyExponent(c.code), c.exponent) << c.code;
  }
}

TEST(CurrencyExponentTest, RejectsWhatIsNotAnActiveCode) {
  for (std::string_view code : {"XXY", "thb", "Thb", "", "TH", "THBB", "XAU", "XDR", "XTS", "XXX", "HRK", "BYR",
                                "VEF", "DEM", "THB "}) {
    EXPECT_EQ(CurrencyExponent(code), std::nullopt) << "'" << code << "'";
  }
}

TEST(ParseDecimalToMinorUnitsTest, ConvertsPlainDecimalsExactly) {
  struct Case {
    std::string_view text;
    int exponent;
    int64_t minor_units;
  };
  const Case cases[] = {
      {"1250.50", 2, 125050},
      {"1250.5", 2, 125050},
      {"1250", 2, 125000},
      {"10.500", 2, 1050},  // zeros past the currency's precision are harmless
      {"0.05", 2, 5},
      {"-0.05", 2, -5},
      {"-3", 2, -300},
      {"-0", 2, 0},
      {"007", 2, 700},
      {"0", 0, 0},
      {"7", 0, 7},
      {"7.000", 0, 7},
      {"1.234", 3, 1234},
      {"1.2345", 4, 12345},
      {"0.1", 2, 10},  // 0.1 is not a binary fraction: never goes through a double
      {"92233720368547758.07", 2, std::numeric_limits<int64_t>::max()},
      {"-92233720368547758.08", 2, std::numeric_limits<int64_t>::min()},
      {"9223372036854775807", 0, std::numeric_limits<int64_t>::max()},
  };
  for (const Case& c : cases) {
    const absl::StatusOr<int64_t> parsed = ParseDecimalToMinorUnits(c.text, c.exponent);
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.status();
    EXPECT_EQ(*parsed, c.minor_units) << c.text;
  }
}

TEST(ParseDecimalToMinorUnitsTest, RejectsAnythingElse) {
  struct Case {
    std::string_view text;
    int exponent;
  };
  const Case cases[] = {
      {"12.345", 2},  // more precision than THB has
      {"7.5", 0},
      {"1e3", 2},
      {"1E3", 2},
      {"1.5e2", 2},
      {"+5", 2},
      {" 5", 2},
      {"5 ", 2},
      {"", 2},
      {"-", 2},
      {".5", 2},
      {"5.", 2},
      {"1,000.00", 2},
      {"0x10", 2},
      {"1.2.3", 2},
      {"--1", 2},
      {"NaN", 2},
      {"Infinity", 2},
      {"\xd9\xa1\xd9\xa2", 2},  // Arabic-Indic digits
      {"92233720368547758.08", 2},
      {"-92233720368547758.09", 2},
      {"99999999999999999999999", 0},
      {"1", -1},
      {"1", 19},
  };
  for (const Case& c : cases) {
    const absl::StatusOr<int64_t> parsed = ParseDecimalToMinorUnits(c.text, c.exponent);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << "'" << c.text << "' exponent " << c.exponent << " gave " << (parsed.ok() ? std::to_string(*parsed) : "");
  }
}

TEST(FormatMinorUnitsTest, WritesTheCurrencysDigits) {
  struct Case {
    int64_t minor_units;
    int exponent;
    std::string_view text;
  };
  const Case cases[] = {
      {125050, 2, "1250.50"},
      {125000, 2, "1250.00"},
      {-5, 2, "-0.05"},
      {0, 2, "0.00"},
      {7, 0, "7"},
      {-7, 0, "-7"},
      {1050, 3, "1.050"},
      {12345, 4, "1.2345"},
      {std::numeric_limits<int64_t>::max(), 2, "92233720368547758.07"},
      {std::numeric_limits<int64_t>::min(), 2, "-92233720368547758.08"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FormatMinorUnits(c.minor_units, c.exponent), c.text) << c.minor_units;
  }
}

// Property: formatting then parsing gives back the same amount, for any amount and exponent,
// and formatting always writes exactly `exponent` fractional digits.
TEST(CurrencyPropertyTest, FormatThenParseRoundTrips) {
  std::mt19937_64 random(20240301);
  std::uniform_int_distribution<int> exponent_of(0, 4);
  for (int i = 0; i < 20000; ++i) {
    int64_t amount = static_cast<int64_t>(random());
    if (i % 3 == 0) amount %= 1'000'000;  // plenty of small amounts too, where zero padding matters
    const int exponent = exponent_of(random);
    const std::string text = FormatMinorUnits(amount, exponent);
    const absl::StatusOr<int64_t> parsed = ParseDecimalToMinorUnits(text, exponent);
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.status();
    ASSERT_EQ(*parsed, amount) << text;
    const size_t dot = text.find('.');
    if (exponent == 0) {
      ASSERT_EQ(dot, std::string::npos) << text;
    } else {
      ASSERT_EQ(text.size() - dot - 1, static_cast<size_t>(exponent)) << text;
    }
  }
}

// Property: appending zeros to the fraction never changes the amount.
TEST(CurrencyPropertyTest, TrailingZerosDoNotChangeTheAmount) {
  std::mt19937_64 random(7);
  for (int i = 0; i < 2000; ++i) {
    const int64_t amount = static_cast<int64_t>(random() % 100'000'000) - 50'000'000;
    std::string text = FormatMinorUnits(amount, 2);
    for (int zeros = 0; zeros < 5; ++zeros) {
      const absl::StatusOr<int64_t> parsed = ParseDecimalToMinorUnits(text, 2);
      ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.status();
      ASSERT_EQ(*parsed, amount) << text;
      text.push_back('0');
    }
  }
}

}  // namespace
}  // namespace tessera
