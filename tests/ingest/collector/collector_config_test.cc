// Pins the collector's YAML config and the generated credentials file.
#include "ingest/collector/collector_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tessera::collector {
namespace {

TEST(CollectorConfigTest, ParsesSourcesProxiesAndRateLimit) {
  absl::StatusOr<CollectorConfig> config = ParseCollectorConfig(R"(
sources:
  - write_key: wk_web
    workspace: shop-th
    source: web
  - write_key: wk_line
    workspace: shop-th
    source: custom
    name: line-oa
  - write_key: wk_pos
    source: purchase
trusted_proxies: [10.0.0.5]
rate_limit: { requests_per_second: 50 }
query_token: qt_1
)");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->sources_by_write_key.size(), 3u);
  EXPECT_EQ(config->sources_by_write_key.at("wk_web").workspace, "shop-th");
  EXPECT_EQ(config->sources_by_write_key.at("wk_line").name, "line-oa");
  EXPECT_EQ(config->sources_by_write_key.at("wk_line").channel, v1::CHANNEL_WEB);
  EXPECT_EQ(config->sources_by_write_key.at("wk_pos").channel, v1::CHANNEL_PURCHASE);
  EXPECT_EQ(config->sources_by_write_key.at("wk_pos").workspace, "default");
  EXPECT_TRUE(config->trusted_proxies.contains("10.0.0.5"));
  EXPECT_EQ(config->rate_limit_per_second, 50);
  EXPECT_EQ(config->rate_limit_burst, 100);
  EXPECT_EQ(config->query_token, "qt_1");
}

TEST(CollectorConfigTest, ZeroRateTurnsTheLimitOff) {
  absl::StatusOr<CollectorConfig> config =
      ParseCollectorConfig("sources:\n  - write_key: k\nrate_limit: { requests_per_second: 0 }\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->rate_limit_per_second, 0);
}

TEST(CollectorConfigTest, BadConfigsAreInvalidArgumentNotExceptions) {
  for (const char* text : {"sources: [", "sources: []", "sources:\n  - workspace: w\n",
                           "sources:\n  - write_key: k\n    source: carrier-pigeon\n",
                           "sources:\n  - write_key: k\n    source: custom\n",
                           "sources:\n  - write_key: k\n  - write_key: k\n", "- just a list",
                           "sources:\n  - write_key: k\nrate_limit: { requests_per_second: [1] }\n",
                           "sources:\n  - write_key: k\nrate_limit: { requests_per_second: 5, burst: 0 }\n"}) {
    absl::StatusOr<CollectorConfig> config = ParseCollectorConfig(text);
    EXPECT_TRUE(absl::IsInvalidArgument(config.status())) << text << " -> " << config.status();
  }
}

TEST(CredentialsTest, FirstStartCreatesAPrivateFileLaterStartsReadIt) {
  const std::string dir = (std::filesystem::temp_directory_path() / ("creds-" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(dir);
  bool created = false;
  absl::StatusOr<Credentials> first = LoadOrCreateCredentials(dir, &created);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(created);
  EXPECT_EQ(first->write_key.size(), 3u + 32u);
  struct stat st {};
  ASSERT_EQ(stat((dir + "/credentials").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(dir + "/credentials");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("\"write_key\":\"" + first->write_key + "\""), std::string::npos) << text.str();
  absl::StatusOr<Credentials> second = LoadOrCreateCredentials(dir, &created);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(second->write_key, first->write_key);
  EXPECT_EQ(second->query_token, first->query_token);
  EXPECT_NE(first->write_key.substr(3), first->query_token.substr(3));  // independent random tokens
  CollectorConfig config = ConfigFromCredentials(*second);
  EXPECT_TRUE(config.sources_by_write_key.contains(first->write_key));
  std::ofstream(dir + "/credentials", std::ios::trunc) << "garbage";
  EXPECT_TRUE(absl::IsFailedPrecondition(LoadOrCreateCredentials(dir, &created).status()));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera::collector
