#include "profiles/triggers.h"

#include <algorithm>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/clock.h"
#include "common/yaml_config.h"
#include "common/bytes.h"
#include "common/json_writer.h"
#include "profiles/order_totals.h"
#include "simdjson.h"
#include "yaml-cpp/yaml.h"

namespace tessera::profiles {
namespace {

constexpr std::string_view kSegmentsTimer = "segments";
// A wake key names no timer: it wakes the profile for whichever of its timers comes due first.
constexpr std::string_view kWakeTimer = "";

std::string FormatMillis(int64_t ms) {
  return FormatUtcMillis(ms);
}

// ---- occurrences ----

struct Occurrence {
  std::string trigger;
  std::string key;
  absl::Time due;
  absl::Time until = absl::InfiniteFuture();
  std::string detail_json;
};

// The first occurrence of one trigger kind whose `until` is after `from`, or nullopt.
using Planner = std::function<std::optional<Occurrence>(absl::Time from)>;

std::optional<std::string> StringTrait(const v1::Profile& profile, const std::string& name) {
  auto it = profile.traits().find(name);
  if (it == profile.traits().end()) return std::nullopt;
  FactValue value = FactValue::FromJson(it->second.json());
  if (value.kind != FactValue::Kind::kString) return std::nullopt;
  return std::move(value.text);
}

// A yearly date (birthday, anniversary) at local midnight, announced `days_before` days ahead;
// relevant until the end of the day itself.
std::optional<Occurrence> Yearly(std::string_view trigger, absl::CivilDay base, int first_year, int32_t days_before,
                                 absl::TimeZone zone, absl::Time from) {
  const int from_year = static_cast<int>(absl::ToCivilYear(from, zone).year());
  for (int year = std::max(first_year, from_year - 1); year <= from_year + 2; ++year) {
    const absl::CivilDay day(year, base.month(), base.day());
    const absl::Time until = absl::FromCivil(day + 1, zone);
    if (until <= from) continue;
    return Occurrence{std::string(trigger), absl::StrCat(AbslView(trigger), ":", year), absl::FromCivil(day - days_before, zone),
                      until, ""};
  }
  return std::nullopt;
}

// An expiry given as a date ("2027-01-31": the end of that local day) or an RFC 3339 time.
std::optional<absl::Time> ParseExpiry(std::string_view text, absl::TimeZone zone) {
  if (text.size() > 10) {
    absl::Time at;
    std::string error;
    if (absl::ParseTime(absl::RFC3339_full, std::string(text), &at, &error)) return at;
  }
  std::optional<absl::CivilDay> day = ParseCivilDay(text);
  if (!day.has_value() || text.size() != 10) return std::nullopt;
  return absl::FromCivil(*day + 1, zone);
}

std::optional<Occurrence> Expiring(std::string trigger, std::string key, absl::Time expiry, int32_t days_before,
                                   absl::Time from, std::string detail) {
  if (expiry <= from) return std::nullopt;
  return Occurrence{std::move(trigger), std::move(key), expiry - absl::Hours(24) * days_before, expiry,
                    std::move(detail)};
}

std::vector<Planner> Planners(const TriggerConfig& config, const v1::Profile& profile, absl::TimeZone zone) {
  std::vector<Planner> planners;
  if (config.birthday_days_before.has_value()) {
    if (std::optional<std::string> text = StringTrait(profile, "birthday")) {
      if (std::optional<absl::CivilDay> birth = ParseCivilDay(*text)) {
        const int32_t before = *config.birthday_days_before;
        planners.push_back([=](absl::Time from) {
          return Yearly("birthday", *birth, static_cast<int>(birth->year()) + 1, before, zone, from);
        });
      }
    }
  }
  if (config.first_order_anniversary_days_before.has_value()) {
    v1::OrderTotals scratch;
    const v1::OrderTotals& totals = OrderTotalsOf(profile, scratch);
    if (totals.completed() > 0) {
      const absl::CivilDay day = absl::ToCivilDay(absl::FromUnixMillis(totals.first_completed_ms()), zone);
      const int32_t before = *config.first_order_anniversary_days_before;
      planners.push_back([=](absl::Time from) {
        return Yearly("first_order_anniversary", day, static_cast<int>(day.year()) + 1, before, zone, from);
      });
    }
  }
  if (config.points_expiry_days_before.has_value()) {
    if (std::optional<std::string> text = StringTrait(profile, config.points_expiry_trait)) {
      if (std::optional<absl::Time> expiry = ParseExpiry(*text, zone)) {
        const int32_t before = *config.points_expiry_days_before;
        const std::string key = absl::StrCat("points_expiring:", *text);
        planners.push_back(
            [=](absl::Time from) { return Expiring("points_expiring", key, *expiry, before, from, ""); });
      }
    }
  }
  if (config.benefits_expiry_days_before.has_value()) {
    if (auto it = profile.traits().find(config.benefits_trait); it != profile.traits().end()) {
      simdjson::dom::parser parser;
      simdjson::dom::array benefits;
      if (parser.parse(it->second.json()).get_array().get(benefits) == simdjson::SUCCESS) {
        for (simdjson::dom::element benefit : benefits) {
          std::string_view name, expires;
          if (benefit["name"].get_string().get(name) != simdjson::SUCCESS &&
              benefit["id"].get_string().get(name) != simdjson::SUCCESS) {
            continue;
          }
          if (benefit["expires_at"].get_string().get(expires) != simdjson::SUCCESS) continue;
          std::optional<absl::Time> expiry = ParseExpiry(expires, zone);
          if (!expiry.has_value()) continue;
          const int32_t before = *config.benefits_expiry_days_before;
          const std::string key = absl::StrCat("benefit_expiring:", AbslView(name), ":", AbslView(expires));
          JsonWriter detail;
          detail.BeginObject().Key("benefit").String(name).Key("expires_at").String(expires).EndObject();
          const std::string detail_json = std::move(detail).Take();
          planners.push_back(
              [=](absl::Time from) { return Expiring("benefit_expiring", key, *expiry, before, from, detail_json); });
        }
      }
    }
  }
  if (profile.last_seen_ms() != 0) {
    for (int32_t days : config.inactivity_days) {
      const int64_t last_seen = profile.last_seen_ms();
      planners.push_back([=](absl::Time from) -> std::optional<Occurrence> {
        (void)from;  // relevant until the next event moves last_seen (and so the key)
        const std::string trigger = absl::StrCat("inactive_", days, "d");
        return Occurrence{trigger, absl::StrCat(trigger, ":", last_seen),
                          absl::FromUnixMillis(last_seen + static_cast<int64_t>(days) * kMillisPerDay),
                          absl::InfiniteFuture(), ""};
      });
    }
  }
  if (config.cart_abandoned) {
    if (std::optional<CartAbandonment> cart = config.cart_abandoned(profile)) {
      planners.push_back([cart = *cart](absl::Time) -> std::optional<Occurrence> {
        return Occurrence{"cart_abandoned", absl::StrCat("cart_abandoned:", cart.occurrence),
                          absl::FromUnixMillis(cart.abandoned_at_ms), absl::InfiniteFuture(), cart.detail_json};
      });
    }
  }
  return planners;
}

// ---- config ----

const YamlSection kYaml("profiles config");

absl::StatusOr<int32_t> Days(const YAML::Node& node, std::string_view path) {
  if (!node.IsScalar()) return kYaml.Bad(path, "expected a number of days");
  int32_t days = 0;
  if (!absl::SimpleAtoi(node.Scalar(), &days) || days < 0 || days > 3660) {
    return kYaml.Bad(path, absl::StrCat("expected a number of days in 0..3660, got '", node.Scalar(), "'"));
  }
  return days;
}

absl::Status OnlyKeys(const YAML::Node& node, std::string_view path, std::initializer_list<std::string_view> keys) {
  if (!node.IsMap()) return kYaml.Bad(path, "expected a map");
  for (const auto& entry : node) {
    const std::string key = entry.first.as<std::string>();
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) return kYaml.Bad(path, absl::StrCat("unknown key '", key, "'"));
  }
  return absl::OkStatus();
}

absl::Status ParseTriggers(const YAML::Node& node, TriggerConfig& config) {
  if (absl::Status s = OnlyKeys(node, "profiles.triggers",
                                {"default_time_zone", "birthday", "first_order_anniversary", "points_expiry",
                                 "benefits_expiry", "inactivity"});
      !s.ok()) {
    return s;
  }
  if (const YAML::Node zone = node["default_time_zone"]) {
    if (!zone.IsScalar() || !LoadZone(zone.Scalar()).has_value()) {
      return kYaml.Bad("profiles.triggers.default_time_zone", "expected an IANA time zone such as Asia/Bangkok");
    }
    config.default_time_zone = zone.Scalar();
  }
  auto days_before = [&](const char* name, std::optional<int32_t>& out, std::string* trait) -> absl::Status {
    const YAML::Node block = node[name];
    if (!block) return absl::OkStatus();
    const std::string path = absl::StrCat("profiles.triggers.", name);
    if (block.IsNull()) {
      out = 0;
      return absl::OkStatus();
    }
    if (trait != nullptr) {
      if (absl::Status s = OnlyKeys(block, path, {"days_before", "trait"}); !s.ok()) return s;
      if (block["trait"]) *trait = block["trait"].as<std::string>();
    } else if (absl::Status s = OnlyKeys(block, path, {"days_before"}); !s.ok()) {
      return s;
    }
    out = 0;
    if (block["days_before"]) {
      absl::StatusOr<int32_t> days = Days(block["days_before"], path + ".days_before");
      if (!days.ok()) return days.status();
      out = *days;
    }
    return absl::OkStatus();
  };
  if (absl::Status s = days_before("birthday", config.birthday_days_before, nullptr); !s.ok()) return s;
  if (absl::Status s = days_before("first_order_anniversary", config.first_order_anniversary_days_before, nullptr);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = days_before("points_expiry", config.points_expiry_days_before, &config.points_expiry_trait);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = days_before("benefits_expiry", config.benefits_expiry_days_before, &config.benefits_trait);
      !s.ok()) {
    return s;
  }
  if (const YAML::Node inactivity = node["inactivity"]) {
    if (absl::Status s = OnlyKeys(inactivity, "profiles.triggers.inactivity", {"days"}); !s.ok()) return s;
    const YAML::Node days = inactivity["days"];
    if (days.IsScalar()) {
      absl::StatusOr<int32_t> n = Days(days, "profiles.triggers.inactivity.days");
      if (!n.ok()) return n.status();
      config.inactivity_days.push_back(*n);
    } else if (days.IsSequence()) {
      for (size_t i = 0; i < days.size(); ++i) {
        absl::StatusOr<int32_t> n = Days(days[i], absl::StrCat("profiles.triggers.inactivity.days[", i, "]"));
        if (!n.ok()) return n.status();
        config.inactivity_days.push_back(*n);
      }
    } else {
      return kYaml.Bad("profiles.triggers.inactivity.days", "expected a number of days or a list of them");
    }
    for (int32_t n : config.inactivity_days) {
      if (n == 0) return kYaml.Bad("profiles.triggers.inactivity.days", "must be at least 1");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ActivationConfig> ParseConfigNode(const YAML::Node& root) {
  ActivationConfig config;
  if (!root.IsMap()) return config;  // an empty file
  const YAML::Node profiles = root["profiles"];
  if (!profiles) return config;
  if (!profiles.IsMap()) return kYaml.Bad("profiles", "expected a map");
  if (const YAML::Node segments = profiles["segments"]) {
    if (!segments.IsSequence()) return kYaml.Bad("profiles.segments", "expected a list of {name, description, condition}");
    absl::flat_hash_set<std::string> names;
    for (size_t i = 0; i < segments.size(); ++i) {
      const std::string path = absl::StrCat("profiles.segments[", i, "]");
      const YAML::Node segment = segments[i];
      if (absl::Status s = OnlyKeys(segment, path, {"name", "description", "condition"}); !s.ok()) return s;
      SegmentDefinition definition;
      if (!segment["name"] || !segment["name"].IsScalar() || segment["name"].Scalar().empty()) {
        return kYaml.Bad(path, "needs a name");
      }
      definition.name = segment["name"].Scalar();
      for (char c : definition.name) {
        if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
          return kYaml.Bad(path, absl::StrCat("name '", definition.name, "' may hold only letters, digits, _ - ."));
        }
      }
      if (!names.insert(definition.name).second) {
        return kYaml.Bad(path, absl::StrCat("segment '", definition.name, "' is defined twice"));
      }
      if (segment["description"]) definition.description = segment["description"].as<std::string>();
      if (!segment["condition"]) return kYaml.Bad(path, "needs a condition");
      absl::StatusOr<Condition> condition = ConditionFromYaml(segment["condition"], absl::StrCat(path, ".condition"));
      if (!condition.ok()) return absl::InvalidArgumentError(absl::StrCat("profiles config: ", condition.status().message()));
      definition.condition = *std::move(condition);
      config.segments.push_back(std::move(definition));
    }
    config.fingerprint = absl::StrCat("segments:", YAML::Dump(segments), "\n");
  }
  if (const YAML::Node triggers = profiles["triggers"]) {
    if (absl::Status s = ParseTriggers(triggers, config.triggers); !s.ok()) return s;
    absl::StrAppend(&config.fingerprint, "triggers:", YAML::Dump(triggers), "\n");
  }
  // The one default zone (computed_traits.h): profiles.default_time_zone wins over the deprecated
  // triggers.default_time_zone, which the computed-traits reader warns about and checks.
  if (const YAML::Node zone = profiles["default_time_zone"]; zone && zone.IsScalar() && LoadZone(zone.Scalar())) {
    config.triggers.default_time_zone = zone.Scalar();
  }
  return config;
}

}  // namespace

std::string TriggerFiringToJson(const TriggerFiring& firing) {
  JsonWriter w;
  w.BeginObject();
  w.Key("profile_id").String(absl::StrCat(firing.profile_id));
  w.Key("trigger").String(firing.trigger);
  w.Key("occurrence").String(firing.occurrence);
  w.Key("due_at").String(FormatMillis(firing.due_at_ms));
  w.Key("fired_at").String(FormatMillis(firing.fired_at_ms));
  w.Key("time_zone").String(firing.time_zone);
  if (!firing.detail_json.empty()) w.Key("detail").Raw(firing.detail_json);
  w.EndObject();
  return std::move(w).Take();
}

absl::StatusOr<ActivationConfig> ParseActivationConfig(std::string_view yaml) {
  try {
    return ParseConfigNode(YAML::Load(std::string(yaml)));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("profiles config: ", e.what()));
  }
}

absl::StatusOr<ActivationConfig> LoadActivationConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadConfigFile(path, "cannot read ");
  if (!text.ok()) return text.status();
  return ParseActivationConfig(*text);
}

