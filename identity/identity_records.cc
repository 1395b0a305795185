#include "identity/identity_records.h"

#include "absl/status/status.h"
#include "common/json_writer.h"

namespace tessera::identity {
namespace {

// Format version byte of each value; bump when a field is added, and keep decoding the old ones.
constexpr char kVersion1 = 1;

void PutVarint(uint64_t value, std::string& out) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}
void PutSigned(int64_t value, std::string& out) {
  PutVarint((static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63), out);  // zigzag
}
void PutString(std::string_view value, std::string& out) {
  PutVarint(value.size(), out);
  out.append(value);
}

// Reads what the Put* functions wrote; any overrun marks the reader failed.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  uint64_t Varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) return Fail();
      const auto byte = static_cast<unsigned char>(bytes_[pos_++]);
      value |= uint64_t{byte & 0x7Fu} << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return Fail();
  }
  int64_t Signed() {
    const uint64_t v = Varint();
    return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
  }
  std::string String() {
    const uint64_t size = Varint();
    if (failed_ || size > bytes_.size() - pos_) {
      Fail();
      return {};
    }
    std::string out(bytes_.substr(pos_, size));
    pos_ += size;
    return out;
  }
  bool Version() {
    if (pos_ >= bytes_.size() || bytes_[pos_] != kVersion1) return Fail(), false;
    ++pos_;
    return true;
  }
  absl::Status Done(std::string_view what) const {
    if (failed_ || pos_ != bytes_.size()) return absl::DataLossError(std::string("corrupt identity ") + std::string(what));
    return absl::OkStatus();
  }

 private:
  uint64_t Fail() {
    failed_ = true;
    pos_ = bytes_.size();
    return 0;
  }
  std::string_view bytes_;
  size_t pos_ = 0;
  bool failed_ = false;
};

void PutHeld(const std::vector<ProfileIdentity::Held>& held, std::string& out) {
  PutVarint(held.size(), out);
  for (const ProfileIdentity::Held& h : held) {
    PutString(h.identifier, out);
    PutSigned(h.claim.time_ms, out);
    PutString(h.claim.message_id, out);
  }
}
std::vector<ProfileIdentity::Held> ReadHeld(Reader& in) {
  std::vector<ProfileIdentity::Held> held;
  const uint64_t count = in.Varint();
  for (uint64_t i = 0; i < count; ++i) {
    ProfileIdentity::Held& h = held.emplace_back();
    h.identifier = in.String();
    h.claim.time_ms = in.Signed();
    h.claim.message_id = in.String();
    if (h.identifier.empty()) break;  // corrupt (or overrun): Done() reports it
  }
  return held;
}

}  // namespace

int ProfileIdentity::CountOfType(std::string_view type) const {
  int count = 0;
  for (const Held& h : identifiers) {
    if (h.identifier.size() > type.size() && h.identifier[type.size()] == ':' &&
        std::string_view(h.identifier).starts_with(type)) {
      ++count;
    }
  }
  return count;
}

bool ProfileIdentity::HasUserIdOtherThan(std::string_view user_id_identifier) const {
  for (const Held& h : identifiers) {
    if (std::string_view(h.identifier).starts_with("user_id:") && h.identifier != user_id_identifier) return true;
  }
  return false;
}

const ProfileIdentity::Held* DeviceRecord::Owner() const {
  const ProfileIdentity::Held* owner = nullptr;
  for (const ProfileIdentity::Held& h : user_ids) {
    if (owner == nullptr || h.claim < owner->claim) owner = &h;
  }
  return owner;
}

std::string EncodeProfileIdentity(const ProfileIdentity& value) {
  std::string out(1, kVersion1);
  PutSigned(value.merges, out);
  PutHeld(value.identifiers, out);
  return out;
}

absl::StatusOr<ProfileIdentity> DecodeProfileIdentity(std::string_view bytes) {
  Reader in(bytes);
  ProfileIdentity value;
  if (in.Version()) {
    value.merges = in.Signed();
    value.identifiers = ReadHeld(in);
  }
  if (absl::Status s = in.Done("profile record"); !s.ok()) return s;
  return value;
}

