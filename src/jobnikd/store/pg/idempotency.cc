#include "store/pg/idempotency.h"

#include "store/pg/transaction.h"

namespace jobnik::store::pg {

using Outcome = IdempotencyBegin::Outcome;

domain::Result<IdempotencyBegin> PgIdempotencyKeys::Begin(const IdempotentRequest& request,
                                                          const IdempotencyTimes& times) {
  const auto retention = static_cast<double>(times.retention.count());
  const auto hold = static_cast<double>(times.hold.count());
  // The usual case, a new key: one autocommit statement.
  JOBNIK_ASSIGN_OR_RETURN(const bool inserted,
                          (RunTransaction<bool, pqxx::nontransaction>(
                              pool_, "IdempotencyBegin", [&](pqxx::nontransaction& tx) -> domain::Result<bool> {
                                return !tx.exec_prepared("IdempotencyInsert", request.scope, request.key,
                                                         request.fingerprint, hold)
                                            .empty();
                              })));
  if (inserted) return IdempotencyBegin{Outcome::kStarted, {}, false};
  // The key exists: read it locked, and restart it when it expired or was abandoned.
  return RunTransaction<IdempotencyBegin>(
      pool_, "IdempotencyLookup", [&](pqxx::work& tx) -> domain::Result<IdempotencyBegin> {
        // A key deleted (expired) since the insert: insert it again.
        for (int attempt = 0; attempt < 3; ++attempt) {
          const auto rows = tx.exec_prepared("IdempotencyLookup", request.scope, request.key, retention);
          if (rows.empty()) {
            if (!tx.exec_prepared("IdempotencyInsert", request.scope, request.key, request.fingerprint, hold).empty()) {
              return IdempotencyBegin{Outcome::kStarted, {}, false};
            }
            continue;
          }
          const auto& row = rows[0];
          const bool expired = row["expired"].as<bool>();
          const bool abandoned = row["abandoned"].as<bool>();
          if (expired || abandoned) {
            tx.exec_prepared("IdempotencyRestart", request.scope, request.key, request.fingerprint, hold);
            return IdempotencyBegin{Outcome::kStarted, {}, abandoned && !expired};
          }
          if (row["fingerprint"].as<std::string>() != request.fingerprint) {
            return IdempotencyBegin{Outcome::kReused, {}, false};
          }
          if (row["status"].is_null()) return IdempotencyBegin{Outcome::kInProgress, {}, false};
          return IdempotencyBegin{Outcome::kReplay, {row["status"].as<int>(), row["body"].as<std::string>()}, false};
        }
        return IdempotencyBegin{Outcome::kInProgress, {}, false};
      });
}

domain::Status PgIdempotencyKeys::Finish(const IdempotentRequest& request, const StoredAnswer& answer) {
  return RunTransaction<bool, pqxx::nontransaction>(pool_, "IdempotencyFinish",
                                                    [&](pqxx::nontransaction& tx) -> domain::Result<bool> {
                                                      tx.exec_prepared("IdempotencyFinish", request.scope, request.key,
                                                                       answer.status, answer.body);
                                                      return true;
                                                    })
      .status();
}

domain::Status PgIdempotencyKeys::Abandon(const IdempotentRequest& request) {
  return RunTransaction<bool, pqxx::nontransaction>(pool_, "IdempotencyAbandon",
                                                    [&](pqxx::nontransaction& tx) -> domain::Result<bool> {
                                                      tx.exec_prepared("IdempotencyAbandon", request.scope,
                                                                       request.key);
                                                      return true;
                                                    })
      .status();
}

domain::Result<std::int64_t> PgIdempotencyKeys::DeleteExpired(std::chrono::seconds retention, int limit) {
  return RunTransaction<std::int64_t, pqxx::nontransaction>(
      pool_, "IdempotencyDeleteExpired", [&](pqxx::nontransaction& tx) -> domain::Result<std::int64_t> {
        return static_cast<std::int64_t>(
            tx.exec_prepared("IdempotencyDeleteExpired", static_cast<double>(retention.count()), limit)
                .affected_rows());
      });
}

}  // namespace jobnik::store::pg
