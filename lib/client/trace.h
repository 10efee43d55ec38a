// Trace context propagation: every request a Client sends carries a W3C `traceparent`
// (and the `tracestate` that came with it) that continues the calling thread's current
// trace context, set with a TraceScope; without one, each request starts a new trace.
// The worker loop (worker.h) runs each handler and its report inside the task's own trace
// context, so that everything a task causes is one trace.
#pragma once

#include <optional>
#include <string_view>

#include "common/trace_context.h"

namespace jobnik::client {

// Makes `context` the calling thread's current trace context until the scope ends (then
// the previous one is current again). Scopes nest; they must end in reverse order.
class TraceScope {
 public:
  explicit TraceScope(tracing::TraceContext context);
  // From a traceparent header value; a malformed or empty one leaves the current context.
  explicit TraceScope(std::string_view traceparent, std::optional<std::string> tracestate = std::nullopt);
  ~TraceScope();
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  std::optional<tracing::TraceContext> previous_;
  bool set_ = false;
};

// The calling thread's current trace context, if a TraceScope set one.
std::optional<tracing::TraceContext> CurrentTrace();

// The traceparent (and tracestate) of an outgoing request: a child of the current context,
// or a new root.
tracing::TraceContext OutgoingTrace();

}  // namespace jobnik::client
