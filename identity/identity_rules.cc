#include "identity/identity_rules.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace tessera::identity {
namespace {

std::string Lower(std::string_view text) { return absl::AsciiStrToLower(AbslView(text)); }

}  // namespace

IdentityRules IdentityRules::Defaults() {
  IdentityRules rules;
  rules.value_limits = {{"user_id", 1}, {"email", 5}, {"phone", 5}};
  // Values broken forms and trackers send when the real one is missing.
  rules.blocked_values["*"] = {"null", "undefined", "none", "nil", "nan", "anonymous", "unknown", "guest",
                               "0", "-1", "[object object]", "n/a", "na", "-", "true", "false", "{}", "[]"};
  rules.blocked_values["email"] = {"test@test.com", "test@example.com", "example@example.com", "email@example.com",
                                   "user@example.com", "a@a.com", "abc@abc.com", "none@none.com", "no@email.com",
                                   "noemail@noemail.com", "null@null.com", "asdf@asdf.com"};
  rules.blocked_patterns["email"] = {R"((no-?reply|do-?not-?reply)@.*)"};
  // E.164 numbers made of one repeated digit or a run like 123456789 after the country code.
  rules.blocked_patterns["phone"] = {R"(\+\d{1,3}(\d)\1{6,})", R"(\+\d{0,3}0*123456789\d?)"};
  rules.priority = {"user_id", "email", "phone", "loyalty_id", "*", "anonymous_id"};
  // Recycled numbers: a phone alone never joins two customers a quiet week apart (docs/identity.md).
  rules.weak_types = {"phone"};
  rules.weak_quiet_days = 7;
  return rules;
}

IdentityRules IdentityRules::Unrestricted() {
  IdentityRules rules;
  rules.shared_device_rule = false;
  rules.max_identifiers_per_profile = 0;
  rules.max_merges_per_profile = 0;
  rules.priority = {"user_id", "email", "phone", "loyalty_id", "*", "anonymous_id"};
  return rules;
}

IdentityRules IdentityRules::WithoutJunkAndDeviceRules() {
  IdentityRules rules = Defaults();
  rules.shared_device_rule = false;
  rules.blocked_values.clear();
  rules.blocked_patterns.clear();
  return rules;
}

absl::StatusOr<std::shared_ptr<const CompiledRules>> CompiledRules::Compile(const IdentityRules& rules) {
  auto compiled = std::make_shared<CompiledRules>();
  compiled->rules_ = rules;
  for (const auto& [type, values] : rules.blocked_values) {
    std::vector<std::string>& lower = compiled->blocked_lower_[type];
    for (const std::string& value : values) lower.push_back(Lower(value));
    std::sort(lower.begin(), lower.end());
  }
  for (const auto& [type, patterns] : rules.blocked_patterns) {
    for (const std::string& pattern : patterns) {
      try {
        compiled->patterns_[type].emplace_back(pattern, std::regex::ECMAScript | std::regex::icase | std::regex::optimize);
      } catch (const std::regex_error& e) {
        return absl::InvalidArgumentError(
            absl::StrCat("blocked pattern '", pattern, "' for ", type, " is not a valid regex: ", e.what()));
      }
    }
  }
  for (const auto& [type, limit] : rules.value_limits) {
    if (limit < 0) return absl::InvalidArgumentError(absl::StrCat("value limit of ", type, " is negative"));
  }
  if (rules.shared_device_rule && rules.shared_device_max_user_ids < 1) {
    return absl::InvalidArgumentError("shared_device max_user_ids must be at least 1");
  }
  if (rules.max_identifiers_per_profile < 0 || rules.max_merges_per_profile < 0) {
    return absl::InvalidArgumentError("profile caps must not be negative");
  }
  return std::shared_ptr<const CompiledRules>(std::move(compiled));
}

std::string_view CompiledRules::Blocked(std::string_view type, std::string_view value) const {
  if (blocked_lower_.empty() && patterns_.empty()) return {};
  const std::string lower = Lower(value);
  for (std::string_view key : {type, std::string_view("*")}) {
    if (auto it = blocked_lower_.find(key); it != blocked_lower_.end()) {
      if (std::binary_search(it->second.begin(), it->second.end(), lower)) return kRuleBlockedValue;
    }
  }
  for (std::string_view key : {type, std::string_view("*")}) {
    if (auto it = patterns_.find(key); it != patterns_.end()) {
      const std::string text(value);
      for (const std::regex& pattern : it->second) {
        if (std::regex_match(text, pattern)) return kRuleBlockedPattern;
      }
    }
  }
  return {};
}

int CompiledRules::ValueLimit(std::string_view type) const {
  for (const auto& [name, limit] : rules_.value_limits) {
    if (name == type) return limit;
  }
  return 0;
}

int CompiledRules::Rank(std::string_view type) const {
  int other = static_cast<int>(rules_.priority.size());
  for (size_t i = 0; i < rules_.priority.size(); ++i) {
    if (rules_.priority[i] == type) return static_cast<int>(i);
    if (rules_.priority[i] == "*") other = static_cast<int>(i);
  }
  return other;
}

bool CompiledRules::IsWeak(std::string_view type) const {
  return std::find(rules_.weak_types.begin(), rules_.weak_types.end(), type) != rules_.weak_types.end();
}

RulesByWorkspace::RulesByWorkspace() {
  // Compiled once per process (the distributed worker builds a resolver per event). The defaults
  // are constants of this file: failing to compile them is a bug, not input.
  static const auto* const kDefaults =
      new std::shared_ptr<const CompiledRules>(CompiledRules::Compile(IdentityRules::Defaults()).value());
  defaults_ = *kDefaults;
}

RulesByWorkspace::RulesByWorkspace(std::shared_ptr<const CompiledRules> defaults) : defaults_(std::move(defaults)) {}

absl::StatusOr<RulesByWorkspace> RulesByWorkspace::Make(const IdentityRules& defaults,
                                                        const std::map<std::string, IdentityRules>& workspaces) {
  absl::StatusOr<std::shared_ptr<const CompiledRules>> compiled = CompiledRules::Compile(defaults);
  if (!compiled.ok()) return compiled.status();
  RulesByWorkspace out(*std::move(compiled));
  for (const auto& [workspace, rules] : workspaces) {
    absl::StatusOr<std::shared_ptr<const CompiledRules>> one = CompiledRules::Compile(rules);
    if (!one.ok()) return absl::InvalidArgumentError(absl::StrCat("workspace ", workspace, ": ", one.status().message()));
    out.workspaces_[workspace] = *std::move(one);
  }
  return out;
}

const CompiledRules& RulesByWorkspace::For(std::string_view workspace) const {
  if (auto it = workspaces_.find(workspace); it != workspaces_.end()) return *it->second;
  return *defaults_;
}

}  // namespace tessera::identity
