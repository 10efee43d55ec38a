#include "process/runner.h"

#include <fmt/format.h>
#include <sys/mman.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>

namespace jobnik::process {
namespace {

using domain::ErrorCode;
using domain::Status;

// An in-memory file holding `data`, positioned at its start; -1 and errno on failure.
int StdinFile(const std::string& data) {
  const int fd = ::memfd_create("jobnik-stdin", MFD_CLOEXEC);
  if (fd < 0) return -1;
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      errno = e;
      return -1;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::lseek(fd, 0, SEEK_SET) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

}  // namespace

domain::Result<RunResult> SpawnRunner::Run(const RunRequest& request, const std::stop_token& stop) {
  SpawnOptions options = request.spawn;
  options.stdin_fd = -1;
  if (!request.stdin_data.empty()) {
    options.stdin_fd = StdinFile(request.stdin_data);
    if (options.stdin_fd < 0) {
      return Status(ErrorCode::kUnknown,
                    fmt::format("cannot hold the stdin of '{}': {}", options.argv.empty() ? "" : options.argv[0],
                                std::strerror(errno)));
    }
  }
  auto spawned = Child::Spawn(options);
  if (options.stdin_fd >= 0) ::close(options.stdin_fd);
  if (!spawned.ok()) return spawned.status();
  Child child = std::move(spawned).value();

  // Wait in slices so that a stop request is seen within one.
  constexpr std::chrono::milliseconds kSlice(100);
  const auto deadline =
      request.timeout ? std::optional(std::chrono::steady_clock::now() + *request.timeout) : std::nullopt;
  RunResult result;
  for (;;) {
    if (stop.stop_requested()) {
      result.cancelled = true;
      result.status = child.Kill(request.grace);
      break;
    }
    auto slice = kSlice;
    if (deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
      if (left <= std::chrono::milliseconds::zero()) {
        result.timed_out = true;
        result.status = child.Kill(request.grace);
        break;
      }
      slice = std::min(slice, left);
    }
    if (auto status = child.Wait(slice)) {
      result.status = *status;
      break;
    }
  }
  result.out = child.Stdout();
  result.err = child.Stderr();
  return result;
}

}  // namespace jobnik::process
