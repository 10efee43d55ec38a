// Runs one unit of work in one database transaction, with the retry and error
// mapping policy of the whole store:
//  - the body returns a Result; an error Result rolls the transaction back, an ok
//    one commits it, so nothing of a failed request is left behind;
//  - serialization failures and deadlocks are retried from the start (a fresh
//    transaction), a few times;
//  - a broken connection is discarded and the work retried once on a new one (the
//    server rolled the transaction back, so this is safe) unless the break happened
//    during COMMIT, when the outcome is unknown and the client is told so;
//  - any other database error becomes DATABASE_RELATED_ERROR with a message that
//    names no SQL; the details go to the log with the operation's name.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>
#include <pqxx/pqxx>

#include "common/tracer.h"
#include "domain/error.h"
#include "store/pg/pool.h"

namespace jobnik::store::pg {

domain::Status MapDatabaseError(std::string_view operation, const std::exception& e);

// Tx is pqxx::work (the default) or pqxx::nontransaction for a single statement in
// autocommit mode (one round trip instead of BEGIN, statement, COMMIT).
// `plans`: the plan mode of the connection (pool.h); kGeneric for the batched hot paths.
template <typename T, typename Tx = pqxx::work, typename Body>
domain::Result<T> RunTransaction(Pool& pool, std::string_view operation, Body&& body, Plans plans = Plans::kDefault) {
  constexpr int kMaxAttempts = 5;
  bool retried_broken = false;
  // A child of the request's span (a no-op when tracing is off).
  tracing::ChildSpan span("db.transaction " + std::string(operation), tracing::SpanKind::kClient);
  span.SetAttribute("db.system", "postgresql");
  span.SetAttribute("db.operation", std::string(operation));
  for (int attempt = 1;; ++attempt) {
    JOBNIK_ASSIGN_OR_RETURN(auto lease, pool.Acquire(plans));
    bool committing = false;
    try {
      lease.UsePlans(plans);
      Tx tx(*lease);
      domain::Result<T> result = body(tx);
      if (result.ok()) {
        committing = true;
        tx.commit();
      }  // else: the destructor rolls back
      return result;
    } catch (const pqxx::in_doubt_error& e) {
      lease.MarkBroken();
      span.SetError();
      return MapDatabaseError(operation, e);
    } catch (const pqxx::broken_connection& e) {
      lease.MarkBroken();
      if (committing || retried_broken) {
        span.SetError();
        return MapDatabaseError(operation, e);
      }
      retried_broken = true;
      spdlog::warn("{}: database connection lost, retrying on a new connection", operation);
    } catch (const pqxx::serialization_failure& e) {
      if (attempt >= kMaxAttempts) return MapDatabaseError(operation, e);
      spdlog::debug("{}: serialization failure, retrying ({})", operation, attempt);
    } catch (const pqxx::deadlock_detected& e) {
      if (attempt >= kMaxAttempts) return MapDatabaseError(operation, e);
      spdlog::info("{}: deadlock detected, retrying ({})", operation, attempt);
    } catch (const std::exception& e) {
      span.SetError();
      return MapDatabaseError(operation, e);
    }
  }
}

}  // namespace jobnik::store::pg
