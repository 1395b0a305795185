// DeliveryTracker: what one destination still owes, as plain data (no Kafka, no HTTP, no clock of
// its own), so the ordering, coalescing and offset rules can be tested by shuffling.
//
// The rules it enforces:
// - Order per key (profile id): a key's next record is handed out only after the previous one is
//   finished (delivered, dead-lettered or skipped). Other keys are never blocked by it.
// - Coalescing: a profile update is the whole profile, so a newer *coalescible* record of a key
//   replaces an older one that is still waiting (not in flight); the older one is finished as
//   "superseded". A record in flight is never replaced; the newer one waits behind it, and
//   replaces it if the in-flight one fails and has to wait for a retry.
// - Offsets: CommittableOffsets() gives, per partition, the lowest offset not yet finished (or the
//   offset after the last record seen when everything is finished), so a crash redelivers what was
//   pending and pending work never needs to live anywhere but in Kafka.
// - Memory: pending() counts held records; the worker stops fetching at its cap.
//
// Thread-safety: not thread-safe; it belongs to the destination's worker thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "common/kafka.h"

namespace tessera::sinks {

// One polled record a destination must act on.
struct PendingRecord {
  uint64_t key = 0;  // the profile id: the unit of ordering
  TopicPartition source;
  int64_t offset = 0;
  bool coalescible = true;  // a full-state profile update (false: an event such as a segment change)
  std::string payload;
};

// A record handed out for sending. `record` stays valid until Finish/Retry for `key`.
struct DeliveryTicket {
  uint64_t key = 0;
  const PendingRecord* record = nullptr;
  int attempts = 0;                // failed attempts so far for this key's head
  int64_t first_failure_ms = -1;   // when its first failure happened (-1: none yet)
};

class DeliveryTracker {
 public:
  // Takes a polled record. Records of one partition must arrive in offset order.
  void Add(PendingRecord record);

  // Up to `max` keys whose head may be sent now (not in flight, no retry pending past `now_ms`),
  // in the order they became ready. Each is in flight until Finish or Retry.
  std::vector<DeliveryTicket> TakeReady(size_t max, int64_t now_ms);

  // The in-flight head of `key` is done (delivered, skipped or dead-lettered): its offset is
  // finished and the key's next record, if any, becomes ready.
  void Finish(uint64_t key);

  // The in-flight head of `key` failed; it is retried at `retry_at_ms` (or a newer coalescible
  // record of the key takes its place and its retry schedule).
  void Retry(uint64_t key, int64_t retry_at_ms, int64_t now_ms);

  // Forgets every record of partitions not in `assigned` (after a rebalance, their new owner
  // re-reads them from the committed offset). Results for their in-flight keys must be ignored:
  // HoldsInFlight() answers whether a result still matters.
  void RetainPartitions(const std::set<TopicPartition>& assigned);
  bool HoldsInFlight(uint64_t key) const;

  // Per partition seen: the next offset a restarted consumer must read (see the file comment).
  std::map<TopicPartition, int64_t> CommittableOffsets() const;

  size_t pending() const { return pending_; }
  size_t in_flight() const { return in_flight_; }
  int64_t superseded() const { return superseded_; }
  // Keys waiting for a retry.
  size_t retrying() const { return retrying_; }
  // The earliest retry time (possibly of a key since finished), or -1 when none is scheduled.
  int64_t NextRetryAt() const { return retry_heap_.empty() ? -1 : retry_heap_.top().first; }

 private:
  // A key's records, oldest first. Most keys hold one record at a time, so the head lives in the
  // slot itself (node_hash_map keeps its address stable for DeliveryTicket) and only a backlog
  // allocates.
  struct KeySlot {
    PendingRecord head;
    std::vector<PendingRecord> rest;
    size_t size() const { return 1 + rest.size(); }
    PendingRecord& back() { return rest.empty() ? head : rest.back(); }
    void PopFront();
    bool in_flight = false;
    bool waiting_retry = false;
    uint64_t epoch = 0;  // tells stale queue entries from live ones
    int attempts = 0;
    int64_t first_failure_ms = -1;
  };
  struct PartitionOffsets {
    std::deque<std::pair<int64_t, bool>> outstanding;  // (offset, finished), ascending
    int64_t next_after_last = 0;
  };

  void FinishOffset(const PendingRecord& record);
  void MakeReady(uint64_t key, KeySlot& slot);

  absl::node_hash_map<uint64_t, KeySlot> slots_;
  std::deque<std::pair<uint64_t, uint64_t>> ready_;  // (key, epoch)
  using RetryEntry = std::pair<int64_t, std::pair<uint64_t, uint64_t>>;  // (retry_at, (key, epoch))
  std::priority_queue<RetryEntry, std::vector<RetryEntry>, std::greater<>> retry_heap_;
  std::map<TopicPartition, PartitionOffsets> offsets_;
  uint64_t next_epoch_ = 1;
  size_t pending_ = 0;
  size_t in_flight_ = 0;
  size_t retrying_ = 0;
  int64_t superseded_ = 0;
};

}  // namespace tessera::sinks
