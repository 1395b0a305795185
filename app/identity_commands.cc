#include "app/identity_commands.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "app/cli_args.h"
#include "app/runner.h"
#include "common/rocks_store.h"
#include "common/status_macros.h"
#include "identity/identity_records.h"
#include "identity/identity_resolver.h"

namespace tessera::app {
namespace {

constexpr char kUsage[] =
    "usage: tessera identity violations [--data-dir DIR] [--workspace W] [--limit N] [--json]";

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "tessera: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

// The newest `limit` violations of `workspace` (0: all), oldest first.
absl::StatusOr<std::vector<identity::IdentityViolation>> ReadViolations(const std::string& data_dir,
                                                                        const std::string& workspace, size_t limit) {
  const std::string fused = FusedStorePath(data_dir);
  const std::string path = std::filesystem::exists(fused) ? fused : IdentityStorePath(data_dir);
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat("no Tessera store under ", data_dir, " (use --data-dir)"));
  }
  std::string scratch = (std::filesystem::temp_directory_path() / "tessera-reader-XXXXXX").string();
  if (mkdtemp(scratch.data()) == nullptr) return absl::InternalError("cannot create a scratch directory");
  std::vector<identity::IdentityViolation> out;
  absl::Status status = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::unique_ptr<RocksStore> store, RocksStore::OpenSecondary(path, scratch));
    absl::Status decoded = absl::OkStatus();
    RETURN_IF_ERROR(store->ScanPrefix(identity::ViolationKeyPrefix(workspace), [&](std::string_view, std::string_view value) {
      absl::StatusOr<identity::IdentityViolation> v = identity::DecodeViolation(value);
      if (!v.ok()) {
        decoded = v.status();
        return false;
      }
      out.push_back(*std::move(v));
      return true;
    }));
    return decoded;
  }();
  std::error_code ignored;  // best effort: a leftover scratch dir in /tmp harms nothing
  std::filesystem::remove_all(scratch, ignored);
  if (!status.ok()) return status;
  if (limit > 0 && out.size() > limit) out.erase(out.begin(), out.end() - static_cast<long>(limit));
  return out;
}

}  // namespace

int IdentityCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(raw_args, {"data-dir", "workspace", "limit"}, {"json"});
  if (!args.ok()) return Fail(args.status());
  if (args->positionals() != std::vector<std::string>{"violations"}) return Fail(absl::InvalidArgumentError(kUsage));
  size_t limit = 100;
  if (auto v = args->Get("limit"); v && !absl::SimpleAtoi(*v, &limit)) {
    return Fail(absl::InvalidArgumentError(absl::StrCat("--limit needs a whole number (0: all), got '", *v, "'")));
  }
  absl::StatusOr<std::vector<identity::IdentityViolation>> violations =
      ReadViolations(args->GetOr("data-dir", "tessera-data"), args->GetOr("workspace", "default"), limit);
  if (!violations.ok()) return Fail(violations.status());
  const bool json = args->Has("json");
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

}  // namespace tessera::app
