// Trait normalization: the person-describing traits Tessera understands are turned into one
// documented form (docs/data-quality.md), so a profile does not hold "25/11/1990" from one source
// and "1990-11-25T00:00:00Z" from another. Trait values are compact JSON (Event.traits).
//
//   NormalizeBirthday("25/11/2533")   -> "1990-11-25"    (Buddhist-era year)
//   NormalizeGender("หญิง")            -> "female"
//   NormalizePersonName("  Somchai   Jaidee ") -> "Somchai Jaidee"
//   NormalizeCountry("Thailand")      -> "TH"
//
// The free functions are pure and thread-safe (ICU's NFC normalizer and the country table are
// immutable once built). NormalizeEventTraits uses the caller's CachedPhoneNormalizer, which is not
// thread-safe: one per thread, as in EventParser.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/normalize.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::ingest {

// A calendar date "YYYY-MM-DD" from the forms people and systems send: "1990-11-25",
// "1990/11/25", "19901125", ISO 8601 with a time ("1990-11-25T00:00:00.000Z": the date as written),
// day first "25/11/1990", "25-11-1990", "25.11.1990", month first when the day cannot be a month
// ("11/25/1990"), month names in English or Thai ("Nov 25 1990", "25 November 1990",
// "Sun Nov 25 1990 00:00:00 GMT+0700", "25 พ.ย. 2533"). Years above 2400 are Buddhist era (minus
// 543). Ambiguous numeric dates (both parts <= 12) are read day first. nullopt for anything else,
// impossible dates, two-digit years, and years outside 1900..2100.
std::optional<std::string> NormalizeBirthday(std::string_view raw);

// One of female, male, non_binary, other, unknown, from common spellings in English and Thai
// ("F", "Woman", "หญิง", "ผู้ชาย", "non-binary", "prefer not to say"). nullopt when not recognized.
std::optional<std::string> NormalizeGender(std::string_view raw);

// A name: spaces trimmed, inner white space collapsed to one space, Unicode NFC (Thai and other
// scripts keep their characters; nothing is re-cased).
std::string NormalizePersonName(std::string_view raw);

// ISO 3166-1 alpha-2 ("TH") from an alpha-2 or alpha-3 code or an English or Thai country name, any
// case ("thailand", "THA", "ไทย", "ประเทศไทย", "U.S.A.", "UK"). nullopt when not recognized.
std::optional<std::string> NormalizeCountry(std::string_view raw);

// Unicode NFC of UTF-8 text (ASCII is returned as is without calling ICU).
std::string ToNfc(std::string_view utf8);

// Normalizes the known traits of `event` in place and appends a counter name to `counters` for
// every value changed ("normalized.<field>") or found invalid ("invalid.<field>"):
// - email, phone: the identifier's normalized form (lower-cased email, E.164 phone); an invalid
//   one is removed and kept as "<field>_invalid" with the raw value;
// - birthday, gender: as above; an unrecognized one moves to "<field>_invalid";
// - name, first_name/firstName, last_name/lastName: NormalizePersonName (an empty name is removed);
// - address (object): string fields trimmed and collapsed, country as alpha-2 where recognized;
// - consent (object of purpose -> bool or "granted"/"denied"): moved into Event.consent.
// A null value means "unset" and is left alone.
void NormalizeEventTraits(v1::Event& event, CachedPhoneNormalizer& phones, std::vector<std::string>* counters);

}  // namespace tessera::ingest
