#include "process/spawn.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <memory>
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

// Child side: only async-signal-safe calls, no allocation (see ChildMain).
[[noreturn]] void Fail(int report, Step step) {
  const int msg[2] = {step, errno};
  (void)!::write(report, msg, sizeof msg);
  _exit(127);
}

// What the child needs, all prepared by the parent before the clone.
struct ChildSetup {
  const SpawnOptions* options;
  char* const* argv;
  char* const* envp;  // nullptr: the parent's environment
  int out_w, err_w, report_w;
  pid_t parent;
  bool capture;
};

// The child, from the clone to the exec. It shares the parent's memory (CLONE_VM) while the
// spawning thread is suspended (CLONE_VFORK), and runs on a stack of its own: so it may only
// make system calls and write nothing but its own stack (no malloc, no locks; the other
// threads of the parent keep running). Credentials change by raw system calls: glibc's
// wrappers would try to change those of every thread of the (shared) process.
int ChildMain(void* arg) {
  const auto& c = *static_cast<const ChildSetup*>(arg);
  const SpawnOptions& options = *c.options;
  ::setsid();
  // Signals are blocked (by the parent, around the clone) until no handler of the parent
  // can run here: handlers go back to the default, and the child starts with none blocked.
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa {};
    if (::sigaction(sig, nullptr, &sa) != 0) continue;  // glibc's own signals, SIGKILL, SIGSTOP
    const bool handled = (sa.sa_flags & SA_SIGINFO) != 0 || (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);
    if (handled || sig == SIGPIPE) {
      sa = {};
      sa.sa_handler = SIG_DFL;
      ::sigaction(sig, &sa, nullptr);
    }
  }
  if (options.stdin_fd >= 0) {
    ::dup2(options.stdin_fd, STDIN_FILENO);
  } else {
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
  }
  if (c.capture) {
    ::dup2(c.out_w, STDOUT_FILENO);
    ::dup2(c.err_w, STDERR_FILENO);
  } else {
    // Opened before any privilege drop, in a directory that may belong to the child's
    // user: never through a symlink.
    const int fd = ::open(options.output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
    if (fd < 0) Fail(c.report_w, kOutputFile);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) Fail(c.report_w, kWorkingDir);
  if (options.run_as) {
    const gid_t gid = options.run_as->gid;
    if ((::geteuid() == 0 && ::syscall(SYS_setgroups, 1, &gid) != 0) || ::syscall(SYS_setgid, gid) != 0 ||
        ::syscall(SYS_setuid, options.run_as->uid) != 0) {
      Fail(c.report_w, kPrivileges);
    }
  }
  // After the privilege drop: a credential change clears the parent-death signal.
  if (options.death_signal != 0) {
    ::prctl(PR_SET_PDEATHSIG, options.death_signal);
    if (::getppid() != c.parent) _exit(1);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the parent may block SIGINT/SIGTERM in its threads
  if (c.envp != nullptr) {
    ::execvpe(c.argv[0], c.argv, c.envp);
  } else {
    ::execvp(c.argv[0], c.argv);
  }
  Fail(c.report_w, kExec);
}

// The child's stack: one per spawning thread, made on its first spawn. execvp's $PATH
// search keeps the candidate path on it.
char* ChildStackTop() {
  constexpr std::size_t kSize = std::size_t{256} * 1024;
  thread_local const std::unique_ptr<char[]> stack(new char[kSize]);
  // The top, aligned to 16 bytes as the ABI wants.
  char* top = stack.get() + kSize;
  return top - (reinterpret_cast<std::uintptr_t>(top) % 16);
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
  // Everything the child needs is prepared before the clone.
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
  const ChildSetup setup{&options,   args.data(), options.env ? envp.data() : nullptr, out[1], err[1], report[1],
                         ::getpid(), capture};
  // clone(CLONE_VM | CLONE_VFORK) rather than fork: nothing of the parent's memory is copied,
  // so a spawn costs the same in a large, many-threaded process as in a small one; this
  // thread waits until the child has called exec (or exited).
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid =
      ::clone(ChildMain, ChildStackTop(), CLONE_VM | CLONE_VFORK | SIGCHLD, const_cast<ChildSetup*>(&setup));
  const int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    close_all();
    return Status(ErrorCode::kUnknown, fmt::format("cannot start a process: {}", std::strerror(clone_errno)));
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
