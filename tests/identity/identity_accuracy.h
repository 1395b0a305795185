// Runs an IdentityPopulation through IdentityResolver over a real RocksDB (StagedWrites committed
// per batch, as the pipeline does) and scores the resulting profiles against the truth. Shared by
// the tessera-identity-accuracy tool and its small-scale gtest.
//
// Not thread-safe; one run per call.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "identity/identity_rules.h"
#include "tests/identity/identity_population.h"

namespace tessera::identity::testing {

struct AccuracyRun {
  Accuracy accuracy;
  int64_t events = 0;
  int64_t violations = 0;
  int64_t merges = 0;
  double seconds = 0;  // resolving and committing, without generating
  absl::flat_hash_map<std::string, uint64_t> profile_of;  // every owned identifier -> its root (0: none)
};

// A profile that holds identifiers of two or more people, and what it holds: what the rules missed.
struct WrongProfile {
  uint64_t profile = 0;
  int64_t wrong_pairs = 0;  // its predicted pairs that join two people
  // Every identifier resolving to it ("type:value") with its owner (kSharedIdentifier: several).
  std::vector<std::pair<std::string, int>> identifiers;
};

// The profiles of `run` that join people, most wrong pairs first.
std::vector<WrongProfile> WrongProfiles(const IdentityPopulation& population, const AccuracyRun& run);

// `store_dir` must not exist yet (or be empty); it is left behind for inspection.
absl::StatusOr<AccuracyRun> RunAccuracy(const IdentityPopulation& population, const IdentityRules& rules,
                                        const std::string& store_dir, size_t batch_size = 5000);

}  // namespace tessera::identity::testing
