#include "services/scheduler.h"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cmath>

namespace jobnik::services {

Scheduler::Scheduler(store::Store& store, Metrics* metrics, SchedulerOptions options)
    : store_(store), metrics_(metrics), options_(options) {}

Scheduler::~Scheduler() {
  Stop();
}

domain::Result<int> Scheduler::RunOnce() {
  int total = 0;
  for (;;) {
    JOBNIK_ASSIGN_OR_RETURN(auto due, store_.PromoteDueTasks(options_.batch));
    for (const auto& t : due) {
      spdlog::debug("retry scheduler: task {} of stage {} (job {}) {} ({:.3f} s after its retry delay)", t.id,
                    t.stage_id, t.job_id, t.ready ? "is claimable again" : "waits for its stage and job to be active",
                    t.late_seconds);
      if (metrics_) metrics_->retry_lateness.Observe(std::max(0.0, t.late_seconds));
    }
    if (metrics_) metrics_->retries_made_ready.Increment(static_cast<double>(due.size()));
    total += static_cast<int>(due.size());
    if (static_cast<int>(due.size()) < options_.batch || Stopping()) return total;
  }
}

std::chrono::milliseconds Scheduler::NextWait() {
  const std::chrono::milliseconds shortest{1};
  auto next = store_.NextRetryDue();
  if (!next.ok() || !*next) return options_.interval;
  // Rounded up, so that the next step finds the task due.
  const double ms = std::ceil(std::max(0.0, **next) * 1000);
  if (ms >= static_cast<double>(options_.interval.count())) return options_.interval;
  return std::max(shortest, std::chrono::milliseconds(static_cast<long long>(ms)));
}

bool Scheduler::Stopping() {
  std::lock_guard lock(mu_);
  return stopping_;
}

void Scheduler::Loop() {
  std::unique_lock lock(mu_);
  bool failing = false;
  while (!stopping_) {
    lock.unlock();
    auto wait = options_.interval;
    if (auto n = RunOnce(); !n.ok()) {
      if (!failing) spdlog::error("retry scheduler: {}", n.status().message());  // once per outage
      failing = true;
    } else {
      if (failing) spdlog::info("retry scheduler: working again");
      failing = false;
      wait = NextWait();
    }
    lock.lock();
    cv_.wait_for(lock, wait, [this] { return stopping_; });
  }
}

void Scheduler::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace jobnik::services
