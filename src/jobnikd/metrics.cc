#include "metrics.h"

#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <array>
#include <utility>

#include "common/tracer.h"
#include "common/version.h"
#include "domain/status.h"
#include "store/pg/pool.h"
#include "store/store.h"

namespace jobnik {
Metrics::Metrics()
    : jobs_created(prometheus::BuildCounter()
                       .Name("jobnik_jobs_created_total")
                       .Help("Jobs created.")
                       .Register(*registry_)
                       .Add({})),
      stages_created(prometheus::BuildCounter()
                         .Name("jobnik_stages_created_total")
                         .Help("Stages created.")
                         .Register(*registry_)
                         .Add({})),
      tasks_created(prometheus::BuildCounter()
                        .Name("jobnik_tasks_created_total")
                        .Help("Tasks created.")
                        .Register(*registry_)
                        .Add({})),
      tasks_claimed(prometheus::BuildCounter()
                        .Name("jobnik_tasks_dequeued_total")
                        .Help("Tasks claimed by workers.")
                        .Register(*registry_)
                        .Add({})),
      claim_misses(prometheus::BuildCounter()
                       .Name("jobnik_dequeue_misses_total")
                       .Help("Dequeue requests that found no claimable task.")
                       .Register(*registry_)
                       .Add({})),
      tasks_completed(prometheus::BuildCounter()
                          .Name("jobnik_tasks_completed_total")
                          .Help("Tasks reported COMPLETED.")
                          .Register(*registry_)
                          .Add({})),
      tasks_failed(prometheus::BuildCounter()
                       .Name("jobnik_tasks_failed_total")
                       .Help("Tasks that failed for good (attempts exhausted).")
                       .Register(*registry_)
                       .Add({})),
      tasks_retried(prometheus::BuildCounter()
                        .Name("jobnik_tasks_retried_total")
                        .Help("Failed tasks scheduled for another attempt.")
                        .Register(*registry_)
                        .Add({})),
      tasks_swept(prometheus::BuildCounter()
                      .Name("jobnik_tasks_swept_total")
                      .Help("Stale IN_PROGRESS tasks failed by the sweeper.")
                      .Register(*registry_)
                      .Add({})),
      retries_made_ready(
          prometheus::BuildCounter()
              .Name("jobnik_retries_made_ready_total")
              .Help("RETRIED tasks made claimable by the retry scheduler once their retry delay was over.")
              .Register(*registry_)
              .Add({})),
      retry_lateness(prometheus::BuildHistogram()
                         .Name("jobnik_retry_lateness_seconds")
                         .Help("How long after its retry delay was over the retry scheduler made a task claimable.")
                         .Register(*registry_)
                         .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                                          2.5, 5, 10})),
      spans_dropped(prometheus::BuildCounter()
                        .Name("jobnik_trace_spans_dropped_total")
                        .Help("Spans dropped because the export queue was full or the exporter failed.")
                        .Register(*registry_)
                        .Add({})),
      requests_refused(
          prometheus::BuildCounter()
              .Name("jobnik_http_requests_refused_total")
              .Help("Requests refused 403 for their Host or Origin (cross-site or DNS-rebinding defenses).")
              .Register(*registry_)
              .Add({})),
      auth_refusals(prometheus::BuildCounter()
                        .Name("jobnik_http_auth_refusals_total")
                        .Help("Requests refused for their bearer token: 401 none or not valid, 403 role not allowed.")
                        .Register(*registry_)),
      auth_unauthenticated(auth_refusals.Add({{"code", "401"}})),
      auth_forbidden(auth_refusals.Add({{"code", "403"}})),
      auth_tokens(prometheus::BuildGauge()
                      .Name("jobnik_auth_tokens")
                      .Help("Bearer tokens neither revoked nor expired, as this instance last loaded them.")
                      .Register(*registry_)
                      .Add({})),
      http_connections(prometheus::BuildGauge()
                           .Name("jobnik_http_connections")
                           .Help("Open HTTP connections by state: in_flight (a request being served), receiving (a "
                                 "request head arriving), idle (between requests).")
                           .Register(*registry_)),
      http_connections_closed(prometheus::BuildCounter()
                                  .Name("jobnik_http_connections_closed_total")
                                  .Help("HTTP connections jobnikd closed by reason: header_timeout (a request head "
                                        "took longer than http.header_timeout), idle (closed between requests while "
                                        "more than http.shed_idle_above were open).")
                                  .Register(*registry_)),
      http_closed_header_timeout(http_connections_closed.Add({{"reason", "header_timeout"}})),
      http_closed_idle(http_connections_closed.Add({{"reason", "idle"}})),
      http_threads(prometheus::BuildGauge()
                       .Name("jobnik_http_threads")
                       .Help("The HTTP server's threads by state: busy (serving a connection), idle.")
                       .Register(*registry_)),
      http_connections_queued(prometheus::BuildGauge()
                                  .Name("jobnik_http_connections_queued")
                                  .Help("Accepted connections waiting for a thread (http.max_connections are served).")
                                  .Register(*registry_)
                                  .Add({})),
      claim_waiting(prometheus::BuildGauge()
                        .Name("jobnik_claim_waiting_requests")
                        .Help("Claim requests waiting for work (long poll).")
                        .Register(*registry_)
                        .Add({})),
      claim_wakeups(prometheus::BuildCounter()
                        .Name("jobnik_claim_wakeups_total")
                        .Help("Waiting claim requests woken to try their claim again.")
                        .Register(*registry_)
                        .Add({})),
      claim_notifications(prometheus::BuildCounter()
                              .Name("jobnik_claim_notifications_total")
                              .Help("Claimable-work notifications received from PostgreSQL (LISTEN).")
                              .Register(*registry_)
                              .Add({})),
      claim_hangups(prometheus::BuildCounter()
                        .Name("jobnik_claim_wait_hangups_total")
                        .Help("Waiting claim requests ended early because their client closed the connection.")
                        .Register(*registry_)
                        .Add({})),
      streams_open(prometheus::BuildGauge()
                       .Name("jobnik_streams_open")
                       .Help("Job streams (GET /v1/stream) open now.")
                       .Register(*registry_)
                       .Add({})),
      streams_refused(prometheus::BuildCounter()
                          .Name("jobnik_streams_refused_total")
                          .Help("Job streams refused because stream.max_clients were open.")
                          .Register(*registry_)
                          .Add({})),
      claims_limited(prometheus::BuildCounter()
                         .Name("jobnik_claims_limited_total")
                         .Help("Claim requests that got nothing (or fewer tasks) because their stage type was at "
                               "its concurrency limit.")
                         .Register(*registry_)),
      idempotent_requests(prometheus::BuildCounter()
                              .Name("jobnik_idempotent_requests_total")
                              .Help("Requests with an Idempotency-Key by outcome (started, replayed, reused, in_use, "
                                    "taken_over).")
                              .Register(*registry_)),
      idempotency_started(idempotent_requests.Add({{"outcome", "started"}})),
      idempotency_replayed(idempotent_requests.Add({{"outcome", "replayed"}})),
      idempotency_reused(idempotent_requests.Add({{"outcome", "reused"}})),
      idempotency_in_use(idempotent_requests.Add({{"outcome", "in_use"}})),
      idempotency_taken_over(idempotent_requests.Add({{"outcome", "taken_over"}})),
      idempotency_keys_expired(prometheus::BuildCounter()
                                   .Name("jobnik_idempotency_keys_expired_total")
                                   .Help("Idempotency keys deleted by the sweeper after their retention.")
                                   .Register(*registry_)
                                   .Add({})),
      pruned_rows(prometheus::BuildCounter()
                      .Name("jobnik_pruned_rows_total")
                      .Help("Rows of finished jobs deleted by retention, by table.")
                      .Register(*registry_)),
      pruned_jobs(pruned_rows.Add({{"table", "job"}})),
      pruned_stages(pruned_rows.Add({{"table", "stage"}})),
      pruned_tasks(pruned_rows.Add({{"table", "task"}})),
      pruned_events(pruned_rows.Add({{"table", "job_event"}})),
      tls_reloads(prometheus::BuildCounter()
                      .Name("jobnik_tls_reloads_total")
                      .Help("Reloads of the TLS certificate, key and client CA (SIGHUP) by result.")
                      .Register(*registry_)),
      tls_certificate_expiry(prometheus::BuildGauge()
                                 .Name("jobnik_tls_certificate_expiry_timestamp_seconds")
                                 .Help("When the TLS certificate served expires (Unix time).")
                                 .Register(*registry_)),
      requests_(prometheus::BuildCounter()
                    .Name("jobnik_http_requests_total")
                    .Help("HTTP requests by route template, method and status.")
                    .Register(*registry_)),
      latency_(prometheus::BuildHistogram()
                   .Name("jobnik_http_request_duration_seconds")
                   .Help("HTTP request latency by route template and method.")
                   .Register(*registry_)),
      pool_(prometheus::BuildGauge()
                .Name("jobnik_db_pool_connections")
                .Help("Database pool connections by state (size, open, in_use).")
                .Register(*registry_)),
      pool_counters_(prometheus::BuildCounter()
                         .Name("jobnik_db_pool_events_total")
                         .Help("Database pool events (waits, timeouts, broken).")
                         .Register(*registry_)),
      tasks_(prometheus::BuildGauge()
                 .Name("jobnik_tasks")
                 .Help("Tasks by stage type and status (cached for a few seconds).")
                 .Register(*registry_)),
      jobs_(prometheus::BuildGauge()
                .Name("jobnik_jobs")
                .Help("Jobs by status (cached for a few seconds).")
                .Register(*registry_)) {
  prometheus::BuildGauge()
      .Name("jobnik_build_info")
      .Help("Build information; the value is always 1.")
      .Register(*registry_)
      .Add({{"version", std::string(Version())}})
      .Set(1);
}

