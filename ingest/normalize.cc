#include "ingest/normalize.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "phonenumbers/phonenumber.pb.h"
#include "phonenumbers/phonenumberutil.h"

namespace tessera::ingest {
namespace {

// Debian's Abseil has its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0).
absl::string_view ToAbsl(std::string_view text) { return absl::string_view(text.data(), text.size()); }

bool IsAsciiSpace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool IsAsciiDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsAsciiAlpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Byte length of the Unicode space encoded at the start of `text` (0 if none). Besides the
// Unicode White_Space characters this counts U+200B (zero width space) and U+FEFF (BOM), which
// arrive glued to copied values just as often.
size_t UnicodeSpacePrefix(std::string_view text) {
  const auto byte = [&](size_t i) { return i < text.size() ? static_cast<unsigned char>(text[i]) : 0; };
  switch (byte(0)) {
    case 0xC2:  // U+0085, U+00A0
      return (byte(1) == 0x85 || byte(1) == 0xA0) ? 2 : 0;
    case 0xE1:  // U+1680
      return (byte(1) == 0x9A && byte(2) == 0x80) ? 3 : 0;
    case 0xE2:
      if (byte(1) == 0x80) {  // U+2000..U+200B, U+2028, U+2029, U+202F
        const unsigned char b = byte(2);
        return ((b >= 0x80 && b <= 0x8B) || b == 0xA8 || b == 0xA9 || b == 0xAF) ? 3 : 0;
      }
      return (byte(1) == 0x81 && byte(2) == 0x9F) ? 3 : 0;  // U+205F
    case 0xE3:  // U+3000
      return (byte(1) == 0x80 && byte(2) == 0x80) ? 3 : 0;
    case 0xEF:  // U+FEFF
      return (byte(1) == 0xBB && byte(2) == 0xBF) ? 3 : 0;
    default:
      return 0;
  }
}

// Byte length of the Unicode space encoded at the end of `text` (0 if none).
size_t UnicodeSpaceSuffix(std::string_view text) {
  for (size_t length : {size_t{2}, size_t{3}}) {
    if (text.size() >= length && UnicodeSpacePrefix(text.substr(text.size() - length)) == length) return length;
  }
  return 0;
}

// True if `text` contains white space of any kind or an ASCII control character.
bool ContainsSpaceOrControl(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c <= 0x20 || c == 0x7F) return true;
    if (c >= 0x80 && UnicodeSpacePrefix(text.substr(i)) > 0) return true;
  }
  return false;
}

