// A tiny argument parser for tessera's subcommands: `--name value`, `--name=value`, `--flag`, and
// positionals. Unknown options are an error, so a typo is never silently ignored.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::app {

class CliArgs {
 public:
  // `value_options` take a value; `flag_options` do not. Names without the leading "--".
  static absl::StatusOr<CliArgs> Parse(const std::vector<std::string>& args, const std::set<std::string>& value_options,
                                       const std::set<std::string>& flag_options);

  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  bool Has(const std::string& name) const { return values_.contains(name); }
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

}  // namespace tessera::app