std::string TimerKey(int64_t due_ms, uint64_t profile_id, std::string_view name) {
  std::string key(kTimerPrefix);
  AppendBigEndian64(static_cast<uint64_t>(std::max<int64_t>(due_ms, 0)), key);
  AppendBigEndian64(profile_id, key);
  key.append(name);
  return key;
}

std::string FiredKey(uint64_t profile_id, std::string_view occurrence) {
  std::string key(kFiredPrefix);
  AppendBigEndian64(profile_id, key);
  key.append(occurrence);
  return key;
}

namespace {

// A profile stored before Profile.wake_ms had one index key per planned timer: deletes them once
// (its wake key replaces them). A profile with a wake has none: its plan names no keys.
void DropPerTimerKeys(const v1::Profile& profile, KeyValueView& kv) {
  if (profile.wake_ms() != 0) return;
  for (const v1::ScheduledTimer& timer : profile.timers()) kv.Delete(TimerKey(timer.due_ms(), profile.id(), timer.name()));
}

std::optional<int64_t> EarliestOf(const google::protobuf::RepeatedPtrField<v1::ScheduledTimer>& timers) {
  std::optional<int64_t> earliest;
  for (const v1::ScheduledTimer& timer : timers) earliest = std::min(earliest.value_or(timer.due_ms()), timer.due_ms());
  return earliest;
}

// Keeps the profile's one index key at `earliest`, the first planned timer (nullopt: none). A key
// already there stays: an event that moves a later timer (the inactivity timer, on every visit,
// while a birthday or a window's exit comes first) writes no index key. The key is exact, never
// early: leaving it early when the plan moves later was tried and costs a whole evaluation of the
// profile when it comes due, more than the writes it saves for a profile with few events
// (docs/segments.md). A key at or before `now` has come due (the driver deletes it as it fires;
// an event may get there first), so it goes too.
void WakeAt(std::optional<int64_t> earliest, int64_t now_ms, v1::Profile& profile, KeyValueView& kv) {
  const int64_t wake = profile.wake_ms();
  if (earliest.has_value() && wake == *earliest && wake > now_ms) return;
  if (wake != 0) kv.Delete(TimerKey(wake, profile.id(), kWakeTimer));
  if (!earliest.has_value()) {
    profile.set_wake_ms(0);
    return;
  }
  kv.Put(TimerKey(*earliest, profile.id(), kWakeTimer), "");
  profile.set_wake_ms(*earliest);
}

}  // namespace

