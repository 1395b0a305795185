#include "identity/identity_split.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/identifier.h"
#include "common/json_writer.h"
#include "common/status_macros.h"
#include "identity/identity_resolver.h"
#include "identity/scratch_kv.h"
#include "simdjson.h"

namespace tessera::identity {
namespace {

// Ids occupy the low 48 bits under a 16-bit writer prefix (identity_resolver.cc).
constexpr int kPrefixShift = 48;

std::string SplitKey(uint64_t profile, uint64_t other) {
  std::string key = SplitKeyPrefix(profile);
  AppendBigEndian64(other, key);
  return key;
}

// One event as the replay sees it: its identifiers among the profile's, and where it came from.
struct ReplayEvent {
  std::vector<std::string> identifiers;  // distinct, "type:value", only identifiers the profile holds
  std::string source_topic;
  int32_t source_partition = 0;
  int64_t source_offset = 0;
  bool from_store = false;
};

bool MatchesSource(const SplitRemoval& removal, std::string_view topic, int32_t partition) {
  return topic == removal.source_topic &&
         (!removal.source_partition.has_value() || *removal.source_partition == partition);
}

absl::StatusOr<std::vector<std::string>> DecodeStringArray(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::array array;
  if (parser.parse(json.data(), json.size()).get_array().get(array) != simdjson::SUCCESS) {
    return absl::DataLossError("undecodable split tombstone");
  }
  std::vector<std::string> out;
  for (simdjson::dom::element e : array) {
    std::string_view s;
    if (e.get_string().get(s) != simdjson::SUCCESS) return absl::DataLossError("undecodable split tombstone");
    out.emplace_back(s);
  }
  return out;
}

std::string EncodeStringArray(const std::vector<std::string>& values) {
  JsonWriter w;
  w.BeginArray();
  for (const std::string& v : values) w.String(v);
  w.EndArray();
  return std::move(w).Take();
}

// The identifiers earlier splits detached from an event; nullopt when none did. An empty vector
// means every identifier of the event.
absl::StatusOr<std::optional<std::vector<std::string>>> ReadTombstone(KeyValueView& kv, std::string_view workspace,
                                                                      const Claim& event) {
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, kv.Get(LinkTombstoneKey(workspace, event)));
  if (!bytes.has_value()) return std::nullopt;
  ASSIGN_OR_RETURN(std::vector<std::string> detached, DecodeStringArray(*bytes));
  return detached;
}

absl::StatusOr<SplitRecord> DecodeSplitRecord(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(json.data(), json.size()).get_object().get(object) != simdjson::SUCCESS) {
    return absl::DataLossError("undecodable split record");
  }
  SplitRecord record;
  auto id_of = [](simdjson::dom::element e, uint64_t& out) {
    std::string_view text;
    return e.get_string().get(text) == simdjson::SUCCESS && absl::SimpleAtoi(AbslView(text), &out);
  };
  bool ok = true;
  for (simdjson::dom::key_value_pair field : object) {
    std::string_view text;
    if (field.key == "workspace" && field.value.get_string().get(text) == simdjson::SUCCESS) {
      record.workspace = std::string(text);
    } else if (field.key == "profile_id") {
      ok &= id_of(field.value, record.profile_id);
    } else if (field.key == "new_ids" && field.value.is_array()) {
      for (simdjson::dom::element e : field.value.get_array()) {
        ok &= id_of(e, record.new_ids.emplace_back());
      }
    } else if (field.key == "identifiers" && field.value.is_object()) {
      for (simdjson::dom::key_value_pair part : field.value.get_object()) {
        uint64_t id = 0;
        ok &= absl::SimpleAtoi(AbslView(part.key), &id) && part.value.is_array();
        if (!ok) break;
        std::vector<std::string>& list = record.identifiers[id];
        for (simdjson::dom::element e : part.value.get_array()) {
          if (e.get_string().get(text) == simdjson::SUCCESS) list.emplace_back(text);
        }
      }
    } else if (field.key == "removed" && field.value.get_string().get(text) == simdjson::SUCCESS) {
      record.removed = std::string(text);
    } else if (field.key == "removed_events" && field.value.is_array()) {
      for (simdjson::dom::element e : field.value.get_array()) {
        if (e.get_string().get(text) == simdjson::SUCCESS) record.removed_events.emplace_back(text);
      }
    } else if (field.key == "by" && field.value.get_string().get(text) == simdjson::SUCCESS) {
      record.by = std::string(text);
    } else if (field.key == "at_ms") {
      int64_t at = 0;
      ok &= field.value.get_int64().get(at) == simdjson::SUCCESS;
      record.at_ms = at;
    }
  }
  if (!ok) return absl::DataLossError("undecodable split record");
  return record;
}

