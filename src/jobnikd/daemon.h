// jobnikd's program: command line, wiring of every part, and the process life
// cycle (start-up, signals, graceful shutdown). main.cc only calls Main().
#pragma once

#include <ostream>

namespace jobnik {

// Returns an exit code of process::ExitCode (lib/process/exit_code.h).
int Main(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace jobnik
