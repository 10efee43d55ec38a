// Retention (extension; docs/design.md, "Retention"): deleting finished jobs (COMPLETED,
// FAILED, ABORTED) with their stages, tasks and events once they are old enough, in
// bounded batches, so the tables do not grow forever. Run by the sweeper's leader
// (services/sweeper.h) and by `jobnikd prune --once`.
#pragma once

#include <cstdint>

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
  // before `finished_before`, within `batch`'s bounds, with everything that is theirs.
  // Jobs locked by a concurrent change (a retry, a delete) are skipped. Returns what it
  // deleted: fewer than batch.max_jobs jobs means none are left (unless skipped or cut by
  // max_tasks: Pruned::jobs == 0 means done).
  virtual domain::Result<Pruned> PruneFinishedJobs(domain::JobStatus status, domain::Timestamp finished_before,
                                                   const PruneBatch& batch) = 0;
};

}  // namespace jobnik::store