std::string EncodeDeviceRecord(const DeviceRecord& value) {
  std::string out(1, kVersion1);
  PutVarint(value.shared ? 1 : 0, out);
  PutHeld(value.user_ids, out);
  return out;
}

absl::StatusOr<DeviceRecord> DecodeDeviceRecord(std::string_view bytes) {
  Reader in(bytes);
  DeviceRecord value;
  if (in.Version()) {
    value.shared = in.Varint() != 0;
    value.user_ids = ReadHeld(in);
  }
  if (absl::Status s = in.Done("device record"); !s.ok()) return s;
  return value;
}

std::string EncodeViolation(const IdentityViolation& v) {
  std::string out(1, kVersion1);
  for (const std::string* s : {&v.rule, &v.workspace, &v.identifier}) PutString(*s, out);
  PutVarint(v.held_by, out);
  PutVarint(v.resolved_to, out);
  PutString(v.message_id, out);
  PutString(v.source_topic, out);
  PutSigned(v.source_partition, out);
  PutSigned(v.source_offset, out);
  PutSigned(v.event_time_ms, out);
  PutSigned(v.detected_at_ms, out);
  PutString(v.detail, out);
  return out;
}

absl::StatusOr<IdentityViolation> DecodeViolation(std::string_view bytes) {
  Reader in(bytes);
  IdentityViolation v;
  if (in.Version()) {
    v.rule = in.String();
    v.workspace = in.String();
    v.identifier = in.String();
    v.held_by = in.Varint();
    v.resolved_to = in.Varint();
    v.message_id = in.String();
    v.source_topic = in.String();
    v.source_partition = static_cast<int32_t>(in.Signed());
    v.source_offset = in.Signed();
    v.event_time_ms = in.Signed();
    v.detected_at_ms = in.Signed();
    v.detail = in.String();
  }
  if (absl::Status s = in.Done("violation"); !s.ok()) return s;
  return v;
}

std::string EncodeLinkRecord(const LinkRecord& v) {
  std::string out(1, kVersion1);
  PutString(v.workspace, out);
  PutString(v.message_id, out);
  PutString(v.source_topic, out);
  PutSigned(v.source_partition, out);
  PutSigned(v.source_offset, out);
  PutSigned(v.event_time_ms, out);
  PutVarint(v.identifiers.size(), out);
  for (const std::string& id : v.identifiers) PutString(id, out);
  PutVarint(v.resolved_to, out);
  return out;
}

absl::StatusOr<LinkRecord> DecodeLinkRecord(std::string_view bytes) {
  Reader in(bytes);
  LinkRecord v;
  if (in.Version()) {
    v.workspace = in.String();
    v.message_id = in.String();
    v.source_topic = in.String();
    v.source_partition = static_cast<int32_t>(in.Signed());
    v.source_offset = in.Signed();
    v.event_time_ms = in.Signed();
    const uint64_t count = in.Varint();
    for (uint64_t i = 0; i < count && i < bytes.size(); ++i) v.identifiers.push_back(in.String());
    v.resolved_to = in.Varint();
  }
  if (absl::Status s = in.Done("link record"); !s.ok()) return s;
  return v;
}

std::string ViolationToJson(const IdentityViolation& v) {
  JsonWriter w;
  w.BeginObject();
  w.Key("rule").String(v.rule);
  w.Key("workspace").String(v.workspace);
  w.Key("identifier").String(v.identifier);
  w.Key("held_by").String(v.held_by == 0 ? "" : std::to_string(v.held_by));
  w.Key("resolved_to").String(v.resolved_to == 0 ? "" : std::to_string(v.resolved_to));
  w.Key("message_id").String(v.message_id);
  w.Key("source").BeginObject();
  w.Key("topic").String(v.source_topic).Key("partition").Int(v.source_partition).Key("offset").Int(v.source_offset);
  w.EndObject();
  w.Key("event_time_ms").Int(v.event_time_ms);
  w.Key("detected_at_ms").Int(v.detected_at_ms);
  w.Key("detail").String(v.detail);
  w.EndObject();
  return std::move(w).Take();
}

}  // namespace tessera::identity
