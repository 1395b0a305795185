#include "app/cli_args.h"

#include "absl/strings/str_cat.h"

namespace tessera::app {

absl::StatusOr<CliArgs> CliArgs::Parse(const std::vector<std::string>& args, const std::set<std::string>& value_options,
                                       const std::set<std::string>& flag_options) {
  CliArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.size() < 3 || arg.rfind("--", 0) != 0) {
      parsed.positionals_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (flag_options.contains(name)) {
      if (value.has_value()) return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      parsed.values_[name] = "true";
      continue;
    }
    if (!value_options.contains(name)) return absl::InvalidArgumentError(absl::StrCat("unknown option --", name));
    if (!value.has_value()) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = args[++i];
    }
    parsed.values_[name] = *value;
  }
  return parsed;
}

std::optional<std::string> CliArgs::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string CliArgs::GetOr(const std::string& name, const std::string& fallback) const {
  return Get(name).value_or(fallback);
}

}  // namespace tessera::app
