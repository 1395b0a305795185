#include "identity/identity_simulate.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/clock.h"
#include "common/identifier.h"
#include "common/json_writer.h"
#include "common/status_macros.h"
#include "identity/identity_records.h"
#include "identity/identity_resolver.h"
#include "identity/scratch_kv.h"

namespace tessera::identity {
namespace {

// A profile key for comparing partitions: the root id, or the identifier itself when unlinked.
std::string ProfileKey(const std::optional<uint64_t>& root, const std::string& identifier) {
  return root.has_value() ? absl::StrCat("p", *root) : absl::StrCat("i", identifier);
}

}  // namespace

absl::StatusOr<SimulationReport> SimulateRules(KeyValueView& current, const PrefixScan& scan, std::string_view workspace,
                                               const RulesByWorkspace& new_rules, size_t max_examples,
                                               const LinkLogFilter& filter) {
  SimulationReport report;
  ScratchKv scratch;
  EpochClock clock;  // a replayed violation is detected "at" the epoch: the report ignores it
  IdentityResolver replay(&scratch, 1, &clock, new_rules);
  std::set<std::string> identifiers;
  RETURN_IF_ERROR(ForEachLinkRecord(scan, workspace, [&](LinkRecord& link) -> absl::Status {
    std::vector<std::string> detached;
    if (filter) {
      ASSIGN_OR_RETURN(detached, filter(link));
    }
    // The entry's remaining identifiers together, then each detached one alone.
    std::vector<std::vector<std::string>> assertions;
    if (!link.identifiers.empty()) assertions.push_back(link.identifiers);
    for (std::string& alone : detached) assertions.push_back({std::move(alone)});
    for (const std::vector<std::string>& asserted : assertions) {
      v1::Event event;
      event.set_workspace(link.workspace);
      event.set_message_id(link.message_id);
      event.set_timestamp_ms(link.event_time_ms);
      event.mutable_source()->set_topic(link.source_topic);
      event.mutable_source()->set_partition(link.source_partition);
      event.mutable_source()->set_offset(link.source_offset);
      for (const std::string& text : asserted) {
        absl::StatusOr<v1::Identifier> id = ParseIdentifier(text);
        if (!id.ok()) {
          return absl::DataLossError(absl::StrCat("link log entry ", link.message_id, ": ", id.status().message()));
        }
        *event.add_identifiers() = *std::move(id);
        identifiers.insert(text);
      }
      ASSIGN_OR_RETURN(Resolution resolved, replay.Resolve(event));
      for (const IdentityViolation& v : resolved.violations) ++report.violations_by_rule[v.rule];
    }
    ++report.replayed_events;
    return absl::OkStatus();
  }));
  if (report.replayed_events == 0) {
    return absl::InvalidArgumentError(absl::StrCat("workspace ", AbslView(workspace), " has no link log to replay"));
  }

  // Compare the partitions: current profile -> simulated ones, and back.
  absl::flat_hash_map<std::string, std::set<std::string>> now_to_sim;
  absl::flat_hash_map<std::string, std::set<std::string>> sim_to_now;
  absl::flat_hash_map<std::string, std::string> example_identifier;  // a current profile -> one identifier
  for (const std::string& text : identifiers) {
    const v1::Identifier id = ParseIdentifier(text).value();  // parsed above already
    ASSIGN_OR_RETURN(std::optional<uint64_t> now_root, LookupIdentifier(current, workspace, id));
    ASSIGN_OR_RETURN(std::optional<uint64_t> sim_root, replay.Lookup(workspace, id));
    const std::string now = ProfileKey(now_root, text);
    const std::string sim = ProfileKey(sim_root, text);
    now_to_sim[now].insert(sim);
    sim_to_now[sim].insert(now);
    example_identifier.try_emplace(now, text);
  }
  report.identifiers = static_cast<int64_t>(identifiers.size());
  report.profiles_now = static_cast<int64_t>(now_to_sim.size());
  report.profiles_simulated = static_cast<int64_t>(sim_to_now.size());
  for (const auto& [sim, nows] : sim_to_now) {
    if (nows.size() > 1) ++report.would_merge;
  }
  std::vector<std::pair<std::string, std::string>> changed;  // identifier, what happens
  for (const auto& [now, sims] : now_to_sim) {
    const bool split = sims.size() > 1;
    const bool joined = !split && sim_to_now[*sims.begin()].size() > 1;
    if (split) ++report.would_split;
    if (!split && !joined) {
      ++report.unchanged;
      continue;
    }
    ++report.would_change;
    size_t with_others = 0;
    for (const std::string& sim : sims) with_others += sim_to_now[sim].size() - 1;
    changed.emplace_back(example_identifier[now],
                         absl::StrCat(split ? absl::StrCat("splits into ", sims.size(), " profiles") : "stays whole",
                                      with_others > 0 ? absl::StrCat(", joined with ", with_others, " other profile(s)") : ""));
  }
  std::sort(changed.begin(), changed.end());
  for (size_t i = 0; i < changed.size() && i < max_examples; ++i) {
    report.examples.push_back(absl::StrCat(changed[i].first, ": ", changed[i].second));
  }
  return report;
}

std::string SimulationToJson(const SimulationReport& r) {
  JsonWriter w;
  w.BeginObject();
  w.Key("replayed_events").Int(r.replayed_events);
  w.Key("identifiers").Int(r.identifiers);
  w.Key("profiles_now").Int(r.profiles_now);
  w.Key("profiles_simulated").Int(r.profiles_simulated);
  w.Key("unchanged").Int(r.unchanged);
  w.Key("would_merge").Int(r.would_merge);
  w.Key("would_split").Int(r.would_split);
  w.Key("would_change").Int(r.would_change);
  w.Key("violations_by_rule").BeginObject();
  for (const auto& [rule, n] : r.violations_by_rule) w.Key(rule).Int(n);
  w.EndObject();
  w.Key("examples").BeginArray();
  for (const std::string& e : r.examples) w.String(e);
  w.EndArray();
  w.EndObject();
  return std::move(w).Take();
}

std::string SimulationToText(const SimulationReport& r) {
  std::string out = absl::StrCat("Replayed ", r.replayed_events, " link-log events (", r.identifiers, " identifiers).\n",
                                 "Profiles now: ", r.profiles_now, "; under the new rules: ", r.profiles_simulated, "\n",
                                 "  unchanged:    ", r.unchanged, "\n",
                                 "  would change: ", r.would_change, "  (", r.would_split, " would split; ",
                                 r.would_merge, " new profiles would join two or more of today's)\n");
  if (!r.violations_by_rule.empty()) {
    absl::StrAppend(&out, "The new rules would refuse or undo:\n");
    for (const auto& [rule, n] : r.violations_by_rule) absl::StrAppend(&out, "  ", rule, ": ", n, "\n");
  }
  if (!r.examples.empty()) {
    absl::StrAppend(&out, "Examples of profiles that would change:\n");
    for (const std::string& e : r.examples) absl::StrAppend(&out, "  ", e, "\n");
  }
  return out;
}

}  // namespace tessera::identity
