#include "ingest/collector/rate_limiter.h"

#include <algorithm>
#include <cmath>

#include "common/absl_compat.h"

namespace tessera::collector {

RateLimiter::RateLimiter(double per_second, double burst) : per_second_(per_second), burst_(std::max(1.0, burst)) {}

int64_t RateLimiter::Acquire(std::string_view key, int64_t now_ms) {
  if (per_second_ <= 0) return 0;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = buckets_.try_emplace(AbslView(key), Bucket{burst_, now_ms});
  Bucket& bucket = it->second;
  if (now_ms > bucket.updated_ms) {
    bucket.tokens = std::min(burst_, bucket.tokens + per_second_ * static_cast<double>(now_ms - bucket.updated_ms) / 1000.0);
    bucket.updated_ms = now_ms;
  }
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return 0;
  }
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - bucket.tokens) / per_second_)));
}

}  // namespace tessera::collector
