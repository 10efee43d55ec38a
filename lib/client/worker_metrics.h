// Prometheus metrics of worker loops (worker.h), registered into a registry the program
// owns (prometheus-cpp core), e.g. to expose at /metrics:
//
//   prometheus::Registry registry;
//   WorkerMetrics metrics(registry);
//   Worker worker(options, clients, handler, metrics.Wrap("resize", my_hooks));
//
// Every series carries stage_type (the label given to Wrap: the worker's stage type, or
// its types joined with ","):
//   jobnik_worker_tasks_started_total, _completed_total, _failed_total, _timed_out_total
//   jobnik_worker_handler_duration_seconds (histogram; handler only, not the report)
//   jobnik_worker_tasks_in_flight (claimed and not yet reported)
//   jobnik_worker_claim_errors_total, jobnik_worker_report_errors_total
//   jobnik_worker_empty_polls (consecutive claims that found nothing; 0 after a task)
//   jobnik_worker_breaker_state{breaker="claim"|"handler"} (0 closed, 1 half-open, 2 open)
//   jobnik_worker_tasks_per_request{request="claim"|"report"} (histogram; combine_requests:
//     tasks a shared claim brought back, completions a shared report carried)
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

#include "client/worker.h"

namespace jobnik::client {

class WorkerMetrics {
 public:
  explicit WorkerMetrics(prometheus::Registry& registry);

  // Hooks that count what a worker does under `stage_type`, then call `inner`'s hooks
  // (whose answers the worker follows). The metrics must outlive the worker.
  WorkerHooks Wrap(const std::string& stage_type, WorkerHooks inner = {});
  // A handler's task ran out of time (jobnik-worker counts its command timeouts here).
  void CountTimeout(const std::string& stage_type);

  // The breaker state as the gauge shows it.
  static double GaugeValue(BreakerState s);

 private:
  prometheus::Family<prometheus::Counter>& started_;
  prometheus::Family<prometheus::Counter>& completed_;
  prometheus::Family<prometheus::Counter>& failed_;
  prometheus::Family<prometheus::Counter>& timed_out_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Gauge>& in_flight_;
  prometheus::Family<prometheus::Counter>& claim_errors_;
  prometheus::Family<prometheus::Counter>& report_errors_;
  prometheus::Family<prometheus::Gauge>& empty_polls_;
  prometheus::Family<prometheus::Gauge>& breaker_;
  prometheus::Family<prometheus::Histogram>& per_request_;
};

}  // namespace jobnik::client
