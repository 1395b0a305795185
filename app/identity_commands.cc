#include "app/identity_commands.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "app/cli_args.h"
#include "app/outputs.h"
#include "app/profile_batch.h"
#include "app/runner.h"
#include "app/topics.h"
#include "common/clock.h"
#include "common/identifier.h"
#include "common/kafka.h"
#include "common/rocks_store.h"
#include "common/status_macros.h"
#include "identity/identity_explain.h"
#include "identity/identity_records.h"
#include "identity/identity_resolver.h"
#include "identity/identity_simulate.h"
#include "identity/rules_config.h"
#include "profiles/profile_rebuild.h"
#include "profiles/profile_store.h"
#include "profiles/query/store_readers.h"

namespace tessera::app {
namespace {

constexpr char kUsage[] =
    "usage: tessera identity violations [--data-dir DIR] [--workspace W] [--limit N] [--json]\n"
    "       tessera identity simulate --rules NEW.yaml [--data-dir DIR] [--workspace W] [--json]";
constexpr char kExplainUsage[] =
    "usage: tessera profile explain TYPE:VALUE [--data-dir DIR] [--workspace W] [--json]";
constexpr char kSplitUsage[] =
    "usage: tessera profile split (--link TYPE:VALUE--TYPE:VALUE | --identifier TYPE:VALUE | --event MESSAGE_ID |\n"
    "                              --source TOPIC[:PARTITION])\n"
    "         [--profile TYPE:VALUE] [--data-dir DIR] [--workspace W] [--config FILE] [--dry-run] [--json] [--by NAME]\n"
    "         (--brokers HOST:PORT [--topic-prefix P] | --no-publish)\n"
    "Run it while `tessera run` is stopped: it writes the store.";

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "tessera: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

// Runs `read` over the identity store of `data_dir` (the fused store, else the identity stage's),
// opened as a RocksDB secondary instance with a scratch directory removed afterwards.
absl::Status WithStore(const std::string& data_dir, const std::function<absl::Status(RocksStore&)>& read) {
  const std::string fused = FusedStorePath(data_dir);
  const std::string path = std::filesystem::exists(fused) ? fused : IdentityStorePath(data_dir);
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat("no Tessera store under ", data_dir, " (use --data-dir)"));
  }
  std::string scratch = (std::filesystem::temp_directory_path() / "tessera-reader-XXXXXX").string();
  if (mkdtemp(scratch.data()) == nullptr) return absl::InternalError("cannot create a scratch directory");
  absl::Status status = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::unique_ptr<RocksStore> store, RocksStore::OpenSecondary(path, scratch));
    return read(*store);
  }();
  std::error_code ignored;  // best effort: a leftover scratch dir in /tmp harms nothing
  std::filesystem::remove_all(scratch, ignored);
  return status;
}

identity::PrefixScan ScanOf(const RocksStore& store) {
  return [&store](std::string_view prefix, const std::function<bool(std::string_view, std::string_view)>& visit) {
    return store.ScanPrefix(prefix, visit);
  };
}

// The newest `limit` violations of `workspace` (0: all), oldest first.
absl::StatusOr<std::vector<identity::IdentityViolation>> ReadViolations(const std::string& data_dir,
                                                                        const std::string& workspace, size_t limit) {
  std::vector<identity::IdentityViolation> out;
  RETURN_IF_ERROR(WithStore(data_dir, [&](RocksStore& store) -> absl::Status {
    absl::Status decoded = absl::OkStatus();
    RETURN_IF_ERROR(store.ScanPrefix(identity::ViolationKeyPrefix(workspace), [&](std::string_view, std::string_view value) {
      absl::StatusOr<identity::IdentityViolation> v = identity::DecodeViolation(value);
      if (!v.ok()) {
        decoded = v.status();
        return false;
      }
      out.push_back(*std::move(v));
      return true;
    }));
    return decoded;
  }));
  if (limit > 0 && out.size() > limit) out.erase(out.begin(), out.end() - static_cast<long>(limit));
  return out;
}

