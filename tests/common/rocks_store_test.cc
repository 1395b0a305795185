#include "common/rocks_store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

#include "absl/time/clock.h"
#include "common/bytes.h"
#include "common/rocks_options.h"

namespace tessera {
namespace {

class RocksStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() / "tessera-rocks-XXXXXX").string();
    ASSERT_NE(mkdtemp(path_.data()), nullptr);
  }
  void TearDown() override { std::filesystem::remove_all(path_); }
  std::string path_;
};

TEST_F(RocksStoreTest, StagedWritesAreVisibleToTheirViewAndDurableOnlyAfterCommit) {
  auto store = RocksStore::Open(path_ + "/db");
  ASSERT_TRUE(store.ok()) << store.status();
  StagedWrites staged(store->get());
  staged.Put("pf/1", "one");
  staged.Put("pf/2", "two");
  staged.Delete("pf/2");
  EXPECT_EQ(*staged.Get("pf/1"), "one");
  EXPECT_EQ(*staged.Get("pf/2"), std::nullopt);
  EXPECT_EQ(*(*store)->Get("pf/1"), std::nullopt);  // not committed yet
  ASSERT_TRUE(staged.Commit().ok());
  EXPECT_EQ(*(*store)->Get("pf/1"), "one");
  EXPECT_EQ(staged.staged_count(), 0u);
}

TEST_F(RocksStoreTest, ASecondProcessSeesCommittedDataThroughASecondaryInstance) {
  auto store = RocksStore::Open(path_ + "/db");
  ASSERT_TRUE(store.ok());
  StagedWrites staged(store->get());
  staged.Put("ix/a", "1");
  ASSERT_TRUE(staged.Commit().ok());
  auto reader = RocksStore::OpenSecondary(path_ + "/db", path_ + "/scratch");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(*(*reader)->Get("ix/a"), "1");
  staged.Put("ix/b", "2");
  ASSERT_TRUE(staged.Commit().ok());
  absl::StatusOr<bool> caught_up = (*reader)->CatchUp();
  ASSERT_TRUE(caught_up.ok()) << caught_up.status();
  EXPECT_TRUE(*caught_up);
  EXPECT_EQ(*(*reader)->Get("ix/b"), "2");
}

TEST_F(RocksStoreTest, OnlyOneWriterAtATime) {
  auto first = RocksStore::Open(path_ + "/db");
  ASSERT_TRUE(first.ok());
  auto second = RocksStore::Open(path_ + "/db");
  EXPECT_FALSE(second.ok());
}

