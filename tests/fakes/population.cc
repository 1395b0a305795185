#include "tests/fakes/population.h"

#include <algorithm>
#include <array>
#include <limits>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/json_writer.h"

namespace tessera::testing {
namespace {

// Debian's Abseil has its own absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW is 0), so
// std::string_view must be converted explicitly for StrCat and friends.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

constexpr int64_t kDayMs = 24 * 60 * 60 * 1000;
constexpr int64_t kSpreadMs = 30 * kDayMs;

// SplitMix64's finalizer: a bijective 64-bit mix, used to derive one stream per person.
uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// SplitMix64. Our own generator (not std::mt19937 + std distributions) because the standard
// distributions differ between library implementations and the population must not.
class Rng {
 public:
  explicit Rng(uint64_t state) : state_(state) {}

  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return Mix64(state_);
  }
  // Uniform in [0, n). The modulo bias (< n / 2^64) does not matter for test data.
  uint64_t Below(uint64_t n) { return Next() % n; }
  int Between(int lo, int hi) { return lo + static_cast<int>(Below(static_cast<uint64_t>(hi - lo + 1))); }
  bool Chance(double p) { return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p; }
  template <typename T, size_t N>
  const T& Pick(const std::array<T, N>& items) {
    return items[Below(N)];
  }

 private:
  uint64_t state_;
};

// ---------------------------------------------------------------------------------------------
// Who the people are.

struct FirstName {
  std::string_view display;  // as the person writes it (UTF-8)
  std::string_view ascii;    // for emails and handles
  std::string_view gender;
};
struct LastName {
  std::string_view display;
  std::string_view ascii;
};

constexpr std::array<FirstName, 20> kThaiFirstNames = {{
    {"สมชาย", "Somchai", "male"},        {"สมศรี", "Somsri", "female"},
    {"วิชัย", "Wichai", "male"},         {"มาลี", "Malee", "female"},
    {"ประเสริฐ", "Prasert", "male"},     {"นภา", "Napha", "female"},
    {"อรุณ", "Arun", "male"},            {"ศิริพร", "Siriporn", "female"},
    {"ธนพล", "Thanaphon", "male"},       {"พิมพ์ชนก", "Pimchanok", "female"},
    {"อนุชา", "Anucha", "male"},         {"วรรณา", "Wanna", "female"},
    {"ชัยวัฒน์", "Chaiwat", "male"},     {"สุดา", "Suda", "female"},
    {"กิตติ", "Kitti", "male"},          {"รัตนา", "Rattana", "female"},
    {"ธีรพงษ์", "Theerapong", "male"},   {"ปวีณา", "Paweena", "female"},
    {"ณัฐพล", "Nattaphon", "male"},      {"กมลชนก", "Kamonchanok", "female"},
}};
constexpr std::array<LastName, 14> kThaiLastNames = {{
    {"ใจดี", "Jaidee"},         {"มีสุข", "Meesuk"},     {"รักไทย", "Rakthai"},
    {"ศรีสุข", "Srisuk"},       {"วงศ์ใหญ่", "Wongyai"}, {"แสงทอง", "Saengthong"},
    {"บุญมา", "Boonma"},        {"ทองดี", "Thongdee"},   {"สุขสวัสดิ์", "Suksawat"},
    {"พูลผล", "Poonphol"},      {"เรืองศรี", "Ruangsri"}, {"จันทร์ดี", "Chandee"},
    {"ศรีวงศ์", "Sriwong"},     {"ประเสริฐสุข", "Prasertsuk"},
}};
constexpr std::array<FirstName, 10> kForeignFirstNames = {{
    {"John", "John", "male"},   {"Emma", "Emma", "female"},   {"Liam", "Liam", "male"},
    {"Olivia", "Olivia", "female"}, {"Noah", "Noah", "male"}, {"Sophie", "Sophie", "female"},
    {"Lukas", "Lukas", "male"}, {"Chloé", "Chloe", "female"}, {"Kenji", "Kenji", "male"},
    {"Anna", "Anna", "female"},
}};
constexpr std::array<LastName, 9> kForeignLastNames = {{
    {"Smith", "Smith"},   {"Brown", "Brown"},   {"Wilson", "Wilson"},
    {"Taylor", "Taylor"}, {"Müller", "Mueller"}, {"Dubois", "Dubois"},
    {"Tanaka", "Tanaka"}, {"Schmidt", "Schmidt"}, {"O'Brien", "OBrien"},
}};
constexpr std::array<std::string_view, 5> kEmailDomains = {
    "gmail.com", "hotmail.com", "yahoo.co.th", "outlook.com", "icloud.com"};
constexpr std::array<std::string_view, 5> kPlatforms = {"instagram", "facebook", "tiktok", "line",
                                                       "x"};

struct Person {
  int index = 0;
  std::string display_name;  // "สมชาย ใจดี" or "Emma Brown"
  std::string latin_name;    // "Somchai Jaidee": how shop staff sometimes type it
  std::string gender;
  std::string birthday;
  bool foreign = false;
  bool app_user = false;  // browses in the app (screen calls) rather than the website

