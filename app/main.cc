// tessera: one binary, one subcommand per job. See README.md.
#include <cstdio>
#include <string>
#include <vector>

#include "app/activation_driver.h"
#include "app/collector_command.h"
#include "app/commands.h"
#include "app/identity_commands.h"
#include "app/query_command.h"
#include "app/quality_command.h"
#include "app/sinks_commands.h"

namespace {
constexpr char kUsage[] = R"(usage: tessera COMMAND [options]

  run (--brokers HOST:PORT | --embedded) [--data-dir DIR] [--http HOST:PORT [--config FILE]]
                                                            every stage in one process (+ the collector)
  ingest|identity|profiles|sinks --brokers HOST:PORT [--data-dir DIR] [--instance-id ID]
                                                            one stage per process
  collector --brokers HOST:PORT [--http 127.0.0.1:8088] [--config FILE] [--data-dir DIR]
                                                            Segment-compatible HTTP tracking API (docs/collector.md)
  identity violations [--data-dir DIR] [--workspace W] [--limit N] [--json]
                                                            links the identity rules refused, and why
  identity simulate --rules NEW.yaml [--data-dir DIR] [--workspace W] [--json]
                                                            what new merge rules would merge, split or change
  sinks deliver --brokers HOST:PORT --config FILE [--data-dir DIR]   webhook / Kafka-topic destinations (docs/sinks.md)
  sinks status --brokers HOST:PORT --config FILE [--data-dir DIR] [--json]
                                                            per destination: delivered, retrying, dead-lettered, skipped, lag
  sinks replay NAME --brokers HOST:PORT --config FILE [--from-dlq]
                                                            re-send dead letters, or (without --from-dlq) every profile
  import --channel web|social|purchase --brokers HOST:PORT FILE   NDJSON (- for stdin) to a raw topic
  profile get TYPE:VALUE [--data-dir DIR]                   a profile as JSON (works while run holds the store)
  profile get ID|TYPE:VALUE --as-of T                       the profile as it was at event time T (RFC 3339 or epoch ms)
  profile events ID|TYPE:VALUE [--limit N] [--since T] [--until T] [--type T] [--json]
                                                            the timeline, newest first, across merges
  profile history ID|TYPE:VALUE [--json]                    the merges that made a profile
  query [--data-dir DIR] [--http 127.0.0.1:8089] [--config FILE]
                                                            the analysts' HTTP JSON API (docs/query-api.md)
  export (--all | --segment NAME | --filter EXPR) --format ndjson|csv [--out FILE] [--data-dir DIR] [--config FILE]
                                                            profiles, for DuckDB / pandas / a warehouse
  search EXPR [--limit N] [--cursor C] [--json] [--config FILE]   profiles matching a segment condition, with a count
  segment members NAME [--limit N] [--cursor C] [--json]    a segment's members, by profile id
  quality [--data-dir DIR] [--since 24h] [--until T] [--workspace W] [--json]
                                                            accepted, rejected, duplicates, cleaned values per source
  profile explain TYPE:VALUE [--data-dir DIR] [--json]      why a profile's identifiers are one customer
  segment backfill NAME --config FILE --brokers HOST:PORT [--data-dir DIR] [--restart]
                                                            re-evaluate one segment over stored profiles (store not in use)
  profile split (--link A--B | --identifier T:V | --event ID | --source TOPIC[:P]) [--dry-run] (--brokers B | --no-publish)
                                                            undo a wrong merge while run is stopped (docs/identity.md)
  topics create --brokers HOST:PORT [--partitions N]        create Tessera's topics

common options: --config FILE (YAML: identity merge rules, collector sources), --topic-prefix P (default "tessera."), --phone-region TH, --time-zone UTC,
  --workspace default, --batch-size 5000, --batch-linger-ms 0 (wait for more records once a batch has one),
  --fetch-wait-ms 10 (the broker gathers up to 1 MiB a fetch for at most this long; 0 answers at once),
  --block-cache-mb 256, --presence-filter-save-s 30 (how often identity's filter of known identifiers is
  saved beside the store, so a restart reads only newer SST files instead of every key; 0: never),
  --dedup-window-hours 168 (a messageId seen again within it is dropped; 0 keeps duplicates)
  --config's `profiles: segments:` and `profiles: triggers:` drive run/profiles: segment-changes and
  triggers topics, backfilled over stored profiles when they change (docs/segments.md)
)";
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  using namespace tessera::app;
  if (command == "run") return RunCommand(args);
  if (command == "identity" && !args.empty() && (args[0] == "violations" || args[0] == "simulate")) {
    return IdentityCommand(args);
  }
  if (command == "profile" && !args.empty() && args[0] == "explain") return ProfileExplainCommand(args);
  if (command == "profile" && !args.empty() && args[0] == "split") return ProfileSplitCommand(args);
  if (command == "sinks" && IsSinksSubcommand(args)) return SinksCommand(args);
  if (command == "ingest" || command == "identity" || command == "profiles" || command == "sinks") {
    return StageCommand(command, args);
  }
  if (command == "collector") return CollectorCommand(args);
  if (command == "import") return ImportCommand(args);
  if (command == "profile" && IsQueryProfileCommand(args)) return QueryProfileCommand(args);
  if (command == "query") return QueryCommand(args);
  if (command == "export") return ExportCommand(args);
  if (command == "search") return SearchCommand(args);
  if (command == "segment" && !args.empty() && args[0] == "members") return SegmentMembersCommand(args);
  if (command == "profile") return ProfileCommand(args);
  if (command == "topics") return TopicsCommand(args);
  if (command == "quality") return QualityCommand(args);
  if (command == "segment") return SegmentCommand(args);
  std::fprintf(stderr, "tessera: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}
