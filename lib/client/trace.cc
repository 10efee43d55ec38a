#include "client/trace.h"

#include <utility>

namespace jobnik::client {
namespace {

thread_local std::optional<tracing::TraceContext> current;

}  // namespace

TraceScope::TraceScope(tracing::TraceContext context) : previous_(std::move(current)), set_(true) {
  current = std::move(context);
}

TraceScope::TraceScope(std::string_view traceparent, std::optional<std::string> tracestate) {
  auto parsed = tracing::ParseTraceparent(traceparent);
  if (!parsed) return;
  parsed->tracestate = std::move(tracestate);
  previous_ = std::move(current);
  current = std::move(*parsed);
  set_ = true;
}

TraceScope::~TraceScope() {
  if (set_) current = std::move(previous_);
}

std::optional<tracing::TraceContext> CurrentTrace() {
  return current;
}

tracing::TraceContext OutgoingTrace() {
  return tracing::ChildOf(current);
}

}  // namespace jobnik::client
