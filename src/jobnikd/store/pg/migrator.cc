#include "store/pg/migrator.h"

#include <algorithm>
#include <fmt/format.h>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "common/embedded.h"

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

constexpr const char* kCreateLedger = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer     PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";

int RecordedVersion(pqxx::transaction_base& tx, const std::string& schema) {
  auto exists = tx.exec_params1(
      "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'schema_migrations')", schema);
  if (!exists[0].as<bool>()) return 0;
  auto r = tx.exec1("SELECT coalesce(max(version), 0) FROM " + tx.quote_name(schema) + ".schema_migrations");
  return r[0].as<int>();
}

}  // namespace

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> migrations = Load();
  return migrations;
}

int LatestVersion() { return Migrations().empty() ? 0 : Migrations().back().version; }

domain::Result<MigrationReport> Migrate(const std::string& url, const std::string& schema) {
  try {
    pqxx::connection conn(url);
    pqxx::work tx(conn);
    // Serialises concurrent migrators of this schema until commit.
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "jobnik.migrate." + schema);
    tx.exec0("CREATE SCHEMA IF NOT EXISTS " + tx.quote_name(schema));
    tx.exec0("SET LOCAL search_path TO " + tx.quote_name(schema));
    tx.exec0(kCreateLedger);
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
      tx.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name);
      report.applied.push_back(m.name);
      report.to_version = m.version;
    }
    tx.commit();
    for (const auto& name : report.applied) spdlog::info("migration applied: {} (schema {})", name, schema);
    return report;
  } catch (const std::exception& e) {
    return domain::Status(domain::ErrorCode::kDatabase, fmt::format("migration of schema '{}' failed: {}", schema, e.what()));
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
