// The REST API: the 21 v1 operations under /v1, plus /liveness, /readiness,
// /metrics and /openapi.yaml, on a cpp-httplib server.
//
// Every request: validated (path, query, body) before the store runs, one store call
// (one transaction), errors mapped to the SPEC A.5 bodies, a W3C traceparent on the
// response, one access-log line, request metrics.
//
// Where things are: the routes by resource in jobs_routes.cc, stages_routes.cc,
// tasks_routes.cc and ops_routes.cc (routes.h); the envelope around every handler in
// envelope.{h,cc}; query and path parameters in query.{h,cc}; paging, cursors and list
// streaming in lists.{h,cc}; Status -> HTTP status code in errors.{h,cc}.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <httplib.h>

#include "common/tracer.h"
#include "http/auth.h"
#include "http/connections.h"
#include "http/errors.h"  // HttpStatusOf
#include "http/idempotency.h"
#include "http/routes.h"  // LeaseBounds
#include "http/site_guard.h"
#include "http/streams.h"
#include "metrics.h"
#include "store/store.h"

namespace jobnik::http {

struct ApiOptions {
  std::size_t body_limit = std::size_t{1024} * 1024;  // bytes; larger bodies get 413
  bool access_log = true;                             // one info line per request
  ConnectionTracker* connections = nullptr;           // told when each request starts (may be null)
  LeaseBounds lease{};                                // dequeue's lease_seconds, heartbeats
  const SiteGuard* site_guard = nullptr;              // Host/Origin refusals (null: none); outlives the Api
  services::ClaimWaiter* claim_waiter = nullptr;      // long-poll claims (null: wait_seconds does not wait)
  IdempotencyOptions idempotency{};                   // keys null: Idempotency-Key is ignored; outlive the Api
  bool ui = true;                                     // the web dashboard under /ui/
  store::Instances* instances = nullptr;              // GET /v1/instances, /v1/throughput (null: none)
  Authenticator* auth = nullptr;                      // tokens and roles (null: no checks); outlives the Api
  Streams* streams = nullptr;                         // GET /v1/stream (null: no such route); outlives the Api
};

class Api {
 public:
  // `store`, `metrics` and `tracer` (may be null: no spans) must outlive the Api.
  Api(store::Store& store, Metrics& metrics, ApiOptions options, tracing::Tracer* tracer = nullptr);

  // Installs routes and handlers on `server`.
  void Register(httplib::Server& server);
  // Method and template of every route Register installs (for the access policy's tests).
  std::vector<std::pair<std::string, std::string>> Routes();

  // While draining, /readiness answers 503 so load balancers stop sending work.
  void SetDraining(bool draining) { draining_ = draining; }
  // /liveness answers 503 while `healthy` returns false (call before serving).
  void SetLiveness(std::function<bool()> healthy) { liveness_ = std::move(healthy); }

 private:
  store::Store& store_;
  Metrics& metrics_;
  ApiOptions options_;
  tracing::Tracer* tracer_;
  std::atomic<bool> draining_{false};
  std::function<bool()> liveness_;
};

}  // namespace jobnik::http
