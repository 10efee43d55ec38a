#include "metrics.h"

#include <prometheus/text_serializer.h>

#include "common/version.h"

namespace jobnik {
Metrics::Metrics()
    : jobs_created(prometheus::BuildCounter()
                       .Name("jobnik_jobs_created_total")
                       .Help("Jobs created.")
                       .Register(*registry_)
                       .Add({})),
      stages_created(prometheus::BuildCounter().Name("jobnik_stages_created_total").Help("Stages created.").Register(*registry_).Add({})),
      tasks_created(prometheus::BuildCounter().Name("jobnik_tasks_created_total").Help("Tasks created.").Register(*registry_).Add({})),
      tasks_dequeued(prometheus::BuildCounter().Name("jobnik_tasks_dequeued_total").Help("Tasks claimed by workers.").Register(*registry_).Add({})),
      dequeue_misses(prometheus::BuildCounter().Name("jobnik_dequeue_misses_total").Help("Dequeue requests that found no claimable task.").Register(*registry_).Add({})),
      tasks_completed(prometheus::BuildCounter().Name("jobnik_tasks_completed_total").Help("Tasks reported COMPLETED.").Register(*registry_).Add({})),
      tasks_failed(prometheus::BuildCounter().Name("jobnik_tasks_failed_total").Help("Tasks that failed for good (attempts exhausted).").Register(*registry_).Add({})),
      tasks_retried(prometheus::BuildCounter().Name("jobnik_tasks_retried_total").Help("Failed tasks scheduled for another attempt.").Register(*registry_).Add({})),
      tasks_swept(prometheus::BuildCounter().Name("jobnik_tasks_swept_total").Help("Stale IN_PROGRESS tasks failed by the sweeper.").Register(*registry_).Add({})),
      spans_dropped(prometheus::BuildCounter().Name("jobnik_trace_spans_dropped_total").Help("Spans dropped because the export queue was full or the exporter failed.").Register(*registry_).Add({})),
      requests_(prometheus::BuildCounter().Name("jobnik_http_requests_total").Help("HTTP requests by route template, method and status.").Register(*registry_)),
      latency_(prometheus::BuildHistogram().Name("jobnik_http_request_duration_seconds").Help("HTTP request latency by route template and method.").Register(*registry_)),
      pool_(prometheus::BuildGauge().Name("jobnik_db_pool_connections").Help("Database pool connections by state (size, open, in_use).").Register(*registry_)),
      pool_counters_(prometheus::BuildCounter().Name("jobnik_db_pool_events_total").Help("Database pool events (waits, timeouts, broken).").Register(*registry_)),
      tasks_(prometheus::BuildGauge().Name("jobnik_tasks").Help("Tasks by stage type and status (cached for a few seconds).").Register(*registry_)),
      jobs_(prometheus::BuildGauge().Name("jobnik_jobs").Help("Jobs by status (cached for a few seconds).").Register(*registry_)) {
  prometheus::BuildGauge()
      .Name("jobnik_build_info")
      .Help("Build information; the value is always 1.")
      .Register(*registry_)
      .Add({{"version", std::string(Version())}})
      .Set(1);
}

void Metrics::ObserveRequest(std::string_view route, std::string_view method, int status, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                                   0.05,   0.1,   0.25,   0.5,   1,    2.5, 5};
  const std::string r(route), m(method);
  requests_.Add({{"route", r}, {"method", m}, {"status", std::to_string(status)}}).Increment();
  latency_.Add({{"route", r}, {"method", m}}, kBuckets).Observe(seconds);
}

void Metrics::SetCollectHook(std::function<void(Metrics&)> hook) {
  std::lock_guard lock(hook_mu_);
  hook_ = std::move(hook);
}

std::string Metrics::Expose() {
  {
    std::lock_guard lock(hook_mu_);
    if (hook_) hook_(*this);
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace jobnik
