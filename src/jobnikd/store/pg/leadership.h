// Leadership (store/leadership.h) on PostgreSQL: a session-level advisory lock per role
// and schema, held on a dedicated connection (not one of the pool's), so that it moves
// to another instance as soon as the leader's session ends. Statements:
// queries/leadership.sql.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include <pqxx/pqxx>

#include "store/leadership.h"

namespace jobnik::store::pg {

struct PgLeadershipOptions {
  std::string url;                // libpq URL or key=value string
  std::string schema = "jobnik";  // one leader per schema...
  std::string role = "sweeper";   // ...and role
};

class PgLeadership final : public Leadership {
 public:
  explicit PgLeadership(PgLeadershipOptions options);
  // Releases leadership (closes the connection).
  ~PgLeadership() override;
  PgLeadership(const PgLeadership&) = delete;
  PgLeadership& operator=(const PgLeadership&) = delete;

  // Thread-safe. Connects on first use and after a connection loss.
  domain::Result<bool> TryLead() override;
  void Release() override;

 private:
  const PgLeadershipOptions options_;
  std::mutex mu_;
  std::unique_ptr<pqxx::connection> conn_;  // while connected; the lock lives with its session
  bool leader_ = false;
};

}  // namespace jobnik::store::pg
