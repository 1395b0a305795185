#include "common/clock.h"

#include <random>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

std::string AbslFormat(int64_t ms) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(ms), absl::UTCTimeZone());
}

TEST(FormatUtcMillisTest, KnownInstants) {
  EXPECT_EQ(FormatUtcMillis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatUtcMillis(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatUtcMillis(951782400000), "2000-02-29T00:00:00.000Z");  // leap day of a /400 year
  EXPECT_EQ(FormatUtcMillis(1796315721042), "2026-12-03T16:35:21.042Z");
}

// The same text as absl::FormatTime everywhere, edges of the fast range and outside it included.
TEST(FormatUtcMillisTest, MatchesAbslOnRandomAndEdgeInstants) {
  const int64_t edges[] = {-30610224000000, -30610224000001, -62167219200000, 253402300799999, 253402300800000,
                           -2208988800000,  4102444800000,   -86400000,       86399999};
  for (int64_t ms : edges) EXPECT_EQ(FormatUtcMillis(ms), AbslFormat(ms)) << ms;
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> wide(-70000000000000, 260000000000000);
  std::uniform_int_distribution<int64_t> recent(0, 4102444800000);  // 1970-2100
  for (int i = 0; i < 200000; ++i) {
    const int64_t ms = i % 2 == 0 ? wide(rng) : recent(rng);
    ASSERT_EQ(FormatUtcMillis(ms), AbslFormat(ms)) << ms;
  }
}

}  // namespace
}  // namespace tessera