absl::StatusOr<std::vector<DueTimer>> DueTimers(const PrefixScan& scan, absl::Time now, size_t limit) {
  std::vector<DueTimer> due;
  const uint64_t now_ms = static_cast<uint64_t>(std::max<int64_t>(absl::ToUnixMillis(now), 0));
  absl::Status status = scan(kTimerPrefix, [&](std::string_view key, std::string_view) {
    if (key.size() < kTimerPrefix.size() + 16) return true;  // not a timer key: skip
    const std::string_view rest = key.substr(kTimerPrefix.size());
    const uint64_t at = ReadBigEndian64(rest);
    if (at > now_ms || due.size() >= limit) return false;  // keys are in time order
    due.push_back(DueTimer{static_cast<int64_t>(at), ReadBigEndian64(rest.substr(8)), std::string(rest.substr(16)),
                           std::string(key)});
    return true;
  });
  if (!status.ok()) return status;
  return due;
}

ActivationEngine::ActivationEngine(ActivationConfig config, std::shared_ptr<const ComputedTraitSource> computed)
    : config_(std::move(config)),
      segments_(config_.segments, computed.get()),
      computed_(std::move(computed)),
      default_zone_(LoadZone(config_.triggers.default_time_zone).value_or(absl::UTCTimeZone())) {}

