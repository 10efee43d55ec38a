// Running a command to its end, as a seam: jobnik-worker runs task commands through a
// ProcessRunner, so that its unit tests script the commands' results (FakeProcessRunner,
// fake_runner.h) instead of running programs.
#pragma once

#include <chrono>
#include <optional>
#include <stop_token>
#include <string>

#include "domain/error.h"
#include "process/spawn.h"

namespace jobnik::process {

struct RunRequest {
  // argv, env, cwd, output capture, privilege drop, death signal (spawn.h). Its stdin_fd
  // is not used: the child reads `stdin_data`.
  SpawnOptions spawn;
  std::string stdin_data;                            // what the child reads on stdin (then end of file)
  std::optional<std::chrono::milliseconds> timeout;  // then the group is killed: timed_out
  std::chrono::milliseconds grace{5000};             // SIGTERM -> SIGKILL on timeout or cancel
};

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Runs the command to its end: its exit status, its output's tails, and whether it was
  // killed for its timeout (timed_out) or because `stop` was requested (cancelled: the
  // whole group is killed as on a timeout). An error when it could not be started.
  virtual domain::Result<RunResult> Run(const RunRequest& request, const std::stop_token& stop) = 0;
  domain::Result<RunResult> Run(const RunRequest& request) { return Run(request, std::stop_token()); }
};

// The real runner: spawn.h's Child. Thread-safe.
class SpawnRunner final : public ProcessRunner {
 public:
  using ProcessRunner::Run;
  domain::Result<RunResult> Run(const RunRequest& request, const std::stop_token& stop) override;
};

}  // namespace jobnik::process
