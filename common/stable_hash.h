// A 64-bit hash that is the same in every process, build and run (absl::Hash is seeded per
// process), for hashes that outlive the process: a presence filter saved to disk, a checksum.
// Not for untrusted keys in a hash table (no seed, so collisions can be made on purpose).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace tessera {

namespace stable_hash_internal {

// The 128-bit product folded to 64 bits (wyhash's "mum"): every input bit reaches every output bit.
inline uint64_t Fold(uint64_t a, uint64_t b) {
  const unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

}  // namespace stable_hash_internal

// splitmix64's finalizer: a bijection that spreads every input bit over the output, so folding
// hashes one after another keeps 64 bits of entropy, and the low and the high half of the result
// both come out well mixed.
inline uint64_t SplitMix64Finalize(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline uint64_t StableHash64(std::string_view bytes) {
  using stable_hash_internal::Fold;
  uint64_t h = 0x243f6a8885a308d3ULL ^ bytes.size();
  size_t i = 0;
  for (; i + 16 <= bytes.size(); i += 16) {
    uint64_t a, b;
    std::memcpy(&a, bytes.data() + i, 8);
    std::memcpy(&b, bytes.data() + i + 8, 8);
    h = Fold(a ^ 0xa0761d6478bd642fULL, b ^ 0xe7037ed1a0b428dbULL ^ h);
  }
  uint64_t a = 0, b = 0;
  const size_t rest = bytes.size() - i;
  std::memcpy(&a, bytes.data() + i, rest < 8 ? rest : 8);
  if (rest > 8) std::memcpy(&b, bytes.data() + i + 8, rest - 8);
  h = Fold(a ^ 0xa0761d6478bd642fULL, b ^ 0xe7037ed1a0b428dbULL ^ h);
  // The presence filter takes its block from the high half and its bits from the low half.
  return SplitMix64Finalize(h);
}

}  // namespace tessera
