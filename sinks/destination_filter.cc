#include "sinks/destination_filter.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/json_writer.h"
#include "simdjson.h"

namespace tessera::sinks {

struct RecordParser::Impl {
  simdjson::dom::parser dom;              // events: small, minified whole
  simdjson::ondemand::parser ondemand;    // profile updates: sliced without re-serializing
  simdjson::ondemand::parser consent;     // the consent member, re-read from its slice
};

RecordParser::RecordParser() : impl_(std::make_unique<Impl>()) {}
RecordParser::~RecordParser() = default;

namespace {

using simdjson::ondemand::json_type;

absl::Status BadRecord(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("sink record: ", AbslView(what)));
}

bool ParseId(std::string_view text, uint64_t& out) {
  return !text.empty() && std::from_chars(text.data(), text.data() + text.size(), out).ec == std::errc();
}

// A key exactly as the document spells it (between its quotes, escapes kept): Tessera's field
// names need no escaping, so this is the name, and it stays valid as long as the document text.
std::string_view RawKey(simdjson::ondemand::raw_json_string key) {
  const char* begin = key.raw();
  const char* end = begin;
  while (*end != '"') end += (*end == '\\') ? 2 : 1;
  return std::string_view(begin, static_cast<size_t>(end - begin));
}

// A value's JSON text as the document has it (scalars without trailing whitespace).
simdjson::error_code RawValue(simdjson::ondemand::value value, std::string_view& out) {
  json_type type;
  if (auto error = value.type().get(type)) return error;
  if (type == json_type::object) {
    simdjson::ondemand::object object;
    if (auto error = value.get_object().get(object)) return error;
    return object.raw_json().get(out);
  }
  if (type == json_type::array) {
    simdjson::ondemand::array array;
    if (auto error = value.get_array().get(array)) return error;
    return array.raw_json().get(out);
  }
  out = value.raw_json_token();
  while (!out.empty() && (out.back() == ' ' || out.back() == '\n' || out.back() == '\r' || out.back() == '\t')) {
    out.remove_suffix(1);
  }
  return simdjson::SUCCESS;
}

}  // namespace

absl::StatusOr<SinkRecord> RecordParser::ParseProfileUpdate(std::string_view payload) {
  SinkRecord record;
  // simdjson reads up to SIMDJSON_PADDING bytes past the end; the capacity (> 15) also keeps the
  // buffer on the heap, so moving the record leaves the slices valid.
  record.source.reserve(payload.size() + simdjson::SIMDJSON_PADDING);
  record.source.assign(payload);
  const char* base = record.source.data();
  const size_t capacity = record.source.capacity();
  simdjson::ondemand::document doc;
  simdjson::ondemand::object root;
  if (impl_->ondemand.iterate(base, record.source.size(), capacity).get(doc) || doc.get_object().get(root)) {
    return BadRecord("not JSON");
  }
  bool have_id = false, have_version = false, have_profile = false;
  for (auto member : root) {
    simdjson::ondemand::field field;
    if (std::move(member).get(field)) return BadRecord("not JSON");
    const std::string_view key = RawKey(field.key());
    simdjson::ondemand::value value = field.value();
    if (key == "profile_id") {
      std::string_view id_text;
      if (value.get_string().get(id_text) || !ParseId(id_text, record.profile_id)) return BadRecord("no profile_id");
      have_id = true;
    } else if (key == "version") {
      if (value.get_uint64().get(record.version)) return BadRecord("no version");
      have_version = true;
    } else if (key == "merged_into") {
      std::string_view merged_into;
      if (value.get_string().get(merged_into) || !ParseId(merged_into, record.merged_into)) {
        return BadRecord("bad merged_into");
      }
      record.kind = SinkRecord::Kind::kMergedAway;
    } else if (key == "changed") {
      simdjson::ondemand::array changed;
      if (value.get_array().get(changed)) continue;
      for (auto element : changed) {
        std::string_view name;
        if (!element.get_string().get(name)) record.changed.emplace_back(name);
      }
    } else if (key == "profile") {
      simdjson::ondemand::object profile;
      if (value.get_object().get(profile)) return BadRecord("no profile");
      have_profile = true;
      record.profile_fields.reserve(16);
      for (auto profile_member : profile) {
        simdjson::ondemand::field profile_field;
        std::string_view text;
        if (std::move(profile_member).get(profile_field)) return BadRecord("bad profile");
        const std::string_view name = RawKey(profile_field.key());
        if (RawValue(profile_field.value(), text)) return BadRecord("bad profile");
        record.profile_fields.emplace_back(name, text);
        if (name == "consent") ParseConsent(text, capacity - static_cast<size_t>(text.data() - base), record.consent);
      }
    }
  }
  if (!have_id) return BadRecord("no profile_id");
  if (!have_version) return BadRecord("no version");
  if (record.kind == SinkRecord::Kind::kMergedAway) {
    record.profile_fields.clear();
    record.changed.clear();
    return record;
  }
  if (!have_profile) return BadRecord("no profile");
  return record;
}

