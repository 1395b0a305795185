// What one destination is sent for one input record: consent and the field allowlist applied,
// rendered as the JSON item that webhooks receive in a batch and Kafka destinations as a record.
//
// Items (docs/sinks.md):
//   {"type":"profile","idempotency_key":"42:7","profile_id":"42","version":7,"profile":{...allowed fields}}
//   {"type":"deletion","idempotency_key":"42:8","profile_id":"42","version":8,"reason":"consent_withdrawn"}
//   {"type":"deletion","idempotency_key":"43:3","profile_id":"43","version":3,"reason":"merged","merged_into":"42"}
//   {"type":"segment_change"|"trigger","idempotency_key":"<topic>:<partition>:<offset>","profile_id":"42","data":{...}}
//
// Consent: a destination "holds" a profile from the moment a profile item was delivered to it until
// a deletion was. A profile update is sent only if consent is granted for every purpose the
// destination declares; otherwise, a held profile gets a deletion notice and an unheld one is
// skipped (counted). Segment changes and triggers go only where the profile is held.
//
// Thread-safety: RecordParser belongs to one thread (it reuses a simdjson parser); the rest are
// plain functions.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "sinks/sink_config.h"

namespace tessera::sinks {

// Move-only: `profile_fields` view `source`, whose heap buffer a move keeps in place.
struct SinkRecord {
  enum class Kind { kProfile, kMergedAway, kSegmentChange, kTrigger };
  SinkRecord() = default;
  SinkRecord(SinkRecord&&) = default;
  SinkRecord& operator=(SinkRecord&&) = default;
  SinkRecord(const SinkRecord&) = delete;
  SinkRecord& operator=(const SinkRecord&) = delete;

  Kind kind = Kind::kProfile;
  uint64_t profile_id = 0;
  uint64_t version = 0;
  uint64_t merged_into = 0;
  std::map<std::string, bool> consent;  // purpose -> granted (profile updates)
  // Top-level fields of the profile JSON, (name, value as JSON text exactly as the record has
  // it), in document order: slices of `source`, so rendering an item copies each field once.
  std::vector<std::pair<std::string_view, std::string_view>> profile_fields;
  std::vector<std::string> changed;  // changed top-level fields
  std::string event_json;            // segment change / trigger: the record as compact JSON
  std::string segment;               // its "segment" (or "segment_id") member, if any
  std::string source;                // a profile update's payload, padded for simdjson
};

enum class SinkAction {
  kSendProfile,   // then the destination holds the profile
  kSendDeletion,  // then it no longer does
  kSendEvent,
  kSkipConsent,   // counted as skipped for consent
  kSkipOther,     // nothing to do (not held, filtered segment)
};

class RecordParser {
 public:
  RecordParser();
  ~RecordParser();
  // A profile-updates record (sinks/profile_updates.h has the format).
  absl::StatusOr<SinkRecord> ParseProfileUpdate(std::string_view payload);
  // A segment-changes or triggers record for `profile_id` (the record key).
  absl::StatusOr<SinkRecord> ParseEvent(SinkRecord::Kind kind, uint64_t profile_id, std::string_view payload);

 private:
  // `text` is the consent object's slice of a padded buffer with `readable` bytes from its start.
  void ParseConsent(std::string_view text, size_t readable, std::map<std::string, bool>& out);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

bool ConsentGrantedForAll(const std::vector<std::string>& purposes, const std::map<std::string, bool>& consent);

SinkAction Decide(const DestinationConfig& destination, const SinkRecord& record, bool holds_profile);

// Whether Decide's answer for `record` depends on `holds_profile` at all: a profile with consent
// for every purpose is sent whatever the destination held, so the worker skips the lookup.
bool DecisionNeedsHeldState(const DestinationConfig& destination, const SinkRecord& record);

// "<profile id>:<version>" for profile records; `event_key` for segment changes and triggers.
std::string IdempotencyKey(const SinkRecord& record, std::string_view event_key);

// The item for a send action (kSendProfile, kSendDeletion or kSendEvent).
std::string RenderItem(const DestinationConfig& destination, const SinkRecord& record, SinkAction action,
                       std::string_view idempotency_key);

// A webhook request body: {"destination":NAME,"items":[ITEM,...]}.
std::string RenderBatch(std::string_view destination_name, const std::vector<const std::string*>& items);

}  // namespace tessera::sinks
