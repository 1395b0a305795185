#include "profiles/query/masking.h"

#include <algorithm>

#include "common/identifier.h"
#include "common/json_writer.h"

namespace tessera::query {
namespace {

constexpr std::string_view kStars = "*****";

// The first UTF-8 character of `text` (one byte if the text is not valid UTF-8 there).
std::string_view FirstCharacter(std::string_view text) {
  if (text.empty()) return text;
  const unsigned char lead = static_cast<unsigned char>(text[0]);
  size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
  return text.substr(0, std::min(length, text.size()));
}

std::string MaskIdentifierValue(std::string_view type, std::string_view value) {
  if (type.find("email") != std::string_view::npos) return MaskEmail(value);
  return MaskPhone(value);
}

}  // namespace

std::string MaskIdentifierText(const std::string& text) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos) return text;
  const std::string_view type = std::string_view(text).substr(0, colon);
  if (!IsPiiIdentifierType(type)) return text;
  return std::string(type) + ":" + MaskIdentifierValue(type, std::string_view(text).substr(colon + 1));
}

bool IsPiiIdentifierType(std::string_view type) {
  return type.find("email") != std::string_view::npos || type.find("phone") != std::string_view::npos;
}

bool IsPiiTrait(std::string_view name) {
  return name == "email" || name == "phone" || name == "name" || name == "first_name" || name == "last_name" ||
         name == "address" || name == "birthday";
}

std::string MaskEmail(std::string_view email) {
  const size_t at = email.rfind('@');
  if (at == std::string_view::npos) return MaskText(email);
  return std::string(FirstCharacter(email.substr(0, at))) + std::string(kStars) + std::string(email.substr(at));
}

std::string MaskPhone(std::string_view phone) {
  if (phone.size() < 8) return std::string(kStars);
  return std::string(phone.substr(0, 3)) + std::string(kStars) + std::string(phone.substr(phone.size() - 4));
}

std::string MaskText(std::string_view text) {
  if (text.empty()) return std::string();
  return std::string(FirstCharacter(text)) + std::string(kStars);
}

std::string MaskTraitJson(std::string_view name, std::string_view json) {
  std::string out;
  // A plain JSON string without escapes: mask its text. Anything else: only the stars.
  if (json.size() >= 2 && json.front() == '"' && json.back() == '"' &&
      json.find('\\') == std::string_view::npos) {
    const std::string_view text = json.substr(1, json.size() - 2);
    const std::string masked = name == "email" ? MaskEmail(text) : name == "phone" ? MaskPhone(text) : MaskText(text);
    AppendJsonString(masked, out);
  } else {
    AppendJsonString(kStars, out);
  }
  return out;
}

void MaskProfile(v1::Profile& profile) {
  auto* identifiers = profile.mutable_identifiers();
  for (std::string& identifier : *identifiers) identifier = MaskIdentifierText(identifier);
  std::sort(identifiers->begin(), identifiers->end());
  identifiers->erase(std::unique(identifiers->begin(), identifiers->end()), identifiers->end());
  for (auto& [name, value] : *profile.mutable_traits()) {
    if (IsPiiTrait(name)) value.set_json(MaskTraitJson(name, value.json()));
  }
}

void MaskEvent(v1::Event& event) {
  for (v1::Identifier& id : *event.mutable_identifiers()) {
    if (IsPiiIdentifierType(id.type())) id.set_value(MaskIdentifierValue(id.type(), id.value()));
  }
  for (auto& [name, json] : *event.mutable_traits()) {
    if (IsPiiTrait(name)) json = MaskTraitJson(name, json);
  }
  // Free-form text can hold anything (an email typed into a comment): withheld, not guessed at.
  event.clear_properties_json();
  if (event.has_social()) event.mutable_social()->clear_text();
}

void MaskMergeRecord(v1::MergeRecord& record) {
  for (v1::Identifier& id : *record.mutable_evidence()) {
    if (IsPiiIdentifierType(id.type())) id.set_value(MaskIdentifierValue(id.type(), id.value()));
  }
}

}  // namespace tessera::query
