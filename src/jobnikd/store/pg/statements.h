// The named SQL statements of store/pg/queries/*.sql, compiled into the binary.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include <pqxx/pqxx>

namespace jobnik::store::pg {

// name -> SQL text, parsed once from the embedded query files. A statement starts
// at a "-- name: X" line and runs to the next marker (comments are part of the text).
// A "-- template: X" section is not a statement: code expands it (ClaimStatement).
const std::map<std::string, std::string>& Statements();

// The claim of one batch of dequeues for `types` distinct stage types (the TaskDequeue
// template of task.sql, expanded), 1 <= types <= kMaxClaimTypes; parameters: type 1,
// limit 1, type 2, limit 2, ... Prepared by PrepareAll as ClaimStatementName(types).
inline constexpr std::size_t kMaxClaimTypes = 16;
std::string ClaimStatement(std::size_t types);
std::string ClaimStatementName(std::size_t types);

// Prepares every statement on `conn` under its name (libpqxx sends a statement to the
// server on its first use on that connection).
void PrepareAll(pqxx::connection_base& conn);

}  // namespace jobnik::store::pg
