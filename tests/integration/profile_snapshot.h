// Reading final profiles back for comparison: from a store (pipeline tests) or from the
// profile-updates topic (end-to-end tests), keyed by their sorted identifiers so runs that
// allocated different ids can be compared.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/rocks_store.h"
#include "tests/fakes/population.h"

namespace tessera::testing {

// Live profiles in a store: identifiers joined by ' ' -> profile JSON with id, version and
// merged_from blanked (they depend on arrival order; the contents must not).
absl::StatusOr<std::map<std::string, std::string>> ProfilesByIdentifiers(const RocksStore& store);

// One live profile as the profile-updates topic last described it.
struct PublishedProfile {
  std::string id;
  uint64_t version = 0;
  std::vector<std::string> identifiers;
  std::map<std::string, int64_t> event_counts;
  int64_t orders_count = 0;
  int64_t refunds_count = 0;
  std::map<std::string, std::string> total_spend;
  std::map<std::string, int64_t> social_counts;  // "platform.action"
  std::string name;  // the "name" trait as a plain string
};

// Folds profile-updates records (JSON values) into the live profiles: latest version per key,
// merged-away ones removed.
absl::StatusOr<std::vector<PublishedProfile>> LiveProfilesFromUpdates(const std::vector<std::string>& values);

// Empty if `published` holds exactly one profile per expected person with the expected contents;
// otherwise a description of the first differences (for the test's failure message).
std::string CompareWithExpected(const std::vector<PublishedProfile>& published,
                                const std::vector<ExpectedProfile>& expected);

}  // namespace tessera::testing
