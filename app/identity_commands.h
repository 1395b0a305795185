// `tessera identity violations`: the links the merge rules refused or undid, read from the store
// read-only (a RocksDB secondary instance, so it works while `tessera run` holds the store).
// main.cc only dispatches here.
#pragma once

#include <string>
#include <vector>

namespace tessera::app {

// args start after "identity": {"violations", "--data-dir", DIR, ...}. Returns the exit code.
int IdentityCommand(const std::vector<std::string>& args);

}  // namespace tessera::app
