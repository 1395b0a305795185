// Merge rules of identity resolution, per workspace: what an identifier may link, and what a
// profile may hold. Defaults follow Segment's: a profile holds at most one user_id ever, at most 5
// emails and 5 phones, any number of anonymous ids; an anonymous id seen with more than 3 distinct
// user_ids is a shared device and stops linking; junk values never link. docs/identity.md has the
// semantics of every rule and what each decision depends on.
//
// IdentityRules is a plain value. CompiledRules is built once from it (regexes compiled) and is
// immutable afterwards: safe to share between threads for reading.
//
//   IdentityRules rules = IdentityRules::Defaults();
//   rules.value_limits["email"] = 10;
//   RulesByWorkspace by_workspace(rules);
//   by_workspace.Set("shop-b", IdentityRules::Unrestricted());
#pragma once

#include <map>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::identity {

// Rule names as recorded in violations (stable: tools and dashboards key on them).
inline constexpr std::string_view kRuleBlockedValue = "blocked_value";
inline constexpr std::string_view kRuleBlockedPattern = "blocked_pattern";
inline constexpr std::string_view kRuleValueLimit = "value_limit";        // refused: over a type's limit
inline constexpr std::string_view kRuleValueLimitDemoted = "value_limit_demoted";  // unlinked: a claim with an earlier time took its place
inline constexpr std::string_view kRuleUserIdConflict = "user_id_conflict";
inline constexpr std::string_view kRuleSharedDevice = "shared_device";
inline constexpr std::string_view kRuleDeviceReassigned = "device_reassigned";
inline constexpr std::string_view kRuleMaxIdentifiers = "max_identifiers";
inline constexpr std::string_view kRuleMaxMerges = "max_merges";
inline constexpr std::string_view kRuleWeakLink = "weak_link";  // refused: a weak identifier alone between two customers

struct IdentityRules {
  // Most distinct values of a type one profile may hold. A type not listed is unlimited. A type
  // whose limit is 1 (user_id) is an anchor: a second value is always refused, never swapped in.
  std::map<std::string, int> value_limits;
  // An anonymous_id seen together with more than `shared_device_max_user_ids` distinct user_ids
  // is a shared device: it links nothing from then on (and is taken out of the profile it was in).
  // Until then it belongs to the user_id seen with it first by event time.
  bool shared_device_rule = true;
  int shared_device_max_user_ids = 3;
  // Values that never link, compared case-insensitively with the normalized value. Key: an
  // identifier type, or "*" for every type.
  std::map<std::string, std::vector<std::string>> blocked_values;
  // ECMAScript regexes that must match the whole normalized value, ignoring case. Key as above.
  std::map<std::string, std::vector<std::string>> blocked_patterns;
  // Safety nets against mega-profiles; 0 = no cap.
  int max_identifiers_per_profile = 500;
  int max_merges_per_profile = 100;
  // Which identifier of an event wins when its identifiers cannot all be linked: earlier in the
  // list wins. "*" stands for every type not listed.
  std::vector<std::string> priority;
  // Types whose values pass from one person to another (phone numbers are recycled by carriers).
  // Defaults() makes phone weak (docs/identity.md, "Measured accuracy", says what it costs). A
  // weak identifier is never on its own enough to join identifiers of a type ranked before it in
  // `priority` (an email or user id, whether of an existing profile or brand-new on the event,
  // whose history then begins with it) to a profile holding such identifiers whose history ended
  // `weak_quiet_days` before: that link is refused as kRuleWeakLink. It still links identifiers of
  // lower rank.
  std::vector<std::string> weak_types;
  // How long the holder of a weak identifier must have been quiet (no new claim) before the other
  // customer's history began, for the merge to count as a passed-on number. 0: any gap. Carriers
  // quarantine a number for weeks before reassigning it, so a workspace may demand a longer gap
  // (fewer refusals of one customer's two profiles, more recycled numbers let through).
  int weak_quiet_days = 0;  // Defaults(): 7

  // The Segment-like defaults above, with the default blocklist.
  static IdentityRules Defaults();
  // No limits, no blocklist, no shared-device rule: the union-find of the spine (every identifier
  // of an event links). For tests and for measuring what the rules are worth.
  static IdentityRules Unrestricted();
  // Defaults without the shared-device rule and the blocklist (value limits, caps and the user_id
  // rule stay): `tessera-identity-accuracy --no-rules`.
  static IdentityRules WithoutJunkAndDeviceRules();
};

// IdentityRules ready to apply: regexes compiled, lookups by type.
class CompiledRules {
 public:
  static absl::StatusOr<std::shared_ptr<const CompiledRules>> Compile(const IdentityRules& rules);

  const IdentityRules& rules() const { return rules_; }
  // The rule that blocks `value` of `type` (kRuleBlockedValue / kRuleBlockedPattern), or empty.
  std::string_view Blocked(std::string_view type, std::string_view value) const;
  // 0 = unlimited.
  int ValueLimit(std::string_view type) const;
  // Lower ranks first.
  int Rank(std::string_view type) const;
  bool IsWeak(std::string_view type) const;

 private:
  IdentityRules rules_;
  std::map<std::string, std::vector<std::string>, std::less<>> blocked_lower_;  // sorted, lower-cased
  std::map<std::string, std::vector<std::regex>, std::less<>> patterns_;
};

// Entries per table of an identity store's fingerprint index (fingerprint_index.h) unless configured.
inline constexpr size_t kDefaultFingerprintIndexEntries = size_t{1} << 21;

// Rules per workspace: a default and overrides. Immutable once handed to a resolver. Also carries
// the one identity setting that is per store, not per workspace: the fingerprint index's size.
class RulesByWorkspace {
 public:
  // IdentityRules::Defaults() for every workspace.
  RulesByWorkspace();
  explicit RulesByWorkspace(std::shared_ptr<const CompiledRules> defaults);
  static absl::StatusOr<RulesByWorkspace> Make(const IdentityRules& defaults,
                                               const std::map<std::string, IdentityRules>& workspaces = {});

  const CompiledRules& For(std::string_view workspace) const;

  // Most entries per table of the fingerprint index in front of the store; 0 turns it off.
  size_t fingerprint_index_entries() const { return fingerprint_index_entries_; }
  void set_fingerprint_index_entries(size_t entries) { fingerprint_index_entries_ = entries; }

 private:
  std::shared_ptr<const CompiledRules> defaults_;
  std::map<std::string, std::shared_ptr<const CompiledRules>, std::less<>> workspaces_;
  size_t fingerprint_index_entries_ = kDefaultFingerprintIndexEntries;
};

}  // namespace tessera::identity
