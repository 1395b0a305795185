#include "ingest/collector/body_scan.h"

#include <algorithm>

namespace tessera::collector {
namespace {

// ---- The byte scan: a step per byte, white space between tokens skipped.

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t SkipSpace(std::string_view json, size_t i) {
  while (i < json.size() && IsJsonSpace(json[i])) ++i;
  return i;
}

// The index of the quote that closes the string whose text starts at json[i] (after its opening
// quote), or json.size(). A tight loop of its own: strings are most of the bytes, and most are too
// short for memchr's call to pay.
size_t ClosingQuote(std::string_view json, size_t i) {
  for (; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '\\') {
      ++i;  // the escaped character, whatever it is
    } else if (c == '"') {
      return i;
    }
  }
  return json.size();
}

// The end (one past) of the value starting at json[i] (valid JSON assumed).
size_t ValueEnd(std::string_view json, size_t i) {
  int depth = 0;
  for (; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '"') {
      i = ClosingQuote(json, i + 1);
      if (depth == 0) return std::min(i + 1, json.size());
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
      if (depth < 0) return i;  // end of a scalar that closes its container
    } else if (depth == 0 && (c == ',' || IsJsonSpace(c))) {
      return i;
    }
  }
  return i;
}

// At a member's key (json[i] is its opening quote): sets *key to its text between the quotes and
// returns where its value starts.
size_t MemberKey(std::string_view json, size_t i, std::string_view* key) {
  const size_t key_end = ClosingQuote(json, i + 1) + 1;
  *key = json.substr(i + 1, key_end - i - 2);
  i = SkipSpace(json, key_end);
  return SkipSpace(json, i + 1);  // past the ':'
}

// Past the white space and the ',' (if any) after an element or member that ends at json[i].
size_t NextElement(std::string_view json, size_t i) {
  i = SkipSpace(json, i);
  return i < json.size() && json[i] == ',' ? SkipSpace(json, i + 1) : i;
}

// Appends the members of the object whose text starts at json[i] ('{'; valid JSON assumed) to
// `out`; returns the index one past its closing '}'.
size_t ScanObject(std::string_view json, size_t i, std::vector<RawMember>& out) {
  i = SkipSpace(json, i + 1);
  while (i < json.size() && json[i] == '"') {
    std::string_view key;
    i = MemberKey(json, i, &key);
    const size_t value_end = ValueEnd(json, i);
    out.push_back({key, json.substr(i, value_end - i)});
    i = NextElement(json, value_end);
  }
  return std::min(i + 1, json.size());  // past the '}'
}

}  // namespace

// Valid JSON text without white space outside strings, copied in runs between white space (a
// tracker's request is usually one run). Applied once to a whole request body.
std::string CompactJson(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  size_t run = 0;  // where the bytes not yet copied start
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '"') {
      i = ClosingQuote(json, i + 1);  // strings, quotes included, are copied as sent
    } else if (IsJsonSpace(c)) {
      out.append(json.data() + run, i - run);
      run = i + 1;
    }
  }
  if (run < json.size()) out.append(json.data() + run, json.size() - run);
  return out;
}

// The members of the object whose text is `json` (valid JSON assumed).
std::vector<RawMember> ObjectMembers(std::string_view json) {
  std::vector<RawMember> members;
  const size_t i = SkipSpace(json, 0);
  if (i < json.size() && json[i] == '{') ScanObject(json, i, members);
  return members;
}

