// The route lists of the API, one function per resource, each in its own file:
//   jobs_routes.cc    /v1/jobs...               (jobs, their stages list, adding a stage)
//   stages_routes.cc  /v1/stages...             (stages, their tasks, adding tasks, dequeue)
//   tasks_routes.cc   /v1/tasks...              (tasks, report)
//   limits_routes.cc  /v1/stage-types...       (stage types, concurrency limits)
//   ops_routes.cc     /liveness, /readiness, /metrics, /openapi.yaml
//   dashboard_routes.cc /v1/queues, the web dashboard under /ui/
//   instances_routes.cc /v1/instances, /v1/throughput
//   stream_routes.cc  /v1/stream                (a job's changes, server-sent events)
// Each appends its routes (in the order they are matched) for InstallRoutes (envelope.h).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "http/connections.h"
#include "http/envelope.h"
#include "metrics.h"
#include "services/claim_waiter.h"
#include "store/instances.h"
#include "store/store.h"

namespace jobnik::http {

// The bounds of a lease (dequeue's `lease_seconds`, a heartbeat's `leaseSeconds`) and the
// length a heartbeat without `leaseSeconds` extends a lease by; seconds (config lease_*).
struct LeaseBounds {
  int min = 5;
  int max = 86400;
  int heartbeat_default = 300;
};

// The longest wait a claim may ask for (dequeue's wait_seconds), seconds.
inline constexpr int kMaxWaitSeconds = 60;

// The claims' long poll (services/claim_waiter.h). Without `waiter` claims do not wait;
// with `connections` (whose ConnectionGuard runs), a waiting claim whose client closes its
// connection stops waiting, so that nothing is claimed for a client that is gone.
struct LongPoll {
  services::ClaimWaiter* waiter = nullptr;
  ConnectionTracker* connections = nullptr;

  // Runs `attempt` (ClaimWaiter::ClaimOrWait) for the request `req`, waiting up to `wait`
  // when `waiter` is set; without it, once.
  services::ClaimWaiter::Outcome ClaimOrWait(const httplib::Request& req, Metrics& m,
                                             const std::vector<std::string>& stage_types, std::chrono::seconds wait,
                                             const std::function<bool()>& attempt) const;
};

// 503 with Retry-After for a claim that cannot wait because claim.max_waiters claims wait
// already (counted as a dequeue miss); `instead` says how to claim without waiting.
Reply WaitersFullReply(Metrics& m, std::string_view instead);

// `st` and `m` must outlive the server the routes are installed on.
void AddJobRoutes(std::vector<Route>& routes, store::Store& st, Metrics& m);
// `long_poll` serves the dequeue's wait_seconds.
void AddStageRoutes(std::vector<Route>& routes, store::Store& st, Metrics& m, LeaseBounds lease = {},
                    LongPoll long_poll = {});
// `long_poll` serves the batch claim's waitSeconds.
void AddTaskRoutes(std::vector<Route>& routes, store::Store& st, Metrics& m, LeaseBounds lease = {},
                   LongPoll long_poll = {});
// The stage types and their concurrency limits (limits_routes.cc).
void AddLimitRoutes(std::vector<Route>& routes, store::Store& st);
// /readiness answers 503 while `draining`; /liveness while `liveness` (when set) returns
// false. Both are read at each request, so they may change after the routes are added.
void AddOpsRoutes(std::vector<Route>& routes, store::Store& st, Metrics& m, const std::atomic<bool>& draining,
                  const std::function<bool()>& liveness);

// GET /v1/stream: a job's changes as server-sent events (streams.h); `streams` outlives the server.
class Streams;
void AddStreamRoutes(std::vector<Route>& routes, store::Store& st, Metrics& m, Streams& streams);

// GET /v1/queues: unfinished work by stage type and unfinished jobs by status.
void AddQueueRoutes(std::vector<Route>& routes, store::Store& st);
// GET /v1/instances (the jobnikd instances on this database, the sweeper's leader and its
// last sweep) and GET /v1/throughput?minutes=N (tasks completed and failed per minute and
// stage type, cluster-wide). `instances` must outlive the server.
void AddInstanceRoutes(std::vector<Route>& routes, store::Instances& instances);
// An instance not seen for longer than this is shown as gone.
inline constexpr std::chrono::seconds kInstanceGoneAfter{60};
// The longest series GET /v1/throughput gives, minutes.
inline constexpr std::int64_t kMaxThroughputMinutes = 120;
// The web dashboard: its files under /ui/ (other paths there answer its page), / -> /ui/.
void AddUiRoutes(std::vector<Route>& routes);

}  // namespace jobnik::http
