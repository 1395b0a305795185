#include "sinks/delivery_tracker.h"

#include <algorithm>

namespace tessera::sinks {

void DeliveryTracker::Add(PendingRecord record) {
  PartitionOffsets& offsets = offsets_[record.source];
  offsets.outstanding.emplace_back(record.offset, false);
  offsets.next_after_last = record.offset + 1;
  ++pending_;

  const uint64_t key = record.key;
  auto [it, inserted] = slots_.try_emplace(key);
  KeySlot& slot = it->second;
  if (inserted) {
    slot.head = std::move(record);
    MakeReady(key, slot);
    return;
  }
  // The newest waiting record may be replaced when both are full states; the in-flight head never.
  const bool back_is_waiting = slot.size() > 1 || !slot.in_flight;
  if (back_is_waiting && slot.back().coalescible && record.coalescible) {
    FinishOffset(slot.back());
    ++superseded_;
    slot.back() = std::move(record);
    return;
  }
  slot.rest.push_back(std::move(record));
}

void DeliveryTracker::KeySlot::PopFront() {
  head = std::move(rest.front());
  rest.erase(rest.begin());
}

void DeliveryTracker::MakeReady(uint64_t key, KeySlot& slot) {
  slot.epoch = next_epoch_++;
  ready_.emplace_back(key, slot.epoch);
}

std::vector<DeliveryTicket> DeliveryTracker::TakeReady(size_t max, int64_t now_ms) {
  while (!retry_heap_.empty() && retry_heap_.top().first <= now_ms) {
    const auto [key, epoch] = retry_heap_.top().second;
    retry_heap_.pop();
    auto it = slots_.find(key);
    if (it == slots_.end() || it->second.epoch != epoch || !it->second.waiting_retry) continue;
    it->second.waiting_retry = false;
    --retrying_;
    MakeReady(key, it->second);
  }
  std::vector<DeliveryTicket> out;
  while (out.size() < max && !ready_.empty()) {
    const auto [key, epoch] = ready_.front();
    ready_.pop_front();
    auto it = slots_.find(key);
    if (it == slots_.end() || it->second.epoch != epoch || it->second.in_flight || it->second.waiting_retry) continue;
    KeySlot& slot = it->second;
    slot.in_flight = true;
    ++in_flight_;
    out.push_back(DeliveryTicket{key, &slot.head, slot.attempts, slot.first_failure_ms});
  }
  return out;
}

void DeliveryTracker::Finish(uint64_t key) {
  auto it = slots_.find(key);
  if (it == slots_.end() || !it->second.in_flight) return;
  KeySlot& slot = it->second;
  slot.in_flight = false;
  --in_flight_;
  FinishOffset(slot.head);
  slot.attempts = 0;
  slot.first_failure_ms = -1;
  if (slot.rest.empty()) {
    slots_.erase(it);
  } else {
    slot.PopFront();
    MakeReady(key, slot);
  }
}

void DeliveryTracker::Retry(uint64_t key, int64_t retry_at_ms, int64_t now_ms) {
  auto it = slots_.find(key);
  if (it == slots_.end() || !it->second.in_flight) return;
  KeySlot& slot = it->second;
  slot.in_flight = false;
  --in_flight_;
  ++slot.attempts;
  if (slot.first_failure_ms < 0) slot.first_failure_ms = now_ms;
  // A newer full state waiting behind a failed one makes the failed one pointless to resend.
  if (!slot.rest.empty() && slot.head.coalescible && slot.rest.front().coalescible) {
    FinishOffset(slot.head);
    ++superseded_;
    slot.PopFront();
  }
  slot.waiting_retry = true;
  ++retrying_;
  slot.epoch = next_epoch_++;
  retry_heap_.push({retry_at_ms, {key, slot.epoch}});
}

bool DeliveryTracker::HoldsInFlight(uint64_t key) const {
  auto it = slots_.find(key);
  return it != slots_.end() && it->second.in_flight;
}

void DeliveryTracker::FinishOffset(const PendingRecord& record) {
  --pending_;
  auto pit = offsets_.find(record.source);
  if (pit == offsets_.end()) return;
  auto& outstanding = pit->second.outstanding;
  auto at = std::lower_bound(outstanding.begin(), outstanding.end(), std::make_pair(record.offset, false));
  if (at != outstanding.end() && at->first == record.offset) at->second = true;
  while (!outstanding.empty() && outstanding.front().second) outstanding.pop_front();
}

void DeliveryTracker::RetainPartitions(const std::set<TopicPartition>& assigned) {
  for (auto it = slots_.begin(); it != slots_.end();) {
    KeySlot& slot = it->second;
    // A key lives in one partition (records are keyed by it), so its whole slot goes or stays.
    if (!assigned.contains(slot.head.source)) {
      pending_ -= slot.size();
      if (slot.in_flight) --in_flight_;
      if (slot.waiting_retry) --retrying_;
      slots_.erase(it++);
    } else {
      ++it;
    }
  }
  std::erase_if(offsets_, [&](const auto& entry) { return !assigned.contains(entry.first); });
}

std::map<TopicPartition, int64_t> DeliveryTracker::CommittableOffsets() const {
  std::map<TopicPartition, int64_t> out;
  for (const auto& [tp, offsets] : offsets_) {
    out[tp] = offsets.outstanding.empty() ? offsets.next_after_last : offsets.outstanding.front().first;
  }
  return out;
}

}  // namespace tessera::sinks
