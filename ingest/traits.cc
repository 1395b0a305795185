#include "ingest/traits.h"

#include <unicode/normalizer2.h>
#include <unicode/uloc.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <array>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "common/absl_compat.h"
#include "common/json_writer.h"
#include "ingest/json_text.h"

namespace tessera::ingest {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllDigits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), IsDigit);
}

int ToInt(std::string_view digits) {
  int value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  return value;
}

bool IsLeapYear(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

// "YYYY-MM-DD" if year/month/day name a real date in 1900..2100 (a year above 2400 is Buddhist era).
std::optional<std::string> FormatDate(int year, int month, int day) {
  if (year > 2400) year -= 543;
  if (year < 1900 || year > 2100 || month < 1 || month > 12 || day < 1) return std::nullopt;
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const int days = kDays[static_cast<size_t>(month - 1)] + (month == 2 && IsLeapYear(year) ? 1 : 0);
  if (day > days) return std::nullopt;
  std::string out = "0000-00-00";
  for (int i = 3, y = year; i >= 0; --i, y /= 10) out[static_cast<size_t>(i)] = static_cast<char>('0' + y % 10);
  out[5] = static_cast<char>('0' + month / 10);
  out[6] = static_cast<char>('0' + month % 10);
  out[8] = static_cast<char>('0' + day / 10);
  out[9] = static_cast<char>('0' + day % 10);
  return out;
}

// Splits "d<sep>d<sep>d" where every sep is one of "-/." and the same; the parts are digit runs.
bool SplitNumericDate(std::string_view text, std::string_view parts[3]) {
  size_t start = 0;
  char sep = 0;
  for (int part = 0; part < 3; ++part) {
    size_t end = start;
    while (end < text.size() && IsDigit(text[end])) ++end;
    if (end == start) return false;
    parts[part] = text.substr(start, end - start);
    if (part == 2) return end == text.size();
    if (end >= text.size()) return false;
    const char c = text[end];
    if (c != '-' && c != '/' && c != '.') return false;
    if (sep != 0 && c != sep) return false;
    sep = c;
    start = end + 1;
  }
  return false;
}

// Month number of an English or Thai month name or abbreviation (lower-case ASCII), 0 if none.
int MonthNumber(std::string_view token) {
  static constexpr std::array<std::string_view, 12> kEnglish = {"january", "february", "march",     "april",
                                                                "may",     "june",     "july",      "august",
                                                                "september", "october", "november", "december"};
  static constexpr std::array<std::string_view, 12> kThai = {"มกราคม",  "กุมภาพันธ์", "มีนาคม",  "เมษายน",
                                                             "พฤษภาคม", "มิถุนายน",  "กรกฎาคม", "สิงหาคม",
                                                             "กันยายน",  "ตุลาคม",    "พฤศจิกายน", "ธันวาคม"};
  static constexpr std::array<std::string_view, 12> kThaiShort = {"ม.ค", "ก.พ", "มี.ค", "เม.ย", "พ.ค", "มิ.ย",
                                                                  "ก.ค", "ส.ค", "ก.ย", "ต.ค", "พ.ย", "ธ.ค"};
  std::string_view bare = token;
  while (!bare.empty() && bare.back() == '.') bare.remove_suffix(1);
  for (size_t i = 0; i < 12; ++i) {
    if (bare == kThai[i] || bare == kThaiShort[i]) return static_cast<int>(i) + 1;
    // "nov", "nov.", "november"; "sept" too.
    if (bare.size() >= 3 && kEnglish[i].substr(0, bare.size()) == bare) return static_cast<int>(i) + 1;
  }
  if (bare == "sept") return 9;
  return 0;
}

bool IsWeekday(std::string_view token) {
  static constexpr std::array<std::string_view, 7> kDays = {"monday", "tuesday", "wednesday", "thursday",
                                                            "friday", "saturday", "sunday"};
  std::string_view bare = token;
  while (!bare.empty() && (bare.back() == '.' || bare.back() == ',')) bare.remove_suffix(1);
  if (bare.size() < 3) return false;
  return std::any_of(kDays.begin(), kDays.end(), [&](std::string_view d) { return d.substr(0, bare.size()) == bare; });
}

// "25 Nov 1990", "Nov 25, 1990", "Sun Nov 25 1990 00:00:00 GMT+0700", "25 พ.ย. 2533".
std::optional<std::string> ParseWordDate(const std::string& lower) {
  std::vector<std::string_view> tokens;
  std::string_view rest(lower);
  while (!rest.empty()) {
    const size_t start = rest.find_first_not_of(" ,-/");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const size_t end = std::min(rest.find_first_of(" ,-/"), rest.size());
    tokens.push_back(rest.substr(0, end));
    rest.remove_prefix(end);
  }
  size_t first = 0;
  if (!tokens.empty() && IsWeekday(tokens[0])) first = 1;
  int year = 0, month = 0, day = 0, seen = 0;
  for (size_t i = first; i < tokens.size(); ++i) {
    std::string_view token = tokens[i];
    if (token == "พ.ศ." || token == "พ.ศ" || token == "ค.ศ." || token == "ค.ศ") continue;  // era markers
    if (seen == 3) {
      if (token.find(':') != std::string_view::npos) break;  // a time, then a zone: ignored
      return std::nullopt;
    }
    // "25th", "1st"
    if (token.size() > 2 && (token.ends_with("st") || token.ends_with("nd") || token.ends_with("rd") ||
                             token.ends_with("th")) && AllDigits(token.substr(0, token.size() - 2))) {
      token.remove_suffix(2);
    }
    if (AllDigits(token) && token.size() == 4 && year == 0) {
      year = ToInt(token);
    } else if (AllDigits(token) && token.size() <= 2 && day == 0) {
      day = ToInt(token);
    } else if (const int m = MonthNumber(token); m > 0 && month == 0) {
      month = m;
    } else {
      return std::nullopt;
    }
    ++seen;
  }
  if (seen != 3) return std::nullopt;
  return FormatDate(year, month, day);
}

std::string AsciiLower(std::string_view text) {
  std::string out(text);
  AsciiLowerInPlace(out);
  return out;
}

// Key for the country and gender tables: spaces collapsed, ASCII lower-cased, dots dropped.
std::string LookupKey(std::string_view text) {
  std::string key = CollapseSpaces(text);
  AsciiLowerInPlace(key);
  key.erase(std::remove(key.begin(), key.end(), '.'), key.end());
  if (key.rfind("the ", 0) == 0) key.erase(0, 4);
  return key;
}

std::string IcuToUtf8(const UChar* text, int32_t length) {
  std::string out;
  icu::UnicodeString(text, length).toUTF8String(out);
  return out;
}

const absl::flat_hash_map<std::string, std::string>& CountryTable() {
  static const auto* const kTable = [] {
    auto* table = new absl::flat_hash_map<std::string, std::string>();
    for (const char* const* code = uloc_getISOCountries(); *code != nullptr; ++code) {
      const std::string alpha2(*code);
      const std::string locale = "und_" + alpha2;
      table->emplace(LookupKey(alpha2), alpha2);
      table->emplace(LookupKey(uloc_getISO3Country(locale.c_str())), alpha2);
      for (const char* language : {"en", "th"}) {
        UChar name[128];
        UErrorCode status = U_ZERO_ERROR;
        const int32_t length = uloc_getDisplayCountry(locale.c_str(), language, name, 128, &status);
        if (U_SUCCESS(status) && length > 0) table->emplace(LookupKey(IcuToUtf8(name, length)), alpha2);
      }
    }
    // What people type that ICU's names do not cover.
    constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
        {"usa", "US"}, {"america", "US"}, {"united states of america", "US"}, {"uk", "GB"},
        {"great britain", "GB"}, {"britain", "GB"}, {"england", "GB"}, {"scotland", "GB"}, {"wales", "GB"},
        {"northern ireland", "GB"}, {"ประเทศไทย", "TH"}, {"siam", "TH"}, {"เมืองไทย", "TH"},
        {"south korea", "KR"}, {"korea", "KR"}, {"republic of korea", "KR"}, {"hong kong", "HK"},
        {"macau", "MO"}, {"macao", "MO"}, {"myanmar", "MM"}, {"burma", "MM"}, {"czech republic", "CZ"},
        {"holland", "NL"}, {"uae", "AE"}, {"lao pdr", "LA"}, {"viet nam", "VN"}, {"russian federation", "RU"}};
    for (const auto& [alias, code] : kAliases) table->emplace(LookupKey(alias), std::string(code));
    return table;
  }();
  return *kTable;
}

