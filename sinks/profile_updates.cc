#include "sinks/profile_updates.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/json_writer.h"
#include "profiles/profile_state.h"

namespace tessera::sinks {

std::string ProfileKey(uint64_t profile_id) { return absl::StrCat(profile_id); }

std::vector<KafkaHeader> ProfileUpdateHeaders() { return {{"content-type", kJsonContentType}}; }

std::string ProfileUpdateToJson(const v1::ProfileUpdate& update) {
  JsonWriter w;
  w.BeginObject();
  w.Key("profile_id").String(absl::StrCat(update.profile_id()));
  w.Key("version").Uint(update.version());
  w.Key("updated_at").String(FormatUtcMillis(update.updated_at_ms()));
  if (update.merged_into() != 0) {
    w.Key("merged_into").String(absl::StrCat(update.merged_into()));
  } else {
    w.Key("changed").BeginArray();
    for (const std::string& field : update.changed_fields()) w.String(field);
    w.EndArray();
    w.Key("profile").Raw(profiles::ProfileToJson(update.profile()));
  }
  w.EndObject();
  return std::move(w).Take();
}

}  // namespace tessera::sinks
