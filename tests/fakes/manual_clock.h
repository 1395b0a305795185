// A Clock that tests move by hand: time passes only when the test says so.
//
// Thread-safety: reads and writes are atomic, so a test thread may advance it while the code under
// test reads it.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/clock.h"

namespace tessera::testing {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t now_ms) : now_ms_(now_ms) {}
  int64_t NowMillis() const override { return now_ms_.load(); }
  void Set(int64_t now_ms) { now_ms_.store(now_ms); }
  void Advance(int64_t ms) { now_ms_.fetch_add(ms); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace tessera::testing
