#include "common/log.h"

#include <cstdio>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tessera {
namespace {
void Log(const char* level, std::string_view message) {
  const std::string now = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::fprintf(stderr, "%s %s %.*s\n", now.c_str(), level, static_cast<int>(message.size()), message.data());
}
}  // namespace

void LogInfo(std::string_view message) { Log("INFO", message); }
void LogWarning(std::string_view message) { Log("WARN", message); }
void LogError(std::string_view message) { Log("ERROR", message); }

}  // namespace tessera
