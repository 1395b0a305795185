// RocksDB, the only store. One RocksStore per data directory; StagedWrites is how stage logic
// writes: every change of one poll batch (identity links, profiles, the input offsets) is staged in
// memory, read back through the stage's own KeyValueView, and committed as one atomic WriteBatch
// with a synced WAL. A crash therefore loses a whole batch or nothing, and the offsets stored with
// it say exactly where to resume.
//
// Thread-safety: RocksStore is thread-safe (RocksDB is). A StagedWrites belongs to one thread,
// except that once its batch is complete, Write() on another thread may run while the next
// batch's StagedWrites reads it as the batch below (both only read its staged writes).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/key_presence_filter.h"
#include "common/kv.h"

namespace rocksdb {
class ColumnFamilyHandle;
class CompactionFilter;
class DB;
}

namespace tessera {

// Keys under `prefix` whose value starts with an 8-byte big-endian epoch-ms timestamp older than
// `ttl_ms` are dropped when compaction reaches them (readers must still check the time: an expired
// key lingers until then).
struct ExpiringPrefix {
  std::string prefix;
  int64_t ttl_ms = 0;
};

struct RocksStoreOptions {
  size_t block_cache_bytes = 256 << 20;
  bool sync_writes = true;  // fsync the WAL on each commit: acknowledged means on disk
  std::vector<ExpiringPrefix> expiring_prefixes;
  // Keys under these prefixes are tracked by an in-memory KeyPresenceFilter (key_presence_filter.h),
  // so a Get of a key never written skips RocksDB. For prefixes that are mostly looked up before
  // they exist and rarely deleted (identity's "ix/" and "dv/"): deleted keys stay in the filter.
  std::vector<std::string> presence_filter_prefixes;
  // How often the presence filter is saved beside the store (kPresenceFilterSnapshotFile, when SST
  // files were added since the last save, and once more on close), so that the next open loads it
  // and scans only the SST files written after it instead of every key: over a store of 10M people
  // the full scan took about 10 s of a core, during which every identifier lookup read RocksDB.
  // Zero: no snapshot is saved or loaded.
  absl::Duration presence_filter_snapshot_every = absl::Seconds(30);
  // When > 0, the memtable keeps an insert position per key prefix of this many bytes and starts
  // each insert there: cheap for a store whose commits are long ascending runs under one prefix
  // (StagedWrites commits in key order), e.g. the sinks' "sk/h/" keys, where it took the
  // skiplist search out of a sixth of the delivery thread's time. Every Tessera key starts with a
  // 3-byte "xx/" prefix (docs/architecture.md, "What is stored where"), so by default a commit's
  // keys of one prefix (a batch's profiles, its event keys) insert from where the last one went:
  // the profiles stage's commit 6.5-6.7 -> 5.3-5.5 us an event (segment-bench --mode stage).
  // 0: no hints (RocksDB's concurrent memtable writes stay allowed).
  size_t memtable_insert_hint_prefix_bytes = 3;
};

class RocksStore {
 public:
  // The presence filter's snapshot, in the store's directory (RocksDB leaves files it does not name
  // alone).
  static constexpr char kPresenceFilterSnapshotFile[] = "TESSERA-PRESENCE-FILTER";

  // Opens (creating if needed) the primary instance at `path`. Fails with Unavailable if another
  // process holds it.
  static absl::StatusOr<std::unique_ptr<RocksStore>> Open(const std::string& path, RocksStoreOptions options = {});

  // Opens a read-only view that works while a primary holds the store (a RocksDB secondary
  // instance, which keeps its own info log under `scratch_dir`). Call CatchUp() to see newer data.
  static absl::StatusOr<std::unique_ptr<RocksStore>> OpenSecondary(const std::string& path,
                                                                   const std::string& scratch_dir);

