// Cutting user text for messages without breaking its characters.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

namespace tessera {

// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a UTF-8
// sequence: what error details quote of a sent value. A cut in the middle of a Thai character's
// three bytes would put invalid UTF-8 into a JSON reply or a dead-letter reason.
inline std::string_view Utf8Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t cut = max_bytes;  // text[cut] is the first byte left out: back up while it continues a character
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut);
}

}  // namespace tessera
