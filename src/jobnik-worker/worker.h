// jobnik-worker's program: the command line. main.cc only calls Main(), so tests run it
// in-process with their own streams.
#pragma once

#include <ostream>

namespace jobnik::worker {

// Returns an exit code of process::ExitCode (lib/process/exit_code.h); a command-line
// error is kUsage.
int Main(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace jobnik::worker
