// Api: wires the route lists (jobs_routes.cc, stages_routes.cc, tasks_routes.cc,
// ops_routes.cc) into the request envelope (envelope.cc) on a cpp-httplib server.
#include "http/api.h"

#include <atomic>
#include <functional>
#include <utility>
#include <vector>

#include "http/envelope.h"
#include "http/routes.h"

namespace jobnik::http {

Api::Api(store::Store& store, Metrics& metrics, ApiOptions options, tracing::Tracer* tracer)
    : store_(store), metrics_(metrics), options_(options), tracer_(tracer) {}

namespace {

std::vector<Route> AllRoutes(store::Store& store, Metrics& metrics, const ApiOptions& options,
                             std::atomic<bool>& draining, std::function<bool()>& liveness) {
  std::vector<Route> routes;
  AddJobRoutes(routes, store, metrics);
  const LongPoll long_poll{options.claim_waiter, options.connections};
  AddStageRoutes(routes, store, metrics, options.lease, long_poll);
  AddTaskRoutes(routes, store, metrics, options.lease, long_poll);
  AddLimitRoutes(routes, store);
  AddOpsRoutes(routes, store, metrics, draining, liveness);
  AddQueueRoutes(routes, store);
  if (options.instances) AddInstanceRoutes(routes, *options.instances);
  if (options.streams) AddStreamRoutes(routes, store, metrics, *options.streams);
  if (options.ui) AddUiRoutes(routes);
  return routes;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> Api::Routes() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : AllRoutes(store_, metrics_, options_, draining_, liveness_))
    out.emplace_back(r.method, r.template_);
  return out;
}

void Api::Register(httplib::Server& server) {
  const std::vector<Route> routes = AllRoutes(store_, metrics_, options_, draining_, liveness_);
  InstallRoutes(server, routes, metrics_, tracer_, options_.access_log, &options_.idempotency, options_.auth);
  InstallServerHandlers(server, options_.body_limit, options_.connections, options_.site_guard, &metrics_);
}

}  // namespace jobnik::http
