// Measured accuracy at small scale, over a real RocksDB: with the default rules the profiles match
// the ground truth of identity_population.h to the bar; without the shared-device and junk
// rules precision falls (the rules earn their place).
#include "tests/identity/identity_accuracy.h"

#include <filesystem>

#include "gtest/gtest.h"

namespace tessera::identity::testing {
namespace {

std::string FreshDir(const std::string& name) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           (name + "-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
                            std::to_string(reinterpret_cast<uintptr_t>(&name))))
                              .string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Families, junk and late events, without recycled phone numbers: the bar.
TEST(IdentityAccuracyTest, DefaultRulesMeetTheBarAndTheRulesEarnTheirPlace) {
  PopulationOptions options;
  options.recycled_phone_rate = 0;
  const IdentityPopulation population = GenerateIdentityPopulation(/*seed=*/3, /*people=*/3000, options);
  ASSERT_GT(population.events.size(), 30000u);
  ASSERT_GT(population.families, 5);
  ASSERT_GT(population.junk_events, 50);

  const std::string dir = FreshDir("tessera-accuracy-test");
  auto with_rules = RunAccuracy(population, IdentityRules::Defaults(), dir + "/rules");
  ASSERT_TRUE(with_rules.ok()) << with_rules.status();
  auto without = RunAccuracy(population, IdentityRules::WithoutJunkAndDeviceRules(), dir + "/none");
  ASSERT_TRUE(without.ok()) << without.status();
  std::filesystem::remove_all(dir);

  const Accuracy& a = with_rules->accuracy;
  EXPECT_GE(a.precision, 0.999) << a.correct_pairs << " of " << a.predicted_pairs;
  EXPECT_GE(a.recall, 0.99) << a.correct_pairs << " of " << a.true_pairs;
  EXPECT_GT(with_rules->violations, 0);
  EXPECT_LT(without->accuracy.precision, a.precision - 0.005)
      << "without the rules, junk values and shared tablets should glue strangers together";
}

// Recycled phone numbers (docs/identity.md): with the weak-identifier rule (on by default for
// phones) a number alone never joins a customer's identifiers, established or brand-new, to a
// profile whose history ended more than 7 days before. Ten times the default rate of recycled
// numbers, so the rule has something to do at this scale.
TEST(IdentityAccuracyTest, TheWeakPhoneRuleKeepsRecycledNumbersFromGluingCustomers) {
  PopulationOptions options;
  options.recycled_phone_rate = 0.02;
  const IdentityPopulation population = GenerateIdentityPopulation(/*seed=*/3, /*people=*/3000, options);
  ASSERT_GT(population.recycled_phones, 30);
  const std::string dir = FreshDir("tessera-accuracy-recycled");
  IdentityRules strong_phone = IdentityRules::Defaults();
  strong_phone.weak_types.clear();
  auto with_rule = RunAccuracy(population, IdentityRules::Defaults(), dir + "/rules");
  ASSERT_TRUE(with_rule.ok()) << with_rule.status();
  auto without = RunAccuracy(population, strong_phone, dir + "/no-weak");
  ASSERT_TRUE(without.ok()) << without.status();
  std::filesystem::remove_all(dir);
  const Accuracy& a = with_rule->accuracy;
  const Accuracy& b = without->accuracy;
  EXPECT_GE(a.recall, 0.99) << a.correct_pairs << " of " << a.true_pairs;
  // Measured: 98.98% with the rule, 98.24% without (recall 99.48% and 99.64%).
  EXPECT_GT(a.precision, b.precision + 0.005) << "with: " << a.precision << " without: " << b.precision;
  EXPECT_GT(a.recall, b.recall - 0.01);
}

TEST(IdentityAccuracyTest, TheMeasureItselfScoresKnownPartitions) {
  IdentityPopulation p;
  p.owner = {{"a:1", 0}, {"a:2", 0}, {"a:3", 0}, {"b:1", 1}, {"b:2", 1}, {"s:1", kSharedIdentifier}};
  // Perfect.
  Accuracy perfect = MeasureAccuracy(p, {{"a:1", 1}, {"a:2", 1}, {"a:3", 1}, {"b:1", 2}, {"b:2", 2}, {"s:1", 1}});
  EXPECT_EQ(perfect.precision, 1);
  EXPECT_EQ(perfect.recall, 1);
  EXPECT_EQ(perfect.true_pairs, 4);
  // Everything in one profile: 4 of 10 pairs right.
  Accuracy glued = MeasureAccuracy(p, {{"a:1", 1}, {"a:2", 1}, {"a:3", 1}, {"b:1", 1}, {"b:2", 1}});
  EXPECT_DOUBLE_EQ(glued.precision, 0.4);
  EXPECT_EQ(glued.recall, 1);
  // a:3 unresolved: 2 of its pairs lost.
  Accuracy split = MeasureAccuracy(p, {{"a:1", 1}, {"a:2", 1}, {"b:1", 2}, {"b:2", 2}});
  EXPECT_EQ(split.precision, 1);
  EXPECT_DOUBLE_EQ(split.recall, 0.5);
}

}  // namespace
}  // namespace tessera::identity::testing
