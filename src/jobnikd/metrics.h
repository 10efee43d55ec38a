// jobnikd's Prometheus metrics (prometheus-cpp core; exposed by the HTTP layer at
// /metrics in the text format). Names follow Prometheus conventions.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "throughput.h"

namespace jobnik {
namespace store {
struct QueueStats;
class Store;
}  // namespace store
namespace store::pg {
struct PoolStats;
class Pool;
}  // namespace store::pg
namespace tracing {
class Tracer;
}

// Bounds on the per-stage-type queue gauges (jobnik_tasks), so that /metrics does not
// grow with every stage type ever seen (docs/operations.md, "Metrics").
struct StageTypeLimits {
  // Stage types with series of their own at most; the work of further types is summed
  // under stage_type="__other__".
  std::size_t max_types = 200;
  // A type's series are removed once it has had no unfinished work (pending, in progress
  // or retried) for this long; until then they read 0.
  std::chrono::seconds idle_ttl{300};
};

// The value of stage_type for the types beyond StageTypeLimits::max_types.
inline constexpr const char* kOtherStageTypes = "__other__";

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
  // Claims that returned tasks (counted per task) and claims that found none. Their
  // Prometheus names keep v1's word: jobnik_tasks_dequeued_total, jobnik_dequeue_misses_total.
  prometheus::Counter& tasks_claimed;
  prometheus::Counter& claim_misses;
  prometheus::Counter& tasks_completed;
  prometheus::Counter& tasks_failed;
  prometheus::Counter& tasks_retried;
  prometheus::Counter& tasks_swept;
  // The retry scheduler (services/scheduler.h): RETRIED tasks it made claimable once their
  // retry delay was over, and how late after their due time.
  prometheus::Counter& retries_made_ready;
  prometheus::Histogram& retry_lateness;
  prometheus::Counter& spans_dropped;
  // Requests refused by the Host/Origin defenses (http/site_guard.h).
  prometheus::Counter& requests_refused;
  // Bearer tokens (http/auth.h): requests refused 401 (no valid token) and 403 (the
  // token's role may not), and the active tokens this instance knows.
  prometheus::Family<prometheus::Counter>& auth_refusals;
  prometheus::Counter& auth_unauthenticated;
  prometheus::Counter& auth_forbidden;
  prometheus::Gauge& auth_tokens;
  // HTTP connections (http/connections.h, http/task_queue.h): open connections by state
  // (in_flight, receiving: a request head arriving, idle), connections jobnikd closed by
  // reason (header_timeout, idle: shed while more than http.shed_idle_above are open), the server's threads by state
  // (busy, idle) and connections waiting for a thread.
  prometheus::Family<prometheus::Gauge>& http_connections;
  prometheus::Family<prometheus::Counter>& http_connections_closed;
  prometheus::Counter& http_closed_header_timeout;
  prometheus::Counter& http_closed_idle;
  prometheus::Family<prometheus::Gauge>& http_threads;
  prometheus::Gauge& http_connections_queued;
  // Long-poll claims (services/claim_waiter.h): requests waiting for work now, waiters
  // woken (each wake-up is one more claim attempt), wake-up notifications received, and
  // waits ended because their client hung up.
  prometheus::Gauge& claim_waiting;
  prometheus::Counter& claim_wakeups;
  prometheus::Counter& claim_notifications;
  prometheus::Counter& claim_hangups;
  // Job streams (GET /v1/stream, http/streams.h): open now, and refused at stream.max_clients.
  prometheus::Gauge& streams_open;
  prometheus::Counter& streams_refused;
  // Concurrency limits (docs/design.md, "Concurrency limits"): claim requests that got
  // nothing, or less, because their stage type was at its limit; by stage type (only
  // types with a limit, which an operator sets, so the series stay few).
  prometheus::Family<prometheus::Counter>& claims_limited;
  // Requests with an Idempotency-Key (http/idempotency.h) by outcome: started (did the
  // work), replayed (answered from the stored answer), reused (422: the key was used for
  // another request), in_use (409: the first request with the key still runs), taken_over
  // (started over a key whose first request never finished); and expired keys deleted.
  prometheus::Family<prometheus::Counter>& idempotent_requests;
  prometheus::Counter& idempotency_started;
  prometheus::Counter& idempotency_replayed;
  prometheus::Counter& idempotency_reused;
  prometheus::Counter& idempotency_in_use;
  prometheus::Counter& idempotency_taken_over;
  prometheus::Counter& idempotency_keys_expired;
  // Rows deleted by retention (store/retention.h), by table: job, stage, task, job_event.
  prometheus::Family<prometheus::Counter>& pruned_rows;
  prometheus::Counter& pruned_jobs;
  prometheus::Counter& pruned_stages;
  prometheus::Counter& pruned_tasks;
  prometheus::Counter& pruned_events;
  // TLS (tls.h): reloads on SIGHUP by result (success, failure), and when the certificate
  // served expires (Unix seconds). Series only when jobnikd serves https.
  prometheus::Family<prometheus::Counter>& tls_reloads;
  prometheus::Family<prometheus::Gauge>& tls_certificate_expiry;
  // Tasks that reached COMPLETED or FAILED by minute and stage type, until the heartbeat
  // (services/heartbeat.h) takes them to the cluster-wide counts; not exposed here.
  Throughput throughput;

  // Called before each exposition to refresh gauges (pool, queue).
  void SetCollectHook(std::function<void(Metrics&)> hook);

  // jobnikd's collect hook: the pool gauges and the spans-dropped counter on every scrape,
  // the queue gauges at most every `queue_interval` (one grouped query over unfinished
  // stages and jobs). The three must outlive this Metrics or a later SetCollectHook.
  struct Sources {
    const store::pg::Pool* pool = nullptr;
    store::Store* queue_store = nullptr;  // read for the queue gauges
    const tracing::Tracer* tracer = nullptr;
    std::chrono::seconds queue_interval{5};
  };
  void CollectFrom(Sources sources);

  // The parts of a collect hook (call from the hook only: they run under its lock).
  // The pool gauges and counters from a fresh PoolStats.
  void UpdatePool(const store::pg::PoolStats& stats);
  // The spans-dropped counter catches up to the tracer's count.
  void UpdateSpansDropped(std::uint64_t dropped);
  // The queue gauges (jobnik_tasks by stage type, jobnik_jobs by status) from fresh
  // QueueStats taken at `now`, within the stage type limits.
  void UpdateQueue(const store::QueueStats& stats, std::chrono::steady_clock::time_point now);
  void SetStageTypeLimits(StageTypeLimits limits);
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
  // The series of each route, method and status seen (ObserveRequest): looked up once,
  // then found here without building label sets on every request.
  struct RequestSeries {
    prometheus::Counter* requests;
    prometheus::Histogram* latency;
  };
  std::mutex request_series_mu_;
  std::map<std::string, RequestSeries, std::less<>> request_series_;  // by "route method status"
  std::mutex hook_mu_;
  std::function<void(Metrics&)> hook_;

  // Stage types that have series (their own, or counted in __other__); guarded by hook_mu_.
  struct TrackedType {
    std::chrono::steady_clock::time_point last_active;  // last refresh that saw unfinished work
    bool own = false;                                   // has series of its own
  };
  StageTypeLimits type_limits_;
  std::map<std::string, TrackedType> types_;
  bool other_series_ = false;  // the __other__ series exist
  bool cap_logged_ = false;
};

}  // namespace jobnik
