// The embedded default database: a private PostgreSQL under the state directory,
// run as a child process that listens only on a unix socket in that directory.
//
// Start(): initdb on first use, then the server; waits until it accepts
// connections. Stop(): fast shutdown, waits for the child. The child is bound to
// jobnikd's life (PR_SET_PDEATHSIG), so a crashed jobnikd does not leave it
// running; PostgreSQL's own crash recovery makes the next start clean.
//
// PostgreSQL refuses to run as root: when jobnikd runs as root, the server runs as
// the `postgres` system user and the data directory is handed to it.
#pragma once

#include <string>
#include <sys/types.h>

#include "domain/error.h"

namespace jobnik {

struct EmbeddedPgOptions {
  std::string data_dir;   // jobnikd's state directory; the cluster lives in data_dir/postgres
  std::string bin_dir;    // empty: PostgreSQL 15's binaries
  int start_timeout_seconds = 60;
};

class EmbeddedPostgres {
 public:
  explicit EmbeddedPostgres(EmbeddedPgOptions options) : options_(std::move(options)) {}
  ~EmbeddedPostgres();
  EmbeddedPostgres(const EmbeddedPostgres&) = delete;
  EmbeddedPostgres& operator=(const EmbeddedPostgres&) = delete;

  // Initialises (first time) and starts the server. Returns its libpq URL.
  domain::Result<std::string> Start();
  // Fast shutdown; safe to call twice.
  void Stop();

 private:
  domain::Status InitDb(const std::string& bin_dir, const std::string& cluster);
  EmbeddedPgOptions options_;
  pid_t pid_ = -1;
  std::string socket_dir_;
};

}  // namespace jobnik
