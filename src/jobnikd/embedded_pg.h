// The embedded default database: a private PostgreSQL under the state directory,
// run as a child process that listens only on a unix socket in that directory.
//
// Start(): takes the data directory's lock (DATA_DIR/jobnikd.lock, held until the
// object dies), so a second jobnikd on the same directory is refused; initdb on
// first use; then the server. It waits until that server, and no other, accepts
// connections. Stop(): fast shutdown, waits for the child. The child is bound to
// jobnikd's life (PR_SET_PDEATHSIG), so a crashed jobnikd does not leave it
// running; PostgreSQL's own crash recovery makes the next start clean.
//
// Supervise() (serve): a thread reaps the server when it dies, logs it and restarts
// it with backoff; after kRestartAttempts failed restarts it gives up (Failed()).
//
// PostgreSQL refuses to run as root: when jobnikd runs as root, the server runs as
// the `postgres` system user and the data directory is handed to it. Directories
// created for it are opened without following symlinks and changed through the
// descriptor, so a link planted there cannot redirect a chown or chmod.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "domain/error.h"

namespace jobnik {

struct EmbeddedPgOptions {
  std::string data_dir;  // jobnikd's state directory; the cluster lives in data_dir/postgres
  std::string bin_dir;   // empty: PostgreSQL 15's binaries
  int start_timeout_seconds = 60;
};

class EmbeddedPostgres {
 public:
  // Restarts after an unexpected exit: the waits before attempts 1, 2, 3.
  static constexpr std::chrono::seconds kRestartBackoff[] = {std::chrono::seconds(1), std::chrono::seconds(4),
                                                             std::chrono::seconds(10)};
  static constexpr int kRestartAttempts = 3;
  // Down (restarting) for longer than this counts as unhealthy.
  static constexpr std::chrono::seconds kHealthGrace{10};

  explicit EmbeddedPostgres(EmbeddedPgOptions options) : options_(std::move(options)) {}

  // The URL of the embedded server another jobnikd runs under `data_dir`, when its
  // socket is there (its data dir is locked: a one-shot command such as `jobnikd token`
  // then uses that server instead of starting its own); std::nullopt otherwise.
  static std::optional<std::string> RunningUrl(const std::string& data_dir);
  ~EmbeddedPostgres();
  EmbeddedPostgres(const EmbeddedPostgres&) = delete;
  EmbeddedPostgres& operator=(const EmbeddedPostgres&) = delete;

  // Initialises (first time) and starts the server. Returns its libpq URL.
  domain::Result<std::string> Start();
  // From now on, watch the server and restart it when it dies (call after Start()).
  void Supervise();
  // Fast shutdown; safe to call twice, from any thread.
  void Stop();
  // Called (on the supervisor thread) after each successful restart; once set to
  // nothing, it is no longer running nor will it run.
  void SetOnRestart(std::function<void()> on_restart);

  // Running, or down for less than kHealthGrace while being restarted.
  bool Healthy() const;
  // Supervision gave up: the server is down and will not come back.
  bool Failed() const;

 private:
  enum class State { kRunning, kRestarting, kFailed, kStopped };
  domain::Status InitDb(const std::string& bin_dir, const std::string& cluster);
  domain::Status LockDataDir(const std::string& data_dir);
  domain::Result<pid_t> SpawnServer();
  domain::Status WaitReady(pid_t pid, std::chrono::seconds timeout);
  void SuperviseLoop();
  void RemoveSocketDir();

  EmbeddedPgOptions options_;
  int lock_fd_ = -1;
  std::string data_dir_, bin_dir_, cluster_, log_, url_;
  std::string socket_dir_;
  int socket_dir_fd_ = -1;  // held for cleanup, when socket_dir_ is a temporary directory
  bool drop_ = false;       // the server runs as uid_/gid_ (jobnikd is root)
  uid_t uid_ = 0;
  gid_t gid_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  pid_t pid_ = -1;  // the server, while one runs
  State state_ = State::kStopped;
  bool stopping_ = false;
  bool supervised_ = false;       // Supervise() ran: only the supervisor reaps the server
  bool supervisor_done_ = false;  // the supervisor thread has reaped its last child
  std::chrono::steady_clock::time_point down_since_{};
  std::function<void()> on_restart_;
  std::thread supervisor_;
};

}  // namespace jobnik
