#include "app/quality_command.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "app/cli_args.h"
#include "common/absl_compat.h"
#include "common/rocks_store.h"
#include "common/status_macros.h"
#include "ingest/normalize.h"
#include "ingest/quality.h"

namespace tessera::app {
namespace {

constexpr char kUsage[] =
    "usage: tessera quality [--data-dir DIR] [--workspace W] [--since T] [--until T] [--json]\n"
    "  T: RFC 3339 (2024-03-01T00:00:00Z) or an age like 90m, 24h, 7d";

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "tessera: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

// Epoch ms of an RFC 3339 time, or of now minus an age ("24h", "7d", "90m").
absl::StatusOr<int64_t> TimeArgument(std::string_view text, std::string_view option) {
  if (std::optional<int64_t> ms = ingest::ParseTimestamp(text, absl::UTCTimeZone())) return *ms;
  int64_t amount = 0;
  if (text.size() >= 2 && absl::SimpleAtoi(AbslView(text.substr(0, text.size() - 1)), &amount) && amount >= 0) {
    int64_t unit_ms = 0;
    switch (text.back()) {
      case 'm': unit_ms = 60'000; break;
      case 'h': unit_ms = 3'600'000; break;
      case 'd': unit_ms = 86'400'000; break;
      default: break;
    }
    if (unit_ms > 0) return absl::ToUnixMillis(absl::Now()) - amount * unit_ms;
  }
  return absl::InvalidArgumentError(absl::StrCat("--", AbslView(option), " needs an RFC 3339 time or an age like 24h, got '",
                                                 AbslView(text), "'\n", kUsage));
}

// Adds the counters of the store at `path` (read-only) to `report`.
absl::Status ReadStore(const std::string& path, const std::string& workspace, ingest::QualityReport& report) {
  std::string scratch = (std::filesystem::temp_directory_path() / "tessera-reader-XXXXXX").string();
  if (mkdtemp(scratch.data()) == nullptr) return absl::InternalError("cannot create a scratch directory");
  absl::Status status = [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::unique_ptr<RocksStore> store, RocksStore::OpenSecondary(path, scratch));
    return store->ScanPrefix(ingest::QualityWorkspacePrefix(workspace), [&](std::string_view key, std::string_view value) {
      report.AddStored(key, value);
      return true;
    });
  }();
  std::error_code ignored;  // best effort: a leftover scratch dir in /tmp harms nothing
  std::filesystem::remove_all(scratch, ignored);
  return status;
}

}  // namespace

int QualityCommand(const std::vector<std::string>& raw_args) {
  absl::StatusOr<CliArgs> args = CliArgs::Parse(raw_args, {"data-dir", "workspace", "since", "until"}, {"json"});
  if (!args.ok()) return Fail(args.status());
  if (!args->positionals().empty()) return Fail(absl::InvalidArgumentError(kUsage));
  int64_t since_ms = std::numeric_limits<int64_t>::min();
  int64_t until_ms = std::numeric_limits<int64_t>::max();
  if (auto since = args->Get("since")) {
    absl::StatusOr<int64_t> ms = TimeArgument(*since, "since");
    if (!ms.ok()) return Fail(ms.status());
    // The hour a time falls in is counted from its start.
    since_ms = *ms / ingest::kQualityBucketMs * ingest::kQualityBucketMs;
  }
  if (auto until = args->Get("until")) {
    absl::StatusOr<int64_t> ms = TimeArgument(*until, "until");
    if (!ms.ok()) return Fail(ms.status());
    until_ms = *ms;
  }
  const std::string data_dir = args->GetOr("data-dir", "tessera-data");
  const std::string workspace = args->GetOr("workspace", "default");
  ingest::QualityReport report(workspace, since_ms, until_ms);
  // The fused store (DIR/store), or the distributed stages' stores that count: every ingest
  // worker's (DIR/ingest, DIR/ingest-<id>: accepted, rejected, cleaning) and identity's
  // (DIR/identity: duplicates). Their counts add up.
  int stores = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || !(name == "store" || name == "identity" || name.rfind("ingest", 0) == 0)) continue;
    ++stores;
    if (absl::Status s = ReadStore(entry.path().string(), workspace, report); !s.ok()) return Fail(s);
  }
  if (stores == 0) return Fail(absl::NotFoundError(absl::StrCat("no Tessera store under ", data_dir, " (use --data-dir)")));
  std::printf("%s", args->Has("json") ? (report.ToJson() + "\n").c_str() : report.ToText().c_str());
  return 0;
}

}  // namespace tessera::app
