// jobnikctl's program: the command line and each command. main.cc only calls Main(),
// so tests run it in-process with their own streams.
#pragma once

#include <ostream>

namespace jobnik::ctl {

// Parses the command line, runs the command and returns an exit code of process::ExitCode
// (lib/process/exit_code.h; documented in jobnikctl(1), EXIT STATUS): a command-line,
// configuration or job spec error is kUsage, jobnikd unreachable kUnavailable, a missing
// entity kNotFound, a job that ended FAILED/ABORTED kJobFailed/kJobAborted, --timeout
// kTimeout, any other failure kFailure.
int Main(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace jobnik::ctl
