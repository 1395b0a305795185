// Where a request body's members and messages are, as spans of its text, for SegmentApi::Prepare.
// Values are copied into records from the request's own bytes, never re-rendered from simdjson's
// DOM: it reads numbers into doubles, and ingest must see each value as its sender spelled it
// ("201.00" stays "201.00"). Every function here takes JSON that simdjson has already validated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "simdjson.h"

namespace tessera::collector {

struct RawMember {
  std::string_view key;    // between the quotes, escapes as sent
  std::string_view value;  // the value's text as sent
};

// A request body's members and, for a batch, each message's text and members, found in one pass
// over the text (before: the body's members, then the batch's elements, then each message's members,
// three passes over every message; locating values was the collector's largest cost on batches).
struct ScannedBody {
  std::vector<RawMember> members;     // the body's own; "batch" is the whole array's text
  std::vector<std::string_view> items;  // the elements of the first "batch" member, if an array
  std::vector<RawMember> item_members;  // the members of every item that is an object, in order
  std::vector<size_t> item_begin;       // items i's members are [item_begin[i], item_begin[i + 1])
  // The members of each item's first "context" member when that is an object (none otherwise), found
  // in the same pass: every message's context is written member by member (a scan of its own for
  // each message was a twentieth of Prepare). Item i's are [context_begin[i], context_begin[i + 1]).
  std::vector<RawMember> item_contexts;
  std::vector<size_t> context_begin;

  std::span<const RawMember> MembersOf(size_t item) const {
    return std::span<const RawMember>(item_members).subspan(item_begin[item], item_begin[item + 1] - item_begin[item]);
  }
  std::span<const RawMember> ContextOf(size_t item) const {
    return std::span<const RawMember>(item_contexts).subspan(context_begin[item], context_begin[item + 1] - context_begin[item]);
  }
};

// `json` without white space outside strings, copied in runs between white space.
std::string CompactJson(std::string_view json);

// The members of the object whose text is `json`.
std::vector<RawMember> ObjectMembers(std::string_view json);

// A whole compact body's members and messages, byte by byte.
ScannedBody ScanBody(std::string_view json);

// The structural positions of the document `parser` parsed last: where each of {}[]:, stands and
// each string (its opening quote) and scalar begins. Empty if this simdjson keeps none.
std::span<const uint32_t> StructuralPositions(const simdjson::dom::parser& parser);

// Whether `json`, whose structural positions are `positions`, has no white space outside strings.
bool IsCompact(std::string_view json, std::span<const uint32_t> positions);

// ScanBody's answer for a compact `json`, found by walking its structural positions instead of its
// bytes, written into `body` (its vectors cleared first, their capacity kept: Prepare reuses one per
// thread, since growing them request after request was 2% of the collector's CPU); false if
// the walk does not end exactly at the last position (never for valid compact JSON), `body` then
// holding no answer.
bool ScanCompactBody(std::string_view json, std::span<const uint32_t> positions, ScannedBody& body);

}  // namespace tessera::collector
