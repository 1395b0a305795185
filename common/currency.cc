#include "common/currency.h"

#include <algorithm>
#include <iterator>
#include <limits>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

struct CurrencyEntry {
  std::string_view code;
  int exponent;
};

// Active ISO 4217 alpha codes and their minor units (ISO 4217 list one), sorted by code so a
// lookup is a binary search. Includes fund codes that carry minor units (BOV, CHE, CHW, CLF, COU,
// MXV, USN, UYI, UYW) and codes in a published transition (ANG/XCG, SLL/SLE, ZWL/ZWG, CUC,
// VED/VES), because real order feeds keep sending the old code for months. Precious metals,
// SDRs and test codes (XAU, XDR, XTS, XXX, ...) have no minor unit and are not money here.
constexpr CurrencyEntry kCurrencies[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2},
    {"AUD", 2}, {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2},
    {"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2},
    {"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2},
    {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2}, {"COP", 2},
    {"COU", 2}, {"CRC", 2}, {"CUC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0},
    {"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2},
    {"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2},
    {"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2},
    {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2},
    {"JOD", 3}, {"JPY", 0}, {"KES", 2}, {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2},
    {"KRW", 0}, {"KWD", 3}, {"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2},
    {"LRD", 2}, {"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2},
    {"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2},
    {"MXN", 2}, {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2},
    {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2},
    {"PHP", 2}, {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2},
    {"RUB", 2}, {"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2},
    {"SGD", 2}, {"SHP", 2}, {"SLE", 2}, {"SLL", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2},
    {"STN", 2}, {"SVC", 2}, {"SYP", 2}, {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2},
    {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2}, {"UAH", 2},
    {"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2},
    {"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAF", 0}, {"XCD", 2},
    {"XCG", 2}, {"XOF", 0}, {"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
    {"ZWL", 2},
};

static_assert(std::is_sorted(std::begin(kCurrencies), std::end(kCurrencies),
                             [](const CurrencyEntry& a, const CurrencyEntry& b) { return a.code < b.code; }),
              "kCurrencies must stay sorted by code for the binary search");

// Powers of ten that fit an int64: 10^0 .. 10^18.
constexpr int kMaxExponent = 18;

constexpr uint64_t Pow10(int n) {
  uint64_t value = 1;
  for (int i = 0; i < n; ++i) value *= 10;
  return value;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Debian's Abseil is built with its own absl::string_view (not std::string_view), so
// absl::StrCat needs an explicit conversion.
absl::string_view ToAbsl(std::string_view text) { return absl::string_view(text.data(), text.size()); }

}  // namespace

std::optional<int> CurrencyExponent(std::string_view code) {
  if (code.size() != 3) return std::nullopt;
  const auto it = std::lower_bound(std::begin(kCurrencies), std::end(kCurrencies), code,
                                   [](const CurrencyEntry& entry, std::string_view c) { return entry.code < c; });
  if (it == std::end(kCurrencies) || it->code != code) return std::nullopt;
  return it->exponent;
}

absl::StatusOr<int64_t> ParseDecimalToMinorUnits(std::string_view text, int exponent) {
  if (exponent < 0 || exponent > kMaxExponent) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported currency exponent ", exponent));
  }
  const std::string_view original = text;
  const bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);

  const size_t dot = text.find('.');
  const std::string_view integer_digits = text.substr(0, dot);
  const std::string_view fraction_digits =
      dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  // A plain decimal: digits, optionally '.' and digits. "5.", ".5", "+5", "1e3", " 5" are not.
  const bool plain = !integer_digits.empty() && std::all_of(integer_digits.begin(), integer_digits.end(), IsDigit) &&
                     (dot == std::string_view::npos ||
                      (!fraction_digits.empty() &&
                       std::all_of(fraction_digits.begin(), fraction_digits.end(), IsDigit)));
  if (!plain) {
    return absl::InvalidArgumentError(absl::StrCat("'", ToAbsl(original), "' is not a plain decimal number"));
  }
  // Digits beyond the currency's precision are accepted only as zeros ("10.500" THB is 1050).
  for (size_t i = static_cast<size_t>(exponent); i < fraction_digits.size(); ++i) {
    if (fraction_digits[i] != '0') {
      return absl::InvalidArgumentError(
          absl::StrCat("'", ToAbsl(original), "' has more than ", exponent, " fractional digits"));
    }
  }

  // Accumulate the magnitude unsigned: the negative range reaches one further than the positive.
  const uint64_t limit = negative ? uint64_t{1} << 63 : static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t magnitude = 0;
  auto append_digit = [&](char c) {
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (magnitude > (limit - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
    return true;
  };
  bool fits = true;
  for (char c : integer_digits) fits = fits && append_digit(c);
  for (int i = 0; i < exponent && fits; ++i) {
    fits = append_digit(static_cast<size_t>(i) < fraction_digits.size() ? fraction_digits[i] : '0');
  }
  if (!fits) {
    return absl::InvalidArgumentError(absl::StrCat("'", ToAbsl(original), "' overflows 64-bit minor units"));
  }
  if (!negative) return static_cast<int64_t>(magnitude);
  // -(2^63) is representable; negate in unsigned arithmetic to avoid signed overflow.
  return static_cast<int64_t>(~magnitude + 1);
}

std::string FormatMinorUnits(int64_t minor_units, int exponent) {
  exponent = std::clamp(exponent, 0, kMaxExponent);
  const bool negative = minor_units < 0;
  const uint64_t magnitude =
      negative ? ~static_cast<uint64_t>(minor_units) + 1 : static_cast<uint64_t>(minor_units);
  const uint64_t scale = Pow10(exponent);
  std::string out;
  if (negative) out.push_back('-');
  absl::StrAppend(&out, magnitude / scale);
  if (exponent > 0) {
    const std::string fraction = absl::StrCat(magnitude % scale);
    out.push_back('.');
    out.append(static_cast<size_t>(exponent) - fraction.size(), '0');
    out.append(fraction);
  }
  return out;
}

}  // namespace tessera
