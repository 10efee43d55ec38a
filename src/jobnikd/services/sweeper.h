// The stale-task sweeper: fails leased tasks whose lease expired (reason "lease expired")
// and tasks claimed without a lease that have been IN_PROGRESS for longer than
// `stale_after` (reason "stale"), through exactly the store's worker-report path (so
// retries, stage and job failure behave as if the worker had reported FAILED), in
// bounded batches.
//
// After each sweep it also deletes the idempotency keys past their retention, and the
// finished jobs past theirs (retention, store/retention.h).
//
// With several jobnikd on one database only the leader sweeps (store/leadership.h):
// leadership moves to another instance as soon as the leader goes away.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "domain/model.h"
#include "metrics.h"
#include "store/idempotency.h"
#include "store/instances.h"
#include "store/leadership.h"
#include "store/retention.h"
#include "store/store.h"

namespace jobnik::services {

struct SweeperOptions {
  std::chrono::seconds interval{60};       // between sweeps
  std::chrono::seconds stale_after{1800};  // IN_PROGRESS longer than this is stale
  int batch = 100;                         // tasks per batch at most
  // Idempotency keys (store/idempotency.h; null: none) are deleted once older than
  // `idempotency_retention`, in batches of `idempotency_batch`, after each sweep.
  store::IdempotencyKeys* idempotency_keys = nullptr;
  std::chrono::seconds idempotency_retention{86400};
  int idempotency_batch = 1000;
  // Retention (null: none): finished jobs are deleted once unchanged for their status's
  // age (0: kept forever), `prune_batch` at a time, after each sweep for at most
  // `prune_budget` (the rest waits for the next turn, so a large backlog never holds up
  // the next sweep).
  store::Retention* retention = nullptr;
  std::chrono::seconds retain_completed{0};
  std::chrono::seconds retain_failed{0};
  std::chrono::seconds retain_aborted{0};
  store::PruneBatch prune_batch{};
  std::chrono::seconds prune_budget{30};
  // After each batch the prune rests this many times as long as the batch took (1: it
  // works at most half the time); 0: no rest (tests).
  double prune_rest = 1.0;
  // Called after each turn of the background loop as the leader, with what it did (the
  // daemon records it on its instance's row, store/instances.h); may be empty.
  std::function<void(const store::SweepRecord&)> on_sweep = nullptr;

  // Whether any status has a retention.
  bool Prunes() const {
    return retention && (retain_completed.count() || retain_failed.count() || retain_aborted.count());
  }
};

class Sweeper {
 public:
  // `store`, `leadership` and `metrics` must outlive the sweeper. `leadership` null:
  // this instance always sweeps; `metrics` may be null.
  Sweeper(store::Store& store, store::Leadership* leadership, Metrics* metrics, SweeperOptions options);
  ~Sweeper();

  // One batch of each kind as of `now`, regardless of leadership. Returns how many tasks
  // it failed.
  domain::Result<int> RunOnce(domain::Timestamp now);
  // A whole sweep as of `now`, regardless of leadership (`jobnikd sweep --once`, and each
  // turn of the background loop): batches until one comes back short, so a backlog
  // clears at once, or until Stop(). Returns how many tasks it failed in all.
  domain::Result<int> SweepAll(domain::Timestamp now);
  // Deletes the expired idempotency keys, batch after batch until one comes back short or
  // Stop(). Returns how many it deleted (0 without options.idempotency_keys).
  domain::Result<std::int64_t> ExpireIdempotencyKeys();
  // Deletes the finished jobs past their retention as of `now`, batch after batch, until
  // none are left, Stop(), or `deadline` (none: no limit; `jobnikd prune --once`).
  // Returns the rows it deleted (none without options.retention).
  domain::Result<store::Pruned> Prune(domain::Timestamp now,
                                      std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);

  // Starts the background loop (a sweep every `interval` while leading); safe to call twice.
  void Start();
  // Stops it and releases leadership; safe to call twice.
  void Stop();

  bool IsLeader() const { return leader_; }

 private:
  void Loop();
  bool TryLead();
  bool Stopping();
  // Waits `pause` or until Stop(); true when stopping.
  bool PauseOrStop(std::chrono::steady_clock::duration pause);

  store::Store& store_;
  store::Leadership* leadership_;
  Metrics* metrics_;
  const SweeperOptions options_;
  std::atomic<bool> leader_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::size_t prune_turn_ = 0;  // Prune's first status this time (only the loop's thread prunes)
  std::thread thread_;
};

}  // namespace jobnik::services
