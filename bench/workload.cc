#include "bench/workload.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/clock.h"
#include "common/json_writer.h"

namespace tessera::bench {
namespace {

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A per-person, per-purpose hash: fixed attributes (names, devices, platform) do not depend on
// how often or in which order the person is drawn.
uint64_t PersonHash(uint64_t seed, int64_t person, uint64_t purpose) {
  return Mix64(Mix64(seed ^ 0x5bd1e995ULL) ^ Mix64(static_cast<uint64_t>(person) * 0x9e3779b97f4a7c15ULL + purpose));
}

// A messageId as real trackers make them: @segment/analytics-node's createMessageId is
// `node-next-${Date.now()}-${uuid()}`, a random (version 4) UUID behind the send time, and
// RudderStack's SDKs send a bare UUID v4. Mostly random bytes, unlike a numbered id, which would
// compress to almost nothing wherever a messageId is kept (the dedup keys, the event store's keys,
// a profile's tie-breakers) and flatter the disk figures.
std::string TrackerMessageId(uint64_t seed, int64_t event, int64_t sent_ms) {
  const uint64_t high = Mix64(Mix64(seed ^ 0x6d657373616765ULL) ^ static_cast<uint64_t>(event));
  const uint64_t low = Mix64(high ^ 0x9e3779b97f4a7c15ULL);
  return absl::StrFormat("node-next-%d-%08x-%04x-4%03x-%04x-%012x", sent_ms, high >> 32, (high >> 16) & 0xffff,
                         high & 0x0fff, 0x8000 | ((low >> 48) & 0x3fff), low & 0xffffffffffffULL);
}

constexpr std::array<std::string_view, 12> kFirstNames = {"somchai", "suda",  "anan",  "malee", "niran", "pim",
                                                           "kittisak", "nok",  "wichai", "ploy", "emma", "liam"};
constexpr std::array<std::string_view, 8> kLastNames = {"jaidee", "srisuk", "wongsa", "chaiyo",
                                                        "rattana", "boonma", "smith", "tan"};
constexpr std::array<std::string_view, 8> kThaiNames = {"สมชาย ใจดี", "สุดา ศรีสุข", "อนันต์ วงศา", "มาลี ชัยโย",
                                                        "นิรันดร์ รัตนะ", "พิมพ์ บุญมา", "กิตติศักดิ์ ทอง", "นก แก้ว"};
constexpr std::array<std::string_view, 4> kDomains = {"gmail.com", "hotmail.com", "yahoo.co.th", "outlook.com"};
constexpr std::array<std::string_view, 4> kPlatforms = {"instagram", "facebook", "tiktok", "line"};
constexpr std::array<std::string_view, 5> kSocialActions = {"comment", "like", "share", "mention", "review"};
constexpr std::array<std::string_view, 5> kSocialTexts = {
    "สวยมากค่ะ ราคาเท่าไหร่คะ ส่งต่างจังหวัดได้ไหม", "ชอบมากเลยครับ จะไปที่ร้านสาขาสยามพรุ่งนี้",
    "กาแฟอร่อยมาก บรรยากาศดี พนักงานน่ารัก แนะนำเลย", "Is this available in Chiang Mai? Love the new menu!",
    "รอโปรสงกรานต์อยู่นะคะ มีส่วนลดสมาชิกไหม"};
constexpr std::array<std::string_view, 4> kCities = {"กรุงเทพฯ", "เชียงใหม่", "ขอนแก่น", "ภูเก็ต"};

struct Product {
  std::string_view sku, name, category;
  int price_minor;
};
constexpr std::array<Product, 8> kProducts = {{{"TEA-01", "ชาไทย", "Beverages", 4550},
                                               {"COF-02", "Iced Americano", "Beverages", 6500},
                                               {"COF-03", "ลาเต้เย็น", "Beverages", 7000},
                                               {"CAKE-09", "เค้กมะพร้าว", "Bakery", 12000},
                                               {"CRO-01", "Butter Croissant", "Bakery", 8500},
                                               {"BEAN-1K", "Doi Chang Beans 1kg", "Retail", 69000},
                                               {"MUG-01", "Baan Kafe Mug", "Merch", 35000},
                                               {"SAND-04", "แซนด์วิชไก่", "Food", 9500}}};

struct Page {
  std::string_view name, path, title;
};
constexpr std::array<Page, 6> kPages = {{{"Home", "/", "Baan Kafe | บ้านกาแฟ"},
                                         {"Menu", "/menu", "Menu | Baan Kafe"},
                                         {"Promotions", "/promotions", "Promotions | Baan Kafe"},
                                         {"Product", "/shop/beans/doi-chang", "Doi Chang Beans | Baan Kafe"},
                                         {"Store Locator", "/stores", "Stores | Baan Kafe"},
                                         {"Checkout", "/checkout", "Checkout | Baan Kafe"}}};
constexpr std::array<std::string_view, 4> kTrackEvents = {"Product Viewed", "Product Added", "Checkout Started",
                                                          "Coupon Applied"};
constexpr std::array<std::string_view, 3> kUserAgents = {
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"};

std::string IsoTime(int64_t ms) {
  return FormatUtcMillis(ms);
}

std::string Money(int64_t minor) { return absl::StrFormat("%d.%02d", minor / 100, minor % 100); }

// Rejection-inversion helpers: log1p(x)/x and expm1(x)/x, stable near 0.
double Helper1(double x) { return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x)); }
double Helper2(double x) {
  return std::abs(x) > 1e-8 ? std::expm1(x) / x : 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x));
}

}  // namespace

