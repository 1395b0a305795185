// A test fixture with a real RocksStore in a fresh directory named after the running test (so
// tests run in parallel by ctest do not share one), deleted when the test ends.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/rocks_store.h"

namespace tessera::testing {

class TempStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            absl::StrCat("tessera-", ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name(), "-",
                         getpid(), "-", ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
    auto store = RocksStore::Open(dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<RocksStore> store_;
};

}  // namespace tessera::testing
