// Retention (extension; docs/design.md, "Retention"): deleting finished jobs (COMPLETED,
// FAILED, ABORTED) with their stages, tasks and events once they are old enough, in
// bounded batches, so the tables do not grow forever. Run by the sweeper's leader
// (services/sweeper.h) and by `jobnikd prune --once`.
#pragma once

#include <cstdint>
#include <string>

#include "domain/error.h"
#include "domain/status.h"
#include "domain/time.h"

namespace jobnik::store {

// Rows deleted, by table.
struct Pruned {
  std::int64_t jobs = 0;
  std::int64_t stages = 0;
  std::int64_t tasks = 0;
  std::int64_t events = 0;

  Pruned& operator+=(const Pruned& o) {
    jobs += o.jobs;
    stages += o.stages;
    tasks += o.tasks;
    events += o.events;
    return *this;
  }
};

// Where a prune stopped: the last job a batch deleted, in the order jobs are pruned
// (update_time, id), as the store wrote them (exact, opaque to callers). The next batch of
// the same status and cutoff starts after it; a fresh cursor starts at the oldest.
struct PruneCursor {
  std::string update_time;  // empty: from the start
  std::string id;
};

// One batch's bounds: at most `max_jobs` jobs and, counting their tasks, at most
// `max_tasks` tasks, except that a first job with more tasks than that is deleted alone.
struct PruneBatch {
  int max_jobs = 100;
  std::int64_t max_tasks = 10000;
};

class Retention {
 public:
  virtual ~Retention() = default;

  // Deletes, in one transaction, the oldest jobs of `status` (a final one) last changed
  // before `finished_before` and after `cursor`, within `batch`'s bounds, with everything
  // that is theirs, and moves `cursor` to the last one deleted. Jobs locked by a concurrent
  // change (a retry, a delete) are skipped (a later prune, with a fresh cursor, sees them
  // again). Returns what it deleted: Pruned::jobs == 0 means none are left.
  virtual domain::Result<Pruned> PruneFinishedJobs(domain::JobStatus status, domain::Timestamp finished_before,
                                                   const PruneBatch& batch, PruneCursor& cursor) = 0;
};

}  // namespace jobnik::store
