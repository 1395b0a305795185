#include "common/json_writer.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "simdjson.h"

namespace tessera {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if it is not valid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t len;
  uint32_t min_code_point;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    min_code_point = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    min_code_point = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    min_code_point = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  uint32_t code_point = c & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3F);
  }
  if (code_point < min_code_point || code_point > 0x10FFFF) return 0;
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return 0;
  return len;
}

constexpr uint64_t kEveryByte = 0x0101010101010101ULL;
constexpr uint64_t kHighBits = 0x8080808080808080ULL;

// Whether any of the 8 bytes in `word` must be escaped in a JSON string: below 0x20, a quote or a
// backslash. The has-zero-byte tests of Hacker's Delight (6-1): exact for "any byte", and bytes of
// 0x80 and up (UTF-8) never count.
inline bool AnyByteNeedsEscape(uint64_t word) {
  const uint64_t quotes = word ^ (kEveryByte * '"');
  const uint64_t backslashes = word ^ (kEveryByte * '\\');
  const uint64_t below_space = (word - kEveryByte * 0x20) & ~word;
  const uint64_t quote = (quotes - kEveryByte) & ~quotes;
  const uint64_t backslash = (backslashes - kEveryByte) & ~backslashes;
  return ((below_space | quote | backslash) & kHighBits) != 0;
}

// Whether byte `c` of a JSON string must be escaped: a control character, a quote or a backslash.
inline bool NeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

// How many leading bytes of `value` are printable ASCII with nothing to escape, tested a word at a
// time: all of them (value.size()) for most keys and values, whose answer is then this test's whole
// cost; otherwise a multiple of eight at or before the first byte that is not. A string of eight
// bytes or more is tested as words, the last one overlapping; a shorter one padded with spaces.
size_t PlainAsciiPrefix(std::string_view value) {
  const char* p = value.data();
  const size_t size = value.size();
  const auto plain = [](uint64_t word) { return (word & kHighBits) == 0 && !AnyByteNeedsEscape(word); };
  uint64_t word = kEveryByte * ' ';
  if (size < 8) {
    if (size > 0) std::memcpy(&word, p, size);
    return plain(word) ? size : 0;
  }
  size_t i = 0;
  for (; i + 8 < size; i += 8) {
    std::memcpy(&word, p + i, 8);
    if (!plain(word)) return i;
  }
  std::memcpy(&word, p + size - 8, 8);  // the last eight bytes, overlapping what was tested
  return plain(word) ? size : i;       // bytes before i were tested plain
}

void AppendEscaped(unsigned char c, std::string& out) {
  switch (c) {
    case '"': out += "\\\""; return;
    case '\\': out += "\\\\"; return;
    case '\n': out += "\\n"; return;
    case '\r': out += "\\r"; return;
    case '\t': out += "\\t"; return;
    case '\b': out += "\\b"; return;
    case '\f': out += "\\f"; return;
    default: break;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\u00";
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xF]);
}

// The string's contents for a value that is not all valid UTF-8: each invalid byte becomes U+FFFD.
void AppendRepairingInvalidUtf8(std::string_view value, std::string& out) {
  const size_t size = value.size();
  for (size_t i = 0; i < size;) {
    // A run that needs no escape goes in with one append: printable ASCII and whole valid UTF-8
    // sequences.
    size_t plain = i;
    while (plain < size) {
      const unsigned char p = static_cast<unsigned char>(value[plain]);
      if (p < 0x80) {
        if (NeedsEscape(p)) break;
        ++plain;
        continue;
      }
      const size_t len = Utf8SequenceLength(value, plain);
      if (len == 0) break;
      plain += len;
    }
    if (plain > i) {
      out.append(value.data() + i, plain - i);
      i = plain;
      continue;
    }
    // value[i] is a quote, a backslash, a control character or a byte that is not valid UTF-8.
    const unsigned char c = static_cast<unsigned char>(value[i++]);
    if (NeedsEscape(c)) {
      AppendEscaped(c, out);
      continue;
    }
    out += "\xEF\xBF\xBD";  // U+FFFD for a byte that is not valid UTF-8
  }
}

