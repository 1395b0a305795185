#include "sinks/destination_filter.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/json_writer.h"
#include "simdjson.h"

namespace tessera::sinks {

struct RecordParser::Impl {
  simdjson::dom::parser parser;
};

RecordParser::RecordParser() : impl_(std::make_unique<Impl>()) {}
RecordParser::~RecordParser() = default;

namespace {

absl::Status BadRecord(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("sink record: ", AbslView(what)));
}

bool ParseId(std::string_view text, uint64_t& out) {
  return !text.empty() && std::from_chars(text.data(), text.data() + text.size(), out).ec == std::errc();
}

}  // namespace

absl::StatusOr<SinkRecord> RecordParser::ParseProfileUpdate(std::string_view payload) {
  simdjson::dom::element doc;
  if (impl_->parser.parse(payload.data(), payload.size()).get(doc)) return BadRecord("not JSON");
  SinkRecord record;
  std::string_view id_text;
  if (doc["profile_id"].get(id_text) || !ParseId(id_text, record.profile_id)) return BadRecord("no profile_id");
  if (doc["version"].get(record.version)) return BadRecord("no version");
  std::string_view merged_into;
  if (!doc["merged_into"].get(merged_into)) {
    if (!ParseId(merged_into, record.merged_into)) return BadRecord("bad merged_into");
    record.kind = SinkRecord::Kind::kMergedAway;
    return record;
  }
  record.kind = SinkRecord::Kind::kProfile;
  simdjson::dom::array changed;
  if (!doc["changed"].get(changed)) {
    for (simdjson::dom::element field : changed) {
      std::string_view name;
      if (!field.get(name)) record.changed.emplace_back(name);
    }
  }
  simdjson::dom::object profile;
  if (doc["profile"].get(profile)) return BadRecord("no profile");
  for (auto [key, value] : profile) {
    record.profile_fields.emplace_back(std::string(key), simdjson::minify(value));
    if (key == "consent") {
      simdjson::dom::object consent;
      if (value.get(consent)) continue;
      for (auto [purpose, state] : consent) {
        bool granted = false;
        if (!state["granted"].get(granted)) record.consent[std::string(purpose)] = granted;
      }
    }
  }
  return record;
}

absl::StatusOr<SinkRecord> RecordParser::ParseEvent(SinkRecord::Kind kind, uint64_t profile_id,
                                                    std::string_view payload) {
  simdjson::dom::element doc;
  if (impl_->parser.parse(payload.data(), payload.size()).get(doc)) return BadRecord("not JSON");
  SinkRecord record;
  record.kind = kind;
  record.profile_id = profile_id;
  record.event_json = simdjson::minify(doc);
  std::string_view segment;
  if (!doc["segment"].get(segment) || !doc["segment_id"].get(segment)) record.segment = std::string(segment);
  return record;
}

bool ConsentGrantedForAll(const std::vector<std::string>& purposes, const std::map<std::string, bool>& consent) {
  for (const std::string& purpose : purposes) {
    auto it = consent.find(purpose);
    if (it == consent.end() || !it->second) return false;
  }
  return true;
}

SinkAction Decide(const DestinationConfig& destination, const SinkRecord& record, bool holds_profile) {
  switch (record.kind) {
    case SinkRecord::Kind::kProfile:
      if (ConsentGrantedForAll(destination.purposes, record.consent)) return SinkAction::kSendProfile;
      return holds_profile ? SinkAction::kSendDeletion : SinkAction::kSkipConsent;
    case SinkRecord::Kind::kMergedAway:
      return holds_profile ? SinkAction::kSendDeletion : SinkAction::kSkipOther;
    case SinkRecord::Kind::kSegmentChange:
      if (!destination.segments.empty() &&
          std::find(destination.segments.begin(), destination.segments.end(), record.segment) ==
              destination.segments.end()) {
        return SinkAction::kSkipOther;
      }
      return holds_profile ? SinkAction::kSendEvent : SinkAction::kSkipConsent;
    case SinkRecord::Kind::kTrigger:
      return holds_profile ? SinkAction::kSendEvent : SinkAction::kSkipConsent;
  }
  return SinkAction::kSkipOther;
}

std::string IdempotencyKey(const SinkRecord& record, std::string_view event_key) {
  if (record.kind == SinkRecord::Kind::kProfile || record.kind == SinkRecord::Kind::kMergedAway) {
    return absl::StrCat(record.profile_id, ":", record.version);
  }
  return std::string(event_key);
}

std::string RenderItem(const DestinationConfig& destination, const SinkRecord& record, SinkAction action,
                       std::string_view idempotency_key) {
  const auto allowed = [&](std::string_view field) {
    return destination.fields.empty() ||
           std::find(destination.fields.begin(), destination.fields.end(), field) != destination.fields.end();
  };
  JsonWriter w;
  w.BeginObject();
  switch (action) {
    case SinkAction::kSendProfile:
      w.Key("type").String("profile");
      w.Key("idempotency_key").String(idempotency_key);
      w.Key("profile_id").String(absl::StrCat(record.profile_id));
      w.Key("version").Uint(record.version);
      w.Key("changed").BeginArray();
      for (const std::string& field : record.changed) {
        if (allowed(field)) w.String(field);
      }
      w.EndArray();
      w.Key("profile").BeginObject();
      for (const auto& [field, json] : record.profile_fields) {
        if (allowed(field)) w.Key(field).Raw(json);
      }
      w.EndObject();
      break;
    case SinkAction::kSendDeletion:
      w.Key("type").String("deletion");
      w.Key("idempotency_key").String(idempotency_key);
      w.Key("profile_id").String(absl::StrCat(record.profile_id));
      w.Key("version").Uint(record.version);
      if (record.kind == SinkRecord::Kind::kMergedAway) {
        w.Key("reason").String("merged");
        w.Key("merged_into").String(absl::StrCat(record.merged_into));
      } else {
        w.Key("reason").String("consent_withdrawn");
      }
      break;
    default:
      w.Key("type").String(record.kind == SinkRecord::Kind::kTrigger ? "trigger" : "segment_change");
      w.Key("idempotency_key").String(idempotency_key);
      w.Key("profile_id").String(absl::StrCat(record.profile_id));
      w.Key("data").Raw(record.event_json);
      break;
  }
  w.EndObject();
  return std::move(w).Take();
}

std::string RenderBatch(std::string_view destination_name, const std::vector<const std::string*>& items) {
  size_t size = 40 + destination_name.size();
  for (const std::string* item : items) size += item->size() + 1;
  std::string body;
  body.reserve(size);
  body.append("{\"destination\":");
  body.append(JsonWriter().String(destination_name).str());
  body.append(",\"items\":[");
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) body.push_back(',');
    body.append(*items[i]);
  }
  body.append("]}");
  return body;
}

}  // namespace tessera::sinks