std::string Time(int64_t ms) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

// The profiles a removal touches: their roots, ascending.
absl::StatusOr<std::set<uint64_t>> AffectedRoots(KeyValueView& kv, const PrefixScan& scan, std::string_view workspace,
                                                 const SplitRemoval& removal) {
  std::set<uint64_t> roots;
  auto root_of = [&](std::string_view text) -> absl::StatusOr<std::optional<uint64_t>> {
    ASSIGN_OR_RETURN(v1::Identifier id, ParseIdentifier(text));
    return LookupIdentifier(kv, workspace, id);
  };
  if (removal.kind == SplitRemoval::Kind::kIdentifier) {
    ASSIGN_OR_RETURN(std::optional<uint64_t> root, root_of(removal.identifier));
    if (!root.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("no profile holds ", removal.identifier, " in workspace ", AbslView(workspace)));
    }
    roots.insert(*root);
    return roots;
  }
  if (removal.kind == SplitRemoval::Kind::kLink) {
    ASSIGN_OR_RETURN(std::optional<uint64_t> a, root_of(removal.link_a));
    ASSIGN_OR_RETURN(std::optional<uint64_t> b, root_of(removal.link_b));
    for (const auto& [text, root] : {std::pair{removal.link_a, a}, std::pair{removal.link_b, b}}) {
      if (!root.has_value()) {
        return absl::NotFoundError(absl::StrCat("no profile holds ", text, " in workspace ", AbslView(workspace)));
      }
    }
    if (*a != *b) {
      return absl::FailedPreconditionError(absl::StrCat(removal.link_a, " (profile ", *a, ") and ", removal.link_b,
                                                        " (profile ", *b, ") are not linked: nothing to split"));
    }
    roots.insert(*a);
    return roots;
  }
  if (!removal.within.empty()) {
    ASSIGN_OR_RETURN(std::optional<uint64_t> root, root_of(removal.within));
    if (!root.has_value()) {
      return absl::NotFoundError(absl::StrCat("no profile holds ", removal.within, " in workspace ", AbslView(workspace)));
    }
    roots.insert(*root);
    return roots;
  }
  // An event or a source: the link log says which events changed the graph and which profiles
  // their identifiers are in now.
  RETURN_IF_ERROR(ForEachLinkRecord(scan, workspace, [&](const LinkRecord& link) -> absl::Status {
    const bool matches = removal.kind == SplitRemoval::Kind::kEvent
                             ? link.message_id == removal.message_id
                             : MatchesSource(removal, link.source_topic, link.source_partition);
    if (!matches) return absl::OkStatus();
    for (const std::string& text : link.identifiers) {
      ASSIGN_OR_RETURN(std::optional<uint64_t> root, root_of(text));
      if (root.has_value()) roots.insert(*root);
    }
    return absl::OkStatus();
  }));
  if (roots.empty()) {
    return absl::NotFoundError(absl::StrCat("the link log of workspace ", AbslView(workspace), " has no entry of the ",
                                            removal.Describe(),
                                            removal.kind == SplitRemoval::Kind::kSource
                                                ? " (sources are named as the link log holds them, with the topic "
                                                  "prefix: `profile explain` shows them)"
                                                : " (an event that only repeated links other events made first is not "
                                                  "logged: name its profile with --profile)"));
  }
  return roots;
}