const char* EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kPage: return "page";
    case EventKind::kTrack: return "track";
    case EventKind::kIdentify: return "identify";
    case EventKind::kSocial: return "social";
    case EventKind::kOrder: return "order";
  }
  return "?";
}

WorkloadGenerator::WorkloadGenerator(WorkloadOptions options)
    : options_(options), rng_state_(Mix64(options.seed + 0x1234567ULL)), people_(static_cast<size_t>(options.people)) {
  const double s = options_.zipf_exponent;
  const auto h_integral = [s](double x) {
    const double log_x = std::log(x);
    return Helper2((1 - s) * log_x) * log_x;
  };
  const auto h = [s](double x) { return std::exp(-s * std::log(x)); };
  const auto h_integral_inverse = [s](double x) {
    double t = x * (1 - s);
    if (t < -1) t = -1;
    return std::exp(Helper1(t) * x);
  };
  zipf_h_integral_x1_ = h_integral(1.5) - 1;
  zipf_h_integral_n_ = h_integral(static_cast<double>(options_.people) + 0.5);
  zipf_s_ = 2 - h_integral_inverse(h_integral(2.5) - h(2));
  // About the golden section of the population, moved up to the next number coprime with it.
  const uint64_t n = static_cast<uint64_t>(std::max<int64_t>(options_.people, 1));
  rank_stride_ = std::max<uint64_t>(1, static_cast<uint64_t>(static_cast<double>(n) * 0.6180339887498949));
  while (std::gcd(rank_stride_, n) != 1) ++rank_stride_;
}

int64_t WorkloadGenerator::PersonOfRank(int64_t rank) const {
  const unsigned __int128 scattered = static_cast<unsigned __int128>(rank - 1) * rank_stride_;
  return static_cast<int64_t>(scattered % static_cast<uint64_t>(options_.people));
}

uint64_t WorkloadGenerator::NextRandom() {
  rng_state_ += 0x9e3779b97f4a7c15ULL;
  return Mix64(rng_state_);
}

double WorkloadGenerator::NextUnit() { return static_cast<double>(NextRandom() >> 11) * 0x1.0p-53; }

