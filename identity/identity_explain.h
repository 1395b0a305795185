// "Why is this one customer?": the explanation of a profile from the identity store, for
// `tessera profile explain TYPE:VALUE`. It is derived, never stored: the profile's identifiers and
// their claims ("ip/"), the link log entry of each claim ("lk/"), the merges it absorbed,
// transitively ("mg/"), and the links the rules refused or undid around it ("lv/").
//
//   ASSIGN_OR_RETURN(ProfileExplanation why, ExplainProfile(reader, scan, "baankafe", email));
//   std::puts(ExplanationToText(why).c_str());
//
// The functions only read; they are as thread-safe as the KeyValueView and the scan handed to them
// (one caller at a time for a StoreReader over a secondary instance). The result is a plain value.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/kv.h"
#include "identity/identity_records.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::identity {

// Visits every key starting with `prefix`, in key order, until `visit` returns false. KeyValueView
// has no scans; production passes RocksStore::ScanPrefix, tests a scan over their map.
using PrefixScan = std::function<absl::Status(std::string_view prefix,
                                              const std::function<bool(std::string_view key, std::string_view value)>& visit)>;

// Visits the workspace's link log in event-time order, decoded (each record is the visitor's own
// copy to change). Stops at the first entry that does not decode and at the first error `visit`
// returns, and returns that error.
absl::Status ForEachLinkRecord(const PrefixScan& scan, std::string_view workspace,
                               const std::function<absl::Status(LinkRecord&)>& visit);

// One event of the link log, as it built the profile.
struct ExplainedLink {
  // The profile's identifiers this event was the first (by event time) to assert, sorted.
  std::vector<std::string> linked;
  // The profile's identifiers the event carried that earlier events had linked already: what the
  // new ones were linked to. Empty for the event that started the profile.
  std::vector<std::string> with;
  // The event: message id, source position, event time. When the log has no entry for the claim (a
  // store written before the link log), only message_id and event_time_ms are known.
  LinkRecord event;
  bool logged = true;
};

struct ProfileExplanation {
  std::string workspace;
  std::string asked;                     // the identifier looked up, "type:value"
  uint64_t profile_id = 0;               // its root profile
  std::vector<std::string> identifiers;  // what the profile holds, sorted
  std::vector<ExplainedLink> links;      // by (event time, message id) of the linking event
  std::vector<uint64_t> merged_from;     // every profile merged into it, transitively, ascending
  std::vector<v1::MergeRecord> merges;   // those merges with their evidence, by event time
  std::vector<IdentityViolation> refused;  // links refused or undone around the profile, by event time
};

// NotFound when `identifier` was never linked in `workspace`; DataLoss on a corrupt record.
absl::StatusOr<ProfileExplanation> ExplainProfile(KeyValueView& kv, const PrefixScan& scan, std::string_view workspace,
                                                  const v1::Identifier& identifier);

// One JSON object, keys in a fixed order; profile ids as strings, times as epoch milliseconds.
std::string ExplanationToJson(const ProfileExplanation& explanation);

// A few lines a marketer can read: what the profile holds, which events linked what (with dates
// in UTC and where each event came from), which profiles were merged in and on what evidence, and
// which links were refused, by which rule.
std::string ExplanationToText(const ProfileExplanation& explanation);

}  // namespace tessera::identity
