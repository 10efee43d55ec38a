// Spans and their export with OTLP/HTTP JSON (POST {endpoint}/v1/traces).
//
// Recording never blocks a request: spans go to a bounded in-memory queue, a
// background thread sends them in batches; when the queue is full, or the collector
// fails, spans are dropped and counted (Dropped()). Off unless an endpoint is set.
//
// The span of the request a thread is serving is "current" (CurrentSpan()), so lower
// layers (the database transactions) can record children without being handed it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/trace_context.h"

namespace jobnik::tracing {

enum class SpanKind : int { kInternal = 1, kServer = 2, kClient = 3 };

struct Span {
  std::string trace_id;        // 32 hex
  std::string span_id;         // 16 hex
  std::string parent_span_id;  // 16 hex, or empty for a root
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  std::uint64_t start_unix_nano = 0;
  std::uint64_t end_unix_nano = 0;
  bool error = false;
  std::vector<std::pair<std::string, std::string>> attributes;  // string values
  std::vector<std::pair<std::string, std::int64_t>> int_attributes;
};

std::uint64_t NowUnixNano();

struct TracerOptions {
  std::string endpoint;  // e.g. http://127.0.0.1:4318; empty: tracing off
  std::string service_name = "jobnikd";
  std::size_t queue_size = 4096;  // spans held at most
  std::size_t batch_size = 512;   // spans per export request
  std::chrono::milliseconds flush_interval{1000};
};

class Tracer {
 public:
  explicit Tracer(TracerOptions options);
  ~Tracer();  // flushes what is queued (bounded by one export attempt)
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  bool enabled() const { return !options_.endpoint.empty(); }
  // Queues a finished span; never blocks on I/O. Thread-safe.
  void Record(Span span);
  // Sends everything queued now (tests, shutdown).
  void Flush();
  std::uint64_t Dropped() const { return dropped_; }
  std::uint64_t Exported() const { return exported_; }

  // The OTLP JSON body for `spans` (exposed for tests).
  std::string Encode(const std::vector<Span>& spans) const;

 private:
  void Loop();
  bool Export(const std::vector<Span>& batch);

  const TracerOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Span> queue_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> dropped_{0}, exported_{0};
  std::mutex export_mu_;  // one export at a time
  std::thread thread_;
};

// The span the current thread is working for (set by ScopedSpan).
struct ActiveSpan {
  Tracer* tracer = nullptr;
  Span* span = nullptr;
};
const ActiveSpan& CurrentSpan();

// Makes `span` current for this thread while alive; on destruction stamps the end
// time and records it (when the tracer is enabled), restoring the previous span.
class ScopedSpan {
 public:
  ScopedSpan(Tracer* tracer, Span span);
  ~ScopedSpan();
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;
  Span& span() { return span_; }

 private:
  Span span_;
  ActiveSpan previous_;
};

// A child of the current span, e.g. a database transaction. A no-op without a
// current span or with tracing off.
class ChildSpan {
 public:
  ChildSpan(std::string name, SpanKind kind);
  ~ChildSpan();
  ChildSpan(const ChildSpan&) = delete;
  ChildSpan& operator=(const ChildSpan&) = delete;
  void SetAttribute(std::string key, std::string value);
  void SetError() {
    if (span_) span_->error = true;
  }

 private:
  Tracer* tracer_ = nullptr;
  std::optional<Span> span_;
};

}  // namespace jobnik::tracing
