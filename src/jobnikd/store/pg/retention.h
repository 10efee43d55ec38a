// Retention (store/retention.h) on PostgreSQL: statements in queries/retention.sql, the
// job_finished index of schema/0009.
#pragma once

#include "store/pg/pool.h"
#include "store/retention.h"

namespace jobnik::store::pg {

class PgRetention final : public Retention {
 public:
  // `pool` must outlive this.
  explicit PgRetention(Pool& pool) : pool_(pool) {}

  // One transaction: lock the candidates (skipping locked ones), keep the prefix within
  // the batch's task budget, delete them and their stages, tasks and events.
  domain::Result<Pruned> PruneFinishedJobs(domain::JobStatus status, domain::Timestamp finished_before,
                                           const PruneBatch& batch, PruneCursor& cursor) override;

 private:
  Pool& pool_;
};

}  // namespace jobnik::store::pg
