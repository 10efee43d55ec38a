// W3C trace context (traceparent/tracestate) values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace jobnik::tracing {

struct TraceContext {
  std::string trace_id;  // 32 lower-case hex
  std::string span_id;   // 16 lower-case hex
  std::string flags = "01";
  std::optional<std::string> tracestate;

  // "00-<trace>-<span>-<flags>"
  std::string Traceparent() const;
};

// Parses a traceparent header; std::nullopt when absent or malformed (then a
// new trace is started, as W3C asks of a receiver).
std::optional<TraceContext> ParseTraceparent(std::string_view header);

// Random ids (thread-safe, non-blocking).
std::string NewTraceId();
std::string NewSpanId();

// A child of `parent` (same trace, new span id), or a new root when there is none.
TraceContext ChildOf(const std::optional<TraceContext>& parent);

}  // namespace jobnik::tracing
