// tessera-identity-accuracy --people N --seed S [--no-rules] [--no-weak-phone-rule] [--dir DIR]: generates an identity
// population with ground truth (identity_population.h), resolves it over a real RocksDB and prints
// pairwise precision and recall. docs/identity.md has the method and the measured numbers.
// --wrong N also prints the wrong pairs by what ties the people together, and N of the profiles that
// join people; --in-time-order resolves the events in event-time order instead of arrival order.
#include <algorithm>
#include <cstdio>
#include <map>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/identifier.h"
#include "tests/identity/identity_accuracy.h"

namespace {

using tessera::identity::testing::kSharedIdentifier;

// What ties the people of a wrong profile: the identifiers it holds that several people own.
std::string Cause(const tessera::identity::testing::WrongProfile& p) {
  std::string cause;
  auto add = [&](const char* what) {
    if (cause.find(what) == std::string::npos) cause += cause.empty() ? what : std::string(" + ") + what;
  };
  for (const auto& [identifier, person] : p.identifiers) {
    if (person != kSharedIdentifier) continue;
    if (absl::StartsWith(identifier, "anonymous_id:tablet")) {
      add("family tablet");
    } else if (absl::StartsWith(identifier, "phone:")) {
      add("recycled phone");
    } else {
      add("junk value");
    }
  }
  return cause.empty() ? "nothing shared left in it" : cause;
}

void PrintWrongProfiles(const tessera::identity::testing::IdentityPopulation& population,
                        const tessera::identity::testing::AccuracyRun& run, int sample) {
  const auto wrong = tessera::identity::testing::WrongProfiles(population, run);
  std::map<std::string, std::pair<int64_t, int64_t>> by_cause;  // profiles, wrong pairs
  for (const auto& p : wrong) {
    auto& [profiles, pairs] = by_cause[Cause(p)];
    ++profiles;
    pairs += p.wrong_pairs;
  }
  std::printf("wrong pairs by what ties the people (profiles, wrong pairs):\n");
  for (const auto& [cause, counts] : by_cause) {
    std::printf("  %-40s %6lld %8lld\n", cause.c_str(), static_cast<long long>(counts.first),
                static_cast<long long>(counts.second));
  }
  // First event time and arrival position of the sampled identifiers.
  absl::flat_hash_map<std::string, std::pair<int64_t, size_t>> first;
  for (int k = 0; k < sample && k < static_cast<int>(wrong.size()); ++k) {
    for (const auto& [identifier, person] : wrong[static_cast<size_t>(k)].identifiers) first[identifier] = {INT64_MAX, 0};
  }
  for (size_t at = 0; at < population.events.size(); ++at) {
    const auto& event = population.events[at];
    for (const auto& id : event.identifiers()) {
      auto it = first.find(tessera::FormatIdentifier(id));
      if (it != first.end() && event.timestamp_ms() < it->second.first) it->second = {event.timestamp_ms(), at};
    }
  }
  for (int k = 0; k < sample && k < static_cast<int>(wrong.size()); ++k) {
    const auto& p = wrong[static_cast<size_t>(k)];
    std::printf("profile %llu: %lld wrong pairs (%s)\n", static_cast<unsigned long long>(p.profile),
                static_cast<long long>(p.wrong_pairs), Cause(p).c_str());
    for (const auto& [identifier, person] : p.identifiers) {
      const auto& [time_ms, at] = first[identifier];
      std::printf("    %-44s person %-7d first seen day %5.2f, arrived #%zu\n", identifier.c_str(), person,
                  static_cast<double>(time_ms - 1'767'225'600'000) / 86'400'000.0, at);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int people = 100000;
  uint64_t seed = 1;
  bool rules_on = true;
  bool weak_rule = true;  // --no-weak-phone-rule: without the recycled-number rule (weak_types: [])
  bool in_time_order = false;
  int wrong_sample = -1;
  int weak_quiet_days = -1;  // -1: the rules' own
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
    } else if (arg == "--no-weak-phone-rule") {
      weak_rule = false;
    } else if (arg == "--weak-quiet-days" && has_value && absl::SimpleAtoi(argv[i + 1], &weak_quiet_days)) {
      ++i;
    } else if (arg == "--in-time-order") {
      in_time_order = true;
    } else if (arg == "--wrong" && has_value && absl::SimpleAtoi(argv[i + 1], &wrong_sample)) {
      ++i;
    } else {
      std::fprintf(stderr, "usage: tessera-identity-accuracy --people N --seed S [--no-rules] [--no-weak-phone-rule] [--dir DIR]\n"
                           "  [--recycled-phone-rate 0.002] [--family-rate 0.05] [--junk-rate 0.03] [--wrong N]\n"
                           "  [--in-time-order] [--weak-quiet-days D]\n");
      return 2;
    }
  }
  if (dir.empty()) {
    dir = (std::filesystem::temp_directory_path() / "tessera-accuracy-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) return 1;
  }
  using namespace tessera::identity;
  testing::IdentityPopulation population = testing::GenerateIdentityPopulation(seed, people, options);
  if (in_time_order) {
    std::stable_sort(population.events.begin(), population.events.end(),
                     [](const auto& a, const auto& b) { return a.timestamp_ms() < b.timestamp_ms(); });
  }
  IdentityRules rules = rules_on ? IdentityRules::Defaults() : IdentityRules::WithoutJunkAndDeviceRules();
  if (!weak_rule) rules.weak_types.clear();
  if (weak_quiet_days >= 0) rules.weak_quiet_days = weak_quiet_days;
  auto run = testing::RunAccuracy(population, rules, dir + "/store");
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  if (!run.ok()) {
    std::fprintf(stderr, "tessera-identity-accuracy: %s\n", std::string(run.status().message()).c_str());
    return 1;
  }
  const testing::Accuracy& a = run->accuracy;
  std::printf("rules: %s%s\npeople: %d  events: %lld  families sharing a tablet: %lld  recycled phones: %lld  junk events: %lld\n",
              rules_on ? "default" : "without shared-device and junk rules", weak_rule ? absl::StrCat(", phone weak after ", rules.weak_quiet_days, " quiet days").c_str()
                        : ", phone not weak",
              people,
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
  if (wrong_sample >= 0) PrintWrongProfiles(population, *run, wrong_sample);
  return 0;
}
