#include "common/trace_context.h"

#include <random>

#include "domain/validation.h"

namespace jobnik::tracing {
namespace {

std::string RandomHex(std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s(n, '0');
  bool nonzero = false;
  while (!nonzero) {
    for (std::size_t i = 0; i < n; i += 16) {
      std::uint64_t v = rng();
      for (std::size_t k = i; k < n && k < i + 16; ++k, v >>= 4) {
        s[k] = kHex[v & 0xF];
        nonzero = nonzero || s[k] != '0';
      }
    }
  }
  return s;
}

}  // namespace

std::string TraceContext::Traceparent() const {
  return "00-" + trace_id + "-" + span_id + "-" + flags;
}

std::optional<TraceContext> ParseTraceparent(std::string_view header) {
  if (!domain::IsTraceparent(header)) return std::nullopt;
  TraceContext c;
  c.trace_id = std::string(header.substr(3, 32));
  c.span_id = std::string(header.substr(36, 16));
  c.flags = std::string(header.substr(53, 2));
  return c;
}

std::string NewTraceId() {
  return RandomHex(32);
}
std::string NewSpanId() {
  return RandomHex(16);
}

TraceContext ChildOf(const std::optional<TraceContext>& parent) {
  TraceContext c;
  if (parent) {
    c = *parent;
  } else {
    c.trace_id = NewTraceId();
  }
  c.span_id = NewSpanId();
  return c;
}

}  // namespace jobnik::tracing
