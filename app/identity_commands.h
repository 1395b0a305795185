// `tessera identity violations`: the links the merge rules refused or undid; `tessera identity
// simulate --rules NEW.yaml`: what new merge rules would change (identity/identity_simulate.h);
// `tessera profile explain TYPE:VALUE`: why a profile's identifiers are one customer
// (identity/identity_explain.h). All read the store read-only (a RocksDB secondary instance, so
// they work while `tessera run` holds the store). main.cc only dispatches here.
#pragma once

#include <string>
#include <vector>

namespace tessera::app {

// args start after "identity": {"violations", "--data-dir", DIR, ...} or {"simulate", "--rules",
// FILE, ...}. Returns the exit code.
int IdentityCommand(const std::vector<std::string>& args);

// args start after "profile": {"explain", "TYPE:VALUE", "--json", ...}. Returns the exit code.
int ProfileExplainCommand(const std::vector<std::string>& args);

}  // namespace tessera::app
