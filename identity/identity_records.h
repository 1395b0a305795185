// Values the identity resolver stores beside its index (see identity_resolver.h for the keys), and
// the violation record: a link the rules refused or undid. Encoded with a small versioned
// length-prefixed format of this file (not protobuf: these are identity's private store values;
// a violation is published as JSON, ViolationToJson).
//
// Plain values; the functions are pure and safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::identity {

// When something was asserted: the (event time, message id) of the earliest event that did.
// Order-dependent decisions compare claims, so they follow event time, not arrival time.
struct Claim {
  int64_t time_ms = 0;
  std::string message_id;

  friend bool operator<(const Claim& a, const Claim& b) {
    return a.time_ms != b.time_ms ? a.time_ms < b.time_ms : a.message_id < b.message_id;
  }
  friend bool operator==(const Claim& a, const Claim& b) = default;
};

// What a root profile holds, for the rules: its identifiers ("type:value") with their claims, and
// how many merges it absorbed (transitively).
struct ProfileIdentity {
  struct Held {
    std::string identifier;
    Claim claim;
  };
  std::vector<Held> identifiers;
  int64_t merges = 0;

  int CountOfType(std::string_view type) const;
  bool HasUserIdOtherThan(std::string_view user_id_identifier) const;
};

// What the resolver knows of one anonymous id: the distinct user_ids seen with it (each with the
// earliest claim), up to one more than the shared-device limit, and whether it is shared.
struct DeviceRecord {
  std::vector<ProfileIdentity::Held> user_ids;  // "user_id:..." with the earliest co-occurrence
  bool shared = false;

  // The user_id seen with it first by event time, or nullptr.
  const ProfileIdentity::Held* Owner() const;
};

// A link refused or undone by a rule. Stored under "iv/" (identity_resolver.h) and returned in
// Resolution.
struct IdentityViolation {
  std::string rule;             // kRule... of identity_rules.h
  std::string workspace;
  std::string identifier;       // the identifier not linked (or unlinked): "type:value"
  uint64_t held_by = 0;         // the profile that holds it (or held it); 0 when none
  uint64_t resolved_to = 0;     // the profile the event was resolved to
  std::string message_id;       // the event that asserted the link
  std::string source_topic;
  int32_t source_partition = 0;
  int64_t source_offset = 0;
  int64_t event_time_ms = 0;
  int64_t detected_at_ms = 0;
  std::string detail;           // human-readable: which limit, which other identifier
};

// One entry of the link log: an event that changed the identity graph (created a profile, linked a
// new identifier, merged profiles, moved a claim earlier, changed a device record, or had a link
// refused), with its provenance and every identifier it carried. Events whose identifiers were all
// already linked to one profile write nothing. Stored under "lk/" (identity_resolver.h), keyed by
// (event time, message id), so a held identifier's Claim is the key of the event that linked it and
// a replay in key order is a replay in event-time order.
struct LinkRecord {
  std::string workspace;
  std::string message_id;
  std::string source_topic;
  int32_t source_partition = 0;
  int64_t source_offset = 0;
  int64_t event_time_ms = 0;
  std::vector<std::string> identifiers;  // every identifier of the event, "type:value", in event order
  uint64_t resolved_to = 0;              // the profile the event resolved to when it arrived
};

std::string EncodeProfileIdentity(const ProfileIdentity& value);
absl::StatusOr<ProfileIdentity> DecodeProfileIdentity(std::string_view bytes);
std::string EncodeDeviceRecord(const DeviceRecord& value);
absl::StatusOr<DeviceRecord> DecodeDeviceRecord(std::string_view bytes);
std::string EncodeViolation(const IdentityViolation& value);
absl::StatusOr<IdentityViolation> DecodeViolation(std::string_view bytes);
std::string EncodeLinkRecord(const LinkRecord& value);
absl::StatusOr<LinkRecord> DecodeLinkRecord(std::string_view bytes);

// One JSON object, keys in a fixed order; times as epoch milliseconds, profile ids as strings.
std::string ViolationToJson(const IdentityViolation& violation);

}  // namespace tessera::identity
