// `tessera sinks deliver` as its own process on a real broker (TESSERA_TEST_BROKERS): a healthy
// webhook receives every change once, in order, signed, while a dead destination (nothing listens
// on its port) sits beside it for 100,000 changes and the deliver process's memory stays flat
// (RSS sampled every 250 ms; the dead destination holds at most max_pending records and pauses).
// Takes ~1 min; labelled kafka.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/kafka.h"
#include "tests/integration/webhook_harness.h"

namespace tessera {
namespace {

using testing::AckedByProfile;
using testing::ChildProcess;
using testing::MakeUpdate;
using testing::ReceiverState;
using testing::RssKib;
using testing::WebhookReceiver;

TEST(WebhookKafkaE2eTest, DeadDestinationCostsFlatMemoryAndDoesNotStopAHealthyOne) {
  const char* brokers_env = std::getenv("TESSERA_TEST_BROKERS");
  ASSERT_NE(brokers_env, nullptr) << "set TESSERA_TEST_BROKERS";
  const std::string brokers = brokers_env;
  const std::string prefix = absl::StrCat("wh", getpid(), ".");
  const std::string dir = (std::filesystem::temp_directory_path() / absl::StrCat("tessera-wh-e2e-", getpid())).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(CreateTopics(brokers, {{prefix + "profile-updates", 4, {}}}).ok());
  constexpr uint64_t kChanges = 100000;
  std::vector<v1::ProfileUpdate> updates;
  for (uint64_t id = 1; id <= kChanges; ++id) updates.push_back(MakeUpdate(id, 1, {}));
  testing::ProduceUpdates(brokers, prefix + "profile-updates", updates);

  WebhookReceiver healthy(dir, "healthy", "e2e-secret", {});
  {
    std::ofstream config(dir + "/sinks.yaml");
    config << "sinks:\n  destinations:\n"
           << "    - {name: healthy, type: webhook, url: '" << healthy.url()
           << "', secret: e2e-secret, batch: {max_size: 500, max_wait_ms: 20}}\n"
           << "    - {name: dead, type: webhook, url: 'http://127.0.0.1:9/hook', secret: e2e-secret, max_pending: 2000,\n"
           << "       timeout_ms: 500, retry: {max_window_s: 3600, base_ms: 100, max_ms: 2000}}\n";
  }
  ChildProcess deliver({TESSERA_BIN, "sinks", "deliver", "--brokers", brokers, "--config", dir + "/sinks.yaml",
                        "--data-dir", dir + "/data", "--topic-prefix", prefix},
                       dir + "/deliver.log");
  std::vector<int64_t> rss;
  ReceiverState state;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  size_t acked = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    rss.push_back(RssKib(deliver.pid()));
    if (rss.size() % 8 == 0) {
      state = healthy.State();
      acked = 0;
      for (const auto& r : state.receipts) acked += r.acked ? 1 : 0;
      if (acked >= kChanges) break;
    }
  }
  // The dead destination keeps failing for a while longer; memory must not grow with it.
  const int64_t rss_at_done = RssKib(deliver.pid());
  int64_t rss_max_after = rss_at_done;
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    rss_max_after = std::max(rss_max_after, RssKib(deliver.pid()));
  }
  int exit_code = -1;
  const std::string status = testing::RunAndCapture(
      {TESSERA_BIN, "sinks", "status", "--brokers", brokers, "--config", dir + "/sinks.yaml", "--data-dir",
       dir + "/data", "--topic-prefix", prefix, "--json"},
      &exit_code);
  deliver.Signal(SIGTERM);
  EXPECT_EQ(deliver.Wait(), 0);

  EXPECT_EQ(acked, kChanges);
  EXPECT_EQ(state.bad_signatures, 0);
  EXPECT_EQ(AckedByProfile(state).size(), kChanges);
  const int64_t rss_peak = *std::max_element(rss.begin(), rss.end());
  std::printf("deliver RSS: peak while delivering %lld KiB, when the healthy one finished %lld KiB, max over the "
              "next 10 s with the dead one still failing %lld KiB\nstatus: %s\n",
              static_cast<long long>(rss_peak), static_cast<long long>(rss_at_done),
              static_cast<long long>(rss_max_after), status.c_str());
  EXPECT_LT(rss_max_after, rss_at_done + 20 * 1024) << "memory grew while the destination was dead";
  EXPECT_LT(rss_peak, 600 * 1024);
  EXPECT_EQ(exit_code, 0);
  EXPECT_NE(status.find("\"name\":\"dead\",\"delivered\":0"), std::string::npos) << status;
  EXPECT_NE(status.find("\"paused\":true"), std::string::npos) << status;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera
