// profile-codec-bench: what a stored profile costs to parse and to serialize, whole and field by
// field (issue 5). The profiles stage parses, copies, compares and writes each event's profile
// whole (docs/segments.md); this says which of its fields that work goes to, so that a change of
// representation can be aimed and its gain estimated before it is made.
//
//   profile-codec-bench --store DIR [--profiles N (20000)] [--rounds R (5)]
//
// Method: the first N profiles (pf/ keys, in key order) of the Tessera store at DIR, read through
// a RocksDB secondary (a running process may hold the store), e.g. the one `segment-bench --mode
// stage --dir DIR` leaves. Then R rounds, each timed with steady_clock; the best round's mean is
// reported, in microseconds per profile:
//   parse      each profile's bytes parsed into a v1::Profile made on one protobuf arena per round,
//              the arena freed inside the timing (as a ProfileBatch does with its batch);
//   serialize  SerializeAsString of each parsed profile (what the save does, in two parts).
// The same for profiles holding one top-level field only (moved there by reflection), for every
// field some profile sets, with its mean serialized bytes. An empty profile's own cost (every map
// field of a Profile on an arena registers a cleanup) is in each of those rows: the first row
// gives it, so a field's cost is its row minus that one. Single-threaded; no other work is timed.
#include <google/protobuf/arena.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "common/rocks_store.h"
#include "tessera/v1/tessera.pb.h"

namespace {

using tessera::v1::Profile;

struct Flags {
  std::string store;
  size_t profiles = 20000;
  int rounds = 5;
};

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string name = argv[i];
    const char* value = argv[i + 1];
    if (name == "--store") {
      flags.store = value;
    } else if (name == "--profiles") {
      flags.profiles = std::strtoull(value, nullptr, 10);
    } else if (name == "--rounds") {
      flags.rounds = std::atoi(value);
    } else {
      return false;
    }
  }
  return (argc % 2) == 1 && !flags.store.empty() && flags.profiles > 0 && flags.rounds > 0;
}

// The best of `rounds` runs of `work`, in microseconds.
double BestMicros(int rounds, const std::function<void()>& work) {
  double best = std::numeric_limits<double>::max();
  for (int round = 0; round < rounds; ++round) {
    const auto start = std::chrono::steady_clock::now();
    work();
    best = std::min(best, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

struct Costs {
  double parse_us = 0;
  double serialize_us = 0;
};

// Per profile: parsing `bytes` on a fresh arena (freed inside the timing) and serializing them again.
Costs Measure(const std::vector<std::string>& bytes, int rounds) {
  const double n = static_cast<double>(bytes.size());
  Costs costs;
  costs.parse_us = BestMicros(rounds, [&] {
                     google::protobuf::Arena arena;
                     for (const std::string& b : bytes) {
                       Profile* profile = google::protobuf::Arena::CreateMessage<Profile>(&arena);
                       if (!profile->ParseFromString(b)) std::abort();
                     }
                   }) / n;
  google::protobuf::Arena arena;
  std::vector<Profile*> parsed;
  parsed.reserve(bytes.size());
  for (const std::string& b : bytes) {
    parsed.push_back(google::protobuf::Arena::CreateMessage<Profile>(&arena));
    if (!parsed.back()->ParseFromString(b)) std::abort();
  }
  std::string out;
  costs.serialize_us = BestMicros(rounds, [&] {
                         for (const Profile* profile : parsed) out = profile->SerializeAsString();
                       }) / n;
  return costs;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    std::fprintf(stderr, "usage: profile-codec-bench --store DIR [--profiles N] [--rounds R]\n");
    return 2;
  }
  const std::string scratch =
      (std::filesystem::temp_directory_path() / ("profile-codec-bench-" + std::to_string(getpid()))).string();
  std::vector<std::string> bytes;
  const absl::Status scanned = [&]() -> absl::Status {
    auto store = tessera::RocksStore::OpenSecondary(flags.store, scratch);
    if (!store.ok()) return store.status();
    return (*store)->ScanPrefix("pf/", [&](std::string_view, std::string_view value) {
      bytes.emplace_back(value);
      return bytes.size() < flags.profiles;
    });
  }();
  std::error_code ignored;  // the secondary's scratch directory, whatever happened
  std::filesystem::remove_all(scratch, ignored);
  if (!scanned.ok()) {
    std::fprintf(stderr, "profile-codec-bench: %s: %s\n", flags.store.c_str(), std::string(scanned.message()).c_str());
    return 1;
  }
  if (bytes.empty()) {
    std::fprintf(stderr, "profile-codec-bench: no profiles (pf/ keys) in %s\n", flags.store.c_str());
    return 1;
  }
  size_t total = 0;
  std::vector<Profile> profiles(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) {
    total += bytes[i].size();
    if (!profiles[i].ParseFromString(bytes[i])) {
      std::fprintf(stderr, "profile-codec-bench: profile %zu does not parse\n", i);
      return 1;
    }
  }
  const double n = static_cast<double>(bytes.size());
  std::printf("%zu profiles from %s, %.0f B each on average; best of %d rounds, us per profile\n", bytes.size(),
              flags.store.c_str(), static_cast<double>(total) / n, flags.rounds);
  std::printf("%-22s %8s %8s %10s\n", "", "bytes", "parse", "serialize");
  const Costs empty = Measure(std::vector<std::string>(bytes.size()), flags.rounds);
  std::printf("%-22s %8.1f %8.3f %10.3f\n", "(an empty profile)", 0.0, empty.parse_us, empty.serialize_us);
  const Costs whole = Measure(bytes, flags.rounds);
  std::printf("%-22s %8.1f %8.3f %10.3f\n", "(the whole profile)", static_cast<double>(total) / n, whole.parse_us,
              whole.serialize_us);
  const google::protobuf::Descriptor* descriptor = Profile::descriptor();
  const google::protobuf::Reflection* reflection = Profile::GetReflection();
  for (int f = 0; f < descriptor->field_count(); ++f) {
    const google::protobuf::FieldDescriptor* field = descriptor->field(f);
    std::vector<std::string> alone(bytes.size());
    size_t alone_total = 0;
    for (size_t i = 0; i < profiles.size(); ++i) {
      Profile copy = profiles[i];
      Profile only;
      reflection->SwapFields(&copy, &only, {field});
      alone[i] = only.SerializeAsString();
      alone_total += alone[i].size();
    }
    if (alone_total == 0) continue;  // no profile sets it
    const Costs costs = Measure(alone, flags.rounds);
    std::printf("%-22s %8.1f %8.3f %10.3f\n", field->name().c_str(), static_cast<double>(alone_total) / n,
                costs.parse_us, costs.serialize_us);
  }
  return 0;
}
