#include "app/activation_driver.h"

#include <cstdio>
#include <filesystem>

#include "app/cli_args.h"
#include "app/outputs.h"
#include "app/runner.h"
#include "app/topics.h"
#include "common/kafka.h"
#include "profiles/profile_store.h"

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "profiles/computed_facts.h"

namespace tessera::app {
namespace {

constexpr std::string_view kConfigKey = "sg/config";      // fingerprint of the definitions applied
constexpr std::string_view kBackfillKey = "sg/backfill";  // fingerprint '\0' be64 last id done
constexpr std::string_view kProfilePrefix = "pf/";

// The computed source of the activation engine, keeping alive the config it points into.
class SharedComputedFacts final : public profiles::ComputedTraitSource {
 public:
  explicit SharedComputedFacts(std::shared_ptr<const profiles::ComputedTraitsConfig> config)
      : config_(std::move(config)), facts_(config_.get()) {}
  std::optional<profiles::FactValue> Get(const v1::Profile& profile, std::string_view name,
                                         absl::Time now) const override {
    return facts_.Get(profile, name, now);
  }
  std::optional<absl::Time> ChangesAt(const v1::Profile& profile, std::string_view name,
                                      absl::Time now) const override {
    return facts_.ChangesAt(profile, name, now);
  }
  bool DerivedFromOrders(std::string_view name) const override { return facts_.DerivedFromOrders(name); }

