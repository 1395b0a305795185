// The benchmark workload: a deterministic stream of raw channel messages (web page views, tracks
// and identifies, social interactions, orders) from a synthetic population whose activity is
// Zipf-skewed, so a few customers are very busy and most are seen a handful of times.
//
// Unlike tests/fakes/population.h, which plans each person's whole life to know the exact profile
// they must end up with, this stream is built for volume and for the mix of the benchmark issue:
// every event carries 1-3 identifiers of its person, and a controlled share of events (3% by
// default, the issue asks for 1-5%) carries identifiers that until then belonged to two different
// profiles, so identity must merge them. The generator keeps, per person, which identifiers have
// been seen and which of them are already linked (a small union-find), and counts an event as a
// merge exactly when its identifiers span two or more such groups. The count is in stats().
//
// The same options always give byte-identical events (own PRNG, no std distributions); event i
// depends only on the options and the events before it.
//
// Thread-safety: a WorkloadGenerator is not thread-safe; one per thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "proto/tessera/v1/tessera.pb.h"

namespace tessera::bench {

// The shape of every generated messageId, as @segment/analytics-node makes them (a random UUID v4
// behind the send time in ms): recorded with the workload in results files.
inline constexpr char kMessageIdShape[] = "node-next-<ms>-<uuid v4>";

struct WorkloadOptions {
  uint64_t seed = 42;
  int64_t people = 100'000;  // population size; how many of them appear depends on events and skew
  int64_t events = 1'000'000;
  double zipf_exponent = 0.8;    // person rank r is active with weight r^-s
  double merge_fraction = 0.03;  // share of events that merge two existing profiles (if possible)
  int64_t base_time_ms = 1'767'225'600'000;  // 2026-01-01T00:00:00Z; events span 30 days after it
};

enum class EventKind { kPage, kTrack, kIdentify, kSocial, kOrder };
inline constexpr int kEventKinds = 5;
const char* EventKindName(EventKind kind);

struct WorkloadEvent {
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
  EventKind kind = EventKind::kPage;
  std::string key;      // the Kafka key: the first identifier's value (a tracker keys by device)
  std::string payload;  // one JSON message as it arrives on the channel's raw topic
  int64_t person = 0;   // 0-based person index
  int identifiers = 0;  // identifiers in the payload (1-3)
  bool merges = false;  // its identifiers belonged to two or more different profiles before it
};

struct WorkloadStats {
  int64_t events = 0;
  int64_t bytes = 0;
  int64_t min_bytes = 0;
  int64_t max_bytes = 0;
  int64_t merges = 0;
  int64_t people_seen = 0;
  // The profiles identity should hold once every event is applied in generated order: one per
  // group of linked identifiers of each person (a person whose identifiers were never linked
  // counts more than once).
  int64_t expected_profiles = 0;
  std::array<int64_t, kEventKinds> by_kind{};
  std::array<int64_t, 4> by_identifier_count{};  // [1], [2], [3] used
  int64_t busiest_person_events = 0;
};

class WorkloadGenerator {
 public:
  explicit WorkloadGenerator(WorkloadOptions options);

  // Fills `event` with the next event; false once options.events were generated.
  bool Next(WorkloadEvent& event);
  // Generates and drops the next `count` events (fewer if the workload ends first; returns how many),
  // so what follows continues a workload another run produced: the same people (the population
  // follows from the seed) with new messageIds (numbered by event).
  int64_t Skip(int64_t count);

  // Counts so far (expected_profiles and busiest_person_events are computed on each call).
  WorkloadStats stats() const;

 private:
  // Identifier slots of a person; kAnonymous + d is device d (0 or 1).
  enum Slot : uint8_t { kAnonymous = 0, kAnonymous2, kUserId, kEmail, kPhone, kHandle, kLoyalty, kSlots };

  struct PersonState {
    // 0: never seen; otherwise the label of the group of linked identifiers the slot belongs to.
    std::array<uint8_t, kSlots> group{};
    uint8_t next_label = 1;
    uint32_t events = 0;
  };

  int64_t NextPerson();
  int64_t PersonOfRank(int64_t rank) const;
  uint64_t NextRandom();
  double NextUnit();
  bool Chance(double p) { return NextUnit() < p; }
  int Between(int lo, int hi) { return lo + static_cast<int>(NextRandom() % static_cast<uint64_t>(hi - lo + 1)); }

  // Chooses which of the person's identifiers the event carries and updates the groups.
  std::vector<Slot> ChooseIdentifiers(PersonState& person, int64_t person_index, EventKind kind, bool& merges);

  std::string IdentifierValue(int64_t person, Slot slot) const;
  std::string Payload(EventKind kind, int64_t person, const std::vector<Slot>& slots, int64_t ts);

  WorkloadOptions options_;
  uint64_t rng_state_;
  // Rejection-inversion Zipf sampling (Hörmann and Derflinger), O(1) memory for any population.
  double zipf_h_integral_x1_ = 0;
  double zipf_h_integral_n_ = 0;
  double zipf_s_ = 0;
  // Rank r (1 = busiest) is person (r - 1) * rank_stride_ mod people: a stride coprime with the
  // population, so every rank is a different person and busy people are not neighbours.
  uint64_t rank_stride_ = 1;
  std::vector<PersonState> people_;
  WorkloadStats stats_;
};

}  // namespace tessera::bench
