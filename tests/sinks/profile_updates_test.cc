#include "sinks/profile_updates.h"

#include <gtest/gtest.h>

#include "profiles/profile_state.h"

namespace tessera::sinks {
namespace {

TEST(ProfileUpdatesTest, ChangeCarriesVersionChangedFieldsAndTheProfileJson) {
  v1::ProfileUpdate update;
  update.set_profile_id(281474976710657ull);
  update.set_version(7);
  update.set_updated_at_ms(1'790'000'000'123);
  update.add_changed_fields("event_counts");
  update.add_changed_fields("total_spend");
  v1::Profile& profile = *update.mutable_profile();
  profile.set_id(281474976710657ull);
  profile.set_version(7);
  profile.add_identifiers("email:somchai.j@example.com");

  EXPECT_EQ(ProfileUpdateToJson(update),
            "{\"profile_id\":\"281474976710657\",\"version\":7,\"updated_at\":\"2026-09-21T14:13:20.123Z\","
            "\"changed\":[\"event_counts\",\"total_spend\"],\"profile\":" +
                profiles::ProfileToJson(profile) + "}");
  EXPECT_EQ(ProfileKey(update.profile_id()), "281474976710657");
}

TEST(ProfileUpdatesTest, MergedAwayProfileIsATombstoneNamingTheWinner) {
  v1::ProfileUpdate update;
  update.set_profile_id(12);
  update.set_version(3);
  update.set_updated_at_ms(0);
  update.set_merged_into(5);
  EXPECT_EQ(ProfileUpdateToJson(update),
            R"({"profile_id":"12","version":3,"updated_at":"1970-01-01T00:00:00.000Z","merged_into":"5"})");
}

TEST(ProfileUpdatesTest, HeadersNameTheContentType) {
  const auto headers = ProfileUpdateHeaders();
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0].name, "content-type");
  EXPECT_EQ(headers[0].value, "application/json");
}

}  // namespace
}  // namespace tessera::sinks
