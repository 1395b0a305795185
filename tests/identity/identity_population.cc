#include "tests/identity/identity_population.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/identifier.h"
#include "ingest/normalize.h"

namespace tessera::identity::testing {
namespace {

constexpr int64_t kBaseMs = 1'767'225'600'000;  // 2026-01-01
constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kDayMs = 24 * 60 * kMinuteMs;

// SplitMix64: our own generator, so every platform gets the same population.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }
  int Between(int lo, int hi) { return lo + static_cast<int>(Below(static_cast<uint64_t>(hi - lo + 1))); }
  bool Chance(double p) { return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p; }

 private:
  uint64_t state_;
};

struct Person {
  std::string user_id;                      // empty: no account (shop-only customer)
  std::vector<std::string> devices;         // anonymous ids
  std::vector<std::string> emails;          // normalized
  std::string phone_digits;                 // 9 digits, "8XXXXXXXX"; empty: none
  std::string handle;                       // instagram
  std::string loyalty_id;
};

// How a person types an email into a form: random case, stray spaces.
std::string Typed(const std::string& email, Rng& rng) {
  std::string out = email;
  for (char& c : out) {
    if (c >= 'a' && c <= 'z' && rng.Chance(0.2)) c = static_cast<char>(c - 'a' + 'A');
  }
  if (rng.Chance(0.2)) out = absl::StrCat(" ", out);
  if (rng.Chance(0.2)) out += "  ";
  return out;
}

std::string TypedPhone(const std::string& digits, Rng& rng) {
  switch (rng.Below(4)) {
    case 0: return absl::StrCat("0", digits);
    case 1: return absl::StrCat("0", digits.substr(0, 2), "-", digits.substr(2, 3), "-", digits.substr(5));
    case 2: return absl::StrCat("+66 ", digits.substr(0, 2), " ", digits.substr(2, 3), " ", digits.substr(5));
    default: return absl::StrCat("+66", digits);
  }
}

class Builder {
 public:
  explicit Builder(IdentityPopulation& out) : out_(out) {}

  // One event at `time_ms` asserting `identifiers` ("type:raw value"; email and phone normalized
  // here as ingest would, and dropped when ingest would drop them).
  void Add(int64_t time_ms, const std::vector<std::pair<std::string, std::string>>& identifiers) {
    v1::Event& event = out_.events.emplace_back();
    event.set_message_id(absl::StrCat("m", out_.events.size()));
    event.set_workspace("default");
    event.set_channel(v1::CHANNEL_WEB);
    event.set_timestamp_ms(time_ms);
    event.mutable_source()->set_topic("raw.web");
    event.mutable_source()->set_offset(static_cast<int64_t>(out_.events.size()));
    for (const auto& [type, raw] : identifiers) {
      std::optional<std::string> value = raw;
      if (type == "email") value = ingest::NormalizeEmail(raw);
      if (type == "phone") {
        const std::string* e164 = phones_.Normalize(raw);
        value = e164 == nullptr ? std::nullopt : std::optional<std::string>(*e164);
      }
      if (value.has_value() && !value->empty()) *event.add_identifiers() = MakeIdentifier(type, *value);
    }
    if (event.identifiers_size() == 0) out_.events.pop_back();  // ingest would dead-letter it
  }

  void Own(const std::string& type, const std::string& normalized, int person) {
    auto [it, inserted] = out_.owner.try_emplace(absl::StrCat(type, ":", normalized), person);
    if (!inserted && it->second != person) it->second = kSharedIdentifier;
  }

 private:
  IdentityPopulation& out_;
  ingest::CachedPhoneNormalizer phones_{"TH"};
};

}  // namespace

