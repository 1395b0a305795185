#include "common/clock.h"

#include "absl/time/clock.h"

namespace tessera {
namespace {
class RealClock final : public Clock {
 public:
  int64_t NowMillis() const override { return absl::ToUnixMillis(absl::Now()); }
};
}  // namespace

const Clock& SystemClock() {
  static const RealClock clock;
  return clock;
}

}  // namespace tessera
