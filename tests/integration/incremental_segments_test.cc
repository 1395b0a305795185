// The profiles stage evaluates again only the segments that read what a batch changed in a stored
// profile (ProfileBatch::set_incremental_segments, SegmentEngine::Evaluate with
// SegmentInputsChanged). The property: over random batches of identifies, page views, product
// views, orders and refunds for a few profiles (some late, a few dated ahead of the clock), with
// time moving on by minutes to weeks (timers coming due unattended), a store whose batches evaluate only the changed segments ends every
// batch byte for byte equal to one whose batches evaluate all of them, with the same segment
// changes and trigger firings. The configuration has a segment of every kind the shortcut tells
// apart: traits (an age band too, which moves with time and the zone trait), event windows,
// computed traits from orders alone (and the RFM tiers), a computed trait read from elsewhere, and
// combinations.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "app/activation_driver.h"
#include "app/profile_batch.h"
#include "google/protobuf/util/message_differencer.h"
#include "profiles/profile_state.h"
#include "profiles/profile_store.h"
#include "tests/fakes/memory_kv.h"

namespace tessera {
namespace {

using testing::MemoryKv;

constexpr char kConfig[] = R"(
profiles:
  segments:
    - {name: women, condition: {trait: gender, eq: female}}
    - {name: age_25_34, condition: {trait: birthday, age_between: [25, 34]}}
    - {name: not_bangkok, condition: {not: {trait: city, eq: Bangkok}}}
    - {name: buyers, condition: {computed: orders_count, gte: 1}}
    - {name: big_spenders, condition: {computed: total_spend.THB, gte: 500}}
    - {name: refunders, condition: {computed: refunds_count, gte: 1}}
    - {name: recent_buyers, condition: {computed: days_since_last_order, lte: 10}}
    - {name: viewers, condition: {computed: views_7d, gte: 2}}
    - {name: seen_lately, condition: {computed: days_since_last_seen, lte: 3}}
    - {name: coffee_7d, condition: {event: purchase.order, where: {category: coffee}, count_gte: 2, within_days: 7}}
    - {name: no_visit_5d, condition: {no_event: web.page, within_days: 5}}
    - {name: browsers, condition: {event: web.page, count_gte: 3, within_days: 10}}
    - {name: young_coffee, condition: {all: [{trait: birthday, age_between: [18, 34]}, {event: purchase.order, where: {category: coffee}, count_gte: 1, within_days: 14}]}}
    - {name: lapsed_buyers, condition: {all: [{computed: orders_count, gte: 1}, {no_event: web.page, within_days: 7}]}}
    - {name: any_signal, condition: {any: [{trait: interests, contains: coffee}, {computed: orders_count, gte: 3}]}}
  triggers:
    birthday: {days_before: 3}
    inactivity: {days: [6]}
  computed_traits:
    - {name: views_7d, event: "Product Viewed", aggregate: count, window_days: 7}
)";

constexpr int64_t kStartMs = 1'790'000'000'000;  // 2026-09-21
constexpr int64_t kHourMs = 3'600'000;
constexpr int kProfiles = 12;

v1::Event RandomEvent(int serial, int64_t now_ms, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> pick(0, 999);
  v1::Event e;
  e.set_message_id(absl::StrCat("m-", serial));
  e.set_workspace("test");
  // Mostly now, some late by up to nine days, a few ahead of the clock by up to two.
  const int when = pick(rng) % 20;
  e.set_timestamp_ms(when == 0 ? now_ms + (pick(rng) % 48) * kHourMs
                     : when < 5 ? now_ms - (pick(rng) % 216) * kHourMs
                                : now_ms - (pick(rng) % 60) * 60'000);
  const int kind = pick(rng) % 10;
  if (kind < 3) {
    e.set_channel(v1::CHANNEL_WEB);
    e.set_type("page");
    e.set_name("Menu");
  } else if (kind < 5) {
    e.set_channel(v1::CHANNEL_WEB);
    e.set_type("track");
    e.set_name("Product Viewed");
    e.set_properties_json(R"({"product_id":"p1","category":"coffee","price":80})");
  } else if (kind < 7) {
    e.set_channel(v1::CHANNEL_PURCHASE);
    e.set_type("order");
    const bool refund = pick(rng) % 4 == 0;
    const std::string order_id = absl::StrCat("o", refund ? pick(rng) % (serial + 1) : serial);
    e.set_name(refund ? "refunded" : "completed");
    e.set_message_id(absl::StrCat("order:", order_id, ":", e.name(), ":", serial));
    v1::Order& order = *e.mutable_order();
    order.set_order_id(order_id);
    order.set_status(refund ? v1::ORDER_STATUS_REFUNDED : v1::ORDER_STATUS_COMPLETED);
    order.mutable_total()->set_currency("THB");
    v1::OrderItem& item = *order.add_items();
    item.set_sku("sku-1");
    item.set_category(pick(rng) % 2 == 0 ? "coffee" : "tea");
    item.set_quantity(1);
    item.set_unit_price_minor(10'000 + 1'000 * (pick(rng) % 40));
    order.mutable_total()->set_minor_units(item.unit_price_minor());
  } else {
    e.set_channel(v1::CHANNEL_WEB);
    e.set_type("identify");
    auto& traits = *e.mutable_traits();
    switch (pick(rng) % 5) {
      case 0: traits["gender"] = pick(rng) % 2 == 0 ? R"("female")" : R"("male")"; break;
      // Around the band's edges, so that birthdays move profiles in and out as time passes.
      case 1: traits["birthday"] = absl::StrCat("\"", 1991 + pick(rng) % 3, "-09-", 21 + pick(rng) % 8, "\""); break;
      case 2: traits["city"] = pick(rng) % 2 == 0 ? R"("Bangkok")" : R"("Phuket")"; break;
      case 3: traits["timezone"] = pick(rng) % 2 == 0 ? R"("Asia/Bangkok")" : R"("Pacific/Kiritimati")"; break;
      default: traits["interests"] = pick(rng) % 2 == 0 ? R"(["coffee"])" : R"(["tea"])"; break;
    }
  }
  return e;
}

std::vector<std::string> Lines(const profiles::ActivationOutputs& out) {
  std::vector<std::string> lines;
  for (const profiles::SegmentChange& c : out.segment_changes) {
    lines.push_back(absl::StrCat(c.profile_id, " ", c.segment, c.entered ? " entered " : " exited ", c.at_ms, " v",
                                 c.version, " ", c.reason));
  }
  for (const profiles::TriggerFiring& t : out.triggers) lines.push_back(absl::StrCat(t.profile_id, " fired ", t.occurrence, " ", t.fired_at_ms));
  return lines;
}

// One batch of `events` (profile id, event) into `kv` at `now_ms`, as the profiles stage folds them.
std::vector<std::string> RunBatch(const app::ActivationSetup& setup, bool incremental, MemoryKv& kv,
                                  const std::vector<std::pair<uint64_t, v1::Event>>& events, int64_t now_ms) {
  profiles::ProfileStore store(&kv);
  app::ProfileBatch batch(&store, setup.activation.get(), &kv, setup.computed.get());
  batch.set_incremental_segments(incremental);
  for (const auto& [id, event] : events) {
    absl::StatusOr<v1::Profile*> profile = batch.Get(id, "test");
    EXPECT_TRUE(profile.ok()) << profile.status();
    if (!profile.ok()) return {};
    EXPECT_TRUE(batch.NeedOrdersOf(id, event).ok());
    profiles::ApplyEvent(event, **profile, *setup.computed);
    batch.RecordEvent(id, event, now_ms);
  }
  profiles::ActivationOutputs out;
  absl::StatusOr<app::ProfileUpdates> updates = batch.Finish(now_ms, &out);
  EXPECT_TRUE(updates.ok()) << updates.status();
  return Lines(out);
}

// The same keys with the same values; a profile compared as a message, since protobuf writes a map
// in its hash table's order, which two equal maps built differently need not share.
bool SameStore(const MemoryKv& a, const MemoryKv& b) {
  bool same = a.data().size() == b.data().size();
  for (const auto& [key, value] : b.data()) {
    auto it = a.data().find(key);
    if (it == a.data().end()) {
      ADD_FAILURE() << "missing with the shortcut: " << key;
      same = false;
      continue;
    }
    if (it->second == value) continue;
    v1::Profile x, y;
    if (key.starts_with("pf/") && x.ParseFromString(it->second) && y.ParseFromString(value) &&
        google::protobuf::util::MessageDifferencer::Equals(x, y)) {
      continue;
    }
    ADD_FAILURE() << "differs: " << key << "\nwith the shortcut:\n" << x.DebugString() << "\nevaluating all:\n"
                  << y.DebugString();
    same = false;
  }
  return same;
}

TEST(IncrementalSegmentsProperty, EvaluatingOnlyTheChangedSegmentsGivesWhatEvaluatingAllGives) {
  absl::StatusOr<app::ActivationSetup> setup = app::ParseActivationSetup(kConfig, "UTC");
  ASSERT_TRUE(setup.ok()) << setup.status();
  std::map<std::string, int> transitions;  // per segment: the property means something only if they move
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> pick(0, 999);
    MemoryKv only_changed, all;
    int64_t now_ms = kStartMs;
    int serial = 0;
    for (int round = 0; round < 150; ++round) {
      // Time moves on: mostly minutes, sometimes days or weeks (windows slide, birthdays pass,
      // timers come due with nobody to run them).
      const int step = pick(rng);
      now_ms += step < 700 ? (step % 30) * 60'000 : step < 950 ? (step % 48) * kHourMs : (step % 20) * 24 * kHourMs;
      std::vector<std::pair<uint64_t, v1::Event>> events;
      for (int i = 0, n = 1 + pick(rng) % 6; i < n; ++i) {
        events.emplace_back(1 + pick(rng) % kProfiles, RandomEvent(serial++, now_ms, rng));
      }
      const std::vector<std::string> a = RunBatch(*setup, true, only_changed, events, now_ms);
      const std::vector<std::string> b = RunBatch(*setup, false, all, events, now_ms);
      ASSERT_EQ(a, b) << "seed " << seed << ", round " << round;
      ASSERT_TRUE(SameStore(only_changed, all)) << "seed " << seed << ", round " << round;
      for (const std::string& line : b) {
        const std::vector<std::string> words = absl::StrSplit(line, ' ');
        ++transitions[words[1]];
      }
    }
  }
  for (const char* name : {"women", "age_25_34", "not_bangkok", "buyers", "big_spenders", "refunders",
                           "recent_buyers", "viewers", "seen_lately", "coffee_7d", "no_visit_5d", "browsers",
                           "young_coffee", "lapsed_buyers", "any_signal"}) {
    EXPECT_GE(transitions[name], 4) << name << " hardly ever moved: the property says little about it";
  }
}

}  // namespace
}  // namespace tessera
