// Unmerge: `tessera profile split`. Removes wrong links from a profile (one link between two
// identifiers, every link of one event, or every link of one source) and recomputes which
// identifiers belong together from evidence, not from the current graph: every event of the
// profile (the per-profile event store, across the ids it absorbed) plus the link-log entries of
// its claims and merges (the fallback for events past retention) are replayed in event-time order
// through a fresh IdentityResolver over a scratch in-memory store, under the workspace's rules,
// with the removed links detached. The identifiers end in one or more parts; each event lands in
// exactly one part (where the replay resolved it), so nothing is lost.
//
// The identity store's side of a split is written here (StageSplit); moving the events and
// rebuilding the profiles is profiles/profile_rebuild.h's, and `tessera profile split`
// (app/identity_commands.cc) puts both in one WriteBatch.
//
// Keys this file adds to identity_resolver.h's layout:
//   "sp/" <be64 profile> <be64 other>  -> SplitRecord as JSON: the whole record under the profile
//                                         split (other = its smallest new id), and under each new id
//                                         (other = the profile split) the record of its own part
//                                         only, so either side finds its splits by prefix
//   "lx/" <workspace> '\0' <be64 event time + 2^63> <message id>
//                                      -> JSON array of the identifiers ("type:value") a split
//                                         detached from that event (the "lk/" key's suffix); an
//                                         empty array detaches all of them. Replays (later splits;
//                                         simulate through ApplyLinkTombstone) skip those links.
//
// A split does not stop the links from being made again by new events: a junk value that glued two
// customers must also be blocked in the rules (docs/identity.md, "Splitting").
//
//   ASSIGN_OR_RETURN(std::vector<SplitPlan> plans, PlanSplit(kv, scan, "baankafe", removal, rules, events_of));
//   for (SplitPlan& plan : plans) RETURN_IF_ERROR(StageSplit(staged, plan, audit));
//
// Thread-safety: plain functions; they read and write only through the view and the scan handed to
// them, from the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kv.h"
#include "identity/identity_explain.h"
#include "identity/identity_records.h"
#include "identity/identity_rules.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::identity {

// What to remove.
struct SplitRemoval {
  enum class Kind { kLink, kEvent, kSource, kIdentifier };
  Kind kind = Kind::kLink;
  std::string link_a, link_b;                // kLink: "type:value" of both ends
  std::string identifier;                    // kIdentifier: detached from every event (a junk value)
  std::string message_id;                    // kEvent
  std::string source_topic;                  // kSource
  std::optional<int32_t> source_partition;   // kSource: nullopt for every partition
  // kEvent, kSource: "type:value" of an identifier of the one profile to split (--profile), so an
  // event that is not in the link log (it only repeated links) can be named too. Empty: the
  // profiles the link log's entries of the event or source are in.
  std::string within;

  // "link email:a@x.com--anonymous_id:d1", "event m7", "source raw.web:2", "identifier email:x@y.z".
  std::string Describe() const;
};

// Parses the command line's forms: "TYPE:VALUE--TYPE:VALUE" (link), a message id (event),
// "TOPIC[:PARTITION]" (source), "TYPE:VALUE" (identifier: every link of it, e.g. a junk value that
// glued many customers into one profile). InvalidArgument on a malformed one.
absl::StatusOr<SplitRemoval> ParseLinkRemoval(std::string_view text);
absl::StatusOr<SplitRemoval> ParseIdentifierRemoval(std::string_view text);
SplitRemoval EventRemoval(std::string_view message_id);
absl::StatusOr<SplitRemoval> ParseSourceRemoval(std::string_view text);

// The events the event store holds for a profile and every id it absorbed (merged_from), for the
// replay. The caller reads them (identity does not know the event store's keys).
using ProfileEventsFn =
    std::function<absl::StatusOr<std::vector<v1::Event>>(uint64_t root, const std::vector<uint64_t>& merged_from)>;

