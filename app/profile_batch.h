// The profiles of one poll batch, held in memory: each is read from the store at most once and
// written once at the end with one new version, however many events and merges touched it. Used
// by the fused pipeline and by the distributed profiles worker.
//
// With an ActivationEngine, Finish also brings every touched profile's segment membership,
// triggers and timers up to date (profiles/triggers.h) in the same staged writes, and a merged-away
// profile leaves its segments. A profile only re-evaluated (a timer, a backfill) is saved without
// a new version and without a profile update: membership is not part of the profile's JSON and is
// published on segment-changes (naming the profile's current version) instead.
//
// Orders kept apart (Profile.order_buckets, profiles/profile_store.h): a stored profile comes in
// with none of them in memory (Profile.orders_partial). Before an order event is folded the batch
// reads the bucket of its order (NeedOrdersOf; PrefetchOrders reads a batch's in one MultiGet);
// before a profile's state is absorbed or handed on, every bucket (GetWhole). What needs every
// order of a winner (OrderTotals.stale) is recounted at Finish, which writes only the buckets
// whose orders changed, and moves the orders of a profile that passed kInlineOrders to buckets.
//
// The batch's profiles, their snapshots and the updates Finish returns are allocated on one
// protobuf arena, which Finish hands to the updates: a profile is a tree of maps, strings and
// sub-messages, and freeing it node by node was an eighth of the profiles stage's time.
//
// Thread-safety: not thread-safe; belongs to the processing thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "common/kv.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "profiles/computed_traits.h"
#include "profiles/profile_state.h"
#include "profiles/profile_store.h"
#include "profiles/triggers.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::app {

// The profile updates of one batch, in id order, with the arena they and their profiles live on.
// Move-only; nothing points into it once it is destroyed.
class ProfileUpdates {
 public:
  using Field = google::protobuf::RepeatedPtrField<v1::ProfileUpdate>;

  ProfileUpdates() = default;  // none
  ProfileUpdates(ProfileUpdates&& other) noexcept;
  ProfileUpdates& operator=(ProfileUpdates&& other) noexcept;
  ProfileUpdates(const ProfileUpdates&) = delete;
  ProfileUpdates& operator=(const ProfileUpdates&) = delete;
  ~ProfileUpdates() = default;

  size_t size() const { return updates_ != nullptr ? static_cast<size_t>(updates_->size()) : 0; }
  bool empty() const { return size() == 0; }
  const v1::ProfileUpdate& operator[](size_t i) const { return updates_->Get(static_cast<int>(i)); }
  // With no updates, begin and end are both the default iterator, so a loop runs no times.
  Field::const_iterator begin() const {
    return updates_ != nullptr ? updates_->cbegin() : Field::const_iterator();
  }
  Field::const_iterator end() const {
    return updates_ != nullptr ? updates_->cend() : Field::const_iterator();
  }
  Field::iterator begin() { return updates_ != nullptr ? updates_->begin() : Field::iterator(); }
  Field::iterator end() { return updates_ != nullptr ? updates_->end() : Field::iterator(); }
  // Update i's profile as a profile-changes record carries it, serialized as it was saved
  // (ProfileRecordBytes in app/outputs.h), for ProfileChangeOutput; empty for a tombstone or a
  // profile that needs the record's stripping path.
  std::string_view profile_record(size_t i) const { return records_[i]; }

 private:
  friend class ProfileBatch;
  ProfileUpdates(std::unique_ptr<google::protobuf::Arena> arena, Field* updates, std::vector<std::string> records)
      : arena_(std::move(arena)), updates_(updates), records_(std::move(records)) {}

  std::unique_ptr<google::protobuf::Arena> arena_;
  Field* updates_ = nullptr;  // on arena_; null: none
  std::vector<std::string> records_;  // one per update
};

