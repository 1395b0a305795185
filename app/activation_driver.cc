#include "app/activation_driver.h"

#include "absl/strings/str_cat.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace tessera::app {
namespace {

constexpr std::string_view kConfigKey = "sg/config";      // fingerprint of the definitions applied
constexpr std::string_view kBackfillKey = "sg/backfill";  // fingerprint '\0' be64 last id done
constexpr std::string_view kProfilePrefix = "pf/";

}  // namespace

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
  const profiles::PrefixScan scan = [this](std::string_view prefix,
                                     const std::function<bool(std::string_view, std::string_view)>& visit) {
    return store_->ScanPrefix(prefix, visit);
  };
  ASSIGN_OR_RETURN(std::vector<profiles::DueTimer> due,
                   profiles::DueTimers(scan, absl::FromUnixMillis(clock_->NowMillis()), chunk_));
  if (due.empty()) return std::vector<OutputRecord>{};
  for (const profiles::DueTimer& timer : due) {
    state->Delete(timer.key);  // the evaluation schedules whatever is still wanted
    RETURN_IF_ERROR(hooks.reevaluate(timer.profile_id));
  }
  *more = due.size() == chunk_;
  return hooks.finish();
}

}  // namespace tessera::app