// Plans the split of one root profile.
absl::StatusOr<SplitPlan> PlanOne(KeyValueView& kv, const PrefixScan& scan, std::string_view workspace, uint64_t root,
                                  const SplitRemoval& removal, const RulesByWorkspace& rules,
                                  const ProfileEventsFn& events_of) {
  SplitPlan plan;
  plan.workspace = std::string(workspace);
  plan.profile_id = root;
  ASSIGN_OR_RETURN(std::optional<std::string> held_bytes, kv.Get(ProfileIdentityKey(root)));
  if (!held_bytes.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("profile ", root, " has no identity record (written before the merge rules): cannot split it"));
  }
  ASSIGN_OR_RETURN(ProfileIdentity held, DecodeProfileIdentity(*held_bytes));
  if (held.identifiers.empty()) return absl::FailedPreconditionError(absl::StrCat("profile ", root, " holds nothing"));
  plan.merges = held.merges;
  absl::flat_hash_map<std::string, Claim> claim_of;
  for (const ProfileIdentity::Held& h : held.identifiers) claim_of[h.identifier] = h.claim;

  // The link log side: the entries of the claims, merges and refusals around the profile.
  ASSIGN_OR_RETURN(v1::Identifier any, ParseIdentifier(held.identifiers.front().identifier));
  ASSIGN_OR_RETURN(ProfileExplanation explanation, ExplainProfile(kv, scan, workspace, any));
  plan.merged_from = explanation.merged_from;

  std::map<Claim, ReplayEvent> replay;
  auto keep_held = [&](ReplayEvent& event, std::string text) {
    if (claim_of.contains(text) &&
        std::find(event.identifiers.begin(), event.identifiers.end(), text) == event.identifiers.end()) {
      event.identifiers.push_back(std::move(text));
    }
  };
  ASSIGN_OR_RETURN(std::vector<v1::Event> stored, events_of(root, plan.merged_from));
  for (const v1::Event& event : stored) {
    ReplayEvent& r = replay[Claim{event.timestamp_ms(), event.message_id()}];
    if (r.from_store) continue;  // the same event stored under two ids (a replay across a merge)
    r.from_store = true;
    r.source_topic = event.source().topic();
    r.source_partition = event.source().partition();
    r.source_offset = event.source().offset();
    for (const v1::Identifier& id : event.identifiers()) keep_held(r, FormatIdentifier(id));
    ++plan.events_from_store;
  }
  std::set<Claim> logged;
  for (const ExplainedLink& link : explanation.links) {
    if (link.logged) logged.insert(Claim{link.event.event_time_ms, link.event.message_id});
  }
  for (const v1::MergeRecord& merge : explanation.merges) logged.insert(Claim{merge.timestamp_ms(), merge.message_id()});
  for (const IdentityViolation& v : explanation.refused) logged.insert(Claim{v.event_time_ms, v.message_id});
  for (const Claim& claim : logged) {
    if (replay.contains(claim)) continue;  // the stored event has every linked identifier already
    ASSIGN_OR_RETURN(std::optional<std::string> bytes, kv.Get(LinkKey(workspace, claim)));
    if (!bytes.has_value()) continue;
    ASSIGN_OR_RETURN(LinkRecord link, DecodeLinkRecord(*bytes));
    ReplayEvent r;
    r.source_topic = link.source_topic;
    r.source_partition = link.source_partition;
    r.source_offset = link.source_offset;
    for (std::string& text : link.identifiers) keep_held(r, std::move(text));
    if (r.identifiers.empty()) continue;  // nothing of this profile (a refusal held elsewhere)
    replay.emplace(claim, std::move(r));
    ++plan.events_from_link_log;
  }

  // What is detached: earlier splits' tombstones, then this removal.
  const CompiledRules& compiled = rules.For(workspace);
  auto before_in_priority = [&](const std::string& a, const std::string& b) {
    const int ra = compiled.Rank(a.substr(0, a.find(':')));
    const int rb = compiled.Rank(b.substr(0, b.find(':')));
    return ra != rb ? ra < rb : a < b;
  };
  std::map<Claim, std::set<std::string>> detached;  // everything detached in the replay
  bool removal_found = false;
  for (auto& [claim, event] : replay) {
    ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> tombstone, ReadTombstone(kv, workspace, claim));
    if (tombstone.has_value()) {
      std::vector<std::string> earlier = tombstone->empty() ? event.identifiers : *tombstone;
      plan.detached_before[claim] = earlier;
      detached[claim].insert(earlier.begin(), earlier.end());
    }
    std::vector<std::string> now;
    switch (removal.kind) {
      case SplitRemoval::Kind::kLink: {
        const bool both = std::find(event.identifiers.begin(), event.identifiers.end(), removal.link_a) !=
                              event.identifiers.end() &&
                          std::find(event.identifiers.begin(), event.identifiers.end(), removal.link_b) !=
                              event.identifiers.end();
        // The lower-priority end is the one that joined the other (the resolver links in priority
        // order): the event keeps the higher one and no longer carries the other with it.
        if (both) now.push_back(before_in_priority(removal.link_a, removal.link_b) ? removal.link_b : removal.link_a);
        break;
      }
      case SplitRemoval::Kind::kIdentifier:
        // Only where it links something: an event carrying it alone asserts it and nothing else.
        if (event.identifiers.size() > 1 &&
            std::find(event.identifiers.begin(), event.identifiers.end(), removal.identifier) !=
                event.identifiers.end()) {
          now.push_back(removal.identifier);
        }
        break;
      case SplitRemoval::Kind::kEvent:
        if (claim.message_id == removal.message_id) now = event.identifiers;
        break;
      case SplitRemoval::Kind::kSource:
        if (MatchesSource(removal, event.source_topic, event.source_partition)) now = event.identifiers;
        break;
    }
    if (now.empty()) continue;
    removal_found = true;
    std::sort(now.begin(), now.end());
    plan.detached[claim] = now;
    detached[claim].insert(now.begin(), now.end());
  }
  if (!removal_found && (removal.kind != SplitRemoval::Kind::kSource || !removal.within.empty())) {
    return absl::FailedPreconditionError(absl::StrCat("no event of profile ", root, " asserts the ", removal.Describe(),
                                                      " (tessera profile explain shows its events)"));
  }

  // The replay: every event in event-time order, its detached identifiers each on their own (they
  // are still asserted, but link nothing), the rest together.
  ScratchKv scratch;
  EpochClock clock;
  IdentityResolver replayer(&scratch, 1, &clock, rules);
  std::map<Claim, uint64_t> landed;  // event -> the scratch profile it resolved to
  for (const auto& [claim, event] : replay) {
    const std::set<std::string>& off = detached[claim];
    auto resolve = [&](const std::vector<std::string>& identifiers) -> absl::StatusOr<uint64_t> {
      v1::Event e;
      e.set_workspace(std::string(workspace));
      e.set_message_id(claim.message_id);
      e.set_timestamp_ms(claim.time_ms);
      e.mutable_source()->set_topic(event.source_topic);
      e.mutable_source()->set_partition(event.source_partition);
      e.mutable_source()->set_offset(event.source_offset);
      for (const std::string& text : identifiers) {
        ASSIGN_OR_RETURN(*e.add_identifiers(), ParseIdentifier(text));
      }
      ASSIGN_OR_RETURN(Resolution resolution, replayer.Resolve(e));
      return resolution.profile_id;
    };
    std::vector<std::string> together;
    std::vector<std::string> alone;
    for (const std::string& text : event.identifiers) (off.contains(text) ? alone : together).push_back(text);
    std::sort(alone.begin(), alone.end(), before_in_priority);
    if (!together.empty()) {
      ASSIGN_OR_RETURN(landed[claim], resolve(together));
    }
    for (const std::string& text : alone) {
      ASSIGN_OR_RETURN(uint64_t profile, resolve({text}));
      // An event with nothing left together goes where its first identifier by priority goes, as
      // the resolver sends an event to its anchor's profile.
      landed.try_emplace(claim, profile);
    }
  }

  // The parts: the identifiers grouped by the scratch profile they ended in. An identifier the
  // replay left unlinked (no evidence left, or refused by a rule) stays in the profile split.
  std::map<uint64_t, SplitPlan::Part> by_scratch_root;
  std::vector<ProfileIdentity::Held> unplaced;
  for (const ProfileIdentity::Held& h : held.identifiers) {
    ASSIGN_OR_RETURN(v1::Identifier id, ParseIdentifier(h.identifier));
    ASSIGN_OR_RETURN(std::optional<uint64_t> scratch_root, replayer.Lookup(workspace, id));
    if (!scratch_root.has_value()) {
      unplaced.push_back(h);
      continue;
    }
    SplitPlan::Part& part = by_scratch_root[*scratch_root];
    if (part.identifiers.empty() || h.claim < part.first) part.first = h.claim;
    part.identifiers.push_back(h);
  }
  auto by_identifier = [](const ProfileIdentity::Held& a, const ProfileIdentity::Held& b) {
    return a.identifier < b.identifier;
  };
  std::vector<std::pair<uint64_t, SplitPlan::Part>> ordered(by_scratch_root.begin(), by_scratch_root.end());
  for (auto& [scratch_root, part] : ordered) std::sort(part.identifiers.begin(), part.identifiers.end(), by_identifier);
  // The earliest claim keeps the id; on a tie (one event claimed both) the larger part, then the
  // smaller identifier, so the choice never depends on the scratch ids.
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    const SplitPlan::Part& x = a.second;
    const SplitPlan::Part& y = b.second;
    if (!(x.first == y.first)) return x.first < y.first;
    if (x.identifiers.size() != y.identifiers.size()) return x.identifiers.size() > y.identifiers.size();
    return x.identifiers.front().identifier < y.identifiers.front().identifier;
  });
  if (ordered.empty()) ordered.emplace_back(0, SplitPlan::Part{});
  absl::flat_hash_map<uint64_t, size_t> part_of_scratch;
  for (size_t i = 0; i < ordered.size(); ++i) {
    part_of_scratch[ordered[i].first] = i;
    plan.parts.push_back(std::move(ordered[i].second));
  }
  plan.parts.front().id = root;
  for (ProfileIdentity::Held& h : unplaced) {
    if (plan.parts.front().identifiers.empty() || h.claim < plan.parts.front().first) plan.parts.front().first = h.claim;
    plan.parts.front().identifiers.push_back(std::move(h));
  }
  std::sort(plan.parts.front().identifiers.begin(), plan.parts.front().identifiers.end(), by_identifier);
  for (const auto& [claim, scratch_profile] : landed) {
    if (!replay[claim].from_store) continue;  // evidence only: there is no stored event to move
    ASSIGN_OR_RETURN(uint64_t scratch_root, replayer.Root(scratch_profile));
    auto it = part_of_scratch.find(scratch_root);
    plan.event_part[claim] = it == part_of_scratch.end() ? 0 : it->second;
  }
  return plan;
}

}  // namespace

