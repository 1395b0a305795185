// Fixed-width big-endian integers for RocksDB keys: big-endian so byte order is numeric order.
#pragma once

#include <cstdint>
#include <cstring>
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

inline std::string BigEndian32(uint32_t value) {
  std::string out;
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((value >> shift) & 0xFF));
  return out;
}

// Reads 8 bytes big-endian from the start of `bytes` (caller checks the size).
inline uint64_t ReadBigEndian64(std::string_view bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

// A fixed-width value in this machine's byte order, for files only this machine reads back (a
// saved filter, which records its byte order itself).
template <typename T>
void AppendHostValue(T value, std::string& out) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}
// Reads one from the front of `in` and drops it; false if `in` is too short.
template <typename T>
bool ReadHostValue(std::string_view& in, T& value) {
  if (in.size() < sizeof value) return false;
  std::memcpy(&value, in.data(), sizeof value);
  in.remove_prefix(sizeof value);
  return true;
}

// The first key after every key that starts with `prefix` (the prefix with its last byte below 0xFF
// raised and what follows dropped), for a range's exclusive end; empty when there is none (an
// empty or all-0xFF prefix bounds nothing).
inline std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

// A key scoped to a workspace: <prefix> <workspace> '\0' <name>. The NUL keeps workspace "shop"
// with name "-a\0x" apart from workspace "shop-a" (workspace names hold no NUL), and all keys of
// one workspace are contiguous under <prefix> <workspace> '\0'.
inline std::string WorkspaceKey(std::string_view prefix, std::string_view workspace, std::string_view name = {}) {
  std::string key;
  key.reserve(prefix.size() + workspace.size() + 1 + name.size());
  key.append(prefix);
  key.append(workspace);
  key.push_back('\0');
  key.append(name);
  return key;
}

}  // namespace tessera
