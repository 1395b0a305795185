// The RocksDB options every Tessera store opens with. For common/rocks_store.cc, and for the
// benchmark's baselines, which must measure RocksDB with exactly the pipeline's settings.
#pragma once

#include <cstddef>
#include <string_view>

#include "rocksdb/options.h"

namespace tessera {

// LZ4 (ZSTD with a dictionary trained per file at the bottom level), an LRU block cache of
// `block_cache_bytes`, whole-key bloom filters (10 bits), index and filter blocks in the cache, two
// background threads.
rocksdb::Options TesseraRocksOptions(size_t block_cache_bytes);

// Profiles ("pf/" keys, profiles/profile_store.h) live in a column family of their own, compressed
// with LZ4 (with a dictionary at the bottom level), where the rest of the store has ZSTD with a
// dictionary at the bottom: every event reads its profile, mostly from a block the cache does not
// hold, and ZSTD decompressing that block was most of the read (docs/architecture.md,
// "Compression"). Both families share the block cache and the memtable budget.
inline constexpr char kProfilesColumnFamily[] = "profiles";
inline constexpr std::string_view kProfilesColumnFamilyPrefix = "pf/";
// The profiles family's options: `base`'s (TesseraRocksOptions: the same block cache, filters and
// memtable settings) with their own compression.
rocksdb::ColumnFamilyOptions TesseraProfilesFamilyOptions(const rocksdb::Options& base);

}  // namespace tessera