// One profile's split, before it is written.
struct SplitPlan {
  struct Part {
    uint64_t id = 0;  // parts[0]: the profile split (keeps its id); others: 0 until StageSplit allocates
    std::vector<ProfileIdentity::Held> identifiers;  // sorted by identifier
    Claim first;                                     // the smallest claim of the part
  };
  std::string workspace;
  uint64_t profile_id = 0;
  std::vector<uint64_t> merged_from;  // the ids it had absorbed (their events are its events)
  int64_t merges = 0;                 // the merge count of its identity record, kept by parts[0]
  std::vector<Part> parts;            // by first claim; one part means nothing splits
  // Every stored event replayed -> the index of the part it lands in.
  std::map<Claim, size_t> event_part;
  // The events this removal detaches identifiers from -> those identifiers (all of the event's
  // when it is removed whole), and the events already detached by earlier splits (tombstones).
  std::map<Claim, std::vector<std::string>> detached;
  std::map<Claim, std::vector<std::string>> detached_before;
  int64_t events_from_store = 0;     // replayed from the event store
  int64_t events_from_link_log = 0;  // replayed from the link log only (no stored event)

  bool Splits() const { return parts.size() > 1; }
  // The part an event lands in (0 for an event the replay never saw).
  size_t PartOf(const Claim& event) const;
};

// Finds the profile(s) the removal touches and plans their splits. kLink, kIdentifier and kEvent
// touch one profile (the `within` one when given); kSource every profile with a logged event from the source
// (or the `within` one) (plans that do not split are
// returned too, so a caller can say so). NotFound for an identifier, event or source the store does
// not know; FailedPrecondition for two identifiers in different profiles or a link no event of the
// profile asserts. Reads only.
absl::StatusOr<std::vector<SplitPlan>> PlanSplit(KeyValueView& kv, const PrefixScan& scan, std::string_view workspace,
                                                 const SplitRemoval& removal, const RulesByWorkspace& rules,
                                                 const ProfileEventsFn& events_of);

// Who split, when, and why: stored in the split record.
struct SplitAudit {
  std::string by;         // the operator ($USER, or --by)
  int64_t at_ms = 0;      // wall clock
  std::string reason;     // SplitRemoval::Describe()
};

// One split as stored under "sp/" and shown by explain and the history.
struct SplitRecord {
  std::string workspace;
  uint64_t profile_id = 0;                       // the profile split
  std::vector<uint64_t> new_ids;                 // the profiles split out of it
  std::map<uint64_t, std::vector<std::string>> identifiers;  // each part's identifiers, by id
  std::string removed;                           // SplitRemoval::Describe()
  std::vector<std::string> removed_events;       // message ids whose links were detached
  std::string by;
  int64_t at_ms = 0;
};

// Writes a plan that splits: allocates the new ids from the profile's writer sequence ("sq/" of its
// id prefix) into plan.parts, re-points the moved identifiers ("ix/"), writes both identity records
// ("ip/"), the split record ("sp/") and the tombstones ("lx/"). No-op for a plan that does not
// split. Returns the record written.
absl::StatusOr<SplitRecord> StageSplit(KeyValueView& kv, SplitPlan& plan, const SplitAudit& audit);

// The splits a profile took part in, oldest first: whole as the profile split, and as a new
// profile the record of its own part (new_ids, identifiers and removed_events of that part only).
absl::StatusOr<std::vector<SplitRecord>> ReadSplits(const PrefixScan& scan, uint64_t profile_id);

// Applies the splits' tombstone of a link-log entry before a replay: removes from
// `link.identifiers` the identifiers splits detached from that event (all of them for an event
// removed whole) and returns them (empty when no split touched the event). A replay should still
// assert each returned identifier on its own, so it exists without linking anything.
absl::StatusOr<std::vector<std::string>> ApplyLinkTombstone(KeyValueView& kv, LinkRecord& link);

// "lx/" <workspace> '\0' <be64 event time + 2^63> <message id>.
std::string LinkTombstoneKey(std::string_view workspace, const Claim& event);
// "sp/" <be64 profile>: every split record of a profile.
std::string SplitKeyPrefix(uint64_t profile_id);

// One JSON object: profile_id, new_ids, identifiers (id -> array), removed, removed_events, by,
// at_ms. Profile ids as strings, as everywhere in Tessera's JSON.
std::string SplitRecordToJson(const SplitRecord& record);
// A few readable lines (explain's "Split" section).
std::string SplitRecordToText(const SplitRecord& record);
// What a plan does, for --dry-run and the command's report, as text and as one JSON object.
std::string SplitPlanToText(const SplitPlan& plan);
std::string SplitPlanToJson(const SplitPlan& plan);

}  // namespace tessera::identity
