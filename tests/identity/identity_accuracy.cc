#include "tests/identity/identity_accuracy.h"

#include <chrono>

#include "common/clock.h"
#include "common/identifier.h"
#include "common/rocks_store.h"
#include "tests/fakes/test_store_options.h"
#include "common/status_macros.h"
#include "identity/fingerprint_index.h"
#include "identity/identity_resolver.h"

namespace tessera::identity::testing {

absl::StatusOr<AccuracyRun> RunAccuracy(const IdentityPopulation& population, const IdentityRules& rules,
                                        const std::string& store_dir, size_t batch_size) {
  ASSIGN_OR_RETURN(std::unique_ptr<RocksStore> store,
                   RocksStore::Open(store_dir, tessera::testing::PipelineStoreOptions()));
  ASSIGN_OR_RETURN(RulesByWorkspace by_workspace, RulesByWorkspace::Make(rules));
  AccuracyRun run;
  const auto start = std::chrono::steady_clock::now();
  StagedWrites staged(store.get());
  FingerprintIndex index;  // as the pipeline runs it (the result is the same without)
  IdentityResolver resolver(&staged, /*id_prefix=*/1, &SystemClock(), by_workspace, &index);
  size_t in_batch = 0;
  for (const v1::Event& event : population.events) {
    ASSIGN_OR_RETURN(Resolution r, resolver.Resolve(event));
    run.violations += static_cast<int64_t>(r.violations.size());
    run.merges += static_cast<int64_t>(r.merges.size());
    ++run.events;
    if (++in_batch == batch_size) {
      RETURN_IF_ERROR(staged.Commit());
      index.MarkCommitted();
      in_batch = 0;
    }
  }
  RETURN_IF_ERROR(staged.Commit());
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  absl::flat_hash_map<std::string, uint64_t>& profile_of = run.profile_of;
  StoreReader reader(store.get());
  for (const auto& [identifier, person] : population.owner) {
    ASSIGN_OR_RETURN(v1::Identifier id, ParseIdentifier(identifier));
    ASSIGN_OR_RETURN(std::optional<uint64_t> root, LookupIdentifier(reader, "default", id));
    profile_of[identifier] = root.value_or(0);
  }
  run.accuracy = MeasureAccuracy(population, profile_of);
  return run;
}

std::vector<WrongProfile> WrongProfiles(const IdentityPopulation& population, const AccuracyRun& run) {
  absl::flat_hash_map<uint64_t, WrongProfile> by_profile;
  for (const auto& [identifier, root] : run.profile_of) {
    if (root == 0) continue;
    WrongProfile& p = by_profile[root];
    p.profile = root;
    p.identifiers.push_back({identifier, population.owner.at(identifier)});
  }
  std::vector<WrongProfile> out;
  for (auto& [root, p] : by_profile) {
    absl::flat_hash_map<int, int64_t> per_person;
    for (const auto& [identifier, person] : p.identifiers) {
      if (person != kSharedIdentifier) ++per_person[person];
    }
    if (per_person.size() < 2) continue;
    int64_t total = 0;
    int64_t same = 0;
    for (const auto& [person, n] : per_person) {
      total += n;
      same += n * (n - 1) / 2;
    }
    p.wrong_pairs = total * (total - 1) / 2 - same;
    std::sort(p.identifiers.begin(), p.identifiers.end());
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const WrongProfile& a, const WrongProfile& b) {
    return a.wrong_pairs != b.wrong_pairs ? a.wrong_pairs > b.wrong_pairs : a.profile < b.profile;
  });
  return out;
}

}  // namespace tessera::identity::testing