int64_t WorkloadGenerator::NextPerson() {
  const double s = options_.zipf_exponent;
  const int64_t n = options_.people;
  while (true) {
    const double u = zipf_h_integral_n_ + NextUnit() * (zipf_h_integral_x1_ - zipf_h_integral_n_);
    double t = u * (1 - s);
    if (t < -1) t = -1;
    const double x = std::exp(Helper1(t) * u);
    int64_t k = static_cast<int64_t>(x + 0.5);
    k = std::clamp<int64_t>(k, 1, n);
    const double k_d = static_cast<double>(k);
    const double log_k_half = std::log(k_d + 0.5);
    const double h_integral_k = Helper2((1 - s) * log_k_half) * log_k_half;
    if (k_d - x <= zipf_s_ || u >= h_integral_k - std::exp(-s * std::log(k_d))) {
      // Until 2026-12-04 a multiply by a 64-bit constant then mod n, which is not one-to-one: 12% of
      // a million people (69% of a thousand) were never drawn and others took two ranks' activity.
      return PersonOfRank(k);
    }
  }
}

std::string WorkloadGenerator::IdentifierValue(int64_t person, Slot slot) const {
  const uint64_t name_hash = PersonHash(options_.seed, person, 1);
  const std::string_view first = kFirstNames[name_hash % kFirstNames.size()];
  const std::string_view last = kLastNames[(name_hash >> 8) % kLastNames.size()];
  switch (slot) {
    case kAnonymous:
    case kAnonymous2:
      return absl::StrFormat("anon-%016x", PersonHash(options_.seed, person, 10 + slot));
    case kUserId:
      return absl::StrCat("u-", person);
    case kEmail:
      return absl::StrCat(AbslView(first), ".", AbslView(last), person, "@", AbslView(kDomains[(name_hash >> 16) % kDomains.size()]));
    case kPhone: {
      // Thai mobile numbers 08x-xxx-xxxx, one per person (valid for libphonenumber's TH metadata).
      const int64_t national = 810'000'000 + person;
      const std::string digits = absl::StrCat("0", national);
      return absl::StrCat(digits.substr(0, 3), "-", digits.substr(3, 3), "-", digits.substr(6));
    }
    case kHandle:
      return absl::StrCat(AbslView(first), ".", AbslView(last), ".", person);
    case kLoyalty:
      return absl::StrFormat("L-%08d", person);
    case kSlots:
      break;
  }
  return "";
}