std::string JsonString(std::string_view text) {
  std::string out;
  AppendJsonString(text, out);
  return out;
}

enum class TraitField { kOther, kEmail, kPhone, kBirthday, kGender, kName, kFirstName, kLastName, kAddress, kConsent };

TraitField FieldOf(std::string_view name) {
  if (name == "email") return TraitField::kEmail;
  if (name == "phone") return TraitField::kPhone;
  if (name == "birthday") return TraitField::kBirthday;
  if (name == "gender") return TraitField::kGender;
  if (name == "name") return TraitField::kName;
  if (name == "first_name" || name == "firstName") return TraitField::kFirstName;
  if (name == "last_name" || name == "lastName") return TraitField::kLastName;
  if (name == "address") return TraitField::kAddress;
  if (name == "consent") return TraitField::kConsent;
  return TraitField::kOther;
}

std::string_view FieldName(TraitField field) {
  switch (field) {
    case TraitField::kEmail: return "email";
    case TraitField::kPhone: return "phone";
    case TraitField::kBirthday: return "birthday";
    case TraitField::kGender: return "gender";
    case TraitField::kName: return "name";
    case TraitField::kFirstName: return "first_name";
    case TraitField::kLastName: return "last_name";
    case TraitField::kAddress: return "address";
    case TraitField::kConsent: return "consent";
    default: return "other";
  }
}

