// The named SQL statements of store/pg/queries/*.sql, compiled into the binary.
#pragma once

#include <map>
#include <string>

#include <pqxx/pqxx>

namespace jobnik::store::pg {

// name -> SQL text, parsed once from the embedded query files. A statement starts
// at a "-- name: X" line and runs to the next one (comments are part of the text).
const std::map<std::string, std::string>& Statements();

// Prepares every statement on `conn` under its name.
void PrepareAll(pqxx::connection_base& conn);

}  // namespace jobnik::store::pg