void Metrics::ObserveRequest(std::string_view route, std::string_view method, int status, double seconds) {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                   0.1,    0.25,  0.5,    1,     2.5,  5};
  thread_local std::string key;  // kept: no allocation once it is long enough
  key.assign(route);
  key += ' ';
  key += method;
  key += ' ';
  const std::string status_text = std::to_string(status);  // short: no allocation either
  key += status_text;
  RequestSeries series{};
  {
    std::lock_guard lock(request_series_mu_);
    auto it = request_series_.find(std::string_view(key));
    if (it == request_series_.end()) {
      const std::string r(route), m(method);
      it = request_series_
               .emplace(key, RequestSeries{&requests_.Add({{"route", r}, {"method", m}, {"status", status_text}}),
                                           &latency_.Add({{"route", r}, {"method", m}}, kBuckets)})
               .first;
    }
    series = it->second;
  }
  series.requests->Increment();
  series.latency->Observe(seconds);
}

void Metrics::SetCollectHook(std::function<void(Metrics&)> hook) {
  std::lock_guard lock(hook_mu_);
  hook_ = std::move(hook);
}

void Metrics::CollectFrom(Sources sources) {
  SetCollectHook([sources, queue_refreshed = std::chrono::steady_clock::time_point{}](Metrics& m) mutable {
    m.UpdateSpansDropped(sources.tracer->Dropped());
    m.UpdatePool(sources.pool->Stats());
    const auto now = std::chrono::steady_clock::now();
    if (now - queue_refreshed < sources.queue_interval) return;
    queue_refreshed = now;
    if (auto q = sources.queue_store->GetQueueStats(); q.ok()) m.UpdateQueue(*q, now);
  });
}

