// Request signing for webhook destinations: HMAC-SHA256 over "<timestamp>.<body>", hex-encoded,
// sent as `X-Tessera-Signature: sha256=<hex>` beside `X-Tessera-Timestamp: <unix seconds>`.
// A receiver recomputes it with the shared secret (docs/sinks.md shows `openssl dgst` and Python)
// and rejects stale timestamps, so a captured request cannot be replayed much later.
//
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::sinks {

// Lower-case hex HMAC-SHA256 of `message` under `secret`.
std::string HmacSha256Hex(std::string_view secret, std::string_view message);

// The X-Tessera-Signature header value for a request body sent at `timestamp_s`.
std::string SignatureHeaderValue(std::string_view secret, int64_t timestamp_s, std::string_view body);

}  // namespace tessera::sinks