 private:
  std::shared_ptr<const profiles::ComputedTraitsConfig> config_;
  profiles::ComputedTraitsFacts facts_;
};

absl::StatusOr<ActivationSetup> JoinActivationSetup(profiles::ComputedTraitsConfig computed,
                                                    profiles::ActivationConfig activation,
                                                    std::string_view fallback_time_zone) {
  if (!computed.default_time_zone_configured && !fallback_time_zone.empty()) {
    if (!profiles::LoadZone(fallback_time_zone).has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown time zone '", AbslView(fallback_time_zone), "'"));
    }
    computed.default_time_zone = std::string(fallback_time_zone);
  }
  activation.triggers.default_time_zone = computed.default_time_zone;
  profiles::AddRfmTierSegments(computed, activation);
  ActivationSetup setup;
  setup.computed = std::make_shared<const profiles::ComputedTraitsConfig>(std::move(computed));
  activation.triggers.cart_abandoned = [computed = setup.computed](const v1::Profile& profile) {
    return profiles::CartAbandonmentOf(profile, *computed);
  };
  setup.activation = std::make_shared<const profiles::ActivationEngine>(
      std::move(activation), std::make_shared<const SharedComputedFacts>(setup.computed));
  return setup;
}

constexpr std::string_view kManualPrefix = "sg/manual/";  // + segment name -> be64 last id done

constexpr char kSegmentUsage[] =
    "usage: tessera segment backfill NAME --config FILE --brokers HOST:PORT [--data-dir DIR] [--time-zone Z] "
    "[--topic-prefix P] [--restart]";

absl::Status BackfillSegment(const CliArgs& args, const std::string& name) {
  const std::optional<std::string> config = args.Get("config");
  const std::optional<std::string> brokers = args.Get("brokers");
  if (!config.has_value() || !brokers.has_value()) return absl::InvalidArgumentError(kSegmentUsage);
  ASSIGN_OR_RETURN(ActivationSetup setup, LoadActivationSetup(*config, args.GetOr("time-zone", "UTC")));
  const profiles::ActivationEngine& engine = *setup.activation;
  if (engine.segments().Find(name) == nullptr) {
    return absl::NotFoundError(absl::StrCat("no segment named '", name, "' in ", *config));
  }
  const std::string data_dir = args.GetOr("data-dir", "tessera-data");
  const std::string path =
      std::filesystem::exists(FusedStorePath(data_dir)) ? FusedStorePath(data_dir) : ProfilesStorePath(data_dir);
  absl::StatusOr<std::unique_ptr<RocksStore>> store = RocksStore::Open(path, RocksStoreOptions{});
  if (!store.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open ", path, " (", store.status().message(),
        "): stop `tessera run` / the profiles worker first; changed definitions are backfilled when they start"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<KafkaProducer> producer, KafkaProducer::Create(*brokers));
  const Topics topics(args.GetOr("topic-prefix", "tessera."));
  const std::string progress_key = absl::StrCat(AbslView(kManualPrefix), name);

  // The ids to visit, ascending (8-byte keys only: "pf/" also holds redirects of merged ids).
  uint64_t resume_after = 0;
  if (!args.Has("restart")) {
    ASSIGN_OR_RETURN(std::optional<std::string> done, (*store)->Get(progress_key));
    if (done.has_value() && done->size() == 8) resume_after = ReadBigEndian64(*done);
  }
  std::vector<uint64_t> ids;
  RETURN_IF_ERROR((*store)->ScanPrefix(kProfilePrefix, [&](std::string_view key, std::string_view) {
    if (key.size() != kProfilePrefix.size() + 8) return true;
    const uint64_t id = ReadBigEndian64(key.substr(kProfilePrefix.size()));
    if (id > resume_after) ids.push_back(id);
    return true;
  }));
  std::fprintf(stderr, "segment backfill %s: %zu stored profiles to evaluate%s\n", name.c_str(), ids.size(),
               resume_after != 0 ? " (resuming an interrupted run; --restart starts over)" : "");
  constexpr size_t kChunk = 2000;
  int64_t entered = 0, exited = 0;
  const absl::Time started = absl::Now();
  absl::Time last_report = started;
  for (size_t next = 0; next < ids.size();) {
    StagedWrites staged(store->get());
    profiles::ProfileStore profiles_store(&staged);
    profiles::ActivationOutputs out;
    const absl::Time now = absl::Now();
    const size_t end = std::min(ids.size(), next + kChunk);
    for (; next < end; ++next) {
      ASSIGN_OR_RETURN(std::optional<v1::Profile> profile, profiles_store.Load(ids[next]));
      if (!profile.has_value()) continue;
      const size_t before = out.segment_changes.size();
      ASSIGN_OR_RETURN(bool changed, engine.EvaluateSegment(*profile, name, staged, now, out));
      // Saved without a new version, as a timer or backfill re-evaluation is (app/profile_batch.h).
      for (size_t i = before; i < out.segment_changes.size(); ++i) out.segment_changes[i].version = profile->version();
      if (changed || out.segment_changes.size() != before) profiles_store.Save(*profile);
    }
    for (const profiles::SegmentChange& change : out.segment_changes) {
      (change.entered ? entered : exited) += 1;
      const OutputRecord record = SegmentChangeOutput(topics, change);
      RETURN_IF_ERROR(producer->Produce(record.topic, record.key, record.value, record.headers));
    }
    RETURN_IF_ERROR(producer->Flush(absl::Seconds(60)));  // published before the state that records it commits
    staged.Put(progress_key, BigEndian64(ids[end - 1]));
    if (end == ids.size()) staged.Delete(progress_key);  // done: a later run starts over
    RETURN_IF_ERROR(staged.Commit());
    const absl::Time t = absl::Now();
    if (end == ids.size() || t - last_report > absl::Seconds(2)) {
      const double seconds = std::max(1e-3, absl::ToDoubleSeconds(t - started));
      std::fprintf(stderr, "segment backfill %s: %zu/%zu profiles, %lld entered, %lld exited (%.0f/s)\n",
                   name.c_str(), end, ids.size(), static_cast<long long>(entered), static_cast<long long>(exited),
                   static_cast<double>(end) / seconds);
      last_report = t;
    }
  }
  std::printf("%s: %lld entered, %lld exited over %zu profiles\n", name.c_str(), static_cast<long long>(entered),
              static_cast<long long>(exited), ids.size());
  return absl::OkStatus();
}

}  // namespace

int SegmentCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args =
      CliArgs::Parse(raw_args, {"config", "brokers", "data-dir", "time-zone", "topic-prefix"}, {"restart"});
  absl::Status status = args.status();
  if (status.ok()) {
    const std::vector<std::string>& pos = args->positionals();
    status = pos.size() == 2 && pos[0] == "backfill" ? BackfillSegment(*args, pos[1])
                                                     : absl::InvalidArgumentError(kSegmentUsage);
  }
  if (status.ok()) return 0;
  std::fprintf(stderr, "tessera segment: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

absl::StatusOr<ActivationSetup> ParseActivationSetup(std::string_view yaml, std::string_view fallback_time_zone) {
  ASSIGN_OR_RETURN(profiles::ComputedTraitsConfig computed, profiles::ParseComputedTraitsConfig(yaml));
  ASSIGN_OR_RETURN(profiles::ActivationConfig activation, profiles::ParseActivationConfig(yaml));
  return JoinActivationSetup(std::move(computed), std::move(activation), fallback_time_zone);
}

absl::StatusOr<ActivationSetup> LoadActivationSetup(const std::string& config_path, std::string_view fallback_time_zone) {
  ASSIGN_OR_RETURN(profiles::ComputedTraitsConfig computed, profiles::LoadComputedTraitsConfig(config_path));
  ASSIGN_OR_RETURN(profiles::ActivationConfig activation, profiles::LoadActivationConfig(config_path));
  return JoinActivationSetup(std::move(computed), std::move(activation), fallback_time_zone);
}

ActivationDriver::ActivationDriver(const RocksStore* store, const profiles::ActivationEngine* engine,
                                   const Clock* clock, std::string name, size_t chunk)
    : store_(store), engine_(engine), clock_(clock), name_(std::move(name)), chunk_(chunk) {}

absl::Status ActivationDriver::PlanBackfill(KeyValueView* state) {
  checked_ = true;
  const std::string& fingerprint = engine_->config().fingerprint;
  ASSIGN_OR_RETURN(std::optional<std::string> applied, state->Get(kConfigKey));
  if (applied.value_or("") == fingerprint) return absl::OkStatus();
  uint64_t resume_after = 0;
  ASSIGN_OR_RETURN(std::optional<std::string> progress, state->Get(kBackfillKey));
  if (progress.has_value() && progress->size() == fingerprint.size() + 1 + 8 &&
      progress->compare(0, fingerprint.size(), fingerprint) == 0) {
    resume_after = ReadBigEndian64(std::string_view(*progress).substr(fingerprint.size() + 1));
  }
  RETURN_IF_ERROR(store_->ScanPrefix(kProfilePrefix, [&](std::string_view key, std::string_view) {
    if (key.size() != kProfilePrefix.size() + 8) return true;
    const uint64_t id = ReadBigEndian64(key.substr(kProfilePrefix.size()));
    if (id > resume_after) pending_.push_back(id);
    return true;
  }));
  started_ = last_log_ = absl::Now();
  LogInfo(absl::StrCat(name_, ": segment/trigger definitions changed: re-evaluating ", pending_.size(),
                       " stored profiles", resume_after != 0 ? " (resuming an interrupted backfill)" : ""));
  if (pending_.empty()) state->Put(kConfigKey, fingerprint);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OutputRecord>> ActivationDriver::Tick(KeyValueView* state, const Hooks& hooks,
                                                                 bool* more) {
  *more = false;
  if (!checked_) RETURN_IF_ERROR(PlanBackfill(state));
  if (next_ < pending_.size()) {
    const size_t end = std::min(pending_.size(), next_ + chunk_);
    // One MultiGet for the chunk's neighbouring profiles: their keys share data blocks, which a
    // Get per profile would look up again from the index each time (a fifth of a backfill's time).
    RETURN_IF_ERROR(profiles::ProfileStore(state).Prefetch(
        std::vector<uint64_t>(pending_.begin() + static_cast<ptrdiff_t>(next_), pending_.begin() + static_cast<ptrdiff_t>(end))));
    for (size_t i = next_; i < end; ++i) RETURN_IF_ERROR(hooks.reevaluate(pending_[i]));
    ASSIGN_OR_RETURN(std::vector<OutputRecord> out, hooks.finish());
    const std::string& fingerprint = engine_->config().fingerprint;
    state->Put(kBackfillKey, absl::StrCat(fingerprint, std::string(1, '\0'), BigEndian64(pending_[end - 1])));
    next_ = end;
    const bool done = next_ == pending_.size();
    if (done) state->Put(kConfigKey, fingerprint);
    const absl::Time now = absl::Now();
    if (done || now - last_log_ > absl::Seconds(5)) {
      const double seconds = std::max(1e-3, absl::ToDoubleSeconds(now - started_));
      LogInfo(absl::StrCat(name_, ": segment backfill ", next_, "/", pending_.size(), " profiles (",
                           static_cast<int64_t>(static_cast<double>(next_) / seconds), "/s)", done ? ", done" : ""));
      last_log_ = now;
    }
    *more = !done;
    return out;
  }
  ASSIGN_OR_RETURN(std::vector<profiles::DueTimer> due, DueNow(chunk_));
  if (due.empty()) return std::vector<OutputRecord>{};
  std::vector<uint64_t> due_profiles;
  due_profiles.reserve(due.size());
  for (const profiles::DueTimer& timer : due) due_profiles.push_back(timer.profile_id);
  RETURN_IF_ERROR(profiles::ProfileStore(state).Prefetch(std::move(due_profiles)));
  for (const profiles::DueTimer& timer : due) {
    state->Delete(timer.key);  // the evaluation schedules whatever is still wanted
    RETURN_IF_ERROR(hooks.reevaluate(timer.profile_id));
  }
  *more = due.size() == chunk_;
  return hooks.finish();
}

absl::StatusOr<std::vector<profiles::DueTimer>> ActivationDriver::DueNow(size_t limit) const {
  const profiles::PrefixScan scan = [this](std::string_view prefix,
                                           const std::function<bool(std::string_view, std::string_view)>& visit) {
    return store_->ScanPrefix(prefix, visit);
  };
  return profiles::DueTimers(scan, absl::FromUnixMillis(clock_->NowMillis()), limit);
}

absl::StatusOr<bool> ActivationDriver::HasWork() const {
  if (backfill_pending()) return true;
  ASSIGN_OR_RETURN(std::vector<profiles::DueTimer> due, DueNow(1));
  return !due.empty();
}

}  // namespace tessera::app