void Metrics::UpdatePool(const store::pg::PoolStats& s) {
  pool_.Add({{"state", "size"}}).Set(s.size);
  pool_.Add({{"state", "open"}}).Set(s.open);
  pool_.Add({{"state", "in_use"}}).Set(s.in_use);
  // The pool keeps its own monotonic counts; the counters catch up to them.
  for (const auto& [event, count] : {std::pair{"wait", s.waits}, {"timeout", s.timeouts}, {"broken", s.broken}}) {
    auto& c = pool_counters_.Add({{"event", event}});
    c.Increment(static_cast<double>(count) - c.Value());
  }
}

void Metrics::UpdateSpansDropped(std::uint64_t dropped) {
  spans_dropped.Increment(static_cast<double>(dropped) - spans_dropped.Value());
}

void Metrics::SetStageTypeLimits(StageTypeLimits limits) {
  std::lock_guard lock(hook_mu_);
  type_limits_ = limits;
}

void Metrics::UpdateQueue(const store::QueueStats& q, std::chrono::steady_clock::time_point now) {
  static constexpr std::array<const char*, 3> kStatuses = {"PENDING", "IN_PROGRESS", "RETRIED"};
  using Counts = std::array<std::int64_t, 3>;
  auto set = [this](const std::string& type, const Counts& counts) {
    for (std::size_t i = 0; i < kStatuses.size(); ++i) {
      tasks_.Add({{"stage_type", type}, {"status", kStatuses[i]}}).Set(static_cast<double>(counts[i]));
    }
  };
  auto remove = [this](const std::string& type) {
    for (const char* status : kStatuses) tasks_.Remove(&tasks_.Add({{"stage_type", type}, {"status", status}}));
  };

  std::map<std::string, Counts> current;
  for (const auto& t : q.tasks) {
    const Counts counts{t.pending, t.in_progress, t.retried};
    current[t.stage_type] = counts;
    auto [it, added] = types_.try_emplace(t.stage_type, TrackedType{now, false});
    if (!added && (t.pending > 0 || t.in_progress > 0 || t.retried > 0)) it->second.last_active = now;
  }
  // Types idle for longer than the TTL lose their series; the others keep their own, and
  // types new to the gauges get their own while there is room.
  std::size_t own = 0;
  for (auto it = types_.begin(); it != types_.end();) {
    if (now - it->second.last_active > type_limits_.idle_ttl) {
      if (it->second.own) remove(it->first);
      it = types_.erase(it);
    } else {
      own += it->second.own ? 1 : 0;
      ++it;
    }
  }
  Counts other{};
  bool any_other = false;
  for (auto& [type, tracked] : types_) {
    if (!tracked.own && own < type_limits_.max_types) {
      tracked.own = true;
      ++own;
    }
    const auto found = current.find(type);
    const Counts counts = found == current.end() ? Counts{} : found->second;
    if (tracked.own) {
      set(type, counts);
    } else {
      any_other = true;
      for (std::size_t i = 0; i < counts.size(); ++i) other[i] += counts[i];
    }
  }
  if (any_other) {
    set(kOtherStageTypes, other);
    if (!cap_logged_) {
      spdlog::warn(
          "metrics: more than {} stage types have unfinished work; the others are counted under "
          "stage_type=\"{}\"",
          type_limits_.max_types, kOtherStageTypes);
      cap_logged_ = true;
    }
  } else if (other_series_) {
    remove(kOtherStageTypes);
  }
  other_series_ = any_other;

  for (auto status : {domain::JobStatus::kCreated, domain::JobStatus::kPending, domain::JobStatus::kInProgress,
                      domain::JobStatus::kPaused}) {
    std::int64_t n = 0;
    for (const auto& [st, count] : q.jobs) {
      if (st == status) n = count;
    }
    jobs_.Add({{"status", std::string(domain::ToString(status))}}).Set(static_cast<double>(n));
  }
}

std::string Metrics::Expose() {
  {
    std::lock_guard lock(hook_mu_);
    if (hook_) hook_(*this);
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace jobnik
