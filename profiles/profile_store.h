// Profiles in a KeyValueView (RocksDB in production):
//   "pf/" <be64 id> -> tessera.v1.Profile without its id: the key holds it, and as a field it is
//        9-10 bytes that compress badly (the top bits name the identity writer). Values stored
//        before this held it too; every reader sets the id from the key (ParseStoredProfile).
//   "pr/" <be64 id> -> be64 winner, for a profile merged away (lets a straggler be forwarded)
//   "po/" <be64 id> <be32 bucket> -> tessera.v1.OrderBucket, the orders of a profile that keeps
//        them apart (Profile.order_buckets > 0): a customer with thousands of orders costs a read
//        and a write of one bucket per order event, not of the whole history per change.
//
// Thread-safety: not thread-safe; one store per processing thread, like its view.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kv.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::profiles {

// A profile keeps up to this many orders inline (Profile.orders); past it they move to buckets.
inline constexpr int64_t kInlineOrders = 16;
// Buckets are added (doubled) when the average bucket would hold more than this many orders.
inline constexpr int64_t kMaxOrdersPerBucket = 32;

// The number of buckets (a power of two) for `orders` orders kept apart.
uint32_t OrderBucketsFor(int64_t orders);
// The bucket of `order_id` among `buckets` (a power of two): a fixed hash (FNV-1a), the same on
// every build and machine, since it addresses stored keys.
uint32_t OrderBucketOf(std::string_view order_id, uint32_t buckets);

// The key profile `id` is stored under ("pf/" <be64 id>).
std::string ProfileKey(uint64_t id);
// The id a "pf/" key names; nullopt for any other key.
std::optional<uint64_t> ProfileIdOfKey(std::string_view key);
// A profile's bytes as stored: `serialized` (a whole v1::Profile's) without its id, the first
// field (generated code serializes fields in number order).
std::string_view WithoutProfileId(std::string_view serialized);
// Parses the value stored under profile key `id` into `into` (cleared first) and sets its id;
// false when the bytes do not parse.
bool ParseStoredProfile(uint64_t id, std::string_view value, v1::Profile& into);

class ProfileStore {
 public:
  explicit ProfileStore(KeyValueView* kv) : kv_(kv) {}

  absl::StatusOr<std::optional<v1::Profile>> Load(uint64_t id);
  // Load, parsed into `into` (e.g. a message on an arena); false, `into` untouched, when not stored.
  absl::StatusOr<bool> LoadInto(uint64_t id, v1::Profile& into);
  // Tells the view these profiles are about to be loaded (KeyValueView::Prefetch): over RocksDB,
  // one MultiGet for a whole batch instead of a Get per profile.
  absl::Status Prefetch(std::vector<uint64_t> ids);
  void Save(const v1::Profile& profile);
  // Stores `bytes`, a serialized v1::Profile (for a caller that has them already), as profile `id`.
  void SaveSerialized(uint64_t id, std::string_view bytes);
  // Deletes the profile and leaves a redirect to `winner`.
  void MarkMerged(uint64_t loser, uint64_t winner);
  // The winner a merged-away id points at, or nullopt.
  absl::StatusOr<std::optional<uint64_t>> MergedInto(uint64_t id);

  // Orders kept apart. A bucket's stored bytes (nullopt: none stored, an empty bucket).
  absl::StatusOr<std::optional<std::string>> LoadOrderBucket(uint64_t id, uint32_t bucket);
  // KeyValueView::Prefetch of these buckets (pairs of profile id and bucket).
  absl::Status PrefetchOrderBuckets(std::vector<std::pair<uint64_t, uint32_t>> buckets);
  // Stores `bytes` (a serialized OrderBucket) as the bucket; empty bytes delete it.
  void SaveOrderBucket(uint64_t id, uint32_t bucket, const std::string& bytes);
  // Reads every bucket of a stored profile into its `orders` (a no-op for one that keeps them
  // inline): for readers that need the whole history (tests, tools).
  absl::Status LoadAllOrders(v1::Profile& profile);

 private:
  KeyValueView* kv_;
};

}  // namespace tessera::profiles
