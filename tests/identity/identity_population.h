// A synthetic population for measuring identity resolution against ground truth: people with
// several devices and browsers, emails typed with different case and spaces, phones in local and
// international formats, families sharing a tablet, recycled phone numbers, junk values from broken
// forms, and events that arrive late and shuffled. Identifiers are normalized the way ingest does
// (ingest/normalize.h), so the events are what the identity stage sees.
//
// Deterministic for (seed, people). Plain functions returning values; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::identity::testing {

inline constexpr int kSharedIdentifier = -1;  // owned by more than one person (tablet, recycled phone, junk)

struct IdentityPopulation {
  int people = 0;
  std::vector<v1::Event> events;  // in arrival order (late and shuffled)
  // "type:value" -> the person who owns it, or kSharedIdentifier.
  absl::flat_hash_map<std::string, int> owner;
  int64_t families = 0;         // tablets shared by a family
  int64_t recycled_phones = 0;  // numbers that passed from one person to another
  int64_t junk_events = 0;      // events carrying a junk value
};

struct PopulationOptions {
  double recycled_phone_rate = 0.002;  // of people, whose number belonged to an earlier person
  double family_rate = 0.05;           // of groups of six people, that share a tablet (2-6 of them)
  double junk_rate = 0.03;             // of orders, that carry a junk value from a broken form
};

IdentityPopulation GenerateIdentityPopulation(uint64_t seed, int people, const PopulationOptions& options = {});

// Pairwise precision and recall of a partition of identifiers against the truth: over the pairs of
// identifiers owned by one person each (shared identifiers are left out), a pair is predicted when
// both resolve to the same profile. An identifier that resolves to nothing is a profile of its own.
struct Accuracy {
  double precision = 1;
  double recall = 1;
  int64_t predicted_pairs = 0;
  int64_t true_pairs = 0;
  int64_t correct_pairs = 0;
  int64_t identifiers = 0;  // scored (owned by one person)
  int64_t profiles = 0;     // distinct profiles of the scored identifiers
};

// `profile_of` maps each identifier of `owner` to its profile id (0 when unresolved).
Accuracy MeasureAccuracy(const IdentityPopulation& population,
                         const absl::flat_hash_map<std::string, uint64_t>& profile_of);

}  // namespace tessera::identity::testing
