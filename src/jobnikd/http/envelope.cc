// The request envelope (see envelope.h): replies, span tags, the wrapper around every
// route's handler, 405 answers, and the server-wide pre-routing, error and exception handlers.
#include "http/envelope.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <chrono>
#include <optional>

#include "domain/validation.h"
#include "http/errors.h"
#include "http/idempotency.h"
#include "http/query.h"

namespace jobnik::http {

using domain::ErrorCode;
using domain::Status;

Reply ErrorReply(const Status& s) {
  return {HttpStatusOf(s), domain::ErrorBody(s), {}};
}

Reply CodeReply(std::string_view code) {
  return {200, domain::CodeBody(code), {}};
}

// Adds an attribute to the current request's span (entity ids, stage type).
void Tag(std::string key, std::string value) {
  if (auto* span = tracing::CurrentSpan().span) span->attributes.emplace_back(std::move(key), std::move(value));
}

void InstallRoutes(httplib::Server& server, const std::vector<Route>& routes, Metrics& metrics, tracing::Tracer* tracer,
                   bool access_log, const IdempotencyOptions* idempotency, Authenticator* auth) {
  // Path patterns with their allowed methods, for 405 answers.
  std::vector<std::pair<std::string, std::string>> allowed;  // pattern -> "GET, POST"
  for (const auto& r : routes) {
    auto it = std::find_if(allowed.begin(), allowed.end(), [&](const auto& a) { return a.first == r.pattern; });
    if (it == allowed.end()) {
      allowed.emplace_back(r.pattern, r.method);
    } else {
      it->second += ", " + r.method;
    }
  }

  for (const auto& r : routes) {
    const IdempotencyOptions* keyed = TakesIdempotencyKey(r) ? idempotency : nullptr;
    const domain::Access access = domain::AccessOf(r.method, r.template_);
    auto envelope = [&metrics, tracer, access_log, keyed, auth, access, handler = r.handler, tmpl = r.template_,
                     query_names = r.query](const httplib::Request& req, httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      std::optional<tracing::TraceContext> parent;
      if (req.has_header("traceparent")) parent = tracing::ParseTraceparent(req.get_header_value("traceparent"));
      Call call{req, UrlQuery(req), tracing::ChildOf(parent), {}};
      call.trace.traceparent = call.span.Traceparent();
      if (parent && req.has_header("tracestate") && domain::IsTracestate(req.get_header_value("tracestate"))) {
        call.trace.tracestate = req.get_header_value("tracestate");
      }
      // The server span is built only when spans are exported (no work per request otherwise).
      std::optional<tracing::ScopedSpan> scoped;
      if (tracer && tracer->enabled()) {
        tracing::Span server_span;
        server_span.trace_id = call.span.trace_id;
        server_span.span_id = call.span.span_id;
        if (parent) server_span.parent_span_id = parent->span_id;
        server_span.name = req.method + " " + tmpl;
        server_span.kind = tracing::SpanKind::kServer;
        server_span.attributes = {{"http.request.method", req.method}, {"http.route", tmpl}, {"url.path", req.path}};
        scoped.emplace(tracer, std::move(server_span));
      }
      Reply reply;
      // Who is asking (http/auth.h): refused here with 401 or 403, before anything runs.
      std::optional<Caller> caller;
      std::optional<Status> refusal;
      if (auth) {
        auto decision = auth->Check(req.get_header_value("Authorization"), req.method, tmpl, access);
        caller = std::move(decision.caller);
        if (!decision.status.ok()) refusal = std::move(decision.status);
      }
      if (caller && scoped) scoped->span().attributes.emplace_back("enduser.id", caller->name);
      try {
        const store::ScopedActor actor(caller ? std::optional<std::string>(caller->name) : std::nullopt);
        const Status query = CheckQueryNames(call.query, query_names);
        if (refusal) {
          reply = ErrorReply(*refusal);
          if (reply.status == 401) reply.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="jobnik")");
        } else if (!query.ok()) {
          reply = ErrorReply(query);
        } else if (keyed) {
          reply = RunIdempotent(*keyed, metrics, call, handler);
        } else {
          reply = handler(call);
        }
      } catch (const std::exception& e) {
        spdlog::error("{} {}: unexpected error: {}", req.method, tmpl, e.what());
        reply = ErrorReply({ErrorCode::kUnknown, "An unexpected error occurred"});
      }
      if (scoped) {
        scoped->span().int_attributes.emplace_back("http.response.status_code", reply.status);
        scoped->span().error = reply.status >= 500;
      }
      res.status = reply.status;
      const bool streamed = static_cast<bool>(reply.stream);
      if (streamed) {
        ConnectionTracker::UncorkResponse();  // its pieces go out as they come
        res.set_chunked_content_provider(reply.stream_type, std::move(reply.stream));
      }
      // What set_content does, without copying the body (it takes a const reference).
      bool content_type_set = false;
      for (auto& [k, v] : reply.headers) {
        if (k == "Content-Type") {
          res.body = std::move(reply.body);
          res.set_header("Content-Type", v);
          content_type_set = true;
        } else {
          res.set_header(k.c_str(), v);
        }
      }
      if (!content_type_set && reply.status != 204 && !streamed) {
        res.body = std::move(reply.body);
        res.set_header("Content-Type", kJson);
      }
      res.set_header("traceparent", call.trace.traceparent);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      metrics.ObserveRequest(tmpl, req.method, res.status, seconds);
      // The request id: the caller's X-Request-Id when it sent a sane one, else this span's id.
      std::string request_id = req.get_header_value("X-Request-Id");
      if (request_id.empty() || request_id.size() > 128 ||
          !std::all_of(request_id.begin(), request_id.end(), [](char ch) { return ch > ' ' && ch < 127; })) {
        request_id = call.span.span_id;
      }
      res.set_header("X-Request-Id", request_id);
      if (access_log) {
        spdlog::info(
            "access method={} route={} status={} duration_ms={:.2f} request_id={} trace_id={} remote={} caller={}",
            req.method, tmpl, res.status, seconds * 1000, request_id, call.span.trace_id, req.remote_addr,
            caller ? caller->name : "-");
      }
    };
    if (r.method == "GET")
      server.Get(r.pattern, envelope);
    else if (r.method == "POST")
      server.Post(r.pattern, envelope);
    else if (r.method == "PUT")
      server.Put(r.pattern, envelope);
    else if (r.method == "PATCH")
      server.Patch(r.pattern, envelope);
    else if (r.method == "DELETE")
      server.Delete(r.pattern, envelope);
  }