// `json`: a whole compact body (valid JSON assumed). Elements of "batch" that are not objects get
// no members (Build refuses them from the DOM). Of two "batch" members the first is read, as
// MemberValue reads the first of any name.
ScannedBody ScanBody(std::string_view json) {
  ScannedBody body;
  bool batch_seen = false;
  size_t i = SkipSpace(json, 0);
  if (i >= json.size() || json[i] != '{') return body;
  i = SkipSpace(json, i + 1);
  while (i < json.size() && json[i] == '"') {
    std::string_view key;
    i = MemberKey(json, i, &key);
    const bool first_batch = key == "batch" && !batch_seen;
    batch_seen |= key == "batch";
    size_t value_end;
    if (first_batch && i < json.size() && json[i] == '[') {
      body.item_begin.assign(1, 0);
      body.context_begin.assign(1, 0);
      size_t j = SkipSpace(json, i + 1);
      while (j < json.size() && json[j] != ']') {
        const size_t end = json[j] == '{' ? ScanObject(json, j, body.item_members) : ValueEnd(json, j);
        body.items.push_back(json.substr(j, end - j));
        const std::span<const RawMember> members =
            std::span<const RawMember>(body.item_members).subspan(body.item_begin.back());
        const auto context = std::find_if(members.begin(), members.end(), [](const RawMember& m) { return m.key == "context"; });
        if (context != members.end() && !context->value.empty() && context->value.front() == '{') {
          ScanObject(json, static_cast<size_t>(context->value.data() - json.data()), body.item_contexts);
        }
        body.item_begin.push_back(body.item_members.size());
        body.context_begin.push_back(body.item_contexts.size());
        j = NextElement(json, end);
      }
      value_end = std::min(j + 1, json.size());  // past the ']'
    } else {
      value_end = ValueEnd(json, i);
    }
    body.members.push_back({key, json.substr(i, value_end - i)});
    i = NextElement(json, value_end);
  }
  return body;
}

// ---- The same spans from simdjson's own index of the text. Stage 1 of its parse records where every
// structural character ({}[]:,) and every string (its opening quote) and scalar begins; walking those
// positions finds each member and message in a few thousand steps a batch instead of a step per byte
// (CompactJson, ValueEnd and ScanObject were over a third of Prepare). It holds for compact text only
// (a span then ends where the next structural begins), which trackers send (JSON.stringify); a body
// with white space outside strings takes the byte scan above.

// The structural positions of the document `parser` parsed last, or an empty span if this simdjson
// keeps none. (`implementation` is public but documented as simdjson's own: Debian's 3.0.1 is the
// version built against, and Prepare falls back to the byte scan whenever the walk below disagrees
// with the text.)
std::span<const uint32_t> StructuralPositions(const simdjson::dom::parser& parser) {
  if (parser.implementation == nullptr || parser.implementation->structural_indexes == nullptr) return {};
  return {parser.implementation->structural_indexes.get(), parser.implementation->n_structural_indexes};
}

// Whether `json` (valid JSON, `at` its structural positions) has no white space outside strings. In
// valid JSON only white space can stand between the end of one token and the start of the next, so
// the text is compact exactly when it starts and ends with a token and the byte before each token is
// not white space (it is then the previous token's last byte: a quote, punctuation, a digit or a
// letter of true/false/null), never a control character, so "at most a space" is "white space". One
// load and compare a position, no branch on the token's kind.
bool IsCompact(std::string_view json, std::span<const uint32_t> at) {
  if (at.empty() || at.front() != 0 || at.back() + 1 != json.size()) return false;
  const auto* bytes = reinterpret_cast<const unsigned char*>(json.data());
  unsigned space_before_a_token = 0;
  for (size_t k = 1; k < at.size(); ++k) space_before_a_token |= bytes[at[k] - 1] <= ' ';
  return space_before_a_token == 0;
}

namespace {

// ScanBody over structural positions. Each method takes the value at position k_ and leaves k_ past
// it; returns one past its last byte. `ok()` is false if the walk ran off the positions, which valid
// compact JSON never makes it do.
class StructuralScan {
 public:
  StructuralScan(std::string_view json, std::span<const uint32_t> at) : json_(json), at_(at) {}

  bool ok() const { return ok_ && k_ == at_.size(); }

