// Starting and killing tessera processes from tests (posix_spawn; output to a log file).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace tessera::testing {

class ChildProcess {
 public:
  // Starts argv[0] with its stdout and stderr appended to `log_path`. Aborts the test binary if
  // the spawn itself fails (a broken test environment, not a test result).
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ~ChildProcess();  // SIGKILLs a child still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool Running();
  void Signal(int signal);
  // Waits for exit; returns the exit status (128 + signal when killed).
  int Wait();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Runs a command to completion and returns its stdout; `exit_code` receives its status.
std::string RunAndCapture(const std::vector<std::string>& argv, int* exit_code);

}  // namespace tessera::testing