bool ActivationEngine::enabled() const {
  const TriggerConfig& t = config_.triggers;
  return !segments_.empty() || t.birthday_days_before || t.first_order_anniversary_days_before ||
         t.points_expiry_days_before || t.benefits_expiry_days_before || !t.inactivity_days.empty() ||
         t.cart_abandoned != nullptr;
}

absl::StatusOr<bool> ActivationEngine::Evaluate(v1::Profile& profile, KeyValueView& kv, absl::Time now,
                                                ActivationOutputs& out, const SegmentInputsChanged* changed) const {
  // Nothing configured and nothing left over from an earlier configuration: nothing to do (the
  // profile stage calls this for every touched profile, engine or not).
  if (!enabled() && profile.segments().empty() && profile.timers().empty() && profile.wake_ms() == 0 &&
      profile.event_windows().empty()) {
    return false;
  }
  const int64_t now_ms = absl::ToUnixMillis(now);
  const ProfileFactsView facts(&profile, default_zone_, computed_.get(), now);
  std::vector<v1::ScheduledTimer> wanted;
  auto want = [&](std::string_view name, absl::Time at) {
    v1::ScheduledTimer timer;
    timer.set_name(std::string(name));
    timer.set_due_ms(absl::ToUnixMillis(at));
    wanted.push_back(std::move(timer));
  };

  if (changed != nullptr) {
    for (const v1::ScheduledTimer& timer : profile.timers()) {
      if (timer.name() == kSegmentsTimer && timer.due_ms() <= now_ms) changed = nullptr;  // time moved one
    }
  }
  segments_.PruneWindows(now_ms, profile);
  const size_t changes_before = out.segment_changes.size();
  if (std::optional<absl::Time> next = segments_.Evaluate(profile, facts, now, out.segment_changes, changed)) {
    want(kSegmentsTimer, *next);
  }
  const bool membership_changed = out.segment_changes.size() != changes_before;

  const absl::TimeZone zone = facts.TimeZone();
  for (const Planner& planner : Planners(config_.triggers, profile, zone)) {
    std::optional<Occurrence> occurrence = planner(now);
    // A loop because an occurrence announced far ahead (days_before > a year) can be due already
    // when the one before it ends; bounded so a broken planner cannot spin.
    for (int step = 0; step < 4 && occurrence.has_value() && occurrence->due <= now; ++step) {
      const std::string fired_key = FiredKey(profile.id(), occurrence->key);
      absl::StatusOr<std::optional<std::string>> fired = kv.Get(fired_key);
      if (!fired.ok()) return fired.status();
      if (!fired->has_value()) {
        out.triggers.push_back(TriggerFiring{profile.id(), occurrence->trigger, occurrence->key,
                                             absl::ToUnixMillis(occurrence->due), now_ms, zone.name(),
                                             occurrence->detail_json});
        kv.Put(fired_key, BigEndian64(static_cast<uint64_t>(now_ms)));
      }
      // This one is done: the timer waits for the next occurrence, if the kind has one.
      occurrence = occurrence->until == absl::InfiniteFuture() ? std::nullopt : planner(occurrence->until);
    }
    if (occurrence.has_value() && occurrence->due > now) want(occurrence->key, occurrence->due);
  }

  DropPerTimerKeys(profile, kv);
  profile.mutable_timers()->Clear();
  for (v1::ScheduledTimer& w : wanted) *profile.add_timers() = std::move(w);
  WakeAt(EarliestOf(profile.timers()), now_ms, profile, kv);
  return membership_changed;
}

