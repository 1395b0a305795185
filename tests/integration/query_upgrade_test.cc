// `tessera query` over a store written before profiles had a column family of their own, while a
// process of this version opens it as the primary: the move of the profiles into their family
// (common/rocks_store.cc) must not leave the query API reading a store it can no longer follow.
// RocksDB refuses a secondary's catch-up once the primary has created a family the secondary did
// not open with, so without reopening, the API would serve the store as it was, forever.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/rocks_options.h"
#include "common/rocks_store.h"
#include "profiles/profile_store.h"
#include "proto/tessera/v1/tessera.pb.h"
#include "tests/integration/child_process.h"
#include "tests/integration/query_child.h"
#include "tests/query/http_get.h"

namespace tessera {
namespace {

using testing::ReadFile;

std::string ProfileBytes(uint64_t id, const std::string& email) {
  v1::Profile profile;
  profile.set_id(id);
  profile.add_identifiers("email:" + email);
  profile.set_first_seen_ms(1'764'000'000'000);
  profile.set_last_seen_ms(1'764'000'000'000);
  return profile.SerializeAsString();
}

// Polls `path` until it answers `status` or 20 s pass; the last answer.
testing::HttpAnswer AwaitStatus(int port, const std::string& path, const std::string& token, int status) {
  testing::HttpAnswer answer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  do {
    answer = testing::HttpGet(port, path, token);
    if (answer.status == status) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  return answer;
}

TEST(QueryUpgradeTest, TheApiFollowsAnOlderStoreThroughTheMoveOfItsProfiles) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / absl::StrCat("tessera-query-upgrade-", getpid())).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string store_path = dir + "/store";
  {  // The store as a version before the profiles family wrote it: one family, a profile in it.
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(TesseraRocksOptions(8 << 20), store_path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), profiles::ProfileKey(7), ProfileBytes(7, "old@example.com")).ok());
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  }
  testing::ChildProcess query({TESSERA_BIN, "query", "--data-dir", dir, "--http", "127.0.0.1:0", "--port-file",
                               dir + "/query_port", "--catch-up-ms", "100"},
                              dir + "/query.log");
  const std::string port_text = testing::WaitForLine(dir + "/query_port");
  ASSERT_FALSE(port_text.empty()) << ReadFile(dir + "/query.log");
  const int port = std::stoi(port_text);
  const std::string token = testing::QueryTokenOf(dir);
  ASSERT_FALSE(token.empty()) << ReadFile(dir + "/credentials");

  testing::HttpAnswer answer = AwaitStatus(port, "/v1/profiles/7", token, 200);
  ASSERT_EQ(answer.status, 200) << answer.body << ReadFile(dir + "/query.log");
  EXPECT_NE(answer.body.find("old@example.com"), std::string::npos) << answer.body;

  // A primary of this version: moves the profile into its family, then writes a new one there.
  auto primary = RocksStore::Open(store_path);
  ASSERT_TRUE(primary.ok()) << primary.status();
  StagedWrites staged(primary->get());
  staged.Put(profiles::ProfileKey(8), ProfileBytes(8, "new@example.com"));
  ASSERT_TRUE(staged.Commit().ok());

  answer = AwaitStatus(port, "/v1/profiles/8", token, 200);
  EXPECT_EQ(answer.status, 200) << answer.body << ReadFile(dir + "/query.log");
  EXPECT_NE(answer.body.find("new@example.com"), std::string::npos) << answer.body;
  answer = testing::HttpGet(port, "/v1/profiles/7", token);
  EXPECT_EQ(answer.status, 200) << answer.body;
  EXPECT_NE(answer.body.find("old@example.com"), std::string::npos) << answer.body;
  query.Signal(SIGTERM);
  EXPECT_EQ(query.Wait(), 0) << ReadFile(dir + "/query.log");
  primary->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera
