// A ProcessRunner for unit tests: answers from a queue of scripted results, then from a
// handler function (which sees the request and the stop token, e.g. to act as a command
// that runs until cancelled); records every request. Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "process/runner.h"

namespace jobnik::process {

class FakeProcessRunner final : public ProcessRunner {
 public:
  using Handler = std::function<domain::Result<RunResult>(const RunRequest&, const std::stop_token&)>;

  FakeProcessRunner() = default;
  explicit FakeProcessRunner(Handler handler) : handler_(std::move(handler)) {}

  void SetHandler(Handler handler);
  // Queues a result (or an error: the command could not be started).
  void Script(domain::Result<RunResult> result);
  // Queues an exit with `code` and these outputs.
  void ScriptExit(int code, std::string out = "", std::string err = "");

  std::vector<RunRequest> requests() const;
  std::size_t run_count() const;

  using ProcessRunner::Run;
  // Without a scripted result or a handler: an error naming the command.
  domain::Result<RunResult> Run(const RunRequest& request, const std::stop_token& stop) override;

 private:
  mutable std::mutex mu_;
  Handler handler_;
  std::deque<domain::Result<RunResult>> script_;
  std::vector<RunRequest> requests_;
};

// A RunResult of an exit with `code` (for scripts and handlers).
RunResult ExitedWith(int code, std::string out = "", std::string err = "");

}  // namespace jobnik::process