std::string SplitRemoval::Describe() const {
  switch (kind) {
    case Kind::kLink: return absl::StrCat("link ", link_a, "--", link_b);
    case Kind::kIdentifier: return absl::StrCat("identifier ", identifier);
    case Kind::kEvent: return absl::StrCat("event ", message_id);
    case Kind::kSource:
      return source_partition.has_value() ? absl::StrCat("source ", source_topic, ":", *source_partition)
                                          : absl::StrCat("source ", source_topic);
  }
  return "";
}

absl::StatusOr<SplitRemoval> ParseLinkRemoval(std::string_view text) {
  const size_t dashes = text.find("--");
  if (dashes == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--link needs TYPE:VALUE--TYPE:VALUE, got '", AbslView(text), "'"));
  }
  SplitRemoval removal;
  removal.kind = SplitRemoval::Kind::kLink;
  ASSIGN_OR_RETURN(v1::Identifier a, ParseIdentifier(text.substr(0, dashes)));
  ASSIGN_OR_RETURN(v1::Identifier b, ParseIdentifier(text.substr(dashes + 2)));
  removal.link_a = FormatIdentifier(a);
  removal.link_b = FormatIdentifier(b);
  if (removal.link_a == removal.link_b) return absl::InvalidArgumentError("--link needs two different identifiers");
  return removal;
}