absl::StatusOr<bool> ActivationEngine::EvaluateSegment(v1::Profile& profile, std::string_view name, KeyValueView& kv,
                                                       absl::Time now, ActivationOutputs& out) const {
  const SegmentDefinition* segment = segments_.Find(name);
  if (segment == nullptr) return absl::NotFoundError(absl::StrCat("no segment named '", AbslView(name), "' is configured"));
  const ProfileFactsView facts(&profile, default_zone_, computed_.get(), now);
  const size_t changes_before = out.segment_changes.size();
  const std::optional<absl::Time> next = SegmentEngine::EvaluateOne(*segment, profile, facts, now, out.segment_changes);
  DropPerTimerKeys(profile, kv);
  if (next.has_value()) {
    const int64_t next_ms = absl::ToUnixMillis(*next);
    v1::ScheduledTimer* timer = nullptr;
    for (v1::ScheduledTimer& t : *profile.mutable_timers()) {
      if (t.name() == kSegmentsTimer) timer = &t;
    }
    if (timer == nullptr) {
      timer = profile.add_timers();
      timer->set_name(std::string(kSegmentsTimer));
      timer->set_due_ms(next_ms);
    } else if (next_ms < timer->due_ms()) {
      timer->set_due_ms(next_ms);
    }
  }
  WakeAt(EarliestOf(profile.timers()), absl::ToUnixMillis(now), profile, kv);
  return out.segment_changes.size() != changes_before;
}

void ActivationEngine::Retire(const v1::Profile& loser, KeyValueView& kv, absl::Time now,
                              ActivationOutputs& out) const {
  SegmentEngine::Retire(loser, now, out.segment_changes);
  DropPerTimerKeys(loser, kv);
  if (loser.wake_ms() != 0) kv.Delete(TimerKey(loser.wake_ms(), loser.id(), kWakeTimer));
}

}  // namespace tessera::profiles
