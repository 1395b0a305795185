// Normalization of identifier values and event times, shared by ingest and (later) the HTTP
// collector. Every identifier Tessera compares goes through one of these first, so two spellings of
// the same email, phone or handle become one identifier.
//
// The functions are pure and thread-safe (libphonenumber's PhoneNumberUtil is a thread-safe
// singleton; an absl::TimeZone is an immutable handle). CachedPhoneNormalizer is not thread-safe:
// one per thread.
//
//   NormalizeEmail("  Somchai.K@Example.CO.TH ")   -> "somchai.k@example.co.th"
//   NormalizePhone("081-234-5678", "TH")           -> "+66812345678"
//   NormalizeHandle(" @Somchai.K ")                -> "somchai.k"
//   ParseTimestamp("2024-03-01T10:15:30.250+07:00", tz) -> 1709262930250
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tessera::ingest {

// Removes leading and trailing white space: ASCII white space and the Unicode spaces people paste
// from spreadsheets and chat apps (U+00A0 no-break space, U+2000..U+200B, U+202F, U+205F, U+3000,
// U+1680, U+0085, U+2028, U+2029, U+FEFF). `text` is UTF-8; the result is a view into it.
std::string_view TrimSpaces(std::string_view text);

// TrimSpaces, and every inner run of white space (ASCII or the Unicode spaces above) replaced by
// one ASCII space: "  สมชาย \u00a0 ใจดี " -> "สมชาย ใจดี". Other bytes are copied untouched.
std::string CollapseSpaces(std::string_view text);

// Lower-cases ASCII letters in place; other bytes (UTF-8 of Thai, etc.) are left untouched.
void AsciiLowerInPlace(std::string& text);

// A usable email identifier: spaces trimmed, ASCII lower-cased, and shaped local@domain.tld
// (one '@', no white space or control characters, dot-separated domain labels of letters, digits
// and '-', a top-level domain of at least two letters or an IDN "xn--" label). nullopt otherwise:
// such a value is not an identifier (it may still be kept as a trait).
std::optional<std::string> NormalizeEmail(std::string_view raw);

// A valid phone number in E.164 ("+66812345678"), parsed with libphonenumber; numbers written
// without a country code are read in `default_region` (ISO 3166 alpha-2, e.g. "TH", "US").
// nullopt for anything libphonenumber cannot parse or does not consider a valid number.
std::optional<std::string> NormalizePhone(std::string_view raw, std::string_view default_region);

// True for a region libphonenumber knows ("TH", "GB", "US"; upper case), i.e. one NormalizePhone
// can read national numbers in.
bool IsSupportedPhoneRegion(std::string_view region);

// NormalizePhone for one default region, remembering its answers. libphonenumber spends ~8 us
// per number in ICU regular expressions, which alone would cap a thread near 100k events/s; a
// customer's phone recurs across their events, so most calls become a hash lookup. The answers are
// exactly NormalizePhone's. Bounded: forgets everything when it reaches `max_entries`.
// Not thread-safe: one per thread (an EventParser owns one).
class CachedPhoneNormalizer {
 public:
  explicit CachedPhoneNormalizer(std::string default_region, size_t max_entries = size_t{1} << 16);

  // Same as NormalizePhone(raw, default_region). The pointer is valid until the next call; nullptr
  // when the value is not a valid phone number.
  const std::string* Normalize(std::string_view raw);

 private:
  const std::string default_region_;
  const size_t max_entries_;
  // Trimmed raw text -> E.164, or "" for "not a valid number".
  absl::flat_hash_map<std::string, std::string> e164_by_raw_;
};

// A social handle as an identifier value: spaces trimmed, leading '@'s stripped, ASCII
// lower-cased; other UTF-8 kept as is. May return "" (then it is not an identifier).
std::string NormalizeHandle(std::string_view raw);

// Event time in UTC epoch milliseconds from RFC 3339 text: "2024-03-01T10:15:30Z",
// "2024-03-01T10:15:30.123456+07:00", a space instead of 'T' ("2024-03-01 10:15:30Z"). Text
// without an offset ("2024-03-01T10:15:30") is local time in `default_tz`. Fractions below a
// millisecond are truncated toward the past. nullopt for anything else (numbers, "yesterday",
// a date without a time, years outside 0000..9999).
std::optional<int64_t> ParseTimestamp(std::string_view text, const absl::TimeZone& default_tz);

// Loads an IANA time zone ("Asia/Bangkok", "UTC") for ParseTimestamp. InvalidArgument for a name
// the system's zoneinfo does not know.
absl::StatusOr<absl::TimeZone> LoadDefaultTimeZone(std::string_view name);

}  // namespace tessera::ingest