void RecordParser::ParseConsent(std::string_view text, size_t readable, std::map<std::string, bool>& out) {
  simdjson::ondemand::document doc;
  simdjson::ondemand::object consent;
  if (impl_->consent.iterate(text.data(), text.size(), readable).get(doc) || doc.get_object().get(consent)) return;
  for (auto member : consent) {
    simdjson::ondemand::field field;
    if (std::move(member).get(field)) return;
    const std::string_view purpose = RawKey(field.key());
    simdjson::ondemand::object state;
    if (field.value().get_object().get(state)) continue;
    bool granted = false;
    if (!state["granted"].get_bool().get(granted)) out[std::string(purpose)] = granted;
  }
}

absl::StatusOr<SinkRecord> RecordParser::ParseEvent(SinkRecord::Kind kind, uint64_t profile_id,
                                                    std::string_view payload) {
  simdjson::dom::element doc;
  if (impl_->dom.parse(payload.data(), payload.size()).get(doc)) return BadRecord("not JSON");
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

bool DecisionNeedsHeldState(const DestinationConfig& destination, const SinkRecord& record) {
  return record.kind != SinkRecord::Kind::kProfile || !ConsentGrantedForAll(destination.purposes, record.consent);
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
  // Appended by hand rather than through JsonWriter: this runs once per delivered change, and the
  // profile's fields are already JSON (slices of the record), so only the few strings below are
  // escaped. The layout is the one docs/sinks.md shows.
  std::string out;
  const auto type_and_key = [&](std::string_view type) {
    out.append("{\"type\":\"").append(type).append("\",\"idempotency_key\":");
    AppendJsonString(idempotency_key, out);
    out.append(",\"profile_id\":\"").append(absl::StrCat(record.profile_id)).append("\"");
  };
  switch (action) {
    case SinkAction::kSendProfile: {
      size_t size = 160 + idempotency_key.size();
      for (const auto& [field, json] : record.profile_fields) size += field.size() + json.size() + 4;
      out.reserve(size);
      type_and_key("profile");
      out.append(",\"version\":").append(absl::StrCat(record.version)).append(",\"changed\":[");
      bool first = true;
      for (const std::string& field : record.changed) {
        if (!allowed(field)) continue;
        if (!first) out.push_back(',');
        first = false;
        AppendJsonString(field, out);
      }
      out.append("],\"profile\":{");
      first = true;
      for (const auto& [field, json] : record.profile_fields) {
        if (!allowed(field)) continue;
        if (!first) out.push_back(',');
        first = false;
        out.push_back('"');
        out.append(field).append("\":").append(json);  // field: the record's own spelling, escapes kept
      }
      out.append("}}");
      break;
    }
    case SinkAction::kSendDeletion:
      type_and_key("deletion");
      out.append(",\"version\":").append(absl::StrCat(record.version));
      if (record.kind == SinkRecord::Kind::kMergedAway) {
        out.append(",\"reason\":\"merged\",\"merged_into\":\"").append(absl::StrCat(record.merged_into)).append("\"}");
      } else {
        out.append(",\"reason\":\"consent_withdrawn\"}");
      }
      break;
    default:
      type_and_key(record.kind == SinkRecord::Kind::kTrigger ? "trigger" : "segment_change");
      out.append(",\"data\":").append(record.event_json).append("}");
      break;
  }
  return out;
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
