#include "profiles/profile_store.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/bytes.h"
#include "common/status_macros.h"

namespace tessera::profiles {
namespace {

std::string MergedKey(uint64_t id) { return absl::StrCat("pr/", BigEndian64(id)); }
std::string OrderBucketKey(uint64_t id, uint32_t bucket) {
  return absl::StrCat("po/", BigEndian64(id), BigEndian32(bucket));
}

}  // namespace

uint32_t OrderBucketsFor(int64_t orders) {
  uint32_t buckets = 1;
  while (static_cast<int64_t>(buckets) * kMaxOrdersPerBucket < orders) buckets *= 2;
  return buckets;
}

std::string ProfileKey(uint64_t id) { return absl::StrCat("pf/", BigEndian64(id)); }

std::optional<uint64_t> ProfileIdOfKey(std::string_view key) {
  constexpr std::string_view kPrefix = "pf/";
  if (key.size() != kPrefix.size() + 8 || key.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  return ReadBigEndian64(key.substr(kPrefix.size()));
}

std::string_view WithoutProfileId(std::string_view serialized) {
  constexpr char kIdTag = (v1::Profile::kIdFieldNumber << 3) | 0;  // a varint
  if (serialized.empty() || serialized[0] != kIdTag) return serialized;  // id 0 is not serialized
  size_t end = 1;
  while (end < serialized.size() && (static_cast<unsigned char>(serialized[end]) & 0x80) != 0) ++end;
  return end < serialized.size() ? serialized.substr(end + 1) : serialized;  // a cut varint: left whole
}

bool ParseStoredProfile(uint64_t id, std::string_view value, v1::Profile& into) {
  if (!into.ParseFromArray(value.data(), static_cast<int>(value.size()))) return false;
  into.set_id(id);
  return true;
}

uint32_t OrderBucketOf(std::string_view order_id, uint32_t buckets) {
  uint64_t hash = 14695981039346656037ull;  // FNV-1a, 64 bits
  for (unsigned char c : order_id) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return static_cast<uint32_t>(hash & (buckets - 1));
}

absl::StatusOr<std::optional<v1::Profile>> ProfileStore::Load(uint64_t id) {
  v1::Profile profile;
  ASSIGN_OR_RETURN(bool stored, LoadInto(id, profile));
  if (!stored) return std::nullopt;
  return profile;
}

absl::StatusOr<bool> ProfileStore::LoadInto(uint64_t id, v1::Profile& into) {
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, kv_->Get(ProfileKey(id)));
  if (!bytes.has_value()) return false;
  // Only Save writes these keys; a value that does not parse is a corrupt store.
  if (!ParseStoredProfile(id, *bytes, into)) {
    return absl::DataLossError(absl::StrCat("profile ", id, " is stored as ", bytes->size(),
                                            " bytes that do not parse as tessera.v1.Profile"));
  }
  return true;
}

absl::Status ProfileStore::Prefetch(std::vector<uint64_t> ids) {
  std::sort(ids.begin(), ids.end());  // big-endian keys sort as the ids do
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (uint64_t id : ids) keys.push_back(ProfileKey(id));
  return kv_->Prefetch(keys);
}

void ProfileStore::Save(const v1::Profile& profile) { SaveSerialized(profile.id(), profile.SerializeAsString()); }

void ProfileStore::SaveSerialized(uint64_t id, std::string_view bytes) { kv_->Put(ProfileKey(id), WithoutProfileId(bytes)); }

void ProfileStore::MarkMerged(uint64_t loser, uint64_t winner) {
  kv_->Delete(ProfileKey(loser));
  kv_->Put(MergedKey(loser), BigEndian64(winner));
}

absl::StatusOr<std::optional<uint64_t>> ProfileStore::MergedInto(uint64_t id) {
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, kv_->Get(MergedKey(id)));
  if (!bytes.has_value()) return std::nullopt;
  if (bytes->size() != 8) {
    return absl::DataLossError(absl::StrCat("merge redirect of profile ", id, " is ", bytes->size(),
                                            " bytes, expected an 8-byte id"));
  }
  return ReadBigEndian64(*bytes);
}

absl::StatusOr<std::optional<std::string>> ProfileStore::LoadOrderBucket(uint64_t id, uint32_t bucket) {
  return kv_->Get(OrderBucketKey(id, bucket));
}

absl::Status ProfileStore::PrefetchOrderBuckets(std::vector<std::pair<uint64_t, uint32_t>> buckets) {
  std::sort(buckets.begin(), buckets.end());  // big-endian keys sort as the pairs do
  buckets.erase(std::unique(buckets.begin(), buckets.end()), buckets.end());
  std::vector<std::string> keys;
  keys.reserve(buckets.size());
  for (const auto& [id, bucket] : buckets) keys.push_back(OrderBucketKey(id, bucket));
  return kv_->Prefetch(keys);
}

void ProfileStore::SaveOrderBucket(uint64_t id, uint32_t bucket, const std::string& bytes) {
  if (bytes.empty()) {
    kv_->Delete(OrderBucketKey(id, bucket));
  } else {
    kv_->Put(OrderBucketKey(id, bucket), bytes);
  }
}

absl::Status ProfileStore::LoadAllOrders(v1::Profile& profile) {
  for (uint32_t bucket = 0; bucket < profile.order_buckets(); ++bucket) {
    ASSIGN_OR_RETURN(std::optional<std::string> bytes, LoadOrderBucket(profile.id(), bucket));
    if (!bytes.has_value()) continue;
    v1::OrderBucket orders;
    if (!orders.ParseFromString(*bytes)) {
      return absl::DataLossError(absl::StrCat("order bucket ", bucket, " of profile ", profile.id(), " is ",
                                              bytes->size(), " bytes that do not parse as tessera.v1.OrderBucket"));
    }
    for (auto& [order_id, order] : *orders.mutable_orders()) (*profile.mutable_orders())[order_id] = std::move(order);
  }
  profile.set_orders_partial(false);
  return absl::OkStatus();
}

}  // namespace tessera::profiles
