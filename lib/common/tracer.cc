#include "common/tracer.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "common/version.h"

namespace jobnik::tracing {
namespace {

thread_local ActiveSpan current;

nlohmann::json StringAttr(const std::string& key, const std::string& value) {
  return {{"key", key}, {"value", {{"stringValue", value}}}};
}

}  // namespace

std::uint64_t NowUnixNano() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

Tracer::Tracer(TracerOptions options) : options_(std::move(options)) {
  if (enabled()) thread_ = std::thread([this] { Loop(); });
}

Tracer::~Tracer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (enabled()) Flush();
}

void Tracer::Record(Span span) {
  if (!enabled()) return;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= options_.queue_size) {
      ++dropped_;
      return;
    }
    queue_.push_back(std::move(span));
    wake = queue_.size() >= options_.batch_size;
  }
  if (wake) cv_.notify_one();
}

void Tracer::Flush() {
  for (;;) {
    std::vector<Span> batch;
    {
      std::lock_guard lock(mu_);
      while (!queue_.empty() && batch.size() < options_.batch_size) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (batch.empty()) return;
    if (!Export(batch)) return;  // collector trouble: what is left waits for the next flush
  }
}

void Tracer::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, options_.flush_interval, [this] { return stopping_ || queue_.size() >= options_.batch_size; });
    if (stopping_) break;
    lock.unlock();
    Flush();
    lock.lock();
  }
}

bool Tracer::Export(const std::vector<Span>& batch) {
  std::lock_guard lock(export_mu_);
  httplib::Client client(options_.endpoint);
  client.set_connection_timeout(std::chrono::seconds(2));
  client.set_read_timeout(std::chrono::seconds(5));
  auto r = client.Post("/v1/traces", Encode(batch), "application/json");
  if (!r || r->status < 200 || r->status >= 300) {
    dropped_ += batch.size();
    spdlog::warn("tracing: export of {} spans to {} failed ({}); dropped", batch.size(), options_.endpoint,
                 r ? "HTTP " + std::to_string(r->status) : httplib::to_string(r.error()));
    return false;
  }
  exported_ += batch.size();
  return true;
}

std::string Tracer::Encode(const std::vector<Span>& spans) const {
  nlohmann::json out_spans = nlohmann::json::array();
  for (const auto& s : spans) {
    nlohmann::json attrs = nlohmann::json::array();
    for (const auto& [k, v] : s.attributes) attrs.push_back(StringAttr(k, v));
    for (const auto& [k, v] : s.int_attributes) {
      attrs.push_back({{"key", k}, {"value", {{"intValue", std::to_string(v)}}}});
    }
    nlohmann::json span = {{"traceId", s.trace_id},
                           {"spanId", s.span_id},
                           {"name", s.name},
                           {"kind", static_cast<int>(s.kind)},
                           {"startTimeUnixNano", std::to_string(s.start_unix_nano)},
                           {"endTimeUnixNano", std::to_string(s.end_unix_nano)},
                           {"attributes", attrs},
                           {"status", {{"code", s.error ? 2 : 1}}}};
    if (!s.parent_span_id.empty()) span["parentSpanId"] = s.parent_span_id;
    out_spans.push_back(std::move(span));
  }
  nlohmann::json body = {
      {"resourceSpans",
       {{{"resource",
          {{"attributes",
            {StringAttr("service.name", options_.service_name),
             StringAttr("service.version", std::string(Version()))}}}},
         {"scopeSpans",
          {{{"scope", {{"name", "jobnik"}, {"version", std::string(Version())}}}, {"spans", out_spans}}}}}}}};
  return body.dump();
}

const ActiveSpan& CurrentSpan() {
  return current;
}

ScopedSpan::ScopedSpan(Tracer* tracer, Span span) : span_(std::move(span)), previous_(current) {
  if (span_.start_unix_nano == 0) span_.start_unix_nano = NowUnixNano();
  current = {tracer, &span_};
}

ScopedSpan::~ScopedSpan() {
  Tracer* tracer = current.tracer;
  current = previous_;
  if (tracer && tracer->enabled()) {
    span_.end_unix_nano = NowUnixNano();
    tracer->Record(std::move(span_));
  }
}

ChildSpan::ChildSpan(std::string name, SpanKind kind) {
  const auto& parent = CurrentSpan();
  if (!parent.tracer || !parent.span || !parent.tracer->enabled()) return;
  tracer_ = parent.tracer;
  Span s;
  s.trace_id = parent.span->trace_id;
  s.parent_span_id = parent.span->span_id;
  s.span_id = NewSpanId();
  s.name = std::move(name);
  s.kind = kind;
  s.start_unix_nano = NowUnixNano();
  span_ = std::move(s);
}

ChildSpan::~ChildSpan() {
  if (!span_) return;
  span_->end_unix_nano = NowUnixNano();
  tracer_->Record(std::move(*span_));
}

void ChildSpan::SetAttribute(std::string key, std::string value) {
  if (span_) span_->attributes.emplace_back(std::move(key), std::move(value));
}

}  // namespace jobnik::tracing
