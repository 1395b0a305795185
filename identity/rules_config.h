// Merge rules from a YAML configuration file (`tessera ... --config FILE`). The only code that
// touches yaml-cpp; its exceptions stop here and come back as a Status.
//
//   identity:
//     value_limits: {user_id: 1, email: 5, phone: 5}     # a number, or "unlimited"
//     shared_device: {enabled: true, max_user_ids: 3}
//     use_default_blocklist: true                        # false: start from an empty blocklist
//     blocked_values: {"*": ["n/a"], email: ["info@baankafe.co.th"]}   # added to the inherited ones
//     blocked_patterns: {email: ['.*@mailinator\.com']}                  # ECMAScript, whole value
//     max_identifiers_per_profile: 500                   # 0: no cap
//     max_merges_per_profile: 100
//     priority: [user_id, email, phone, loyalty_id, "*", anonymous_id]
//     weak_types: [phone]                                # recyclable: never alone join two customers ([]: off)
//     weak_quiet_days: 7                                 # gap that makes a number look passed on
//     fingerprint_index: {max_entries: 2097152}          # per table, per store (0: off); top level only
//     workspaces:
//       shop-b:                                          # starts from the rules above
//         value_limits: {email: 10}
//
// A file without an `identity:` key gives the defaults. Unknown keys are an error, so a typo is
// never silently ignored. Plain functions; safe from any thread.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "identity/identity_rules.h"

namespace tessera::identity {

struct RulesConfig {
  IdentityRules defaults = IdentityRules::Defaults();
  std::map<std::string, IdentityRules> workspaces;
  size_t fingerprint_index_entries = kDefaultFingerprintIndexEntries;
};

// InvalidArgument for YAML that does not parse or does not describe rules (with the key path).
absl::StatusOr<RulesConfig> ParseRulesConfig(std::string_view yaml);
// NotFound when the file cannot be read; otherwise as ParseRulesConfig.
absl::StatusOr<RulesConfig> LoadRulesConfig(const std::string& path);
// Compiles every workspace's rules (InvalidArgument for a bad regex).
absl::StatusOr<RulesByWorkspace> CompileRulesConfig(const RulesConfig& config);

}  // namespace tessera::identity
