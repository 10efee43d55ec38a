// Schema migrations: the numbered files of schema/ (compiled in), applied in order.
//
// Migrate() takes a transaction-scoped advisory lock keyed on the schema name, so
// any number of processes may migrate the same database at once: one applies, the
// others wait and then find nothing to do. Each run is one transaction: all pending
// migrations apply, or none. A database whose recorded version is newer than this
// binary knows is refused.
#pragma once

#include <string>
#include <vector>

#include "domain/error.h"

namespace jobnik::store::pg {

struct Migration {
  int version = 0;   // from the file name: 0001_init.sql -> 1
  std::string name;  // "0001_init.sql"
  std::string sql;
};

// The compiled-in migrations, sorted by version.
const std::vector<Migration>& Migrations();
int LatestVersion();

struct MigrationReport {
  int from_version = 0;
  int to_version = 0;
  std::vector<std::string> applied;  // names, in order
};

// Creates `schema` if needed and applies pending migrations.
domain::Result<MigrationReport> Migrate(const std::string& url, const std::string& schema);

// The version recorded in `schema` (0 when never migrated).
domain::Result<int> CurrentVersion(const std::string& url, const std::string& schema);

}  // namespace jobnik::store::pg
