#include "ingest/collector/segment_api.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/clock.h"
#include "common/json_writer.h"
#include "common/utf8.h"
#include "ingest/collector/body_scan.h"
#include "ingest/ingest.h"
#include "ingest/json_text.h"
#include "ingest/normalize.h"
#include "simdjson.h"

namespace tessera::collector {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

constexpr std::array<std::string_view, 6> kTypes = {"identify", "track", "page", "screen", "group", "alias"};

std::string_view TypeOf(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::kIdentify: return "identify";
    case Endpoint::kTrack: return "track";
    case Endpoint::kPage: return "page";
    case Endpoint::kScreen: return "screen";
    case Endpoint::kGroup: return "group";
    case Endpoint::kAlias: return "alias";
    default: return "";
  }
}

struct MessageError {
  std::string_view reason;
  std::string detail;
};

// Fields the collector writes itself; the client's values are read, then replaced. Of those, the
// ones whose text the record takes from the message as sent (RewrittenText) are told apart.
enum class Rewritten { kNo, kDropped, kMessageId, kTimestamp, kOriginalTimestamp, kSentAt, kIntegrations };

// Whether `key`, known to be as long as `name`, is `name`: a memcmp of a constant length, which the
// compiler turns into a few compares of words (std::string_view's == was left a call of its own).
template <size_t N>
[[gnu::always_inline]] constexpr bool IsName(std::string_view key, const char (&name)[N]) {
  if (std::is_constant_evaluated()) return key == std::string_view(name, N - 1);
  assert(key.size() == N - 1);
  return std::memcmp(key.data(), name, N - 1) == 0;
}

// Dispatched on the length first: it is asked of every member of every message, and nine compares
// in a row were a twentieth of Prepare. Always inlined: GCC's -O2 left it a call (22 instructions a
// member in callgrind) once Build grew.
[[gnu::always_inline]] constexpr Rewritten RewrittenAs(std::string_view key) {
  switch (key.size()) {
    case 4: return IsName(key, "type") ? Rewritten::kDropped : Rewritten::kNo;
    case 6: return IsName(key, "sentAt") ? Rewritten::kSentAt : Rewritten::kNo;
    case 7: return IsName(key, "context") ? Rewritten::kDropped : Rewritten::kNo;
    case 8: return IsName(key, "writeKey") ? Rewritten::kDropped : Rewritten::kNo;
    case 9: return IsName(key, "messageId") ? Rewritten::kMessageId : IsName(key, "timestamp") ? Rewritten::kTimestamp : Rewritten::kNo;
    case 10: return IsName(key, "receivedAt") ? Rewritten::kDropped : Rewritten::kNo;
    case 12: return IsName(key, "integrations") ? Rewritten::kIntegrations : Rewritten::kNo;
    case 17: return IsName(key, "originalTimestamp") ? Rewritten::kOriginalTimestamp : Rewritten::kNo;
    default: return Rewritten::kNo;
  }
}
static_assert(RewrittenAs("type") == Rewritten::kDropped && RewrittenAs("messageId") == Rewritten::kMessageId &&
              RewrittenAs("timestamp") == Rewritten::kTimestamp &&
              RewrittenAs("originalTimestamp") == Rewritten::kOriginalTimestamp &&
              RewrittenAs("receivedAt") == Rewritten::kDropped && RewrittenAs("sentAt") == Rewritten::kSentAt &&
              RewrittenAs("context") == Rewritten::kDropped && RewrittenAs("integrations") == Rewritten::kIntegrations &&
              RewrittenAs("writeKey") == Rewritten::kDropped);
static_assert(RewrittenAs("userId") == Rewritten::kNo && RewrittenAs("event") == Rewritten::kNo &&
              RewrittenAs("types") == Rewritten::kNo && RewrittenAs("Type") == Rewritten::kNo &&
              RewrittenAs("properties") == Rewritten::kNo && RewrittenAs("anonymousId") == Rewritten::kNo &&
              RewrittenAs("") == Rewritten::kNo);

