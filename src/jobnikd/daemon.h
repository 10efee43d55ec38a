// jobnikd's program: command line, wiring of every part, and the process life
// cycle (start-up, signals, graceful shutdown). main.cc only calls Main().
#pragma once

#include <ostream>

namespace jobnik {

// Exit codes of jobnikd.
enum class ExitCode : int {
  kOk = 0,
  kFailure = 1,      // a runtime failure (database unreachable, bind failed, ...)
  kUsage = 2,        // bad command line or configuration
};

int Main(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace jobnik