class ProfileBatch {
 public:
  explicit ProfileBatch(profiles::ProfileStore* store) : store_(store), arena_(NewArena()) {}
  // `activation` (may be null: no segments or triggers) evaluates through `kv`, the same view the
  // store writes to. `config` (null: the defaults) is the computed-traits config events are applied
  // with: its zone is the one order totals are recounted in. All must outlive the batch.
  ProfileBatch(profiles::ProfileStore* store, const profiles::ActivationEngine* activation, KeyValueView* kv,
               const profiles::ComputedTraitsConfig* config = nullptr)
      : store_(store),
        arena_(NewArena()),
        activation_(activation),
        kv_(kv),
        config_(config != nullptr ? config : &profiles::DefaultComputedTraitsConfig()) {}

  // Lets Finish evaluate again only the segments that read what changed in a stored profile (the
  // traits, the windows RecordEvent counted in, the orders), for a caller whose every change to a
  // profile it got is ApplyEvent plus RecordEvent here, Absorb or Reevaluate (the fused pipeline,
  // the profiles stage). Off by default: a caller that rewrites a profile some other way (a split's rebuild)
  // gets every segment evaluated.
  void set_incremental_segments(bool on) { incremental_segments_ = on; }

  // Reads the stored profiles of `ids` not yet in this batch in one batched read, ahead of the
  // Get/Reevaluate calls for them (ProfileStore::Prefetch). Optional: only makes those faster.
  absl::Status Prefetch(const std::vector<uint64_t>& ids);

  // Reads, in one batched read, the order buckets that hold these orders (profile id, order id) of
  // stored profiles that keep their orders apart, ahead of the NeedOrdersOf calls for them.
  // Optional, like Prefetch (call it after that one: it loads the profiles).
  absl::Status PrefetchOrders(const std::vector<std::pair<uint64_t, std::string_view>>& orders);

  // The profile's current state in this batch, loaded or created (with `workspace`) on first use.
  // A profile that keeps its orders apart has in `orders` only the buckets read so far.
  absl::StatusOr<v1::Profile*> Get(uint64_t id, std::string_view workspace);
  // Get, with every order in memory (all of the profile's buckets read).
  absl::StatusOr<v1::Profile*> GetWhole(uint64_t id, std::string_view workspace);
  // Reads what ApplyEvent needs in memory to fold `event` into profile `id` (got already): the
  // bucket of its order, if it is an order event of a profile that keeps its orders apart.
  absl::Status NeedOrdersOf(uint64_t id, const v1::Event& event);

  // Counts `event`, folded into profile `id` (got already), for the segments' window conditions
  // (ActivationEngine::RecordEvent), and notes which windows it counted in and whether it was an
  // order, so that Finish evaluates again only the segments that read what the batch changed.
  // No-op without an engine.
  void RecordEvent(uint64_t id, const v1::Event& event, int64_t now_ms);

  // The winner `id` was merged into, in this batch or before; nullopt for a live profile.
  absl::StatusOr<std::optional<uint64_t>> MergedInto(uint64_t id);

  // Marks `loser` merged into `winner` (its state must already have been absorbed by the winner,
  // here or on another worker). At Finish the loser is deleted, redirected and tombstoned.
  absl::Status MarkMerged(uint64_t loser, uint64_t winner);

  // Evaluates a stored profile again at Finish although no event touched it (a timer came due, a
  // segment is being backfilled). No-op for an id with no stored profile (merged away, unknown).
  absl::Status Reevaluate(uint64_t id);

  // Folds `loser` (whole: every order in memory, e.g. from GetWhole or a transfer) into this
  // batch's profile `winner` (got already) as AbsorbProfile does, with the batch's computed-traits
  // config, plus the segment window counters (which AbsorbProfile does not know); first reads the
  // winner's buckets of the loser's orders. A no-op when the winner already absorbed it.
  absl::Status Absorb(const v1::Profile& loser, uint64_t winner);

  // Stages every touched profile with a new version; returns one update per profile (a tombstone
  // for a merged one), ordered by id. With an activation engine, appends the segment changes (with
  // the version that carries them) and trigger firings to `activation_out` (may be null without).
  // The profiles got from this batch are the updates' now: the pointers handed out before are
  // only good while the returned updates live.
  absl::StatusOr<ProfileUpdates> Finish(int64_t now_ms, profiles::ActivationOutputs* activation_out = nullptr);

