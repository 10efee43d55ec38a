#include "process/spawn.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

namespace jobnik::process {
namespace {

using domain::ErrorCode;
using domain::Status;

// What the child failed at before exec, reported through a close-on-exec pipe.
enum Step : int { kOutputFile = 1, kWorkingDir, kPrivileges, kExec };

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void Append(Tail& tail, const char* data, std::size_t n, std::size_t limit) {
  tail.total_bytes += n;
  if (n >= limit) {
    tail.text.assign(data + (n - limit), limit);
    return;
  }
  tail.text.append(data, n);
  if (tail.text.size() > limit) tail.text.erase(0, tail.text.size() - limit);
}

// Child side, after fork: only async-signal-safe calls.
[[noreturn]] void Fail(int report, Step step) {
  const int msg[2] = {step, errno};
  (void)!::write(report, msg, sizeof msg);
  _exit(127);
}

}  // namespace

bool ExitStatus::Exited() const {
  return WIFEXITED(raw);
}
int ExitStatus::Code() const {
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}
int ExitStatus::Signal() const {
  return WIFSIGNALED(raw) ? WTERMSIG(raw) : 0;
}

std::string ExitStatus::Describe() const {
  if (WIFEXITED(raw)) return fmt::format("exited with status {}", WEXITSTATUS(raw));
  if (WIFSIGNALED(raw)) return fmt::format("was killed by signal {} ({})", WTERMSIG(raw), strsignal(WTERMSIG(raw)));
  return fmt::format("ended with wait status {}", raw);
}

domain::Result<Child> Child::Spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return domain::ValidationError("argv must not be empty");
  // Everything the child needs is prepared before fork.
  std::vector<char*> args;
  for (const auto& a : options.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  if (options.env) {
    for (const auto& [k, v] : *options.env) env_strings.push_back(std::string(k).append("=").append(v));
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
  }
  const bool capture = options.output_file.empty();
  int out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {out, err, report}) {
      CloseFd(p[0]);
      CloseFd(p[1]);
    }
  };
  // Close-on-exec everywhere, so a child spawned by another thread meanwhile holds none.
  if ((capture && (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)) || ::pipe2(report, O_CLOEXEC) != 0) {
    const int e = errno;
    close_all();
    return Status(ErrorCode::kUnknown, fmt::format("cannot create pipes: {}", std::strerror(e)));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    close_all();
    return Status(ErrorCode::kUnknown, fmt::format("cannot fork: {}", std::strerror(e)));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    ::setsid();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the parent may block SIGINT/SIGTERM in its threads
    ::signal(SIGPIPE, SIG_DFL);
    if (options.stdin_fd >= 0) {
      ::dup2(options.stdin_fd, STDIN_FILENO);
    } else {
      const int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    }
    if (capture) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
    } else {
      // Opened before any privilege drop, in a directory that may belong to the child's
      // user: never through a symlink.
      const int fd = ::open(options.output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
      if (fd < 0) Fail(report[1], kOutputFile);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::close(fd);
    }
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) Fail(report[1], kWorkingDir);
    if (options.run_as) {
      const gid_t gid = options.run_as->gid;
      if ((::geteuid() == 0 && ::setgroups(1, &gid) != 0) || ::setgid(gid) != 0 || ::setuid(options.run_as->uid) != 0) {
        Fail(report[1], kPrivileges);
      }
    }
    // After the privilege drop: a credential change clears the parent-death signal.
    if (options.death_signal != 0) {
      ::prctl(PR_SET_PDEATHSIG, options.death_signal);
      if (::getppid() != parent) _exit(1);
    }
    if (options.env) {
      ::execvpe(args[0], args.data(), envp.data());
    } else {
      ::execvp(args[0], args.data());
    }
    Fail(report[1], kExec);
  }
  CloseFd(out[1]);
  CloseFd(err[1]);
  CloseFd(report[1]);
  int msg[2] = {0, 0};
  ssize_t n = 0;
  do {
    n = ::read(report[0], msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  CloseFd(report[0]);
  if (n == static_cast<ssize_t>(sizeof msg)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    close_all();
    std::string what;
    switch (msg[0]) {
      case kOutputFile:
        what = fmt::format("cannot open {}", options.output_file);
        break;
      case kWorkingDir:
        what = fmt::format("cannot change to directory {}", options.cwd);
        break;
      case kPrivileges:
        what = fmt::format("cannot switch to uid {} gid {}", options.run_as->uid, options.run_as->gid);
        break;
      default:
        what = fmt::format("cannot run '{}'", options.argv[0]);
        break;
    }
    return Status(ErrorCode::kUnknown, fmt::format("{}: {}", what, std::strerror(msg[1])));
  }
  Child child;
  child.pid_ = pid;
  child.pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (child.pidfd_ >= 0) ::fcntl(child.pidfd_, F_SETFD, FD_CLOEXEC);
  child.out_fd_ = out[0];
  child.err_fd_ = err[0];
  for (int fd : {child.out_fd_, child.err_fd_}) {
    if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  child.tail_bytes_ = options.tail_bytes;
  child.on_line_ = options.on_line;
  return child;
}

Child::Child(Child&& other) noexcept {
  *this = std::move(other);
}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    std::swap(pid_, other.pid_);
    std::swap(pidfd_, other.pidfd_);
    std::swap(out_fd_, other.out_fd_);
    std::swap(err_fd_, other.err_fd_);
    std::swap(tail_bytes_, other.tail_bytes_);
    std::swap(out_, other.out_);
    std::swap(err_, other.err_);
    std::swap(status_, other.status_);
    std::swap(on_line_, other.on_line_);
    std::swap(partial_, other.partial_);
  }
  return *this;
}

