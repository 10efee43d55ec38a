// The request envelope: what every route shares around its own handler.
//  - Call and Reply: what a handler is given and what it answers; ErrorReply, JsonReply and
//    CodeReply build the usual replies, Tag adds an attribute to the request's span.
//  - Route and RouteAdder: one method + path pattern + the query parameters it takes +
//    its handler (the route lists are in jobs_routes.cc, stages_routes.cc, ...).
//  - InstallRoutes: wires each route with the envelope (bearer token and role -> 401/403
//    (auth.h), the caller as the job events' actor, unknown query parameters -> 400,
//    traceparent/tracestate, server span, Idempotency-Key (idempotency.h), exceptions -> 500,
//    request metrics, X-Request-Id, access log) and answers 405 with Allow on a known path with another method.
//  - InstallServerHandlers: body limit, pre-routing (shutdown, Host/Origin refusals,
//    bodyless requests, form bodies read as JSON), JSON bodies for errors httplib answers itself, exception handler.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <httplib.h>

#include "common/trace_context.h"
#include "common/tracer.h"
#include "domain/codec.h"
#include "domain/error.h"
#include "http/auth.h"
#include "http/connections.h"
#include "http/site_guard.h"
#include "metrics.h"
#include "store/store.h"

namespace jobnik::http {

inline constexpr const char* kJson = "application/json";

// What a handler produces.
struct Reply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is this instead, sent chunked as it is produced (lists, streams),
  // of type stream_type.
  httplib::ContentProviderWithoutLength stream = nullptr;
  const char* stream_type = kJson;
};

Reply ErrorReply(const domain::Status& s);

template <typename T>
Reply JsonReply(int status, const T& value) {
  return {status, domain::ToJson(value), {}};
}

Reply CodeReply(std::string_view code);

// Per-request context handed to handlers.
struct Call {
  const httplib::Request& req;
  httplib::Params query;       // the URL's query parameters, parsed once
  tracing::TraceContext span;  // this request's server span
  store::TraceDefaults trace;  // for entities created without their own context
};

// Adds an attribute to the current request's span (entity ids, stage type).
void Tag(std::string key, std::string value);

using Handler = std::function<Reply(Call&)>;

struct Route {
  std::string method;
  std::string pattern;             // regex on the decoded path
  std::string template_;           // for logs and metrics
  std::vector<std::string> query;  // the query parameters it takes; others are a 400
  Handler handler;
};

// add(method, pattern, template, query names, handler) appends a route to `routes`.
struct RouteAdder {
  std::vector<Route>& routes;
  void operator()(const char* method, const char* pattern, const char* tmpl, std::vector<std::string> query,
                  Handler h) const {
    routes.push_back({method, pattern, tmpl, std::move(query), std::move(h)});
  }
};

struct IdempotencyOptions;  // http/idempotency.h

// Installs `routes` on `server`, each inside the envelope, in order; then, for each path
// pattern, a 405 answer (with Allow) for the methods it does not take. `metrics`, `tracer`
// (may be null: no spans) and `idempotency` (may be null: Idempotency-Key is ignored) must
// outlive the server.
void InstallRoutes(httplib::Server& server, const std::vector<Route>& routes, Metrics& metrics, tracing::Tracer* tracer,
                   bool access_log, const IdempotencyOptions* idempotency = nullptr, Authenticator* auth = nullptr);

// Installs the server-wide handlers: the body limit, the pre-routing handler (tells
// `connections`, may be null, when each request starts; refuses what `guard`, may be null,
// refuses, counted in `metrics`), the error and exception handlers.
void InstallServerHandlers(httplib::Server& server, std::size_t body_limit, ConnectionTracker* connections,
                           const SiteGuard* guard = nullptr, Metrics* metrics = nullptr);

}  // namespace jobnik::http
