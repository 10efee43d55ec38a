// jobnikctl's program: the command line and each command. main.cc only calls Main(),
// so tests run it in-process with their own streams.
#pragma once

#include <ostream>

namespace jobnik::ctl {

// Returns an exit code of process::ExitCode (lib/process/exit_code.h): ping exits kOk
// when jobnikd is ready, kFailure when it answers but is not, kUnavailable when it cannot
// be reached; a command-line error is kUsage.
int Main(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace jobnik::ctl