size_t Utf8Chars(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The members of a message the collector reads, each the first of its name (as simdjson's at_key
// would find it), taken in one walk over the message (ten at_key calls, each a walk of its own, were
// a twentieth of the collector's CPU on batches).
// Also the first name that occurs twice among the message's members, if any: the message is
// refused for it (ingest::RepeatedNames says why).
struct MessageFields {
  explicit MessageFields(const object& message) {
    ingest::RepeatedNames others;  // the names without a slot; a slot already set is a repeat
    for (const simdjson::dom::key_value_pair field : message) {
      std::optional<element>* slot = Slot(field.key);
      if (slot == nullptr ? !others.Add(field.key) : slot->has_value()) {
        if (!repeated) repeated = field.key;
      } else if (slot != nullptr) {
        *slot = field.value;
      }
    }
  }

  std::optional<element> message_id, type, user_id, anonymous_id, event, group_id, previous_id;
  std::optional<element> traits, properties, context, timestamp, original_timestamp, sent_at;
  std::optional<element> customer, items;  // a purchase record's, checked for repeated names
  std::optional<std::string_view> repeated;

 private:
  std::optional<element>* Slot(std::string_view key) {
    switch (key.size()) {
      case 4: return IsName(key, "type") ? &type : nullptr;
      case 5: return IsName(key, "event") ? &event : IsName(key, "items") ? &items : nullptr;
      case 6: return IsName(key, "userId") ? &user_id : IsName(key, "traits") ? &traits : IsName(key, "sentAt") ? &sent_at : nullptr;
      case 7: return IsName(key, "groupId") ? &group_id : IsName(key, "context") ? &context : nullptr;
      case 8: return IsName(key, "customer") ? &customer : nullptr;
      case 9: return IsName(key, "messageId") ? &message_id : IsName(key, "timestamp") ? &timestamp : nullptr;
      case 10: return IsName(key, "previousId") ? &previous_id : IsName(key, "properties") ? &properties : nullptr;
      case 11: return IsName(key, "anonymousId") ? &anonymous_id : nullptr;
      case 17: return IsName(key, "originalTimestamp") ? &original_timestamp : nullptr;
      default: return nullptr;
    }
  }
};

std::string RepeatedNameDetail(std::string_view where, std::string_view name) {
  return absl::StrCat(AbslView(where), ": ", QuoteForDetail(name), " appears more than once");
}

// The objects ingest reads member by member must not repeat a name either (ingest::RepeatedNames),
// so that what ingest would dead-letter for it is answered 400 here instead: the message itself; on
// the web channel its traits, its context, the context's traits and consent, and the consent's
// categoryPreferences; on the purchase channel its customer and each of its items.
std::optional<std::string> RepeatedName(const MessageFields& fields, v1::Channel channel) {
  if (fields.repeated) return RepeatedNameDetail("message", *fields.repeated);
  // Checks `value`, if an object; sets *first (*second) to its member named first_name (second_name).
  auto first_repeat = [](const std::optional<element>& value, std::string_view where,
                         std::string_view first_name = {}, std::optional<element>* first = nullptr,
                         std::string_view second_name = {},
                         std::optional<element>* second = nullptr) -> std::optional<std::string> {
    object members;
    if (!value || value->get(members) != simdjson::SUCCESS) return std::nullopt;
    ingest::RepeatedNames names;
    for (const simdjson::dom::key_value_pair field : members) {
      if (!names.Add(field.key)) return RepeatedNameDetail(where, field.key);
      if (first == nullptr) continue;
      const size_t size = field.key.size();  // most members are neither: their length says so
      if (size == first_name.size() && field.key == first_name) *first = field.value;
      if (size == second_name.size() && second != nullptr && field.key == second_name) *second = field.value;
    }
    return std::nullopt;
  };
  if (channel == v1::CHANNEL_WEB) {
    if (auto found = first_repeat(fields.traits, "traits")) return found;
    std::optional<element> context_traits, consent, preferences;
    if (auto found = first_repeat(fields.context, "context", "traits", &context_traits, "consent", &consent)) return found;
    if (auto found = first_repeat(context_traits, "context.traits")) return found;
    if (auto found = first_repeat(consent, "context.consent", "categoryPreferences", &preferences)) return found;
    return first_repeat(preferences, "context.consent.categoryPreferences");
  }
  if (channel == v1::CHANNEL_PURCHASE) {
    if (auto found = first_repeat(fields.customer, "customer")) return found;
    simdjson::dom::array array;
    if (fields.items && fields.items->get(array) == simdjson::SUCCESS) {
      size_t index = 0;
      for (element item : array) {
        if (auto found = first_repeat(item, absl::StrCat("items[", index, "]"))) return found;
        ++index;
      }
    }
  }
  return std::nullopt;
}

// A present, non-null, non-empty id as text ("u-1" or a number's spelling, written into
// `number_text`); nullopt if absent. Sets *wrong_type for other JSON types.
std::optional<std::string_view> IdText(const std::optional<element>& field, bool* wrong_type, std::string& number_text) {
  if (!field || field->is_null()) return std::nullopt;
  if (field->is_string()) {
    std::string_view s = field->get_string().value_unsafe();
    if (s.empty()) return std::nullopt;
    return s;
  }
  if (field->is_number()) return number_text = simdjson::minify(*field);
  *wrong_type = true;
  return std::nullopt;
}

// A present string field; nullopt if absent or null. Sets *wrong_type for other JSON types.
std::optional<std::string_view> StringField(const std::optional<element>& field, bool* wrong_type) {
  if (!field || field->is_null()) return std::nullopt;
  if (!field->is_string()) {
    *wrong_type = true;
    return std::nullopt;
  }
  return field->get_string().value_unsafe();
}

std::string MessageId(std::string_view write_key, std::string_view compact) {
  // Deterministic across processes and restarts (no seeded hash), so an SDK's retry of the same
  // request gets the same id and dedup drops the copy. Two independent 64-bit lanes over 8-byte
  // words (a byte-wise FNV was 6% of the collector's CPU on batches); the length is mixed in so
  // zero padding of the last word cannot collide.
  uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
  auto mix_word = [&](uint64_t w) {
    a = (a ^ w) * 0x9e3779b97f4a7c15ULL;
    a ^= a >> 29;
    b = (b + w) * 0xbf58476d1ce4e5b9ULL;
    b ^= b >> 31;
  };
  auto mix = [&](std::string_view s) {
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      mix_word(w);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, s.data() + i, s.size() - i);
    mix_word(tail);
    mix_word(s.size());
  };
  mix(write_key);
  mix("\n");
  mix(compact);
  static constexpr char kHex[] = "0123456789abcdef";
  char id[36] = {'c', 'o', 'l', '-'};
  size_t at = 4;
  for (uint64_t v : {a, b}) {
    for (int shift = 60; shift >= 0; shift -= 4) id[at++] = kHex[(v >> shift) & 15];
  }
  return std::string(id, sizeof id);
}

// The text of the first member named `key` ("" if none): the one simdjson's at_key gives the checks,
// so that a value is written from the same member it was validated from.
std::string_view MemberValue(std::span<const RawMember> members, std::string_view key) {
  for (const RawMember& m : members) {
    if (m.key == key) return m.value;
  }
  return {};
}

// A member's name as any JSON reader sees it: its key as sent, or, when written with escapes (a
// client may spell messageId "message\u0049d"), the key decoded into `storage`. Comparing keys as
// sent let such a name through beside the collector's own member of that name.
std::string_view NameOf(const RawMember& member, std::string& storage) {
  if (member.key.find('\\') == std::string_view::npos) return member.key;
  // RawMember::key is between the quotes of the body's text.
  std::optional<std::string> decoded = ingest::UnescapeJsonString({member.key.data() - 1, member.key.size() + 2});
  if (!decoded) return member.key;  // not after simdjson validated it
  storage = *std::move(decoded);
  return storage;
}

// The text of the member named `name` as NameOf reads names ("" if none): MemberValue for a text
// whose names may be written with escapes.
std::string_view MemberNamed(std::span<const RawMember> members, std::string_view name) {
  std::string storage;
  for (const RawMember& m : members) {
    if (NameOf(m, storage) == name) return m.value;
  }
  return {};
}

// Writes one JSON object from members whose keys and values are already JSON text, and string
// members of our own (escaped here). JsonWriter escapes keys, which would double a raw key's escapes.
// Writes into a buffer sized up front, up to Written: each member's comma, quotes, key, colon and
// value are copied in place, where std::string's push_back and append (out of line, a capacity
// check each) were a tenth of Prepare's time.
class ObjectWriter {
 public:
  // Writes into `buffer` (kept from record to record: grown, never shrunk, so a record costs no
  // allocation of its own); `expected_size`: about the size of the result.
  ObjectWriter(std::string& buffer, size_t expected_size) : out_(buffer) {
    if (out_.size() < expected_size) out_.resize(expected_size);
  }
  ObjectWriter& Begin() { return Open('{'); }
  ObjectWriter& BeginObject(std::string_view key) { return Name(key).Open('{'); }
  ObjectWriter& End() {
    *Grow(1) = '}';
    first_ = false;
    return *this;
  }
  ObjectWriter& RawValue(std::string_view key, std::string_view raw_value) {
    Copy(Name(key, raw_value.size()), raw_value);
    return *this;
  }
  ObjectWriter& String(std::string_view key, std::string_view value) {
    // Our values (types, ids, timestamps, IPs) are mostly printable ASCII, which needs no escaping
    // (tested a word at a time: a byte at a time was 7% of Prepare).
    if (IsPlainJsonAscii(value)) return PlainString(key, value);
    Name(key, 0);
    out_.resize(used_);
    AppendJsonString(value, out_);
    used_ = out_.size();
    return *this;
  }
  // A value of our own making that needs no escaping by construction (a type from kTypes, a
  // timestamp FormatUtcMillis wrote): written without String's test of every byte.
  ObjectWriter& PlainString(std::string_view key, std::string_view value) {
    assert(IsPlainJsonAscii(value));
    char* at = Name(key, value.size() + 2);
    *at = '"';
    Copy(at + 1, value);
    at[value.size() + 1] = '"';
    return *this;
  }
  // What was written; valid until the buffer is written again.
  std::string_view Written() const { return {out_.data(), used_}; }

 private:
  // memcpy of an empty view: its data() may be null, which memcpy must not be given.
  static void Copy(char* at, std::string_view bytes) {
    if (!bytes.empty()) std::memcpy(at, bytes.data(), bytes.size());
  }
  // `n` more bytes at the end, for the caller to fill.
  char* Grow(size_t n) {
    if (used_ + n > out_.size()) out_.resize(std::max(out_.size() * 2, used_ + n));
    char* at = out_.data() + used_;
    used_ += n;
    return at;
  }
  ObjectWriter& Open(char c) {
    *Grow(1) = c;
    first_ = true;
    return *this;
  }
  // Writes the member's comma (unless first), its quoted `key` (one of our own names, or a key as
  // sent with its escapes) and the colon; returns where its `value_bytes` of value go.
  char* Name(std::string_view key, size_t value_bytes) {
    const size_t comma = first_ ? 0 : 1;
    first_ = false;
    char* at = Grow(comma + key.size() + 3 + value_bytes);
    *at = ',';
    at[comma] = '"';
    Copy(at + comma + 1, key);
    at += comma + 1 + key.size();
    at[0] = '"';
    at[1] = ':';
    return at + 2;
  }
  ObjectWriter& Name(std::string_view key) {
    Name(key, 0);
    return *this;
  }
  std::string& out_;  // bytes [0, used_) written; the rest is room
  size_t used_ = 0;
  bool first_ = true;
};

// The members the record takes from the message as sent (RewrittenAs): compact JSON text, "" if the
// message has none.
struct RewrittenText {
  std::string_view message_id, timestamp, original_timestamp, sent_at, integrations;

  void Keep(Rewritten as, std::string_view value) {
    switch (as) {
      case Rewritten::kMessageId: message_id = value; break;
      case Rewritten::kTimestamp: timestamp = value; break;
      case Rewritten::kOriginalTimestamp: original_timestamp = value; break;
      case Rewritten::kSentAt: sent_at = value; break;
      case Rewritten::kIntegrations: integrations = value; break;
      case Rewritten::kNo:
      case Rewritten::kDropped: break;
    }
  }
};

struct BatchDefaults {
  std::vector<RawMember> context;  // the batch's context object's members, none if it has none
  bool context_escapes = false;    // whether the batch's context has a backslash (NameOf)
  std::string_view integrations;   // compact text, "" if none
  std::optional<std::string_view> sent_at;
  std::string_view sent_at_text;  // sent_at as sent (compact JSON), "" if none
  std::optional<int64_t> sent_at_ms;  // sent_at read once for all the batch's messages, if it reads
};

class MessageBuilder {
 public:
  // Each record's key and value go to `bytes`.
  MessageBuilder(const SourceConfig& source, std::string_view write_key, std::string_view client_ip,
                 int64_t received_at_ms, const Limits& limits, RecordBytes& bytes)
      : source_(source),
        write_key_(write_key),
        client_ip_(client_ip),
        received_at_ms_(received_at_ms),
        received_at_(FormatTimestampMs(received_at_ms)),
        limits_(limits),
        bytes_(bytes) {}

  // Validates one message and builds its record; `compact` is its text without white space outside
  // strings (CompactJson), `members` its members and `context` those of its first "context" member
  // if that is an object (ScanBody), `forced_type` the endpoint's type ("" in a batch).
  std::variant<OutgoingRecord, MessageError> Build(element item, std::string_view compact, std::span<const RawMember> members,
                                                   std::span<const RawMember> context, std::string_view forced_type,
                                                   const BatchDefaults& defaults) {
    object message;
    if (item.get(message) != simdjson::SUCCESS) return MessageError{kReasonInvalidJson, "a message must be a JSON object"};
    if (compact.size() > limits_.max_message_bytes) {
      return MessageError{kReasonMessageTooLarge, absl::StrCat("message is ", compact.size(), " bytes (compact JSON); the limit is ",
                                                               limits_.max_message_bytes)};
    }
    const MessageFields fields(message);
    if (std::optional<std::string> repeated = RepeatedName(fields, source_.channel)) {
      return MessageError{kReasonInvalidField, *std::move(repeated)};
    }
    bool wrong_type = false;
    std::optional<std::string_view> message_id = StringField(fields.message_id, &wrong_type);
    if (wrong_type) return MessageError{kReasonInvalidField, "messageId must be a string"};
    // A character is at least a byte: only an id of more bytes than the limit can be over it.
    if (message_id && message_id->size() > limits_.max_message_id_chars &&
        Utf8Chars(*message_id) > limits_.max_message_id_chars) {
      return MessageError{kReasonInvalidField, absl::StrCat("messageId is longer than ", limits_.max_message_id_chars, " characters")};
    }
    OutgoingRecord record;
    record.channel = source_.channel;

    std::string type;
    if (source_.channel == v1::CHANNEL_WEB) {
      if (!forced_type.empty()) {
        type = std::string(forced_type);
      } else {
        std::optional<std::string_view> sent_type = StringField(fields.type, &wrong_type);
        if (wrong_type) return MessageError{kReasonInvalidField, "type must be a string"};
        if (!sent_type) return MessageError{kReasonMissingField, "type is required for each message of a batch"};
        type = absl::AsciiStrToLower(AbslView(*sent_type));
        if (std::find(kTypes.begin(), kTypes.end(), type) == kTypes.end()) {
          return MessageError{kReasonUnknownType, absl::StrCat("type ", QuoteForDetail(*sent_type),
                                                               " is not identify, track, page, screen, group or alias")};
        }
      }
      std::string_view key;
      std::string number_text;  // an id sent as a number, spelled out
      if (auto error = CheckSpecFields(fields, type, &key, number_text)) return *std::move(error);
      record.key = bytes_.Keep(key);
    }

    // Timestamps: timestamp = receivedAt - (sentAt - originalTimestamp), as Segment computes it.
    std::optional<std::string_view> original = StringField(fields.timestamp, &wrong_type);
    const bool original_is_timestamp = original.has_value();
    if (!original) original = StringField(fields.original_timestamp, &wrong_type);
    std::optional<std::string_view> sent_at = StringField(fields.sent_at, &wrong_type);
    if (wrong_type) return MessageError{kReasonInvalidTimestamp, "timestamp, originalTimestamp and sentAt must be RFC 3339 strings"};
    const bool own_sent_at = sent_at.has_value();
    const bool batch_sent_at = !sent_at && defaults.sent_at_ms;
    if (!sent_at) sent_at = defaults.sent_at;
    std::optional<int64_t> original_ms, sent_ms;
    if (original && !(original_ms = ingest::ParseTimestamp(*original, absl::UTCTimeZone()))) {
      return MessageError{kReasonInvalidTimestamp, absl::StrCat("timestamp ", QuoteForDetail(*original), " is not RFC 3339")};
    }
    if (batch_sent_at) {
      sent_ms = defaults.sent_at_ms;
    } else if (sent_at && !(sent_ms = ingest::ParseTimestamp(*sent_at, absl::UTCTimeZone()))) {
      return MessageError{kReasonInvalidTimestamp, absl::StrCat("sentAt ", QuoteForDetail(*sent_at), " is not RFC 3339")};
    }
    int64_t event_ms = received_at_ms_;
    if (original_ms) event_ms = sent_ms ? received_at_ms_ - (*sent_ms - *original_ms) : *original_ms;

    // Each record is written here first, then kept in bytes_: one buffer an io thread, grown to its
    // largest record.
    thread_local std::string scratch;
    ObjectWriter w(scratch, compact.size() + 256);  // the message plus the fields added here
    w.Begin();
    RewrittenText sent;
    // A name can be written with escapes only in a message with a backslash somewhere (one memchr
    // of the message, not one a member).
    const bool escapes = compact.find('\\') != std::string_view::npos;
    std::string decoded;
    for (const RawMember& field : members) {
      const Rewritten as = RewrittenAs(escapes ? NameOf(field, decoded) : field.key);
      if (as == Rewritten::kNo) {
        w.RawValue(field.key, field.value);
      } else {
        sent.Keep(as, field.value);
      }
    }
    if (!type.empty()) w.PlainString("type", type);
    // The strings the client sent go on as it wrote them (validated above, compact, escapes and
    // all) rather than escaped again; from the DOM only where the text is not at hand.
    const auto write_sent = [&w](std::string_view key, std::string_view as_sent, std::string_view value) {
      if (as_sent.empty()) {
        w.String(key, value);
      } else {
        w.RawValue(key, as_sent);
      }
    };
    if (source_.channel != v1::CHANNEL_PURCHASE) {
      if (message_id) {
        write_sent("messageId", sent.message_id, *message_id);
      } else {
        w.PlainString("messageId", MessageId(write_key_, compact));
      }
    }
    if (original) write_sent("originalTimestamp", original_is_timestamp ? sent.timestamp : sent.original_timestamp, *original);
    UtcMillisText event_time;
    w.PlainString("timestamp", FormatUtcMillis(event_ms, event_time));
    if (sent_at) write_sent("sentAt", own_sent_at ? sent.sent_at : defaults.sent_at_text, *sent_at);
    w.PlainString("receivedAt", received_at_);
    std::vector<RawMember> context_named_with_escapes;  // found under its plain name only
    if (escapes && context.empty()) {
      const std::string_view text = MemberNamed(members, "context");
      if (!text.empty() && text.front() == '{') context = context_named_with_escapes = ObjectMembers(text);
    }
    WriteContext(context, escapes, defaults, w);
    const std::string_view integrations = sent.integrations;
    if (!integrations.empty() && integrations != "null") {
      w.RawValue("integrations", integrations);
    } else if (!defaults.integrations.empty()) {
      w.RawValue("integrations", defaults.integrations);
    }
    w.End();
    record.value = bytes_.Keep(w.Written());
    return record;
  }

 private:
  // Sets *key to the message's userId, else its anonymousId (spelled into `number_text` if a number).
  std::optional<MessageError> CheckSpecFields(const MessageFields& fields, std::string_view type, std::string_view* key,
                                              std::string& number_text) const {
    bool wrong_type = false;
    std::string other_number;  // the id that is not the key, if a number
    const std::optional<std::string_view> user_id = IdText(fields.user_id, &wrong_type, number_text);
    const std::optional<std::string_view> anonymous_id =
        IdText(fields.anonymous_id, &wrong_type, user_id ? other_number : number_text);
    if (wrong_type) return MessageError{kReasonInvalidField, "userId and anonymousId must be strings or numbers"};
    if (!user_id && !anonymous_id) return MessageError{kReasonNoIdentifier, "userId or anonymousId is required"};
    const bool has_user_id = user_id.has_value();
    *key = has_user_id ? *user_id : *anonymous_id;
    if (type == "track") {
      std::optional<std::string_view> event = StringField(fields.event, &wrong_type);
      if (wrong_type) return MessageError{kReasonInvalidField, "event must be a string"};
      if (!event || event->empty()) return MessageError{kReasonMissingField, "a track call needs event"};
    } else if (type == "group") {
      std::string number;
      std::optional<std::string_view> group_id = IdText(fields.group_id, &wrong_type, number);
      if (wrong_type) return MessageError{kReasonInvalidField, "groupId must be a string or a number"};
      if (!group_id) return MessageError{kReasonMissingField, "a group call needs groupId"};
    } else if (type == "alias") {
      std::string number;
      std::optional<std::string_view> previous_id = IdText(fields.previous_id, &wrong_type, number);
      if (wrong_type) return MessageError{kReasonInvalidField, "previousId must be a string or a number"};
      if (!previous_id) return MessageError{kReasonMissingField, "an alias call needs previousId"};
      if (!has_user_id) return MessageError{kReasonMissingField, "an alias call needs userId"};
    }
    for (const auto& [name, field] : {std::pair<std::string_view, const std::optional<element>&>{"traits", fields.traits},
                                      {"properties", fields.properties},
                                      {"context", fields.context}}) {
      if (field && !field->is_null() && !field->is_object()) {
        return MessageError{kReasonInvalidField, absl::StrCat(AbslView(name), " must be an object")};
      }
    }
    return std::nullopt;
  }

  // context: the message's own fields, then the batch's for names it lacks, then ip if neither had one.
  // `escapes`: whether the message has a backslash anywhere (else its names are as spelled).
  void WriteContext(std::span<const RawMember> own, bool escapes, const BatchDefaults& defaults, ObjectWriter& w) const {
    if (source_.channel == v1::CHANNEL_PURCHASE) return;  // a purchase record has no context
    bool has_ip = false;
    std::string decoded;
    w.BeginObject("context");
    for (const RawMember& field : own) {
      has_ip |= (escapes ? NameOf(field, decoded) : field.key) == "ip";
      w.RawValue(field.key, field.value);
    }
    for (const RawMember& field : defaults.context) {
      const std::string_view name = defaults.context_escapes ? NameOf(field, decoded) : field.key;
      if (!(escapes || defaults.context_escapes ? MemberNamed(own, name) : MemberValue(own, name)).empty()) continue;
      has_ip |= name == "ip";
      w.RawValue(field.key, field.value);
    }
    if (!has_ip && !client_ip_.empty()) w.String("ip", client_ip_);
    w.End();
  }

  const SourceConfig& source_;
  const std::string_view write_key_;
  const std::string_view client_ip_;
  const int64_t received_at_ms_;
  const std::string received_at_;
  const Limits& limits_;
  RecordBytes& bytes_;
};

HttpReply SuccessReply() { return HttpReply{200, R"({"success":true})", {}}; }

}  // namespace

