#include "ingest/ingest.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/currency.h"
#include "common/json_writer.h"
#include "common/utf8.h"
#include "ingest/blocklist.h"
#include "ingest/json_text.h"
#include "ingest/normalize.h"
#include "ingest/traits.h"
#include "ingest/tracking_plan.h"

namespace tessera::ingest {
namespace {

namespace od = simdjson::ondemand;

// Segment's limit for messageId.
constexpr size_t kMaxMessageIdChars = 100;
// Deeper JSON is refused (invalid_json) so validating a value can recurse without risk to the
// stack; no tracking payload nests anywhere near this.
constexpr int kMaxNesting = 128;
// An item quantity above this is a data error, and keeps profile sums far from overflow.
constexpr int64_t kMaxQuantity = 1'000'000'000;

// Identifier types a social platform name must not take over ("email:..." from a handle).
constexpr std::string_view kReservedIdentifierTypes[] = {"user_id", "anonymous_id", "email", "phone",
                                                         "loyalty_id", "order_email"};

constexpr std::string_view kWebTypes[] = {"identify", "track", "page", "screen", "group", "alias"};
constexpr std::string_view kSocialActions[] = {"comment", "like", "share", "follow", "mention", "message", "review"};
constexpr std::string_view kOrderChannels[] = {"web", "store", "app", "marketplace"};
constexpr std::string_view kOrderStatuses[] = {"completed", "refunded", "cancelled"};

// Debian's Abseil has its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0).
absl::string_view ToAbsl(std::string_view text) { return absl::string_view(text.data(), text.size()); }

// The canonical (lower-case) spelling of `text` among `names`, compared ignoring ASCII case.
template <size_t N>
std::optional<std::string_view> FindName(const std::string_view (&names)[N], std::string_view text) {
  for (std::string_view name : names) {
    if (absl::EqualsIgnoreCase(ToAbsl(name), ToAbsl(text))) return name;
  }
  return std::nullopt;
}


size_t CountCodePoints(std::string_view utf8) {
  size_t count = 0;
  for (unsigned char c : utf8) count += (c & 0xC0) != 0x80;
  return count;
}

// raw_json_token() includes the white space up to the next token.
std::string_view TrimJsonSpace(std::string_view token) {
  while (!token.empty() && (token.back() == ' ' || token.back() == '\n' || token.back() == '\r' || token.back() == '\t')) {
    token.remove_suffix(1);
  }
  return token;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view text) {
  size_t i = 0;
  const auto digits = [&] {
    const size_t start = i;
    while (i < text.size() && IsDigit(text[i])) ++i;
    return i > start;
  };
  if (i < text.size() && text[i] == '-') ++i;
  if (i < text.size() && text[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == text.size();
}

// FNV-1a, 64 bit: stable across builds, platforms and versions, unlike absl::Hash, so a record
// without a messageId gets the same derived id every time it is replayed.
uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string DerivedMessageId(std::string_view channel, std::string_view payload) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t hash = Fnv1a64(payload);
  std::string id(channel);
  id.push_back(':');
  for (int shift = 60; shift >= 0; shift -= 4) id.push_back(kHex[(hash >> shift) & 0xF]);
  return id;
}

// Appends a key exactly as it was written, quotes included. simdjson's first stage has already
// found where every string ends, so scanning to the unescaped closing quote stays in bounds.
void AppendRawKey(od::raw_json_string key, std::string& out) {
  const char* const begin = key.raw();
  const char* end = begin;
  while (*end != '"') end += (*end == '\\') ? 2 : 1;
  out.push_back('"');
  out.append(begin, end);
  out.push_back('"');
}

// What a scalar held, for the few values ingest reads as well as keeps.
struct ScalarCapture {
  od::json_type type = od::json_type::null;
  std::string_view text;  // a string unescaped, or a number's own text
};

// Validates `value` completely and, if `out` is set, appends its compact JSON: the value's own
// bytes without the white space between tokens (strings, escapes and numbers stay byte-exact).
// On Demand parses lazily, so without this walk a malformed value that no field reads would pass.
// If `capture` is set and the value is a scalar, records it.
simdjson::error_code WalkValue(od::value& value, std::string* out, int depth, ScalarCapture* capture) {
  if (depth > kMaxNesting) return simdjson::DEPTH_ERROR;
  od::json_type type;
  if (auto error = value.type().get(type)) return error;
  if (capture != nullptr) capture->type = type;
  switch (type) {
    case od::json_type::object: {
      od::object object;
      if (auto error = value.get_object().get(object)) return error;
      if (out != nullptr) out->push_back('{');
      bool first = true;
      for (auto field : object) {
        od::raw_json_string raw_key;
        if (auto error = field.key().get(raw_key)) return error;
        std::string_view key;  // unescaping checks the escapes
        if (auto error = field.unescaped_key().get(key)) return error;
        if (out != nullptr) {
          if (!first) out->push_back(',');
          AppendRawKey(raw_key, *out);
          out->push_back(':');
        }
        first = false;
        od::value child;
        if (auto error = field.value().get(child)) return error;
        if (auto error = WalkValue(child, out, depth + 1, nullptr)) return error;
      }
      if (out != nullptr) out->push_back('}');
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array array;
      if (auto error = value.get_array().get(array)) return error;
      if (out != nullptr) out->push_back('[');
      bool first = true;
      for (auto element : array) {
        od::value child;
        if (auto error = element.get(child)) return error;
        if (out != nullptr && !first) out->push_back(',');
        first = false;
        if (auto error = WalkValue(child, out, depth + 1, nullptr)) return error;
      }
      if (out != nullptr) out->push_back(']');
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      const std::string_view token = TrimJsonSpace(value.raw_json_token());
      std::string_view text;
      if (auto error = value.get_string().get(text)) return error;
      if (out != nullptr) out->append(token);
      if (capture != nullptr) capture->text = text;
      return simdjson::SUCCESS;
    }
    case od::json_type::number: {
      const std::string_view token = TrimJsonSpace(value.raw_json_token());
      if (!IsJsonNumber(token)) return simdjson::NUMBER_ERROR;
      if (out != nullptr) out->append(token);
      if (capture != nullptr) capture->text = token;
      return simdjson::SUCCESS;
    }
    case od::json_type::boolean: {
      const std::string_view token = TrimJsonSpace(value.raw_json_token());
      if (token != "true" && token != "false") return token.front() == 't' ? simdjson::T_ATOM_ERROR : simdjson::F_ATOM_ERROR;
      if (out != nullptr) out->append(token);
      return simdjson::SUCCESS;
    }
    case od::json_type::null: {
      const std::string_view token = TrimJsonSpace(value.raw_json_token());
      if (token != "null") return simdjson::N_ATOM_ERROR;
      if (out != nullptr) out->append(token);
      return simdjson::SUCCESS;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

// Traits gathered from one JSON object, kept as (name, compact JSON) until the event knows which
// object its traits come from (a web identify's `traits`, other calls' `context.traits`).
struct TraitSet {
  struct Entry {
    std::string_view name;  // unescaped, in the parser's string buffer
    size_t json_begin;      // compact JSON in the reader's arena
    size_t json_end;
  };
  std::vector<Entry> entries;
  // The "email" / "phone" values when they are text (phone may be a JSON number), for identifiers.
  std::optional<std::string_view> email;
  std::optional<std::string_view> phone;

  void Clear() {
    entries.clear();
    email.reset();
    phone.reset();
  }
};

// An order item's unit price, kept as text until the order's currency is known (it may come later).
struct PendingItem {
  std::optional<std::string_view> unit_price;
};

// Per-thread scratch, reused from message to message so steady-state parsing allocates little.
struct Scratch {
  // The normalizer for the current record's source (EventParser::Impl::PhonesFor); owned by the
  // parser, kept across messages.
  CachedPhoneNormalizer* phones = nullptr;
  std::string arena;  // compact JSON of trait values
  TraitSet traits;
  TraitSet context_traits;
  std::vector<PendingItem> items;
  std::vector<std::string> counters;  // what cleaning changed or found, for QualityCounters

  void Clear() {
    arena.clear();
    traits.Clear();
    context_traits.Clear();
    items.clear();
    counters.clear();
  }
};

// Reads one channel's message into an Event. Every Read* returns false after recording why the
// message is rejected; the caller stops at the first false.
class MessageReader {
 public:
  MessageReader(const IngestOptions& options, const absl::TimeZone& default_tz, Scratch& scratch, od::document& doc,
                v1::Event& event)
      : options_(options), default_tz_(default_tz), scratch_(scratch), doc_(doc), event_(event) {}

  bool ReadWeb(od::object& root, std::string_view payload);
  bool ReadSocial(od::object& root, std::string_view payload);
  bool ReadPurchase(od::object& root);

  Rejection TakeRejection() { return std::move(rejection_); }

 private:
  struct CustomerFields;

  bool Reject(std::string_view reason, std::string detail) {
    rejection_.reason = std::string(reason);
    rejection_.detail = std::move(detail);
    return false;
  }
  bool JsonError(simdjson::error_code error, std::string_view where) {
    return Reject(kInvalidJson, absl::StrCat(ToAbsl(where), ": ", simdjson::error_message(error)));
  }

  // Calls on_field(key, value) for each field of `object`; stops at the first false.
  template <typename OnField>
  bool ForEachField(od::object& object, std::string_view where, OnField&& on_field);
  // Reads the root object's fields, then insists nothing follows it ({"a":1} {"b":2} is not JSON).
  template <typename OnField>
  bool ForEachRootField(od::object& root, OnField&& on_field);
  // Opens `value` as an object; null counts as absent (*present = false).
  bool OpenObject(od::value& value, std::string_view field, od::object& object, bool* present);

  // Validates a value nobody reads.
  bool Skip(od::value& value, std::string_view field) {
    if (auto error = WalkValue(value, nullptr, 1, nullptr)) return JsonError(error, field);
    return true;
  }
  // Text of a string field (or of a number too if `allow_number`: userId 42 is "42"). null and
  // "" are absent. Other JSON types: invalid_field.
  bool ReadText(od::value& value, std::string_view field, bool allow_number, std::optional<std::string_view>& out);
  // Like ReadText, but a wrong JSON type is rejected with `wrong_type_reason`.
  bool ReadTextOr(od::value& value, std::string_view field, bool allow_number, std::string_view wrong_type_reason,
                  std::optional<std::string_view>& out);
  // An object of traits: each value's compact JSON into the arena; email/phone captured.
  bool ReadTraits(od::value& value, std::string_view field, TraitSet& traits);
  // One value kept as a trait (purchase name/address, raw email/phone): its compact JSON.
  // `keep_null`: a web trait set to null is kept as "null"; a null customer.name is not given.
  bool ReadTraitValue(od::value& value, std::string_view field, std::string_view trait_name, TraitSet& traits,
                      std::optional<std::string_view>* text, bool keep_null);
  bool ReadContext(od::value& value);
  // context.consent.categoryPreferences (purpose -> bool) into Event.consent.
  bool ReadConsent(od::value& value);
  // The compact JSON of an object field into `out` (replacing it); null leaves `out` empty.
  bool ReadObjectJson(od::value& value, std::string_view field, std::string& out);
  bool ReadMessageId(od::value& value, std::optional<std::string_view>& out);
  bool ParseTimestampInto(std::string_view text, std::string_view field);
  // A review's rating: an integer 1..5 (0 when null).
  bool ReadRating(od::value& value, int32_t* rating);
  // An item quantity: a positive integer (JSON number) up to kMaxQuantity.
  bool ReadQuantity(od::value& value, std::string_view field, int64_t* quantity);
  bool ReadCustomer(od::value& value, CustomerFields& customer, bool* present);
  // Items straight into event_.order, their unit prices kept as text in `items`.
  bool ReadItems(od::value& value, std::vector<PendingItem>& items);
  bool ParseAmount(std::string_view text, std::string_view field, int exponent, int64_t* minor_units);

  void CopyTraits(const TraitSet& traits);
  void AddIdentifier(std::string_view type, std::string_view value);
  void AddEmailAndPhone(const std::optional<std::string_view>& email, const std::optional<std::string_view>& phone);

  const IngestOptions& options_;
  const absl::TimeZone& default_tz_;
  Scratch& scratch_;
  od::document& doc_;
  v1::Event& event_;
  Rejection rejection_;
};

struct MessageReader::CustomerFields {
  std::optional<std::string_view> user_id;
  std::optional<std::string_view> email;
  std::optional<std::string_view> phone;
  std::optional<std::string_view> loyalty_id;
};

template <typename OnField>
bool MessageReader::ForEachField(od::object& object, std::string_view where, OnField&& on_field) {
  RepeatedNames names;
  for (auto field : object) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return JsonError(error, where);
    if (!names.Add(key)) return Reject(kInvalidField, absl::StrCat(ToAbsl(where), ": ", QuoteForDetail(key), " appears more than once"));
    od::value value;
    if (auto error = field.value().get(value)) return JsonError(error, where);
    if (!on_field(key, value)) return false;
  }
  return true;
}

template <typename OnField>
bool MessageReader::ForEachRootField(od::object& root, OnField&& on_field) {
  if (!ForEachField(root, "message", std::forward<OnField>(on_field))) return false;
  const char* trailing = nullptr;
  if (doc_.current_location().get(trailing) == simdjson::SUCCESS) {
    return Reject(kInvalidJson, "content after the top-level object");
  }
  return true;
}

bool MessageReader::OpenObject(od::value& value, std::string_view field, od::object& object, bool* present) {
  od::json_type type;
  if (auto error = value.type().get(type)) return JsonError(error, field);
  if (type == od::json_type::null) {
    *present = false;
    return Skip(value, field);
  }
  if (type != od::json_type::object) return Reject(kInvalidField, absl::StrCat(ToAbsl(field), " must be an object"));
  if (auto error = value.get_object().get(object)) return JsonError(error, field);
  *present = true;
  return true;
}

bool MessageReader::ReadTextOr(od::value& value, std::string_view field, bool allow_number,
                               std::string_view wrong_type_reason, std::optional<std::string_view>& out) {
  ScalarCapture scalar;
  od::json_type type;
  if (auto error = value.type().get(type)) return JsonError(error, field);
  const bool accepted = type == od::json_type::string || type == od::json_type::null ||
                        (allow_number && type == od::json_type::number);
  if (!accepted) {
    return Reject(wrong_type_reason,
                  absl::StrCat(ToAbsl(field), " must be a ", allow_number ? "string or number" : "string"));
  }
  if (auto error = WalkValue(value, nullptr, 1, &scalar)) return JsonError(error, field);
  if (scalar.type == od::json_type::null || scalar.text.empty()) {
    out.reset();
  } else {
    out = scalar.text;
  }
  return true;
}

bool MessageReader::ReadText(od::value& value, std::string_view field, bool allow_number,
                             std::optional<std::string_view>& out) {
  return ReadTextOr(value, field, allow_number, kInvalidField, out);
}

bool MessageReader::ReadMessageId(od::value& value, std::optional<std::string_view>& out) {
  if (!ReadText(value, "messageId", /*allow_number=*/false, out)) return false;
  if (out.has_value() && CountCodePoints(*out) > kMaxMessageIdChars) {
    return Reject(kInvalidField, absl::StrCat("messageId is longer than ", kMaxMessageIdChars, " characters"));
  }
  return true;
}

bool MessageReader::ReadTraitValue(od::value& value, std::string_view field, std::string_view trait_name,
                                   TraitSet& traits, std::optional<std::string_view>* text, bool keep_null) {
  std::string& arena = scratch_.arena;
  const size_t begin = arena.size();
  ScalarCapture scalar;
  if (auto error = WalkValue(value, &arena, 1, &scalar)) return JsonError(error, field);
  if (scalar.type == od::json_type::null && !keep_null) {
    arena.resize(begin);
    return true;
  }
  traits.entries.push_back({trait_name, begin, arena.size()});
  if (text != nullptr) {
    const bool is_text = (scalar.type == od::json_type::string || scalar.type == od::json_type::number) &&
                         !scalar.text.empty();
    if (is_text) *text = scalar.text;
  }
  return true;
}

bool MessageReader::ReadTraits(od::value& value, std::string_view field, TraitSet& traits) {
  od::object object;
  bool present = false;
  if (!OpenObject(value, field, object, &present)) return false;
  if (!present) return true;
  return ForEachField(object, field, [&](std::string_view name, od::value& trait) {
    std::optional<std::string_view>* text = nullptr;
    if (name == "email") text = &traits.email;
    if (name == "phone") text = &traits.phone;
    return ReadTraitValue(trait, field, name, traits, text, /*keep_null=*/true);
  });
}

bool MessageReader::ReadContext(od::value& value) {
  od::object object;
  bool present = false;
  if (!OpenObject(value, "context", object, &present)) return false;
  if (!present) return true;
  return ForEachField(object, "context", [&](std::string_view key, od::value& child) {
    if (key == "traits") return ReadTraits(child, "context.traits", scratch_.context_traits);
    if (key == "consent") return ReadConsent(child);
    return Skip(child, "context");
  });
}

bool MessageReader::ReadConsent(od::value& value) {
  od::object object;
  bool present = false;
  if (!OpenObject(value, "context.consent", object, &present)) return false;
  if (!present) return true;
  return ForEachField(object, "context.consent", [&](std::string_view key, od::value& child) {
    if (key != "categoryPreferences") return Skip(child, "context.consent");
    constexpr std::string_view kField = "context.consent.categoryPreferences";
    od::object preferences;
    bool has_preferences = false;
    if (!OpenObject(child, kField, preferences, &has_preferences)) return false;
    if (!has_preferences) return true;
    return ForEachField(preferences, kField, [&](std::string_view purpose_key, od::value& preference) {
      std::string purpose(TrimSpaces(purpose_key));
      AsciiLowerInPlace(purpose);
      ScalarCapture scalar;
      od::json_type type;
      if (auto error = preference.type().get(type)) return JsonError(error, kField);
      const std::string_view token = type == od::json_type::boolean ? TrimJsonSpace(preference.raw_json_token())
                                                                    : std::string_view();
      if (auto error = WalkValue(preference, nullptr, 1, &scalar)) return JsonError(error, kField);
      std::optional<bool> granted;
      if (type == od::json_type::boolean) granted = token == "true";
      if (type == od::json_type::string) {
        std::string word(TrimSpaces(scalar.text));
        AsciiLowerInPlace(word);
        if (word == "granted") granted = true;
        if (word == "denied") granted = false;
      }
      // Anything else states nothing about the purpose.
      if (granted.has_value() && !purpose.empty()) (*event_.mutable_consent())[purpose] = *granted;
      return true;
    });
  });
}

bool MessageReader::ReadObjectJson(od::value& value, std::string_view field, std::string& out) {
  od::json_type type;
  if (auto error = value.type().get(type)) return JsonError(error, field);
  out.clear();
  if (type == od::json_type::null) return Skip(value, field);
  if (type != od::json_type::object) return Reject(kInvalidField, absl::StrCat(ToAbsl(field), " must be an object"));
  if (auto error = WalkValue(value, &out, 1, nullptr)) return JsonError(error, field);
  return true;
}

bool MessageReader::ParseTimestampInto(std::string_view text, std::string_view field) {
  const std::optional<int64_t> ms = ParseTimestamp(text, default_tz_);
  if (!ms.has_value()) {
    return Reject(kInvalidTimestamp, absl::StrCat(ToAbsl(field), " ", QuoteForDetail(text), " is not an RFC 3339 timestamp"));
  }
  event_.set_timestamp_ms(*ms);
  return true;
}

bool MessageReader::ParseAmount(std::string_view text, std::string_view field, int exponent, int64_t* minor_units) {
  const absl::StatusOr<int64_t> parsed = ParseDecimalToMinorUnits(TrimSpaces(text), exponent);
  if (!parsed.ok()) {
    return Reject(kInvalidAmount, absl::StrCat(ToAbsl(field), ": ", parsed.status().message()));
  }
  if (*parsed < 0) return Reject(kInvalidAmount, absl::StrCat(ToAbsl(field), " ", QuoteForDetail(text), " is negative"));
  *minor_units = *parsed;
  return true;
}

void MessageReader::CopyTraits(const TraitSet& traits) {
  auto& out = *event_.mutable_traits();
  for (const TraitSet::Entry& entry : traits.entries) {
    std::string& json = out[std::string(entry.name)];  // a repeated name: the last one wins
    json.assign(scratch_.arena, entry.json_begin, entry.json_end - entry.json_begin);
  }
}

void MessageReader::AddIdentifier(std::string_view type, std::string_view value) {
  if (value.empty()) return;
  for (const v1::Identifier& id : event_.identifiers()) {
    if (id.type() == type && id.value() == value) return;
  }
  v1::Identifier* id = event_.add_identifiers();
  id->mutable_type()->assign(type.data(), type.size());
  id->mutable_value()->assign(value.data(), value.size());
}

void MessageReader::AddEmailAndPhone(const std::optional<std::string_view>& email,
                                     const std::optional<std::string_view>& phone) {
  if (email.has_value()) {
    if (std::optional<std::string> normalized = NormalizeEmail(*email)) AddIdentifier("email", *normalized);
  }
  if (phone.has_value()) {
    if (const std::string* normalized = scratch_.phones->Normalize(*phone)) AddIdentifier("phone", *normalized);
  }
}

// ---- web (Segment spec) ----

bool MessageReader::ReadWeb(od::object& root, std::string_view payload) {
  std::optional<std::string_view> type, message_id, user_id, anonymous_id, previous_id, group_id, event_name, name;
  std::optional<std::string_view> timestamp, original_timestamp;
  const bool read = ForEachRootField(root, [&](std::string_view key, od::value& value) {
    if (key == "type") return ReadText(value, "type", false, type);
    if (key == "messageId") return ReadMessageId(value, message_id);
    if (key == "userId") return ReadText(value, "userId", true, user_id);
    if (key == "anonymousId") return ReadText(value, "anonymousId", true, anonymous_id);
    if (key == "previousId") return ReadText(value, "previousId", true, previous_id);
    if (key == "groupId") return ReadText(value, "groupId", true, group_id);
    if (key == "event") return ReadText(value, "event", false, event_name);
    if (key == "name") return ReadText(value, "name", false, name);
    if (key == "traits") return ReadTraits(value, "traits", scratch_.traits);
    if (key == "context") return ReadContext(value);
    if (key == "timestamp") return ReadTextOr(value, "timestamp", false, kInvalidTimestamp, timestamp);
    if (key == "originalTimestamp") {
      return ReadTextOr(value, "originalTimestamp", false, kInvalidTimestamp, original_timestamp);
    }
    if (key == "properties") return ReadObjectJson(value, "properties", *event_.mutable_properties_json());
    return Skip(value, key);
  });
  if (!read) return false;

  if (!type.has_value()) return Reject(kMissingField, "type");
  const std::optional<std::string_view> canonical_type = FindName(kWebTypes, *type);
  if (!canonical_type.has_value()) return Reject(kUnknownType, absl::StrCat("type ", QuoteForDetail(*type)));
  const std::string_view web_type = *canonical_type;
  if (!user_id.has_value() && !anonymous_id.has_value()) {
    return Reject(kNoIdentifier, "userId or anonymousId is required");
  }
  if (web_type == "track" && !event_name.has_value()) return Reject(kMissingField, "event");
  if (web_type == "alias") {
    if (!previous_id.has_value()) return Reject(kMissingField, "previousId");
    if (!user_id.has_value()) return Reject(kMissingField, "userId");
  }
  if (web_type == "group" && !group_id.has_value()) return Reject(kMissingField, "groupId");

  if (timestamp.has_value()) {
    if (!ParseTimestampInto(*timestamp, "timestamp")) return false;
  } else if (original_timestamp.has_value()) {
    if (!ParseTimestampInto(*original_timestamp, "originalTimestamp")) return false;
  } else {
    event_.set_timestamp_ms(event_.received_at_ms());
  }

  event_.mutable_type()->assign(web_type.data(), web_type.size());
  if (web_type == "track") {
    event_.mutable_name()->assign(event_name->data(), event_name->size());
  } else if ((web_type == "page" || web_type == "screen") && name.has_value()) {
    event_.mutable_name()->assign(name->data(), name->size());
  }
  if (web_type == "group") event_.mutable_group_id()->assign(group_id->data(), group_id->size());
  if (message_id.has_value()) {
    event_.mutable_message_id()->assign(message_id->data(), message_id->size());
  } else {
    event_.set_message_id(DerivedMessageId("web", payload));
  }

  const TraitSet& traits = web_type == "identify" ? scratch_.traits : scratch_.context_traits;
  CopyTraits(traits);
  if (user_id.has_value()) AddIdentifier("user_id", *user_id);
  if (anonymous_id.has_value()) AddIdentifier("anonymous_id", *anonymous_id);
  if (web_type == "alias") AddIdentifier("anonymous_id", *previous_id);
  AddEmailAndPhone(traits.email, traits.phone);
  return true;
}

// ---- social ----

bool MessageReader::ReadRating(od::value& value, int32_t* rating) {
  od::json_type type;
  if (auto error = value.type().get(type)) return JsonError(error, "rating");
  if (type == od::json_type::null) {
    *rating = 0;
    return Skip(value, "rating");
  }
  ScalarCapture scalar;
  if (type != od::json_type::number) return Reject(kInvalidField, "rating must be an integer from 1 to 5");
  if (auto error = WalkValue(value, nullptr, 1, &scalar)) return JsonError(error, "rating");
  if (scalar.text.size() != 1 || scalar.text[0] < '1' || scalar.text[0] > '5') {
    return Reject(kInvalidField, absl::StrCat("rating ", QuoteForDetail(scalar.text), " is not an integer from 1 to 5"));
  }
  *rating = scalar.text[0] - '0';
  return true;
}

bool MessageReader::ReadSocial(od::object& root, std::string_view payload) {
  std::optional<std::string_view> message_id, platform, action, handle, user_id, email, phone, text, post_id, timestamp;
  int32_t rating = 0;
  TraitSet& traits = scratch_.traits;
  const bool read = ForEachRootField(root, [&](std::string_view key, od::value& value) {
    if (key == "messageId") return ReadMessageId(value, message_id);
    if (key == "platform") return ReadText(value, "platform", false, platform);
    if (key == "action") return ReadText(value, "action", false, action);
    if (key == "handle") return ReadText(value, "handle", false, handle);
    if (key == "userId") return ReadText(value, "userId", true, user_id);
    if (key == "email") return ReadTraitValue(value, "email", "email", traits, &email, /*keep_null=*/false);
    if (key == "phone") return ReadTraitValue(value, "phone", "phone", traits, &phone, /*keep_null=*/false);
    if (key == "text") return ReadText(value, "text", false, text);
    if (key == "post_id") return ReadText(value, "post_id", true, post_id);
    if (key == "rating") return ReadRating(value, &rating);
    if (key == "timestamp") return ReadTextOr(value, "timestamp", false, kInvalidTimestamp, timestamp);
    return Skip(value, key);
  });
  if (!read) return false;

  if (!platform.has_value()) return Reject(kMissingField, "platform");
  if (!action.has_value()) return Reject(kMissingField, "action");
  if (!handle.has_value()) return Reject(kMissingField, "handle");
  if (!timestamp.has_value()) return Reject(kMissingField, "timestamp");
  const std::optional<std::string_view> canonical_action = FindName(kSocialActions, *action);
  if (!canonical_action.has_value()) return Reject(kUnknownType, absl::StrCat("action ", QuoteForDetail(*action)));

  // The platform becomes an identifier type: a short lower-case name that cannot pose as another
  // identifier type ("email") or break the "type:value" form.
  std::string platform_name(TrimSpaces(*platform));
  AsciiLowerInPlace(platform_name);
  const bool platform_ok =
      !platform_name.empty() && platform_name.size() <= 32 &&
      std::all_of(platform_name.begin(), platform_name.end(),
                  [](char c) { return (c >= 'a' && c <= 'z') || IsDigit(c) || c == '_' || c == '-' || c == '.'; }) &&
      std::find(std::begin(kReservedIdentifierTypes), std::end(kReservedIdentifierTypes), platform_name) ==
          std::end(kReservedIdentifierTypes);
  if (!platform_ok) return Reject(kInvalidField, absl::StrCat("platform ", QuoteForDetail(*platform), " is not a platform name"));
  std::string normalized_handle = NormalizeHandle(*handle);
  if (normalized_handle.empty()) return Reject(kInvalidField, absl::StrCat("handle ", QuoteForDetail(*handle), " is empty"));
  if (!ParseTimestampInto(*timestamp, "timestamp")) return false;

  event_.mutable_type()->assign(canonical_action->data(), canonical_action->size());
  if (message_id.has_value()) {
    event_.mutable_message_id()->assign(message_id->data(), message_id->size());
  } else {
    event_.set_message_id(DerivedMessageId("social", payload));
  }
  AddIdentifier(platform_name, normalized_handle);
  if (user_id.has_value()) AddIdentifier("user_id", *user_id);
  AddEmailAndPhone(email, phone);
  CopyTraits(traits);

  v1::SocialInteraction& social = *event_.mutable_social();
  social.set_platform(std::move(platform_name));
  social.mutable_action()->assign(canonical_action->data(), canonical_action->size());
  social.set_handle(std::move(normalized_handle));
  if (text.has_value()) social.mutable_text()->assign(text->data(), text->size());
  if (post_id.has_value()) social.mutable_post_id()->assign(post_id->data(), post_id->size());
  social.set_rating(rating);
  return true;
}

// ---- purchase ----

bool MessageReader::ReadQuantity(od::value& value, std::string_view field, int64_t* quantity) {
  od::json_type type;
  if (auto error = value.type().get(type)) return JsonError(error, field);
  if (type != od::json_type::number) {
    return Reject(kInvalidField, absl::StrCat(ToAbsl(field), " must be a positive integer"));
  }
  ScalarCapture scalar;
  if (auto error = WalkValue(value, nullptr, 1, &scalar)) return JsonError(error, field);
  int64_t parsed = 0;
  bool ok = !scalar.text.empty() && scalar.text.size() <= 10;
  for (char c : scalar.text) {
    ok = ok && IsDigit(c);
    if (ok) parsed = parsed * 10 + (c - '0');
  }
  if (!ok || parsed <= 0 || parsed > kMaxQuantity) {
    return Reject(kInvalidField, absl::StrCat(ToAbsl(field), " ", QuoteForDetail(scalar.text), " is not a positive integer up to ",
                                              kMaxQuantity));
  }
  *quantity = parsed;
  return true;
}

bool MessageReader::ReadCustomer(od::value& value, CustomerFields& customer, bool* present) {
  od::object object;
  if (!OpenObject(value, "customer", object, present)) return false;
  if (!*present) return true;
  TraitSet& traits = scratch_.traits;
  return ForEachField(object, "customer", [&](std::string_view key, od::value& child) {
    if (key == "user_id") return ReadText(child, "customer.user_id", true, customer.user_id);
    if (key == "loyalty_id") return ReadText(child, "customer.loyalty_id", true, customer.loyalty_id);
    if (key == "email") return ReadTraitValue(child, "customer.email", "email", traits, &customer.email, false);
    if (key == "phone") return ReadTraitValue(child, "customer.phone", "phone", traits, &customer.phone, false);
    if (key == "name") return ReadTraitValue(child, "customer.name", "name", traits, nullptr, false);
    if (key == "address") return ReadTraitValue(child, "customer.address", "address", traits, nullptr, false);
    return Skip(child, "customer");
  });
}

bool MessageReader::ReadItems(od::value& value, std::vector<PendingItem>& items) {
  od::json_type type;
  if (auto error = value.type().get(type)) return JsonError(error, "items");
  v1::Order& order = *event_.mutable_order();
  order.clear_items();
  items.clear();
  if (type == od::json_type::null) return Skip(value, "items");
  if (type != od::json_type::array) return Reject(kInvalidField, "items must be an array");
  od::array array;
  if (auto error = value.get_array().get(array)) return JsonError(error, "items");
  std::string field;  // "items[3]", built only when something needs naming
  for (auto element : array) {
    od::value item_value;
    if (auto error = element.get(item_value)) return JsonError(error, "items");
    field = absl::StrCat("items[", items.size(), "]");
    od::object item_object;
    bool present = false;
    if (!OpenObject(item_value, field, item_object, &present)) return false;
    if (!present) return Reject(kInvalidField, absl::StrCat(field, " must be an object"));
    v1::OrderItem& item = *order.add_items();
    item.set_quantity(1);  // an item without a quantity is one of it
    PendingItem& pending = items.emplace_back();
    std::optional<std::string_view> sku, name, category;
    const bool read = ForEachField(item_object, field, [&](std::string_view key, od::value& child) {
      if (key == "sku") return ReadText(child, absl::StrCat(field, ".sku"), true, sku);
      if (key == "name") return ReadText(child, absl::StrCat(field, ".name"), false, name);
      if (key == "category") return ReadText(child, absl::StrCat(field, ".category"), false, category);
      if (key == "quantity") {
        int64_t quantity = 0;
        if (!ReadQuantity(child, absl::StrCat(field, ".quantity"), &quantity)) return false;
        item.set_quantity(quantity);
        return true;
      }
      if (key == "unit_price") {
        return ReadTextOr(child, absl::StrCat(field, ".unit_price"), true, kInvalidAmount, pending.unit_price);
      }
      return Skip(child, field);
    });
    if (!read) return false;
    if (sku.has_value()) item.mutable_sku()->assign(sku->data(), sku->size());
    if (name.has_value()) item.mutable_name()->assign(name->data(), name->size());
    if (category.has_value()) {
      std::string& normalized = *item.mutable_category();
      normalized.assign(TrimSpaces(*category));
      AsciiLowerInPlace(normalized);
    }
  }
  return true;
}

bool MessageReader::ReadPurchase(od::object& root) {
  std::optional<std::string_view> order_id, timestamp, channel, store_id, currency, status, total, discount, coupon,
      campaign;
  CustomerFields customer;
  bool has_customer = false;
  std::vector<PendingItem>& items = scratch_.items;
  items.clear();
  const bool read = ForEachRootField(root, [&](std::string_view key, od::value& value) {
    if (key == "order_id") return ReadText(value, "order_id", true, order_id);
    if (key == "timestamp") return ReadTextOr(value, "timestamp", false, kInvalidTimestamp, timestamp);
    if (key == "channel") return ReadText(value, "channel", false, channel);
    if (key == "store_id") return ReadText(value, "store_id", true, store_id);
    if (key == "currency") return ReadTextOr(value, "currency", false, kInvalidCurrency, currency);
    if (key == "customer") return ReadCustomer(value, customer, &has_customer);
    if (key == "items") return ReadItems(value, items);
    if (key == "discount") return ReadTextOr(value, "discount", true, kInvalidAmount, discount);
    if (key == "total") return ReadTextOr(value, "total", true, kInvalidAmount, total);
    if (key == "status") return ReadText(value, "status", false, status);
    if (key == "coupon") return ReadText(value, "coupon", false, coupon);
    if (key == "campaign") return ReadText(value, "campaign", false, campaign);
    return Skip(value, key);
  });
  if (!read) return false;

  if (!order_id.has_value()) return Reject(kMissingField, "order_id");
  if (!timestamp.has_value()) return Reject(kMissingField, "timestamp");
  if (!currency.has_value()) return Reject(kMissingField, "currency");
  if (!status.has_value()) return Reject(kMissingField, "status");
  if (!total.has_value()) return Reject(kMissingField, "total");
  if (!has_customer) return Reject(kMissingField, "customer");

  const std::optional<std::string_view> canonical_status = FindName(kOrderStatuses, *status);
  if (!canonical_status.has_value()) return Reject(kUnknownType, absl::StrCat("status ", QuoteForDetail(*status)));
  std::optional<std::string_view> canonical_channel;
  if (channel.has_value()) {
    canonical_channel = FindName(kOrderChannels, TrimSpaces(*channel));
    if (!canonical_channel.has_value()) {
      return Reject(kInvalidField, absl::StrCat("channel ", QuoteForDetail(*channel), " is not web, store, app or marketplace"));
    }
  }

  const std::string_view currency_text = TrimSpaces(*currency);
  std::string currency_code(currency_text);
  for (char& c : currency_code) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  const std::optional<int> exponent = CurrencyExponent(currency_code);
  if (!exponent.has_value()) {
    return Reject(kInvalidCurrency, absl::StrCat("currency ", QuoteForDetail(*currency), " is not an active ISO 4217 code"));
  }
  if (!ParseTimestampInto(*timestamp, "timestamp")) return false;

  v1::Order& order = *event_.mutable_order();
  int64_t total_minor = 0;
  if (!ParseAmount(*total, "total", *exponent, &total_minor)) return false;
  order.mutable_total()->set_minor_units(total_minor);
  order.mutable_total()->set_currency(currency_code);
  if (discount.has_value()) {
    int64_t discount_minor = 0;
    if (!ParseAmount(*discount, "discount", *exponent, &discount_minor)) return false;
    order.mutable_discount()->set_minor_units(discount_minor);
    order.mutable_discount()->set_currency(currency_code);
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].unit_price.has_value()) continue;
    int64_t unit_price_minor = 0;
    if (!ParseAmount(*items[i].unit_price, absl::StrCat("items[", i, "].unit_price"), *exponent, &unit_price_minor)) {
      return false;
    }
    order.mutable_items(static_cast<int>(i))->set_unit_price_minor(unit_price_minor);
  }

  if (customer.user_id.has_value()) AddIdentifier("user_id", *customer.user_id);
  AddEmailAndPhone(customer.email, customer.phone);
  if (customer.loyalty_id.has_value()) AddIdentifier("loyalty_id", TrimSpaces(*customer.loyalty_id));
  if (event_.identifiers_size() == 0) {
    return Reject(kNoIdentifier, "customer has no usable user_id, email, phone or loyalty_id");
  }
  CopyTraits(scratch_.traits);

  event_.set_type("order");
  event_.mutable_name()->assign(canonical_status->data(), canonical_status->size());
  event_.set_message_id(absl::StrCat("order:", ToAbsl(*order_id), ":", ToAbsl(*canonical_status)));
  order.mutable_order_id()->assign(order_id->data(), order_id->size());
  if (canonical_channel.has_value()) order.mutable_channel()->assign(canonical_channel->data(), canonical_channel->size());
  if (store_id.has_value()) order.mutable_store_id()->assign(store_id->data(), store_id->size());
  order.set_status(*canonical_status == "completed"  ? v1::ORDER_STATUS_COMPLETED
                   : *canonical_status == "refunded" ? v1::ORDER_STATUS_REFUNDED
                                                     : v1::ORDER_STATUS_CANCELLED);
  if (coupon.has_value()) order.mutable_coupon()->assign(coupon->data(), coupon->size());
  if (campaign.has_value()) order.mutable_campaign()->assign(campaign->data(), campaign->size());
  return true;
}

}  // namespace

// ---- EventParser ----

struct EventParser::Impl {
  explicit Impl(IngestOptions options_in)
      : options(std::move(options_in)), default_phones(options.default_phone_region) {
    // A zone name the system does not know falls back to UTC: configuration should be checked with
    // LoadDefaultTimeZone before it gets here (a constructor cannot report it).
    absl::StatusOr<absl::TimeZone> tz = LoadDefaultTimeZone(options.default_time_zone);
    default_tz = tz.ok() ? *tz : absl::UTCTimeZone();
  }