// Characters RFC 5322 allows unquoted in a local part ("dot-atom"), plus UTF-8 (RFC 6531).
bool IsLocalPartChar(unsigned char c) {
  if (IsAsciiAlpha(c) || IsAsciiDigit(c) || c >= 0x80) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsValidLocalPart(std::string_view local) {
  if (local.empty() || local.size() > 64 || local.front() == '.' || local.back() == '.') return false;
  for (size_t i = 0; i < local.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(local[i]);
    if (c == '.') {
      if (local[i - 1] == '.') return false;
    } else if (!IsLocalPartChar(c)) {
      return false;
    }
  }
  return true;
}

bool IsValidDomainLabel(std::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
  for (unsigned char c : label) {
    if (!(IsAsciiAlpha(c) || IsAsciiDigit(c) || c == '-' || c >= 0x80)) return false;
  }
  return true;
}

bool IsValidTopLevelDomain(std::string_view tld) {
  if (tld.size() < 2) return false;
  if (tld.substr(0, 4) == "xn--") return true;
  for (unsigned char c : tld) {
    if (!(IsAsciiAlpha(c) || c >= 0x80)) return false;
  }
  return true;
}

bool IsValidDomain(std::string_view domain) {
  if (domain.empty() || domain.size() > 253) return false;
  size_t labels = 0;
  std::string_view rest = domain;
  while (true) {
    const size_t dot = rest.find('.');
    const std::string_view label = rest.substr(0, dot);
    if (!IsValidDomainLabel(label)) return false;
    ++labels;
    if (dot == std::string_view::npos) return labels >= 2 && IsValidTopLevelDomain(label);
    rest.remove_prefix(dot + 1);
  }
}


// The value of the `count` ASCII digits at text[at], or -1 if any is not a digit.
int Digits(std::string_view text, size_t at, size_t count) {
  int value = 0;
  for (size_t i = at; i < at + count; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!IsAsciiDigit(c)) return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t yoe = year - era * 400;
  const int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// What trackers send (JavaScript's toISOString, the SDKs' ISO formatters): "YYYY-MM-DDThh:mm:ss",
// an optional fraction of 1-9 digits, then 'Z' or "+hh:mm"/"-hh:mm". Reads that shape with every
// field in its ordinary range; nullopt for anything else, which the caller hands to absl::ParseTime
// (no offset, a leap second, a long fraction, an odd offset...). absl's parser was a ninth of the
// collector's CPU on batches; this is the same arithmetic without the format interpreter.
std::optional<int64_t> ParseCommonRfc3339(std::string_view text) {
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':') return std::nullopt;
  const int year = Digits(text, 0, 4), month = Digits(text, 5, 2), day = Digits(text, 8, 2);
  const int hour = Digits(text, 11, 2), minute = Digits(text, 14, 2), second = Digits(text, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
      second < 0 || second > 59 || day > DaysInMonth(year, month)) {
    return std::nullopt;
  }
  size_t i = 19;
  int millis = 0;
  if (text[i] == '.') {
    const size_t first = ++i;
    while (i < text.size() && IsAsciiDigit(static_cast<unsigned char>(text[i]))) {
      if (i - first < 3) millis = millis * 10 + (text[i] - '0');
      ++i;
    }
    const size_t count = i - first;
    if (count == 0 || count > 9) return std::nullopt;
    for (size_t pad = count; pad < 3; ++pad) millis *= 10;  // ".5" is 500 ms
  }
  int offset_minutes = 0;
  if (i + 1 == text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    // UTC
  } else if (i + 6 == text.size() && (text[i] == '+' || text[i] == '-') && text[i + 3] == ':') {
    const int offset_hours = Digits(text, i + 1, 2), offset_mins = Digits(text, i + 4, 2);
    if (offset_hours < 0 || offset_hours > 23 || offset_mins < 0 || offset_mins > 59) return std::nullopt;
    offset_minutes = (text[i] == '-' ? -1 : 1) * (offset_hours * 60 + offset_mins);
  } else {
    return std::nullopt;
  }
  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
                          int64_t{offset_minutes} * 60;
  return seconds * 1000 + millis;
}

}  // namespace

std::string_view TrimSpaces(std::string_view text) {
  while (!text.empty()) {
    if (IsAsciiSpace(static_cast<unsigned char>(text.front()))) {
      text.remove_prefix(1);
    } else if (const size_t n = UnicodeSpacePrefix(text); n > 0) {
      text.remove_prefix(n);
    } else {
      break;
    }
  }
  while (!text.empty()) {
    if (IsAsciiSpace(static_cast<unsigned char>(text.back()))) {
      text.remove_suffix(1);
    } else if (const size_t n = UnicodeSpaceSuffix(text); n > 0) {
      text.remove_suffix(n);
    } else {
      break;
    }
  }
  return text;
}

std::string CollapseSpaces(std::string_view text) {
  text = TrimSpaces(text);
  std::string out;
  out.reserve(text.size());
  bool in_space = false;
  for (size_t i = 0; i < text.size();) {
    size_t space = IsAsciiSpace(static_cast<unsigned char>(text[i])) ? 1 : 0;
    if (space == 0 && static_cast<unsigned char>(text[i]) >= 0x80) space = UnicodeSpacePrefix(text.substr(i));
    if (space > 0) {
      if (!in_space) out.push_back(' ');
      in_space = true;
      i += space;
    } else {
      out.push_back(text[i]);
      in_space = false;
      ++i;
    }
  }
  return out;
}