// A normalized address object: string fields trimmed and collapsed (NFC), country as alpha-2.
std::optional<std::string> NormalizeAddressObject(std::string_view json) {
  std::string out = "{";
  bool first = true;
  const bool ok = ForEachMember(json, [&](const std::string& key, std::string_view raw) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(key, out);
    out.push_back(':');
    std::optional<std::string> text;
    if (JsonKind(raw) == JsonValueKind::kString) text = UnescapeJsonString(raw);
    if (!text.has_value()) {
      out.append(raw);
      return true;
    }
    std::string value = NormalizePersonName(*text);
    if (key == "country" || key == "country_code" || key == "countryCode") {
      if (std::optional<std::string> code = NormalizeCountry(value)) value = *std::move(code);
    }
    AppendJsonString(value, out);
    return true;
  });
  if (!ok) return std::nullopt;
  out.push_back('}');
  return out;
}

// Event.consent from a consent object: purpose -> true/false or "granted"/"denied".
bool TakeConsentObject(std::string_view json, v1::Event& event) {
  if (JsonKind(json) != JsonValueKind::kObject) return false;
  return ForEachMember(json, [&](const std::string& key, std::string_view raw) {
    std::optional<bool> granted;
    if (raw == "true") granted = true;
    if (raw == "false") granted = false;
    if (JsonKind(raw) == JsonValueKind::kString) {
      const std::string word = LookupKey(UnescapeJsonString(raw).value_or(""));
      if (word == "granted") granted = true;
      if (word == "denied") granted = false;
    }
    std::string purpose = CollapseSpaces(key);
    AsciiLowerInPlace(purpose);
    if (granted.has_value() && !purpose.empty()) (*event.mutable_consent())[purpose] = *granted;
    return true;
  });
}

}  // namespace

