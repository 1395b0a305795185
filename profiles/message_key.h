// The tie-breaker of a stamped value (TraitValue, ConsentState, OrderSummary, CartLine): of two
// events that set it with the same event time, the one whose message id hashes higher wins. The
// profile keeps that 64-bit hash (message_key), not the id: trackers send ids of 36 to 60 mostly
// random characters (@segment/analytics-node: "node-next-<ms>-<uuid v4>"), which no compression
// shrinks, and a profile holds one for each trait, consent purpose, inline order and cart line
// (docs/profile.md, "Tie-breakers"). Values stored before 2026-12-07 hold the id itself
// (message_id), hashed here where it is compared, so old and new values order alike and a replayed
// event ties with the value it set.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/stable_hash.h"

namespace tessera::profiles {

inline uint64_t MessageKey(std::string_view message_id) { return StableHash64(message_id); }

template <typename Stamped>
uint64_t TieKey(const Stamped& value) {
  return value.message_id().empty() ? value.message_key() : MessageKey(value.message_id());
}

}  // namespace tessera::profiles
