#include "services/sweeper.h"

#include <iterator>
#include <utility>

#include <spdlog/spdlog.h>

#include "domain/time.h"

namespace jobnik::services {
namespace {

// When a retried task is claimable again, if it waits for its retry delay.
std::string RetryNote(const domain::Task& t) {
  return t.not_before ? "; claimable again from " + domain::FormatTime(*t.not_before) : "";
}

}  // namespace

Sweeper::Sweeper(store::Store& store, store::Leadership* leadership, Metrics* metrics, SweeperOptions options)
    : store_(store), leadership_(leadership), metrics_(metrics), options_(std::move(options)) {}

Sweeper::~Sweeper() {
  Stop();
}

domain::Result<int> Sweeper::RunOnce(domain::Timestamp now) {
  // Leased tasks live by their lease, the others by stale_after.
  JOBNIK_ASSIGN_OR_RETURN(auto expired, store_.FailExpiredLeases(now, options_.batch));
  for (const auto& r : expired) {
    spdlog::warn("sweeper: the lease of task {} of stage {} (job {}) expired{}{}; now {} (attempt {}/{}){}", r.task.id,
                 r.task.stage_id, r.job_id, r.task.worker_id ? " (worker " + *r.task.worker_id : "",
                 r.task.worker_id ? ")" : "", domain::ToString(r.task.status), r.task.attempts, r.task.max_attempts,
                 RetryNote(r.task));
  }
  const auto cutoff = now - std::chrono::duration_cast<std::chrono::microseconds>(options_.stale_after);
  JOBNIK_ASSIGN_OR_RETURN(auto reports, store_.FailStaleTasks(cutoff, options_.batch));
  for (const auto& r : reports) {
    spdlog::warn("sweeper: task {} of stage {} (job {}) was IN_PROGRESS too long; now {} (attempt {}/{}){}", r.task.id,
                 r.task.stage_id, r.job_id, domain::ToString(r.task.status), r.task.attempts, r.task.max_attempts,
                 RetryNote(r.task));
  }
  const auto swept = expired.size() + reports.size();
  if (metrics_) {
    metrics_->tasks_swept.Increment(static_cast<double>(swept));
    for (const auto* list : {&expired, &reports}) {
      for (const auto& r : *list) metrics_->throughput.Count(r.stage_type, r.task.status, now);
    }
  }
  return static_cast<int>(swept);
}

domain::Result<int> Sweeper::SweepAll(domain::Timestamp now) {
  int total = 0;
  for (;;) {
    JOBNIK_ASSIGN_OR_RETURN(const int n, RunOnce(now));
    total += n;
    if (n < options_.batch || Stopping()) return total;
  }
}

domain::Result<std::int64_t> Sweeper::ExpireIdempotencyKeys() {
  std::int64_t total = 0;
  if (!options_.idempotency_keys) return total;
  for (;;) {
    JOBNIK_ASSIGN_OR_RETURN(const std::int64_t n, options_.idempotency_keys->DeleteExpired(
                                                      options_.idempotency_retention, options_.idempotency_batch));
    total += n;
    if (metrics_) metrics_->idempotency_keys_expired.Increment(static_cast<double>(n));
    if (n < options_.idempotency_batch || Stopping()) break;
  }
  if (total > 0) spdlog::info("sweeper: deleted {} expired idempotency key(s)", total);
  return total;
}

domain::Result<store::Pruned> Sweeper::Prune(domain::Timestamp now,
                                             std::optional<std::chrono::steady_clock::time_point> deadline) {
  store::Pruned total;
  if (!options_.Prunes()) return total;
  const std::pair<domain::JobStatus, std::chrono::seconds> ages[] = {
      {domain::JobStatus::kCompleted, options_.retain_completed},
      {domain::JobStatus::kFailed, options_.retain_failed},
      {domain::JobStatus::kAborted, options_.retain_aborted}};
  // Each call starts with the next status, so a backlog of one that outlasts the deadline
  // does not keep the others waiting.
  const std::size_t first = prune_turn_++ % std::size(ages);
  for (std::size_t i = 0; i < std::size(ages); ++i) {
    const auto& [status, age] = ages[(first + i) % std::size(ages)];
    if (age.count() == 0) continue;
    const auto before = now - std::chrono::duration_cast<std::chrono::microseconds>(age);
    store::Pruned of_status;
    store::PruneCursor cursor;
    for (;;) {
      const auto started = std::chrono::steady_clock::now();
      JOBNIK_ASSIGN_OR_RETURN(const auto batch,
                              options_.retention->PruneFinishedJobs(status, before, options_.prune_batch, cursor));
      const auto took = std::chrono::steady_clock::now() - started;
      of_status += batch;
      if (metrics_) {
        metrics_->pruned_jobs.Increment(static_cast<double>(batch.jobs));
        metrics_->pruned_stages.Increment(static_cast<double>(batch.stages));
        metrics_->pruned_tasks.Increment(static_cast<double>(batch.tasks));
        metrics_->pruned_events.Increment(static_cast<double>(batch.events));
      }
      if (batch.jobs == 0) break;
      if (deadline && std::chrono::steady_clock::now() >= *deadline) break;
      // Rest as long as the batch took: a backlog is worked off at half speed, leaving
      // the database's CPU and I/O to the claims at least half the time.
      if (PauseOrStop(std::chrono::duration_cast<std::chrono::steady_clock::duration>(took * options_.prune_rest)))
        break;
    }
    if (of_status.jobs > 0) {
      spdlog::info("retention: deleted {} {} job(s) unchanged since before {} ({} stage(s), {} task(s), {} event(s))",
                   of_status.jobs, domain::ToString(status), domain::FormatTime(before), of_status.stages,
                   of_status.tasks, of_status.events);
    }
    total += of_status;
    if (Stopping() || (deadline && std::chrono::steady_clock::now() >= *deadline)) break;
  }
  return total;
}

bool Sweeper::PauseOrStop(std::chrono::steady_clock::duration pause) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, pause, [this] { return stopping_; });
}

bool Sweeper::Stopping() {
  std::lock_guard lock(mu_);
  return stopping_;
}

bool Sweeper::TryLead() {
  auto lead = leadership_ ? leadership_->TryLead() : domain::Result<bool>(true);
  const bool leading = lead.ok() && *lead;
  if (leading && !leader_) spdlog::info("sweeper: this instance is now the sweeping leader");
  if (!leading && leader_) {
    spdlog::warn("sweeper: lost leadership{}", lead.ok() ? "" : ": " + lead.status().message());
  }
  leader_ = leading;
  return leading;
}

void Sweeper::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    if (TryLead()) {
      const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
      const auto started = std::chrono::steady_clock::now();
      store::SweepRecord record;
      record.at = now;
      if (auto n = SweepAll(now); !n.ok()) {
        spdlog::error("sweeper: {}", n.status().message());
      } else {
        record.tasks_failed = *n;
      }
      if (auto n = ExpireIdempotencyKeys(); !n.ok()) {
        spdlog::error("sweeper: idempotency keys: {}", n.status().message());
      } else {
        record.keys_expired = *n;
      }
      if (auto n = Prune(now, std::chrono::steady_clock::now() + options_.prune_budget); !n.ok()) {
        spdlog::error("retention: {}", n.status().message());
      } else {
        record.jobs_pruned = n->jobs;
      }
      record.duration =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      if (options_.on_sweep) options_.on_sweep(record);
    }
    lock.lock();
    cv_.wait_for(lock, options_.interval, [this] { return stopping_; });
  }
}

void Sweeper::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Sweeper::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (leadership_) leadership_->Release();
  leader_ = false;
}

}  // namespace jobnik::services
