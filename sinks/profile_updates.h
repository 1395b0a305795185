// Sinks: what downstream systems receive. For now one destination, the profile-updates topic
// (compacted, keyed by profile id): each record is the JSON below with the header
// content-type: application/json. Webhooks and consent come later.
//
//   {"profile_id":"281474976710657","version":7,"changed":["event_counts","total_spend"],
//    "updated_at":"2026-11-25T03:04:05.000Z","profile":{...the profile JSON...}}
//   a merged-away profile (kept by compaction as the key's last value):
//   {"profile_id":"281474976710658","version":3,"merged_into":"281474976710657","updated_at":...}
//
// Thread-safety: plain functions.
#pragma once

#include <string>
#include <vector>

#include "common/kafka.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::sinks {

inline constexpr char kJsonContentType[] = "application/json";

std::string ProfileUpdateToJson(const v1::ProfileUpdate& update);

// The Kafka key of a profile's records: its id as decimal text.
std::string ProfileKey(uint64_t profile_id);

// Headers every profile-updates record carries.
std::vector<KafkaHeader> ProfileUpdateHeaders();

}  // namespace tessera::sinks
