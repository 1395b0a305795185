#include "common/json_writer.h"

#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace tessera {
namespace {

TEST(JsonWriterTest, WritesNestedContainersWithCommas) {
  JsonWriter w;
  w.BeginObject();
  w.Key("id").String("42");
  w.Key("counts").BeginObject().Key("web").Int(3).Key("social").Int(-1).EndObject();
  w.Key("ids").BeginArray().String("a").String("b").EndArray();
  w.Key("empty").BeginArray().EndArray();
  w.Key("ok").Bool(true).Key("none").Null().Key("raw").Raw("{\"x\":1}").Key("big").Uint(18446744073709551615ull);
  w.EndObject();
  EXPECT_EQ(w.str(),
            R"({"id":"42","counts":{"web":3,"social":-1},"ids":["a","b"],"empty":[],"ok":true,"none":null,)"
            R"("raw":{"x":1},"big":18446744073709551615})");
}

TEST(JsonWriterTest, EscapesWhatJsonRequiresAndKeepsThaiBytes) {
  std::string out;
  AppendJsonString("สมชาย \"ใจดี\"\\\n\t\x01", out);
  EXPECT_EQ(out, "\"สมชาย \\\"ใจดี\\\"\\\\\\n\\t\\u0001\"");
}

TEST(JsonWriterTest, ReplacesInvalidUtf8SoOutputStaysValid) {
  std::string out;
  AppendJsonString(std::string("a\xff") + "b\xe0\xb8", out);  // a stray byte, then a truncated sequence
  EXPECT_EQ(out, "\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

// Any mix of plain runs, escapes, Thai and invalid bytes is written as the concatenation of each
// piece's own form: the fast path for plain runs must split and resume exactly at every boundary.
TEST(JsonWriterTest, MixedStringsEscapePieceByPiece) {
  const std::vector<std::pair<std::string, std::string>> pieces = {
      {"a", "a"},           {"order-123 ", "order-123 "}, {"\"", "\\\""},      {"\\", "\\\\"},
      {"\n", "\\n"},       {"\x01", "\\u0001"},        {"\x1f", "\\u001f"},     {"ก", "ก"},
      {"\xFF", "\xEF\xBF\xBD"}, {"~", "~"},                {"\x7f", "\x7f"},       {"", ""}};
  std::mt19937 rng(3);
  for (int round = 0; round < 5000; ++round) {
    std::string value, expected = "\"";
    const int count = static_cast<int>(rng() % 12);
    for (int i = 0; i < count; ++i) {
      const auto& [raw, escaped] = pieces[rng() % pieces.size()];
      value += raw;
      expected += escaped;
    }
    expected += "\"";
    std::string out = "prefix:";
    AppendJsonString(value, out);
    ASSERT_EQ(out, "prefix:" + expected) << round;
  }
}

}  // namespace
}  // namespace tessera
