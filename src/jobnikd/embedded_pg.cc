#include "embedded_pg.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <pqxx/pqxx>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

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
    throw std::runtime_error(fmt::format("cannot hand {} to the postgres user: {}", path.string(), std::strerror(errno)));
  }
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

// fork + exec `argv`, as `as`, stdout/stderr to `log`. In the child, dies with the parent.
pid_t Spawn(const std::vector<std::string>& argv, const RunAs& as, const std::string& log, bool bind_to_parent) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: only async-signal-safe calls from here on.
  setsid();
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  const int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  if (as.drop && (setgid(as.gid) != 0 || setuid(as.uid) != 0)) _exit(126);
  // After setuid: a credential change clears the parent-death signal.
  if (bind_to_parent) {
    prctl(PR_SET_PDEATHSIG, SIGINT);  // fast shutdown when jobnikd dies
    if (getppid() != parent) _exit(1);
  }
  execv(args[0], args.data());
  _exit(127);
}

bool CanConnect(const std::string& url) {
  try {
    pqxx::connection c(url);
    return c.is_open();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

EmbeddedPostgres::~EmbeddedPostgres() { Stop(); }

Status EmbeddedPostgres::InitDb(const std::string& bin_dir, const std::string& cluster) {
  auto as = ServerUser();
  if (!as.ok()) return as.status();
  spdlog::info("embedded database: initialising {}", cluster);
  const std::string log = (fs::path(options_.data_dir) / "postgres.log").string();
  const std::string tmp = cluster + ".init";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  Chown(tmp, *as);
  const pid_t pid = Spawn({bin_dir + "/initdb", "-D", tmp, "-U", kRole, "-A", "trust", "-E", "UTF8", "--no-locale",
                           "--no-instructions"},
                          *as, log, false);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status(ErrorCode::kUnknown, fmt::format("initdb failed (see {})", log));
  }
  // Only a complete cluster gets the final name, so an interrupted initdb is redone.
  fs::rename(tmp, cluster);
  return Status::Ok();
}

domain::Result<std::string> EmbeddedPostgres::Start() {
  try {
    const std::string bin_dir = FindBinDir(options_.bin_dir);
    if (bin_dir.empty()) {
      return Status(ErrorCode::kUnknown,
                    "PostgreSQL server binaries not found (install postgresql-15, or set postgres_bin_dir)");
    }
    auto as = ServerUser();
    if (!as.ok()) return as.status();
    const fs::path data_dir = fs::absolute(options_.data_dir).lexically_normal();
    fs::create_directories(data_dir);
    Chown(data_dir, *as);
    CheckReachable(data_dir, *as);
    const std::string cluster = (data_dir / "postgres").string();
    if (!fs::exists(fs::path(cluster) / "PG_VERSION")) {
      if (auto s = InitDb(bin_dir, cluster); !s.ok()) return s;
    }
    // Unix socket paths are limited to 107 bytes.
    socket_dir_ = (data_dir / "run").string();
    if (socket_dir_.size() + 20 > 107) {
      socket_dir_ = fmt::format("/tmp/jobnik-{}-{}", getuid(), std::hash<std::string>{}(data_dir.string()) % 1000000007);
    }
    fs::create_directories(socket_dir_);
    fs::permissions(socket_dir_, fs::perms::owner_all);
    Chown(socket_dir_, *as);
    const std::string log = (data_dir / "postgres.log").string();
    spdlog::info("embedded database: starting PostgreSQL in {} (socket {})", cluster, socket_dir_);
    pid_ = Spawn({bin_dir + "/postgres", "-D", cluster, "-k", socket_dir_, "-c", "listen_addresses=", "-c",
                  "unix_socket_permissions=0700", "-c", "max_connections=200", "-c", "logging_collector=off",
                  // JIT needs writable+executable memory, which hardened units
                  // (MemoryDenyWriteExecute) forbid; Jobnik's queries gain nothing from it.
                  "-c", "jit=off"},
                 *as, log, true);
    const std::string url = fmt::format("postgresql://{}@/postgres?host={}", kRole, socket_dir_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options_.start_timeout_seconds);
    while (!CanConnect(url)) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return Status(ErrorCode::kUnavailable, fmt::format("the embedded PostgreSQL exited at start (see {})", log));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        Stop();
        return Status(ErrorCode::kUnavailable, fmt::format("the embedded PostgreSQL did not start in time (see {})", log));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    spdlog::info("embedded database: ready");
    return url;
  } catch (const std::exception& e) {
    return Status(ErrorCode::kUnknown, fmt::format("embedded database: {}", e.what()));
  }
}

void EmbeddedPostgres::Stop() {
  if (pid_ <= 0) return;
  spdlog::info("embedded database: stopping");
  kill(pid_, SIGINT);  // fast shutdown: roll back open transactions, checkpoint, exit
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGQUIT);  // immediate shutdown; crash recovery on the next start
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
}

}  // namespace jobnik
