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
  // Source name (or "*" for every other source) -> the region its phone numbers without a country
  // code are read in (ISO 3166 alpha-2). Sources without one use IngestOptions::default_phone_region.
  std::map<std::string, std::string, std::less<>> phone_regions;

  // The phone region of `source`, or `fallback`.
  std::string_view PhoneRegionFor(std::string_view source, std::string_view fallback) const {
    if (phone_regions.empty()) return fallback;
    auto it = phone_regions.find(source);
    if (it == phone_regions.end()) it = phone_regions.find("*");
    return it == phone_regions.end() ? fallback : std::string_view(it->second);
  }
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
