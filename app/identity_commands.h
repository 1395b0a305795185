// `tessera identity violations`: the links the merge rules refused or undid; `tessera identity
// simulate --rules NEW.yaml`: what new merge rules would change (identity/identity_simulate.h);
// `tessera profile explain TYPE:VALUE`: why a profile's identifiers are one customer
// (identity/identity_explain.h). All read the store read-only (a RocksDB secondary instance, so
// they work while `tessera run` holds the store). main.cc only dispatches here.
//
// `tessera profile split` (identity/identity_split.h) is the one that writes: it opens the store as
// the primary, so it runs while `tessera run` is stopped (RocksDB's lock refuses it otherwise),
// commits the whole split in one WriteBatch and then publishes the profile updates (--brokers).
// `--dry-run` only reads, through a secondary instance like the others. SplitProfiles is its logic
// over any store, for the command and the tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "app/profile_batch.h"
#include "common/kv.h"
#include "identity/identity_explain.h"
#include "identity/identity_rules.h"
#include "identity/identity_split.h"
#include "profiles/computed_traits.h"
#include "profiles/event_store.h"
#include "profiles/triggers.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::app {

struct SplitOptions {
  std::string workspace = "default";
  identity::SplitRemoval removal;
  identity::RulesByWorkspace rules;  // the workspace's merge rules (--config), defaults otherwise
  std::shared_ptr<const profiles::ComputedTraitsConfig> computed_traits =
      std::make_shared<const profiles::ComputedTraitsConfig>();
  // Segments and triggers (null: none). With an engine the rebuilt profiles' event windows are
  // counted again from their events and both profiles are evaluated, so the split's segment
  // changes (the kept profile's exits, the new profile's enters) come out with it.
  std::shared_ptr<const profiles::ActivationEngine> activation;
  identity::SplitAudit audit;  // who and when; `reason` is filled from the removal
  bool dry_run = false;        // plan only: nothing is staged
};

struct SplitOutcome {
  std::vector<identity::SplitPlan> plans;        // one per profile touched (some may not split)
  std::vector<identity::SplitRecord> records;    // the splits staged
  ProfileUpdates updates;                         // to publish: the profiles split and the new ones
  profiles::ActivationOutputs activation;        // segment changes and triggers, with an engine
};

// Plans the removal over `kv` (identity records and profiles) with `reader` and `scan` over the
// same committed state (the event store, the link log), then, unless a dry run, stages into `kv`
// the identity side (StageSplit), the moved events and both rebuilt profiles with new versions.
// All reads happen before the first write. FailedPrecondition, before anything is staged, when a
// profile's event store holds fewer events than the profile counted (retention, or a store older
// than the event store): the rebuild would lose what is not stored.
absl::StatusOr<SplitOutcome> SplitProfiles(KeyValueView& kv, const profiles::KeyRangeReader& reader,
                                           const identity::PrefixScan& scan, const SplitOptions& options);

// args start after "profile": {"split", "--link", "A--B", ...}. Returns the exit code.
int ProfileSplitCommand(const std::vector<std::string>& args);

// args start after "identity": {"violations", "--data-dir", DIR, ...} or {"simulate", "--rules",
// FILE, ...}. Returns the exit code.
int IdentityCommand(const std::vector<std::string>& args);

// args start after "profile": {"explain", "TYPE:VALUE", "--json", ...}. Returns the exit code.
int ProfileExplainCommand(const std::vector<std::string>& args);

}  // namespace tessera::app
