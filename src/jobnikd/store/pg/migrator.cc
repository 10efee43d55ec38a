#include "store/pg/migrator.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <pqxx/pqxx>
#include <string_view>

#include "common/embedded.h"
#include "store/pg/statements.h"

namespace jobnik::store::pg {
namespace {

std::vector<Migration> Load() {
  std::vector<Migration> out;
  for (const auto& f : embedded::migrations::Files()) {
    Migration m;
    m.name = std::string(f.name);
    m.version = std::stoi(m.name.substr(0, m.name.find('_')));
    m.sql = std::string(f.content);
    out.push_back(std::move(m));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
  return out;
}

// Statement `name` of queries/migrator.sql, with {schema} replaced by `schema`'s quoted name.
std::string Sql(pqxx::transaction_base& tx, const std::string& name, const std::string& schema) {
  std::string sql = Statement(name);
  constexpr std::string_view kSchema = "{schema}";
  const std::string quoted = tx.quote_name(schema);
  for (auto at = sql.find(kSchema); at != std::string::npos; at = sql.find(kSchema, at + quoted.size())) {
    sql.replace(at, kSchema.size(), quoted);
  }
  return sql;
}

int RecordedVersion(pqxx::transaction_base& tx, const std::string& schema) {
  if (!tx.exec_params1(Statement("MigrationLedgerExists"), schema)["ledger"].as<bool>()) return 0;
  return tx.exec1(Sql(tx, "MigrationVersion", schema))["version"].as<int>();
}

}  // namespace

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> migrations = Load();
  return migrations;
}

int LatestVersion() {
  return Migrations().empty() ? 0 : Migrations().back().version;
}

domain::Result<MigrationReport> Migrate(const std::string& url, const std::string& schema) {
  try {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    // Serialises concurrent migrators of this schema until commit.
    tx.exec_params(Statement("MigrationLock"), "jobnik.migrate." + schema);
    tx.exec0(Sql(tx, "MigrationCreateSchema", schema));
    tx.exec0(Sql(tx, "MigrationUseSchema", schema));
    tx.exec0(Statement("MigrationCreateLedger"));
    MigrationReport report;
    report.from_version = RecordedVersion(tx, schema);
    report.to_version = report.from_version;
    if (report.from_version > LatestVersion()) {
      return domain::Status(domain::ErrorCode::kUnknown,
                            fmt::format("database schema '{}' is at version {}, newer than this jobnikd knows ({}); "
                                        "upgrade jobnikd",
                                        schema, report.from_version, LatestVersion()));
    }
    for (const auto& m : Migrations()) {
      if (m.version <= report.from_version) continue;
      tx.exec0(m.sql);
      tx.exec_params0(Statement("MigrationRecord"), m.version, m.name);
      report.applied.push_back(m.name);
      report.to_version = m.version;
    }
    tx.commit();
    for (const auto& name : report.applied) spdlog::info("migration applied: {} (schema {})", name, schema);
    return report;
  } catch (const std::exception& e) {
    return domain::Status(domain::ErrorCode::kDatabase,
                          fmt::format("migration of schema '{}' failed: {}", schema, e.what()));
  }
}

domain::Result<int> CurrentVersion(const std::string& url, const std::string& schema) {
  try {
    pqxx::connection conn(url);
    pqxx::read_transaction tx(conn);
    return RecordedVersion(tx, schema);
  } catch (const std::exception& e) {
    return domain::Status(domain::ErrorCode::kUnavailable, fmt::format("cannot read the schema version: {}", e.what()));
  }
}

}  // namespace jobnik::store::pg