TEST_F(RocksStoreTest, CompactionDropsExpiredEntriesOfExpiringPrefixesOnly) {
  RocksStoreOptions options;
  options.expiring_prefixes.push_back({"dd/", 60'000});
  auto store = RocksStore::Open(path_ + "/db", options);
  ASSERT_TRUE(store.ok());
  const int64_t now = absl::ToUnixMillis(absl::Now());
  StagedWrites staged(store->get());
  staged.Put("dd/old", BigEndian64(static_cast<uint64_t>(now - 120'000)));
  staged.Put("dd/fresh", BigEndian64(static_cast<uint64_t>(now)));
  staged.Put("pf/old", BigEndian64(static_cast<uint64_t>(now - 120'000)));  // not an expiring prefix
  ASSERT_TRUE(staged.Commit().ok());
  ASSERT_TRUE((*store)->db()->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok());
  EXPECT_EQ(*(*store)->Get("dd/old"), std::nullopt);
  EXPECT_TRUE((*store)->Get("dd/fresh")->has_value());
  EXPECT_TRUE((*store)->Get("pf/old")->has_value());
}

// Profile-like records (the same field names, values from small vocabularies, as stored profiles
// and events are), written and compacted to the bottom level once with Tessera's options and once
// with the same options but no dictionary: the dictionary must make the files markedly smaller
// and every value must read back as written.
TEST_F(RocksStoreTest, TheBottomLevelCompressesWithADictionaryAndReadsBackTheSameValues) {
  std::mt19937_64 rng(7);
  const std::vector<std::string> cities = {"Bangkok", "Chiang Mai", "Phuket", "Khon Kaen", "Hat Yai"};
  const std::vector<std::string> interests = {"yoga", "coffee", "running", "skincare", "gaming", "cooking"};
  std::map<std::string, std::string> records;
  for (int i = 0; i < 20'000; ++i) {
    records[absl::StrCat("pf/", 1'000'000 + i)] = absl::StrCat(
        R"({"email":"user)", rng() % 1'000'000, R"(@example.co.th","gender":")", rng() % 2 ? "female" : "male",
        R"(","birthday":")", 1960 + rng() % 45, "-0", 1 + rng() % 9, "-1", rng() % 9, R"(","city":")",
        cities[rng() % cities.size()], R"(","interests":[")", interests[rng() % interests.size()],
        R"("],"orders_count":)", rng() % 12, R"(,"total_spend":{"THB":")", rng() % 90'000, ".00",
        R"("},"last_seen":"2026-12-0)", 1 + rng() % 6, "T1", rng() % 10, ":0", rng() % 10, R"(:00Z"})");
  }
  const auto compacted_bytes = [&](const rocksdb::Options& options, const std::string& dir) -> uint64_t {
    rocksdb::DB* raw = nullptr;
    if (rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw); !s.ok()) {
      ADD_FAILURE() << s.ToString();
      return 0;
    }
    std::unique_ptr<rocksdb::DB> db(raw);
    for (const auto& [key, value] : records) EXPECT_TRUE(db->Put(rocksdb::WriteOptions(), key, value).ok());
    rocksdb::CompactRangeOptions rewrite;  // rewrite the flushed file, not just move it down a level
    rewrite.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    EXPECT_TRUE(db->CompactRange(rewrite, nullptr, nullptr).ok());
    for (const auto& [key, value] : records) {
      std::string read;
      EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), key, &read).ok());
      EXPECT_EQ(read, value);
    }
    uint64_t bytes = 0;
    EXPECT_TRUE(db->GetIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &bytes));
    return bytes;
  };
  const rocksdb::Options tessera = TesseraRocksOptions(8 << 20);
  rocksdb::Options no_dictionary = tessera;
  no_dictionary.bottommost_compression_opts.max_dict_bytes = 0;
  no_dictionary.bottommost_compression_opts.zstd_max_train_bytes = 0;
  const uint64_t with = compacted_bytes(tessera, path_ + "/with");
  const uint64_t without = compacted_bytes(no_dictionary, path_ + "/without");
  EXPECT_GT(with, 0u);
  EXPECT_LT(static_cast<double>(with), 0.8 * static_cast<double>(without)) << with << " vs " << without;
}

RocksStoreOptions WithPresenceFilter() {
  RocksStoreOptions options;
  options.sync_writes = false;
  options.presence_filter_prefixes = {"ix/", "dv/"};
  return options;
}

std::string IxKey(int64_t i) { return absl::StrCat("ix/w", i); }

// Random puts, deletes and reads of covered and uncovered keys, with reopens between rounds: every
// read through the filter answers what a plain map of the same writes answers, and most reads of
// keys never written skip RocksDB.
TEST_F(RocksStoreTest, APresenceFilteredStoreAnswersEveryReadAsTheWritesSay) {
  std::map<std::string, std::string> model;
  std::mt19937_64 rng(7);
  const std::vector<std::string> prefixes = {"ix/w", "dv/w", "pf/w"};
  auto random_key = [&] { return absl::StrCat(prefixes[rng() % 3], rng() % 20'000); };
  int64_t absent_answers = 0;
  for (int round = 0; round < 3; ++round) {
    auto store = RocksStore::Open(path_ + "/db", WithPresenceFilter());
    ASSERT_TRUE(store.ok()) << store.status();
    // Round 0 reads while the scan may still be running; later rounds after it.
    if (round > 0) (*store)->WaitForPresenceFilter();
    for (int batch = 0; batch < 20; ++batch) {
      StagedWrites staged(store->get());
      for (int op = 0; op < 500; ++op) {
        const std::string key = random_key();
        if (rng() % 5 == 0) {
          staged.Delete(key);
          model.erase(key);
        } else {
          const std::string value = absl::StrCat(round, "/", batch, "/", op);
          staged.Put(key, value);
          model[key] = value;
        }
      }
      ASSERT_TRUE(staged.Commit().ok());
      for (int read = 0; read < 1000; ++read) {
        const std::string key = random_key();
        auto got = (*store)->Get(key);
        ASSERT_TRUE(got.ok());
        auto it = model.find(key);
        ASSERT_EQ(*got, it == model.end() ? std::nullopt : std::optional<std::string>(it->second)) << key;
      }
    }
    absent_answers += (*store)->presence_filter_stats().absent_answers;
  }
  EXPECT_GT(absent_answers, 0);
}

// Prefetch is only a hint: whatever was prefetched, staged or read before, every Get through the
// view answers what the writes say, for keys in the memtable, in SST files, under the presence
// filter's prefixes and absent ones, read once, twice or never.
TEST_F(RocksStoreTest, PrefetchedGetsAnswerExactlyWhatPlainGetsWould) {
  auto store = RocksStore::Open(path_ + "/db", WithPresenceFilter());
  ASSERT_TRUE(store.ok()) << store.status();
  std::map<std::string, std::string> model;  // committed and staged writes of the current batch
  std::mt19937_64 rng(11);
  const std::vector<std::string> prefixes = {"ix/w", "pf/w", "pf/x"};
  auto random_key = [&] { return absl::StrCat(prefixes[rng() % 3], rng() % 3'000); };
  for (int batch = 0; batch < 60; ++batch) {
    StagedWrites staged(store->get());
    for (int op = 0; op < 100; ++op) {  // staged before the prefetch: these must win over it
      const std::string key = random_key();
      if (rng() % 4 == 0) {
        staged.Delete(key);
        model.erase(key);
      } else {
        staged.Put(key, absl::StrCat("early/", batch, "/", op));
        model[key] = absl::StrCat("early/", batch, "/", op);
      }
    }
    std::vector<std::string> keys;
    for (int i = 0; i < 400; ++i) keys.push_back(random_key());
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    ASSERT_TRUE(staged.Prefetch(keys).ok());
    for (int op = 0; op < 1200; ++op) {
      // Reads favour the prefetched keys (some twice); writes land on some of them after the prefetch.
      const std::string key = rng() % 3 != 0 ? keys[rng() % keys.size()] : random_key();
      if (rng() % 6 == 0) {
        staged.Put(key, absl::StrCat("late/", batch, "/", op));
        model[key] = absl::StrCat("late/", batch, "/", op);
        continue;
      }
      if (rng() % 12 == 0) {
        staged.Delete(key);
        model.erase(key);
        continue;
      }
      auto got = staged.Get(key);
      ASSERT_TRUE(got.ok());
      auto it = model.find(key);
      ASSERT_EQ(*got, it == model.end() ? std::nullopt : std::optional<std::string>(it->second)) << key;
    }
    if (batch % 3 == 2) {
      staged.Discard();  // the model must forget this batch too: rebuild it from the store
      model.clear();
      ASSERT_TRUE((*store)->ScanPrefix("", [&](std::string_view k, std::string_view v) {
        model.emplace(std::string(k), std::string(v));
        return true;
      }).ok());
    } else {
      ASSERT_TRUE(staged.Commit().ok());
    }
    if (batch == 20) {
      ASSERT_TRUE((*store)->db()->Flush(rocksdb::FlushOptions()).ok());  // SST files too
    }
  }
  // MultiGet straight: in order, absent as nullopt.
  std::vector<std::string> keys = {"ix/w1", "pf/w1", "pf/w2", "pf/x9", "zz/never"};
  auto values = (*store)->MultiGet(keys);
  ASSERT_TRUE(values.ok());
  ASSERT_EQ(values->size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    auto it = model.find(keys[i]);
    EXPECT_EQ((*values)[i], it == model.end() ? std::nullopt : std::optional<std::string>(it->second)) << keys[i];
  }
}

// The worker loop overlaps a batch's commit with the next batch's logic: the next batch reads the
// previous one's writes through `below` while they are (or are not yet) in the store.
TEST_F(RocksStoreTest, ReadsOverABatchBeingCommittedAnswerWhatTheyWouldAfterItCommitted) {
  auto store = RocksStore::Open(path_ + "/db", WithPresenceFilter());
  ASSERT_TRUE(store.ok()) << store.status();
  std::map<std::string, std::string> model;  // every write of every batch so far
  std::mt19937_64 rng(23);
  const std::vector<std::string> prefixes = {"ix/w", "pf/w", "pf/x"};
  auto random_key = [&] { return absl::StrCat(prefixes[rng() % 3], rng() % 2'000); };
  std::unique_ptr<StagedWrites> previous;
  for (int batch = 0; batch < 40; ++batch) {
    auto staged = std::make_unique<StagedWrites>(store->get(), previous.get());
    // Even batches: the previous one is written on another thread while this one works. Odd: it
    // is written only afterwards, so every read of its keys must come from `below`.
    std::thread writer;
    absl::Status written;
    if (previous != nullptr && batch % 2 == 0) writer = std::thread([&] { written = previous->Write(); });
    std::vector<std::string> keys;
    for (int i = 0; i < 300; ++i) keys.push_back(random_key());
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    ASSERT_TRUE(staged->Prefetch(keys).ok());
    for (int op = 0; op < 1000; ++op) {
      const std::string key = rng() % 2 == 0 ? keys[rng() % keys.size()] : random_key();
      if (rng() % 5 == 0) {
        staged->Put(key, absl::StrCat(batch, "/", op));
        model[key] = absl::StrCat(batch, "/", op);
      } else if (rng() % 10 == 0) {
        staged->Delete(key);
        model.erase(key);
      } else {
        auto got = staged->Get(key);
        ASSERT_TRUE(got.ok());
        auto it = model.find(key);
        ASSERT_EQ(*got, it == model.end() ? std::nullopt : std::optional<std::string>(it->second))
            << key << " in batch " << batch;
      }
    }
    if (writer.joinable()) writer.join();
    if (previous != nullptr && batch % 2 == 1) written = previous->Write();
    ASSERT_TRUE(written.ok()) << written;
    staged->ForgetBelow();
    previous = std::move(staged);
    if (batch == 15) {
      ASSERT_TRUE((*store)->db()->Flush(rocksdb::FlushOptions()).ok());  // SST files too
    }
  }
  ASSERT_TRUE(previous->Write().ok());
  std::map<std::string, std::string> stored;
  ASSERT_TRUE((*store)->ScanPrefix("", [&](std::string_view k, std::string_view v) {
    stored.emplace(std::string(k), std::string(v));
    return true;
  }).ok());
  EXPECT_EQ(stored, model);
}

// The keys a store held at open come from the scan; keys committed while it runs add themselves.
TEST_F(RocksStoreTest, KeysWrittenWhileThePresenceFilterScansAreNeverAnsweredAbsent) {
  constexpr int kHeld = 200'000;
  {
    RocksStoreOptions unfiltered = WithPresenceFilter();
    unfiltered.presence_filter_prefixes.clear();
    auto store = RocksStore::Open(path_ + "/db", unfiltered);
    ASSERT_TRUE(store.ok());
    StagedWrites staged(store->get());
    for (int i = 0; i < kHeld; ++i) staged.Put(IxKey(i), "held");
    ASSERT_TRUE(staged.Commit().ok());
  }
  auto store = RocksStore::Open(path_ + "/db", WithPresenceFilter());
  ASSERT_TRUE(store.ok());
  bool first_commit_during_scan = false;
  for (int i = 0; i < 100; ++i) {
    StagedWrites staged(store->get());
    for (int j = 0; j < 100; ++j) staged.Put(IxKey(kHeld + i * 100 + j), "new");
    ASSERT_TRUE(staged.Commit().ok());
    if (i == 0) first_commit_during_scan = !(*store)->presence_filter_stats().ready;
  }
  // The case under test: at least one commit landed while the scan of 200,000 keys was running.
  EXPECT_TRUE(first_commit_during_scan);
  (*store)->WaitForPresenceFilter();
  const KeyPresenceFilterStats stats = (*store)->presence_filter_stats();
  ASSERT_TRUE(stats.ready);
  EXPECT_GE(stats.keys, (kHeld + 10'000) * 99 / 100);
  for (int i = 0; i < kHeld + 10'000; ++i) {
    auto got = (*store)->Get(IxKey(i));
    ASSERT_TRUE(got.ok());
    ASSERT_TRUE(got->has_value()) << IxKey(i);
    EXPECT_EQ(**got, i < kHeld ? "held" : "new");
  }
  int absent = 0;
  for (int i = kHeld + 10'000; i < kHeld + 20'000; ++i) absent += (*store)->Get(IxKey(i))->has_value() ? 0 : 1;
  EXPECT_EQ(absent, 10'000);
  EXPECT_GE((*store)->presence_filter_stats().absent_answers, 9'500);  // the filter, not RocksDB, said so
}

// What a crash leaves: rocks_store_crash_child opens the store, does `steps` and leaves by _exit,
// with no destructor (so no save on close) and RocksDB's threads stopped wherever they were.
void InAProcessThatCrashes(const std::string& dir, std::vector<std::string> steps) {
  std::vector<std::string> args = {CRASH_CHILD_BIN, dir};
  args.insert(args.end(), steps.begin(), steps.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t child = 0;
  ASSERT_EQ(posix_spawn(&child, CRASH_CHILD_BIN, nullptr, nullptr, argv.data(), environ), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child failed: " << status;
}

RocksStoreOptions WithSnapshotsOnDemand() {
  RocksStoreOptions options = WithPresenceFilter();
  options.sync_writes = true;
  options.presence_filter_snapshot_every = absl::Hours(1);  // saved when the test says, and on close
  return options;
}

// The keys the child's "put:FROM:TO" writes.
void CommitKeys(RocksStore* store, int64_t from, int64_t to) {
  StagedWrites staged(store);
  for (int64_t i = from; i < to; ++i) staged.Put(IxKey(i), absl::StrCat("v", i));
  ASSERT_TRUE(staged.Commit().ok());
}

void ExpectEveryKeyHeldAndOthersAbsent(RocksStore* store, int64_t held) {
  for (int64_t i = 0; i < held; ++i) {
    auto got = store->Get(IxKey(i));
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(*got, std::optional<std::string>(absl::StrCat("v", i))) << IxKey(i);
  }
  const int64_t absent_before = store->presence_filter_stats().absent_answers;
  for (int64_t i = held; i < held + 1000; ++i) ASSERT_EQ(*store->Get(IxKey(i)), std::nullopt);
  EXPECT_GE(store->presence_filter_stats().absent_answers - absent_before, 980);  // the filter said so
}

// A clean close saves the filter; the next open loads it and scans only what is newer (here:
// nothing) instead of every key.
TEST_F(RocksStoreTest, AFilterSavedOnCloseIsLoadedAndNoKeyIsScannedAgain) {
  constexpr int64_t kKeys = 50'000;
  {
    auto store = RocksStore::Open(path_ + "/db", WithSnapshotsOnDemand());
    ASSERT_TRUE(store.ok());
    CommitKeys(store->get(), 0, kKeys);
    ASSERT_TRUE((*store)->db()->Flush(rocksdb::FlushOptions()).ok());
    (*store)->WaitForPresenceFilter();
    EXPECT_FALSE((*store)->presence_filter_stats().from_snapshot);
  }
  EXPECT_TRUE(std::filesystem::exists(path_ + "/db/" + RocksStore::kPresenceFilterSnapshotFile));
  auto store = RocksStore::Open(path_ + "/db", WithSnapshotsOnDemand());
  ASSERT_TRUE(store.ok());
  (*store)->WaitForPresenceFilter();
  const KeyPresenceFilterStats stats = (*store)->presence_filter_stats();
  EXPECT_TRUE(stats.ready);
  EXPECT_TRUE(stats.from_snapshot);
  EXPECT_EQ(stats.scanned_keys, 0);
  EXPECT_GE(stats.keys, kKeys * 99 / 100);
  ExpectEveryKeyHeldAndOthersAbsent(store->get(), kKeys);
}

// A crash after a save: keys written after it sit in a newer SST file and in the WAL; the next open
// loads the snapshot, scans exactly those, and no key is answered absent.
TEST_F(RocksStoreTest, AfterACrashOnlyTheKeysWrittenSinceTheSnapshotAreScanned) {
  constexpr int64_t kSaved = 40'000, kFlushedAfter = 3'000, kInTheWal = 2'000;
  InAProcessThatCrashes(path_ + "/db", {absl::StrCat("put:0:", kSaved), "flush", "save",
                                        absl::StrCat("put:", kSaved, ":", kSaved + kFlushedAfter), "flush",
                                        absl::StrCat("put:", kSaved + kFlushedAfter, ":",
                                                     kSaved + kFlushedAfter + kInTheWal)});
  auto store = RocksStore::Open(path_ + "/db", WithSnapshotsOnDemand());
  ASSERT_TRUE(store.ok());
  (*store)->WaitForPresenceFilter();
  const KeyPresenceFilterStats stats = (*store)->presence_filter_stats();
  EXPECT_TRUE(stats.from_snapshot);
  // Two SST files before the open and one from the WAL's replay: too few for a compaction, so the
  // saved keys stay in the file the snapshot covers.
  EXPECT_EQ(stats.scanned_keys, kFlushedAfter + kInTheWal);
  ExpectEveryKeyHeldAndOthersAbsent(store->get(), kSaved + kFlushedAfter + kInTheWal);
}

// An open with no usable snapshot scans every key; that scan's result is saved at once, not an
// interval later, so a crash soon after such an open does not make the next one scan them again.
TEST_F(RocksStoreTest, AFullScanIsSavedAtOnceSoACrashSoonAfterDoesNotRepeatIt) {
  constexpr int64_t kKeys = 30'000;
  const std::string snapshot = path_ + "/db/" + RocksStore::kPresenceFilterSnapshotFile;
  // Written and flushed, never saved (the empty store's scan found nothing worth saving).
  InAProcessThatCrashes(path_ + "/db", {absl::StrCat("put:0:", kKeys), "flush"});
  ASSERT_FALSE(std::filesystem::exists(snapshot));
  // Opened again: a full scan, then, with the interval an hour, only the save after it can write
  // the snapshot this process waits for before it crashes.
  InAProcessThatCrashes(path_ + "/db", {"saved"});
  auto store = RocksStore::Open(path_ + "/db", WithSnapshotsOnDemand());
  ASSERT_TRUE(store.ok());
  (*store)->WaitForPresenceFilter();
  const KeyPresenceFilterStats stats = (*store)->presence_filter_stats();
  EXPECT_TRUE(stats.from_snapshot);
  EXPECT_EQ(stats.scanned_keys, 0);
  ExpectEveryKeyHeldAndOthersAbsent(store->get(), kKeys);
}

// Crashes at random points between random writes, flushes, compactions (which rewrite keys the
// snapshot covers into new files) and saves: after each, every key written is found.
TEST_F(RocksStoreTest, AcrossRandomCrashesFlushesCompactionsAndSavesNoKeyIsEverAnsweredAbsent) {
  std::mt19937_64 rng(11);
  int64_t written = 0;
  int lives_that_skipped_keys = 0;  // opened from a snapshot and scanned fewer keys than the store has
  for (int life = 0; life < 6; ++life) {
    std::vector<std::string> steps;
    for (int i = 0; i < 12; ++i) {
      switch (rng() % 4) {
        case 0:
          steps.push_back(absl::StrCat("put:", written, ":", written + 700));
          written += 700;
          break;
        case 1: steps.push_back("flush"); break;
        case 2: steps.push_back("compact"); break;
        case 3: steps.push_back("save"); break;
      }
    }
    InAProcessThatCrashes(path_ + "/db", steps);
    auto store = RocksStore::Open(path_ + "/db", WithSnapshotsOnDemand());
    ASSERT_TRUE(store.ok());
    (*store)->WaitForPresenceFilter();
    const KeyPresenceFilterStats stats = (*store)->presence_filter_stats();
    lives_that_skipped_keys += stats.from_snapshot && stats.scanned_keys < written ? 1 : 0;
    ExpectEveryKeyHeldAndOthersAbsent(store->get(), written);
    ASSERT_FALSE(HasFailure()) << "after life " << life;
    // Closed cleanly here (a save on close): the next life starts from that snapshot.
  }
  EXPECT_GT(written, 0);
  EXPECT_GE(lives_that_skipped_keys, 3);
}

// A snapshot that does not fit the store is not used: the filter is built by a full scan, and the
// file is removed.
TEST_F(RocksStoreTest, ATornForeignOrNewerSnapshotIsNotUsed) {
  const std::string file = path_ + "/db/" + RocksStore::kPresenceFilterSnapshotFile;
  const std::string other_file = path_ + "/other/" + RocksStore::kPresenceFilterSnapshotFile;
  for (const std::string& dir : {path_ + "/db", path_ + "/other"}) {
    auto store = RocksStore::Open(dir, WithSnapshotsOnDemand());
    ASSERT_TRUE(store.ok());
    CommitKeys(store->get(), 0, 1'000);
    (*store)->WaitForPresenceFilter();
  }
  auto expect_full_scan = [&](const char* what) {
    auto store = RocksStore::Open(path_ + "/db", WithSnapshotsOnDemand());
    ASSERT_TRUE(store.ok());
    EXPECT_FALSE(std::filesystem::exists(file)) << what;  // removed when refused
    (*store)->WaitForPresenceFilter();
    EXPECT_FALSE((*store)->presence_filter_stats().from_snapshot) << what;
    EXPECT_EQ((*store)->presence_filter_stats().scanned_keys, 1'000) << what;
    ExpectEveryKeyHeldAndOthersAbsent(store->get(), 1'000);
  };
  {  // torn: one byte changed
    std::string bytes;
    {
      std::ifstream in(file, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    ASSERT_GT(bytes.size(), 100u);
    bytes[bytes.size() / 2] ^= 1;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
    expect_full_scan("torn");
  }
  std::filesystem::copy_file(other_file, file, std::filesystem::copy_options::overwrite_existing);
  expect_full_scan("another store's");
  // Newer than the store: the store put back to a copy taken before a later save.
  const std::string copy = path_ + "/copy";
  std::filesystem::copy(path_ + "/db", copy);
  {
    auto store = RocksStore::Open(path_ + "/db", WithSnapshotsOnDemand());
    ASSERT_TRUE(store.ok());
    CommitKeys(store->get(), 1'000, 1'001);
  }
  std::filesystem::copy_file(file, copy + "/" + RocksStore::kPresenceFilterSnapshotFile,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove_all(path_ + "/db");
  std::filesystem::rename(copy, path_ + "/db");
  expect_full_scan("newer");
}

// A store that grew from empty in one run has a long chain of filters, each a cache miss per
// lookup: it is not saved (not even on close), and the next open rebuilds one filter sized for the
// store instead, and saves that.
TEST_F(RocksStoreTest, AChainOfManyFiltersIsNotSavedAndTheNextOpenRebuildsOne) {
  constexpr int64_t kKeys = 600'000;  // 64Ki, then 128Ki, 256Ki, 512Ki: four filters
  {
    auto store = RocksStore::Open(path_ + "/db", WithSnapshotsOnDemand());
    ASSERT_TRUE(store.ok());
    (*store)->WaitForPresenceFilter();  // the empty store's scan, so every key below is added by commits
    for (int64_t from = 0; from < kKeys; from += 100'000) CommitKeys(store->get(), from, from + 100'000);
    EXPECT_EQ((*store)->presence_filter_stats().filters, 4);
  }
  EXPECT_FALSE(std::filesystem::exists(path_ + "/db/" + RocksStore::kPresenceFilterSnapshotFile));
  {
    auto store = RocksStore::Open(path_ + "/db", WithSnapshotsOnDemand());
    ASSERT_TRUE(store.ok());
    (*store)->WaitForPresenceFilter();
    const KeyPresenceFilterStats stats = (*store)->presence_filter_stats();
    EXPECT_FALSE(stats.from_snapshot);
    EXPECT_EQ(stats.scanned_keys, kKeys);
    EXPECT_EQ(stats.filters, 1);
    ExpectEveryKeyHeldAndOthersAbsent(store->get(), kKeys);
  }
  auto store = RocksStore::Open(path_ + "/db", WithSnapshotsOnDemand());
  ASSERT_TRUE(store.ok());
  (*store)->WaitForPresenceFilter();
  EXPECT_TRUE((*store)->presence_filter_stats().from_snapshot);  // the one-filter save is used
  EXPECT_EQ((*store)->presence_filter_stats().filters, 1);
  EXPECT_EQ((*store)->presence_filter_stats().scanned_keys, 0);
}

TEST_F(RocksStoreTest, AStoreWithoutPresencePrefixesHasNoFilter) {
  auto store = RocksStore::Open(path_ + "/db");
  ASSERT_TRUE(store.ok());
  (*store)->WaitForPresenceFilter();  // returns at once
  EXPECT_FALSE((*store)->presence_filter_stats().ready);
  EXPECT_EQ(*(*store)->Get("ix/none"), std::nullopt);
  EXPECT_EQ((*store)->presence_filter_stats().absent_answers, 0);
}

TEST(PrefixEndTest, IsTheFirstKeyAfterEveryKeyWithThePrefix) {
  EXPECT_EQ(PrefixEnd("pf/"), "pf0");
  EXPECT_EQ(PrefixEnd(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(PrefixEnd(std::string("a\xfe", 2)), std::string("a\xff", 2));
  EXPECT_EQ(PrefixEnd(""), "");                          // no bound
  EXPECT_EQ(PrefixEnd(std::string("\xff\xff", 2)), "");  // none either
  const std::string prefix("k\xff", 2);
  for (const std::string& key : {prefix, prefix + '\0', prefix + std::string(8, '\xff')}) {
    EXPECT_LT(key, PrefixEnd(prefix));
  }
}

// Profiles live in a column family of their own (kProfilesColumnFamily); every read and write of a
// "pf/" key goes there, and nothing else does.
TEST_F(RocksStoreTest, ProfilesAreWrittenToTheirOwnFamilyAndEverythingElseToTheDefaultOne) {
  auto store = RocksStore::Open(path_ + "/db");
  ASSERT_TRUE(store.ok()) << store.status();
  StagedWrites staged(store->get());
  staged.Put("pf/1", "profile");
  staged.Put("pr/1", "redirect");
  staged.Put("ev/1", "event");
  ASSERT_TRUE(staged.Commit().ok());
  rocksdb::DB* db = (*store)->db();
  rocksdb::ColumnFamilyHandle* profiles = (*store)->FamilyOf("pf/1");
  EXPECT_EQ(profiles->GetName(), kProfilesColumnFamily);
  EXPECT_EQ((*store)->FamilyOf("pr/1")->GetName(), rocksdb::kDefaultColumnFamilyName);
  EXPECT_EQ((*store)->FamilyOf("pf")->GetName(), rocksdb::kDefaultColumnFamilyName);  // not under "pf/"
  std::string value;
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), profiles, "pf/1", &value).ok());
  EXPECT_EQ(value, "profile");
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), db->DefaultColumnFamily(), "pf/1", &value).IsNotFound());
  EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), profiles, "pr/1", &value).IsNotFound());
  EXPECT_EQ(*(*store)->Get("pf/1"), "profile");
  EXPECT_EQ(*(*store)->Get("pr/1"), "redirect");
  staged.Delete("pf/1");
  ASSERT_TRUE(staged.Commit().ok());
  EXPECT_EQ(*(*store)->Get("pf/1"), std::nullopt);
}

// Reads that mix the families answer as one store: MultiGet in the keys' order, and a scan of a
// prefix both families hold ("", "p") in key order, from any start.
TEST_F(RocksStoreTest, ReadsAcrossBothFamiliesAnswerAsOneStoreInKeyOrder) {
  auto store = RocksStore::Open(path_ + "/db");
  ASSERT_TRUE(store.ok()) << store.status();
  const std::map<std::string, std::string> written = {
      {"ev/1", "e1"}, {"pa/1", "a1"}, {"pf/1", "f1"}, {"pf/2", "f2"}, {"pf/3", "f3"}, {"pg/1", "g1"}, {"zz/1", "z1"}};
  StagedWrites staged(store->get());
  for (const auto& [key, value] : written) staged.Put(key, value);
  ASSERT_TRUE(staged.Commit().ok());
  ASSERT_TRUE((*store)->Flush().ok());  // some from SST files
  StagedWrites more(store->get());
  more.Put("pf/4", "f4");  // and some from the memtables
  more.Put("pb/1", "b1");
  ASSERT_TRUE(more.Commit().ok());
  std::map<std::string, std::string> all = written;
  all["pf/4"] = "f4";
  all["pb/1"] = "b1";

  auto values = (*store)->MultiGet({"ev/1", "pb/1", "pf/2", "pf/4", "pf/9", "pg/1"});
  ASSERT_TRUE(values.ok());
  EXPECT_EQ(*values, (std::vector<std::optional<std::string>>{"e1", "b1", "f2", "f4", std::nullopt, "g1"}));

  const auto scan = [&](std::string_view prefix, std::string_view start) {
    std::vector<std::string> keys;
    EXPECT_TRUE((*store)
                    ->ScanFrom(prefix, start,
                               [&](std::string_view key, std::string_view value) {
                                 EXPECT_EQ(all.at(std::string(key)), value);
                                 keys.emplace_back(key);
                                 return true;
                               })
                    .ok());
    return keys;
  };
  const auto keys_from = [&](std::string_view prefix, std::string_view start) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : all) {
      if (key.starts_with(prefix) && key >= start) keys.push_back(key);
    }
    return keys;
  };
  for (const std::string_view prefix : {"", "p", "pf", "pf/", "pf/3", "pg/", "ev/"}) {
    for (const std::string_view start : {"", "pb/1", "pf/2", "pf/9", "pg/"}) {
      EXPECT_EQ(scan(prefix, start), keys_from(prefix, start)) << "prefix '" << prefix << "' from '" << start << "'";
    }
  }
  int visited = 0;  // a visitor that stops is not called again
  ASSERT_TRUE((*store)->ScanPrefix("p", [&](std::string_view, std::string_view) { return ++visited < 3; }).ok());
  EXPECT_EQ(visited, 3);
}

// A store written before profiles had a family of their own keeps them in the default one: the
// first open moves them over, whole, and leaves the rest where it was; a secondary over such a
// store (never opened by this version) reads them where they are.
TEST_F(RocksStoreTest, AnOlderStoresProfilesMoveIntoTheirFamilyAtOpen) {
  const std::string db_path = path_ + "/db";
  std::map<std::string, std::string> written;
  for (int i = 0; i < 25'000; ++i) written[absl::StrCat("pf/", 100'000 + i)] = absl::StrCat("profile ", i);
  written["pe/1"] = "before the profiles";
  written["pr/1"] = "after them";
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(TesseraRocksOptions(8 << 20), db_path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::WriteBatch batch;
    for (const auto& [key, value] : written) ASSERT_TRUE(batch.Put(key, value).ok());
    ASSERT_TRUE(db->Write(rocksdb::WriteOptions(), &batch).ok());
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  }
  // A reader of the older store, still open when the primary of this version moves the profiles.
  auto old = RocksStore::OpenSecondary(db_path, path_ + "/scratch");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ((*old)->FamilyOf("pf/100000")->GetName(), rocksdb::kDefaultColumnFamilyName);
  EXPECT_EQ(*(*old)->Get("pf/100007"), "profile 7");
  EXPECT_FALSE(*(*old)->MoveOfProfilesUnderWay());
  for (int open = 0; open < 2; ++open) {  // the second open finds nothing left to move
    auto store = RocksStore::Open(db_path);
    ASSERT_TRUE(store.ok()) << store.status();
    std::map<std::string, std::string> read;
    ASSERT_TRUE((*store)
                    ->ScanPrefix("",
                                 [&](std::string_view key, std::string_view value) {
                                   read.emplace(key, value);
                                   return true;
                                 })
                    .ok());
    EXPECT_EQ(read, written);
    rocksdb::DB* db = (*store)->db();
    std::string value;
    EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), db->DefaultColumnFamily(), "pf/100000", &value).IsNotFound());
    EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), (*store)->FamilyOf("pf/124999"), "pf/124999", &value).ok());
    EXPECT_EQ(value, "profile 24999");
    EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), db->DefaultColumnFamily(), "pr/1", &value).ok());
  }
  auto reader = RocksStore::OpenSecondary(db_path, path_ + "/scratch2");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->FamilyOf("pf/100000")->GetName(), kProfilesColumnFamily);
  EXPECT_EQ(*(*reader)->Get("pf/100007"), "profile 7");
  EXPECT_FALSE(*(*reader)->MoveOfProfilesUnderWay());
  absl::StatusOr<bool> caught_up = (*reader)->CatchUp();
  ASSERT_TRUE(caught_up.ok()) << caught_up.status();
  EXPECT_TRUE(*caught_up);

  // The older reader cannot follow (RocksDB would refuse: a family it does not know), says so
  // without an error, and still reads the store as it was when it opened.
  caught_up = (*old)->CatchUp();
  ASSERT_TRUE(caught_up.ok()) << caught_up.status();
  EXPECT_FALSE(*caught_up);
  EXPECT_EQ(*(*old)->Get("pf/100007"), "profile 7");
}