absl::StatusOr<SplitRemoval> ParseIdentifierRemoval(std::string_view text) {
  SplitRemoval removal;
  removal.kind = SplitRemoval::Kind::kIdentifier;
  ASSIGN_OR_RETURN(v1::Identifier id, ParseIdentifier(text));
  removal.identifier = FormatIdentifier(id);
  return removal;
}

SplitRemoval EventRemoval(std::string_view message_id) {
  SplitRemoval removal;
  removal.kind = SplitRemoval::Kind::kEvent;
  removal.message_id = std::string(message_id);
  return removal;
}

absl::StatusOr<SplitRemoval> ParseSourceRemoval(std::string_view text) {
  SplitRemoval removal;
  removal.kind = SplitRemoval::Kind::kSource;
  const size_t colon = text.rfind(':');
  int32_t partition = 0;
  if (colon != std::string_view::npos && absl::SimpleAtoi(AbslView(text.substr(colon + 1)), &partition) &&
      partition >= 0) {
    removal.source_topic = std::string(text.substr(0, colon));
    removal.source_partition = partition;
  } else {
    removal.source_topic = std::string(text);
  }
  if (removal.source_topic.empty()) return absl::InvalidArgumentError("--source needs TOPIC[:PARTITION]");
  return removal;
}

size_t SplitPlan::PartOf(const Claim& event) const {
  auto it = event_part.find(event);
  return it == event_part.end() ? 0 : it->second;
}

