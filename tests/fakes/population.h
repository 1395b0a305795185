// A deterministic synthetic population of Baan Kafe customers, as raw channel messages plus the
// profile each person must end up with (ground truth for integration tests and benchmarks).
//
// Each person crosses channels the way real customers do: anonymous web visits, then an identify
// call (anonymousId + userId + email), then 1-3 orders (email in another casing, a local Thai phone,
// sometimes a loyalty id; some refunded later, a few cancelled), then 1-4 social interactions
// (handle + the same phone in international format). Every identifier is derived from the person's
// index, so no two people share one; only the chain of shared identifiers makes each person one
// profile. Expected values follow the profile semantics of profiles/profile_state.h (a counter per
// applied event, orders last-writer-wins per order id, spend counting only orders currently
// completed, traits last-writer-wins by event time then message id).
//
// The same (seed, people, base_time_ms) always yields byte-identical records on every platform
// (own PRNG, no std distributions). Person i's records depend only on (seed, i, base_time_ms), so a
// larger population extends a smaller one.
//
// Thread-safety: plain functions returning values the caller owns; safe to call from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::testing {

// One raw message as it would arrive on raw.web, raw.social or raw.purchase.
struct RawRecord {
  v1::Channel channel;
  std::string payload;  // one JSON message, no trailing newline
};

// The profile one generated person must resolve to. Money is a decimal string with the currency's
// exponent; a currency appears in total_spend only if the person has a currently completed order in
// it (in refunded only if a currently refunded one).
struct ExpectedProfile {
  std::string key_email;                // "email:somchai.j7@gmail.com": how tests look people up
  std::vector<std::string> identifiers;  // sorted unique "type:value", normalized as ingest will
  std::map<std::string, int64_t> event_counts;  // "web", "social", "purchase" -> applied events
  int64_t orders_count = 0;                     // orders whose latest status is completed
  int64_t refunds_count = 0;                    // ... refunded
  std::map<std::string, std::string> total_spend;  // currency -> "1250.00", completed orders only
  std::map<std::string, int64_t> social_counts;    // "instagram.comment" -> count
  std::string name;                                // the latest "name" trait, UTF-8 (not JSON)

  // Beyond the minimum, so end-to-end tests can check more of the profile.
  int64_t cancelled_count = 0;                         // orders whose latest status is cancelled
  std::map<std::string, std::string> refunded;         // currency -> total of refunded orders
  std::map<std::string, int64_t> items_by_category;    // quantities of completed orders' items
  std::map<std::string, int64_t> track_event_counts;   // track event name -> count
  int64_t first_seen_ms = 0;                           // earliest event time
  int64_t last_seen_ms = 0;                            // latest event time
};

struct Population {
  std::vector<RawRecord> records;  // all channels, ordered by event time (ties: person, sequence)
  std::vector<ExpectedProfile> people;  // people[i] is person i
};

// Generates `people` customers whose events fall within the 30 days after `base_time_ms`.
// Fast: 1000 people take about 25 ms (optimized build).
Population GeneratePopulation(uint64_t seed, int people, int64_t base_time_ms);

// The payloads of `records` on `channel`, one per line, each line ending in '\n' (NDJSON).
std::string ToNdjson(const std::vector<RawRecord>& records, v1::Channel channel);

// `people` as a JSON array of objects with the ExpectedProfile field names (tessera-gen's
// expected.json). Times are epoch milliseconds.
std::string ExpectedProfilesToJson(const std::vector<ExpectedProfile>& people);

}  // namespace tessera::testing