std::vector<WorkloadGenerator::Slot> WorkloadGenerator::ChooseIdentifiers(PersonState& person, int64_t person_index,
                                                                          EventKind kind, bool& merges) {
  // Every web call has an anonymousId (one per device); a social interaction always has a handle.
  std::vector<Slot> mandatory;
  std::vector<Slot> optional;
  int want = 1;
  const double roll = NextUnit();
  switch (kind) {
    case EventKind::kPage:
    case EventKind::kTrack: {
      const bool two_devices = PersonHash(options_.seed, person_index, 2) % 3 == 0;
      mandatory.push_back(two_devices && Chance(0.4) ? kAnonymous2 : kAnonymous);
      optional = {kUserId, kEmail};
      want = roll < 0.6 ? 1 : roll < 0.9 ? 2 : 3;
      break;
    }
    case EventKind::kIdentify: {
      const bool two_devices = PersonHash(options_.seed, person_index, 2) % 3 == 0;
      mandatory.push_back(two_devices && Chance(0.4) ? kAnonymous2 : kAnonymous);
      optional = {kUserId, kEmail, kPhone};
      want = roll < 0.3 ? 2 : 3;
      break;
    }
    case EventKind::kSocial:
      mandatory.push_back(kHandle);
      optional = {kPhone, kEmail, kUserId};
      want = roll < 0.6 ? 1 : roll < 0.9 ? 2 : 3;
      break;
    case EventKind::kOrder:
      optional = {kEmail, kPhone, kLoyalty, kUserId};
      want = roll < 0.35 ? 1 : roll < 0.8 ? 2 : 3;
      break;
  }
  for (size_t i = optional.size(); i > 1; --i) std::swap(optional[i - 1], optional[NextRandom() % i]);

  std::vector<Slot> chosen;
  // Merge: only as often as the target share asks, and only where two groups can meet.
  const bool want_merge = static_cast<double>(stats_.merges) <
                          options_.merge_fraction * static_cast<double>(stats_.events + 1);
  if (want_merge) {
    const auto group = [&](Slot s) { return person.group[s]; };
    if (mandatory.empty() || group(mandatory[0]) == 0) {
      // Two revealed optional slots in different groups (plus the mandatory one, if any).
      for (size_t a = 0; a < optional.size() && chosen.empty(); ++a) {
        for (size_t b = a + 1; b < optional.size(); ++b) {
          if (group(optional[a]) != 0 && group(optional[b]) != 0 && group(optional[a]) != group(optional[b])) {
            chosen = mandatory;
            chosen.push_back(optional[a]);
            chosen.push_back(optional[b]);
            break;
          }
        }
      }
    } else {
      for (Slot s : optional) {
        if (group(s) != 0 && group(s) != group(mandatory[0])) {
          chosen = {mandatory[0], s};
          break;
        }
      }
    }
  }
  if (chosen.empty()) {
    chosen = mandatory;
    uint8_t chosen_group = mandatory.empty() ? 0 : person.group[mandatory[0]];
    for (Slot s : optional) {
      if (static_cast<int>(chosen.size()) >= want) break;
      const uint8_t g = person.group[s];
      if (g == 0) {
        // A new identifier beside known ones links into their profile. Sometimes hold it back, so
        // it first shows up alone (a new profile) and a later event has something to merge.
        if (chosen_group != 0 && Chance(0.5)) continue;
        chosen.push_back(s);
      } else if (chosen_group == 0 || g == chosen_group) {
        chosen.push_back(s);
        chosen_group = g;
      }
      // else: another group; carrying it would merge, which this event must not.
    }
    if (chosen.empty()) chosen.push_back(optional[0]);
    // The first pass may have accepted unrevealed slots before a revealed one; that is still one
    // group plus new identifiers, never two groups.
  }

  // Apply: the identifiers of the event become one group.
  std::array<bool, kSlots + 1> touched_groups{};
  int distinct_groups = 0;
  uint8_t target = 0;
  for (Slot s : chosen) {
    const uint8_t g = person.group[s];
    if (g == 0 || touched_groups[g]) continue;
    touched_groups[g] = true;
    ++distinct_groups;
    target = target == 0 ? g : std::min(target, g);
  }
  merges = distinct_groups >= 2;
  if (target == 0) target = person.next_label++;
  for (uint8_t& g : person.group) {
    if (g != 0 && touched_groups[g]) g = target;
  }
  for (Slot s : chosen) person.group[s] = target;
  return chosen;
}