std::optional<Endpoint> EndpointFromPath(std::string_view path) {
  path = path.substr(0, std::min(path.find('?'), path.size()));
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path.rfind("/v1/", 0) == 0) path.remove_prefix(4);
  else return std::nullopt;
  static const std::pair<std::string_view, Endpoint> kPaths[] = {
      {"track", Endpoint::kTrack},  {"t", Endpoint::kTrack},    {"identify", Endpoint::kIdentify},
      {"i", Endpoint::kIdentify},   {"page", Endpoint::kPage},  {"p", Endpoint::kPage},
      {"screen", Endpoint::kScreen}, {"s", Endpoint::kScreen},  {"group", Endpoint::kGroup},
      {"g", Endpoint::kGroup},      {"alias", Endpoint::kAlias}, {"a", Endpoint::kAlias},
      {"batch", Endpoint::kBatch},  {"b", Endpoint::kBatch},    {"import", Endpoint::kImport},
  };
  for (const auto& [name, endpoint] : kPaths) {
    if (path == name) return endpoint;
  }
  return std::nullopt;
}

HttpReply ErrorReply(int status, std::string_view reason, std::string_view detail) {
  JsonWriter w;
  w.BeginObject().Key("success").Bool(false).Key("reason").String(reason).Key("detail").String(detail).EndObject();
  return HttpReply{status, std::move(w).Take(), {}};
}

