// Pins profiles/query/query_config.cc: tokens with scopes, retention per workspace, errors that
// name the key, and the collector's top-level query_token.
#include "profiles/query/query_config.h"

#include "gtest/gtest.h"

namespace tessera::query {
namespace {

TEST(QueryConfigTest, TokensRetentionAndWorkspace) {
  const QueryConfig config = ParseQueryConfig(R"(
identity: {value_limits: {email: 5}}   # other sections are not ours
query:
  tokens:
    - {token: qt_analyst, scopes: [read_profiles]}
    - {token: qt_dpo, scopes: [read_profiles, read_pii, export]}
  retention_days: {default: 400, shop-b: 90, archive: 0}
  workspace: baankafe
)").value();
  EXPECT_EQ(config.scopes_by_token.at("qt_analyst"), kScopeReadProfiles);
  EXPECT_EQ(config.scopes_by_token.at("qt_dpo"), kAllScopes);
  EXPECT_EQ(config.retention.default_days, 400);
  EXPECT_EQ(config.retention.days_by_workspace.at("shop-b"), 90);
  EXPECT_EQ(config.retention.days_by_workspace.at("archive"), 0);
  EXPECT_EQ(config.default_workspace, "baankafe");
}

TEST(QueryConfigTest, DefaultsAndTheCollectorsQueryToken) {
  const QueryConfig empty = ParseQueryConfig("").value();
  EXPECT_TRUE(empty.scopes_by_token.empty());
  EXPECT_EQ(empty.retention.default_days, 365);
  const QueryConfig collector = ParseQueryConfig("query_token: qt_9c1e\nquery: {retention_days: 30}\n").value();
  EXPECT_EQ(collector.scopes_by_token.at("qt_9c1e"), kAllScopes);
  EXPECT_EQ(collector.retention.default_days, 30);
}

TEST(QueryConfigTest, ErrorsNameTheKey) {
  auto error = [](const char* yaml) { return std::string(ParseQueryConfig(yaml).status().message()); };
  EXPECT_NE(error("query: {tokens: [{token: a, scopes: [read_everything]}]}").find("query.tokens[0].scopes[0]"),
            std::string::npos);
  EXPECT_NE(error("query: {tokens: [{scopes: [export]}]}").find("query.tokens[0].token"), std::string::npos);
  EXPECT_NE(error("query: {tokens: [{token: a, scopes: [export]}, {token: a, scopes: [export]}]}").find("twice"),
            std::string::npos);
  EXPECT_NE(error("query: {retention_days: {shop: -1}}").find("query.retention_days.shop"), std::string::npos);
  EXPECT_NE(error("query: {retention: 3}").find("query.retention"), std::string::npos);
  EXPECT_NE(error("query: [1, 2]").find("query"), std::string::npos);
  EXPECT_EQ(ParseQueryConfig("query: {tokens: {bad").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::query
