// Ingest: turns one raw record of a channel (JSON as received on raw.web, raw.social or
// raw.purchase) into a normalized tessera.v1.Event, or a Rejection that names why not.
// Identifiers are normalized here and nowhere else: email trimmed and lower-cased, phone to E.164
// through libphonenumber (default region configurable), social handles lower-cased without '@'.
//
// Thread-safety: an EventParser owns a simdjson parser and scratch space: one per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::ingest {

struct IngestOptions {
  std::string workspace = "default";
  // Region for phone numbers written without a country code ("081-234-5678" in TH).
  std::string default_phone_region = "TH";
  // Time zone for timestamps written without an offset (IANA name, e.g. "Asia/Bangkok").
  std::string default_time_zone = "UTC";
  // Segment's limit for one message.
  size_t max_message_bytes = 32 * 1024;
};

// Machine-readable rejection reasons (DeadLetter.reason). Stable: consumers match on them.
inline constexpr std::string_view kInvalidJson = "invalid_json";
inline constexpr std::string_view kTooLarge = "too_large";
inline constexpr std::string_view kMissingField = "missing_field";
inline constexpr std::string_view kInvalidField = "invalid_field";
inline constexpr std::string_view kUnknownType = "unknown_type";
inline constexpr std::string_view kInvalidTimestamp = "invalid_timestamp";
inline constexpr std::string_view kInvalidCurrency = "invalid_currency";
inline constexpr std::string_view kInvalidAmount = "invalid_amount";
inline constexpr std::string_view kNoIdentifier = "no_identifier";

struct Rejection {
  std::string reason;  // one of the constants above
  std::string detail;  // for people: which field, which limit
};

using ParseOutcome = std::variant<v1::Event, Rejection>;

class EventParser {
 public:
  explicit EventParser(IngestOptions options);
  ~EventParser();
  EventParser(const EventParser&) = delete;
  EventParser& operator=(const EventParser&) = delete;

  // Parses, validates and normalizes one raw record. `source` and `received_at_ms` are copied into
  // the event (and identify the record in a rejection's DeadLetter).
  ParseOutcome Parse(v1::Channel channel, std::string_view payload, const v1::SourcePosition& source,
                     int64_t received_at_ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The dead letter for a rejected record: original bytes, where they came from, and why.
v1::DeadLetter MakeDeadLetter(std::string_view payload, const v1::SourcePosition& source,
                              const Rejection& rejection, int64_t rejected_at_ms);

// "web" -> CHANNEL_WEB, ...; CHANNEL_UNSPECIFIED for anything else.
v1::Channel ChannelFromName(std::string_view name);
std::string_view ChannelName(v1::Channel channel);

}  // namespace tessera::ingest
