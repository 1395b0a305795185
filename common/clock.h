// Wall-clock seam: stages take a Clock so tests can inject time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMillis() const = 0;
};

// The real clock (absl::Now). Thread-safe.
const Clock& SystemClock();

// `ms` (UTC epoch milliseconds) as RFC 3339 UTC with milliseconds, "2026-12-03T16:35:21.042Z":
// exactly absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", ..., UTC), without its time-zone machinery,
// which cost 0.7 us a timestamp on the paths that write one per output record.
std::string FormatUtcMillis(int64_t ms);

// Room for any instant's text: a year of int64 milliseconds has at most nine digits and a sign.
struct UtcMillisText {
  char bytes[40];
};
// The same text written into `out` (no allocation for the four-digit years of every real
// timestamp, for paths that write one per message); the view is of `out`.
std::string_view FormatUtcMillis(int64_t ms, UtcMillisText& out);

}  // namespace tessera
