// Pins identity/rules_config.cc: YAML to IdentityRules, per-workspace overrides, and errors that
// name the key instead of exceptions.
#include "identity/rules_config.h"

#include "gtest/gtest.h"

namespace tessera::identity {
namespace {

TEST(RulesConfigTest, AFileWithoutIdentityGivesTheDefaults) {
  for (const char* yaml : {"", "other: 1\n", "identity:\n"}) {
    auto config = ParseRulesConfig(yaml);
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(config->defaults.value_limits, IdentityRules::Defaults().value_limits);
    EXPECT_EQ(config->defaults.blocked_values, IdentityRules::Defaults().blocked_values);
    EXPECT_TRUE(config->workspaces.empty());
  }
}

TEST(RulesConfigTest, KeysOverrideTheDefaultsAndWorkspacesOverrideTheTop) {
  auto config = ParseRulesConfig(R"(
identity:
  value_limits: {email: 3, phone: unlimited, loyalty_id: 1}
  shared_device: {enabled: true, max_user_ids: 2}
  blocked_values: {email: ["info@baankafe.co.th"]}
  blocked_patterns: {email: ['.*@mailinator\.com']}
  max_identifiers_per_profile: 50
  max_merges_per_profile: 0
  priority: [email, user_id, "*", anonymous_id]
  weak_types: [phone, loyalty_id]
  weak_quiet_days: 30
  fingerprint_index: {max_entries: 4096}
  workspaces:
    shop-b:
      use_default_blocklist: false
      value_limits: {email: 10}
      shared_device: {enabled: false}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  const IdentityRules& top = config->defaults;
  EXPECT_EQ(top.value_limits, (std::map<std::string, int>{{"email", 3}, {"loyalty_id", 1}, {"user_id", 1}}));
  EXPECT_EQ(top.shared_device_max_user_ids, 2);
  EXPECT_EQ(top.max_identifiers_per_profile, 50);
  EXPECT_EQ(top.max_merges_per_profile, 0);
  EXPECT_EQ(top.priority, (std::vector<std::string>{"email", "user_id", "*", "anonymous_id"}));
  EXPECT_EQ(top.weak_types, (std::vector<std::string>{"phone", "loyalty_id"}));
  EXPECT_EQ(top.weak_quiet_days, 30);
  // Lists add to the defaults.
  EXPECT_EQ(top.blocked_values.at("email").back(), "info@baankafe.co.th");
  EXPECT_EQ(top.blocked_values.at("*"), IdentityRules::Defaults().blocked_values.at("*"));
  const IdentityRules& b = config->workspaces.at("shop-b");
  EXPECT_EQ(b.value_limits.at("email"), 10);
  EXPECT_EQ(b.value_limits.at("loyalty_id"), 1);  // inherited from the top
  EXPECT_FALSE(b.shared_device_rule);
  EXPECT_TRUE(b.blocked_values.empty());
  auto compiled = CompileRulesConfig(*config);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(compiled->For("baankafe").Blocked("email", "Somchai@Mailinator.com"), "blocked_pattern");
  EXPECT_EQ(compiled->For("baankafe").Blocked("email", "info@baankafe.co.th"), "blocked_value");
  EXPECT_EQ(compiled->For("shop-b").Blocked("email", "test@test.com"), "");
  EXPECT_EQ(compiled->For("shop-b").ValueLimit("email"), 10);
  EXPECT_EQ(compiled->For("baankafe").Rank("email"), 0);
  EXPECT_EQ(compiled->For("baankafe").Rank("instagram"), 2);
  EXPECT_EQ(compiled->fingerprint_index_entries(), 4096u);
  auto defaults = CompileRulesConfig(*ParseRulesConfig(""));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->fingerprint_index_entries(), kDefaultFingerprintIndexEntries);
}

TEST(RulesConfigTest, MistakesAreInvalidArgumentsNamingTheKey) {
  struct Case {
    const char* yaml;
    const char* mentions;
  };
  for (const Case& c : std::vector<Case>{
           {"identity:\n  value_limit: {email: 3}\n", "identity.value_limit"},
           {"identity:\n  value_limits: {email: three}\n", "identity.value_limits.email"},
           {"identity:\n  value_limits: {email: 0}\n", "identity.value_limits.email"},
           {"identity:\n  shared_device: {max_users: 3}\n", "identity.shared_device.max_users"},
           {"identity:\n  priority: user_id\n", "identity.priority"},
           {"identity:\n  workspaces:\n    b:\n      workspaces: {}\n", "identity.workspaces.b.workspaces"},
           {"identity: [1, 2\n", "not valid YAML"},
           {"identity:\n  fingerprint_index: {max_entries: -1}\n", "identity.fingerprint_index.max_entries"},
           {"identity:\n  fingerprint_index: {size: 1}\n", "identity.fingerprint_index.size"},
           {"identity:\n  workspaces:\n    b:\n      fingerprint_index: {max_entries: 1}\n",
            "identity.workspaces.b.fingerprint_index"},
           {"- a\n- b\n", "identity"},
       }) {
    auto config = ParseRulesConfig(c.yaml);
    ASSERT_FALSE(config.ok()) << c.yaml;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << c.yaml;
    EXPECT_NE(config.status().message().find(c.mentions), std::string::npos) << config.status();
  }
  auto bad_regex = ParseRulesConfig("identity:\n  blocked_patterns: {email: ['([a-z']}\n");
  ASSERT_TRUE(bad_regex.ok());
  EXPECT_EQ(CompileRulesConfig(*bad_regex).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadRulesConfig("/nonexistent/tessera.yaml").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera::identity
