#include "services/sweeper.h"

#include <spdlog/spdlog.h>

namespace jobnik::services {

Sweeper::Sweeper(store::Store& store, Metrics* metrics, SweeperOptions options)
    : store_(store), metrics_(metrics), options_(std::move(options)) {}

Sweeper::~Sweeper() { Stop(); }

domain::Result<int> Sweeper::RunOnce(domain::Timestamp now) {
  const auto cutoff = now - std::chrono::duration_cast<std::chrono::microseconds>(options_.stale_after);
  auto reports = store_.FailStaleTasks(cutoff, options_.batch);
  if (!reports.ok()) return reports.status();
  for (const auto& r : *reports) {
    spdlog::warn("sweeper: task {} of stage {} (job {}) was IN_PROGRESS too long; now {} (attempt {}/{})", r.task.id,
                 r.task.stage_id, r.job_id, domain::ToString(r.task.status), r.task.attempts, r.task.max_attempts);
  }
  if (metrics_) metrics_->tasks_swept.Increment(static_cast<double>(reports->size()));
  return static_cast<int>(reports->size());
}

bool Sweeper::TryLead() {
  try {
    if (!lock_conn_ || !lock_conn_->is_open()) {
      leader_ = false;
      lock_conn_ = std::make_unique<pqxx::connection>(options_.database_url);
    }
    if (leader_) {
      // Still holding the lock? The connection answering is enough: the lock lives with it.
      pqxx::nontransaction tx(*lock_conn_);
      tx.exec1("SELECT 1");
      return true;
    }
    pqxx::nontransaction tx(*lock_conn_);
    auto r = tx.exec_params1("SELECT pg_try_advisory_lock(hashtext($1))", "jobnik.sweeper." + options_.schema);
    leader_ = r[0].as<bool>();
    if (leader_) spdlog::info("sweeper: this instance is now the sweeping leader");
  } catch (const std::exception& e) {
    if (leader_) spdlog::warn("sweeper: lost leadership: {}", e.what());
    leader_ = false;
    lock_conn_.reset();
  }
  return leader_;
}

void Sweeper::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    if (TryLead()) {
      const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
      // Sweep until a batch comes back short, so a backlog clears within one interval.
      for (;;) {
        auto n = RunOnce(now);
        if (!n.ok()) {
          spdlog::error("sweeper: {}", n.status().message());
          break;
        }
        if (*n < options_.batch) break;
        std::lock_guard check(mu_);
        if (stopping_) break;
      }
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
  lock_conn_.reset();  // closing the session releases the advisory lock
  leader_ = false;
}

}  // namespace jobnik::services
