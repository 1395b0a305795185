#include "ingest/blocklist.h"

#include <utility>

#include "common/absl_compat.h"
#include "ingest/normalize.h"

namespace tessera::ingest {

BlocklistRules IngestBlocklistDefaults() {
  const identity::IdentityRules identity_defaults = identity::IdentityRules::Defaults();
  BlocklistRules rules;
  rules.values = identity_defaults.blocked_values;
  rules.patterns = identity_defaults.blocked_patterns;
  // Placeholders forms put in the local part when the customer had no email.
  rules.patterns["email"].push_back(R"((no-?e-?mail|none|null|nil|undefined|unknown|test)@.*)");
  return rules;
}

absl::StatusOr<std::shared_ptr<const identity::CompiledRules>> CompileBlocklist(const BlocklistRules& rules) {
  identity::IdentityRules only_blocklist = identity::IdentityRules::Unrestricted();
  only_blocklist.blocked_values = rules.values;
  only_blocklist.blocked_patterns = rules.patterns;
  return identity::CompiledRules::Compile(only_blocklist);
}

IdentifierBlocklist::IdentifierBlocklist(std::shared_ptr<const identity::CompiledRules> rules, size_t max_cached)
    : rules_(std::move(rules)), max_cached_(max_cached) {
  if (rules_ == nullptr) {
    // Constants of this file: failing to compile them is a bug, not input.
    static const auto* const kDefaults =
        new std::shared_ptr<const identity::CompiledRules>(CompileBlocklist(IngestBlocklistDefaults()).value());
    rules_ = *kDefaults;
  }
}

std::string_view IdentifierBlocklist::Blocked(std::string_view type, std::string_view value) {
  if (TrimSpaces(value).empty()) return kBlockedEmpty;
  std::string key;
  key.reserve(type.size() + 1 + value.size());
  key.append(type);
  key.push_back('\0');
  key.append(value);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  const std::string_view rule = rules_->Blocked(type, value);
  const std::string_view reason = rule == identity::kRuleBlockedValue     ? kBlockedValue
                                  : rule == identity::kRuleBlockedPattern ? kBlockedPattern
                                                                          : std::string_view();
  if (cache_.size() >= max_cached_) cache_.clear();
  cache_.emplace(std::move(key), reason);
  return reason;
}

}  // namespace tessera::ingest
