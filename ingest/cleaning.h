// What ingest's cleaning steps are configured with, per workspace: the identifier blocklist and the
// tracking plans by source. Built from the `ingest:` section of the YAML config
// (ingest/ingest_config.h) or left at the defaults.
//
// A CleaningConfig is immutable once built; share it between threads (IngestOptions holds a
// shared_ptr).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "identity/identity_rules.h"
#include "ingest/tracking_plan.h"

namespace tessera::ingest {

struct WorkspaceCleaning {
  // Compiled blocklist (ingest/blocklist.h); nullptr: IngestBlocklistDefaults().
  std::shared_ptr<const identity::CompiledRules> blocklist;
  // Source name -> its plan. Sources without one accept everything.
  std::map<std::string, TrackingPlan, std::less<>> tracking_plans;
};

struct CleaningConfig {
  WorkspaceCleaning defaults;
  std::map<std::string, WorkspaceCleaning, std::less<>> workspaces;

  const WorkspaceCleaning& For(std::string_view workspace) const {
    auto it = workspaces.find(workspace);
    return it == workspaces.end() ? defaults : it->second;
  }
};

}  // namespace tessera::ingest
