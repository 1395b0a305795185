// tessera-identity-accuracy --people N --seed S [--no-rules] [--weak-phone-rule] [--dir DIR]: generates an identity
// population with ground truth (identity_population.h), resolves it over a real RocksDB and prints
// pairwise precision and recall. docs/identity.md has the method and the measured numbers.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/numbers.h"
#include "tests/identity/identity_accuracy.h"

int main(int argc, char** argv) {
  int people = 100000;
  uint64_t seed = 1;
  bool rules_on = true;
  bool weak_rule = false;  // --weak-phone-rule: the opt-in recycled-number rule (weak_types: [phone])
  std::string dir;
  tessera::identity::testing::PopulationOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--people" && has_value && absl::SimpleAtoi(argv[i + 1], &people)) {
      ++i;
    } else if (arg == "--seed" && has_value && absl::SimpleAtoi(argv[i + 1], &seed)) {
      ++i;
    } else if (arg == "--dir" && has_value) {
      dir = argv[++i];
    } else if (arg == "--recycled-phone-rate" && has_value && absl::SimpleAtod(argv[i + 1], &options.recycled_phone_rate)) {
      ++i;
    } else if (arg == "--family-rate" && has_value && absl::SimpleAtod(argv[i + 1], &options.family_rate)) {
      ++i;
    } else if (arg == "--junk-rate" && has_value && absl::SimpleAtod(argv[i + 1], &options.junk_rate)) {
      ++i;
    } else if (arg == "--no-rules") {
      rules_on = false;
    } else if (arg == "--weak-phone-rule") {
      weak_rule = true;
    } else {
      std::fprintf(stderr, "usage: tessera-identity-accuracy --people N --seed S [--no-rules] [--weak-phone-rule] [--dir DIR]\n"
                           "  [--recycled-phone-rate 0.002] [--family-rate 0.05] [--junk-rate 0.03]\n");
      return 2;
    }
  }
  if (dir.empty()) {
    dir = (std::filesystem::temp_directory_path() / "tessera-accuracy-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) return 1;
  }
  using namespace tessera::identity;
  const testing::IdentityPopulation population = testing::GenerateIdentityPopulation(seed, people, options);
  IdentityRules rules = rules_on ? IdentityRules::Defaults() : IdentityRules::WithoutJunkAndDeviceRules();
  if (weak_rule) rules.weak_types = {"phone"};
  auto run = testing::RunAccuracy(population, rules, dir + "/store");
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  if (!run.ok()) {
    std::fprintf(stderr, "tessera-identity-accuracy: %s\n", std::string(run.status().message()).c_str());
    return 1;
  }
  const testing::Accuracy& a = run->accuracy;
  std::printf("rules: %s%s\npeople: %d  events: %lld  families sharing a tablet: %lld  recycled phones: %lld  junk events: %lld\n",
              rules_on ? "default" : "without shared-device and junk rules", weak_rule ? ", with the weak-phone rule" : "", people,
              static_cast<long long>(run->events), static_cast<long long>(population.families),
              static_cast<long long>(population.recycled_phones), static_cast<long long>(population.junk_events));
  std::printf("identifiers scored: %lld  profiles: %lld  merges: %lld  violations: %lld\n",
              static_cast<long long>(a.identifiers), static_cast<long long>(a.profiles),
              static_cast<long long>(run->merges), static_cast<long long>(run->violations));
  std::printf("pairwise precision: %.5f%%  (%lld of %lld predicted pairs)\n", 100 * a.precision,
              static_cast<long long>(a.correct_pairs), static_cast<long long>(a.predicted_pairs));
  std::printf("pairwise recall:    %.5f%%  (%lld of %lld true pairs)\n", 100 * a.recall,
              static_cast<long long>(a.correct_pairs), static_cast<long long>(a.true_pairs));
  std::printf("resolve + commit: %.1f s (%.0f events/s, one thread)\n", run->seconds,
              static_cast<double>(run->events) / run->seconds);
  return 0;
}