absl::StatusOr<std::vector<SplitPlan>> PlanSplit(KeyValueView& kv, const PrefixScan& scan, std::string_view workspace,
                                                 const SplitRemoval& removal, const RulesByWorkspace& rules,
                                                 const ProfileEventsFn& events_of) {
  ASSIGN_OR_RETURN(std::set<uint64_t> roots, AffectedRoots(kv, scan, workspace, removal));
  std::vector<SplitPlan> plans;
  for (uint64_t root : roots) {
    ASSIGN_OR_RETURN(SplitPlan plan, PlanOne(kv, scan, workspace, root, removal, rules, events_of));
    plans.push_back(std::move(plan));
  }
  return plans;
}

absl::StatusOr<SplitRecord> StageSplit(KeyValueView& kv, SplitPlan& plan, const SplitAudit& audit) {
  SplitRecord record;
  record.workspace = plan.workspace;
  record.profile_id = plan.profile_id;
  record.removed = audit.reason;
  record.by = audit.by;
  record.at_ms = audit.at_ms;
  if (!plan.Splits()) return record;

  // New ids come from the sequence of the writer that allocated the profile: the same partition.
  const uint64_t prefix = plan.profile_id >> kPrefixShift;
  const std::string sequence_key = absl::StrCat("sq/", BigEndian64(prefix));
  ASSIGN_OR_RETURN(std::optional<std::string> next_bytes, kv.Get(sequence_key));
  if (next_bytes.has_value() && next_bytes->size() != 8) return absl::DataLossError("corrupt id sequence");
  uint64_t next = next_bytes.has_value() ? ReadBigEndian64(*next_bytes) : 1;
  for (size_t i = 1; i < plan.parts.size(); ++i) {
    if (next >= (uint64_t{1} << kPrefixShift)) {
      return absl::ResourceExhaustedError(absl::StrCat("profile ids of prefix ", prefix, " are exhausted"));
    }
    plan.parts[i].id = (prefix << kPrefixShift) | next++;
  }
  kv.Put(sequence_key, BigEndian64(next));

  for (size_t i = 0; i < plan.parts.size(); ++i) {
    const SplitPlan::Part& part = plan.parts[i];
    ProfileIdentity identity;
    identity.identifiers = part.identifiers;
    identity.merges = i == 0 ? plan.merges : 0;
    kv.Put(ProfileIdentityKey(part.id), EncodeProfileIdentity(identity));
    std::vector<std::string>& listed = record.identifiers[part.id];
    for (const ProfileIdentity::Held& h : part.identifiers) {
      listed.push_back(h.identifier);
      if (i > 0) kv.Put(IndexKey(plan.workspace, h.identifier), BigEndian64(part.id));
    }
    if (i > 0) record.new_ids.push_back(part.id);
  }

  for (const auto& [claim, identifiers] : plan.detached) {
    std::set<std::string> all(identifiers.begin(), identifiers.end());
    if (auto before = plan.detached_before.find(claim); before != plan.detached_before.end()) {
      all.insert(before->second.begin(), before->second.end());
    }
    kv.Put(LinkTombstoneKey(plan.workspace, claim), EncodeStringArray({all.begin(), all.end()}));
    record.removed_events.push_back(claim.message_id);
  }
  // The whole record once, under the profile split (keyed by its smallest new id, unique to this
  // split); under each new id only its own part, so a mega-profile split into thousands writes
  // each part once, not the whole record once per part.
  kv.Put(SplitKey(plan.profile_id, record.new_ids.front()), SplitRecordToJson(record));
  std::map<uint64_t, std::vector<std::string>> removed_by_part;
  for (const auto& [claim, identifiers] : plan.detached) {
    removed_by_part[plan.parts[plan.PartOf(claim)].id].push_back(claim.message_id);
  }
  for (uint64_t id : record.new_ids) {
    SplitRecord part = record;
    part.new_ids = {id};
    part.identifiers = {{id, record.identifiers[id]}};
    part.removed_events = removed_by_part[id];
    kv.Put(SplitKey(id, plan.profile_id), SplitRecordToJson(part));
  }
  return record;
}

