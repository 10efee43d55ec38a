// The named SQL statements of store/pg/queries/*.sql, compiled into the binary.
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include <pqxx/pqxx>

namespace jobnik::store::pg {

// name -> SQL text, parsed once from the embedded query files. A statement starts
// at a "-- name: X" line and runs to the next marker (comments are part of the text).
// A "-- template: X" section is not a statement: code expands it (ClaimStatementName).
// A "-- fragment: X" section is not a statement either: its text (without the comments
// that trail it) replaces "{X}" in every statement and template, so that statements can
// share a part (StageCountFinished in task.sql); a fragment may use other fragments.
const std::map<std::string, std::string>& Statements();

// The text of statement `name` (of any query file, or an expanded claim: TaskClaimK,
// TaskClaimManyK). Throws std::logic_error naming it when there is none.
const std::string& Statement(const std::string& name);

// The name of the claim of one batch of dequeues for `types` distinct stage types,
// 1 <= types <= kMaxClaimTypes: the TaskClaim template of task.sql, expanded once per
// process and prepared by PrepareAll. Parameters: type 1, limit 1, type 2, limit 2, ...
inline constexpr std::size_t kMaxClaimTypes = 16;
const std::string& ClaimStatementName(std::size_t types);
// The batch claim (POST /v1/tasks/claim) over `types` distinct stage types (same bounds):
// the TaskClaimMany template of task.sql. Parameters: type 1..K, the limit, the worker
// id (or NULL), the lease seconds (or NULL).
const std::string& ClaimManyStatementName(std::size_t types);

// Prepares every statement of the store's query files (job.sql, stage.sql, task.sql, ...)
// on `conn` under its name (libpqxx sends a statement to the server on its first use on
// that connection). Not those of leadership.sql and migrator.sql: they run on
// connections of their own.
void PrepareAll(pqxx::connection_base& conn);

}  // namespace jobnik::store::pg
