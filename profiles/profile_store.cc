#include "profiles/profile_store.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/bytes.h"
#include "common/status_macros.h"

namespace tessera::profiles {
namespace {

std::string ProfileKey(uint64_t id) { return absl::StrCat("pf/", BigEndian64(id)); }
std::string MergedKey(uint64_t id) { return absl::StrCat("pr/", BigEndian64(id)); }

}  // namespace

absl::StatusOr<std::optional<v1::Profile>> ProfileStore::Load(uint64_t id) {
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, kv_->Get(ProfileKey(id)));
  if (!bytes.has_value()) return std::nullopt;
  v1::Profile profile;
  // Only Save writes these keys; a value that does not parse is a corrupt store.
  if (!profile.ParseFromString(*bytes)) {
    return absl::DataLossError(absl::StrCat("profile ", id, " is stored as ", bytes->size(),
                                            " bytes that do not parse as tessera.v1.Profile"));
  }
  return profile;
}

absl::Status ProfileStore::Prefetch(std::vector<uint64_t> ids) {
  std::sort(ids.begin(), ids.end());  // big-endian keys sort as the ids do
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::vector<std::string> keys;
  keys.reserve(ids.size());
  for (uint64_t id : ids) keys.push_back(ProfileKey(id));
  return kv_->Prefetch(keys);
}

void ProfileStore::Save(const v1::Profile& profile) { kv_->Put(ProfileKey(profile.id()), profile.SerializeAsString()); }

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

}  // namespace tessera::profiles