// The string's contents, escaped, for a value whose first `plain_prefix` bytes need no escape.
void AppendEscapedContents(std::string_view value, size_t plain_prefix, std::string& out) {
  // One pass, eight bytes at a time where it can: almost every string is valid UTF-8 already
  // (ingest's simdjson validated what came in) and needs no escape, and most are short keys and
  // values, so a per-string cost counts as much as a per-byte one. At the first byte of 0x80 or
  // more the rest is checked once with simdjson's vectorized validator; only a string that is not
  // valid UTF-8 takes the byte-wise path that repairs it. Escaping byte by byte with a UTF-8 check
  // per letter was an eighth of the fused pipeline's instructions (callgrind, docs/benchmarks.md).
  const char* const end = value.data() + value.size();
  const char* run = value.data();  // the first byte not appended yet
  const char* p = run + plain_prefix;
  uint64_t stop_bits = kHighBits;  // a word with a non-ASCII byte stops the word loop until checked
  while (p < end) {
    while (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, 8);
      if ((word & stop_bits) != 0 || AnyByteNeedsEscape(word)) break;
      p += 8;
    }
    if (p == end) break;
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c >= 0x80) {
      if (stop_bits != 0) {
        if (!simdjson::validate_utf8(p, static_cast<size_t>(end - p))) {  // what precedes is ASCII
          out.append(run, static_cast<size_t>(p - run));
          AppendRepairingInvalidUtf8(std::string_view(p, static_cast<size_t>(end - p)), out);
          return;
        }
        stop_bits = 0;
      }
      ++p;
      continue;
    }
    if (!NeedsEscape(c)) {
      ++p;
      continue;
    }
    out.append(run, static_cast<size_t>(p - run));
    AppendEscaped(c, out);
    run = ++p;
  }
  out.append(run, static_cast<size_t>(end - run));
}

// `lead` (if not 0), the quoted string, then `trail` (if not 0): a member's comma and a key's colon
// go in with it. A short plain string, most keys and values, goes in with one append from the stack:
// at 43 calls an event averaging 11 bytes, a call's fixed costs (a reserve, pushes of the quotes and
// separators) outweighed its bytes; this path took the writer's own instructions down a fifth
// (callgrind, docs/benchmarks.md's stage table).
void AppendJsonStringBetween(char lead, std::string_view value, char trail, std::string& out) {
  constexpr size_t kShort = 60;
  const size_t plain_prefix = PlainAsciiPrefix(value);
  if (plain_prefix == value.size() && value.size() <= kShort) {
    char buffer[kShort + 4];
    size_t n = 0;
    if (lead != 0) buffer[n++] = lead;
    buffer[n++] = '"';
    if (!value.empty()) std::memcpy(buffer + n, value.data(), value.size());
    n += value.size();
    buffer[n++] = '"';
    if (trail != 0) buffer[n++] = trail;
    out.append(buffer, n);
    return;
  }
  out.reserve(out.size() + value.size() + 4);
  if (lead != 0) out.push_back(lead);
  out.push_back('"');
  AppendEscapedContents(value, plain_prefix, out);  // a plain string is appended whole there
  out.push_back('"');
  if (trail != 0) out.push_back(trail);
}

}  // namespace

void AppendJsonString(std::string_view value, std::string& out) { AppendJsonStringBetween(0, value, 0, out); }

char JsonWriter::Separator() {
  if (after_key_) {
    after_key_ = false;
    return 0;
  }
  if (has_element_.empty()) return 0;
  const bool comma = has_element_.back();
  has_element_.back() = true;
  return comma ? ',' : 0;
}

void JsonWriter::BeforeValue() {
  if (const char separator = Separator(); separator != 0) out_.push_back(separator);
}

JsonWriter& JsonWriter::BeginObject() {
  BeforeValue();
  out_.push_back('{');
  has_element_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  out_.push_back('}');
  has_element_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::BeginArray() {
  BeforeValue();
  out_.push_back('[');
  has_element_.push_back(false);
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  out_.push_back(']');
  has_element_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::Key(std::string_view key) {
  AppendJsonStringBetween(Separator(), key, ':', out_);
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::String(std::string_view value) {
  AppendJsonStringBetween(Separator(), value, 0, out_);
  return *this;
}

JsonWriter& JsonWriter::Int(int64_t value) {
  BeforeValue();
  absl::StrAppend(&out_, value);
  return *this;
}

JsonWriter& JsonWriter::Uint(uint64_t value) {
  BeforeValue();
  absl::StrAppend(&out_, value);
  return *this;
}

JsonWriter& JsonWriter::Bool(bool value) {
  BeforeValue();
  out_ += value ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::Null() {
  BeforeValue();
  out_ += "null";
  return *this;
}

JsonWriter& JsonWriter::Raw(std::string_view json) {
  BeforeValue();
  out_.append(json);
  return *this;
}

bool IsPlainJsonAscii(std::string_view value) { return PlainAsciiPrefix(value) == value.size(); }

}  // namespace tessera