// A reader opened while a primary of this version is moving an older store's profiles (the family
// exists, the default family still holds profiles: as a crash part-way leaves it) is told so; once
// the move is done, one opened again is not.
TEST_F(RocksStoreTest, AReaderOpenedWhileTheProfilesMoveIsToldTheMoveIsUnderWay) {
  const std::string db_path = path_ + "/db";
  {
    rocksdb::Options options = TesseraRocksOptions(8 << 20);
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyHandle*> families;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, db_path,
                                  {{rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(options)},
                                   {kProfilesColumnFamily, rocksdb::ColumnFamilyOptions(options)}},
                                  &families, &raw)
                    .ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), families[1], "pf/1", "moved").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), families[0], "pf/1", "moved").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), families[0], "pf/2", "not yet").ok());
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions(), families).ok());
    for (rocksdb::ColumnFamilyHandle* family : families) ASSERT_TRUE(db->DestroyColumnFamilyHandle(family).ok());
  }
  {
    auto during = RocksStore::OpenSecondary(db_path, path_ + "/scratch");
    ASSERT_TRUE(during.ok()) << during.status();
    EXPECT_EQ(*(*during)->Get("pf/2"), std::nullopt) << "why such a reader must wait";
    EXPECT_TRUE(*(*during)->MoveOfProfilesUnderWay());
  }
  ASSERT_TRUE(RocksStore::Open(db_path).ok());  // finishes the move
  auto after = RocksStore::OpenSecondary(db_path, path_ + "/scratch2");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_FALSE(*(*after)->MoveOfProfilesUnderWay());
  EXPECT_EQ(*(*after)->Get("pf/2"), "not yet");
}

// An older store without a profile yet: its reader follows the primary until a primary of this
// version creates the profiles family, and then says it must be opened again.
TEST_F(RocksStoreTest, AReaderOfAnOlderStoreWithoutProfilesIsToldOnceTheirFamilyExists) {
  const std::string db_path = path_ + "/db";
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(TesseraRocksOptions(8 << 20), db_path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "pe/1", "an identifier").ok());
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  }
  auto old = RocksStore::OpenSecondary(db_path, path_ + "/scratch");
  ASSERT_TRUE(old.ok()) << old.status();
  absl::StatusOr<bool> caught_up = (*old)->CatchUp();
  ASSERT_TRUE(caught_up.ok()) << caught_up.status();
  EXPECT_TRUE(*caught_up);
  auto store = RocksStore::Open(db_path);
  ASSERT_TRUE(store.ok()) << store.status();
  caught_up = (*old)->CatchUp();
  ASSERT_TRUE(caught_up.ok()) << caught_up.status();
  EXPECT_FALSE(*caught_up);
  EXPECT_EQ(*(*old)->Get("pe/1"), "an identifier");
}

}  // namespace
}  // namespace tessera
