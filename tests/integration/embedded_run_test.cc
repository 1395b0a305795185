// `tessera run --embedded`: the try-out path with librdkafka's in-process mock cluster. The
// process writes the mock's address to DATA_DIR/brokers; `tessera import` reaches it there, and
// `tessera profile get` reads the result while run holds the store.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/integration/child_process.h"

namespace tessera {
namespace {

using testing::ChildProcess;
using testing::RunAndCapture;

TEST(EmbeddedRunTest, SamplesBecomeProfilesOnTheMockCluster) {
  const std::string dir = (std::filesystem::temp_directory_path() / absl::StrCat("tessera-embedded-", getpid())).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ChildProcess run({TESSERA_BIN, "run", "--embedded", "--data-dir", dir}, dir + "/run.log");

  std::string brokers;
  for (int i = 0; i < 100 && brokers.empty(); ++i) {
    std::ifstream in(dir + "/brokers");
    std::getline(in, brokers);
    if (brokers.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(brokers.empty()) << "no " << dir << "/brokers";

  int exit_code = -1;
  for (const char* channel : {"web", "social", "purchase"}) {
    RunAndCapture({TESSERA_BIN, "import", "--channel", channel, "--brokers", brokers,
                   absl::StrCat(TESSERA_SOURCE_DIR, "/deploy/samples/", channel, ".ndjson")},
                  &exit_code);
    ASSERT_EQ(exit_code, 0) << channel;
  }

  std::string json;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    json = RunAndCapture({TESSERA_BIN, "profile", "get", "phone:+66812345678", "--data-dir", dir}, &exit_code);
    if (exit_code == 0 && json.find("\"purchase\":2,\"social\":2,\"web\":4") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_NE(json.find("\"email:somchai.j@example.com\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"total_spend\":{\"THB\":\"650.00\"}"), std::string::npos) << json;
  EXPECT_NE(json.find("\"event_counts\":{\"purchase\":2,\"social\":2,\"web\":4}"), std::string::npos) << json;

  run.Signal(SIGTERM);
  EXPECT_EQ(run.Wait(), 0);
  std::ifstream log(dir + "/run.log");
  const std::string log_text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  // The mock's limits are said on start.
  EXPECT_NE(log_text.find("drops a partition's oldest data past ~5 MiB"), std::string::npos) << log_text;
  if (!HasFailure()) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera
