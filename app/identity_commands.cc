#include "app/identity_commands.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "app/cli_args.h"
#include "app/runner.h"
#include "common/identifier.h"
#include "common/rocks_store.h"
#include "common/status_macros.h"
#include "identity/identity_explain.h"
#include "identity/identity_records.h"
#include "identity/identity_resolver.h"
#include "identity/identity_simulate.h"
#include "identity/rules_config.h"

namespace tessera::app {
namespace {

constexpr char kUsage[] =
    "usage: tessera identity violations [--data-dir DIR] [--workspace W] [--limit N] [--json]\n"
    "       tessera identity simulate --rules NEW.yaml [--data-dir DIR] [--workspace W] [--json]";
constexpr char kExplainUsage[] =
    "usage: tessera profile explain TYPE:VALUE [--data-dir DIR] [--workspace W] [--json]";

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
    const std::string time =
        absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(v.event_time_ms), absl::UTCTimeZone());
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
    ASSIGN_OR_RETURN(report, identity::SimulateRules(reader, ScanOf(store), workspace, *rules));
    return absl::OkStatus();
  });
  if (!status.ok()) return Fail(status);
  std::printf("%s\n", args.Has("json") ? identity::SimulationToJson(report).c_str()
                                       : identity::SimulationToText(report).c_str());
  return 0;
}

}  // namespace

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
  absl::Status status = WithStore(args->GetOr("data-dir", "tessera-data"), [&](RocksStore& store) -> absl::Status {
    StoreReader reader(&store);
    ASSIGN_OR_RETURN(explanation,
                     identity::ExplainProfile(reader, ScanOf(store), args->GetOr("workspace", "default"), *id));
    return absl::OkStatus();
  });
  if (!status.ok()) return Fail(status);
  if (args->Has("json")) {
    std::printf("%s\n", identity::ExplanationToJson(explanation).c_str());
  } else {
    std::fputs(identity::ExplanationToText(explanation).c_str(), stdout);
  }
  return 0;
}

}  // namespace tessera::app
