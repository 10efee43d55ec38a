// Api: wires the route lists (jobs_routes.cc, stages_routes.cc, tasks_routes.cc,
// ops_routes.cc) into the request envelope (envelope.cc) on a cpp-httplib server.
#include "http/api.h"

#include <vector>

#include "http/envelope.h"
#include "http/routes.h"

namespace jobnik::http {

Api::Api(store::Store& store, Metrics& metrics, ApiOptions options, tracing::Tracer* tracer)
    : store_(store), metrics_(metrics), options_(options), tracer_(tracer) {}

void Api::Register(httplib::Server& server) {
  std::vector<Route> routes;
  AddJobRoutes(routes, store_, metrics_);
  AddStageRoutes(routes, store_, metrics_, options_.lease, options_.claim_waiter);
  AddTaskRoutes(routes, store_, metrics_, options_.lease, options_.claim_waiter);
  AddLimitRoutes(routes, store_);
  AddOpsRoutes(routes, store_, metrics_, draining_, liveness_);
  AddQueueRoutes(routes, store_);
  if (options_.instances) AddInstanceRoutes(routes, *options_.instances);
  if (options_.ui) AddUiRoutes(routes);
  InstallRoutes(server, routes, metrics_, tracer_, options_.access_log, &options_.idempotency);
  InstallServerHandlers(server, options_.body_limit, options_.connections, options_.site_guard, &metrics_);
}

}  // namespace jobnik::http
