// Wall-clock seam: stages take a Clock so tests can inject time.
#pragma once

#include <cstdint>

namespace tessera {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMillis() const = 0;
};

// The real clock (absl::Now). Thread-safe.
const Clock& SystemClock();

}  // namespace tessera
