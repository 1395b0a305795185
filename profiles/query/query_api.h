// The analysts' HTTP JSON API, as a function from a request to a response: routing, bearer-token
// scopes, masking, and the JSON of every endpoint. No sockets here (query_server.h serves it over
// libevent), so tests call it directly as well as over HTTP.
//
//   GET  /v1/profiles/{type}:{value}[?workspace=W][&as_of=T]  the profile holding that identifier
//   GET  /v1/profiles/{id}[?as_of=T]               a profile; a merged-away id answers 308 to the winner
//   GET  /v1/profiles/{id}/events?since&until&type&limit&cursor   its timeline, newest first, across merges
//   GET  /v1/profiles/{id}/history                 how it came to be: merges (evidence), links (the link log),
//                                                  refused links and splits
//   GET  /v1/stats                                 profiles, identifiers, events, merges
//   POST /v1/profiles/search                       {"filter": CONDITION, "limit", "cursor", "count", "workspace"}
//   GET  /v1/segments                              definitions and member counts
//   GET  /v1/segments/{name}/members?cursor&limit&workspace   members, by profile id
//
// {id} may be a TYPE:VALUE everywhere. Times (as_of, since, until) are RFC 3339 or epoch
// milliseconds. Errors are {"error": {"code": ..., "message": ...}}: 400 bad_request, 401
// unauthorized, 403 forbidden, 404 not_found, 405 method_not_allowed, 501 not_implemented, 500
// internal, 503 unavailable. docs/query-api.md is the reference.
//
// Thread-safety: Handle() may be called from many threads at once (it only reads; the stats cache
// and the segment counts are behind a mutex). The API borrows the reader and the clock, which must
// outlive it; set_search_context() is called before the API serves.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "profiles/event_store.h"
#include "profiles/query/profile_search.h"
#include "profiles/query/query_config.h"

namespace tessera::query {

struct QueryRequest {
  std::string_view method;         // "GET", "POST", ...
  std::string_view target;         // the request target as received: path, then '?' and the query
  std::string_view authorization;  // the Authorization header ("Bearer <token>"), may be empty
  std::string_view body = {};      // the request body (POST)
};

struct QueryResponse {
  int status = 200;
  std::string body;  // JSON
  std::vector<std::pair<std::string, std::string>> headers;
};

// True for the paths this API answers (everything under /v1/ that is not the collector's).
bool IsQueryPath(std::string_view target);

class QueryApi {
 public:
  QueryApi(const profiles::KeyRangeReader* reader, QueryConfig config, const Clock* clock);

  QueryResponse Handle(const QueryRequest& request) const;

  // How long /v1/stats reuses a count of profiles, identifiers and merges (a scan of their keys).
  void set_stats_max_age_ms(int64_t ms) { stats_max_age_ms_ = ms; }
  // Segment definitions, computed traits and the default time zone that search and the segment
  // endpoints use (without it: no definitions, the built-in computed names, UTC).
  void set_search_context(SearchContext context) { search_ = std::move(context); }

 private:

  const profiles::KeyRangeReader* reader_;
  const QueryConfig config_;
  const Clock* clock_;
  int64_t stats_max_age_ms_ = 60'000;
  mutable absl::Mutex stats_mu_;
  mutable std::string stats_counts_json_ ABSL_GUARDED_BY(stats_mu_);
  mutable int64_t stats_counted_at_ms_ ABSL_GUARDED_BY(stats_mu_) = -1;

  mutable std::map<std::string, int64_t> segment_members_ ABSL_GUARDED_BY(stats_mu_);
  mutable int64_t segments_counted_at_ms_ ABSL_GUARDED_BY(stats_mu_) = -1;
  SearchContext search_;

  QueryResponse Stats() const;
  QueryResponse Search(const QueryRequest& request, uint32_t scopes) const;
  QueryResponse Segments(const std::vector<std::string>& path, const std::map<std::string, std::string>& params,
                         uint32_t scopes) const;
  // Members per segment, counted by a scan at most once per stats_max_age_ms.
  absl::StatusOr<std::pair<std::map<std::string, int64_t>, int64_t>> SegmentMembers() const;
};

}  // namespace tessera::query
