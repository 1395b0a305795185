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

#include <functional>
#include <optional>
#include <string>
#include <string_view>

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

}  // namespace tessera::ingest
