// jobnikd's Prometheus metrics (prometheus-cpp core; exposed by the HTTP layer at
// /metrics in the text format). Names follow Prometheus conventions.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace jobnik {

class Metrics {
  // Declared first: every family below is registered in it.
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();

 public:
  Metrics();

  // One finished HTTP request. `route` is the route template (/v1/jobs/{jobId}).
  void ObserveRequest(std::string_view route, std::string_view method, int status, double seconds);

  prometheus::Counter& jobs_created;
  prometheus::Counter& stages_created;
  prometheus::Counter& tasks_created;
  prometheus::Counter& tasks_dequeued;
  prometheus::Counter& dequeue_misses;
  prometheus::Counter& tasks_completed;
  prometheus::Counter& tasks_failed;
  prometheus::Counter& tasks_retried;
  prometheus::Counter& tasks_swept;
  prometheus::Counter& spans_dropped;

  // Called before each exposition to refresh gauges (pool, queue).
  void SetCollectHook(std::function<void(Metrics&)> hook);
  prometheus::Family<prometheus::Gauge>& pool_gauges() { return pool_; }
  prometheus::Family<prometheus::Gauge>& task_gauges() { return tasks_; }
  prometheus::Family<prometheus::Gauge>& job_gauges() { return jobs_; }
  prometheus::Family<prometheus::Counter>& pool_counters() { return pool_counters_; }

  // The text exposition format.
  std::string Expose();

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Gauge>& pool_;
  prometheus::Family<prometheus::Counter>& pool_counters_;
  prometheus::Family<prometheus::Gauge>& tasks_;
  prometheus::Family<prometheus::Gauge>& jobs_;
  std::mutex hook_mu_;
  std::function<void(Metrics&)> hook_;
};

}  // namespace jobnik
