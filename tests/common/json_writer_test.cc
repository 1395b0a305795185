#include "common/json_writer.h"

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

}  // namespace
}  // namespace tessera