 private:
  struct Entry {
    profiles::ProfileSnapshot before;  // as stored (empty when new); on arena_
    uint64_t stored_version = 0;       // 0 when new
    v1::Profile* current = nullptr;    // on arena_
    uint64_t merged_into = 0;
    bool changed = false;  // an event or a merge touched it (not only a re-evaluation)
    bool before_pending = false;  // loaded by Reevaluate: `before` not taken yet
    // Every segment is evaluated at Finish: new, re-evaluated (a timer, a backfill) or absorbed a
    // merge. Otherwise only those that read what the flags below say changed.
    bool evaluate_all = false;
    uint64_t windows_counted = 0;  // RecordEvent's selectors (SegmentInputsChanged::windows)
    bool orders_folded = false;    // RecordEvent saw an order event, or SettleOrders recounted
    bool traits_folded = false;    // RecordEvent saw an event carrying traits
    // A profile that keeps its orders apart: the buckets read into `current.orders`, each with its
    // bytes as stored ("" for none), so that Finish writes only those whose orders changed.
    absl::flat_hash_map<uint32_t, std::string> loaded_buckets;
    uint32_t stored_buckets = 0;  // order_buckets as stored: keys past the new count are deleted
    bool loaded_only = false;  // read by PrefetchOrders, not (yet) got or re-evaluated: not saved
  };
  // The entry of `id`: loaded, or created new (with `workspace`) when not stored.
  absl::StatusOr<Entry*> Load(uint64_t id, std::string_view workspace);
  // The entry of a stored profile (loaded if need be; read ahead only, until Get, MarkMerged or
  // Reevaluate claims it), or null for one not stored.
  absl::StatusOr<Entry*> LoadStored(uint64_t id);
  static std::unique_ptr<google::protobuf::Arena> NewArena();
  // A new entry for `id`, with an empty profile on the arena.
  Entry& NewEntry(uint64_t id);
  // Reads profile `id` as stored into a new entry; null when not stored.
  absl::StatusOr<Entry*> ReadStored(uint64_t id);
  Entry* Find(uint64_t id);
  absl::Status LoadBucket(uint64_t id, Entry& entry, uint32_t bucket);
  absl::Status LoadBuckets(uint64_t id, Entry& entry, const std::vector<uint32_t>& buckets);
  absl::Status LoadAllOrders(uint64_t id, Entry& entry);
  // Recounts stale order totals (OrderTotals.stale) from every order, all read first.
  absl::Status SettleOrders(uint64_t id, Entry& entry);
  // Writes the buckets whose orders changed (all of them when the orders move apart past
  // kInlineOrders, or the buckets double; totals a profile stored before them lacks are counted
  // then), deletes buckets past the count, and writes the profile without its orders. With
  // `record`, the profile is serialized in the two parts of ProfileRecordBytes and `record` gets
  // the first (left empty when the profile needs the stripping path).
  absl::Status SaveProfile(uint64_t id, Entry& entry, std::string* record = nullptr);
  // scratch_, made if need be.
  v1::Profile* Scratch();

  profiles::ProfileStore* store_;
  std::unique_ptr<google::protobuf::Arena> arena_;  // handed to the updates by Finish
  // An empty profile on arena_, lent to ProfileSnapshot and ProfileRecordBytes to set parts aside
  // in (made on first use; null again once Finish hands the arena on).
  v1::Profile* scratch_ = nullptr;
  const profiles::ActivationEngine* activation_ = nullptr;
  KeyValueView* kv_ = nullptr;
  bool incremental_segments_ = false;
  const profiles::ComputedTraitsConfig* config_ = &profiles::DefaultComputedTraitsConfig();
  // node_hash_map: pointers handed out by Get stay valid while more profiles load.
  absl::node_hash_map<uint64_t, Entry> entries_;
  // Profiles PrefetchOrders found not stored: Load creates them without reading the store again.
  absl::flat_hash_set<uint64_t> not_stored_;
};

}  // namespace tessera::app