  ~RocksStore();
  RocksStore(const RocksStore&) = delete;
  RocksStore& operator=(const RocksStore&) = delete;

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const;
  // The values of `keys` (sorted, unique) in one RocksDB MultiGet, in their order: it looks each
  // SST file's filter, index and data blocks up once for all the keys that fall in it, where a Get
  // per key would search again from the top for each.
  absl::StatusOr<std::vector<std::optional<std::string>>> MultiGet(const std::vector<std::string>& keys) const;
  // Catches up with the primary (a secondary). False, without catching up, when it cannot: it was
  // opened over a store written before profiles had their family, and a primary of this version
  // has created the family since (RocksDB refuses that catch-up: "MANIFEST record referencing
  // unknown column family"). It still reads the store as it was; open the store again for what
  // is new, once the new instance's MoveOfProfilesUnderWay() is false.
  absl::StatusOr<bool> CatchUp();
  // True while a primary of this version is moving an older store's profiles into their family:
  // the family exists and the default family still holds profiles (the move's last write deletes
  // them all at once). An instance opened meanwhile reads only the profiles moved so far.
  absl::StatusOr<bool> MoveOfProfilesUnderWay() const;

  // Visits every key starting with `prefix` in order; stops early when `visit` returns false.
  absl::Status ScanPrefix(std::string_view prefix,
                          const std::function<bool(std::string_view key, std::string_view value)>& visit) const;
  // The same from the first key >= `start` (a start before `prefix` means all of them): one seek,
  // so a cursor deep into a large prefix costs no more than its first page.
  absl::Status ScanFrom(std::string_view prefix, std::string_view start,
                        const std::function<bool(std::string_view key, std::string_view value)>& visit) const;

  rocksdb::DB* db() { return db_.get(); }
  // The column family `key` lives in: profiles ("pf/") have one of their own
  // (kProfilesColumnFamily, common/rocks_options.h), everything else is in the default one. For
  // callers that use db() directly (benchmarks, tests).
  rocksdb::ColumnFamilyHandle* FamilyOf(std::string_view key) const;
  // Flushes every column family's memtables into SST files.
  absl::Status Flush();
  // Compacts every column family whole, the bottom level included.
  absl::Status CompactAll();
  bool sync_writes() const { return options_.sync_writes; }

  // The presence filter's figures (all zero without presence_filter_prefixes).
  KeyPresenceFilterStats presence_filter_stats() const;
  // Blocks until the scan that fills the presence filter with the keys held at open has finished
  // (at once without a filter). Before that, every Get reads RocksDB.
  void WaitForPresenceFilter() const;
  // Saves the presence filter now (the periodic save and the close do it too). FailedPrecondition
  // before the filter is ready or without one.
  absl::Status SavePresenceFilterSnapshot();

 private:
  friend class StagedWrites;  // tells the presence filter about keys before it writes them

  RocksStore(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> families, std::string path,
             RocksStoreOptions options, std::unique_ptr<rocksdb::CompactionFilter> filter);
  // The families whose keys may start with `prefix`: one, or both for a prefix of "pf/" ("", "p").
  std::vector<rocksdb::ColumnFamilyHandle*> FamiliesUnder(std::string_view prefix) const;
  // Moves the profiles a store written before their family kept in the default one (at open).
  absl::Status MoveProfilesIntoTheirFamily();
  // Fills the presence filter with the keys of its prefixes, in the background (scan_thread_): all
  // of them, or with `newer_than_file` > 0 only those in SST files numbered above it and in the
  // memtables (the rest came from a snapshot).
  void ScanIntoPresenceFilter(uint64_t newer_than_file);
  // The filter saved by an earlier process, if there is one and it fits this store: the filter and
  // the highest SST file number it covers.
  struct LoadedPresenceFilter {
    std::unique_ptr<KeyPresenceFilter> filter;
    uint64_t covers_files_up_to = 0;
  };
  absl::StatusOr<LoadedPresenceFilter> LoadPresenceFilterSnapshot() const;
  static constexpr int kMostFiltersToLoad = 3;  // a longer chain is not saved, nor loaded
  // About how many keys the presence filter will hold, to size its first filter.
  int64_t EstimateKeysUnderPresencePrefixes() const;
  // The highest number among the live SST files (0 without any).
  uint64_t MaxLiveFileNumber() const;

