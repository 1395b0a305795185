#include "common/rocks_store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <filesystem>

#include "absl/time/clock.h"
#include "common/bytes.h"

namespace tessera {
namespace {

class RocksStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() / "tessera-rocks-XXXXXX").string();
    ASSERT_NE(mkdtemp(path_.data()), nullptr);
  }
  void TearDown() override { std::filesystem::remove_all(path_); }
  std::string path_;
};

TEST_F(RocksStoreTest, StagedWritesAreVisibleToTheirViewAndDurableOnlyAfterCommit) {
  auto store = RocksStore::Open(path_ + "/db");
  ASSERT_TRUE(store.ok()) << store.status();
  StagedWrites staged(store->get());
  staged.Put("pf/1", "one");
  staged.Put("pf/2", "two");
  staged.Delete("pf/2");
  EXPECT_EQ(*staged.Get("pf/1"), "one");
  EXPECT_EQ(*staged.Get("pf/2"), std::nullopt);
  EXPECT_EQ(*(*store)->Get("pf/1"), std::nullopt);  // not committed yet
  ASSERT_TRUE(staged.Commit().ok());
  EXPECT_EQ(*(*store)->Get("pf/1"), "one");
  EXPECT_EQ(staged.staged_count(), 0u);
}

TEST_F(RocksStoreTest, ASecondProcessSeesCommittedDataThroughASecondaryInstance) {
  auto store = RocksStore::Open(path_ + "/db");
  ASSERT_TRUE(store.ok());
  StagedWrites staged(store->get());
  staged.Put("ix/a", "1");
  ASSERT_TRUE(staged.Commit().ok());
  auto reader = RocksStore::OpenSecondary(path_ + "/db", path_ + "/scratch");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(*(*reader)->Get("ix/a"), "1");
  staged.Put("ix/b", "2");
  ASSERT_TRUE(staged.Commit().ok());
  ASSERT_TRUE((*reader)->CatchUp().ok());
  EXPECT_EQ(*(*reader)->Get("ix/b"), "2");
}

TEST_F(RocksStoreTest, OnlyOneWriterAtATime) {
  auto first = RocksStore::Open(path_ + "/db");
  ASSERT_TRUE(first.ok());
  auto second = RocksStore::Open(path_ + "/db");
  EXPECT_FALSE(second.ok());
}

TEST_F(RocksStoreTest, CompactionDropsExpiredEntriesOfExpiringPrefixesOnly) {
  RocksStoreOptions options;
  options.expiring_prefixes.push_back({"dd/", 60'000});
  auto store = RocksStore::Open(path_ + "/db", options);
  ASSERT_TRUE(store.ok());
  const int64_t now = absl::ToUnixMillis(absl::Now());
  StagedWrites staged(store->get());
  staged.Put("dd/old", BigEndian64(static_cast<uint64_t>(now - 120'000)));
  staged.Put("dd/fresh", BigEndian64(static_cast<uint64_t>(now)));
  staged.Put("pf/old", BigEndian64(static_cast<uint64_t>(now - 120'000)));  // not an expiring prefix
  ASSERT_TRUE(staged.Commit().ok());
  ASSERT_TRUE((*store)->db()->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok());
  EXPECT_EQ(*(*store)->Get("dd/old"), std::nullopt);
  EXPECT_TRUE((*store)->Get("dd/fresh")->has_value());
  EXPECT_TRUE((*store)->Get("pf/old")->has_value());
}

}  // namespace
}  // namespace tessera