int ViolationsCommand(const CliArgs& args) {
  size_t limit = 100;
  if (auto v = args.Get("limit"); v && !absl::SimpleAtoi(*v, &limit)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--limit needs a whole number (0: all), got '", *v, "'")));
  }
  absl::StatusOr<std::vector<identity::IdentityViolation>> violations =
      ReadViolations(args.GetOr("data-dir", "tessera-data"), args.GetOr("workspace", "default"), limit);
  if (!violations.ok()) return Fail(violations.status());
  const bool json = args.Has("json");
  for (const identity::IdentityViolation& v : *violations) {
    if (json) {
      std::printf("%s\n", identity::ViolationToJson(v).c_str());
      continue;
    }
    // time  rule  identifier  profiles  event  detail
    const std::string time = FormatUtcMillis(v.event_time_ms);
    std::printf("%s  %-20s %s  held by %s, event resolved to %llu  (%s at %s/%d/%lld)  %s\n", time.c_str(),
                v.rule.c_str(), v.identifier.c_str(), v.held_by == 0 ? "none" : std::to_string(v.held_by).c_str(),
                static_cast<unsigned long long>(v.resolved_to), v.message_id.c_str(), v.source_topic.c_str(),
                v.source_partition, static_cast<long long>(v.source_offset), v.detail.c_str());
  }
  if (!json) std::fprintf(stderr, "%zu violation(s) shown (--limit %zu, 0 for all)\n", violations->size(), limit);
  return 0;
}

int SimulateCommand(const CliArgs& args) {
  const std::optional<std::string> rules_path = args.Get("rules");
  if (!rules_path.has_value()) return Fail(absl::InvalidArgumentError(kUsage));
  absl::StatusOr<identity::RulesConfig> config = identity::LoadRulesConfig(*rules_path);
  if (!config.ok()) return Fail(config.status());
  absl::StatusOr<identity::RulesByWorkspace> rules = identity::CompileRulesConfig(*config);
  if (!rules.ok()) return Fail(rules.status());
  const std::string workspace = args.GetOr("workspace", "default");
  identity::SimulationReport report;
  absl::Status status = WithStore(args.GetOr("data-dir", "tessera-data"), [&](RocksStore& store) -> absl::Status {
    StoreReader reader(&store);
    // Links a split removed stay removed in the replay (their tombstones).
    const identity::LinkLogFilter tombstones = [&reader](identity::LinkRecord& link) {
      return identity::ApplyLinkTombstone(reader, link);
    };
    ASSIGN_OR_RETURN(report, identity::SimulateRules(reader, ScanOf(store), workspace, *rules, 10, tombstones));
    return absl::OkStatus();
  });
  if (!status.ok()) return Fail(status);
  std::printf("%s\n", args.Has("json") ? identity::SimulationToJson(report).c_str()
                                       : identity::SimulationToText(report).c_str());
  return 0;
}

// The explanation's JSON object with a "splits" array (SplitRecordToJson each) as its last key.
// The explanation knows nothing of splits (identity_explain.h); the command adds what split wrote.
std::string WithSplitsJson(std::string explanation_json, const std::vector<identity::SplitRecord>& splits) {
  if (explanation_json.empty() || explanation_json.back() != '}') return explanation_json;
  explanation_json.pop_back();
  explanation_json.append(",\"splits\":[");
  for (size_t i = 0; i < splits.size(); ++i) {
    if (i > 0) explanation_json.push_back(',');
    explanation_json.append(identity::SplitRecordToJson(splits[i]));
  }
  explanation_json.append("]}");
  return explanation_json;
}

absl::StatusOr<identity::SplitRemoval> RemovalFrom(const CliArgs& args) {
  const int given = (args.Has("link") ? 1 : 0) + (args.Has("identifier") ? 1 : 0) + (args.Has("event") ? 1 : 0) +
                    (args.Has("source") ? 1 : 0);
  if (given != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("give exactly one of --link, --identifier, --event, --source\n", kSplitUsage));
  }
  if (args.Has("profile") && (args.Has("link") || args.Has("identifier"))) {
    return absl::InvalidArgumentError("--profile goes with --event or --source (a link or identifier names its profile)");
  }
  if (auto link = args.Get("link")) return identity::ParseLinkRemoval(*link);
  if (auto identifier = args.Get("identifier")) return identity::ParseIdentifierRemoval(*identifier);
  identity::SplitRemoval removal;
  if (auto event = args.Get("event")) {
    removal = identity::EventRemoval(*event);
  } else {
    ASSIGN_OR_RETURN(removal, identity::ParseSourceRemoval(*args.Get("source")));
  }
  if (auto within = args.Get("profile")) {
    ASSIGN_OR_RETURN(v1::Identifier id, ParseIdentifier(*within));
    removal.within = FormatIdentifier(id);
  }
  return removal;
}

// Publishes the split's outputs as `tessera run` does: profile-updates (JSON, keyed by id), and the
// segment changes and triggers an activation engine produced.
absl::Status PublishSplit(const std::string& brokers, const std::string& topic_prefix, const SplitOutcome& outcome) {
  ASSIGN_OR_RETURN(std::unique_ptr<KafkaProducer> producer, KafkaProducer::Create(brokers));
  const Topics topics(topic_prefix);
  std::vector<OutputRecord> records;
  for (const v1::ProfileUpdate& update : outcome.updates) records.push_back(ProfileUpdateOutput(topics, update));
  for (const auto& change : outcome.activation.segment_changes) records.push_back(SegmentChangeOutput(topics, change));
  for (const auto& firing : outcome.activation.triggers) records.push_back(TriggerOutput(topics, firing));
  for (const OutputRecord& record : records) {
    RETURN_IF_ERROR(producer->Produce(record.topic, record.key, record.value, record.headers));
  }
  return producer->Flush(absl::Seconds(30));
}

int SplitCommand(const CliArgs& args) {
  absl::StatusOr<identity::SplitRemoval> removal = RemovalFrom(args);
  if (!removal.ok()) return Fail(removal.status());
  SplitOptions options;
  options.workspace = args.GetOr("workspace", "default");
  options.removal = *removal;
  options.dry_run = args.Has("dry-run");
  const std::optional<std::string> brokers = args.Get("brokers");
  if (!options.dry_run && !brokers.has_value() && !args.Has("no-publish")) {
    return Fail(absl::InvalidArgumentError(
        "give --brokers to publish the split's profile updates, or --no-publish to write the split without telling "
        "downstream"));
  }
  if (auto config = args.Get("config")) {
    absl::StatusOr<identity::RulesConfig> rules = identity::LoadRulesConfig(*config);
    if (!rules.ok()) return Fail(rules.status());
    absl::StatusOr<identity::RulesByWorkspace> compiled = identity::CompileRulesConfig(*rules);
    if (!compiled.ok()) return Fail(compiled.status());
    options.rules = *std::move(compiled);
    absl::StatusOr<profiles::ComputedTraitsConfig> computed = profiles::LoadComputedTraitsConfig(*config);
    if (!computed.ok()) return Fail(computed.status());
    options.computed_traits = std::make_shared<const profiles::ComputedTraitsConfig>(*std::move(computed));
  }
  const char* user = std::getenv("USER");
  options.audit.by = args.GetOr("by", user != nullptr ? user : "");
  options.audit.at_ms = SystemClock().NowMillis();

  const std::string data_dir = args.GetOr("data-dir", "tessera-data");
  const std::string path = FusedStorePath(data_dir);
  if (!std::filesystem::exists(path)) {
    return Fail(absl::FailedPreconditionError(
        std::filesystem::exists(IdentityStorePath(data_dir))
            ? absl::StrCat("split works on the store of `tessera run` (", path,
                           "); a distributed data directory (identity and profiles stores apart) is not supported yet")
            : absl::StrCat("no Tessera store under ", data_dir, " (use --data-dir)")));
  }
  absl::StatusOr<SplitOutcome> outcome;
  if (options.dry_run) {
    // Reads only: a secondary instance, so a dry run works while `tessera run` holds the store.
    absl::Status read = WithStore(data_dir, [&](RocksStore& store) -> absl::Status {
      StoreReader view(&store);
      query::RocksRangeReader reader(&store);
      outcome = SplitProfiles(view, reader, ScanOf(store), options);
      return outcome.status();
    });
    if (!read.ok()) return Fail(read);
  } else {
    absl::StatusOr<std::unique_ptr<RocksStore>> store = RocksStore::Open(path);
    if (!store.ok()) {
      return Fail(absl::Status(store.status().code(),
                               absl::StrCat(store.status().message(), " (stop `tessera run` before splitting)")));
    }
    StagedWrites staged(store->get());
    query::RocksRangeReader reader(store->get());
    outcome = SplitProfiles(staged, reader, ScanOf(**store), options);
    if (!outcome.ok()) return Fail(outcome.status());
    if (absl::Status committed = staged.Commit(); !committed.ok()) return Fail(committed);
  }
  const bool json = args.Has("json");
  if (json) {
    std::string out = absl::StrCat("{\"dry_run\":", options.dry_run ? "true" : "false", ",\"plans\":[");
    for (size_t i = 0; i < outcome->plans.size(); ++i) {
      absl::StrAppend(&out, i > 0 ? "," : "", identity::SplitPlanToJson(outcome->plans[i]));
    }
    absl::StrAppend(&out, "]}");
    std::printf("%s\n", out.c_str());
  } else {
    if (options.dry_run) std::printf("Dry run: nothing was written.\n");
    for (const identity::SplitPlan& plan : outcome->plans) std::fputs(identity::SplitPlanToText(plan).c_str(), stdout);
  }
  if (options.dry_run || outcome->updates.empty()) return 0;
  if (!brokers.has_value()) {
    std::fprintf(stderr, "split written; %zu profile update(s) not published (--no-publish)\n",
                 outcome->updates.size());
    return 0;
  }
  const std::string prefix = args.GetOr("topic-prefix", "tessera.");
  if (absl::Status published = PublishSplit(*brokers, prefix, *outcome); !published.ok()) {
    std::fprintf(stderr,
                 "tessera: the split is written, but publishing its %zu profile update(s) failed: %s\n"
                 "(downstream sees both profiles at their next change)\n",
                 outcome->updates.size(), std::string(published.message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "split written; %zu profile update(s) published to %sprofile-updates, %zu segment change(s)\n",
               outcome->updates.size(), prefix.c_str(), outcome->activation.segment_changes.size());
  return 0;
}

}  // namespace

absl::StatusOr<SplitOutcome> SplitProfiles(KeyValueView& kv, const profiles::KeyRangeReader& reader,
                                           const identity::PrefixScan& scan, const SplitOptions& options) {
  SplitOutcome outcome;
  std::map<uint64_t, std::vector<profiles::StoredEvent>> stored_by_root;
  auto events_of = [&](uint64_t root,
                       const std::vector<uint64_t>& merged_from) -> absl::StatusOr<std::vector<v1::Event>> {
    std::vector<uint64_t> ids = {root};
    ids.insert(ids.end(), merged_from.begin(), merged_from.end());
    ASSIGN_OR_RETURN(stored_by_root[root], profiles::ReadStoredEvents(reader, options.workspace, ids));
    std::vector<v1::Event> events;
    for (const profiles::StoredEvent& stored : stored_by_root[root]) events.push_back(stored.event);
    return events;
  };
  ASSIGN_OR_RETURN(outcome.plans,
                   identity::PlanSplit(kv, scan, options.workspace, options.removal, options.rules, events_of));
  if (options.dry_run) return outcome;

  // Every check before the first write.
  profiles::ProfileStore store(&kv);
  std::map<uint64_t, v1::Profile> before;
  for (const identity::SplitPlan& plan : outcome.plans) {
    if (!plan.Splits()) continue;
    ASSIGN_OR_RETURN(std::optional<v1::Profile> profile, store.Load(plan.profile_id));
    if (!profile.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat("profile ", plan.profile_id, " is not in the profile store"));
    }
    std::set<std::pair<int64_t, std::string>> distinct;
    for (const profiles::StoredEvent& stored : stored_by_root[plan.profile_id]) {
      distinct.emplace(stored.event.timestamp_ms(), stored.event.message_id());
    }
    const int64_t counted = profiles::CountedEvents(*profile);
    if (static_cast<int64_t>(distinct.size()) < counted) {
      return absl::FailedPreconditionError(absl::StrCat(
          "profile ", plan.profile_id, " counted ", counted, " events but the event store holds ", distinct.size(),
          " (retention, or events from before the event store): rebuilding it would lose the others; nothing written"));
    }
    before[plan.profile_id] = *std::move(profile);
  }

  identity::SplitAudit audit = options.audit;
  audit.reason = options.removal.Describe();
  ProfileBatch batch(&store, options.activation.get(), &kv, options.computed_traits.get());
  profiles::FoldHook count_windows = nullptr;
  if (options.activation != nullptr) {
    count_windows = [&](const v1::Event& event, v1::Profile& profile) {
      options.activation->RecordEvent(event, options.audit.at_ms, profile);
    };
  }
  for (identity::SplitPlan& plan : outcome.plans) {
    if (!plan.Splits()) continue;
    ASSIGN_OR_RETURN(identity::SplitRecord record, identity::StageSplit(kv, plan, audit));
    outcome.records.push_back(std::move(record));
    const std::vector<profiles::StoredEvent>& stored = stored_by_root[plan.profile_id];
    std::vector<uint64_t> destinations;
    destinations.reserve(stored.size());
    for (const profiles::StoredEvent& e : stored) {
      destinations.push_back(plan.parts[plan.PartOf(identity::Claim{e.event.timestamp_ms(), e.event.message_id()})].id);
    }
    std::map<uint64_t, profiles::RebuildTarget> targets;
    for (size_t i = 0; i < plan.parts.size(); ++i) {
      profiles::RebuildTarget& target = targets[plan.parts[i].id];
      target.workspace = options.workspace;
      for (const identity::ProfileIdentity::Held& h : plan.parts[i].identifiers) target.identifiers.push_back(h.identifier);
      if (i == 0) target.merged_from = plan.merged_from;
    }
    ASSIGN_OR_RETURN(auto rebuilt, profiles::StageRebuild(kv, stored, destinations, targets,
                                                          *options.computed_traits, count_windows));
    for (auto& [id, profile] : rebuilt) {
      // Segment membership and scheduled timers are not derived from events: the profile split
      // keeps what it had, so the next evaluation publishes real exits (not a spurious enter) and
      // moves the wake key it knows.
      if (id == plan.profile_id) {
        *profile.mutable_segments() = before[id].segments();
        *profile.mutable_timers() = before[id].timers();
        profile.set_wake_ms(before[id].wake_ms());
      }
      ASSIGN_OR_RETURN(v1::Profile * current, batch.Get(id, options.workspace));
      profile.set_version(current->version());  // the batch moves it on, and "changed" must not list it
      *current = std::move(profile);
    }
  }
  ASSIGN_OR_RETURN(outcome.updates, batch.Finish(options.audit.at_ms, &outcome.activation));
  return outcome;
}

int IdentityCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(raw_args, {"data-dir", "workspace", "limit", "rules"}, {"json"});
  if (!args.ok()) return Fail(args.status());
  if (args->positionals() == std::vector<std::string>{"violations"}) return ViolationsCommand(*args);
  if (args->positionals() == std::vector<std::string>{"simulate"}) return SimulateCommand(*args);
  return Fail(absl::InvalidArgumentError(kUsage));
}

int ProfileExplainCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(raw_args, {"data-dir", "workspace"}, {"json"});
  if (!args.ok()) return Fail(args.status());
  const std::vector<std::string>& pos = args->positionals();
  if (pos.size() != 2 || pos[0] != "explain") return Fail(absl::InvalidArgumentError(kExplainUsage));
  absl::StatusOr<v1::Identifier> id = ParseIdentifier(pos[1]);
  if (!id.ok()) return Fail(id.status());
  identity::ProfileExplanation explanation;
  std::vector<identity::SplitRecord> splits;
  absl::Status status = WithStore(args->GetOr("data-dir", "tessera-data"), [&](RocksStore& store) -> absl::Status {
    StoreReader reader(&store);
    ASSIGN_OR_RETURN(explanation,
                     identity::ExplainProfile(reader, ScanOf(store), args->GetOr("workspace", "default"), *id));
    ASSIGN_OR_RETURN(splits, identity::ReadSplits(ScanOf(store), explanation.profile_id));
    return absl::OkStatus();
  });
  if (!status.ok()) return Fail(status);
  if (args->Has("json")) {
    std::printf("%s\n", WithSplitsJson(identity::ExplanationToJson(explanation), splits).c_str());
  } else {
    std::fputs(identity::ExplanationToText(explanation).c_str(), stdout);
    if (!splits.empty()) {
      std::printf("\nSplit (%zu):\n", splits.size());
      for (const identity::SplitRecord& split : splits) std::fputs(identity::SplitRecordToText(split).c_str(), stdout);
    }
  }
  return 0;
}

int ProfileSplitCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args =
      CliArgs::Parse(raw_args,
                     {"data-dir", "workspace", "link", "identifier", "event", "source", "profile", "config", "brokers",
                      "topic-prefix", "by"},
                     {"dry-run", "json", "no-publish"});
  if (!args.ok()) return Fail(args.status());
  if (args->positionals() != std::vector<std::string>{"split"}) return Fail(absl::InvalidArgumentError(kSplitUsage));
  return SplitCommand(*args);
}

}  // namespace tessera::app
