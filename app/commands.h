// tessera's subcommands. Each takes its arguments (after the subcommand name) and returns the
// process exit code; main.cc only dispatches.
#pragma once

#include <string>
#include <vector>

namespace tessera::app {

int RunCommand(const std::vector<std::string>& args);            // tessera run
int StageCommand(const std::string& stage, const std::vector<std::string>& args);  // tessera ingest|identity|profiles|sinks
int ImportCommand(const std::vector<std::string>& args);         // tessera import
int ProfileCommand(const std::vector<std::string>& args);        // tessera profile get
int TopicsCommand(const std::vector<std::string>& args);         // tessera topics create

}  // namespace tessera::app