std::optional<std::string> NormalizeBirthday(std::string_view raw) {
  const std::string text = AsciiLower(TrimSpaces(raw));
  if (text.empty()) return std::nullopt;
  // "19901125"
  if (text.size() == 8 && AllDigits(text)) {
    return FormatDate(ToInt(text.substr(0, 4)), ToInt(text.substr(4, 2)), ToInt(text.substr(6, 2)));
  }
  // ISO 8601 with a time: the date as written.
  std::string_view date_part(text);
  if (date_part.size() > 10 && (date_part[10] == 't' || date_part[10] == ' ') && AllDigits(date_part.substr(0, 4))) {
    date_part = date_part.substr(0, 10);
  }
  // "25/11/1990 10:00:00": a numeric date with a time after a space.
  if (const size_t space = date_part.find(' ');
      space != std::string_view::npos && date_part.find(':', space) != std::string_view::npos) {
    date_part = date_part.substr(0, space);
  }
  std::string_view parts[3];
  if (SplitNumericDate(date_part, parts)) {
    if (parts[0].size() == 4 && parts[1].size() <= 2 && parts[2].size() <= 2) {
      return FormatDate(ToInt(parts[0]), ToInt(parts[1]), ToInt(parts[2]));
    }
    if (parts[0].size() <= 2 && parts[1].size() <= 2 && parts[2].size() == 4) {
      const int a = ToInt(parts[0]);
      const int b = ToInt(parts[1]);
      // Day first unless the second part cannot be a month (11/25/1990 is American).
      if (b > 12 && a <= 12) return FormatDate(ToInt(parts[2]), a, b);
      return FormatDate(ToInt(parts[2]), b, a);
    }
    return std::nullopt;
  }
  return ParseWordDate(text);
}

std::optional<std::string> NormalizeGender(std::string_view raw) {
  static const auto* const kGenders = new absl::flat_hash_map<std::string, std::string_view>{
      {"f", "female"}, {"female", "female"}, {"woman", "female"}, {"women", "female"}, {"w", "female"},
      {"girl", "female"}, {"lady", "female"}, {"หญิง", "female"}, {"ผู้หญิง", "female"}, {"เพศหญิง", "female"},
      {"ญ", "female"},
      {"m", "male"}, {"male", "male"}, {"man", "male"}, {"men", "male"}, {"boy", "male"}, {"ชาย", "male"},
      {"ผู้ชาย", "male"}, {"เพศชาย", "male"}, {"ช", "male"},
      {"non binary", "non_binary"}, {"nonbinary", "non_binary"}, {"nb", "non_binary"}, {"enby", "non_binary"},
      {"genderqueer", "non_binary"}, {"x", "non_binary"}, {"ไม่ใช่ไบนารี", "non_binary"},
      {"other", "other"}, {"others", "other"}, {"อื่นๆ", "other"}, {"อื่น ๆ", "other"}, {"อื่น", "other"},
      {"unknown", "unknown"}, {"u", "unknown"}, {"unspecified", "unknown"}, {"not specified", "unknown"},
      {"prefer not to say", "unknown"}, {"rather not say", "unknown"}, {"n/a", "unknown"}, {"na", "unknown"},
      {"ไม่ระบุ", "unknown"}, {"ไม่ต้องการระบุ", "unknown"}, {"ไม่ทราบ", "unknown"}};
  std::string key = LookupKey(raw);
  std::replace(key.begin(), key.end(), '_', ' ');
  std::replace(key.begin(), key.end(), '-', ' ');
  auto it = kGenders->find(AbslView(key));
  if (it == kGenders->end()) return std::nullopt;
  return std::string(it->second);
}

std::string ToNfc(std::string_view utf8) {
  if (std::all_of(utf8.begin(), utf8.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return std::string(utf8);
  }
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) return std::string(utf8);
  const icu::UnicodeString text = icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  if (nfc->isNormalized(text, status) && U_SUCCESS(status)) return std::string(utf8);
  status = U_ZERO_ERROR;
  const icu::UnicodeString normalized = nfc->normalize(text, status);
  if (U_FAILURE(status)) return std::string(utf8);
  std::string out;
  normalized.toUTF8String(out);
  return out;
}

std::string NormalizePersonName(std::string_view raw) { return ToNfc(CollapseSpaces(raw)); }

