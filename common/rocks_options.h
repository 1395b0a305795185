// The RocksDB options every Tessera store opens with. For common/rocks_store.cc, and for the
// benchmark's baselines, which must measure RocksDB with exactly the pipeline's settings.
#pragma once

#include <cstddef>

#include "rocksdb/options.h"

namespace tessera {

// LZ4 (ZSTD with a dictionary trained per file at the bottom level), an LRU block cache of
// `block_cache_bytes`, whole-key bloom filters (10 bits), index and filter blocks in the cache, two
// background threads.
rocksdb::Options TesseraRocksOptions(size_t block_cache_bytes);

}  // namespace tessera
