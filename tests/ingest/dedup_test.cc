#include "ingest/dedup.h"

#include <gtest/gtest.h>

#include "tests/fakes/memory_kv.h"

namespace tessera::ingest {
namespace {

constexpr int64_t kHour = 3'600'000;

TEST(DuplicateFilterTest, SecondSightingWithinTheWindowIsADuplicate) {
  testing::MemoryKv kv;
  DuplicateFilter filter(&kv, 24 * kHour);
  EXPECT_FALSE(*filter.SeenBefore("default", "ajs-1", 1000));
  EXPECT_TRUE(*filter.SeenBefore("default", "ajs-1", 1000 + 23 * kHour));
  EXPECT_FALSE(*filter.SeenBefore("default", "ajs-2", 1000));
}

TEST(DuplicateFilterTest, AfterTheWindowTheSameIdIsNewAgainAndRestartsTheWindow) {
  testing::MemoryKv kv;
  DuplicateFilter filter(&kv, 24 * kHour);
  EXPECT_FALSE(*filter.SeenBefore("default", "ajs-1", 0));
  EXPECT_FALSE(*filter.SeenBefore("default", "ajs-1", 24 * kHour));
  EXPECT_TRUE(*filter.SeenBefore("default", "ajs-1", 47 * kHour));
}

TEST(DuplicateFilterTest, WorkspacesDoNotShareMessageIds) {
  testing::MemoryKv kv;
  DuplicateFilter filter(&kv, 24 * kHour);
  EXPECT_FALSE(*filter.SeenBefore("shop-a", "m-1", 0));
  EXPECT_FALSE(*filter.SeenBefore("shop-b", "m-1", 0));
  // A workspace name that is a prefix of another, with an id that completes it, stays apart.
  EXPECT_FALSE(*filter.SeenBefore("shop", std::string("-a\0m-1", 6), 0));
}

}  // namespace
}  // namespace tessera::ingest
