#include "app/profile_batch.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "app/outputs.h"
#include "common/deterministic_bytes.h"
#include "common/status_macros.h"
#include "profiles/order_totals.h"
#include "profiles/profile_state.h"
#include "profiles/segments.h"

namespace tessera::app {

ProfileUpdates::ProfileUpdates(ProfileUpdates&& other) noexcept
    : arena_(std::move(other.arena_)),
      updates_(std::exchange(other.updates_, nullptr)),
      records_(std::move(other.records_)) {}

ProfileUpdates& ProfileUpdates::operator=(ProfileUpdates&& other) noexcept {
  if (this != &other) {
    updates_ = std::exchange(other.updates_, nullptr);  // before the arena it lives on goes
    arena_ = std::move(other.arena_);
    records_ = std::move(other.records_);
  }
  return *this;
}

std::unique_ptr<google::protobuf::Arena> ProfileBatch::NewArena() {
  // Blocks up to 64 KiB rather than the default 8 KiB: a batch holds some thousands of profiles of
  // a few KiB each (and a copy of most of each), freed all at once.
  google::protobuf::ArenaOptions options;
  options.start_block_size = 4 << 10;
  options.max_block_size = 64 << 10;
  return std::make_unique<google::protobuf::Arena>(options);
}

ProfileBatch::Entry& ProfileBatch::NewEntry(uint64_t id) {
  Entry& entry = entries_[id];
  entry.current = google::protobuf::Arena::CreateMessage<v1::Profile>(arena_.get());
  return entry;
}

absl::StatusOr<ProfileBatch::Entry*> ProfileBatch::ReadStored(uint64_t id) {
  v1::Profile* stored = google::protobuf::Arena::CreateMessage<v1::Profile>(arena_.get());
  ASSIGN_OR_RETURN(bool found, store_->LoadInto(id, *stored));
  if (!found) return nullptr;  // the empty message stays on the arena until Finish: a few hundred bytes
  Entry& entry = entries_[id];
  entry.current = stored;
  entry.stored_version = stored->version();
  entry.stored_buckets = stored->order_buckets();
  // Stored apart, none of them read yet. (A profile is never stored with this set.)
  stored->set_orders_partial(entry.stored_buckets > 0);
  return &entry;
}

ProfileBatch::Entry* ProfileBatch::Find(uint64_t id) {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

absl::StatusOr<ProfileBatch::Entry*> ProfileBatch::Load(uint64_t id, std::string_view workspace) {
  ASSIGN_OR_RETURN(Entry * stored, LoadStored(id));
  if (stored != nullptr) return stored;
  Entry& entry = NewEntry(id);
  entry.evaluate_all = true;  // no membership yet
  entry.current->set_id(id);
  entry.current->set_workspace(std::string(workspace));
  return &entry;
}

v1::Profile* ProfileBatch::Scratch() {
  if (scratch_ == nullptr) scratch_ = google::protobuf::Arena::CreateMessage<v1::Profile>(arena_.get());
  return scratch_;
}

absl::StatusOr<ProfileBatch::Entry*> ProfileBatch::LoadStored(uint64_t id) {
  if (Entry* entry = Find(id)) return entry;
  if (not_stored_.contains(id)) return nullptr;
  ASSIGN_OR_RETURN(Entry * entry, ReadStored(id));
  if (entry == nullptr) {
    not_stored_.insert(id);
    return nullptr;
  }
  entry->before = profiles::ProfileSnapshot(*entry->current, Scratch());
  entry->loaded_only = true;
  return entry;
}

absl::Status ProfileBatch::Prefetch(const std::vector<uint64_t>& ids) {
  std::vector<uint64_t> missing;
  missing.reserve(ids.size());
  for (uint64_t id : ids) {
    if (!entries_.contains(id)) missing.push_back(id);
  }
  return store_->Prefetch(std::move(missing));
}

absl::Status ProfileBatch::PrefetchOrders(const std::vector<std::pair<uint64_t, std::string_view>>& orders) {
  std::vector<std::pair<uint64_t, uint32_t>> buckets;
  for (const auto& [id, order_id] : orders) {
    ASSIGN_OR_RETURN(Entry * entry, LoadStored(id));
    if (entry == nullptr || !entry->current->orders_partial()) continue;
    const uint32_t bucket = profiles::OrderBucketOf(order_id, entry->current->order_buckets());
    if (!entry->loaded_buckets.contains(bucket)) buckets.emplace_back(id, bucket);
  }
  if (buckets.empty()) return absl::OkStatus();
  return store_->PrefetchOrderBuckets(std::move(buckets));
}

absl::Status ProfileBatch::LoadBucket(uint64_t id, Entry& entry, uint32_t bucket) {
  if (entry.loaded_buckets.contains(bucket)) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, store_->LoadOrderBucket(id, bucket));
  std::string& kept = entry.loaded_buckets[bucket];
  if (!bytes.has_value()) return absl::OkStatus();
  auto* stored = google::protobuf::Arena::CreateMessage<v1::OrderBucket>(arena_.get());  // moved from below
  if (!stored->ParseFromString(*bytes)) {
    return absl::DataLossError(absl::StrCat("order bucket ", bucket, " of profile ", id, " is ", bytes->size(),
                                            " bytes that do not parse as tessera.v1.OrderBucket"));
  }
  // No order of this bucket is in memory yet (an event's order is only set after its bucket is
  // read), so these are the orders' states as stored.
  auto& orders = *entry.current->mutable_orders();
  for (auto& [order_id, order] : *stored->mutable_orders()) orders[order_id] = std::move(order);
  kept = *std::move(bytes);
  return absl::OkStatus();
}

absl::Status ProfileBatch::LoadBuckets(uint64_t id, Entry& entry, const std::vector<uint32_t>& buckets) {
  std::vector<std::pair<uint64_t, uint32_t>> missing;
  for (uint32_t bucket : buckets) {
    if (!entry.loaded_buckets.contains(bucket)) missing.emplace_back(id, bucket);
  }
  if (missing.size() > 1) RETURN_IF_ERROR(store_->PrefetchOrderBuckets(missing));
  for (const auto& [unused, bucket] : missing) RETURN_IF_ERROR(LoadBucket(id, entry, bucket));
  return absl::OkStatus();
}

absl::Status ProfileBatch::LoadAllOrders(uint64_t id, Entry& entry) {
  if (!entry.current->orders_partial()) return absl::OkStatus();
  std::vector<uint32_t> all(entry.current->order_buckets());
  for (uint32_t bucket = 0; bucket < all.size(); ++bucket) all[bucket] = bucket;
  RETURN_IF_ERROR(LoadBuckets(id, entry, all));
  entry.current->set_orders_partial(false);
  return absl::OkStatus();
}

absl::StatusOr<v1::Profile*> ProfileBatch::Get(uint64_t id, std::string_view workspace) {
  ASSIGN_OR_RETURN(Entry * entry, Load(id, workspace));
  if (entry->before_pending) {  // loaded by Reevaluate: keep the stored state for ChangedFields
    entry->before = profiles::ProfileSnapshot(*entry->current, Scratch());
    entry->before_pending = false;
  }
  entry->changed = true;
  entry->loaded_only = false;
  return entry->current;
}

absl::StatusOr<v1::Profile*> ProfileBatch::GetWhole(uint64_t id, std::string_view workspace) {
  ASSIGN_OR_RETURN(v1::Profile * profile, Get(id, workspace));
  RETURN_IF_ERROR(LoadAllOrders(id, *Find(id)));
  return profile;
}

absl::Status ProfileBatch::NeedOrdersOf(uint64_t id, const v1::Event& event) {
  const std::string_view order_id = profiles::OrderIdOf(event);
  if (order_id.empty()) return absl::OkStatus();
  Entry* entry = Find(id);
  if (entry == nullptr) return absl::InternalError(absl::StrCat("NeedOrdersOf before Get of profile ", id));
  if (!entry->current->orders_partial()) return absl::OkStatus();
  return LoadBucket(id, *entry, profiles::OrderBucketOf(order_id, entry->current->order_buckets()));
}

absl::Status ProfileBatch::Reevaluate(uint64_t id) {
  if (Entry* entry = Find(id)) {
    entry->loaded_only = false;  // read ahead by PrefetchOrders: evaluated at Finish after all
    entry->evaluate_all = true;
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(Entry * entry, ReadStored(id));
  if (entry == nullptr) return absl::OkStatus();
  entry->evaluate_all = true;
  // Only the version is needed unless an event touches it too (then Get takes the snapshot): a
  // backfill re-evaluates every profile and the snapshot would be pure overhead.
  entry->before_pending = true;
  return absl::OkStatus();
}

absl::Status ProfileBatch::Absorb(const v1::Profile& loser, uint64_t winner) {
  Entry* entry = Find(winner);
  if (entry == nullptr) return absl::InternalError(absl::StrCat("Absorb into profile ", winner, " before its Get"));
  if (loser.orders_partial()) {
    return absl::InternalError(absl::StrCat("profile ", loser.id(), " is absorbed without all its orders"));
  }
  v1::Profile& into = *entry->current;
  const bool absorbed = loser.id() == into.id() ||
                        std::binary_search(into.merged_from().begin(), into.merged_from().end(), loser.id());
  if (absorbed) return absl::OkStatus();  // a replayed transfer: AbsorbProfile would do nothing either
  if (into.orders_partial()) {  // the winner's states of the loser's orders decide which state wins
    std::vector<uint32_t> buckets;
    buckets.reserve(loser.orders_size());
    for (const auto& [order_id, order] : loser.orders()) {
      buckets.push_back(profiles::OrderBucketOf(order_id, into.order_buckets()));
    }
    std::sort(buckets.begin(), buckets.end());
    buckets.erase(std::unique(buckets.begin(), buckets.end()), buckets.end());
    RETURN_IF_ERROR(LoadBuckets(winner, *entry, buckets));
  }
  profiles::SegmentEngine::AbsorbWindows(loser, into);
  profiles::AbsorbProfile(loser, into, *config_);
  entry->evaluate_all = true;  // the loser's state changed much of the winner's
  return absl::OkStatus();
}

void ProfileBatch::RecordEvent(uint64_t id, const v1::Event& event, int64_t now_ms) {
  if (activation_ == nullptr) return;
  Entry* entry = Find(id);
  if (entry == nullptr) return;  // not got: nothing was folded
  entry->windows_counted |= activation_->RecordEvent(event, now_ms, *entry->current);
  if (!profiles::OrderIdOf(event).empty()) entry->orders_folded = true;
  if (!event.traits().empty()) entry->traits_folded = true;  // ApplyEvent sets traits from these only
}

absl::Status ProfileBatch::SettleOrders(uint64_t id, Entry& entry) {
  v1::Profile& profile = *entry.current;
  if (!profile.order_totals().stale()) return absl::OkStatus();
  entry.orders_folded = true;  // recounted: segments on order-derived traits see it
  RETURN_IF_ERROR(LoadAllOrders(id, entry));
  profiles::RecountOrderTotals(profiles::ProfileTimeZone(profile, *config_), profile);
  return absl::OkStatus();
}

absl::Status ProfileBatch::SaveProfile(uint64_t id, Entry& entry, std::string* record) {
  v1::Profile& profile = *entry.current;
  const uint32_t buckets = profile.order_buckets();
  const int64_t count = buckets == 0 ? profile.orders_size() : profile.order_totals().orders();
  uint32_t wanted = buckets;
  if (buckets == 0 ? count > profiles::kInlineOrders : count > profiles::kMaxOrdersPerBucket * buckets) {
    wanted = profiles::OrderBucketsFor(count);
  }
  if (wanted != buckets) {
    // Moving apart, or more buckets: every order is rewritten in the new layout.
    RETURN_IF_ERROR(LoadAllOrders(id, entry));
    if (!profile.has_order_totals()) {  // stored before totals existed: they are read, not the orders
      profiles::RecountOrderTotals(profiles::ProfileTimeZone(profile, *config_), profile);
    }
    profile.mutable_order_totals()->set_orders(profile.orders_size());
    // On the profile's arena, so that the orders move rather than copy.
    std::vector<v1::OrderBucket*> layout(wanted);
    for (v1::OrderBucket*& bucket : layout) bucket = google::protobuf::Arena::CreateMessage<v1::OrderBucket>(arena_.get());
    for (auto& [order_id, order] : *profile.mutable_orders()) {
      (*layout[profiles::OrderBucketOf(order_id, wanted)]->mutable_orders())[order_id] = std::move(order);
    }
    for (uint32_t bucket = 0; bucket < wanted; ++bucket) {
      std::string bytes = DeterministicBytes(*layout[bucket]);
      // An empty bucket needs a delete only where the old layout may have stored something.
      if (!bytes.empty() || bucket < entry.stored_buckets) store_->SaveOrderBucket(id, bucket, bytes);
    }
    profile.set_order_buckets(wanted);
  } else if (buckets > 0) {
    // Only the buckets read can have changed; every order in memory belongs to one of them.
    absl::flat_hash_map<uint32_t, v1::OrderBucket*> layout;  // on the arena, as above
    for (auto& [order_id, order] : *profile.mutable_orders()) {
      const uint32_t bucket = profiles::OrderBucketOf(order_id, buckets);
      if (!entry.loaded_buckets.contains(bucket)) {
        return absl::InternalError(absl::StrCat("order ", order_id, " of profile ", id, " is in memory but its bucket ",
                                                bucket, " was never read: saving it would lose the others"));
      }
      v1::OrderBucket*& into = layout[bucket];
      if (into == nullptr) into = google::protobuf::Arena::CreateMessage<v1::OrderBucket>(arena_.get());
      (*into->mutable_orders())[order_id] = std::move(order);
    }
    for (const auto& [bucket, stored_bytes] : entry.loaded_buckets) {
      auto it = layout.find(bucket);
      std::string bytes = it == layout.end() ? std::string() : DeterministicBytes(*it->second);
      if (bytes != stored_bytes) store_->SaveOrderBucket(id, bucket, bytes);
    }
  }
  // Buckets past the count (a profile rebuilt with fewer orders): nothing may read them again.
  for (uint32_t bucket = profile.order_buckets(); bucket < entry.stored_buckets; ++bucket) {
    store_->SaveOrderBucket(id, bucket, "");
  }
  entry.stored_buckets = profile.order_buckets();
  entry.loaded_buckets.clear();
  if (profile.order_buckets() > 0) profile.clear_orders();
  profile.set_orders_partial(false);
  if (record != nullptr) {
    if (std::optional<ProfileRecordParts> parts = ProfileRecordBytes(profile, Scratch())) {
      store_->SaveSerialized(id, absl::StrCat(parts->record, parts->rest));
      *record = std::move(parts->record);
      return absl::OkStatus();
    }
  }
  store_->Save(profile);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<uint64_t>> ProfileBatch::MergedInto(uint64_t id) {
  if (auto it = entries_.find(id); it != entries_.end() && it->second.merged_into != 0) return it->second.merged_into;
  return store_->MergedInto(id);
}

absl::Status ProfileBatch::MarkMerged(uint64_t loser, uint64_t winner) {
  ASSIGN_OR_RETURN(Entry * entry, Load(loser, ""));
  entry->merged_into = winner;
  entry->changed = true;
  entry->loaded_only = false;
  return absl::OkStatus();
}

absl::StatusOr<ProfileUpdates> ProfileBatch::Finish(int64_t now_ms, profiles::ActivationOutputs* activation_out) {
  profiles::ActivationOutputs unused;
  profiles::ActivationOutputs& activation = activation_out != nullptr ? *activation_out : unused;
  const absl::Time now = absl::FromUnixMillis(now_ms);
  std::vector<uint64_t> ids;
  ids.reserve(entries_.size());
  for (const auto& [id, entry] : entries_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());  // deterministic output order, whatever the hash order
  google::protobuf::Arena* arena = arena_.get();
  auto* updates = google::protobuf::Arena::CreateMessage<ProfileUpdates::Field>(arena);
  updates->Reserve(static_cast<int>(ids.size()));
  std::vector<std::string> records;
  records.reserve(ids.size());
  for (uint64_t id : ids) {
    Entry& entry = entries_[id];
    if (entry.loaded_only) continue;  // read ahead for an event that then did not apply (a replay)
    const size_t changes_before = activation.segment_changes.size();
    std::string record;
    if (entry.merged_into == 0) {
      RETURN_IF_ERROR(SettleOrders(id, entry));
      if (activation_ != nullptr) {
        // Whether membership moved is published on segment-changes, with the version set below.
        // A stored profile only events touched: its segments that read nothing they changed keep
        // their membership (a page view changes no trait and no order; most segments read those).
        const bool incremental = incremental_segments_ && !entry.evaluate_all && entry.changed;
        const profiles::SegmentInputsChanged inputs{
            .traits = incremental && entry.traits_folded && profiles::TraitsChanged(entry.before, *entry.current),
            .orders = entry.orders_folded,
            .windows = entry.windows_counted};
        RETURN_IF_ERROR(activation_->Evaluate(*entry.current, *kv_, now, activation, incremental ? &inputs : nullptr).status());
      }
      if (!entry.changed) {
        // Only re-evaluated (a timer, a backfill): membership, timers and window buckets may have
        // moved, none of which is in the profile's JSON. Saved without a new version and without a
        // profile update: segment-changes carries the membership, naming the current version.
        for (size_t i = changes_before; i < activation.segment_changes.size(); ++i) {
          activation.segment_changes[i].version = entry.stored_version;
        }
        RETURN_IF_ERROR(SaveProfile(id, entry));
        continue;
      }
    }
    auto* update = google::protobuf::Arena::CreateMessage<v1::ProfileUpdate>(arena);
    update->set_profile_id(id);
    update->set_updated_at_ms(now_ms);
    update->set_version(entry.stored_version + 1);
    if (entry.merged_into != 0) {
      if (activation_ != nullptr) activation_->Retire(*entry.current, *kv_, now, activation);
      store_->MarkMerged(id, entry.merged_into);
      // Its orders went to the winner (absorbed here or handed on whole).
      for (uint32_t bucket = 0; bucket < entry.stored_buckets; ++bucket) store_->SaveOrderBucket(id, bucket, "");
      update->set_merged_into(entry.merged_into);
    } else {
      // Compared before the version moves, so "changed" names only what the events changed.
      for (std::string& field : profiles::ChangedFields(entry.before, *entry.current)) {
        update->add_changed_fields(std::move(field));
      }
      entry.current->set_version(update->version());
      RETURN_IF_ERROR(SaveProfile(id, entry, &record));
      update->set_allocated_profile(std::exchange(entry.current, nullptr));  // the same arena: no copy
    }
    for (size_t i = changes_before; i < activation.segment_changes.size(); ++i) {
      activation.segment_changes[i].version = update->version();
    }
    updates->AddAllocated(update);  // the same arena: no copy
    records.push_back(std::move(record));
  }
  entries_.clear();
  not_stored_.clear();
  // What the entries pointed into goes with the updates; the next batch starts a new arena.
  scratch_ = nullptr;  // on the arena handed on
  ProfileUpdates finished(std::exchange(arena_, NewArena()), updates, std::move(records));
  return finished;
}

}  // namespace tessera::app