absl::StatusOr<std::vector<SplitRecord>> ReadSplits(const PrefixScan& scan, uint64_t profile_id) {
  std::map<std::pair<int64_t, uint64_t>, SplitRecord> by_time;  // one record per split, however stored
  absl::Status failed = absl::OkStatus();
  RETURN_IF_ERROR(scan(SplitKeyPrefix(profile_id), [&](std::string_view, std::string_view value) {
    absl::StatusOr<SplitRecord> record = DecodeSplitRecord(value);
    if (!record.ok()) {
      failed = record.status();
      return false;
    }
    const std::pair<int64_t, uint64_t> key{record->at_ms, record->profile_id};
    by_time.emplace(key, *std::move(record));
    return true;
  }));
  RETURN_IF_ERROR(failed);
  std::vector<SplitRecord> out;
  for (auto& [key, record] : by_time) out.push_back(std::move(record));
  return out;
}

absl::StatusOr<std::vector<std::string>> ApplyLinkTombstone(KeyValueView& kv, LinkRecord& link) {
  ASSIGN_OR_RETURN(std::optional<std::vector<std::string>> tombstone,
                   ReadTombstone(kv, link.workspace, Claim{link.event_time_ms, link.message_id}));
  if (!tombstone.has_value()) return std::vector<std::string>{};
  if (tombstone->empty()) return std::exchange(link.identifiers, {});
  std::vector<std::string> removed;
  std::erase_if(link.identifiers, [&](const std::string& id) {
    if (std::find(tombstone->begin(), tombstone->end(), id) == tombstone->end()) return false;
    removed.push_back(id);
    return true;
  });
  return removed;
}

std::string LinkTombstoneKey(std::string_view workspace, const Claim& event) {
  // The link log's key with "lx/" for "lk/": the tombstone sits beside the entry it voids.
  std::string key = LinkKey(workspace, event);
  key.replace(0, 3, "lx/");
  return key;
}

std::string SplitKeyPrefix(uint64_t profile_id) { return absl::StrCat("sp/", BigEndian64(profile_id)); }

std::string SplitRecordToJson(const SplitRecord& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("workspace").String(r.workspace);
  w.Key("profile_id").String(std::to_string(r.profile_id));
  w.Key("new_ids").BeginArray();
  for (uint64_t id : r.new_ids) w.String(std::to_string(id));
  w.EndArray();
  w.Key("identifiers").BeginObject();
  for (const auto& [id, identifiers] : r.identifiers) {
    w.Key(std::to_string(id)).BeginArray();
    for (const std::string& text : identifiers) w.String(text);
    w.EndArray();
  }
  w.EndObject();
  w.Key("removed").String(r.removed);
  w.Key("removed_events").BeginArray();
  for (const std::string& id : r.removed_events) w.String(id);
  w.EndArray();
  w.Key("by").String(r.by);
  w.Key("at_ms").Int(r.at_ms);
  w.EndObject();
  return std::move(w).Take();
}