std::string WorkloadGenerator::Payload(EventKind kind, int64_t person, const std::vector<Slot>& slots, int64_t ts) {
  const auto has = [&](Slot s) { return std::find(slots.begin(), slots.end(), s) != slots.end(); };
  const uint64_t name_hash = PersonHash(options_.seed, person, 1);
  const std::string message_id = TrackerMessageId(options_.seed, stats_.events, ts);
  JsonWriter w;
  w.BeginObject();
  if (kind == EventKind::kPage || kind == EventKind::kTrack || kind == EventKind::kIdentify) {
    const Page& page = kPages[NextRandom() % kPages.size()];
    w.Key("type").String(kind == EventKind::kPage ? "page" : kind == EventKind::kTrack ? "track" : "identify");
    w.Key("messageId").String(message_id);
    w.Key("anonymousId").String(IdentifierValue(person, has(kAnonymous2) ? kAnonymous2 : kAnonymous));
    if (has(kUserId)) w.Key("userId").String(IdentifierValue(person, kUserId));
    w.Key("timestamp").String(IsoTime(ts));
    w.Key("sentAt").String(IsoTime(ts + Between(20, 900)));
    if (kind == EventKind::kPage) {
      w.Key("name").String(page.name);
      w.Key("properties").BeginObject();
      w.Key("path").String(page.path).Key("title").String(page.title);
      w.Key("url").String(absl::StrCat("https://www.baankafe.co.th", AbslView(page.path)));
      w.Key("referrer").String(Chance(0.5) ? "https://www.google.com/" : "https://www.instagram.com/");
      w.EndObject();
    } else if (kind == EventKind::kTrack) {
      const Product& product = kProducts[NextRandom() % kProducts.size()];
      w.Key("event").String(kTrackEvents[NextRandom() % kTrackEvents.size()]);
      w.Key("properties").BeginObject();
      w.Key("product_id").String(product.sku).Key("name").String(product.name);
      w.Key("category").String(product.category);
      w.Key("price").Raw(Money(product.price_minor)).Key("currency").String("THB");
      w.Key("quantity").Int(Between(1, 3)).Key("position").Int(Between(1, 24));
      w.EndObject();
    } else {
      w.Key("traits").BeginObject();
      w.Key("name").String(kThaiNames[name_hash % kThaiNames.size()]);
      if (has(kEmail)) w.Key("email").String(IdentifierValue(person, kEmail));
      if (has(kPhone)) w.Key("phone").String(IdentifierValue(person, kPhone));
      w.Key("address").BeginObject().Key("city").String(kCities[(name_hash >> 4) % kCities.size()]);
      w.Key("postal").String(absl::StrCat(10100 + (name_hash >> 12) % 900)).EndObject();
      w.Key("plan").String(name_hash % 5 == 0 ? "gold" : "member");
      w.EndObject();
    }
    w.Key("context").BeginObject();
    w.Key("library").BeginObject().Key("name").String("analytics.js").Key("version").String("next-1.64.0").EndObject();
    w.Key("page").BeginObject().Key("path").String(page.path);
    w.Key("url").String(absl::StrCat("https://www.baankafe.co.th", AbslView(page.path))).EndObject();
    w.Key("userAgent").String(kUserAgents[name_hash % kUserAgents.size()]);
    w.Key("locale").String("th-TH").Key("timezone").String("Asia/Bangkok");
    w.Key("ip").String(absl::StrCat("203.0.113.", person % 250 + 1));
    if (Chance(0.3)) {
      w.Key("campaign").BeginObject().Key("source").String("instagram").Key("medium").String("social");
      w.Key("name").String("songkran-2026").EndObject();
    }
    if (kind != EventKind::kIdentify && has(kEmail)) {
      w.Key("traits").BeginObject().Key("email").String(IdentifierValue(person, kEmail)).EndObject();
    }
    w.EndObject();
  } else if (kind == EventKind::kSocial) {
    const std::string_view platform = kPlatforms[(name_hash >> 20) % kPlatforms.size()];
    const std::string_view action = kSocialActions[NextRandom() % kSocialActions.size()];
    w.Key("messageId").String(message_id);
    w.Key("platform").String(platform).Key("action").String(action);
    w.Key("handle").String(absl::StrCat("@", IdentifierValue(person, kHandle)));
    if (has(kUserId)) w.Key("userId").String(IdentifierValue(person, kUserId));
    if (has(kEmail)) w.Key("email").String(IdentifierValue(person, kEmail));
    if (has(kPhone)) w.Key("phone").String(IdentifierValue(person, kPhone));
    w.Key("text").String(kSocialTexts[NextRandom() % kSocialTexts.size()]);
    w.Key("post_id").String(absl::StrFormat("C%010d", NextRandom() % 10'000'000'000ULL));
    if (action == "review") w.Key("rating").Int(Between(3, 5));
    w.Key("permalink").String(absl::StrCat("https://www.", AbslView(platform), ".com/baankafe/p/", stats_.events));
    w.Key("account").String("baankafe.official");
    w.Key("post_caption").String("โปรสงกรานต์ ลด 20% ทุกเมนูเครื่องดื่ม วันนี้ - 15 เม.ย. ที่ทุกสาขา");
    w.Key("media_type").String(Chance(0.5) ? "reel" : "image");
    w.Key("timestamp").String(IsoTime(ts));
  } else {
    const int items = Between(1, 3);
    int64_t total = 0;
    w.Key("order_id").String(absl::StrFormat("BO-%d-%08d", options_.seed, stats_.events));
    w.Key("timestamp").String(IsoTime(ts));
    w.Key("channel").String(Chance(0.6) ? "web" : "store");
    w.Key("store_id").String("BKK-01").Key("currency").String("THB");
    w.Key("customer").BeginObject();
    if (has(kUserId)) w.Key("user_id").String(IdentifierValue(person, kUserId));
    if (has(kEmail)) w.Key("email").String(IdentifierValue(person, kEmail));
    if (has(kPhone)) w.Key("phone").String(IdentifierValue(person, kPhone));
    if (has(kLoyalty)) w.Key("loyalty_id").String(IdentifierValue(person, kLoyalty));
    w.Key("name").String(kThaiNames[name_hash % kThaiNames.size()]);
    w.Key("address").BeginObject().Key("city").String(kCities[(name_hash >> 4) % kCities.size()]).EndObject();
    w.EndObject();
    w.Key("items").BeginArray();
    for (int i = 0; i < items; ++i) {
      const Product& product = kProducts[NextRandom() % kProducts.size()];
      const int quantity = Between(1, 3);
      total += static_cast<int64_t>(quantity) * product.price_minor;
      w.BeginObject().Key("sku").String(product.sku).Key("name").String(product.name);
      w.Key("category").String(product.category).Key("quantity").Int(quantity);
      w.Key("unit_price").String(Money(product.price_minor)).EndObject();
    }
    w.EndArray();
    w.Key("total").String(Money(total));
    w.Key("status").String(Chance(0.97) ? "completed" : "cancelled");
  }
  w.EndObject();
  return std::move(w).Take();
}

int64_t WorkloadGenerator::Skip(int64_t count) {
  WorkloadEvent event;
  int64_t skipped = 0;
  while (skipped < count && Next(event)) ++skipped;
  return skipped;
}

bool WorkloadGenerator::Next(WorkloadEvent& event) {
  if (stats_.events >= options_.events) return false;
  const int64_t person = NextPerson();
  PersonState& state = people_[static_cast<size_t>(person)];
  const double roll = NextUnit();
  // The mix: page views 40%, tracks 25%, identifies 5%, social 15%, orders 15%.
  const EventKind kind = roll < 0.40   ? EventKind::kPage
                         : roll < 0.65 ? EventKind::kTrack
                         : roll < 0.70 ? EventKind::kIdentify
                         : roll < 0.85 ? EventKind::kSocial
                                       : EventKind::kOrder;
  bool merges = false;
  const std::vector<Slot> slots = ChooseIdentifiers(state, person, kind, merges);
  const int64_t span_ms = int64_t{30} * 24 * 3600 * 1000;
  const int64_t ts = options_.base_time_ms + span_ms * stats_.events / std::max<int64_t>(options_.events, 1) +
                     static_cast<int64_t>(NextRandom() % 60'000);

  event.kind = kind;
  event.channel = kind == EventKind::kSocial  ? v1::CHANNEL_SOCIAL
                  : kind == EventKind::kOrder ? v1::CHANNEL_PURCHASE
                                              : v1::CHANNEL_WEB;
  event.person = person;
  event.identifiers = static_cast<int>(slots.size());
  event.merges = merges;
  event.key = IdentifierValue(person, slots[0]);
  event.payload = Payload(kind, person, slots, ts);

  const int64_t size = static_cast<int64_t>(event.payload.size());
  if (stats_.events == 0 || size < stats_.min_bytes) stats_.min_bytes = size;
  stats_.max_bytes = std::max(stats_.max_bytes, size);
  stats_.bytes += size;
  ++stats_.events;
  if (merges) ++stats_.merges;
  if (state.events++ == 0) ++stats_.people_seen;
  ++stats_.by_kind[static_cast<int>(kind)];
  ++stats_.by_identifier_count[std::min<size_t>(slots.size(), 3)];
  return true;
}

WorkloadStats WorkloadGenerator::stats() const {
  WorkloadStats stats = stats_;
  stats.expected_profiles = 0;
  stats.busiest_person_events = 0;
  for (const PersonState& person : people_) {
    std::array<bool, kSlots + 1> seen{};
    for (uint8_t g : person.group) {
      if (g != 0 && !seen[g]) {
        seen[g] = true;
        ++stats.expected_profiles;
      }
    }
    stats.busiest_person_events = std::max<int64_t>(stats.busiest_person_events, person.events);
  }
  return stats;
}

}  // namespace tessera::bench