  // Declared before db_ so it outlives the DB that calls it.
  std::unique_ptr<rocksdb::CompactionFilter> compaction_filter_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> families_;  // every family opened; destroyed before db_
  rocksdb::ColumnFamilyHandle* default_family_ = nullptr;  // of families_ (not db_->DefaultColumnFamily())
  // Null for a secondary over a store written before profiles had their family.
  rocksdb::ColumnFamilyHandle* profiles_family_ = nullptr;
  std::string path_;
  RocksStoreOptions options_;
  std::unique_ptr<KeyPresenceFilter> presence_filter_;
  bool presence_filter_from_snapshot_ = false;
  std::atomic<int64_t> presence_filter_scanned_keys_{0};
  std::atomic<bool> stop_scan_{false};
  absl::Notification stopping_;
  absl::Notification scan_done_;
  std::thread scan_thread_;
  absl::Mutex snapshot_mutex_;                          // one save at a time
  uint64_t snapshot_saved_up_to_ ABSL_GUARDED_BY(snapshot_mutex_) = 0;  // the last save's file number
  int64_t snapshots_saved_ ABSL_GUARDED_BY(snapshot_mutex_) = 0;
  bool long_chain_logged_ ABSL_GUARDED_BY(snapshot_mutex_) = false;  // "not saved" said once
};

// Writes staged over a RocksStore (see the file comment).
class StagedWrites final : public KeyValueView {
 public:
  explicit StagedWrites(RocksStore* store) : store_(store) {}
  // Over `below`: the previous batch's complete staged writes, which another thread may be
  // committing meanwhile (the worker loop overlaps one batch's commit with the next one's logic).
  // Reads see this batch's writes, then below's, then the store, so they answer what they would
  // after below committed, whether or not it has yet. `below` must stay unchanged and alive until
  // ForgetBelow() or the end of this object; it must have been built without a batch below of its
  // own still uncommitted (one batch in flight at a time).
  StagedWrites(RocksStore* store, const StagedWrites* below) : store_(store), below_(below) {}

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override;
  void Put(std::string_view key, std::string_view value) override;
  void Delete(std::string_view key) override;
  // Reads the keys not staged here in one RocksStore::MultiGet and keeps them until each is read
  // once (a second Get of a key reads the store again, which holds the same value until Commit).
  absl::Status Prefetch(const std::vector<std::string>& keys) override;

  // Writes everything staged in one WriteBatch, then forgets it (and anything prefetched).
  absl::Status Commit();
  // Writes everything staged in one WriteBatch and keeps it: for a batch that the next batch reads
  // as its `below` while this runs on another thread.
  absl::Status Write() const;
  // Stops reading the batch below (call once it has committed, before it is destroyed).
  void ForgetBelow() { below_ = nullptr; }
  // Forgets everything staged.
  void Discard() {
    staged_.clear();
    prefetched_.clear();
  }
  size_t staged_count() const { return staged_.size(); }

 private:
  // Staged here or in the batch below: the value (nullopt for a delete), or null if neither has it.
  const std::optional<std::string>* FindStaged(std::string_view key) const;

  RocksStore* store_;
  const StagedWrites* below_ = nullptr;
  // key -> value, or nullopt for a staged delete.
  absl::flat_hash_map<std::string, std::optional<std::string>> staged_;
  // key -> the store's value (nullopt: absent) as Prefetch read it; taken out by the first Get.
  absl::flat_hash_map<std::string, std::optional<std::string>> prefetched_;
};

// A read-only KeyValueView straight over a store (CLI tools).
class StoreReader final : public KeyValueView {
 public:
  explicit StoreReader(const RocksStore* store) : store_(store) {}
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override { return store_->Get(key); }
  void Put(std::string_view, std::string_view) override;
  void Delete(std::string_view) override;

 private:
  const RocksStore* store_;
};

}  // namespace tessera