  std::string anonymous_id;
  std::string user_id;  // decimal text
  bool user_id_as_number = false;
  std::string email;           // normalized (lower case, no spaces)
  std::string phone_digits;    // national significant number, 9 digits: "812345678"
  std::string loyalty_id;      // normalized; empty when the person has no card
  std::string handle;          // normalized: lower case, no '@'
  std::string handle_written;  // as the platforms show it: "@Somchai_Jaidee42"
  std::vector<std::string_view> platforms;
};

std::string RandomCaps(std::string_view text, Rng& rng) {
  std::string out(text);
  for (char& c : out) {
    if (absl::ascii_islower(static_cast<unsigned char>(c)) && rng.Chance(0.35)) c = absl::ascii_toupper(c);
  }
  return out;
}

// "Somchai.J42@Gmail.com": the capitalization a person typing into a shop's form might use.
std::string TitleCaseEmail(std::string_view email) {
  std::string out(email);
  bool start = true;
  for (char& c : out) {
    if (start) c = absl::ascii_toupper(static_cast<unsigned char>(c));
    start = (c == '.' || c == '@');
  }
  return out;
}

Person MakePerson(int index, Rng& rng) {
  Person p;
  p.index = index;
  p.foreign = rng.Chance(0.15);
  const FirstName& first = p.foreign ? rng.Pick(kForeignFirstNames) : rng.Pick(kThaiFirstNames);
  const LastName& last = p.foreign ? rng.Pick(kForeignLastNames) : rng.Pick(kThaiLastNames);
  p.display_name = absl::StrCat(Absl(first.display), " ", Absl(last.display));
  p.latin_name = absl::StrCat(Absl(first.ascii), " ", Absl(last.ascii));
  p.gender = std::string(first.gender);
  p.birthday = absl::StrFormat("%04d-%02d-%02d", rng.Between(1965, 2005), rng.Between(1, 12), rng.Between(1, 28));
  p.app_user = rng.Chance(0.2);

  // Every identifier embeds the index, so two people can never collide.
  p.anonymous_id = absl::StrFormat("%08x-%04x-4%03x-%04x-%012x", rng.Next() & 0xffffffff, rng.Next() & 0xffff,
                                   rng.Next() & 0xfff, 0x8000 | (rng.Next() & 0x3fff), index);
  p.user_id = absl::StrCat(100000 + static_cast<int64_t>(index));
  p.user_id_as_number = rng.Chance(0.25);
  const std::string first_ascii = absl::AsciiStrToLower(Absl(first.ascii));
  const std::string last_ascii = absl::AsciiStrToLower(Absl(last.ascii));
  p.email = absl::StrCat(first_ascii, ".", last_ascii.substr(0, 1), index, "@", Absl(rng.Pick(kEmailDomains)));
  // 08X + 7 digits: a valid Thai mobile number. The 7 digits are a bijection of the index mod 10^7
  // (multiplier coprime to 10), so numbers are unique for up to ten million people.
  const int64_t subscriber = (static_cast<int64_t>(index) * 7919 + 1234567) % 10'000'000;
  p.phone_digits = absl::StrFormat("8%d%07d", rng.Between(1, 9), subscriber);
  if (rng.Chance(0.4)) p.loyalty_id = absl::StrFormat("BK%08d", index);
  p.handle = absl::StrCat(first_ascii, "_", last_ascii, index);
  p.handle_written = absl::StrCat("@", rng.Chance(0.6) ? absl::StrCat(Absl(first.ascii), "_", Absl(last.ascii), index) : p.handle);
  p.platforms.push_back(rng.Pick(kPlatforms));
  if (rng.Chance(0.4)) {
    std::string_view second = rng.Pick(kPlatforms);
    if (second != p.platforms[0]) p.platforms.push_back(second);
  }
  return p;
}

// "081-234-5678" or "0812345678": how a Thai customer gives a number at the till.
std::string LocalPhone(const Person& p, Rng& rng) {
  const std::string_view d = p.phone_digits;
  if (rng.Chance(0.5)) return absl::StrCat("0", Absl(d.substr(0, 2)), "-", Absl(d.substr(2, 3)), "-", Absl(d.substr(5)));
  return absl::StrCat("0", Absl(d));
}

// "+66 81 234 5678": how social platforms show it.
std::string InternationalPhone(const Person& p) {
  const std::string_view d = p.phone_digits;
  return absl::StrCat("+66 ", Absl(d.substr(0, 2)), " ", Absl(d.substr(2, 3)), " ", Absl(d.substr(5)));
}

// ---------------------------------------------------------------------------------------------
// What Baan Kafe sells.

struct Product {
  std::string_view sku;
  std::string_view name;
  std::string_view category;  // normalized (lower case)
  int64_t price_thb_minor;
};
constexpr std::array<Product, 10> kProducts = {{
    {"BK-ESP-01", "Espresso", "coffee", 6500},
    {"BK-LAT-02", "Iced Latte", "coffee", 8500},
    {"BK-CAP-03", "Cappuccino", "coffee", 8000},
    {"BK-THT-04", "Thai Tea (ชาไทย)", "tea", 6000},
    {"BK-MAT-05", "Matcha Latte", "tea", 9500},
    {"BK-CRO-06", "Butter Croissant", "bakery", 7500},
    {"BK-BAN-07", "Banana Cake", "bakery", 5550},
    {"BK-BEA-08", "Doi Chang Beans 250g", "beans", 45000},
    {"BK-MUG-09", "Baan Kafe Mug", "merchandise", 29900},
    {"BK-SAN-10", "Ham & Cheese Sandwich", "food", 12000},
}};
constexpr std::array<std::string_view, 4> kStores = {"BKK-SIAM-01", "BKK-ARI-02", "CNX-NIMMAN-01",
                                                     "HKT-PATONG-01"};
constexpr std::array<std::string_view, 4> kOrderChannels = {"store", "web", "app", "marketplace"};

// The category as a shop system might send it; ingest lower-cases and trims it.
std::string WrittenCategory(std::string_view category, Rng& rng) {
  switch (rng.Below(3)) {
    case 0: return std::string(category);
    case 1: {
      std::string out(category);
      out[0] = absl::ascii_toupper(static_cast<unsigned char>(out[0]));
      return out;
    }
    default: return absl::StrCat(" ", absl::AsciiStrToUpper(Absl(category)), " ");
  }
}

// How an order writes its amounts: all three are valid and must convert to the same minor units.
enum class AmountStyle { kString, kNumberTwoDecimals, kNumberShortest };

void WriteAmount(JsonWriter& w, int64_t minor, AmountStyle style) {
  const std::string two = absl::StrFormat("%d.%02d", minor / 100, minor % 100);
  switch (style) {
    case AmountStyle::kString: w.String(two); return;
    case AmountStyle::kNumberTwoDecimals: w.Raw(two); return;
    case AmountStyle::kNumberShortest: {
      std::string shortest = two;
      while (shortest.back() == '0') shortest.pop_back();
      if (shortest.back() == '.') shortest.pop_back();
      w.Raw(shortest);
      return;
    }
  }
}

std::string FormatMinor(int64_t minor) {
  return absl::StrFormat("%s%d.%02d", minor < 0 ? "-" : "", (minor < 0 ? -minor : minor) / 100,
                         (minor < 0 ? -minor : minor) % 100);
}

std::string IsoTime(int64_t ms) {
  return FormatUtcMillis(ms);
}

// ---------------------------------------------------------------------------------------------
// Generation of one person's messages.

// One generated message before the global sort.
struct Timed {
  int64_t timestamp_ms;
  int person;
  int sequence;  // within the person
  RawRecord record;
};

struct OrderLine {
  const Product* product;
  int64_t quantity;
  int64_t unit_price_minor;
  std::string written_category;
};

struct PlannedOrder {
  std::string order_id;
  std::string channel;
  std::string store_id;
  std::string currency;
  std::vector<OrderLine> lines;
  int64_t discount_minor = 0;
  int64_t total_minor = 0;
  bool write_zero_discount = false;
  std::string coupon;
  std::string campaign;
  AmountStyle amount_style = AmountStyle::kString;
  bool cancelled = false;
  bool refunded_later = false;
  bool with_user_id = false;
  bool with_address = false;
};

class PersonGenerator {
 public:
  PersonGenerator(uint64_t seed, int index, int64_t base_time_ms)
      : rng_(Mix64(seed ^ Mix64(static_cast<uint64_t>(index) + 0x5bd1e995ULL))),
        base_time_ms_(base_time_ms),
        person_(MakePerson(index, rng_)) {}

