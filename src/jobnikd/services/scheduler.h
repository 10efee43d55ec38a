// The retry scheduler: makes RETRIED tasks whose retry delay is over claimable again
// (docs/design.md, "Retry backoff"). A task failed with a delay waits not `ready` (so
// outside the claim index) with its due time in not_before; each step of the scheduler
// flips the due ones to ready (if their stage and job are active) in bounded batches,
// then sleeps until the next due time, at most `interval`.
//
// Every jobnikd runs it: a step takes its rows with SKIP LOCKED, so two instances never
// promote the same task, and an idle step is two index reads of an empty partial index.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "domain/error.h"
#include "metrics.h"
#include "store/store.h"

namespace jobnik::services {

struct SchedulerOptions {
  std::chrono::milliseconds interval{1000};  // the longest sleep between steps
  int batch = 1000;                          // tasks per statement at most
};

class Scheduler {
 public:
  // `store` and `metrics` must outlive the scheduler; `metrics` may be null.
  Scheduler(store::Store& store, Metrics* metrics, SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Makes every task due now claimable: batches until one comes back short, or until
  // Stop(). Returns how many tasks stopped waiting.
  domain::Result<int> RunOnce();

  // Starts the background loop; safe to call twice.
  void Start();
  // Stops it; safe to call twice.
  void Stop();

 private:
  void Loop();
  bool Stopping();
  // How long to sleep after a step: until the next due time, within [1 ms, interval].
  std::chrono::milliseconds NextWait();

  store::Store& store_;
  Metrics* metrics_;
  const SchedulerOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace jobnik::services
