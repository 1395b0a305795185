// `tessera sinks deliver|status|replay`: the delivery workers of issue 7 (docs/sinks.md). The
// plain `tessera sinks --brokers ...` stage (profile-changes -> profile-updates) is StageCommand.
#pragma once

#include <string>
#include <vector>

namespace tessera::app {

// True when `args` (after "sinks") name one of the subcommands below.
bool IsSinksSubcommand(const std::vector<std::string>& args);
// args[0] is deliver, status or replay.
int SinksCommand(const std::vector<std::string>& args);

}  // namespace tessera::app