  void Body(ScannedBody& body) {
    body.members.clear();
    body.items.clear();
    body.item_members.clear();
    body.item_begin.clear();
    body.item_contexts.clear();
    body.context_begin.clear();
    if (!Is('{')) {
      ok_ = false;
      return;
    }
    bool batch_seen = false;
    ++k_;
    while (Is('"')) {
      const std::string_view key = Key();
      const bool first_batch = key == "batch" && !batch_seen;
      batch_seen |= key == "batch";
      const size_t value_begin = Pos();
      size_t value_end;
      if (first_batch && Is('[')) {
        body.item_begin.assign(1, 0);
        body.context_begin.assign(1, 0);
        ++k_;
        while (ok_ && k_ < at_.size() && !Is(']')) {
          const size_t begin = Pos();
          const size_t end = Is('{') ? Item(body) : Skip();
          body.items.push_back(json_.substr(begin, end - begin));
          body.item_begin.push_back(body.item_members.size());
          body.context_begin.push_back(body.item_contexts.size());
          if (Is(',')) ++k_;
        }
        value_end = Close(']');
      } else {
        value_end = Skip();
      }
      body.members.push_back({key, json_.substr(value_begin, value_end - value_begin)});
      if (Is(',')) ++k_;
    }
    Close('}');
  }

 private:
  bool Is(char c) const { return k_ < at_.size() && json_[at_[k_]] == c; }
  size_t Pos() const { return k_ < at_.size() ? at_[k_] : json_.size(); }
  // At a closing `c`: one past it.
  size_t Close(char c) {
    if (!Is(c)) {
      ok_ = false;
      return json_.size();
    }
    return at_[k_++] + 1;
  }
  // At a member's key: its text between the quotes (the ':' follows the closing quote at once).
  std::string_view Key() {
    const size_t begin = at_[k_++] + 1;
    if (!Is(':')) {
      ok_ = false;
      return {};
    }
    const size_t colon = at_[k_++];
    return json_.substr(begin, colon - 1 - begin);
  }
  // A batch element that is an object: its members to body.item_members, and the members of its
  // first "context" member, if that is an object, to body.item_contexts.
  size_t Item(ScannedBody& body) {
    ++k_;
    bool context_seen = false;
    while (ok_ && Is('"')) {
      const std::string_view key = Key();
      const bool first_context = !context_seen && key == "context";
      context_seen |= first_context;
      const size_t begin = Pos();
      const size_t end = first_context && Is('{') ? Object(body.item_contexts) : Skip();
      body.item_members.push_back({key, json_.substr(begin, end - begin)});
      if (Is(',')) ++k_;
    }
    return Close('}');
  }
  // Appends the members of the object at k_ to `out`.
  size_t Object(std::vector<RawMember>& out) {
    ++k_;
    while (ok_ && Is('"')) {
      const std::string_view key = Key();
      const size_t begin = Pos();
      const size_t end = Skip();
      out.push_back({key, json_.substr(begin, end - begin)});
      if (Is(',')) ++k_;
    }
    return Close('}');
  }
  // Any value: a container to its matching close, a string or scalar to the next structural.
  size_t Skip() {
    if (k_ >= at_.size()) {
      ok_ = false;
      return json_.size();
    }
    const char c = json_[at_[k_]];
    if (c != '{' && c != '[') {
      ++k_;
      return Pos();
    }
    int depth = 0;
    for (; k_ < at_.size(); ++k_) {
      const char d = json_[at_[k_]];
      if (d == '{' || d == '[') {
        ++depth;
      } else if ((d == '}' || d == ']') && --depth == 0) {
        return at_[k_++] + 1;
      }
    }
    ok_ = false;
    return json_.size();
  }

  std::string_view json_;
  std::span<const uint32_t> at_;
  size_t k_ = 0;
  bool ok_ = true;
};

}  // namespace

bool ScanCompactBody(std::string_view json, std::span<const uint32_t> positions, ScannedBody& body) {
  StructuralScan scan(json, positions);
  scan.Body(body);
  return scan.ok();
}

}  // namespace tessera::collector
