// Minimal logging to stderr: one line per call, timestamped. Tessera's processes log little (start,
// stop, rebalances, errors), so this is all the machinery it needs.
#pragma once

#include <string_view>

namespace tessera {

void LogInfo(std::string_view message);
void LogWarning(std::string_view message);
void LogError(std::string_view message);

}  // namespace tessera
