#include "store/pg/leadership.h"

#include <fmt/format.h>

#include "store/pg/statements.h"

namespace jobnik::store::pg {

PgLeadership::PgLeadership(PgLeadershipOptions options) : options_(std::move(options)) {}

PgLeadership::~PgLeadership() {
  Release();
}

domain::Result<bool> PgLeadership::TryLead() {
  std::lock_guard lock(mu_);
  try {
    if (!conn_ || !conn_->is_open()) {
      leader_ = false;
      conn_ = std::make_unique<pqxx::connection>(options_.url);
      for (const char* name : {"LeadershipTryLock", "LeadershipCheck"}) conn_->prepare(name, Statement(name));
    }
    pqxx::nontransaction tx(*conn_);
    if (leader_) {
      // Still holding the lock? The connection answering is enough: the lock lives with it.
      tx.exec_prepared1("LeadershipCheck");
      return true;
    }
    leader_ =
        tx.exec_prepared1("LeadershipTryLock", "jobnik." + options_.role + "." + options_.schema)["leader"].as<bool>();
    return leader_;
  } catch (const std::exception& e) {
    // Whatever broke, start over on a new connection next time (libpqxx 6.4 would
    // otherwise reconnect this one silently, without the lock).
    leader_ = false;
    conn_.reset();
    return domain::Unavailable(fmt::format("the {} leadership connection failed: {}", options_.role, e.what()));
  }
}

void PgLeadership::Release() {
  std::lock_guard lock(mu_);
  conn_.reset();  // closing the session releases the advisory lock
  leader_ = false;
}

}  // namespace jobnik::store::pg
