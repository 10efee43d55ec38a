// The stale-task sweeper: fails tasks that have been IN_PROGRESS for longer than
// `stale_after`, through exactly the store's worker-report path (so retries, stage
// and job failure behave as if the worker had reported FAILED), in bounded batches.
//
// With several jobnikd on one database only the leader sweeps: leadership is a
// session-level PostgreSQL advisory lock held on a dedicated connection, so it moves
// to another instance as soon as the leader's connection goes away.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <pqxx/pqxx>

#include "domain/model.h"
#include "metrics.h"
#include "store/store.h"

namespace jobnik::services {

struct SweeperOptions {
  std::chrono::seconds interval{60};        // between sweeps
  std::chrono::seconds stale_after{1800};   // IN_PROGRESS longer than this is stale
  int batch = 100;                          // tasks per sweep at most
  std::string database_url;                 // for the leadership connection
  std::string schema = "jobnik";            // the lock is per schema
};

class Sweeper {
 public:
  // `store` and `metrics` (may be null) must outlive the sweeper.
  Sweeper(store::Store& store, Metrics* metrics, SweeperOptions options);
  ~Sweeper();

  // One sweep as of `now`, regardless of leadership (for `jobnikd sweep --once` and
  // tests). Returns how many tasks it failed.
  domain::Result<int> RunOnce(domain::Timestamp now);

  // Starts the background loop; safe to call twice.
  void Start();
  // Stops it (releases leadership); safe to call twice.
  void Stop();

  bool IsLeader() const { return leader_; }

 private:
  void Loop();
  bool TryLead();

  store::Store& store_;
  Metrics* metrics_;
  const SweeperOptions options_;
  std::unique_ptr<pqxx::connection> lock_conn_;
  std::atomic<bool> leader_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace jobnik::services
