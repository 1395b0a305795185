// Pins ingest/collector/body_scan.h: the walk over simdjson's structural positions finds exactly the
// spans the byte scan finds, for any compact body, and white space anywhere outside strings sends a
// body to the byte scan.
#include "ingest/collector/body_scan.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace tessera::collector {
namespace {

// What a scan found, as text, so that two scans compare with EXPECT_EQ and print what differs.
std::vector<std::string> Spans(const ScannedBody& body) {
  std::vector<std::string> out;
  for (const RawMember& m : body.members) out.push_back("member " + std::string(m.key) + " = " + std::string(m.value));
  for (size_t i = 0; i < body.items.size(); ++i) {
    out.push_back("item " + std::to_string(i) + " = " + std::string(body.items[i]));
    for (const RawMember& m : body.MembersOf(i)) out.push_back("  " + std::string(m.key) + " = " + std::string(m.value));
    for (const RawMember& m : body.ContextOf(i)) out.push_back("  context's " + std::string(m.key) + " = " + std::string(m.value));
  }
  return out;
}

// Random JSON with what trips a scanner: escaped quotes and backslashes before a closing quote,
// punctuation and white space inside strings, Thai text, numbers spelled every way, empty and
// nested containers, non-object batch elements and a second "batch". Each token is written through
// `gap`, which puts white space between tokens (or nothing, for the compact form).
class RandomBody {
 public:
  explicit RandomBody(uint32_t seed) : random_(seed) {}

  // The same body twice: compact, and with random white space between tokens.
  std::pair<std::string, std::string> Next() {
    const uint32_t seed = static_cast<uint32_t>(random_());
    std::mt19937 a(seed), b(seed);
    std::string compact, spaced;
    Body(a, compact, false);
    Body(b, spaced, true);
    return {compact, spaced};
  }

 private:
  void Gap(std::mt19937& r, std::string& out, bool spaced) {
    static constexpr const char* kSpace[] = {"", " ", "\n  ", "\t", "\r\n"};
    const char* space = kSpace[r() % 5];  // drawn either way, so that both forms draw the same values
    if (spaced) out += space;
  }
  void String(std::mt19937& r, std::string& out) {
    static constexpr const char* kStrings[] = {
        "", "u-1", "Product Viewed", "a \\\"quoted\\\" word", "ends in a backslash \\\\", "\\\\\\\"",
        "{not: [an, object]}", "สมชาย ใจดี", "two  spaces\\tand a tab", "\\u0041\\n", "batch", ",:", "}", "]"};
    out += '"';
    out += kStrings[r() % (sizeof kStrings / sizeof *kStrings)];
    out += '"';
  }
  // `open`, `n` elements written by `element` with a ',' between them, `close`; white space (or
  // none) before each token.
  template <typename Element>
  void Container(std::mt19937& r, std::string& out, bool spaced, char open, char close, int n, Element element) {
    out += open;
    for (int i = 0; i < n; ++i) {
      if (i) Punctuation(r, out, spaced, ',');
      Gap(r, out, spaced);
      element();
    }
    Punctuation(r, out, spaced, close);
  }
  void Punctuation(std::mt19937& r, std::string& out, bool spaced, char c) {
    Gap(r, out, spaced);
    out += c;
  }
  void Value(std::mt19937& r, std::string& out, bool spaced, int depth) {
    static constexpr const char* kScalars[] = {"0", "-1", "201.00", "4.5e-3", "1E+2", "true", "false", "null"};
    const uint32_t kind = depth >= 4 ? r() % 2 : r() % 4;
    if (kind == 0) {
      out += kScalars[r() % 8];
    } else if (kind == 1) {
      String(r, out);
    } else if (kind == 2) {
      Object(r, out, spaced, depth + 1);
    } else {
      Container(r, out, spaced, '[', ']', static_cast<int>(r() % 4), [&] { Value(r, out, spaced, depth + 1); });
    }
  }
  void Object(std::mt19937& r, std::string& out, bool spaced, int depth) {
    Container(r, out, spaced, '{', '}', static_cast<int>(r() % 5), [&] {
      // "context" at any depth, sometimes twice and sometimes not an object: only a batch element's
      // first one has its members listed (ContextOf).
      if (r() % 4 == 0) out += R"("context")";
      else String(r, out);
      Punctuation(r, out, spaced, ':');
      Gap(r, out, spaced);
      Value(r, out, spaced, depth);
    });
  }
  // The body: "context" and "batch" members, a batch mostly of objects, sometimes not an array.
  void Body(std::mt19937& r, std::string& out, bool spaced) {
    Gap(r, out, spaced);
    Container(r, out, spaced, '{', '}', 1 + static_cast<int>(r() % 4), [&] {
      const uint32_t kind = r() % 3;
      out += kind == 0 ? R"("context")" : R"("batch")";
      Punctuation(r, out, spaced, ':');
      Gap(r, out, spaced);
      if (kind == 0) {
        Object(r, out, spaced, 1);
      } else if (kind == 1) {
        Container(r, out, spaced, '[', ']', static_cast<int>(r() % 6), [&] {
          if (r() % 5 == 0) Value(r, out, spaced, 1);
          else Object(r, out, spaced, 1);
        });
      } else {
        Value(r, out, spaced, 1);
      }
    });
    Gap(r, out, spaced);
  }

