#include "identity/identity_explain.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/bytes.h"
#include "common/identifier.h"
#include "common/json_writer.h"
#include "common/status_macros.h"
#include "identity/identity_resolver.h"

namespace tessera::identity {

absl::Status ForEachLinkRecord(const PrefixScan& scan, std::string_view workspace,
                               const std::function<absl::Status(LinkRecord&)>& visit) {
  absl::Status failed = absl::OkStatus();
  RETURN_IF_ERROR(scan(LinkKeyPrefix(workspace), [&](std::string_view, std::string_view value) {
    absl::StatusOr<LinkRecord> link = DecodeLinkRecord(value);
    failed = link.ok() ? visit(*link) : link.status();
    return failed.ok();
  }));
  return failed;
}
namespace {

// Every profile merged into `root`, transitively: a loser may have won merges of its own before.
absl::Status CollectMerges(const PrefixScan& scan, uint64_t root, std::vector<v1::MergeRecord>& merges,
                           std::vector<uint64_t>& merged_from) {
  std::vector<uint64_t> pending = {root};
  std::set<uint64_t> seen = {root};
  while (!pending.empty()) {
    const uint64_t winner = pending.back();
    pending.pop_back();
    bool corrupt = false;
    RETURN_IF_ERROR(scan(MergeKeyPrefix(winner), [&](std::string_view, std::string_view value) {
      v1::MergeRecord record;
      if (!record.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        corrupt = true;
        return false;
      }
      if (seen.insert(record.loser()).second) {
        pending.push_back(record.loser());
        merged_from.push_back(record.loser());
      }
      merges.push_back(std::move(record));
      return true;
    }));
    if (corrupt) return absl::DataLossError(absl::StrCat("corrupt merge record of profile ", winner));
  }
  std::sort(merged_from.begin(), merged_from.end());
  std::sort(merges.begin(), merges.end(), [](const v1::MergeRecord& a, const v1::MergeRecord& b) {
    return std::forward_as_tuple(a.timestamp_ms(), a.message_id(), a.loser()) <
           std::forward_as_tuple(b.timestamp_ms(), b.message_id(), b.loser());
  });
  return absl::OkStatus();
}

std::string Time(int64_t ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

std::string Source(std::string_view topic, int32_t partition, int64_t offset) {
  if (topic.empty()) return "source unknown";
  return absl::StrCat(AbslView(topic), " partition ", partition, " offset ", offset);
}

void WriteSource(JsonWriter& w, std::string_view topic, int32_t partition, int64_t offset) {
  w.Key("source").BeginObject();
  w.Key("topic").String(topic).Key("partition").Int(partition).Key("offset").Int(offset);
  w.EndObject();
}

void WriteStrings(JsonWriter& w, std::string_view key, const std::vector<std::string>& values) {
  w.Key(key).BeginArray();
  for (const std::string& v : values) w.String(v);
  w.EndArray();
}

}  // namespace

absl::StatusOr<ProfileExplanation> ExplainProfile(KeyValueView& kv, const PrefixScan& scan, std::string_view workspace,
                                                  const v1::Identifier& identifier) {
  ProfileExplanation out;
  out.workspace = std::string(workspace);
  out.asked = FormatIdentifier(identifier);
  ASSIGN_OR_RETURN(std::optional<uint64_t> root, LookupIdentifier(kv, workspace, identifier));
  if (!root.has_value()) {
    return absl::NotFoundError(absl::StrCat("no profile holds ", out.asked, " in workspace ", AbslView(workspace)));
  }
  out.profile_id = *root;

  // The identifiers and the claim of each: the earliest event that linked it.
  ASSIGN_OR_RETURN(std::optional<std::string> held_bytes, kv.Get(ProfileIdentityKey(*root)));
  ProfileIdentity held;
  if (held_bytes.has_value()) {
    ASSIGN_OR_RETURN(held, DecodeProfileIdentity(*held_bytes));
  } else {
    held.identifiers.push_back({out.asked, {}});  // a profile from before the rules recorded claims
  }
  std::map<Claim, std::vector<std::string>> by_claim;
  std::set<std::string> in_profile;
  for (const ProfileIdentity::Held& h : held.identifiers) {
    by_claim[h.claim].push_back(h.identifier);
    in_profile.insert(h.identifier);
  }
  out.identifiers.assign(in_profile.begin(), in_profile.end());
  std::set<std::string> linked_so_far;
  for (auto& [claim, identifiers] : by_claim) {
    ExplainedLink& link = out.links.emplace_back();
    std::sort(identifiers.begin(), identifiers.end());
    link.linked = identifiers;
    ASSIGN_OR_RETURN(std::optional<std::string> bytes, kv.Get(LinkKey(workspace, claim)));
    if (bytes.has_value()) {
      ASSIGN_OR_RETURN(link.event, DecodeLinkRecord(*bytes));
      std::set<std::string> with;
      for (const std::string& id : link.event.identifiers) {
        if (in_profile.contains(id) && !std::binary_search(link.linked.begin(), link.linked.end(), id)) with.insert(id);
      }
      link.with.assign(with.begin(), with.end());
    } else {
      link.logged = false;
      link.event.workspace = out.workspace;
      link.event.message_id = claim.message_id;
      link.event.event_time_ms = claim.time_ms;
    }
  }

  RETURN_IF_ERROR(CollectMerges(scan, *root, out.merges, out.merged_from));

  // Refused links: those recorded against the profile or any profile merged into it.
  std::vector<uint64_t> ids = out.merged_from;
  ids.push_back(*root);
  std::map<std::tuple<int64_t, std::string, std::string, std::string>, IdentityViolation> refused;
  for (uint64_t id : ids) {
    absl::Status decoded = absl::OkStatus();
    RETURN_IF_ERROR(scan(ProfileViolationKeyPrefix(id), [&](std::string_view, std::string_view value) {
      absl::StatusOr<IdentityViolation> v = DecodeViolation(value);
      if (!v.ok()) {
        decoded = v.status();
        return false;
      }
      refused.emplace(std::make_tuple(v->event_time_ms, v->message_id, v->rule, v->identifier), *std::move(v));
      return true;
    }));
    RETURN_IF_ERROR(decoded);
  }
  for (auto& [key, v] : refused) out.refused.push_back(std::move(v));
  return out;
}

std::string ExplanationToJson(const ProfileExplanation& e) {
  JsonWriter w;
  w.BeginObject();
  w.Key("workspace").String(e.workspace);
  w.Key("identifier").String(e.asked);
  w.Key("profile_id").String(std::to_string(e.profile_id));
  WriteStrings(w, "identifiers", e.identifiers);
  w.Key("links").BeginArray();
  for (const ExplainedLink& link : e.links) {
    w.BeginObject();
    WriteStrings(w, "linked", link.linked);
    WriteStrings(w, "with", link.with);
    w.Key("message_id").String(link.event.message_id);
    w.Key("event_time_ms").Int(link.event.event_time_ms);
    WriteSource(w, link.event.source_topic, link.event.source_partition, link.event.source_offset);
    WriteStrings(w, "event_identifiers", link.event.identifiers);
    w.Key("logged").Bool(link.logged);
    w.EndObject();
  }
  w.EndArray();
  w.Key("merged_from").BeginArray();
  for (uint64_t id : e.merged_from) w.String(std::to_string(id));
  w.EndArray();
  w.Key("merges").BeginArray();
  for (const v1::MergeRecord& m : e.merges) {
    w.BeginObject();
    w.Key("winner").String(std::to_string(m.winner()));
    w.Key("loser").String(std::to_string(m.loser()));
    w.Key("message_id").String(m.message_id());
    w.Key("event_time_ms").Int(m.timestamp_ms());
    w.Key("merged_at_ms").Int(m.merged_at_ms());
    WriteSource(w, m.source().topic(), m.source().partition(), m.source().offset());
    w.Key("evidence").BeginArray();
    for (const v1::Identifier& id : m.evidence()) w.String(FormatIdentifier(id));
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("refused").BeginArray();
  for (const IdentityViolation& v : e.refused) w.Raw(ViolationToJson(v));
  w.EndArray();
  w.EndObject();
  return std::move(w).Take();
}

std::string ExplanationToText(const ProfileExplanation& e) {
  std::string out = absl::StrCat("Profile ", e.profile_id, " in workspace ", e.workspace, ", found by ", e.asked, "\n",
                                 e.identifiers.size(), " identifier(s): ", absl::StrJoin(e.identifiers, ", "), "\n");
  absl::StrAppend(&out, "\nHow they were linked (by event time):\n");
  for (const ExplainedLink& link : e.links) {
    absl::StrAppend(&out, "  ", Time(link.event.event_time_ms), "  event ", link.event.message_id, " (",
                    link.logged ? Source(link.event.source_topic, link.event.source_partition, link.event.source_offset)
                                : "not in the link log",
                    ")\n");
    if (link.with.empty()) {
      absl::StrAppend(&out, "      first seen: ", absl::StrJoin(link.linked, ", "), "\n");
    } else {
      absl::StrAppend(&out, "      linked ", absl::StrJoin(link.linked, ", "), " to ", absl::StrJoin(link.with, ", "),
                      "\n");
    }
  }
  if (e.merges.empty()) {
    absl::StrAppend(&out, "\nNo other profile was merged into it.\n");
  } else {
    absl::StrAppend(&out, "\nMerged in (", e.merges.size(), "):\n");
    for (const v1::MergeRecord& m : e.merges) {
      std::vector<std::string> evidence;
      for (const v1::Identifier& id : m.evidence()) evidence.push_back(FormatIdentifier(id));
      absl::StrAppend(&out, "  ", Time(m.timestamp_ms()), "  profile ", m.loser(), " into ", m.winner(), ": event ",
                      m.message_id(), " (", Source(m.source().topic(), m.source().partition(), m.source().offset()),
                      ") carried ", absl::StrJoin(evidence, ", "), "\n");
    }
  }
  if (e.refused.empty()) {
    absl::StrAppend(&out, "\nNo link was refused.\n");
  } else {
    absl::StrAppend(&out, "\nRefused or undone by the merge rules (", e.refused.size(), "):\n");
    for (const IdentityViolation& v : e.refused) {
      absl::StrAppend(&out, "  ", Time(v.event_time_ms), "  ", v.rule, ": ", v.identifier, " -- ", v.detail,
                      " (event ", v.message_id, ", ", Source(v.source_topic, v.source_partition, v.source_offset),
                      ")\n");
    }
  }
  return out;
}

}  // namespace tessera::identity
