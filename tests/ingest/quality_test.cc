// Pins ingest/quality.cc: the "qc/" key layout, read-modify-write staging, and the report
// `tessera quality` prints.
#include "ingest/quality.h"

#include <gtest/gtest.h>

#include "tests/fakes/memory_kv.h"

namespace tessera::ingest {
namespace {

constexpr int64_t kHour = 1709298000000;  // 2024-03-01T13:00:00Z

TEST(QualityKeyTest, RoundTripsAndOrdersByWorkspaceThenHour) {
  const QualityKey key{"shop-th", kHour, "website", "rejected.invalid_json"};
  const std::string encoded = EncodeQualityKey(key);
  EXPECT_EQ(encoded.rfind(QualityWorkspacePrefix("shop-th"), 0), 0u);
  EXPECT_NE(encoded.rfind(QualityWorkspacePrefix("shop"), 0), 0u);  // no prefix clash between workspaces
  const std::optional<QualityKey> decoded = DecodeQualityKey(encoded);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->workspace, "shop-th");
  EXPECT_EQ(decoded->hour_ms, kHour);
  EXPECT_EQ(decoded->source, "website");
  EXPECT_EQ(decoded->counter, "rejected.invalid_json");
  EXPECT_LT(EncodeQualityKey({"w", kHour, "zzz", "a"}), EncodeQualityKey({"w", kHour + 3600000, "aaa", "a"}));
  EXPECT_FALSE(DecodeQualityKey("dd/w\0x").has_value());
  EXPECT_FALSE(DecodeQualityKey("qc/w").has_value());
}

TEST(QualityCountersTest, StagingAddsToWhatIsStoredPerHour) {
  QualityCounters counters;
  counters.Add("w", "web", kHour + 1, "accepted");
  counters.Add("w", "web", kHour + 3599999, "accepted", 2);
  counters.Add("w", "web", kHour + 3600000, "accepted");  // the next hour
  EXPECT_EQ(counters.Pending("w", "web", kHour, "accepted"), 3);
  testing::MemoryKv kv;
  ASSERT_TRUE(counters.StageInto(&kv).ok());
  counters.Add("w", "web", kHour, "accepted", 4);
  ASSERT_TRUE(counters.StageInto(&kv).ok());
  EXPECT_EQ(kv.data().size(), 2u);
  EXPECT_EQ(DecodeQualityCount(kv.data().at(EncodeQualityKey({"w", kHour, "web", "accepted"}))), 7);
  EXPECT_EQ(DecodeQualityCount(kv.data().at(EncodeQualityKey({"w", kHour + 3600000, "web", "accepted"}))), 1);
  counters.Add("w", "web", kHour, "accepted");
  counters.Discard();
  EXPECT_TRUE(counters.empty());
}

TEST(QualityReportTest, SumsPerSourceWithinTheRange) {
  testing::MemoryKv kv;
  QualityCounters counters;
  counters.Add("w", "web", kHour, "accepted", 10);
  counters.Add("w", "web", kHour + 3600000, "accepted", 5);
  counters.Add("w", "web", kHour, "duplicate", 2);
  counters.Add("w", "web", kHour, "rejected.invalid_json", 3);
  counters.Add("w", "web", kHour, "rejected.no_identifier", 1);
  counters.Add("w", "web", kHour, "normalized.email", 4);
  counters.Add("w", "purchase", kHour, "accepted", 7);
  counters.Add("w", "purchase", kHour - 3600000, "accepted", 100);  // before the range
  counters.Add("other", "web", kHour, "accepted", 1000);             // another workspace
  ASSERT_TRUE(counters.StageInto(&kv).ok());
  QualityReport report("w", kHour, kHour + 2 * 3600000);
  for (const auto& [key, value] : kv.data()) report.AddStored(key, value);
  EXPECT_EQ(report.by_source().at("web").at("accepted"), 15);
  EXPECT_EQ(report.by_source().at("purchase").at("accepted"), 7);
  EXPECT_EQ(report.ToJson(),
            R"({"workspace":"w","since_ms":1709298000000,"until_ms":1709305200000,"sources":{)"
            R"("purchase":{"accepted":7,"duplicates":0,"rejected":{},"blocked":{},"invalid":{},"normalized":{},"tracking_plan":{}},)"
            R"("web":{"accepted":15,"duplicates":2,"rejected":{"invalid_json":3,"no_identifier":1},"blocked":{},"invalid":{},)"
            R"("normalized":{"email":4},"tracking_plan":{}}}})");
  const std::string text = report.ToText();
  EXPECT_NE(text.find("web rejected: invalid_json 3, no_identifier 1"), std::string::npos) << text;
  EXPECT_NE(text.find("purchase"), std::string::npos) << text;
}

}  // namespace
}  // namespace tessera::ingest
