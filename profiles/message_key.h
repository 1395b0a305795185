// The tie-breaker of a stamped value (TraitValue, ConsentState, CartLine): of two events that set
// it with the same event time, the one whose message id hashes higher wins, so all that one event
// set wins together. The profile keeps 32 bits of that hash (message_key), not the id: trackers
// send ids of 36 to 60 mostly random characters (@segment/analytics-node: "node-next-<ms>-<uuid
// v4>"), which no compression shrinks, and a profile holds one for each trait, consent purpose and
// cart line (docs/profile.md, "Tie-breakers"). 32 bits are plenty: a tie needs two events in one
// millisecond, and should their keys collide too the value itself decides, which is as
// independent of arrival order. Values stored before 2026-12-07 hold the id itself (message_id),
// hashed here where it is compared, so old and new values order alike and a replayed event ties
// with the value it set.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/stable_hash.h"

namespace tessera::profiles {

inline uint32_t MessageKey(std::string_view message_id) { return static_cast<uint32_t>(StableHash64(message_id) >> 32); }

template <typename Stamped>
uint32_t TieKey(const Stamped& value) {
  return value.message_id().empty() ? value.message_key() : MessageKey(value.message_id());
}

}  // namespace tessera::profiles
