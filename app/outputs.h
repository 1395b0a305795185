// How each kind of output record is encoded on its topic.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/profile_batch.h"
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
// With `profile_record` (ProfileRecordBytes(update.profile()).record, made as the profile was
// saved) the record is that plus the update's other fields, and the profile is not read or
// serialized again; the bytes differ only in field order from the stripping path's, and parse to
// the same message.
OutputRecord ProfileChangeOutput(const Topics& topics, v1::ProfileUpdate& update,
                                 std::string_view profile_record = {});
// ProfileChangeOutput of each of a batch's updates, with the bytes its save made, appended to `out`.
void AppendProfileChangeOutputs(const Topics& topics, ProfileUpdates& updates, std::vector<OutputRecord>& out);

// A profile's serialization in two parts whose concatenation is the whole profile's bytes (the
// fields are disjoint, and protobuf reads concatenated messages as one): what a profile-changes
// record carries of it, and the rest (orders, memberships, windows, timers, the wake). The
// profiles stage stores the concatenation and keeps `record` for ProfileChangeOutput, so the
// record costs no second serialization. nullopt for a profile with orders but no totals (stored
// before totals existed; the record computes them). `profile` is not changed: its parts are set
// aside and back (hence not const). `scratch`, if given: an empty profile on `profile`'s arena to
// set them aside in, left empty (ProfileSnapshot's constructor says why).
struct ProfileRecordParts {
  std::string record;
  std::string rest;
};
std::optional<ProfileRecordParts> ProfileRecordBytes(v1::Profile& profile, v1::Profile* scratch = nullptr);
// profile-updates: JSON (sinks/profile_updates.h) keyed by profile id.
OutputRecord ProfileUpdateOutput(const Topics& topics, const v1::ProfileUpdate& update);
// segment-changes: JSON (profiles/segments.h SegmentChangeToJson) keyed by profile id.
OutputRecord SegmentChangeOutput(const Topics& topics, const profiles::SegmentChange& change);
// triggers: JSON (profiles/triggers.h TriggerFiringToJson) keyed by profile id.
OutputRecord TriggerOutput(const Topics& topics, const profiles::TriggerFiring& firing);

}  // namespace tessera::app
