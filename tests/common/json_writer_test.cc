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
      {"\xFF", "\xEF\xBF\xBD"}, {"~", "~"},                {"\x7f", "\x7f"},       {"", ""},
      {"สมชาย", "สมชาย"},  {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80"},  // Thai and a 4-byte emoji: whole runs
      {"\xE0\xB8", "\xEF\xBF\xBD\xEF\xBF\xBD"},  // a truncated sequence: each byte replaced
      {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"}};  // a surrogate is not UTF-8
  std::mt19937 rng(3);
  for (int round = 0; round < 5000; ++round) {
    std::string value, expected = "\"";
    const int count = static_cast<int>(rng() % 24);  // long enough to cross several 8-byte words
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

// The fast path scans eight bytes at a time: an escape at any offset of a word, in ASCII and in
// Thai text, is found and the bytes around it kept.
TEST(JsonWriterTest, FindsAnEscapeAtEveryOffsetOfEveryWord) {
  const std::vector<std::pair<char, std::string>> escapes = {
      {'"', "\\\""}, {'\\', "\\\\"}, {'\n', "\\n"}, {'\x1f', "\\u001f"}, {'\x00', "\\u0000"}};
  for (const std::string& filler : {std::string("abcdefgh"), std::string("กขค")}) {
    std::string text;
    while (text.size() < 40) text += filler;
    for (size_t offset = 0; offset <= text.size(); ++offset) {
      for (const auto& [raw, escaped] : escapes) {
        std::string value = text;
        value.insert(offset, 1, raw);
        std::string out;
        AppendJsonString(value, out);
        const size_t letter_bytes = filler == "abcdefgh" ? 1 : 3;
        if (offset % letter_bytes == 0) {  // not inside a Thai letter
          ASSERT_EQ(out, "\"" + text.substr(0, offset) + escaped + text.substr(offset) + "\"") << offset;
        } else {  // a byte inside a letter: no longer UTF-8, repaired, but the escape is still found
          ASSERT_NE(out.find(escaped), std::string::npos) << offset;
        }
      }
    }
  }
}

// Keys and strings go in with their comma and colon: short plain ones in one piece from the stack,
// longer or escaped ones the general way. Every length on both sides of the boundary, first and later
// in objects and arrays, gives the same text as quoting the pieces one by one.
TEST(JsonWriterTest, KeysAndStringsOfEveryLengthAroundTheShortPath) {
  for (size_t length = 0; length <= 130; ++length) {
    const std::string plain(length, 'k');
    std::string escaped = plain;
    escaped.insert(length / 2, "\"");
    std::string quoted_plain, quoted_escaped;
    AppendJsonString(plain, quoted_plain);
    AppendJsonString(escaped, quoted_escaped);
    ASSERT_EQ(quoted_plain, "\"" + plain + "\"");
    JsonWriter w;
    w.BeginObject();
    w.Key(plain).String(escaped);
    w.Key(escaped).String(plain);
    w.Key("list").BeginArray().String(plain).String(escaped).String(plain).EndArray();
    w.EndObject();
    ASSERT_EQ(w.str(), "{" + quoted_plain + ":" + quoted_escaped + "," + quoted_escaped + ":" + quoted_plain +
                           ",\"list\":[" + quoted_plain + "," + quoted_escaped + "," + quoted_plain + "]}")
        << length;
  }
}

TEST(IsPlainJsonAsciiTest, AnswersForEveryLengthAndEveryPosition) {
  EXPECT_TRUE(IsPlainJsonAscii(""));
  // Each length from 1 to 20 (words, overlapping last words, short padded ones), with the one byte
  // that needs escaping or is not ASCII at each position in turn.
  for (size_t size = 1; size <= 20; ++size) {
    const std::string plain(size, 'a');
    EXPECT_TRUE(IsPlainJsonAscii(plain)) << size;
    EXPECT_TRUE(IsPlainJsonAscii(std::string(size, '\x7f'))) << size;  // DEL needs no escape
    for (size_t at = 0; at < size; ++at) {
      for (char bad : {'"', '\\', '\n', '\x01', '\x1f', static_cast<char>(0xE0), static_cast<char>(0x80)}) {
        std::string text = plain;
        text[at] = bad;
        EXPECT_FALSE(IsPlainJsonAscii(text)) << size << " " << at << " " << static_cast<int>(bad);
      }
    }
  }
  EXPECT_TRUE(IsPlainJsonAscii("2026-12-06T23:17:00.000Z"));
  EXPECT_FALSE(IsPlainJsonAscii("สมชาย"));
}

}  // namespace
}  // namespace tessera