std::string SplitRecordToText(const SplitRecord& r) {
  constexpr size_t kShown = 10;  // a mega-profile may split into thousands: the JSON has them all
  std::vector<std::string> events(r.removed_events.begin(),
                                  r.removed_events.begin() + std::min(r.removed_events.size(), kShown));
  if (r.removed_events.size() > kShown) events.push_back(absl::StrCat("and ", r.removed_events.size() - kShown, " more"));
  std::string out = absl::StrCat("  ", Time(r.at_ms), "  profile ", r.profile_id, " split by ",
                                 r.by.empty() ? "an unnamed operator" : r.by, ": removed ", r.removed, " (event(s) ",
                                 absl::StrJoin(events, ", "), ")\n");
  size_t shown = 0;
  for (const auto& [id, identifiers] : r.identifiers) {
    if (id != r.profile_id && ++shown > kShown) continue;
    absl::StrAppend(&out, "      ", id == r.profile_id ? "kept by " : "new profile ", id, ": ",
                    absl::StrJoin(identifiers, ", "), "\n");
  }
  if (shown > kShown) absl::StrAppend(&out, "      and ", shown - kShown, " more new profiles\n");
  return out;
}

std::string SplitPlanToText(const SplitPlan& plan) {
  std::vector<size_t> events_per_part(plan.parts.size(), 0);
  for (const auto& [claim, part] : plan.event_part) ++events_per_part[part];
  std::string out;
  if (!plan.Splits()) {
    absl::StrAppend(&out, "Profile ", plan.profile_id, " stays whole: other events still link its identifiers.\n");
  } else {
    absl::StrAppend(&out, "Profile ", plan.profile_id, " splits into ", plan.parts.size(), " profiles:\n");
  }
  for (size_t i = 0; i < plan.parts.size(); ++i) {
    const SplitPlan::Part& part = plan.parts[i];
    std::vector<std::string> identifiers;
    for (const ProfileIdentity::Held& h : part.identifiers) identifiers.push_back(h.identifier);
    absl::StrAppend(&out, "  ", i == 0 ? absl::StrCat("keeps ", plan.profile_id)
                                       : (part.id != 0 ? absl::StrCat("new ", part.id) : std::string("new profile")),
                    ": ", events_per_part[i], " event(s); ", absl::StrJoin(identifiers, ", "), "\n");
  }
  for (const auto& [claim, identifiers] : plan.detached) {
    absl::StrAppend(&out, "  removed from event ", claim.message_id, " (", Time(claim.time_ms),
                    "): ", absl::StrJoin(identifiers, ", "), "\n");
  }
  absl::StrAppend(&out, "  replayed ", plan.events_from_store, " stored event(s) and ", plan.events_from_link_log,
                  " link-log entr", plan.events_from_link_log == 1 ? "y" : "ies", " without a stored event\n");
  return out;
}

std::string SplitPlanToJson(const SplitPlan& plan) {
  std::vector<size_t> events_per_part(plan.parts.size(), 0);
  for (const auto& [claim, part] : plan.event_part) ++events_per_part[part];
  JsonWriter w;
  w.BeginObject();
  w.Key("profile_id").String(std::to_string(plan.profile_id));
  w.Key("splits").Bool(plan.Splits());
  w.Key("parts").BeginArray();
  for (size_t i = 0; i < plan.parts.size(); ++i) {
    w.BeginObject();
    w.Key("id");
    if (plan.parts[i].id != 0) {
      w.String(std::to_string(plan.parts[i].id));
    } else {
      w.Null();  // a dry run allocates nothing
    }
    w.Key("events").Int(static_cast<int64_t>(events_per_part[i]));
    w.Key("identifiers").BeginArray();
    for (const ProfileIdentity::Held& h : plan.parts[i].identifiers) w.String(h.identifier);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("removed").BeginArray();
  for (const auto& [claim, identifiers] : plan.detached) {
    w.BeginObject().Key("message_id").String(claim.message_id).Key("event_time_ms").Int(claim.time_ms);
    w.Key("identifiers").BeginArray();
    for (const std::string& text : identifiers) w.String(text);
    w.EndArray().EndObject();
  }
  w.EndArray();
  w.Key("events_from_store").Int(plan.events_from_store);
  w.Key("events_from_link_log").Int(plan.events_from_link_log);
  w.EndObject();
  return std::move(w).Take();
}

}  // namespace tessera::identity