  std::mt19937 random_;
};

TEST(BodyScanTest, TheWalkOverStructuralPositionsFindsWhatTheByteScanFinds) {
  RandomBody bodies(20261207);
  simdjson::dom::parser parser;
  ScannedBody walked;
  int compared = 0, spaced_out = 0;
  size_t contexts_listed = 0;
  for (int round = 0; round < 3000; ++round) {
    const auto [compact, spaced] = bodies.Next();
    ASSERT_EQ(parser.parse(compact).error(), simdjson::SUCCESS) << compact;
    const std::span<const uint32_t> positions = StructuralPositions(parser);
    ASSERT_FALSE(positions.empty());
    ASSERT_TRUE(IsCompact(compact, positions)) << compact;
    ASSERT_TRUE(ScanCompactBody(compact, positions, walked)) << compact;  // reused: cleared by each walk
    ASSERT_EQ(Spans(walked), Spans(ScanBody(compact))) << compact;
    ++compared;
    contexts_listed += walked.item_contexts.size();

    ASSERT_EQ(parser.parse(spaced).error(), simdjson::SUCCESS) << spaced;
    EXPECT_EQ(CompactJson(spaced), compact);
    if (spaced != compact) {
      EXPECT_FALSE(IsCompact(spaced, StructuralPositions(parser))) << spaced;
      ++spaced_out;
    }
  }
  EXPECT_EQ(compared, 3000);
  EXPECT_GT(spaced_out, 2500);  // the generator does put white space in most spaced bodies
  EXPECT_GT(contexts_listed, 300u);   // and batch elements with a context object
}

TEST(BodyScanTest, WhiteSpaceAnywhereOutsideStringsIsNotCompact) {
  simdjson::dom::parser parser;
  auto compact = [&](std::string_view json) {
    EXPECT_EQ(parser.parse(json.data(), json.size()).error(), simdjson::SUCCESS) << json;
    return IsCompact(json, StructuralPositions(parser));
  };
  EXPECT_TRUE(compact(R"({"batch":[{"a":"x y","b":[1,true,null]},{}],"c":{"d":" "}})"));
  EXPECT_TRUE(compact(R"({"a":"ends in a space ","b":"\" ","c":"\\"})"));
  EXPECT_FALSE(compact(R"( {"a":1})"));
  EXPECT_FALSE(compact("{\"a\":1}\n"));
  EXPECT_FALSE(compact(R"({"a" :1})"));
  EXPECT_FALSE(compact(R"({"a": 1})"));
  EXPECT_FALSE(compact(R"({"a":1 })"));
  EXPECT_FALSE(compact(R"({"a":"x" ,"b":2})"));
  EXPECT_FALSE(compact(R"({"a":[1, 2]})"));
  EXPECT_FALSE(compact(R"({"a":[1 ]})"));
  EXPECT_FALSE(compact(R"({"a":{} ,"b":true})"));
  EXPECT_FALSE(compact("{\"a\":true\t}"));
  EXPECT_FALSE(compact("{\"a\":null\r}"));
}

TEST(BodyScanTest, AWalkThatDoesNotEndAtTheLastPositionIsRefused) {
  simdjson::dom::parser parser;
  const std::string json = R"({"batch":[{"a":1}],"b":"c"})";
  ASSERT_EQ(parser.parse(json).error(), simdjson::SUCCESS);
  const std::span<const uint32_t> positions = StructuralPositions(parser);
  ScannedBody body;
  ASSERT_TRUE(ScanCompactBody(json, positions, body));
  EXPECT_FALSE(ScanCompactBody(json, positions.first(positions.size() - 1), body));  // no closing '}'
  EXPECT_FALSE(ScanCompactBody(json, positions.subspan(1), body));                   // no opening '{'
  EXPECT_FALSE(ScanCompactBody(json, {}, body));
}

}  // namespace
}  // namespace tessera::collector
