#include "common/key_presence_filter.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/bytes.h"
#include "common/stable_hash.h"

namespace tessera {
namespace {

// Stable across processes: a saved filter must find the keys a later process hashes.
uint64_t HashKey(std::string_view key) { return StableHash64(key); }

// Names the format and, read back in another byte order, does not match: a snapshot is raw words.
constexpr uint64_t kSnapshotMagic = 0x5453'5046'0001'0203ULL;  // "TSPF", version 1, then 2, 3

size_t BlockCountFor(int64_t capacity) {
  return std::max<size_t>(1, static_cast<size_t>(capacity) * KeyPresenceFilter::kBitsPerKey / 512);
}

// Eight odd multipliers (as in the split-block Bloom filter of Apache Parquet): each picks the bit
// of one word from the hash's low half.
constexpr std::array<uint32_t, 8> kSalts = {0x47b6137bU, 0x44974d91U, 0x8824ad5bU, 0xa2b7289dU,
                                            0x705495c7U, 0x2df1424bU, 0x9efc4947U, 0x5c6bfb31U};

uint64_t BitOf(uint64_t hash, int word) {
  const uint32_t low = static_cast<uint32_t>(hash);
  return uint64_t{1} << ((low * kSalts[static_cast<size_t>(word)]) >> 26);  // top 6 bits: 0..63
}

}  // namespace

KeyPresenceFilter::Filter::Filter(int64_t capacity_keys)
    : capacity(capacity_keys),
      block_count(BlockCountFor(capacity_keys)),
      blocks(new Block[block_count]) {
  for (size_t i = 0; i < block_count; ++i) {
    for (std::atomic<uint64_t>& w : blocks[i].words) w.store(0, std::memory_order_relaxed);
  }
}

KeyPresenceFilter::KeyPresenceFilter(std::vector<std::string> prefixes, int64_t first_capacity)
    : prefixes_(std::move(prefixes)) {
  filters_[0].store(new Filter(std::max(first_capacity, kMinCapacity)), std::memory_order_release);
  filter_count_.store(1, std::memory_order_release);
}

KeyPresenceFilter::KeyPresenceFilter(std::vector<std::string> prefixes) : prefixes_(std::move(prefixes)) {}

KeyPresenceFilter::~KeyPresenceFilter() {
  for (std::atomic<Filter*>& f : filters_) delete f.load(std::memory_order_acquire);
}

bool KeyPresenceFilter::Covers(std::string_view key) const {
  for (const std::string& prefix : prefixes_) {
    if (key.starts_with(prefix)) return true;
  }
  return false;
}

bool KeyPresenceFilter::Contains(const Filter& filter, uint64_t hash) {
  // The block from the high half of the hash (multiply-shift instead of a modulo).
  const size_t block = static_cast<size_t>((static_cast<unsigned __int128>(hash >> 32) * filter.block_count) >> 32);
  const Block& b = filter.blocks[block];
  for (int w = 0; w < 8; ++w) {
    const uint64_t bit = BitOf(hash, w);
    if ((b.words[static_cast<size_t>(w)].load(std::memory_order_acquire) & bit) == 0) return false;
  }
  return true;
}

bool KeyPresenceFilter::Insert(Filter& filter, uint64_t hash) {
  const size_t block = static_cast<size_t>((static_cast<unsigned __int128>(hash >> 32) * filter.block_count) >> 32);
  Block& b = filter.blocks[block];
  bool added = false;
  for (int w = 0; w < 8; ++w) {
    const uint64_t bit = BitOf(hash, w);
    std::atomic<uint64_t>& word = b.words[static_cast<size_t>(w)];
    // Read first: a key already there (a rewritten "dv/" record) dirties no cache line.
    if ((word.load(std::memory_order_relaxed) & bit) == 0) {
      word.fetch_or(bit, std::memory_order_acq_rel);
      added = true;
    }
  }
  return added;
}

KeyPresenceFilter::Filter* KeyPresenceFilter::Newest() {
  const int count = filter_count_.load(std::memory_order_acquire);
  Filter* newest = filters_[static_cast<size_t>(count - 1)].load(std::memory_order_acquire);
  if (newest->keys.load(std::memory_order_relaxed) < newest->capacity || count == kMaxFilters) return newest;
  absl::MutexLock lock(&grow_mutex_);
  const int now = filter_count_.load(std::memory_order_acquire);
  if (now != count) return filters_[static_cast<size_t>(now - 1)].load(std::memory_order_acquire);
  auto* next = new Filter(newest->capacity * 2);
  filters_[static_cast<size_t>(count)].store(next, std::memory_order_release);
  filter_count_.store(count + 1, std::memory_order_release);
  return next;
}

void KeyPresenceFilter::Add(std::string_view key) {
  const uint64_t hash = HashKey(key);
  // A key some filter already seems to hold is not counted again (rewrites of the same key would
  // otherwise fill filters with nothing new); it is still set in the newest, which costs nothing
  // when it is already there.
  const bool seen = MayContainHash(hash);
  Filter* newest = Newest();
  if (Insert(*newest, hash) && !seen) newest->keys.fetch_add(1, std::memory_order_relaxed);
}

bool KeyPresenceFilter::MayContain(std::string_view key) const { return MayContainHash(HashKey(key)); }

bool KeyPresenceFilter::MayContainHash(uint64_t hash) const {
  const int count = filter_count_.load(std::memory_order_acquire);
  // Newest first: recent keys are the ones most often looked up again.
  for (int i = count - 1; i >= 0; --i) {
    if (Contains(*filters_[static_cast<size_t>(i)].load(std::memory_order_acquire), hash)) return true;
  }
  return false;
}

bool KeyPresenceFilter::KnownAbsent(std::string_view key) const {
  if (ready() && !MayContain(key)) {
    absent_answers_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  maybe_answers_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

KeyPresenceFilterStats KeyPresenceFilter::stats() const {
  KeyPresenceFilterStats s;
  s.ready = ready();
  s.filters = filter_count_.load(std::memory_order_acquire);
  for (int i = 0; i < s.filters; ++i) {
    const Filter* f = filters_[static_cast<size_t>(i)].load(std::memory_order_acquire);
    s.keys += f->keys.load(std::memory_order_relaxed);
    s.bytes += f->block_count * sizeof(Block);
  }
  s.absent_answers = absent_answers_.load(std::memory_order_relaxed);
  s.maybe_answers = maybe_answers_.load(std::memory_order_relaxed);
  return s;
}

std::string KeyPresenceFilter::Snapshot() const {
  const int count = filter_count_.load(std::memory_order_acquire);
  size_t size = sizeof(uint64_t) + sizeof(int32_t);
  for (int i = 0; i < count; ++i) {
    size += 3 * sizeof(int64_t) + filters_[static_cast<size_t>(i)].load(std::memory_order_acquire)->block_count * sizeof(Block);
  }
  std::string out;
  out.reserve(size);
  AppendHostValue(kSnapshotMagic, out);
  AppendHostValue(static_cast<int32_t>(count), out);
  for (int i = 0; i < count; ++i) {
    const Filter& f = *filters_[static_cast<size_t>(i)].load(std::memory_order_acquire);
    AppendHostValue(f.capacity, out);
    AppendHostValue(f.keys.load(std::memory_order_relaxed), out);
    AppendHostValue(static_cast<uint64_t>(f.block_count), out);
    // Into the sized string word by word (each an atomic load: Adds may run meanwhile).
    const size_t at = out.size();
    out.resize(at + f.block_count * sizeof(Block));
    char* to = out.data() + at;
    for (size_t b = 0; b < f.block_count; ++b) {
      for (const std::atomic<uint64_t>& word : f.blocks[b].words) {
        const uint64_t bits = word.load(std::memory_order_relaxed);
        std::memcpy(to, &bits, sizeof bits);
        to += sizeof bits;
      }
    }
  }
  return out;
}

absl::StatusOr<std::unique_ptr<KeyPresenceFilter>> KeyPresenceFilter::FromSnapshot(std::vector<std::string> prefixes,
                                                                                   std::string_view snapshot) {
  std::string_view in = snapshot;
  uint64_t magic = 0;
  int32_t count = 0;
  if (!ReadHostValue(in, magic) || magic != kSnapshotMagic) {
    return absl::InvalidArgumentError("not a presence filter snapshot of this version and byte order");
  }
  if (!ReadHostValue(in, count) || count < 1 || count > kMaxFilters) {
    return absl::InvalidArgumentError("presence filter snapshot: bad filter count");
  }
  auto filter = std::unique_ptr<KeyPresenceFilter>(new KeyPresenceFilter(std::move(prefixes)));
  for (int i = 0; i < count; ++i) {
    int64_t capacity = 0, keys = 0;
    uint64_t block_count = 0;
    if (!ReadHostValue(in, capacity) || !ReadHostValue(in, keys) || !ReadHostValue(in, block_count) || capacity < kMinCapacity ||
        capacity > (int64_t{1} << 50) || block_count != BlockCountFor(capacity) ||
        in.size() < block_count * sizeof(Block)) {
      return absl::InvalidArgumentError(absl::StrCat("presence filter snapshot: filter ", i, " is cut short or inconsistent"));
    }
    auto f = std::make_unique<Filter>(capacity);
    f->keys.store(keys, std::memory_order_relaxed);
    for (size_t b = 0; b < f->block_count; ++b) {
      for (std::atomic<uint64_t>& word : f->blocks[b].words) {
        uint64_t bits = 0;
        ReadHostValue(in, bits);
        word.store(bits, std::memory_order_relaxed);
      }
    }
    filter->filters_[static_cast<size_t>(i)].store(f.release(), std::memory_order_release);
  }
  if (!in.empty()) return absl::InvalidArgumentError("presence filter snapshot: trailing bytes");
  filter->filter_count_.store(count, std::memory_order_release);
  return filter;
}

}  // namespace tessera
