#include "process/fake_runner.h"

#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace jobnik::process {

RunResult ExitedWith(int code, std::string out, std::string err) {
  RunResult r;
  r.status = ExitStatus::OfCode(code);
  r.out.total_bytes = out.size();
  r.out.text = std::move(out);
  r.err.total_bytes = err.size();
  r.err.text = std::move(err);
  return r;
}

void FakeProcessRunner::SetHandler(Handler handler) {
  std::lock_guard lock(mu_);
  handler_ = std::move(handler);
}

void FakeProcessRunner::Script(domain::Result<RunResult> result) {
  std::lock_guard lock(mu_);
  script_.push_back(std::move(result));
}

void FakeProcessRunner::ScriptExit(int code, std::string out, std::string err) {
  Script(ExitedWith(code, std::move(out), std::move(err)));
}

std::vector<RunRequest> FakeProcessRunner::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::size_t FakeProcessRunner::run_count() const {
  std::lock_guard lock(mu_);
  return requests_.size();
}

domain::Result<RunResult> FakeProcessRunner::Run(const RunRequest& request, const std::stop_token& stop) {
  std::optional<domain::Result<RunResult>> scripted;
  Handler handler;
  {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    if (!script_.empty()) {
      scripted = std::move(script_.front());
      script_.pop_front();
    } else {
      handler = handler_;
    }
  }
  if (!scripted && !handler) {
    return domain::Status(domain::ErrorCode::kUnknown,
                          "cannot run '" + (request.spawn.argv.empty() ? std::string() : request.spawn.argv[0]) +
                              "': no result scripted (fake)");
  }
  domain::Result<RunResult> result = scripted ? std::move(*scripted) : handler(request, stop);
  // The output's lines, as the real runner passes them on.
  if (result.ok() && request.spawn.on_line) {
    for (const auto& [stream, tail] : {std::pair{1, &result->out}, std::pair{2, &result->err}}) {
      std::istringstream in(tail->text);
      std::string line;
      while (std::getline(in, line)) request.spawn.on_line(stream, line);
    }
  }
  return result;
}

}  // namespace jobnik::process
