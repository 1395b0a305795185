// Cutting user text for messages without breaking its characters.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
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

// How much of a sent value a rejection detail quotes (a dead letter keeps the whole payload anyway).
inline constexpr size_t kMaxQuotedBytes = 64;

// `text` in single quotes for a rejection detail: whole, or its first kMaxQuotedBytes at most (whole
// characters) and "..." when cut. Ingest and the collector both quote with it, so the same input
// gets the same detail from either.
inline std::string QuoteForDetail(std::string_view text) {
  const std::string_view shown = Utf8Prefix(text, kMaxQuotedBytes);
  std::string quoted;
  quoted.reserve(shown.size() + 5);
  quoted.append("'").append(shown).append(shown.size() < text.size() ? "...'" : "'");
  return quoted;
}

}  // namespace tessera
