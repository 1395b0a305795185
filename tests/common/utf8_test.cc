#include "common/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace tessera {
namespace {

TEST(Utf8PrefixTest, ShortTextIsWhole) {
  EXPECT_EQ(Utf8Prefix("abc", 3), "abc");
  EXPECT_EQ(Utf8Prefix("", 0), "");
  EXPECT_EQ(Utf8Prefix("กข", 6), "กข");
}

TEST(Utf8PrefixTest, AsciiIsCutAtTheLimit) { EXPECT_EQ(Utf8Prefix("abcdef", 4), "abcd"); }

TEST(Utf8PrefixTest, AThaiCharacterIsNeverSplit) {
  const std::string thai = "กขค";  // 3 bytes each
  EXPECT_EQ(Utf8Prefix(thai, 3), "ก");
  EXPECT_EQ(Utf8Prefix(thai, 4), "ก");
  EXPECT_EQ(Utf8Prefix(thai, 5), "ก");
  EXPECT_EQ(Utf8Prefix(thai, 6), "กข");
  EXPECT_EQ(Utf8Prefix(thai, 2), "");
}

TEST(Utf8PrefixTest, FourByteCharactersAndMixedText) {
  const std::string text = "a😀b";  // 1 + 4 + 1 bytes
  EXPECT_EQ(Utf8Prefix(text, 1), "a");
  EXPECT_EQ(Utf8Prefix(text, 4), "a");
  EXPECT_EQ(Utf8Prefix(text, 5), "a😀");
}

TEST(QuoteForDetailTest, QuotesWholeOrCutAndMarked) {
  EXPECT_EQ(QuoteForDetail("abc"), "'abc'");
  EXPECT_EQ(QuoteForDetail(""), "''");
  EXPECT_EQ(QuoteForDetail(std::string(64, 'x')), "'" + std::string(64, 'x') + "'");
  EXPECT_EQ(QuoteForDetail(std::string(65, 'x')), "'" + std::string(64, 'x') + "...'");
  std::string thai_22, thai_21;  // 66 and 63 bytes
  for (int i = 0; i < 22; ++i) thai_22 += "ก";
  for (int i = 0; i < 21; ++i) thai_21 += "ก";
  EXPECT_EQ(QuoteForDetail(thai_22), "'" + thai_21 + "...'");
}

}  // namespace
}  // namespace tessera
