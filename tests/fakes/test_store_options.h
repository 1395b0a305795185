// How tests open a RocksStore that stands for the pipeline's: the options app::OpenStageStore gives
// the identity part (the presence filter on), without fsync per commit (tests do not crash the
// machine; the recovery tests run the real binary).
#pragma once

#include "common/rocks_store.h"
#include "identity/identity_resolver.h"

namespace tessera::testing {

inline RocksStoreOptions PipelineStoreOptions() {
  return RocksStoreOptions{.sync_writes = false,
                           .expiring_prefixes = {},
                           .presence_filter_prefixes = identity::PresenceFilteredPrefixes()};
}

}  // namespace tessera::testing
