// A process that opens a presence-filtered RocksStore, does what its arguments say and then stops
// as a crash would: _exit, no destructors (so no save of the filter on close), RocksDB's threads
// cut off wherever they are. rocks_store_test runs it; a forked child of the test cannot stand in,
// since RocksDB's thread pools of the test process do not exist in a fork.
//
//   rocks_store_crash_child DIR STEP...   with STEP one of
//     put:FROM:TO   commits "ix/w<i>" = "v<i>" for FROM <= i < TO, in one batch
//     flush         flushes the memtable into an SST file
//     compact       compacts the whole key range (rewrites every key into new files)
//     save          waits for the filter's scan and saves its snapshot
//     saved         waits until the store has saved a snapshot on its own (up to 30 s)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/rocks_store.h"
#include "rocksdb/db.h"

namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "rocks_store_crash_child: %s\n", what.c_str());
  _exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Fail("usage: rocks_store_crash_child DIR STEP...");
  tessera::RocksStoreOptions options;
  options.presence_filter_prefixes = {"ix/", "dv/"};
  options.presence_filter_snapshot_every = absl::Hours(1);  // saved only when a step says
  auto store = tessera::RocksStore::Open(argv[1], options);
  if (!store.ok()) Fail(std::string(store.status().message()));
  for (int i = 2; i < argc; ++i) {
    const std::string step = argv[i];
    if (step == "flush") {
      if (!(*store)->db()->Flush(rocksdb::FlushOptions()).ok()) Fail("flush");
    } else if (step == "compact") {
      if (!(*store)->db()->CompactRange(rocksdb::CompactRangeOptions(), nullptr, nullptr).ok()) Fail("compact");
    } else if (step == "save") {
      (*store)->WaitForPresenceFilter();
      if (absl::Status s = (*store)->SavePresenceFilterSnapshot(); !s.ok()) Fail(std::string(s.message()));
    } else if (step == "saved") {
      const std::string file = absl::StrCat(argv[1], "/", tessera::RocksStore::kPresenceFilterSnapshotFile);
      (*store)->WaitForPresenceFilter();
      for (int waited_ms = 0; !std::filesystem::exists(file); waited_ms += 10) {
        if (waited_ms > 30'000) Fail("no snapshot saved within 30 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    } else if (step.starts_with("put:")) {
      const std::vector<std::string> parts = absl::StrSplit(step, ':');
      int64_t from = 0, to = 0;
      if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &from) || !absl::SimpleAtoi(parts[2], &to)) Fail(step);
      tessera::StagedWrites staged(store->get());
      for (int64_t k = from; k < to; ++k) staged.Put(absl::StrCat("ix/w", k), absl::StrCat("v", k));
      if (!staged.Commit().ok()) Fail("commit");
    } else {
      Fail(absl::StrCat("unknown step ", step));
    }
  }
  _exit(0);  // the crash: nothing is closed
}
