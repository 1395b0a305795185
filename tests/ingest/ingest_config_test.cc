// Pins ingest/ingest_config.cc: the `ingest:` section of the YAML config, and that every mistake
// in it is reported with its key path instead of being ignored.
#include "ingest/ingest_config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tessera::ingest {
namespace {

TEST(IngestConfigTest, NoSectionGivesTheDefaults) {
  for (const char* yaml : {"", "identity: {value_limits: {email: 3}}", "ingest:"}) {
    absl::StatusOr<std::shared_ptr<const CleaningConfig>> config = ParseIngestConfig(yaml);
    ASSERT_TRUE(config.ok()) << yaml << ": " << config.status();
    EXPECT_TRUE((*config)->defaults.tracking_plans.empty());
    ASSERT_NE((*config)->defaults.blocklist, nullptr);
    EXPECT_EQ((*config)->defaults.blocklist->Blocked("email", "test@test.com"), "blocked_value");
  }
}

TEST(IngestConfigTest, PlansAndWorkspaces) {
  absl::StatusOr<std::shared_ptr<const CleaningConfig>> config = ParseIngestConfig(R"(
ingest:
  tracking_plans:
    web:
      mode: strip
      events:
        "Order Completed": {properties: {order_id: string, total: number}, required: [order_id]}
        "Product Viewed":
      traits: [email]
  workspaces:
    shop-b:
      tracking_plans: {web: {mode: flag}}
)");
  ASSERT_TRUE(config.ok()) << config.status();
  const TrackingPlan& web = (*config)->defaults.tracking_plans.at("web");
  EXPECT_EQ(web.mode, PlanMode::kStrip);
  EXPECT_TRUE(web.check_events);
  EXPECT_EQ(web.events.size(), 2u);
  EXPECT_EQ(web.events.at("Order Completed").properties.at("total"), PropertyType::kNumber);
  EXPECT_EQ(web.events.at("Order Completed").required, std::vector<std::string>{"order_id"});
  EXPECT_FALSE(web.events.at("Product Viewed").check_properties);
  EXPECT_TRUE(web.check_traits);
  const TrackingPlan& shop_b = (*config)->For("shop-b").tracking_plans.at("web");
  EXPECT_EQ(shop_b.mode, PlanMode::kFlag);
  EXPECT_FALSE(shop_b.check_events);
  EXPECT_EQ(&(*config)->For("elsewhere"), &(*config)->defaults);
}

TEST(IngestConfigTest, MistakesNameTheirKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ingest: {blocklist: {valuez: {}}}", "ingest.blocklist.valuez"},
      {"ingest: {blocklist: {patterns: {email: ['(']}}}", "ingest.blocklist"},
      {"ingest: {tracking_plans: {web: {events: {}}}}", "mode is required"},
      {"ingest: {tracking_plans: {web: {mode: drop}}}", "unknown mode 'drop'"},
      {"ingest: {tracking_plans: {web: {mode: flag, events: {E: {properties: {x: text}}}}}}",
       "ingest.tracking_plans.web.events.E.properties.x"},
      {"ingest: {tracking_plans: {web: {mode: flag, traits: email}}}", "expected a list"},
      {"ingest: {workspaces: {a: {workspaces: {}}}}", "ingest.workspaces.a.workspaces"},
      {"ingest: [1", "not valid YAML"},
  };
  for (const auto& [yaml, expected] : cases) {
    absl::StatusOr<std::shared_ptr<const CleaningConfig>> config = ParseIngestConfig(yaml);
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(config.status().message()).find(expected), std::string::npos)
        << yaml << " -> " << config.status().message();
  }
  EXPECT_EQ(LoadIngestConfig("/nonexistent/tessera.yaml").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera::ingest