void AsciiLowerInPlace(std::string& text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

std::optional<std::string> NormalizeEmail(std::string_view raw) {
  const std::string_view trimmed = TrimSpaces(raw);
  if (trimmed.size() < 6 || trimmed.size() > 254 || ContainsSpaceOrControl(trimmed)) return std::nullopt;
  const size_t at = trimmed.find('@');
  if (at == std::string_view::npos || trimmed.find('@', at + 1) != std::string_view::npos) return std::nullopt;
  std::string email(trimmed);
  AsciiLowerInPlace(email);
  const std::string_view view(email);
  if (!IsValidLocalPart(view.substr(0, at)) || !IsValidDomain(view.substr(at + 1))) return std::nullopt;
  return email;
}

std::optional<std::string> NormalizePhone(std::string_view raw, std::string_view default_region) {
  using i18n::phonenumbers::PhoneNumber;
  using i18n::phonenumbers::PhoneNumberUtil;
  const std::string_view trimmed = TrimSpaces(raw);
  // libphonenumber refuses more than 250 characters itself; anything near that is not a phone.
  if (trimmed.empty() || trimmed.size() > 64) return std::nullopt;
  const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
  PhoneNumber number;
  if (util.Parse(std::string(trimmed), std::string(default_region), &number) != PhoneNumberUtil::NO_PARSING_ERROR) {
    return std::nullopt;
  }
  if (!util.IsValidNumber(number)) return std::nullopt;
  std::string e164;
  util.Format(number, PhoneNumberUtil::E164, &e164);
  return e164;
}

bool IsSupportedPhoneRegion(std::string_view region) {
  static const std::set<std::string>* const kRegions = [] {
    auto* regions = new std::set<std::string>();
    i18n::phonenumbers::PhoneNumberUtil::GetInstance()->GetSupportedRegions(regions);
    return regions;
  }();
  return kRegions->contains(std::string(region));
}

CachedPhoneNormalizer::CachedPhoneNormalizer(std::string default_region, size_t max_entries)
    : default_region_(std::move(default_region)), max_entries_(std::max<size_t>(max_entries, 1)) {}

const std::string* CachedPhoneNormalizer::Normalize(std::string_view raw) {
  const std::string_view trimmed = TrimSpaces(raw);
  const absl::string_view key = ToAbsl(trimmed);
  auto it = e164_by_raw_.find(key);
  if (it == e164_by_raw_.end()) {
    if (e164_by_raw_.size() >= max_entries_) e164_by_raw_.clear();
    it = e164_by_raw_.emplace(key, NormalizePhone(trimmed, default_region_).value_or("")).first;
  }
  return it->second.empty() ? nullptr : &it->second;
}

std::string NormalizeHandle(std::string_view raw) {
  std::string_view trimmed = TrimSpaces(raw);
  while (!trimmed.empty() && trimmed.front() == '@') trimmed.remove_prefix(1);
  std::string handle(TrimSpaces(trimmed));
  AsciiLowerInPlace(handle);
  return handle;
}

std::optional<int64_t> ParseTimestamp(std::string_view text, const absl::TimeZone& default_tz) {
  text = TrimSpaces(text);
  // "YYYY-MM-DD" followed by 'T'/'t'/' ' and a time: rules out numbers, words and bare dates
  // before asking absl, and pins the year to four digits.
  if (text.size() < 19 || text[4] != '-' || text[7] != '-' ||
      !(text[10] == 'T' || text[10] == 't' || text[10] == ' ')) {
    return std::nullopt;
  }
  for (size_t i : {0, 1, 2, 3}) {
    if (!IsAsciiDigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
  }
  if (std::optional<int64_t> ms = ParseCommonRfc3339(text)) return ms;
  const bool space_separated = text[10] == ' ';
  // An explicit offset ends in 'Z'/'z' or in "+hh:mm"/"-hh:mm" (the date's '-'s are far earlier).
  const char last = text.back();
  const bool has_offset =
      last == 'Z' || last == 'z' || (text.size() >= 25 && (text[text.size() - 6] == '+' || text[text.size() - 6] == '-'));
  const char* format = nullptr;
  if (has_offset) {
    format = space_separated ? "%Y-%m-%d %H:%M:%E*S%Ez" : "%Y-%m-%d%ET%H:%M:%E*S%Ez";
  } else {
    format = space_separated ? "%Y-%m-%d %H:%M:%E*S" : "%Y-%m-%d%ET%H:%M:%E*S";
  }
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(format, ToAbsl(text), default_tz, &time, &error)) return std::nullopt;
  return absl::ToUnixMillis(time);
}

absl::StatusOr<absl::TimeZone> LoadDefaultTimeZone(std::string_view name) {
  absl::TimeZone tz;
  if (!absl::LoadTimeZone(ToAbsl(name), &tz)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown time zone '", ToAbsl(name), "'"));
  }
  return tz;
}

}  // namespace tessera::ingest
