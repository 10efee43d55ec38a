// jobnik-worker's optional status endpoint (`listen`): GET /metrics (Prometheus text
// format), /healthz (the process runs) and /readyz (it is claiming: started, not stopping,
// and no claim breaker is open, i.e. jobnikd answers).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <prometheus/registry.h>

#include "domain/error.h"

namespace httplib {
class Server;
}

namespace jobnik::worker {

class StatusServer {
 public:
  // Why the worker is not ready (empty: ready).
  using Readiness = std::function<std::string()>;

  // Binds `listen` (HOST:PORT; port 0: any free port) and serves on a thread of its own.
  // `registry` and `readiness` must outlive the server.
  static domain::Result<std::unique_ptr<StatusServer>> Start(const std::string& listen, prometheus::Registry& registry,
                                                             Readiness readiness);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  // HOST:PORT actually bound.
  const std::string& address() const { return address_; }

 private:
  StatusServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
};

// Checks HOST:PORT (a port from 0 to 65535).
domain::Status CheckListen(const std::string& listen);

}  // namespace jobnik::worker
