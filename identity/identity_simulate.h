// Dry run of new merge rules: `tessera identity simulate --rules NEW.yaml`. Replays a workspace's
// link log ("lk/", identity_resolver.h) in event-time order through a fresh IdentityResolver under
// the new rules, over a private in-memory store, and compares the resulting partition of
// identifiers with the current one. Nothing is written to the store read.
//
// What a replay can and cannot see: the link log holds every event that changed the graph or had a
// link refused, so links the current rules refused are replayed (and may link under looser rules).
// Events whose identifiers were all linked to one profile already are not in the log; a stricter
// rule that would refuse the logged link can therefore not fall back on such a repeat (the split
// it reports is an upper bound). Arrival-order effects vanish: the replay is in event-time order.
//
// Thread-safety: reads `current` and `scan` from the calling thread only; the report is a value.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kv.h"
#include "identity/identity_explain.h"
#include "identity/identity_records.h"
#include "identity/identity_rules.h"

namespace tessera::identity {

struct SimulationReport {
  int64_t replayed_events = 0;     // link-log entries replayed
  int64_t identifiers = 0;         // distinct identifiers in the log, compared
  int64_t profiles_now = 0;        // profiles they form now (an unlinked identifier is one of its own)
  int64_t profiles_simulated = 0;  // profiles they would form under the new rules
  int64_t unchanged = 0;           // profiles that would keep exactly their identifiers
  int64_t would_merge = 0;         // simulated profiles that join identifiers of two or more current ones
  int64_t would_split = 0;         // current profiles whose identifiers would end in two or more
  int64_t would_change = 0;        // current profiles that would not keep exactly their identifiers
  std::map<std::string, int64_t> violations_by_rule;  // what the new rules would refuse or undo
  // Up to `max_examples` current profiles that would change, each as "identifier: what happens".
  std::vector<std::string> examples;
};

// Applied to each link-log entry before it is replayed: may remove identifiers from the entry (the
// tombstones `tessera profile split` writes: identity::ApplyLinkTombstone, identity_split.h) and
// returns those removed; each of them is then asserted alone, so it exists without linking anything.
using LinkLogFilter = std::function<absl::StatusOr<std::vector<std::string>>(LinkRecord& link)>;

// InvalidArgument when the workspace has no link log; errors of the store as they come. Without a
// filter every logged link is replayed, also one a split removed.
absl::StatusOr<SimulationReport> SimulateRules(KeyValueView& current, const PrefixScan& scan, std::string_view workspace,
                                               const RulesByWorkspace& new_rules, size_t max_examples = 10,
                                               const LinkLogFilter& filter = {});

// The report as one JSON object, and as a few readable lines.
std::string SimulationToJson(const SimulationReport& report);
std::string SimulationToText(const SimulationReport& report);

}  // namespace tessera::identity
