// IdempotencyKeys (store/idempotency.h) on PostgreSQL: the idempotency_key table
// (schema/0006), statements in queries/idempotency.sql, on the store's pool.
#pragma once

#include "store/idempotency.h"
#include "store/pg/pool.h"

namespace jobnik::store::pg {

class PgIdempotencyKeys final : public IdempotencyKeys {
 public:
  // `pool` must outlive this.
  explicit PgIdempotencyKeys(Pool& pool) : pool_(pool) {}

  // A new key: one autocommit insert. An existing one: a transaction reads it locked (and
  // restarts it when expired or abandoned). Concurrent Begins of one new key: one inserts,
  // the others wait for its commit and then read it (kInProgress).
  domain::Result<IdempotencyBegin> Begin(const IdempotentRequest& request, const IdempotencyTimes& times) override;
  domain::Status Finish(const IdempotentRequest& request, const StoredAnswer& answer) override;
  domain::Status Abandon(const IdempotentRequest& request) override;
  domain::Result<std::int64_t> DeleteExpired(std::chrono::seconds retention, int limit) override;

 private:
  Pool& pool_;
};

}  // namespace jobnik::store::pg
