// How each kind of output record is encoded on its topic.
#pragma once

#include "app/topics.h"
#include "app/worker_loop.h"
#include "profiles/segments.h"
#include "profiles/triggers.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::app {

// dlq: the DeadLetter protobuf, with the reason and the source position also in headers so
// `kcat -C -f '%h %s'` shows why without decoding protobuf.
OutputRecord DeadLetterOutput(const Topics& topics, const v1::DeadLetter& dead_letter);
// merges: the MergeRecord protobuf keyed by the winner.
OutputRecord MergeOutput(const Topics& topics, const v1::MergeRecord& merge);
// profile-changes (the distributed profiles stage's output, the sinks stage's input): the
// ProfileUpdate protobuf with only the state the sinks stage renders the profile's JSON from.
// Strips `update`'s profile in place (hence not const): its orders (the totals stay: a record
// with every order grew with the customer's history past the broker's message limit) and
// activation's own state, segment memberships, event windows and timers (the JSON shows none of
// them, and they were 40% of a profile's bytes with 27 segments configured).
OutputRecord ProfileChangeOutput(const Topics& topics, v1::ProfileUpdate& update);
// profile-updates: JSON (sinks/profile_updates.h) keyed by profile id.
OutputRecord ProfileUpdateOutput(const Topics& topics, const v1::ProfileUpdate& update);
// segment-changes: JSON (profiles/segments.h SegmentChangeToJson) keyed by profile id.
OutputRecord SegmentChangeOutput(const Topics& topics, const profiles::SegmentChange& change);
// triggers: JSON (profiles/triggers.h TriggerFiringToJson) keyed by profile id.
OutputRecord TriggerOutput(const Topics& topics, const profiles::TriggerFiring& firing);

}  // namespace tessera::app
