// Fixed-width big-endian integers for RocksDB keys: big-endian so byte order is numeric order.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera {

inline void AppendBigEndian64(uint64_t value, std::string& out) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xFF));
}

inline std::string BigEndian64(uint64_t value) {
  std::string out;
  AppendBigEndian64(value, out);
  return out;
}

// Reads 8 bytes big-endian from the start of `bytes` (caller checks the size).
inline uint64_t ReadBigEndian64(std::string_view bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

}  // namespace tessera
