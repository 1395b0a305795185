// Ingest: turns one raw record of a channel (JSON as received on raw.web, raw.social or
// raw.purchase) into a normalized tessera.v1.Event, or a Rejection that names why not.
// Identifiers are normalized here and nowhere else: email trimmed and lower-cased, phone to E.164
// through libphonenumber (default region configurable), social handles lower-cased without '@'.
// Then the record is cleaned (docs/data-quality.md): the source's tracking plan is applied, known
// traits are normalized (birthday, gender, names, address, email, phone), consent is read, and
// blocklisted identifier values are dropped. Every outcome is counted in the parser's
// QualityCounters, which the caller stages into its store at the end of each batch.
//
// Thread-safety: an EventParser owns a simdjson parser, scratch space, caches and its quality
// counters: one per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "ingest/cleaning.h"
#include "ingest/quality.h"
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
  // Blocklist and tracking plans per workspace (ingest/ingest_config.h); nullptr: the default
  // blocklist and no tracking plans.
  std::shared_ptr<const CleaningConfig> cleaning;
};

// Where a record came from beyond its channel, when the producer said so (the collector's
// `tessera-workspace` and `tessera-source` Kafka headers). Empty fields: the parser's workspace and
// the channel's name ("web", "social", "purchase") as the source.
struct RecordOrigin {
  std::string_view workspace;
  std::string_view source;
};

// The Kafka headers the collector writes on every raw record (docs/collector.md).
inline constexpr std::string_view kWorkspaceHeader = "tessera-workspace";
inline constexpr std::string_view kSourceHeader = "tessera-source";

// The origin a raw record's producer stated in its headers: any record type with
// `const std::string* FindHeader(std::string_view) const` (tessera::KafkaMessage). The views point
// into `record`, which must outlive the origin.
template <typename Record>
RecordOrigin OriginFromHeaders(const Record& record) {
  RecordOrigin origin;
  if (const std::string* workspace = record.FindHeader(kWorkspaceHeader)) origin.workspace = *workspace;
  if (const std::string* source = record.FindHeader(kSourceHeader)) origin.source = *source;
  return origin;
}

// Machine-readable rejection reasons (DeadLetter.reason). Stable: consumers match on them.
inline constexpr std::string_view kInvalidJson = "invalid_json";
inline constexpr std::string_view kTooLarge = "too_large";
inline constexpr std::string_view kMissingField = "missing_field";
inline constexpr std::string_view kInvalidField = "invalid_field";
inline constexpr std::string_view kUnknownType = "unknown_type";
inline constexpr std::string_view kInvalidTimestamp = "invalid_timestamp";
inline constexpr std::string_view kInvalidCurrency = "invalid_currency";
inline constexpr std::string_view kInvalidAmount = "invalid_amount";
// No identifier at all, or none left once invalid and blocklisted values are taken out.
inline constexpr std::string_view kNoIdentifier = "no_identifier";
// The source's tracking plan (mode reject, or strip with something that cannot be stripped).
inline constexpr std::string_view kTrackingPlan = "tracking_plan";

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
  // The same for a record whose producer named its workspace and source (Event.source_name is then
  // set, and the source's tracking plan is the one applied).
  ParseOutcome Parse(v1::Channel channel, std::string_view payload, const v1::SourcePosition& source,
                     int64_t received_at_ms, const RecordOrigin& origin);

  // Counts `event` (one this parser accepted) as a duplicate the caller dropped.
  void CountDuplicate(const v1::Event& event);

  // What this parser counted since the last StageInto. At the end of a batch:
  //   RETURN_IF_ERROR(parser.quality().StageInto(kv));
  QualityCounters& quality();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Counts `event` (accepted by some EventParser) as a duplicate its stage dropped: one less
// "accepted", one more "duplicate". For a stage that drops duplicates without owning the parser
// (the distributed identity stage).
void CountDuplicateEvent(const v1::Event& event, QualityCounters& counters);

// The dead letter for a rejected record: original bytes, where they came from, and why.
v1::DeadLetter MakeDeadLetter(std::string_view payload, const v1::SourcePosition& source,
                              const Rejection& rejection, int64_t rejected_at_ms);

// "web" -> CHANNEL_WEB, ...; CHANNEL_UNSPECIFIED for anything else.
v1::Channel ChannelFromName(std::string_view name);
std::string_view ChannelName(v1::Channel channel);

}  // namespace tessera::ingest
