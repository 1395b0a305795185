// A small streaming JSON writer: the output side of Tessera (profile JSON, DLQ reasons, HTTP
// answers). Parsing is simdjson's job; this only writes. Strings are written as UTF-8 with the
// characters JSON requires escaped; invalid UTF-8 is replaced by U+FFFD so output is always valid.
//
// Not thread-safe; one writer per document.
//
//   JsonWriter w;
//   w.BeginObject();
//   w.Key("id").String("42");
//   w.Key("total_spend").BeginObject().Key("THB").String("1250.00").EndObject();
//   w.EndObject();
//   std::string json = std::move(w).Take();
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Inserts already-valid JSON text (e.g. a stored trait value) as one value.
  JsonWriter& Raw(std::string_view json);

  const std::string& str() const { return out_; }
  std::string Take() && { return std::move(out_); }

 private:
  // What goes before the next value: a comma after an earlier member or element, nothing first or
  // after a key. Records that a value follows.
  char Separator();
  void BeforeValue();  // appends Separator()

  std::string out_;
  // One entry per open container: true once it holds an element (a comma is due).
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

// Appends `value` to `out` as a JSON string literal, quotes included.
void AppendJsonString(std::string_view value, std::string& out);

// Whether `value` is printable ASCII with nothing to escape, so that it goes into a JSON string as
// it is (tested eight bytes at a time: AppendJsonString's own fast path).
bool IsPlainJsonAscii(std::string_view value);

}  // namespace tessera
