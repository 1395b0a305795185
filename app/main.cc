// tessera: one binary, one subcommand per job. See README.md.
#include <cstdio>
#include <string>
#include <vector>

#include "app/collector_command.h"
#include "app/commands.h"
#include "app/identity_commands.h"

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
  import --channel web|social|purchase --brokers HOST:PORT FILE   NDJSON (- for stdin) to a raw topic
  profile get TYPE:VALUE [--data-dir DIR]                   a profile as JSON (works while run holds the store)
  topics create --brokers HOST:PORT [--partitions N]        create Tessera's topics

common options: --config FILE (YAML: identity merge rules, collector sources), --topic-prefix P (default "tessera."), --phone-region TH, --time-zone UTC,
  --workspace default, --batch-size 5000, --block-cache-mb 256,
  --dedup-window-hours 168 (a messageId seen again within it is dropped; 0 keeps duplicates)
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
  if (command == "identity" && !args.empty() && args[0] == "violations") return IdentityCommand(args);
  if (command == "ingest" || command == "identity" || command == "profiles" || command == "sinks") {
    return StageCommand(command, args);
  }
  if (command == "collector") return CollectorCommand(args);
  if (command == "import") return ImportCommand(args);
  if (command == "profile") return ProfileCommand(args);
  if (command == "topics") return TopicsCommand(args);
  std::fprintf(stderr, "tessera: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}