  ParseOutcome Parse(v1::Channel channel, std::string_view payload, const v1::SourcePosition& source,
                     int64_t received_at_ms, const RecordOrigin& origin);
  // Reading and validation (MessageReader).
  ParseOutcome Read(v1::Channel channel, std::string_view payload, const v1::SourcePosition& source,
                    int64_t received_at_ms, std::string_view workspace);
  // Cleaning: tracking plan, trait normalization, blocklist. A rejection, or nullopt.
  std::optional<Rejection> Clean(v1::Event& event, std::string_view source_name);
  IdentifierBlocklist& BlocklistFor(std::string_view workspace);
  // The phone normalizer for a source's region (docs/data-quality.md, "phone_regions").
  CachedPhoneNormalizer* PhonesFor(std::string_view workspace, std::string_view source_name);

  IngestOptions options;
  CachedPhoneNormalizer default_phones;  // --phone-region
  // Other regions' normalizers, by region, made when a source configured with one first sends.
  std::map<std::string, CachedPhoneNormalizer, std::less<>> phones_by_region;
  absl::TimeZone default_tz;
  od::parser parser;
  // The payload copied with simdjson's padding after it; grows to the largest message seen.
  simdjson::padded_string buffer;
  Scratch scratch;
  std::map<std::string, IdentifierBlocklist, std::less<>> blocklists;  // by workspace
  QualityCounters quality;
};

IdentifierBlocklist& EventParser::Impl::BlocklistFor(std::string_view workspace) {
  auto it = blocklists.find(workspace);
  if (it == blocklists.end()) {
    std::shared_ptr<const identity::CompiledRules> rules;
    if (options.cleaning != nullptr) rules = options.cleaning->For(workspace).blocklist;
    it = blocklists.emplace(std::string(workspace), IdentifierBlocklist(std::move(rules))).first;
  }
  return it->second;
}

CachedPhoneNormalizer* EventParser::Impl::PhonesFor(std::string_view workspace, std::string_view source_name) {
  if (options.cleaning == nullptr) return &default_phones;
  const std::string_view region =
      options.cleaning->For(workspace).PhoneRegionFor(source_name, options.default_phone_region);
  if (region == options.default_phone_region) return &default_phones;
  auto it = phones_by_region.find(region);
  if (it == phones_by_region.end()) it = phones_by_region.try_emplace(std::string(region), std::string(region)).first;
  return &it->second;
}

std::optional<Rejection> EventParser::Impl::Clean(v1::Event& event, std::string_view source_name) {
  std::vector<std::string>& counters = scratch.counters;
  if (options.cleaning != nullptr) {
    const auto& plans = options.cleaning->For(event.workspace()).tracking_plans;
    if (auto plan = plans.find(source_name); plan != plans.end()) {
      if (std::optional<std::string> violation = ApplyTrackingPlan(plan->second, event, &counters)) {
        return Rejection{std::string(kTrackingPlan), absl::StrCat("source ", QuoteForDetail(source_name), ": ", *violation)};
      }
    }
  }
  NormalizeEventTraits(event, *scratch.phones, &counters);

  IdentifierBlocklist& blocklist = BlocklistFor(event.workspace());
  auto& identifiers = *event.mutable_identifiers();
  std::string blocked_detail;
  int kept = 0;
  for (int i = 0; i < identifiers.size(); ++i) {
    const v1::Identifier& id = identifiers.Get(i);
    const std::string_view reason = blocklist.Blocked(id.type(), id.value());
    if (reason.empty()) {
      if (kept != i) identifiers.SwapElements(kept, i);
      ++kept;
      continue;
    }
    counters.push_back(absl::StrCat("blocked.", id.type(), ".", ToAbsl(reason)));
    if (blocked_detail.empty()) blocked_detail = absl::StrCat(id.type(), " ", QuoteForDetail(id.value()));
    // The trait that carried a blocked email or phone is junk too.
    if (id.type() == "email" || id.type() == "phone") {
      auto trait = event.traits().find(id.type());
      std::string json;
      AppendJsonString(id.value(), json);
      if (trait != event.traits().end() && trait->second == json) event.mutable_traits()->erase(id.type());
    }
  }
  while (identifiers.size() > kept) identifiers.RemoveLast();
  if (identifiers.empty()) {
    return Rejection{std::string(kNoIdentifier), absl::StrCat("no identifier left after the blocklist (", blocked_detail, ")")};
  }
  return std::nullopt;
}

ParseOutcome EventParser::Impl::Parse(v1::Channel channel, std::string_view payload, const v1::SourcePosition& source,
                                      int64_t received_at_ms, const RecordOrigin& origin) {
  const std::string_view workspace = origin.workspace.empty() ? std::string_view(options.workspace) : origin.workspace;
  const std::string_view source_name = origin.source.empty() ? ChannelName(channel) : origin.source;
  scratch.counters.clear();
  scratch.phones = PhonesFor(workspace, source_name);
  ParseOutcome outcome = Read(channel, payload, source, received_at_ms, workspace);
  if (v1::Event* event = std::get_if<v1::Event>(&outcome)) {
    if (!origin.source.empty()) event->set_source_name(std::string(origin.source));
    if (std::optional<Rejection> rejection = Clean(*event, source_name)) outcome = *std::move(rejection);
  }
  if (const Rejection* rejection = std::get_if<Rejection>(&outcome)) {
    quality.Add(workspace, source_name, received_at_ms, absl::StrCat("rejected.", rejection->reason));
    // Blocked values explain a no_identifier rejection: they are counted; nothing else of the
    // rejected record is.
    for (const std::string& counter : scratch.counters) {
      if (counter.rfind("blocked.", 0) == 0) quality.Add(workspace, source_name, received_at_ms, counter);
    }
  } else {
    quality.Add(workspace, source_name, received_at_ms, kCounterAccepted);
    for (const std::string& counter : scratch.counters) quality.Add(workspace, source_name, received_at_ms, counter);
  }
  return outcome;
}

ParseOutcome EventParser::Impl::Read(v1::Channel channel, std::string_view payload, const v1::SourcePosition& source,
                                     int64_t received_at_ms, std::string_view workspace) {
  if (payload.size() > options.max_message_bytes) {
    return Rejection{std::string(kTooLarge),
                     absl::StrCat(payload.size(), " bytes is over the limit of ", options.max_message_bytes)};
  }
  if (channel != v1::CHANNEL_WEB && channel != v1::CHANNEL_SOCIAL && channel != v1::CHANNEL_PURCHASE) {
    return Rejection{std::string(kUnknownType), absl::StrCat("unknown channel ", static_cast<int>(channel))};
  }
  if (buffer.data() == nullptr || buffer.size() < payload.size()) {
    // Grow geometrically, but never past the largest message that can be accepted.
    const size_t wanted = std::min(std::max({payload.size(), 2 * buffer.size(), size_t{4096}}), options.max_message_bytes);
    buffer = simdjson::padded_string(std::max(wanted, payload.size()));
  }
  std::memcpy(buffer.data(), payload.data(), payload.size());
  // simdjson may read the padding; give it the same bytes every time.
  std::memset(buffer.data() + payload.size(), 0, simdjson::SIMDJSON_PADDING);
  const simdjson::padded_string_view padded(buffer.data(), payload.size(), buffer.size() + simdjson::SIMDJSON_PADDING);

  od::document doc;
  if (auto error = parser.iterate(padded).get(doc)) {
    return Rejection{std::string(kInvalidJson), simdjson::error_message(error)};
  }
  od::object root;
  if (auto error = doc.get_object().get(root)) {
    return Rejection{std::string(kInvalidJson),
                     error == simdjson::INCORRECT_TYPE ? "not a JSON object" : simdjson::error_message(error)};
  }

  v1::Event event;
  event.mutable_workspace()->assign(workspace.data(), workspace.size());
  event.set_channel(channel);
  event.set_received_at_ms(received_at_ms);
  *event.mutable_source() = source;
  scratch.Clear();
  MessageReader reader(options, default_tz, scratch, doc, event);
  bool ok = false;
  switch (channel) {
    case v1::CHANNEL_WEB:
      ok = reader.ReadWeb(root, payload);
      break;
    case v1::CHANNEL_SOCIAL:
      ok = reader.ReadSocial(root, payload);
      break;
    default:
      ok = reader.ReadPurchase(root);
      break;
  }
  if (!ok) return reader.TakeRejection();
  return event;
}

EventParser::EventParser(IngestOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

EventParser::~EventParser() = default;

ParseOutcome EventParser::Parse(v1::Channel channel, std::string_view payload, const v1::SourcePosition& source,
                                int64_t received_at_ms) {
  return impl_->Parse(channel, payload, source, received_at_ms, RecordOrigin{});
}

ParseOutcome EventParser::Parse(v1::Channel channel, std::string_view payload, const v1::SourcePosition& source,
                                int64_t received_at_ms, const RecordOrigin& origin) {
  return impl_->Parse(channel, payload, source, received_at_ms, origin);
}

void EventParser::CountDuplicate(const v1::Event& event) { CountDuplicateEvent(event, impl_->quality); }

void CountDuplicateEvent(const v1::Event& event, QualityCounters& counters) {
  const std::string_view source_name =
      event.source_name().empty() ? ChannelName(event.channel()) : std::string_view(event.source_name());
  counters.Add(event.workspace(), source_name, event.received_at_ms(), kCounterAccepted, -1);
  counters.Add(event.workspace(), source_name, event.received_at_ms(), kCounterDuplicate);
}

QualityCounters& EventParser::quality() { return impl_->quality; }

v1::DeadLetter MakeDeadLetter(std::string_view payload, const v1::SourcePosition& source, const Rejection& rejection,
                              int64_t rejected_at_ms) {
  v1::DeadLetter letter;
  letter.mutable_payload()->assign(payload.data(), payload.size());
  *letter.mutable_source() = source;
  letter.set_reason(rejection.reason);
  letter.set_detail(rejection.detail);
  letter.set_stage("ingest");
  letter.set_rejected_at_ms(rejected_at_ms);
  return letter;
}

v1::Channel ChannelFromName(std::string_view name) {
  if (name == "web") return v1::CHANNEL_WEB;
  if (name == "social") return v1::CHANNEL_SOCIAL;
  if (name == "purchase") return v1::CHANNEL_PURCHASE;
  return v1::CHANNEL_UNSPECIFIED;
}

std::string_view ChannelName(v1::Channel channel) {
  switch (channel) {
    case v1::CHANNEL_WEB:
      return "web";
    case v1::CHANNEL_SOCIAL:
      return "social";
    case v1::CHANNEL_PURCHASE:
      return "purchase";
    default:
      return "unspecified";
  }
}

}  // namespace tessera::ingest
