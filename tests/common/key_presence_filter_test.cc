#include "common/key_presence_filter.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

std::string Key(const char* prefix, int64_t i) { return absl::StrCat(prefix, "ws/user_id:", i); }

TEST(KeyPresenceFilterTest, HoldsEveryKeyAddedWhileItGrowsAndRejectsAlmostAllOthers) {
  KeyPresenceFilter filter({"ix/"}, /*first_capacity=*/0);  // starts at kMinCapacity
  constexpr int64_t kKeys = 1'000'000;
  for (int64_t i = 0; i < kKeys; ++i) filter.Add(Key("ix/", i));
  for (int64_t i = 0; i < kKeys; ++i) ASSERT_TRUE(filter.MayContain(Key("ix/", i))) << i;

  const KeyPresenceFilterStats stats = filter.stats();
  EXPECT_GT(stats.filters, 1);  // 65,536 keys, then twice that, ...: it grew
  // Keys that looked present already (false positives) are not counted: about 1% here.
  EXPECT_GE(stats.keys, kKeys * 97 / 100);
  EXPECT_LE(stats.keys, kKeys);
  // At most about twice the bits per key (the newest filter is partly empty).
  EXPECT_LE(stats.bytes, static_cast<size_t>(kKeys) * KeyPresenceFilter::kBitsPerKey * 2 / 8 + 64 * 1024);

  int64_t false_positives = 0;
  constexpr int64_t kAbsent = 200'000;
  for (int64_t i = kKeys; i < kKeys + kAbsent; ++i) false_positives += filter.MayContain(Key("ix/", i)) ? 1 : 0;
  // About 0.5% a filter; several filters add up, still a small fraction of the reads.
  EXPECT_LT(false_positives, kAbsent * 3 / 100) << false_positives;
  std::printf("false positives: %.2f%% in %d filters\n", 100.0 * static_cast<double>(false_positives) / kAbsent,
              stats.filters);
}

TEST(KeyPresenceFilterTest, KeysAddedFromTwoThreadsAtOnceAreAllHeld) {
  KeyPresenceFilter filter({"ix/", "dv/"}, 0);
  constexpr int64_t kKeys = 300'000;
  std::thread scanner([&] {
    for (int64_t i = 0; i < kKeys; ++i) filter.Add(Key("ix/", i));
  });
  for (int64_t i = 0; i < kKeys; ++i) filter.Add(Key("dv/", i));
  scanner.join();
  for (int64_t i = 0; i < kKeys; ++i) {
    ASSERT_TRUE(filter.MayContain(Key("ix/", i))) << i;
    ASSERT_TRUE(filter.MayContain(Key("dv/", i))) << i;
  }
  EXPECT_GT(filter.stats().filters, 1);
}

TEST(KeyPresenceFilterTest, AnswersAbsentOnlyOnceReady) {
  KeyPresenceFilter filter({"ix/"}, 1000);
  filter.Add("ix/known");
  EXPECT_FALSE(filter.KnownAbsent("ix/never"));  // the scan of the store is not done: maybe
  filter.MarkReady();
  EXPECT_TRUE(filter.KnownAbsent("ix/never"));
  EXPECT_FALSE(filter.KnownAbsent("ix/known"));
  const KeyPresenceFilterStats stats = filter.stats();
  EXPECT_EQ(stats.absent_answers, 1);
  EXPECT_EQ(stats.maybe_answers, 2);
}

TEST(KeyPresenceFilterTest, CoversOnlyItsPrefixes) {
  KeyPresenceFilter filter({"ix/", "dv/"}, 0);
  EXPECT_TRUE(filter.Covers("ix/ws"));
  EXPECT_TRUE(filter.Covers("dv/ws"));
  EXPECT_FALSE(filter.Covers("pf/1"));
  EXPECT_FALSE(filter.Covers("ix"));
}

}  // namespace
}  // namespace tessera