std::optional<std::string> NormalizeCountry(std::string_view raw) {
  const std::string key = LookupKey(raw);
  if (key.empty()) return std::nullopt;
  const auto& table = CountryTable();
  auto it = table.find(AbslView(key));
  if (it == table.end()) return std::nullopt;
  return it->second;
}

void NormalizeEventTraits(v1::Event& event, CachedPhoneNormalizer& phones, std::vector<std::string>* counters) {
  auto& traits = *event.mutable_traits();
  if (traits.empty()) return;
  // Changes are collected first: inserting into a protobuf map while iterating it is not safe.
  std::vector<std::pair<std::string, std::optional<std::string>>> changes;  // nullopt: remove
  const auto count = [&](std::string_view kind, TraitField field) {
    counters->push_back(std::string(kind) + "." + std::string(FieldName(field)));
  };
  const auto invalid = [&](const std::string& name, const std::string& json, TraitField field) {
    changes.emplace_back(name, std::nullopt);
    changes.emplace_back(std::string(FieldName(field)) + "_invalid", json);
    count("invalid", field);
  };
  const auto replace = [&](const std::string& name, const std::string& json, std::string normalized_json,
                           TraitField field) {
    if (normalized_json == json) return;
    changes.emplace_back(name, std::move(normalized_json));
    count("normalized", field);
  };
  for (const auto& [name, json] : traits) {
    const TraitField field = FieldOf(name);
    if (field == TraitField::kOther || json == "null") continue;
    const JsonValueKind kind = JsonKind(json);
    std::optional<std::string> text;
    if (kind == JsonValueKind::kString) text = UnescapeJsonString(json);
    switch (field) {
      case TraitField::kEmail: {
        std::optional<std::string> email = text.has_value() ? NormalizeEmail(*text) : std::nullopt;
        if (email.has_value()) {
          replace(name, json, JsonString(*email), field);
        } else {
          invalid(name, json, field);
        }
        break;
      }
      case TraitField::kPhone: {
        if (kind == JsonValueKind::kNumber) text = json;
        const std::string* e164 = text.has_value() ? phones.Normalize(*text) : nullptr;
        if (e164 != nullptr) {
          replace(name, json, JsonString(*e164), field);
        } else {
          invalid(name, json, field);
        }
        break;
      }
      case TraitField::kBirthday: {
        std::optional<std::string> date = text.has_value() ? NormalizeBirthday(*text) : std::nullopt;
        if (date.has_value()) {
          replace(name, json, JsonString(*date), field);
        } else {
          invalid(name, json, field);
        }
        break;
      }
      case TraitField::kGender: {
        std::optional<std::string> gender = text.has_value() ? NormalizeGender(*text) : std::nullopt;
        if (gender.has_value()) {
          replace(name, json, JsonString(*gender), field);
        } else {
          invalid(name, json, field);
        }
        break;
      }
      case TraitField::kName:
      case TraitField::kFirstName:
      case TraitField::kLastName: {
        if (!text.has_value()) break;  // a structured or numeric name is left as sent
        std::string normalized = NormalizePersonName(*text);
        if (normalized.empty()) {
          changes.emplace_back(name, std::nullopt);
          count("normalized", field);
        } else {
          replace(name, json, JsonString(normalized), field);
        }
        break;
      }
      case TraitField::kAddress: {
        if (text.has_value()) {
          replace(name, json, JsonString(NormalizePersonName(*text)), field);
        } else if (kind == JsonValueKind::kObject) {
          if (std::optional<std::string> address = NormalizeAddressObject(json)) {
            replace(name, json, *std::move(address), field);
          }
        }
        break;
      }
      case TraitField::kConsent:
        if (TakeConsentObject(json, event)) changes.emplace_back(name, std::nullopt);
        break;
      default:
        break;
    }
  }
  for (auto& [name, json] : changes) {
    if (json.has_value()) {
      traits[name] = *std::move(json);
    } else {
      traits.erase(name);
    }
  }
}

}  // namespace tessera::ingest
