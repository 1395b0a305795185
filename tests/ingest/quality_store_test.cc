// The quality counters through a real RocksDB store: staged with the batch's WriteBatch, added up
// across batches and reopenings, and read back by a secondary instance as `tessera quality` does.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "common/rocks_store.h"
#include "ingest/ingest.h"
#include "ingest/quality.h"

namespace tessera::ingest {
namespace {

constexpr int64_t kReceivedAt = 1709300000000;  // 2024-03-01T13:33:20Z

class QualityStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tessera-quality-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Parses `payloads` as one batch and commits its counts.
  void Batch(const std::vector<std::string>& payloads) {
    std::unique_ptr<RocksStore> store = RocksStore::Open((dir_ / "store").string()).value();
    StagedWrites writes(store.get());
    EventParser parser(IngestOptions{});
    for (const std::string& payload : payloads) {
      parser.Parse(v1::CHANNEL_WEB, payload, v1::SourcePosition(), kReceivedAt);
    }
    ASSERT_TRUE(parser.quality().StageInto(&writes).ok());
    ASSERT_TRUE(writes.Commit().ok());
  }

  std::filesystem::path dir_;
};

TEST_F(QualityStoreTest, CountsAddUpAcrossBatchesAndAreReadBySecondaryInstances) {
  Batch({R"({"type":"track","event":"E","userId":"u-1"})", R"({"type":"track","event":"E","userId":"null"})"});
  Batch({R"({"type":"identify","userId":"u-2","traits":{"email":"A@B.co"}})", "not json"});
  std::unique_ptr<RocksStore> primary = RocksStore::Open((dir_ / "store").string()).value();  // held, as by `run`
  std::filesystem::create_directories(dir_ / "scratch");
  std::unique_ptr<RocksStore> reader =
      RocksStore::OpenSecondary((dir_ / "store").string(), (dir_ / "scratch").string()).value();
  QualityReport report("default", 0, std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(reader
                  ->ScanPrefix(QualityWorkspacePrefix("default"),
                               [&](std::string_view key, std::string_view value) {
                                 report.AddStored(key, value);
                                 return true;
                               })
                  .ok());
  EXPECT_EQ(report.by_source().at("web"),
            (std::map<std::string, int64_t>{{"accepted", 2},
                                            {"normalized.email", 1},
                                            {"rejected.invalid_json", 1},
                                            {"rejected.no_identifier", 1},
                                            {"blocked.user_id.value", 1}}));
}

}  // namespace
}  // namespace tessera::ingest