Child::~Child() {
  if (pid_ > 0 && !status_) Kill(std::chrono::milliseconds(0));
  Close();
}

void Child::Close() {
  CloseFd(pidfd_);
  CloseFd(out_fd_);
  CloseFd(err_fd_);
}

pid_t Child::Release() {
  const pid_t pid = pid_;
  pid_ = -1;
  Close();
  return pid;
}

void Child::Lines(int stream, std::string_view data, bool end) {
  std::string& partial = partial_[stream - 1];
  for (;;) {
    const auto nl = data.find('\n');
    const std::size_t room = kMaxLineBytes - partial.size();
    if (nl == std::string_view::npos || nl > room) {
      if (data.size() < room) {
        partial.append(data);
        break;
      }
      partial.append(data.substr(0, room));  // a piece of a long line
      data.remove_prefix(room);
    } else {
      partial.append(data.substr(0, nl));
      data.remove_prefix(nl + 1);
    }
    on_line_(stream, partial);
    partial.clear();
  }
  if (end && !partial.empty()) {
    on_line_(stream, partial);
    partial.clear();
  }
}

void Child::Drain() {
  char buf[8192];
  int stream = 0;
  for (auto [fd, tail] : {std::pair{&out_fd_, &out_}, std::pair{&err_fd_, &err_}}) {
    ++stream;
    while (*fd >= 0) {
      const ssize_t n = ::read(*fd, buf, sizeof buf);
      if (n > 0) {
        Append(*tail, buf, static_cast<std::size_t>(n), tail_bytes_);
        if (on_line_) Lines(stream, std::string_view(buf, static_cast<std::size_t>(n)), false);
      } else if (n == 0) {
        CloseFd(*fd);  // every writer is gone
      } else if (errno != EINTR) {
        if (errno != EAGAIN) CloseFd(*fd);
        break;
      }
    }
  }
}

bool Child::ExitedNoReap() {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_;
}

bool Child::PollOnce(int ms) {
  pollfd fds[3];
  nfds_t n = 0;
  for (int fd : {out_fd_, err_fd_, pidfd_}) {
    if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
  }
  // Without a pidfd the child's exit is noticed by looking again every 10 ms.
  if (pidfd_ < 0 && (ms < 0 || ms > 10)) ms = 10;
  ::poll(n > 0 ? fds : nullptr, n, ms);
  Drain();
  return ExitedNoReap();
}

ExitStatus Child::Reap() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  Drain();
  status_ = ExitStatus{status};
  CloseFd(pidfd_);
  // A process of the group may still hold the pipes: what it writes later is not read.
  CloseFd(out_fd_);
  CloseFd(err_fd_);
  if (on_line_) {
    Lines(1, {}, true);
    Lines(2, {}, true);
  }
  return *status_;
}

std::optional<ExitStatus> Child::Wait(std::optional<std::chrono::milliseconds> timeout) {
  if (status_) return status_;
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout.value_or(std::chrono::milliseconds(0));
  for (;;) {
    if (ExitedNoReap()) return Reap();
    int ms = -1;
    if (timeout) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) return std::nullopt;
      ms = static_cast<int>(std::min<long long>(left, 1'000'000));
    }
    if (PollOnce(ms)) return Reap();
  }
}

ExitStatus Child::Kill(std::chrono::milliseconds grace) {
  if (status_) return *status_;
  if (pid_ <= 0) return ExitStatus{};  // released or moved from: never kill(-pid) of no group
  // The child is not reaped before the SIGKILL, so its group id cannot have been reused.
  ::kill(-pid_, SIGTERM);
  if (grace.count() > 0) {
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (!ExitedNoReap()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) break;
      PollOnce(static_cast<int>(left));
    }
  }
  ::kill(-pid_, SIGKILL);
  return Reap();
}

domain::Result<RunResult> Run(const SpawnOptions& options, std::optional<std::chrono::milliseconds> timeout,
                              std::chrono::milliseconds grace) {
  JOBNIK_ASSIGN_OR_RETURN(auto child, Child::Spawn(options));
  RunResult result;
  if (auto status = child.Wait(timeout)) {
    result.status = *status;
  } else {
    result.timed_out = true;
    result.status = child.Kill(grace);
  }
  result.out = child.Stdout();
  result.err = child.Stderr();
  return result;
}

}  // namespace jobnik::process