  // Appends the person's messages to `out` and returns the profile they must resolve to.
  ExpectedProfile Generate(std::vector<Timed>& out);

 private:
  enum class Step { kAnonymousWeb, kIdentify, kKnownWeb, kOrder, kRefund, kSocial };

  void Emit(Step step, int64_t ts, std::vector<Timed>& out);
  void EmitAnonymousWeb(int64_t ts, JsonWriter& w);
  void EmitIdentify(int64_t ts, JsonWriter& w);
  void EmitKnownWeb(int64_t ts, JsonWriter& w);
  void EmitOrder(const PlannedOrder& order, std::string_view status, int64_t ts, JsonWriter& w);
  void EmitSocial(int64_t ts, JsonWriter& w);

  void WriteWebCommon(std::string_view type, bool known, int64_t ts, JsonWriter& w);
  void WriteWebContext(JsonWriter& w, std::string_view page_path, std::string_view page_title,
                       const std::string* written_email);
  PlannedOrder PlanOrder(int n);
  void SetName(std::string_view name, int64_t ts, const std::string& message_id);
  void CountOrder(const PlannedOrder& order, std::string_view status);

  Rng rng_;
  int64_t base_time_ms_;
  Person person_;
  ExpectedProfile expected_;
  std::vector<PlannedOrder> orders_;
  size_t next_order_ = 0;
  std::vector<size_t> refunds_;  // indexes into orders_, in the order their refunds are sent
  size_t next_refund_ = 0;
  int web_sequence_ = 0;
  int social_sequence_ = 0;
  int sequence_ = 0;
  // For the latest "name" trait: last writer wins by (event time, message id).
  int64_t name_ts_ = std::numeric_limits<int64_t>::min();
  std::string name_message_id_;
  // Final status per order id (orders never repeat a status, so the last message sent wins).
  std::map<std::string, std::pair<std::string, const PlannedOrder*>> order_status_;
  std::set<std::string, std::less<>> platforms_used_;
};

ExpectedProfile PersonGenerator::Generate(std::vector<Timed>& out) {
  std::vector<Step> plan;
  const int anonymous_web = rng_.Between(1, 3);
  for (int i = 0; i < anonymous_web; ++i) plan.push_back(Step::kAnonymousWeb);
  plan.push_back(Step::kIdentify);
  const int known_web = rng_.Between(0, 2);
  for (int i = 0; i < known_web; ++i) plan.push_back(Step::kKnownWeb);
  const int order_count = rng_.Between(1, 3);
  for (int i = 0; i < order_count; ++i) {
    orders_.push_back(PlanOrder(i + 1));
    plan.push_back(Step::kOrder);
  }
  for (size_t i = 0; i < orders_.size(); ++i) {
    if (orders_[i].refunded_later) {
      refunds_.push_back(i);
      plan.push_back(Step::kRefund);
    }
  }
  const int social = rng_.Between(1, 4);
  for (int i = 0; i < social; ++i) plan.push_back(Step::kSocial);

  // Strictly increasing times within [base, base + 30 days): sorted draws, plus i to break ties.
  std::vector<int64_t> times(plan.size());
  for (int64_t& t : times) t = static_cast<int64_t>(rng_.Below(static_cast<uint64_t>(kSpreadMs) - plan.size()));
  std::sort(times.begin(), times.end());
  for (size_t i = 0; i < times.size(); ++i) times[i] += base_time_ms_ + static_cast<int64_t>(i);

  expected_.key_email = absl::StrCat("email:", person_.email);
  expected_.first_seen_ms = times.front();
  expected_.last_seen_ms = times.back();
  for (size_t i = 0; i < plan.size(); ++i) Emit(plan[i], times[i], out);

  // Orders: the latest status of each decides what it counts towards.
  std::map<std::string, int64_t> spend_minor, refunded_minor;
  for (const auto& [order_id, status_and_order] : order_status_) {
    const auto& [status, order] = status_and_order;
    if (status == "completed") {
      ++expected_.orders_count;
      spend_minor[order->currency] += order->total_minor;
      for (const OrderLine& line : order->lines) expected_.items_by_category[std::string(line.product->category)] += line.quantity;
    } else if (status == "refunded") {
      ++expected_.refunds_count;
      refunded_minor[order->currency] += order->total_minor;
    } else {
      ++expected_.cancelled_count;
    }
  }
  for (const auto& [currency, minor] : spend_minor) expected_.total_spend[currency] = FormatMinor(minor);
  for (const auto& [currency, minor] : refunded_minor) expected_.refunded[currency] = FormatMinor(minor);

  std::vector<std::string>& ids = expected_.identifiers;
  ids.push_back(absl::StrCat("anonymous_id:", person_.anonymous_id));
  ids.push_back(absl::StrCat("user_id:", person_.user_id));
  ids.push_back(absl::StrCat("email:", person_.email));
  ids.push_back(absl::StrCat("phone:+66", person_.phone_digits));
  if (!person_.loyalty_id.empty()) ids.push_back(absl::StrCat("loyalty_id:", person_.loyalty_id));
  for (const std::string& platform : platforms_used_) ids.push_back(absl::StrCat(platform, ":", person_.handle));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return std::move(expected_);
}

PlannedOrder PersonGenerator::PlanOrder(int n) {
  PlannedOrder o;
  o.order_id = absl::StrFormat("BK-%06d-%d", person_.index, n);
  o.channel = std::string(rng_.Pick(kOrderChannels));
  if (o.channel == "store") o.store_id = std::string(rng_.Pick(kStores));
  o.currency = rng_.Chance(person_.foreign ? 0.5 : 0.03) ? "USD" : "THB";
  const int line_count = rng_.Between(1, 3);
  int64_t subtotal = 0;
  for (int i = 0; i < line_count; ++i) {
    OrderLine line;
    line.product = &rng_.Pick(kProducts);
    line.quantity = rng_.Between(1, 3);
    // USD at 35 THB, rounded to the cent.
    line.unit_price_minor =
        o.currency == "THB" ? line.product->price_thb_minor : (line.product->price_thb_minor + 17) / 35;
    line.written_category = WrittenCategory(line.product->category, rng_);
    subtotal += line.quantity * line.unit_price_minor;
    o.lines.push_back(std::move(line));
  }
  if (rng_.Chance(0.25)) {
    o.discount_minor = subtotal / 10;  // 10% off
    o.coupon = rng_.Chance(0.5) ? "WELCOME10" : "MEMBER10";
  } else {
    o.write_zero_discount = rng_.Chance(0.5);
  }
  if (rng_.Chance(0.3)) o.campaign = rng_.Chance(0.5) ? "songkran_2024" : "rainy_season_promo";
  o.total_minor = subtotal - o.discount_minor;
  o.amount_style = static_cast<AmountStyle>(rng_.Below(3));
  o.cancelled = rng_.Chance(0.08);
  o.refunded_later = !o.cancelled && rng_.Chance(0.15);
  o.with_user_id = (o.channel == "web" || o.channel == "app") && rng_.Chance(0.5);
  o.with_address = o.channel != "store" && rng_.Chance(0.8);
  return o;
}

void PersonGenerator::Emit(Step step, int64_t ts, std::vector<Timed>& out) {
  JsonWriter w;
  v1::Channel channel = v1::CHANNEL_WEB;
  switch (step) {
    case Step::kAnonymousWeb: EmitAnonymousWeb(ts, w); break;
    case Step::kIdentify: EmitIdentify(ts, w); break;
    case Step::kKnownWeb: EmitKnownWeb(ts, w); break;
    case Step::kOrder: {
      channel = v1::CHANNEL_PURCHASE;
      const PlannedOrder& order = orders_[next_order_++];
      EmitOrder(order, order.cancelled ? "cancelled" : "completed", ts, w);
      break;
    }
    case Step::kRefund:
      channel = v1::CHANNEL_PURCHASE;
      EmitOrder(orders_[refunds_[next_refund_++]], "refunded", ts, w);
      break;
    case Step::kSocial:
      channel = v1::CHANNEL_SOCIAL;
      EmitSocial(ts, w);
      break;
  }
  const char* channel_name = channel == v1::CHANNEL_WEB ? "web" : channel == v1::CHANNEL_SOCIAL ? "social" : "purchase";
  ++expected_.event_counts[channel_name];
  out.push_back(Timed{ts, person_.index, sequence_++, RawRecord{channel, std::move(w).Take()}});
}

void PersonGenerator::SetName(std::string_view name, int64_t ts, const std::string& message_id) {
  if (ts > name_ts_ || (ts == name_ts_ && message_id > name_message_id_)) {
    name_ts_ = ts;
    name_message_id_ = message_id;
    expected_.name = std::string(name);
  }
}

// type, messageId, ids, and the event time (timestamp, or for a few only originalTimestamp).
void PersonGenerator::WriteWebCommon(std::string_view type, bool known, int64_t ts, JsonWriter& w) {
  w.Key("type").String(type);
  w.Key("messageId").String(absl::StrCat("web-", person_.index, "-", ++web_sequence_));
  w.Key("anonymousId").String(person_.anonymous_id);
  if (known) {
    w.Key("userId");
    if (person_.user_id_as_number) {
      w.Raw(person_.user_id);
    } else {
      w.String(person_.user_id);
    }
  }
  if (rng_.Chance(0.05)) {
    w.Key("originalTimestamp").String(IsoTime(ts));
  } else {
    w.Key("timestamp").String(IsoTime(ts));
    if (rng_.Chance(0.5)) w.Key("sentAt").String(IsoTime(ts + rng_.Between(5, 900)));
  }
}

void PersonGenerator::WriteWebContext(JsonWriter& w, std::string_view page_path, std::string_view page_title,
                                      const std::string* written_email) {
  w.Key("context").BeginObject();
  if (person_.app_user) {
    w.Key("library").BeginObject().Key("name").String("analytics-ios").Key("version").String("4.1.8").EndObject();
    w.Key("app").BeginObject().Key("name").String("Baan Kafe").Key("version").String("2.3.1").EndObject();
    w.Key("device").BeginObject().Key("type").String("ios").Key("model").String("iPhone14,5").EndObject();
  } else {
    w.Key("library").BeginObject().Key("name").String("analytics.js").Key("version").String("next-1.64.0").EndObject();
    w.Key("page").BeginObject();
    w.Key("path").String(page_path);
    w.Key("url").String(absl::StrCat("https://www.baankafe.co.th", Absl(page_path)));
    w.Key("title").String(page_title);
    w.Key("referrer").String(rng_.Chance(0.5) ? "https://www.google.com/" : "https://www.instagram.com/");
    w.EndObject();
    w.Key("userAgent").String("Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 Chrome/124.0 Mobile");
  }
  w.Key("locale").String(person_.foreign ? "en-US" : "th-TH");
  w.Key("ip").String(absl::StrCat("203.0.113.", person_.index % 250 + 1));
  if (written_email != nullptr) w.Key("traits").BeginObject().Key("email").String(*written_email).EndObject();
  w.EndObject();
}

struct PageView {
  std::string_view name;
  std::string_view path;
  std::string_view title;
};
constexpr std::array<PageView, 5> kPages = {{
    {"Home", "/", "Baan Kafe | บ้านกาแฟ"},
    {"Menu", "/menu", "Menu | Baan Kafe"},
    {"Promotions", "/promotions", "Promotions | Baan Kafe"},
    {"Our Story", "/about", "Our Story | Baan Kafe"},
    {"Store Locator", "/stores", "Stores | Baan Kafe"},
}};

void PersonGenerator::EmitAnonymousWeb(int64_t ts, JsonWriter& w) {
  const PageView& page = rng_.Pick(kPages);
  w.BeginObject();
  if (rng_.Chance(0.6)) {
    const std::string_view type = person_.app_user ? "screen" : "page";
    WriteWebCommon(type, /*known=*/false, ts, w);
    w.Key("name").String(page.name);
    w.Key("properties").BeginObject();
    if (!person_.app_user) {
      w.Key("path").String(page.path).Key("title").String(page.title);
      w.Key("url").String(absl::StrCat("https://www.baankafe.co.th", Absl(page.path)));
    }
    w.EndObject();
  } else {
    WriteWebCommon("track", /*known=*/false, ts, w);
    const Product& product = rng_.Pick(kProducts);
    w.Key("event").String("Product Viewed");
    ++expected_.track_event_counts["Product Viewed"];
    w.Key("properties").BeginObject();
    w.Key("product_id").String(product.sku).Key("name").String(product.name);
    w.Key("category").String(product.category);
    w.Key("price").Raw(absl::StrFormat("%d.%02d", product.price_thb_minor / 100, product.price_thb_minor % 100));
    w.Key("currency").String("THB");
    w.EndObject();
  }
  WriteWebContext(w, page.path, page.title, nullptr);
  w.EndObject();
}

void PersonGenerator::EmitIdentify(int64_t ts, JsonWriter& w) {
  // A third of people type their email with stray capitals and spaces.
  const std::string written_email =
      rng_.Chance(1.0 / 3) ? absl::StrCat(" ", RandomCaps(person_.email, rng_), "  ") : person_.email;
  w.BeginObject();
  WriteWebCommon("identify", /*known=*/true, ts, w);
  w.Key("traits").BeginObject();
  w.Key("name").String(person_.display_name);
  w.Key("email").String(written_email);
  w.Key("birthday").String(person_.birthday);
  w.Key("gender").String(person_.gender);
  if (rng_.Chance(0.5)) w.Key("marketing_opt_in").Bool(rng_.Chance(0.7));
  w.EndObject();
  WriteWebContext(w, "/account/signup", "Sign up | Baan Kafe", nullptr);
  w.EndObject();
  SetName(person_.display_name, ts, absl::StrCat("web-", person_.index, "-", web_sequence_));
}

void PersonGenerator::EmitKnownWeb(int64_t ts, JsonWriter& w) {
  static constexpr std::array<std::string_view, 4> kEvents = {"Product Added", "Reward Redeemed",
                                                              "Newsletter Subscribed", "Store Locator Searched"};
  const std::string_view event = rng_.Pick(kEvents);
  w.BeginObject();
  WriteWebCommon("track", /*known=*/true, ts, w);
  w.Key("event").String(event);
  ++expected_.track_event_counts[std::string(event)];
  w.Key("properties").BeginObject();
  if (event == "Product Added") {
    const Product& product = rng_.Pick(kProducts);
    w.Key("product_id").String(product.sku).Key("quantity").Int(rng_.Between(1, 3));
  } else if (event == "Reward Redeemed") {
    w.Key("reward").String("Free Croissant").Key("points").Int(120);
  } else if (event == "Store Locator Searched") {
    w.Key("query").String(rng_.Chance(0.5) ? "อารีย์" : "Nimman");
  }
  w.EndObject();
  // analytics.js sends the cached traits along with later calls when so configured.
  const std::string email = person_.email;
  WriteWebContext(w, "/menu", "Menu | Baan Kafe", rng_.Chance(0.3) ? &email : nullptr);
  w.EndObject();
}

void PersonGenerator::EmitOrder(const PlannedOrder& order, std::string_view status, int64_t ts, JsonWriter& w) {
  // Shop systems pass the email on as the customer typed it at the till.
  std::string email = person_.email;
  switch (rng_.Below(3)) {
    case 0: break;
    case 1: email = TitleCaseEmail(email); break;
    default: email = absl::StrCat(absl::AsciiStrToUpper(email), " "); break;
  }
  const std::string name = rng_.Chance(0.75) ? person_.display_name : person_.latin_name;

  w.BeginObject();
  w.Key("order_id").String(order.order_id);
  w.Key("timestamp").String(IsoTime(ts));
  w.Key("channel").String(order.channel);
  if (!order.store_id.empty()) w.Key("store_id").String(order.store_id);
  w.Key("currency").String(order.currency);
  w.Key("customer").BeginObject();
  if (order.with_user_id) w.Key("user_id").String(person_.user_id);
  w.Key("email").String(email);
  w.Key("phone").String(LocalPhone(person_, rng_));
  if (!person_.loyalty_id.empty()) {
    w.Key("loyalty_id").String(rng_.Chance(0.2) ? absl::StrCat(" ", person_.loyalty_id, " ") : person_.loyalty_id);
  }
  w.Key("name").String(name);
  if (order.with_address) {
    w.Key("address").BeginObject();
    w.Key("line1").String(absl::StrCat(person_.index % 300 + 1, " ซอยอารีย์ 4"));
    w.Key("city").String("Bangkok").Key("postal_code").String("10400").Key("country").String("TH");
    w.EndObject();
  }
  w.EndObject();
  w.Key("items").BeginArray();
  for (const OrderLine& line : order.lines) {
    w.BeginObject();
    w.Key("sku").String(line.product->sku).Key("name").String(line.product->name);
    w.Key("category").String(line.written_category);
    w.Key("quantity").Int(line.quantity);
    w.Key("unit_price");
    WriteAmount(w, line.unit_price_minor, order.amount_style);
    w.EndObject();
  }
  w.EndArray();
  if (order.discount_minor > 0 || order.write_zero_discount) {
    w.Key("discount");
    WriteAmount(w, order.discount_minor, order.amount_style);
  }
  w.Key("total");
  WriteAmount(w, order.total_minor, order.amount_style);
  w.Key("status").String(status);
  if (!order.coupon.empty()) w.Key("coupon").String(order.coupon);
  if (!order.campaign.empty()) w.Key("campaign").String(order.campaign);
  w.EndObject();

  SetName(name, ts, absl::StrCat("order:", order.order_id, ":", Absl(status)));
  order_status_[order.order_id] = {std::string(status), &order};
}

void PersonGenerator::EmitSocial(int64_t ts, JsonWriter& w) {
  static constexpr std::array<std::string_view, 4> kActions = {"comment", "like", "share", "review"};
  static constexpr std::array<std::string_view, 5> kComments = {
      "กาแฟอร่อยมากค่ะ ☕", "ครัวซองต์กรอบสุดๆ 🥐", "Best iced latte in Ari!", "ร้านน่ารัก บรรยากาศดี",
      "Will there be a Songkran promo?"};
  const std::string_view platform = person_.platforms[rng_.Below(person_.platforms.size())];
  std::string_view action = rng_.Pick(kActions);
  if (platform == "line" && rng_.Chance(0.5)) action = "message";

  w.BeginObject();
  w.Key("messageId").String(absl::StrCat("social-", person_.index, "-", ++social_sequence_));
  w.Key("platform").String(platform);
  w.Key("action").String(action);
  w.Key("handle").String(person_.handle_written);
  w.Key("phone").String(InternationalPhone(person_));
  if (rng_.Chance(0.2)) w.Key("email").String(person_.email);
  if (action == "comment" || action == "review" || action == "message") w.Key("text").String(rng_.Pick(kComments));
  if (action != "message") w.Key("post_id").String(absl::StrCat(Absl(platform.substr(0, 2)), "-post-", rng_.Between(1000, 9999)));
  if (action == "review") w.Key("rating").Int(rng_.Between(1, 5));
  w.Key("timestamp").String(IsoTime(ts));
  w.EndObject();
  ++expected_.social_counts[absl::StrCat(Absl(platform), ".", Absl(action))];
  platforms_used_.emplace(platform);
}

}  // namespace

