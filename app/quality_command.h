// `tessera quality`: per source, how many events ingest accepted, rejected (by reason), dropped as
// duplicates, and how many identifier values it blocked and trait values it normalized or found
// invalid, over a range of hours (ingest/quality.h keeps the counts; docs/data-quality.md explains
// them). Reads every store under the data directory read-only (RocksDB secondary instances), so it
// works while `tessera run` or the stage workers hold them. main.cc only dispatches here.
#pragma once

#include <string>
#include <vector>

namespace tessera::app {

// args start after "quality": {"--data-dir", DIR, "--since", "24h", "--json", ...}. Returns the
// exit code.
int QualityCommand(const std::vector<std::string>& args);

}  // namespace tessera::app
