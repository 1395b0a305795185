// Search and segment membership over the stored profiles ("pf/" <be64 id> -> Profile), for the
// query API (POST /v1/profiles/search, GET /v1/segments[/{name}/members]), the CLI and the export.
//
// A search is a scan of "pf/" in id order that tests each profile with a ProfilePredicate: a
// filter in the segment condition language (profiles/conditions.h) evaluated at one moment, or
// membership of a segment. A predicate names the top-level Profile fields it reads, and the scan
// decodes only those (a trait filter skips orders, windows and timers), so a scan that tests a
// million profiles costs about what a scan that counts them does; a profile that matches and
// lands on the page is then decoded whole.
//
// Segment membership lives in each profile (Profile.segments, kept by the activation code,
// profiles/segments.h); there is no per-segment index, so listing a segment's members is the same
// scan with a membership predicate: a page costs the profiles stepped over to fill it (100 members
// of a 1% segment: about 10,000 profiles tested). Counting members is a full scan, which the
// caller caches.
//
// Pages are cursored by profile id: a page's next_cursor names the first id after its last
// profile, so a page is one seek (RocksStore::ScanFrom) plus what it tests.
//
// Thread-safety: the functions are stateless and only call const methods of the reader; a
// ProfilePredicate is immutable and may be shared between threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "profiles/computed_traits.h"
#include "profiles/conditions.h"
#include "profiles/event_store.h"
#include "profiles/segments.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::query {

// What search and the segment endpoints evaluate with: the `profiles:` section of the config.
struct SearchContext {
  std::vector<profiles::SegmentDefinition> segments;  // GET /v1/segments lists these
  // Computed traits as the pipeline computes them (`computed:` leaves, and the profile JSON's
  // "computed" object); null: only the built-in computed names of conditions.h, no "computed".
  std::shared_ptr<const profiles::ComputedTraitsConfig> computed_traits;
  absl::TimeZone default_zone = absl::UTCTimeZone();  // for profiles without a timezone trait
};

// Which top-level fields of a stored Profile a predicate reads (field numbers < 64).
struct ProfileFields {
  bool all = false;
  uint64_t numbers = 0;  // bit n set: field n

  ProfileFields& Add(int field) {
    numbers |= uint64_t{1} << field;
    return *this;
  }
  bool Has(int field) const { return all || (numbers >> field & 1) != 0; }
};

// A test of a stored profile, and the fields it needs decoded.
struct ProfilePredicate {
  std::function<bool(const v1::Profile&)> matches;  // empty: every profile matches
  ProfileFields fields;
};

// The fields a condition reads: traits for trait leaves (and the profile's time zone), event
// windows for event leaves, everything for computed leaves (computed traits read the whole profile).
ProfileFields FieldsOf(const profiles::Condition& condition);

// A parsed filter (profiles::ParseCondition) as a predicate evaluated at `now` (it keeps what it
// needs of the context).
ProfilePredicate FilterPredicate(profiles::Condition condition, const SearchContext& context, absl::Time now);
// Membership of `segment` (Profile.segments).
ProfilePredicate SegmentPredicate(std::string segment);

struct MatchQuery {
  std::string workspace;  // "": every workspace
  size_t limit = 50;
  std::string cursor;     // MatchPage::next_cursor of the previous page; "" for the first
  bool count = false;     // also count every match (a full scan)
};

struct MatchPage {
  std::vector<v1::Profile> profiles;  // whole profiles, in id order
  std::string next_cursor;            // "" when no profile follows the page
  std::optional<int64_t> count;       // every match in the store (MatchQuery::count), cursor or not
};

// One page of the profiles that match. InvalidArgument for a malformed cursor; DataLoss for an
// undecodable profile.
absl::StatusOr<MatchPage> FindProfiles(const profiles::KeyRangeReader& reader, const ProfilePredicate& predicate,
                                       const MatchQuery& query);

// Every matching profile of `workspace` ("" = all), in id order, as its key and serialized bytes,
// until `visit` returns false (the export, which decodes them on other threads). Only what the
// predicate reads is decoded here: nothing at all to export every profile.
using MatchVisitor = std::function<bool(std::string_view key, std::string_view value)>;
absl::Status ForEachMatch(const profiles::KeyRangeReader& reader, const ProfilePredicate& predicate,
                          std::string_view workspace, const MatchVisitor& visit);

// Members per segment name, over every profile of `workspace` ("" = all): one scan that decodes
// only the memberships.
absl::StatusOr<std::map<std::string, int64_t>> CountSegmentMembers(const profiles::KeyRangeReader& reader,
                                                                   std::string_view workspace);

// The condition as JSON in the language ParseCondition reads (ParseCondition(ConditionToJson(c))
// gives back an equal condition), for GET /v1/segments.
std::string ConditionToJson(const profiles::Condition& condition);

}  // namespace tessera::query
