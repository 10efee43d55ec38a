#include "client/worker_metrics.h"

#include <chrono>
#include <utility>

namespace jobnik::client {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// From 5 ms to an hour: tiny plugins to long conversions.
const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,    2.5,
                                                                5,     10,   30,    60,   120, 300,  600, 1800, 3600};
  return kBuckets;
}

}  // namespace

WorkerMetrics::WorkerMetrics(prometheus::Registry& registry)
    : started_(BuildCounter()
                   .Name("jobnik_worker_tasks_started_total")
                   .Help("Tasks claimed and handed to a handler")
                   .Register(registry)),
      completed_(BuildCounter()
                     .Name("jobnik_worker_tasks_completed_total")
                     .Help("Tasks whose handler succeeded (reported COMPLETED)")
                     .Register(registry)),
      failed_(BuildCounter()
                  .Name("jobnik_worker_tasks_failed_total")
                  .Help("Tasks whose handler failed (reported FAILED), timeouts included")
                  .Register(registry)),
      timed_out_(BuildCounter()
                     .Name("jobnik_worker_tasks_timed_out_total")
                     .Help("Tasks whose handler ran out of time")
                     .Register(registry)),
      duration_(BuildHistogram()
                    .Name("jobnik_worker_handler_duration_seconds")
                    .Help("Time in the handler, from claim to outcome (the report not included)")
                    .Register(registry)),
      in_flight_(BuildGauge()
                     .Name("jobnik_worker_tasks_in_flight")
                     .Help("Tasks claimed and not yet reported")
                     .Register(registry)),
      claim_errors_(BuildCounter()
                        .Name("jobnik_worker_claim_errors_total")
                        .Help("Claims that failed (no answer, or an error other than an empty queue)")
                        .Register(registry)),
      report_errors_(BuildCounter()
                         .Name("jobnik_worker_report_errors_total")
                         .Help("Reports that failed after their retries")
                         .Register(registry)),
      empty_polls_(BuildGauge()
                       .Name("jobnik_worker_empty_polls")
                       .Help("Claims in a row that found nothing (0 after a task)")
                       .Register(registry)),
      breaker_(BuildGauge()
                   .Name("jobnik_worker_breaker_state")
                   .Help("Circuit breaker state: 0 closed, 1 half-open, 2 open")
                   .Register(registry)),
      per_request_(BuildHistogram()
                       .Name("jobnik_worker_tasks_per_request")
                       .Help("Tasks a claim shared by the slots brought back (0: none), or completions a shared "
                             "report carried")
                       .Register(registry)) {}

double WorkerMetrics::GaugeValue(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed:
      return 0;
    case BreakerState::kHalfOpen:
      return 1;
    case BreakerState::kOpen:
      return 2;
  }
  return 0;
}

void WorkerMetrics::CountTimeout(const std::string& stage_type) {
  timed_out_.Add({{"stage_type", stage_type}}).Increment();
}

WorkerHooks WorkerMetrics::Wrap(const std::string& stage_type, WorkerHooks inner) {
  const prometheus::Labels labels{{"stage_type", stage_type}};
  // The series exist (at 0) from the start, so rates and alerts see them before any task.
  auto& started = started_.Add(labels);
  auto& completed = completed_.Add(labels);
  auto& failed = failed_.Add(labels);
  timed_out_.Add(labels);
  auto& duration = duration_.Add(labels, DurationBuckets());
  auto& in_flight = in_flight_.Add(labels);
  auto& claim_errors = claim_errors_.Add(labels);
  auto& report_errors = report_errors_.Add(labels);
  auto& empty_polls = empty_polls_.Add(labels);
  auto& claim_breaker = breaker_.Add({{"stage_type", stage_type}, {"breaker", "claim"}});
  auto& handler_breaker = breaker_.Add({{"stage_type", stage_type}, {"breaker", "handler"}});
  const prometheus::Histogram::BucketBoundaries per_request_buckets{0, 1, 2, 4, 8, 16, 32, 64};
  auto per_request = [&](SharedRequest r) -> prometheus::Histogram& {
    return per_request_.Add({{"stage_type", stage_type}, {"request", std::string(ToString(r))}}, per_request_buckets);
  };
  auto& claims_per_request = per_request(SharedRequest::kClaim);
  auto& reports_per_request = per_request(SharedRequest::kReport);

  WorkerHooks hooks = inner;
  hooks.on_claimed = [&started, &in_flight, &empty_polls, next = std::move(inner.on_claimed)](
                         int slot, const domain::Task& task, Clock::Duration latency) {
    started.Increment();
    in_flight.Increment();
    empty_polls.Set(0);
    if (!next) return Next::kContinue;
    const Next n = next(slot, task, latency);
    if (n == Next::kStopSlot) in_flight.Decrement();  // neither handled nor reported
    return n;
  };
  hooks.on_empty = [&empty_polls, next = std::move(inner.on_empty)](int slot, const std::string& type,
                                                                    Clock::Duration latency) {
    empty_polls.Increment();
    if (next) next(slot, type, latency);
  };
  hooks.on_claim_error = [&claim_errors, next = std::move(inner.on_claim_error)](int slot, const std::string& type,
                                                                                 const domain::Status& error) {
    claim_errors.Increment();
    return next ? next(slot, type, error) : Next::kContinue;
  };
  hooks.on_handled = [&completed, &failed, &duration, next = std::move(inner.on_handled)](
                         int slot, const domain::Task& task, const TaskOutcome& outcome, Clock::Duration d) {
    (outcome.status == domain::TaskStatus::kCompleted ? completed : failed).Increment();
    duration.Observe(std::chrono::duration<double>(d).count());
    if (next) next(slot, task, outcome, d);
  };
  hooks.on_reported = [&in_flight, &report_errors, next = std::move(inner.on_reported)](
                          int slot, const domain::Task& task, domain::TaskStatus requested,
                          const domain::Result<domain::Task>& result, Clock::Duration latency) {
    in_flight.Decrement();
    if (!result.ok()) report_errors.Increment();
    return next ? next(slot, task, requested, result, latency) : Next::kContinue;
  };
  hooks.on_breaker = [&claim_breaker, &handler_breaker, next = std::move(inner.on_breaker)](
                         BreakerKind kind, BreakerState from, BreakerState to) {
    (kind == BreakerKind::kClaim ? claim_breaker : handler_breaker).Set(GaugeValue(to));
    if (next) next(kind, from, to);
  };
  hooks.on_shared_request = [&claims_per_request, &reports_per_request, next = std::move(inner.on_shared_request)](
                                SharedRequest request, std::size_t tasks) {
    (request == SharedRequest::kClaim ? claims_per_request : reports_per_request).Observe(static_cast<double>(tasks));
    if (next) next(request, tasks);
  };
  return hooks;
}

}  // namespace jobnik::client
