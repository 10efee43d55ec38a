#include "store/pg/transaction.h"

namespace jobnik::store::pg {

domain::Status MapDatabaseError(std::string_view operation, const std::exception& e) {
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    spdlog::error("{}: database error (SQLSTATE {}): {}", operation, sql->sqlstate(), sql->what());
    // Connection-level trouble is an availability problem, not a request problem.
    if (sql->sqlstate().rfind("08", 0) == 0 || sql->sqlstate() == "57P01" || sql->sqlstate() == "53300") {
      return {domain::ErrorCode::kUnavailable, "The database is not available"};
    }
  } else {
    spdlog::error("{}: database error: {}", operation, e.what());
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return {domain::ErrorCode::kUnavailable, "The database connection was lost"};
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return {domain::ErrorCode::kDatabase,
            "The database connection was lost while committing; the change may or may not have been applied"};
  }
  return {domain::ErrorCode::kDatabase, "A database error occurred"};
}

}  // namespace jobnik::store::pg