  // A known path with another method: 405 with Allow.
  for (const auto& [pattern, methods] : allowed) {
    auto not_allowed = [methods = methods](const httplib::Request& req, httplib::Response& res) {
      res.status = 405;
      res.set_header("Allow", methods);
      res.set_header("traceparent", tracing::ChildOf(std::nullopt).Traceparent());
      res.set_content(
          domain::ErrorBody({ErrorCode::kMethodNotAllowed, fmt::format("Method {} is not allowed on {}; allowed: {}",
                                                                       req.method, req.path, methods)}),
          kJson);
    };
    for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
      if (methods.find(method) != std::string::npos) continue;
      // No method name is a substring of another, so find() is an exact test here.
      if (std::string_view(method) == "GET")
        server.Get(pattern, not_allowed);
      else if (std::string_view(method) == "POST")
        server.Post(pattern, not_allowed);
      else if (std::string_view(method) == "PUT")
        server.Put(pattern, not_allowed);
      else if (std::string_view(method) == "PATCH")
        server.Patch(pattern, not_allowed);
      else
        server.Delete(pattern, not_allowed);
    }
    server.Options(pattern, not_allowed);
  }
}

void InstallServerHandlers(httplib::Server& server, std::size_t body_limit, ConnectionTracker* connections,
                           const SiteGuard* guard, Metrics* metrics) {
  server.set_payload_max_length(body_limit);
  // HTTP/1.1 (RFC 9112 6.3): a request with neither Content-Length nor Transfer-Encoding
  // has no body. httplib would instead read a PATCH/POST/PUT/DELETE body until the
  // connection closes, so `curl -X PATCH .../dequeue` would hang until the read timeout.
  server.set_pre_routing_handler([connections, guard, metrics](const httplib::Request& req, httplib::Response& res) {
    // Shutdown closed this connection as idle just as its request arrived: don't run it.
    if (connections && !connections->RequestStarted(req)) {
      res.status = 503;
      res.set_content(domain::ErrorBody({ErrorCode::kUnavailable, "jobnikd is shutting down"}), kJson);
      return httplib::Server::HandlerResponse::Handled;
    }
    // The response's head and body leave as one segment (uncorked by the server's logger
    // once written; a streamed response is uncorked before it starts).
    if (connections) connections->CorkResponse(req);
    if (guard) {
      if (auto refusal = guard->Check(req.method, req.path, req.get_header_value("Host"),
                                      req.get_header_value("Origin"), req.get_header_value("Sec-Fetch-Site"))) {
        spdlog::warn("refused {} {} from {}: {}", req.method, req.path, req.remote_addr, *refusal);
        if (metrics) metrics->requests_refused.Increment();
        res.status = 403;
        res.set_header("traceparent", tracing::ChildOf(std::nullopt).Traceparent());
        res.set_content(domain::ErrorBody({ErrorCode::kForbidden, "Refused: " + *refusal}), kJson);
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      const_cast<httplib::Request&>(req).headers.emplace("Content-Length", "0");
    }
    // A body is JSON whatever its Content-Type says (v1 clients, and `curl -d`, send other
    // types), but httplib would split a multipart/form-data body into parts (leaving no
    // body) and refuse a form-urlencoded one over 8 KB with 413: it reads both as is.
    for (auto [it, end] = const_cast<httplib::Request&>(req).headers.equal_range("Content-Type"); it != end; ++it) {
      if (it->second.rfind("multipart/form-data", 0) == 0 ||
          it->second.rfind("application/x-www-form-urlencoded", 0) == 0) {
        it->second = kJson;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Anything httplib answers on its own (unknown route, oversized body, bad request line)
  // still gets a JSON error body.
  server.set_error_handler(
      httplib::Server::HandlerWithResponse([limit = body_limit](const httplib::Request& req, httplib::Response& res) {
        if (!res.has_header("traceparent")) res.set_header("traceparent", tracing::ChildOf(std::nullopt).Traceparent());
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        Status s;
        switch (res.status) {
          case 404:
            s = {ErrorCode::kRouteNotFound, fmt::format("No route for {} {}", req.method, req.path)};
            break;
          case 413:
            s = {ErrorCode::kPayloadTooLarge,
                 fmt::format("Request body is larger than the limit of {} bytes set by jobnikd --body-limit", limit)};
            break;
          case 400:
            s = domain::ValidationError("Malformed HTTP request");
            break;
          case 414:
            s = domain::ValidationError(fmt::format("Request target (path and query) is longer than {} bytes",
                                                    CPPHTTPLIB_REQUEST_URI_MAX_LENGTH));
            break;
          default:
            s = {ErrorCode::kUnknown, fmt::format("HTTP error {}", res.status)};
            break;
        }
        res.set_content(domain::ErrorBody(s), kJson);
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, const std::exception_ptr& ep) {
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: unhandled error: {}", req.method, req.path, e.what());
    } catch (...) {
      spdlog::error("{} {}: unhandled error", req.method, req.path);
    }
    res.status = 500;
    res.set_content(domain::ErrorBody({ErrorCode::kUnknown, "An unexpected error occurred"}), kJson);
  });
}

}  // namespace jobnik::http
