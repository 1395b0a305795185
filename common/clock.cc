#include "common/clock.h"

#include <algorithm>
#include <cstring>

#include "absl/time/clock.h"
#include "absl/time/time.h"

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

std::string FormatUtcMillis(int64_t ms) {
  UtcMillisText text;
  return std::string(FormatUtcMillis(ms, text));
}

std::string_view FormatUtcMillis(int64_t ms, UtcMillisText& text) {
  // Four-digit years only (absl writes others with fewer or more digits, or a sign; those go to it).
  constexpr int64_t kFirst = -30610224000000;  // 1000-01-01T00:00:00Z
  constexpr int64_t kEnd = 253402300800000;    // 10000-01-01T00:00:00Z
  if (ms < kFirst || ms >= kEnd) {
    const std::string other = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
    const size_t size = std::min(other.size(), sizeof(text.bytes));  // at most 30 bytes: see UtcMillisText
    std::memcpy(text.bytes, other.data(), size);
    return std::string_view(text.bytes, size);
  }
  const int64_t day_ms = 86'400'000;
  int64_t days = ms / day_ms;
  int64_t rest = ms % day_ms;
  if (rest < 0) {
    rest += day_ms;
    --days;
  }
  // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil inverse, proleptic Gregorian).
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  constexpr std::string_view kShape = "0000-00-00T00:00:00.000Z";
  char* const out = text.bytes;
  std::memcpy(out, kShape.data(), kShape.size());
  const auto put = [out](int at, int64_t value, int digits) {
    for (int i = digits - 1; i >= 0; --i) {
      out[at + i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  put(0, year, 4);
  put(5, month, 2);
  put(8, day, 2);
  put(11, rest / 3'600'000, 2);
  put(14, rest / 60'000 % 60, 2);
  put(17, rest / 1000 % 60, 2);
  put(20, rest % 1000, 3);
  return std::string_view(out, kShape.size());
}

}  // namespace tessera
