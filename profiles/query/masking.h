// Masking of personal data for callers without the read_pii scope. What counts as PII: identifiers
// whose type names an email or a phone (email, phone, order_email, ...), and the traits email,
// phone, name, first_name, last_name, address and birthday. The masks keep just enough to tell
// values apart at a glance, and never the length:
//
//   email   "somchai.j@example.com"  -> "s*****@example.com"
//   phone   "+66812345678"           -> "+66*****5678"   (shorter than 8 characters: "*****")
//   other   "สมชาย ใจดี"              -> "ส*****"          (first character, UTF-8 aware)
//   a trait that is not a JSON string (an address object, a number) -> "*****"
//
// Pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::query {

bool IsPiiIdentifierType(std::string_view type);
bool IsPiiTrait(std::string_view name);

std::string MaskEmail(std::string_view email);
std::string MaskPhone(std::string_view phone);
std::string MaskText(std::string_view text);
// Masks the value of an identifier written "type:value" when its type is PII.
std::string MaskIdentifierText(const std::string& text);
// Masks a trait's canonical JSON value, by the trait's name (email, phone, or other text).
std::string MaskTraitJson(std::string_view name, std::string_view json);

// Masks the PII identifiers and traits of a profile (identifiers stay sorted and unique).
void MaskProfile(v1::Profile& profile);
// Masks the PII identifiers and traits an event carries, and drops its free-form text
// (properties_json, a social interaction's text), which may hold anything.
void MaskEvent(v1::Event& event);
// Masks a merge record's evidence.
void MaskMergeRecord(v1::MergeRecord& record);

}  // namespace tessera::query
