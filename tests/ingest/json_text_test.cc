// Pins ingest/json_text.cc: reading the compact JSON ingest keeps for traits and properties.
#include "ingest/json_text.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tessera::ingest {
namespace {

TEST(JsonTextTest, KindsAndIntegers) {
  EXPECT_EQ(JsonKind("null"), JsonValueKind::kNull);
  EXPECT_EQ(JsonKind("false"), JsonValueKind::kBoolean);
  EXPECT_EQ(JsonKind("-1.5e3"), JsonValueKind::kNumber);
  EXPECT_EQ(JsonKind(R"("x")"), JsonValueKind::kString);
  EXPECT_EQ(JsonKind("[1]"), JsonValueKind::kArray);
  EXPECT_EQ(JsonKind("{}"), JsonValueKind::kObject);
  EXPECT_EQ(JsonKind(""), JsonValueKind::kInvalid);
  EXPECT_TRUE(IsJsonInteger("-42"));
  EXPECT_FALSE(IsJsonInteger("4.0"));
  EXPECT_FALSE(IsJsonInteger("4e2"));
  EXPECT_FALSE(IsJsonInteger(R"("4")"));
}

TEST(JsonTextTest, UnescapesStrings) {
  EXPECT_EQ(UnescapeJsonString(R"("plain")"), "plain");
  EXPECT_EQ(UnescapeJsonString(R"("a\"b\\c\/d\n\t")"), "a\"b\\c/d\n\t");
  EXPECT_EQ(UnescapeJsonString(R"("\u0e2a\u0e21")"), "สม");
  EXPECT_EQ(UnescapeJsonString(R"("\ud83d\ude00")"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(UnescapeJsonString(R"("สมชาย")"), "สมชาย");
  EXPECT_EQ(UnescapeJsonString(R"("\ud83d")"), std::nullopt);  // a lone surrogate
  EXPECT_EQ(UnescapeJsonString(R"("\q")"), std::nullopt);
  EXPECT_EQ(UnescapeJsonString("42"), std::nullopt);
}

TEST(JsonTextTest, IteratesTopLevelMembers) {
  std::vector<std::pair<std::string, std::string>> seen;
  EXPECT_TRUE(ForEachMember(R"({"a":1,"b\u00e9":{"c":[1,"}",{"d":"]"}]},"e":"x\"y,","f":null})",
                            [&](const std::string& key, std::string_view raw) {
                              seen.emplace_back(key, std::string(raw));
                              return true;
                            }));
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{
                      {"a", "1"}, {"bé", R"({"c":[1,"}",{"d":"]"}]})"}, {"e", R"("x\"y,")"}, {"f", "null"}}));
  EXPECT_TRUE(ForEachMember("{}", [](const std::string&, std::string_view) { return true; }));
  EXPECT_FALSE(ForEachMember("[1]", [](const std::string&, std::string_view) { return true; }));
  EXPECT_FALSE(ForEachMember(R"({"a":1)", [](const std::string&, std::string_view) { return true; }));
  int calls = 0;
  ForEachMember(R"({"a":1,"b":2})", [&](const std::string&, std::string_view) { return ++calls < 1; });
  EXPECT_EQ(calls, 1);  // stops when told
}

TEST(JsonTextTest, RepeatedNamesAnswersFalseOnlyForANameAddedBefore) {
  RepeatedNames names;
  // More names than the inline capacity, many of them colliding in the filter (same length, same
  // first and last byte), and the empty name.
  std::vector<std::string> added;
  for (char middle = 'a'; middle <= 'z'; ++middle) added.push_back(std::string("k") + middle + "z");
  added.push_back("");
  added.push_back("kz");
  for (const std::string& name : added) EXPECT_TRUE(names.Add(name)) << name;
  for (const std::string& name : added) EXPECT_FALSE(names.Add(name)) << name;
  EXPECT_TRUE(names.Add("kAz"));  // case matters
  EXPECT_FALSE(names.Add("kAz"));
}

}  // namespace
}  // namespace tessera::ingest
