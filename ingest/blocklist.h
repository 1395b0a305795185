// Junk identifier values ("null", "undefined", "test@test.com", "+66888888888", "   ") that must
// never become identifiers. Ingest is the first line: a blocked value is dropped from the event's
// identifiers (and from the email/phone trait that carried it) and counted by reason; identity's
// merge rules (identity/identity_rules.h) are the second line for whatever other producers write.
//
// The matching itself is identity's CompiledRules::Blocked (values compared ignoring case,
// ECMAScript regexes over the whole normalized value, per identifier type or "*" for all), so
// both lines agree on what a rule means. The default list is identity's defaults plus a few
// patterns only ingest needs (IngestBlocklistDefaults).
//
// Thread-safety: an IdentifierBlocklist caches answers (std::regex costs microseconds per value,
// and an email or phone recurs across a customer's events): one per thread, like EventParser.
// The shared CompiledRules it reads are immutable.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "identity/identity_rules.h"

namespace tessera::ingest {

// Why a value was blocked (the counter "blocked.<type>.<reason>").
inline constexpr std::string_view kBlockedValue = "value";      // in the list of values
inline constexpr std::string_view kBlockedPattern = "pattern";  // matched a pattern
inline constexpr std::string_view kBlockedEmpty = "empty";      // nothing but white space

struct BlocklistRules {
  // Identifier type (or "*") -> values, compared ignoring ASCII case with the normalized value.
  std::map<std::string, std::vector<std::string>> values;
  // Identifier type (or "*") -> ECMAScript regexes matching the whole normalized value, ignoring case.
  std::map<std::string, std::vector<std::string>> patterns;
};

// identity's default blocklist (which already has phones of one repeated digit after the country
// code) plus emails whose local part is a placeholder: noemail@…, none@…, null@…, test@….
BlocklistRules IngestBlocklistDefaults();

// Compiles `rules` (InvalidArgument for a bad regex).
absl::StatusOr<std::shared_ptr<const identity::CompiledRules>> CompileBlocklist(const BlocklistRules& rules);

class IdentifierBlocklist {
 public:
  // nullptr: IngestBlocklistDefaults().
  explicit IdentifierBlocklist(std::shared_ptr<const identity::CompiledRules> rules = nullptr,
                               size_t max_cached = size_t{1} << 16);

  // Why `value` of identifier `type` is blocked (kBlockedValue / kBlockedPattern / kBlockedEmpty),
  // or empty when it may be an identifier.
  std::string_view Blocked(std::string_view type, std::string_view value);

 private:
  std::shared_ptr<const identity::CompiledRules> rules_;
  size_t max_cached_;
  // type '\0' value -> reason ("" = not blocked)
  absl::flat_hash_map<std::string, std::string_view> cache_;
};

}  // namespace tessera::ingest