std::optional<std::string> WriteKeyFromBasicAuth(std::string_view authorization) {
  authorization = ingest::TrimSpaces(authorization);
  if (authorization.size() < 6 || !absl::EqualsIgnoreCase(AbslView(authorization.substr(0, 6)), "basic ")) return std::nullopt;
  std::string decoded;
  if (!absl::Base64Unescape(AbslView(ingest::TrimSpaces(authorization.substr(6))), &decoded)) return std::nullopt;
  return decoded.substr(0, decoded.find(':'));
}

std::string ClientIp(std::string_view peer_ip, std::string_view forwarded_for,
                     const absl::flat_hash_set<std::string>& trusted_proxies) {
  if (forwarded_for.empty() || !trusted_proxies.contains(AbslView(peer_ip))) return std::string(peer_ip);
  std::vector<absl::string_view> hops = absl::StrSplit(AbslView(forwarded_for), ',');
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    absl::string_view hop = absl::StripAsciiWhitespace(*it);
    if (!hop.empty() && !trusted_proxies.contains(hop)) return std::string(hop);
  }
  return std::string(absl::StripAsciiWhitespace(hops.front()));
}

absl::StatusOr<std::string> Gunzip(std::string_view compressed, size_t max_bytes) {
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 32) != Z_OK) return absl::InternalError("zlib inflateInit2 failed");
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char chunk[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk);
    stream.avail_out = sizeof(chunk);
    rc = inflate(&stream, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&stream);
      return absl::InvalidArgumentError(absl::StrCat("corrupt gzip body (zlib: ", stream.msg ? stream.msg : "truncated", ")"));
    }
    out.append(chunk, sizeof(chunk) - stream.avail_out);
    if (out.size() > max_bytes) {
      inflateEnd(&stream);
      return absl::ResourceExhaustedError(absl::StrCat("the inflated body exceeds ", max_bytes, " bytes"));
    }
    if (rc == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) {
      inflateEnd(&stream);
      return absl::InvalidArgumentError("truncated gzip body");
    }
  }
  inflateEnd(&stream);
  return out;
}