IdentityPopulation GenerateIdentityPopulation(uint64_t seed, int people, const PopulationOptions& options) {
  IdentityPopulation out;
  out.people = people;
  Builder b(out);
  Rng rng(seed);
  std::vector<Person> persons(people);
  constexpr std::array<const char*, 4> kDomains = {"gmail.com", "hotmail.com", "yahoo.co.th", "outlook.com"};
  // Broken forms: the values they send in place of the real one.
  const std::vector<std::pair<std::string, std::string>> kJunk = {
      {"email", "test@test.com"}, {"user_id", "undefined"}, {"user_id", "null"},
      {"phone", "081-111-1111"},  {"anonymous_id", "[object Object]"}, {"email", "noreply@baankafe.co.th"}};

  for (int i = 0; i < people; ++i) {
    Person& p = persons[i];
    if (rng.Chance(0.7)) p.user_id = absl::StrCat("u", 100000 + i);
    const int devices = rng.Between(1, 3);
    for (int d = 0; d < devices; ++d) p.devices.push_back(absl::StrFormat("a-%x-%d-%x", rng.Next() & 0xffffff, i, d));
    p.emails.push_back(absl::StrCat("c", i, ".", rng.Below(1000), "@", kDomains[rng.Below(kDomains.size())]));
    if (rng.Chance(0.1)) p.emails.push_back(absl::StrCat("work", i, "@company", i % 97, ".co.th"));
    if (rng.Chance(0.85)) {
      // Unique per person (a bijection of the index), except the recycled numbers below.
      p.phone_digits = absl::StrFormat("8%d%07d", 1 + static_cast<int>(rng.Below(9)), (static_cast<int64_t>(i) * 7919 + 1234567) % 10'000'000);
    }
    if (rng.Chance(0.3)) p.handle = absl::StrCat("ig_", i);
    if (rng.Chance(0.3)) p.loyalty_id = absl::StrFormat("BK%08d", i);
  }
  // Recycled numbers: a later person gets an earlier person's old number.
  for (int i = 1; i < people; ++i) {
    if (rng.Chance(options.recycled_phone_rate)) {
      const int previous = static_cast<int>(rng.Below(static_cast<uint64_t>(i)));
      if (!persons[previous].phone_digits.empty()) {
        persons[i].phone_digits = persons[previous].phone_digits;
        ++out.recycled_phones;
      }
    }
  }

  for (int i = 0; i < people; ++i) {
    const Person& p = persons[i];
    // A recycled number was the earlier owner's in the first half of the month, the new one's after.
    const bool recycled_new = i > 0 && !p.phone_digits.empty() && out.owner.contains(absl::StrCat("phone:+66", p.phone_digits));
    const int64_t start = kBaseMs + (recycled_new ? 16 * kDayMs : 0);
    const int64_t span = recycled_new ? 14 * kDayMs : 15 * kDayMs;
    auto when = [&] { return start + static_cast<int64_t>(rng.Below(static_cast<uint64_t>(span))); };
    if (!p.user_id.empty()) b.Own("user_id", p.user_id, i);
    for (const std::string& e : p.emails) b.Own("email", e, i);
    if (!p.phone_digits.empty()) b.Own("phone", absl::StrCat("+66", p.phone_digits), i);
    if (!p.handle.empty()) b.Own("instagram", p.handle, i);
    if (!p.loyalty_id.empty()) b.Own("loyalty_id", p.loyalty_id, i);
    for (const std::string& device : p.devices) {
      b.Own("anonymous_id", device, i);
      const int views = rng.Between(2, 8);
      for (int v = 0; v < views; ++v) b.Add(when(), {{"anonymous_id", device}});
      if (!p.user_id.empty()) {
        b.Add(when(), {{"anonymous_id", device}, {"user_id", p.user_id}, {"email", Typed(p.emails[0], rng)}});
        b.Add(when(), {{"anonymous_id", device}, {"user_id", p.user_id}});
      } else {
        b.Add(when(), {{"anonymous_id", device}, {"email", Typed(p.emails[0], rng)}});  // newsletter form
      }
    }
    // Every email appears on an order at least once: the truth is what the events can prove.
    const int orders = std::max(rng.Between(1, 4), static_cast<int>(p.emails.size()));
    for (int o = 0; o < orders; ++o) {
      std::vector<std::pair<std::string, std::string>> ids;
      if (!p.user_id.empty() && rng.Chance(0.5)) ids.push_back({"user_id", p.user_id});
      ids.push_back({"email", Typed(p.emails[static_cast<size_t>(o) % p.emails.size()], rng)});
      if (!p.phone_digits.empty()) ids.push_back({"phone", TypedPhone(p.phone_digits, rng)});
      if (!p.loyalty_id.empty()) ids.push_back({"loyalty_id", p.loyalty_id});
      if (rng.Chance(options.junk_rate)) {
        ids.push_back(kJunk[rng.Below(kJunk.size())]);
        ++out.junk_events;
      }
      b.Add(when(), ids);
    }
    if (!p.handle.empty()) {
      const int social = rng.Between(1, 3);
      for (int s = 0; s < social; ++s) {
        std::vector<std::pair<std::string, std::string>> ids = {{"instagram", p.handle}};
        // The first message of a handle is a chat that asked for a phone (or an email).
        if (s == 0 || rng.Chance(0.5)) {
          if (!p.phone_digits.empty()) {
            ids.push_back({"phone", TypedPhone(p.phone_digits, rng)});
          } else {
            ids.push_back({"email", Typed(p.emails[0], rng)});
          }
        }
        b.Add(when(), ids);
      }
    }
  }

  // Families sharing a tablet: 2 to 6 people with accounts, each identifying on it; anonymous page
  // views on it belong to whoever held it.
  for (int first = 0; first + 6 < people; first += 6) {
    if (!rng.Chance(options.family_rate)) continue;
    const std::string tablet = absl::StrFormat("tablet-%d", first);
    const int size = rng.Between(2, 6);
    int members = 0;
    for (int m = first; m < first + size; ++m) {
      if (persons[m].user_id.empty()) continue;
      ++members;
      b.Own("anonymous_id", tablet, m);
      const int64_t t = kBaseMs + static_cast<int64_t>(rng.Below(30 * kDayMs));
      b.Add(t, {{"anonymous_id", tablet}, {"user_id", persons[m].user_id}, {"email", Typed(persons[m].emails[0], rng)}});
      for (int v = 0; v < 3; ++v) b.Add(t + (v + 1) * kMinuteMs, {{"anonymous_id", tablet}});
    }
    if (members > 0) ++out.families;
  }

  // Arrival: by event time plus a delay, mostly seconds, one event in twenty days late.
  std::vector<std::pair<int64_t, size_t>> arrival(out.events.size());
  for (size_t k = 0; k < out.events.size(); ++k) {
    int64_t delay = static_cast<int64_t>(rng.Below(60'000));
    if (rng.Chance(0.05)) delay = static_cast<int64_t>(rng.Below(5 * kDayMs));
    arrival[k] = {out.events[k].timestamp_ms() + delay, k};
  }
  std::sort(arrival.begin(), arrival.end());
  std::vector<v1::Event> ordered;
  ordered.reserve(out.events.size());
  for (const auto& [at, k] : arrival) ordered.push_back(std::move(out.events[k]));
  out.events = std::move(ordered);
  return out;
}

Accuracy MeasureAccuracy(const IdentityPopulation& population,
                         const absl::flat_hash_map<std::string, uint64_t>& profile_of) {
  absl::flat_hash_map<uint64_t, int64_t> per_profile;
  absl::flat_hash_map<int, int64_t> per_person;
  absl::flat_hash_map<std::pair<uint64_t, int>, int64_t> per_cell;
  Accuracy a;
  // Unresolved identifiers get a profile of their own: ids above any real one.
  uint64_t alone = ~uint64_t{0};
  for (const auto& [identifier, person] : population.owner) {
    if (person == kSharedIdentifier) continue;
    auto it = profile_of.find(identifier);
    const uint64_t profile = it != profile_of.end() && it->second != 0 ? it->second : alone--;
    ++per_profile[profile];
    ++per_person[person];
    ++per_cell[{profile, person}];
    ++a.identifiers;
  }
  auto pairs = [](int64_t n) { return n * (n - 1) / 2; };
  for (const auto& [k, n] : per_profile) a.predicted_pairs += pairs(n);
  for (const auto& [k, n] : per_person) a.true_pairs += pairs(n);
  for (const auto& [k, n] : per_cell) a.correct_pairs += pairs(n);
  a.profiles = static_cast<int64_t>(per_profile.size());
  a.precision = a.predicted_pairs == 0 ? 1 : static_cast<double>(a.correct_pairs) / static_cast<double>(a.predicted_pairs);
  a.recall = a.true_pairs == 0 ? 1 : static_cast<double>(a.correct_pairs) / static_cast<double>(a.true_pairs);
  return a;
}

}  // namespace tessera::identity::testing
