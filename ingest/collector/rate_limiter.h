// A token bucket per write key: `per_second` requests on average, bursts up to `burst`. A request
// over the limit learns how long until one would be allowed (the collector's Retry-After).
//
// Thread-safe (one mutex; the critical section is a hash lookup and a few arithmetic operations).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace tessera::collector {

class RateLimiter {
 public:
  // per_second == 0: no limit.
  RateLimiter(double per_second, double burst);

  // 0 when the request may go ahead (and takes a token); otherwise the whole seconds (>= 1) to
  // wait before a token is available.
  int64_t Acquire(std::string_view key, int64_t now_ms);

 private:
  struct Bucket {
    double tokens;
    int64_t updated_ms;
  };
  const double per_second_;
  const double burst_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tessera::collector