std::string_view RecordBytes::Keep(std::string_view bytes) {
  if (bytes.size() > left_) {
    const size_t size = std::max(blocks_.empty() ? first_block_ : kBlockBytes, bytes.size());
    blocks_.push_back(std::make_unique_for_overwrite<char[]>(size));
    free_ = blocks_.back().get();
    left_ = size;
  }
  if (!bytes.empty()) std::memcpy(free_, bytes.data(), bytes.size());
  const std::string_view kept(free_, bytes.size());
  free_ += bytes.size();
  left_ -= bytes.size();
  return kept;
}

std::string FormatTimestampMs(int64_t epoch_ms) {
  return FormatUtcMillis(epoch_ms);
}

SegmentApi::SegmentApi(CollectorConfig config, Limits limits)
    : config_(std::move(config)), limits_(limits), rate_limiter_(config_.rate_limit_per_second, config_.rate_limit_burst) {}

PreparedRequest SegmentApi::Prepare(Endpoint endpoint, const HttpRequestView& request, int64_t received_at_ms) {
  const bool is_batch = endpoint == Endpoint::kBatch || endpoint == Endpoint::kImport;
  const size_t max_body = is_batch ? limits_.max_batch_bytes : limits_.max_message_bytes;
  const std::string_view too_large_reason = is_batch ? kReasonBatchTooLarge : kReasonMessageTooLarge;

  std::optional<std::string> write_key = WriteKeyFromBasicAuth(request.authorization);
  if (!request.authorization.empty() && !write_key) {
    return {{}, ErrorReply(401, kReasonNoWriteKey, "the Authorization header must be Basic base64(writeKey:)"), {}};
  }
  auto check_key = [&](const std::string& key) -> std::optional<HttpReply> {
    if (!config_.sources_by_write_key.contains(key)) return ErrorReply(401, kReasonUnknownWriteKey, "unknown write key");
    if (int64_t wait_s = rate_limiter_.Acquire(key, received_at_ms); wait_s > 0) {
      HttpReply reply = ErrorReply(429, kReasonRateLimited, "too many requests for this write key");
      reply.headers = {{"Retry-After", std::to_string(wait_s)}, {"X-RateLimit-Reset", std::to_string(wait_s)}};
      return reply;
    }
    return std::nullopt;
  };
  if (write_key) {
    if (auto refused = check_key(*write_key)) return {{}, *std::move(refused), {}};
  }

  // Body: at most the limit, after inflating.
  std::string inflated;
  std::string_view body = request.body;
  const std::string encoding = absl::AsciiStrToLower(AbslView(ingest::TrimSpaces(request.content_encoding)));
  if (encoding == "gzip" || encoding == "x-gzip" || encoding == "deflate") {
    absl::StatusOr<std::string> out = Gunzip(body, max_body);
    if (absl::IsResourceExhausted(out.status())) {
      return {{}, ErrorReply(413, too_large_reason, absl::StrCat("the body is over ", max_body, " bytes after gunzip")), {}};
    }
    if (!out.ok()) return {{}, ErrorReply(400, kReasonBadGzip, StdView(out.status().message())), {}};
    inflated = *std::move(out);
    body = inflated;
  } else if (!encoding.empty() && encoding != "identity") {
    return {{}, ErrorReply(415, kReasonUnsupportedEncoding, absl::StrCat("Content-Encoding '", encoding, "' (gzip is supported)")), {}};
  }
  if (body.size() > max_body) {
    return {{}, ErrorReply(413, too_large_reason, absl::StrCat("the body is ", body.size(), " bytes; the limit is ", max_body)), {}};
  }

  thread_local simdjson::dom::parser parser;
  element root;
  static_assert(kBodyPadding >= simdjson::SIMDJSON_PADDING);
  const bool parse_in_place = request.body_padded && body.data() == request.body.data();  // not inflated
  if (auto error = parser.parse(body.data(), body.size(), /*realloc_if_needed=*/!parse_in_place).get(root);
      error != simdjson::SUCCESS) {
    return {{}, ErrorReply(400, kReasonInvalidJson, simdjson::error_message(error)), {}};
  }
  object top;
  if (root.get(top) != simdjson::SUCCESS) return {{}, ErrorReply(400, kReasonInvalidJson, "the body must be a JSON object"), {}};

  if (!write_key) {
    std::string_view body_key;
    if (top["writeKey"].get(body_key) != simdjson::SUCCESS || body_key.empty()) {
      return {{}, ErrorReply(401, kReasonNoWriteKey, "send the write key as HTTP Basic user name or as writeKey in the body"), {}};
    }
    write_key = std::string(body_key);
    if (auto refused = check_key(*write_key)) return {{}, *std::move(refused), {}};
  }
  const SourceConfig& source = config_.sources_by_write_key.find(*write_key)->second;
  const std::string client_ip = ClientIp(request.peer_ip, request.forwarded_for, config_.trusted_proxies);
  PreparedRequest prepared;
  MessageBuilder builder(source, *write_key, client_ip, received_at_ms, limits_, prepared.bytes);

  // Every message's text below is a span of the body without white space outside strings: the body
  // itself when it has none (as trackers send it), found from simdjson's structural positions; else a
  // compacted copy, scanned byte by byte.
  std::string compacted;
  std::string_view compact_body = body;
  thread_local ScannedBody walked;  // only views into this request's body; refilled by each request
  const std::span<const uint32_t> positions = StructuralPositions(parser);
  const bool from_positions = IsCompact(body, positions) && ScanCompactBody(body, positions, walked);
  ScannedBody byte_scanned;
  if (!from_positions) {
    compacted = CompactJson(body);
    compact_body = compacted;
    byte_scanned = ScanBody(compact_body);
  }
  const ScannedBody& scanned = from_positions ? walked : byte_scanned;
  prepared.headers = {{std::string(ingest::kWorkspaceHeader), source.workspace},
                      {std::string(ingest::kSourceHeader), source.name}};
  if (!is_batch) {
    prepared.bytes.SizeFirstBlock(compact_body.size() + 512);  // the record: the message and what is added
    const std::vector<RawMember> context = ObjectMembers(MemberNamed(scanned.members, "context"));
    auto built = builder.Build(root, compact_body, scanned.members, context, TypeOf(endpoint), {});
    if (auto* error = std::get_if<MessageError>(&built)) {
      prepared.reply = ErrorReply(error->reason == kReasonMessageTooLarge ? 413 : 400, error->reason, error->detail);
      return prepared;
    }
    prepared.records.push_back(std::get<OutgoingRecord>(std::move(built)));
    prepared.reply = SuccessReply();
    return prepared;
  }

  simdjson::dom::array items;
  element batch_value;
  if (top["batch"].get(batch_value) != simdjson::SUCCESS || batch_value.is_null()) {
    return {{}, ErrorReply(400, kReasonMissingField, "a batch request needs \"batch\": [messages]"), {}};
  }
  if (batch_value.get(items) != simdjson::SUCCESS) return {{}, ErrorReply(400, kReasonInvalidField, "batch must be an array"), {}};
  if (items.size() == 0) return {{}, ErrorReply(400, kReasonEmptyBatch, "batch holds no messages"), {}};
  if (items.size() > limits_.max_batch_messages) {
    return {{}, ErrorReply(413, kReasonTooManyMessages, absl::StrCat("batch holds ", items.size(), " messages; the limit is ",
                                                                     limits_.max_batch_messages)), {}};
  }
  if (scanned.items.size() != items.size()) return {{}, ErrorReply(400, kReasonInvalidJson, "batch could not be read"), {}};
  BatchDefaults defaults;
  object context;
  if (top["context"].get(context) == simdjson::SUCCESS) {
    const std::string_view text = MemberNamed(scanned.members, "context");
    defaults.context = ObjectMembers(text);
    defaults.context_escapes = text.find('\\') != std::string_view::npos;
  }
  element integrations;
  if (top["integrations"].get(integrations) == simdjson::SUCCESS && !integrations.is_null()) {
    defaults.integrations = MemberNamed(scanned.members, "integrations");
  }
  std::string_view sent_at;
  if (top["sentAt"].get(sent_at) == simdjson::SUCCESS) {
    defaults.sent_at = sent_at;
    defaults.sent_at_text = MemberNamed(scanned.members, "sentAt");
    defaults.sent_at_ms = ingest::ParseTimestamp(sent_at, absl::UTCTimeZone());  // else each message says why
  }

  prepared.records.reserve(items.size());
  JsonWriter rejected;
  rejected.BeginArray();
  size_t rejected_count = 0, too_large_count = 0, index = 0;
  for (element item : items) {
    auto built = builder.Build(item, scanned.items[index], scanned.MembersOf(index), scanned.ContextOf(index), "", defaults);
    if (auto* error = std::get_if<MessageError>(&built)) {
      ++rejected_count;
      too_large_count += error->reason == kReasonMessageTooLarge;
      rejected.BeginObject().Key("index").Uint(index).Key("reason").String(error->reason).Key("detail").String(error->detail).EndObject();
    } else {
      prepared.records.push_back(std::get<OutgoingRecord>(std::move(built)));
    }
    ++index;
  }
  rejected.EndArray();
  if (rejected_count == 0) {
    prepared.reply = SuccessReply();
    return prepared;
  }
  JsonWriter w;
  w.BeginObject()
      .Key("success").Bool(false)
      .Key("reason").String(kReasonInvalidMessages)
      .Key("detail").String(absl::StrCat(rejected_count, " of ", items.size(),
                                         " messages were rejected; the others were accepted"))
      .Key("accepted").Uint(prepared.records.size())
      .Key("rejected").Raw(rejected.str())
      .EndObject();
  prepared.reply = HttpReply{too_large_count == rejected_count ? 413 : 400, std::move(w).Take(), {}};
  return prepared;
}

}  // namespace tessera::collector