Population GeneratePopulation(uint64_t seed, int people, int64_t base_time_ms) {
  Population population;
  std::vector<Timed> timed;
  timed.reserve(static_cast<size_t>(std::max(people, 0)) * 14);
  population.people.reserve(static_cast<size_t>(std::max(people, 0)));
  for (int i = 0; i < people; ++i) {
    population.people.push_back(PersonGenerator(seed, i, base_time_ms).Generate(timed));
  }
  std::sort(timed.begin(), timed.end(), [](const Timed& a, const Timed& b) {
    return std::tie(a.timestamp_ms, a.person, a.sequence) < std::tie(b.timestamp_ms, b.person, b.sequence);
  });
  population.records.reserve(timed.size());
  for (Timed& t : timed) population.records.push_back(std::move(t.record));
  return population;
}

std::string ToNdjson(const std::vector<RawRecord>& records, v1::Channel channel) {
  std::string out;
  for (const RawRecord& record : records) {
    if (record.channel != channel) continue;
    out += record.payload;
    out.push_back('\n');
  }
  return out;
}

std::string ExpectedProfilesToJson(const std::vector<ExpectedProfile>& people) {
  const auto write_counts = [](JsonWriter& w, std::string_view key, const std::map<std::string, int64_t>& counts) {
    w.Key(key).BeginObject();
    for (const auto& [name, count] : counts) w.Key(name).Int(count);
    w.EndObject();
  };
  const auto write_money = [](JsonWriter& w, std::string_view key, const std::map<std::string, std::string>& money) {
    w.Key(key).BeginObject();
    for (const auto& [currency, amount] : money) w.Key(currency).String(amount);
    w.EndObject();
  };
  JsonWriter w;
  w.BeginArray();
  for (const ExpectedProfile& p : people) {
    w.BeginObject();
    w.Key("key_email").String(p.key_email);
    w.Key("identifiers").BeginArray();
    for (const std::string& id : p.identifiers) w.String(id);
    w.EndArray();
    w.Key("name").String(p.name);
    write_counts(w, "event_counts", p.event_counts);
    w.Key("orders_count").Int(p.orders_count);
    w.Key("refunds_count").Int(p.refunds_count);
    w.Key("cancelled_count").Int(p.cancelled_count);
    write_money(w, "total_spend", p.total_spend);
    write_money(w, "refunded", p.refunded);
    write_counts(w, "items_by_category", p.items_by_category);
    write_counts(w, "social_counts", p.social_counts);
    write_counts(w, "track_event_counts", p.track_event_counts);
    w.Key("first_seen_ms").Int(p.first_seen_ms);
    w.Key("last_seen_ms").Int(p.last_seen_ms);
    w.EndObject();
  }
  w.EndArray();
  return std::move(w).Take();
}

}  // namespace tessera::testing
