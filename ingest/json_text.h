// Reading the compact JSON text ingest keeps for trait values and properties (Event.traits,
// Event.properties_json): validated JSON without white space between tokens, as MessageReader
// wrote it. These helpers assume exactly that input and are not general JSON parsers: they let the
// cleaning steps (trait normalization, tracking plans) look inside a value without re-parsing the
// whole record.
//
// Pure functions; thread-safe.
//
//   JsonKind("\"x\"")                     -> JsonValueKind::kString
//   UnescapeJsonString("\"a\\u0e01\"")    -> "aก"
//   ForEachMember("{\"a\":1,\"b\":[2]}", fn) calls fn("a", "1"), fn("b", "[2]")
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::ingest {

enum class JsonValueKind { kNull, kBoolean, kNumber, kString, kArray, kObject, kInvalid };

// The kind of a compact JSON value, from its first byte.
JsonValueKind JsonKind(std::string_view json);

// "integer" if a number without fraction or exponent.
bool IsJsonInteger(std::string_view json);

// The text of a JSON string literal (quotes included in `json`), escapes resolved. nullopt if
// `json` is not a string literal or has a malformed escape.
std::optional<std::string> UnescapeJsonString(std::string_view json);

// Calls visit(key, raw_value) for each member of a compact JSON object, in order: `key` unescaped,
// `raw_value` the member's compact JSON text. Stops early when visit returns false. false if `json`
// is not a compact JSON object.
bool ForEachMember(std::string_view json,
                   const std::function<bool(const std::string& key, std::string_view raw_value)>& visit);

// Finds a name that occurs twice among one JSON object's members, fed one name at a time (names
// unescaped). RFC 8259 leaves a repeated name's meaning to the reader: JSON.parse keeps the last,
// simdjson's at_key the first. Ingest and the collector refuse such an object where they read it
// by name rather than read it one way in one place and another way in the next (the collector
// keyed a record by its first userId while ingest resolved the last). A 64-bit filter over each
// name's length and end bytes keeps an object without repeats to a few instructions a name.
// Holds the views it is given: they must outlive it.
class RepeatedNames {
 public:
  // false if `name` was added before.
  bool Add(std::string_view name) {
    const size_t mix = name.size() * 7 + (name.empty() ? 0 : static_cast<unsigned char>(name.front()) * 3u +
                                                                   static_cast<unsigned char>(name.back()));
    const uint64_t bit = uint64_t{1} << (mix & 63);
    if ((filter_ & bit) != 0 && Seen(name)) return false;
    filter_ |= bit;
    if (count_ < kInline) {
      inline_[count_++] = {name.data(), name.size()};
    } else {
      Keep(name);
    }
    return true;
  }

 private:
  static constexpr size_t kInline = 16;  // a tracker's message has about a dozen members
  bool Seen(std::string_view name) const {
    for (size_t i = 0; i < count_ && i < kInline; ++i) {
      if (inline_[i].size == name.size() && std::memcmp(inline_[i].data, name.data(), name.size()) == 0) return true;
    }
    for (std::string_view seen : more_) {
      if (seen == name) return true;
    }
    return false;
  }

  void Keep(std::string_view name) {
    more_.push_back(name);
    ++count_;
  }

  uint64_t filter_ = 0;
  size_t count_ = 0;
  struct Name {  // trivially constructible: the array is not zeroed for each object read
    const char* data;
    size_t size;
  };
  Name inline_[kInline];
  std::vector<std::string_view> more_;
};

}  // namespace tessera::ingest
