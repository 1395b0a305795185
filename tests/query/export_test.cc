// Pins profiles/query/export.cc: NDJSON is the profile JSON per line; CSV has the documented
// columns, quotes what needs quoting, unescapes string traits, and has a spend column per currency.
#include "profiles/query/export.h"

#include <sstream>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "profiles/profile_state.h"
#include "tests/query/mini_pipeline.h"

namespace tessera::query {
namespace {

using testing::kMinute;
using testing::kT0;
using testing::MakeEvent;

v1::Event Order(const std::string& id, int64_t ts, const std::string& email, const std::string& currency, int64_t minor) {
  v1::Event event = MakeEvent("order:" + id + ":completed", ts, "order", {"email:" + email});
  event.set_channel(v1::CHANNEL_PURCHASE);
  v1::Order* order = event.mutable_order();
  order->set_order_id(id);
  order->set_status(v1::ORDER_STATUS_COMPLETED);
  order->mutable_total()->set_currency(currency);
  order->mutable_total()->set_minor_units(minor);
  return event;
}

class ExportTest : public ::testing::Test {
 protected:
  ExportTest() {
    v1::Event identify = MakeEvent("i-1", kT0, "identify", {"anonymous_id:a-1", "anonymous_id:a-2", "email:s@example.com"});
    (*identify.mutable_traits())["name"] = R"("Somchai \"Joe\", ใจดี")";
    (*identify.mutable_traits())["city"] = R"("Chiang\nMai \u00e9")";
    pipeline_.Apply(identify);
    pipeline_.Apply(Order("o-1", kT0 + kMinute, "s@example.com", "THB", 125050));
    pipeline_.Apply(Order("o-2", kT0 + 2 * kMinute, "s@example.com", "JPY", 1500));
    pipeline_.Apply(MakeEvent("p-1", kT0, "page", {"anonymous_id:b-1"}));
  }
  std::string Export(ExportOptions options) {
    std::ostringstream out;
    const profiles::MapRangeReader reader = pipeline_.reader();
    absl::StatusOr<int64_t> written = ExportProfiles(reader, options, out);
    EXPECT_TRUE(written.ok()) << written.status();
    EXPECT_EQ(*written, 2);
    return out.str();
  }
  testing::MiniPipeline pipeline_;
};

TEST_F(ExportTest, NdjsonIsOneProfileJsonPerLine) {
  const std::string text = Export({});
  const uint64_t somchai = pipeline_.Root("email:s@example.com");
  const uint64_t other = pipeline_.Root("anonymous_id:b-1");
  EXPECT_EQ(text, profiles::ProfileToJson(pipeline_.Profile(std::min(somchai, other))) + "\n" +
                      profiles::ProfileToJson(pipeline_.Profile(std::max(somchai, other))) + "\n");
}

TEST_F(ExportTest, CsvHasFlatColumnsAndASpendColumnPerCurrency) {
  ExportOptions options;
  options.format = ExportFormat::kCsv;
  const std::string text = Export(options);
  const std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  ASSERT_GE(lines.size(), 3u) << text;
  EXPECT_EQ(lines[0],
            "id,workspace,user_id,anonymous_id,email,phone,loyalty_id,other_identifiers,name,first_name,last_name,city,"
            "first_seen,last_seen,events_web,events_social,events_purchase,orders_count,refunds_count,cancelled_count,"
            "spend_JPY,spend_THB,total_spend,merged_from_count");
  const std::string id = std::to_string(pipeline_.Root("email:s@example.com"));
  EXPECT_NE(text.find(id + ",baankafe,,a-1|a-2,s@example.com,,,,\"Somchai \"\"Joe\"\", ใจดี\",,,\"Chiang\nMai é\","
                           "2026-11-25T03:04:05.000Z,2026-11-25T03:06:05.000Z,1,0,2,2,0,0,1500,1250.50,"
                           "\"{\"\"JPY\"\":\"\"1500\"\",\"\"THB\"\":\"\"1250.50\"\"}\",0\n"),
            std::string::npos)
      << text;
}

TEST_F(ExportTest, GivenCurrenciesAndMasking) {
  ExportOptions options;
  options.format = ExportFormat::kCsv;
  options.currencies = {"THB", "USD"};
  options.mask_pii = true;
  const std::string text = Export(options);
  EXPECT_NE(text.find(",spend_THB,spend_USD,total_spend,"), std::string::npos) << text;
  EXPECT_NE(text.find(",1250.50,0.00,"), std::string::npos) << text;
  EXPECT_EQ(text.find("s@example.com"), std::string::npos) << text;
  EXPECT_NE(text.find("s*****@example.com"), std::string::npos) << text;
  EXPECT_EQ(ExportFormatFromName("parquet").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::query
