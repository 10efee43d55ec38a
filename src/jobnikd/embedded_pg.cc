#include "embedded_pg.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "process/spawn.h"

namespace jobnik {
namespace fs = std::filesystem;
namespace {

using domain::ErrorCode;
using domain::Status;

constexpr const char* kRole = "jobnik";

std::string FindBinDir(const std::string& configured) {
  if (!configured.empty()) return configured;
  for (const char* dir : {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"}) {
    if (fs::exists(fs::path(dir) / "postgres")) return dir;
  }
  return "";
}

// The user the server runs as: ourselves, or `postgres` when we are root.
struct RunAs {
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

domain::Result<RunAs> ServerUser() {
  if (geteuid() != 0) return RunAs{};
  const passwd* pw = getpwnam("postgres");
  if (!pw) {
    return Status(ErrorCode::kUnknown,
                  "the embedded database cannot run as root and there is no 'postgres' user; run jobnikd as another "
                  "user or give --database-url");
  }
  return RunAs{true, pw->pw_uid, pw->pw_gid};
}

void Chown(const fs::path& path, const RunAs& as) {
  if (!as.drop) return;
  if (::chown(path.c_str(), as.uid, as.gid) != 0) {
    throw std::runtime_error(
        fmt::format("cannot hand {} to the postgres user: {}", path.string(), std::strerror(errno)));
  }
}

// Hands the directory open as `fd` (just created, or found at `path`) to the server's
// user with mode 0700, through the descriptor: nothing is resolved by name again.
void SecureDirFd(int fd, const std::string& path, const RunAs& as) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw std::runtime_error(fmt::format("cannot stat {}: {}", path, std::strerror(errno)));
  if (!S_ISDIR(st.st_mode)) throw std::runtime_error(fmt::format("{} is not a directory", path));
  if (st.st_uid != geteuid() && !(as.drop && st.st_uid == as.uid)) {
    throw std::runtime_error(fmt::format(
        "{} belongs to uid {}, neither jobnikd nor its database user: refusing to use it", path, st.st_uid));
  }
  if (as.drop && ::fchown(fd, as.uid, as.gid) != 0) {
    throw std::runtime_error(fmt::format("cannot hand {} to the postgres user: {}", path, std::strerror(errno)));
  }
  if (::fchmod(fd, S_IRWXU) != 0)
    throw std::runtime_error(fmt::format("cannot chmod {}: {}", path, std::strerror(errno)));
}

// Creates (if missing) a private directory for the server at `path`. A symlink there
// is refused, never followed: the parent may be writable by the server's user.
void MakeServerDir(const fs::path& path, const RunAs& as) {
  if (::mkdir(path.c_str(), S_IRWXU) != 0 && errno != EEXIST) {
    throw std::runtime_error(fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    throw std::runtime_error(
        fmt::format("cannot open {} (a symlink is refused): {}", path.string(), std::strerror(errno)));
  }
  try {
    SecureDirFd(fd, path.string(), as);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

// As root, the server runs as `postgres`, which must be able to reach the data
// directory through every parent. Checked up front for a clear message.
void CheckReachable(const fs::path& dir, const RunAs& as) {
  if (!as.drop) return;
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) {
      const mode_t need = st.st_uid == as.uid ? S_IXUSR : st.st_gid == as.gid ? S_IXGRP : S_IXOTH;
      if ((st.st_mode & need) == 0) {
        throw std::runtime_error(fmt::format(
            "the postgres user cannot reach {} ({} is not searchable for it); as root the embedded database runs "
            "as 'postgres': choose a --data-dir under searchable directories, or run jobnikd as another user",
            dir.string(), p.string()));
      }
    }
    if (p == p.root_path()) break;
  }
}

// Starts `argv` as `as`, stdout/stderr appended to `log`, in a session of its own. With
// `bind_to_parent`, the server gets SIGINT (fast shutdown) when the thread that spawned it
// ends (PR_SET_PDEATHSIG follows the thread that forked). The caller owns the pid.
domain::Result<pid_t> Spawn(const std::vector<std::string>& argv, const RunAs& as, const std::string& log,
                            bool bind_to_parent) {
  process::SpawnOptions options;
  options.argv = argv;
  options.output_file = log;
  if (as.drop) options.run_as = process::SpawnOptions::User{as.uid, as.gid};
  if (bind_to_parent) options.death_signal = SIGINT;
  JOBNIK_ASSIGN_OR_RETURN(auto child, process::Child::Spawn(options));
  return child.Release();
}

bool CanConnect(const std::string& url) {
  try {
    pqxx::connection c(url);
    return c.is_open();
  } catch (const std::exception&) {
    return false;
  }
}

// The postmaster pid recorded in the cluster's postmaster.pid; 0 if there is none.
pid_t PostmasterPid(const std::string& cluster) {
  std::ifstream in(cluster + "/postmaster.pid");
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  return static_cast<pid_t>(pid);
}

bool Alive(pid_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

// "exited with status 1", "was killed by signal 9 (Killed)".
std::string Describe(int status) {
  return process::ExitStatus{status}.Describe();
}

}  // namespace

EmbeddedPostgres::~EmbeddedPostgres() {
  Stop();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

// DATA_DIR/jobnikd.lock, flock'ed for the life of this object, with our pid in it.
Status EmbeddedPostgres::LockDataDir(const std::string& data_dir) {
  const std::string path = data_dir + "/jobnikd.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
  if (fd < 0) return Status(ErrorCode::kUnknown, fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status(ErrorCode::kUnknown, fmt::format("{} is not a regular file", path));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) {
      return Status(ErrorCode::kUnknown, fmt::format("cannot lock {}: {}", path, std::strerror(err)));
    }
    const long holder = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
    const pid_t postmaster = PostmasterPid(data_dir + "/postgres");
    return Status(ErrorCode::kUnavailable,
                  fmt::format("data dir {} is in use by {}{}; stop it first or choose another --data-dir", data_dir,
                              holder > 0 ? fmt::format("jobnikd pid {}", holder) : std::string("another jobnikd"),
                              Alive(postmaster) ? fmt::format(" (its PostgreSQL runs as pid {})", postmaster) : ""));
  }
  const std::string pid = fmt::format("{}\n", getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    spdlog::warn("cannot write the pid to {}: {}", path, std::strerror(errno));
  }
  lock_fd_ = fd;
  return Status::Ok();
}

Status EmbeddedPostgres::InitDb(const std::string& bin_dir, const std::string& cluster) {
  const RunAs as{drop_, uid_, gid_};
  spdlog::info("embedded database: initialising {}", cluster);
  const std::string tmp = cluster + ".init";
  fs::remove_all(tmp);
  MakeServerDir(tmp, as);
  JOBNIK_ASSIGN_OR_RETURN(const pid_t pid, Spawn({bin_dir + "/initdb", "-D", tmp, "-U", kRole, "-A", "trust", "-E",
                                                  "UTF8", "--no-locale", "--no-instructions"},
                                                 as, log_, false));
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status(ErrorCode::kUnknown, fmt::format("initdb failed (see {})", log_));
  }
  // Only a complete cluster gets the final name, so an interrupted initdb is redone.
  fs::rename(tmp, cluster);
  return Status::Ok();
}

domain::Result<pid_t> EmbeddedPostgres::SpawnServer() {
  return Spawn({bin_dir_ + "/postgres", "-D", cluster_, "-k", socket_dir_, "-c", "listen_addresses=", "-c",
                "unix_socket_permissions=0700", "-c", "max_connections=200", "-c", "logging_collector=off",
                // JIT needs writable+executable memory, which hardened units
                // (MemoryDenyWriteExecute) forbid; Jobnik's queries gain nothing from it.
                "-c", "jit=off"},
               RunAs{drop_, uid_, gid_}, log_, true);
}

// Waits until the server `pid` (our child) accepts connections. Connects only once
// postmaster.pid names it: a socket answering for another server is never used. If the
// child exits or the timeout passes, it is reaped and an error returned.
Status EmbeddedPostgres::WaitReady(pid_t pid, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Reaps `pid` if it has exited; pid_ is cleared first so Stop() never signals a reaped pid.
  auto reaped = [this, pid](int& status, int flags) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT | flags) != 0 || info.si_pid != pid) {
      return false;
    }
    {
      std::lock_guard lock(mu_);
      if (pid_ == pid) pid_ = -1;
    }
    ::waitpid(pid, &status, 0);
    return true;
  };
  for (;;) {
    int status = 0;
    if (reaped(status, WNOHANG)) {
      const pid_t other = PostmasterPid(cluster_);
      if (other != pid && Alive(other)) {
        return Status(ErrorCode::kUnavailable,
                      fmt::format("data dir {} is in use by PostgreSQL pid {}, which this jobnikd did not start; stop "
                                  "it first (see {})",
                                  data_dir_, other, log_));
      }
      return Status(ErrorCode::kUnavailable,
                    fmt::format("the embedded PostgreSQL {} at start (see {})", Describe(status), log_));
    }
    if (PostmasterPid(cluster_) == pid && CanConnect(url_)) return Status::Ok();
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGQUIT);  // immediate shutdown
      const auto hard = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!reaped(status, WNOHANG)) {
        if (std::chrono::steady_clock::now() > hard) {
          ::kill(pid, SIGKILL);
          reaped(status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      return Status(ErrorCode::kUnavailable,
                    fmt::format("the embedded PostgreSQL did not start in time (see {})", log_));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::optional<std::string> EmbeddedPostgres::RunningUrl(const std::string& data_dir) {
  const std::string socket_dir = (fs::path(data_dir) / "run").string();
  std::error_code ec;
  if (!fs::exists(fs::path(socket_dir) / ".s.PGSQL.5432", ec)) return std::nullopt;
  return fmt::format("postgresql://{}@/postgres?host={}", kRole, socket_dir);
}

domain::Result<std::string> EmbeddedPostgres::Start() {
  try {
    bin_dir_ = FindBinDir(options_.bin_dir);
    if (bin_dir_.empty()) {
      return Status(ErrorCode::kUnknown,
                    "PostgreSQL server binaries not found (install postgresql-15, or set postgres_bin_dir)");
    }
    JOBNIK_ASSIGN_OR_RETURN(const auto as, ServerUser());
    drop_ = as.drop;
    uid_ = as.uid;
    gid_ = as.gid;
    const fs::path data_dir = fs::absolute(options_.data_dir).lexically_normal();
    data_dir_ = data_dir.string();
    fs::create_directories(data_dir);
    // Before anything else: the data directory is ours alone, or we stop here.
    JOBNIK_TRY(LockDataDir(data_dir_));
    Chown(data_dir, as);
    CheckReachable(data_dir, as);
    cluster_ = (data_dir / "postgres").string();
    log_ = (data_dir / "postgres.log").string();
    if (!fs::exists(fs::path(cluster_) / "PG_VERSION")) {
      JOBNIK_TRY(InitDb(bin_dir_, cluster_));
    }
    // Unix socket paths are limited to 107 bytes. A longer one gets a fresh private
    // directory in /tmp (random name, created by mkdtemp, removed on Stop()).
    socket_dir_ = (data_dir / "run").string();
    if (socket_dir_.size() + 20 > 107) {
      std::string name = "/tmp/jobnik-XXXXXX";
      if (!::mkdtemp(name.data())) {
        throw std::runtime_error(fmt::format("cannot create a socket directory in /tmp: {}", std::strerror(errno)));
      }
      socket_dir_ = name;
      socket_dir_fd_ = ::open(socket_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (socket_dir_fd_ < 0) {
        throw std::runtime_error(fmt::format("cannot open {}: {}", socket_dir_, std::strerror(errno)));
      }
      SecureDirFd(socket_dir_fd_, socket_dir_, as);
    } else {
      MakeServerDir(socket_dir_, as);
    }
    url_ = fmt::format("postgresql://{}@/postgres?host={}", kRole, socket_dir_);
    spdlog::info("embedded database: starting PostgreSQL in {} (socket {})", cluster_, socket_dir_);
    pid_t pid = -1;
    Status spawned;
    {
      std::lock_guard lock(mu_);
      stopping_ = false;
      auto server = SpawnServer();
      spawned = server.status();
      if (server.ok()) pid = pid_ = *server;
    }
    if (!spawned.ok()) {
      RemoveSocketDir();
      return Status(ErrorCode::kUnavailable,
                    fmt::format("the embedded PostgreSQL cannot start: {} (see {})", spawned.message(), log_));
    }
    if (auto s = WaitReady(pid, std::chrono::seconds(options_.start_timeout_seconds)); !s.ok()) {
      RemoveSocketDir();
      return s;
    }
    {
      std::lock_guard lock(mu_);
      state_ = State::kRunning;
    }
    spdlog::info("embedded database: ready (PostgreSQL pid {})", pid);
    return url_;
  } catch (const std::exception& e) {
    RemoveSocketDir();
    return Status(ErrorCode::kUnknown, fmt::format("embedded database: {}", e.what()));
  }
}

void EmbeddedPostgres::Supervise() {
  std::lock_guard lock(mu_);
  if (supervisor_.joinable() || pid_ <= 0 || stopping_) return;
  supervised_ = true;
  supervisor_done_ = false;
  supervisor_ = std::thread([this] { SuperviseLoop(); });
}

// The only place that reaps the server once supervision runs. Restarts it after an
// unexpected exit, waiting kRestartBackoff before each attempt; gives up after
// kRestartAttempts failures in a row (state kFailed: the daemon exits non-zero).
void EmbeddedPostgres::SuperviseLoop() {
  std::unique_lock lock(mu_);
  while (pid_ > 0) {
    const pid_t pid = pid_;
    lock.unlock();
    // Wait without reaping, so pid_ can be cleared before the pid is released.
    siginfo_t info{};
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
    }
    lock.lock();
    pid_ = -1;
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (stopping_) break;
    state_ = State::kRestarting;
    down_since_ = std::chrono::steady_clock::now();
    spdlog::error("embedded database: PostgreSQL (pid {}) {}; restarting it (see {})", pid, Describe(status), log_);
    for (int attempt = 1; attempt <= kRestartAttempts; ++attempt) {
      if (cv_.wait_for(lock, kRestartBackoff[attempt - 1], [this] { return stopping_; })) break;
      auto spawned = SpawnServer();
      Status s = spawned.status();
      const pid_t next = spawned.ok() ? *spawned : -1;
      if (spawned.ok()) {
        pid_ = next;
        lock.unlock();
        s = WaitReady(next, std::chrono::seconds(options_.start_timeout_seconds));
        lock.lock();
      }
      if (s.ok()) {
        state_ = State::kRunning;
        spdlog::info("embedded database: restarted (PostgreSQL pid {}, attempt {}/{})", next, attempt,
                     kRestartAttempts);
        if (on_restart_) on_restart_();
        break;
      }
      if (stopping_) break;
      spdlog::error("embedded database: restart attempt {}/{} failed: {}", attempt, kRestartAttempts, s.message());
    }
    if (state_ == State::kRunning) continue;  // watch the new server (reaped at the top even when stopping)
    if (stopping_) break;
    state_ = State::kFailed;
    spdlog::critical("embedded database: PostgreSQL could not be restarted ({} attempts); giving up", kRestartAttempts);
    break;
  }
  supervisor_done_ = true;
  cv_.notify_all();
}

void EmbeddedPostgres::SetOnRestart(std::function<void()> on_restart) {
  std::lock_guard lock(mu_);
  on_restart_ = std::move(on_restart);
}

bool EmbeddedPostgres::Healthy() const {
  std::lock_guard lock(mu_);
  if (state_ == State::kFailed) return false;
  if (state_ == State::kRestarting) return std::chrono::steady_clock::now() - down_since_ < kHealthGrace;
  return true;
}

bool EmbeddedPostgres::Failed() const {
  std::lock_guard lock(mu_);
  return state_ == State::kFailed;
}

void EmbeddedPostgres::Stop() {
  std::unique_lock lock(mu_);
  stopping_ = true;
  cv_.notify_all();  // wakes a supervisor waiting to restart
  std::thread supervisor = std::move(supervisor_);
  if (pid_ > 0) {
    spdlog::info("embedded database: stopping");
    ::kill(pid_, SIGINT);  // fast shutdown: roll back open transactions, checkpoint, exit
  }
  const auto timeout = std::chrono::seconds(30);
  if (supervised_) {
    // The supervisor reaps the server (and clears pid_ first).
    if (!cv_.wait_for(lock, timeout, [this] { return supervisor_done_; })) {
      if (pid_ > 0) ::kill(pid_, SIGQUIT);  // immediate shutdown; crash recovery on the next start
      cv_.wait(lock, [this] { return supervisor_done_; });
    }
    if (supervisor.joinable()) {  // a concurrent Stop() joins nothing, but waits as long
      lock.unlock();
      supervisor.join();
      lock.lock();
    }
  } else if (pid_ > 0) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGQUIT);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }
  if (state_ != State::kFailed) state_ = State::kStopped;
  lock.unlock();
  RemoveSocketDir();
}

// Empties and removes a temporary socket directory through the descriptor opened when it
// was created (whatever is at its name now is not followed).
void EmbeddedPostgres::RemoveSocketDir() {
  std::lock_guard lock(mu_);
  if (socket_dir_fd_ < 0) return;
  if (DIR* dir = ::fdopendir(::dup(socket_dir_fd_))) {
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(dir)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(dir);
    for (const auto& name : names) ::unlinkat(socket_dir_fd_, name.c_str(), 0);
  }
  ::close(socket_dir_fd_);
  socket_dir_fd_ = -1;
  if (::rmdir(socket_dir_.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("embedded database: cannot remove {}: {}", socket_dir_, std::strerror(errno));
  }
}

}  // namespace jobnik
