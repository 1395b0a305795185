#include "ingest/json_text.h"

#include <cstdint>

namespace tessera::ingest {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ReadHex4(std::string_view text, size_t at, uint32_t* out) {
  if (at + 4 > text.size()) return false;
  uint32_t value = 0;
  for (size_t i = at; i < at + 4; ++i) {
    const int digit = HexDigit(text[i]);
    if (digit < 0) return false;
    value = value * 16 + static_cast<uint32_t>(digit);
  }
  *out = value;
  return true;
}

void AppendUtf8(uint32_t code_point, std::string& out) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// Index one past the end of the compact JSON value starting at `at`, or npos.
size_t SkipValue(std::string_view json, size_t at) {
  if (at >= json.size()) return std::string_view::npos;
  if (json[at] == '"') {
    for (size_t i = at + 1; i < json.size(); ++i) {
      if (json[i] == '\\') {
        ++i;
      } else if (json[i] == '"') {
        return i + 1;
      }
    }
    return std::string_view::npos;
  }
  if (json[at] == '{' || json[at] == '[') {
    int depth = 0;
    for (size_t i = at; i < json.size(); ++i) {
      const char c = json[i];
      if (c == '"') {
        const size_t end = SkipValue(json, i);
        if (end == std::string_view::npos) return end;
        i = end - 1;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return std::string_view::npos;
  }
  size_t i = at;
  while (i < json.size() && json[i] != ',' && json[i] != '}' && json[i] != ']') ++i;
  return i;
}

}  // namespace

JsonValueKind JsonKind(std::string_view json) {
  if (json.empty()) return JsonValueKind::kInvalid;
  switch (json.front()) {
    case 'n': return JsonValueKind::kNull;
    case 't': case 'f': return JsonValueKind::kBoolean;
    case '"': return JsonValueKind::kString;
    case '[': return JsonValueKind::kArray;
    case '{': return JsonValueKind::kObject;
    default:
      return (json.front() == '-' || (json.front() >= '0' && json.front() <= '9')) ? JsonValueKind::kNumber
                                                                                  : JsonValueKind::kInvalid;
  }
}

bool IsJsonInteger(std::string_view json) {
  return JsonKind(json) == JsonValueKind::kNumber && json.find_first_of(".eE") == std::string_view::npos;
}

std::optional<std::string> UnescapeJsonString(std::string_view json) {
  if (json.size() < 2 || json.front() != '"' || json.back() != '"') return std::nullopt;
  const std::string_view body = json.substr(1, json.size() - 2);
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= body.size()) return std::nullopt;
    switch (body[i]) {
      case '"': out.push_back('"'); break;
      case '\\': out.push_back('\\'); break;
      case '/': out.push_back('/'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        uint32_t unit = 0;
        if (!ReadHex4(body, i + 1, &unit)) return std::nullopt;
        i += 4;
        if (unit >= 0xD800 && unit <= 0xDBFF) {  // a surrogate pair: \uD83D\uDE00
          uint32_t low = 0;
          if (i + 2 >= body.size() || body[i + 1] != '\\' || body[i + 2] != 'u' || !ReadHex4(body, i + 3, &low) ||
              low < 0xDC00 || low > 0xDFFF) {
            return std::nullopt;
          }
          i += 6;
          unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
          return std::nullopt;
        }
        AppendUtf8(unit, out);
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return out;
}

bool ForEachMember(std::string_view json,
                   const std::function<bool(const std::string& key, std::string_view raw_value)>& visit) {
  if (json.size() < 2 || json.front() != '{' || json.back() != '}') return false;
  size_t i = 1;
  if (json[i] == '}') return i + 1 == json.size();
  while (i < json.size()) {
    const size_t key_end = SkipValue(json, i);
    if (json[i] != '"' || key_end == std::string_view::npos || key_end >= json.size() || json[key_end] != ':') {
      return false;
    }
    std::optional<std::string> key = UnescapeJsonString(json.substr(i, key_end - i));
    if (!key.has_value()) return false;
    const size_t value_begin = key_end + 1;
    const size_t value_end = SkipValue(json, value_begin);
    if (value_end == std::string_view::npos || value_end >= json.size()) return false;
    if (!visit(*key, json.substr(value_begin, value_end - value_begin))) return true;
    if (json[value_end] == '}') return value_end + 1 == json.size();
    if (json[value_end] != ',') return false;
    i = value_end + 1;
  }
  return false;
}

}  // namespace tessera::ingest
