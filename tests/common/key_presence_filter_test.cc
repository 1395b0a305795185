#include "common/key_presence_filter.h"

#include <gtest/gtest.h>

#include <algorithm>
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

// A snapshot restores the same bits: every key is still held, as many filters and keys as before,
// and it is not ready (its owner must add what was written after the snapshot first).
TEST(KeyPresenceFilterTest, ASnapshotRestoresEveryKeyInAFilterThatIsNotReadyYet) {
  KeyPresenceFilter filter({"ix/", "dv/"}, 0);
  constexpr int64_t kKeys = 300'000;
  for (int64_t i = 0; i < kKeys; ++i) filter.Add(Key(i % 2 == 0 ? "ix/" : "dv/", i));
  filter.MarkReady();
  const std::string snapshot = filter.Snapshot();

  auto restored = KeyPresenceFilter::FromSnapshot({"ix/", "dv/"}, snapshot);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_FALSE((*restored)->ready());
  EXPECT_EQ((*restored)->prefixes(), filter.prefixes());
  for (int64_t i = 0; i < kKeys; ++i) ASSERT_TRUE((*restored)->MayContain(Key(i % 2 == 0 ? "ix/" : "dv/", i))) << i;
  EXPECT_EQ((*restored)->stats().filters, filter.stats().filters);
  EXPECT_GT((*restored)->stats().filters, 1);
  EXPECT_EQ((*restored)->stats().keys, filter.stats().keys);
  EXPECT_EQ((*restored)->stats().bytes, filter.stats().bytes);
  int64_t false_positives = 0;
  for (int64_t i = kKeys; i < kKeys + 100'000; ++i) false_positives += (*restored)->MayContain(Key("ix/", i)) ? 1 : 0;
  EXPECT_LT(false_positives, 3'000);
  // It grows on from where it was.
  (*restored)->Add("ix/after");
  EXPECT_TRUE((*restored)->MayContain("ix/after"));
  EXPECT_EQ((*restored)->Snapshot().size() >= snapshot.size(), true);
}

TEST(KeyPresenceFilterTest, BytesThatAreNotAWholeSnapshotAreRefused) {
  KeyPresenceFilter filter({"ix/"}, 0);
  for (int64_t i = 0; i < 1000; ++i) filter.Add(Key("ix/", i));
  const std::string snapshot = filter.Snapshot();
  EXPECT_TRUE(absl::IsInvalidArgument(KeyPresenceFilter::FromSnapshot({"ix/"}, "").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      KeyPresenceFilter::FromSnapshot({"ix/"}, std::string_view(snapshot).substr(0, snapshot.size() - 1)).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(KeyPresenceFilter::FromSnapshot({"ix/"}, snapshot + "x").status()));
  std::string other_order = snapshot;
  std::reverse(other_order.begin(), other_order.begin() + 8);  // the magic as another byte order reads it
  EXPECT_TRUE(absl::IsInvalidArgument(KeyPresenceFilter::FromSnapshot({"ix/"}, other_order).status()));
  EXPECT_TRUE(KeyPresenceFilter::FromSnapshot({"ix/"}, snapshot).ok());
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
