#include "pg_test_env.h"

#include <fmt/format.h>
#include <cstdlib>
#include <fstream>
#include <pqxx/pqxx>
#include <random>

#include "domain/codec.h"
#include "store/pg/migrator.h"

namespace jobnik::testing {

std::string DatabaseUrl() {
  if (const char* url = std::getenv("JOBNIK_TEST_DATABASE_URL"); url && *url) return url;
  if (const char* dir = std::getenv("JOBNIK_TEST_PG_DIR"); dir && *dir) {
    std::ifstream in(std::string(dir) + "/url");
    std::string url;
    if (std::getline(in, url) && !url.empty()) return url;
  }
  ADD_FAILURE() << "no test database: run through ctest (the pg_cluster fixture starts one), or "
                   "tests/harness/pg-harness.sh run -- <test binary>";
  return "";
}

std::string UniqueSchema() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("t_{:016x}", rng());
}

void Exec(const std::string& url, const std::string& schema, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::work tx(c);
  tx.exec0("SET LOCAL search_path TO " + tx.quote_name(schema));
  tx.exec(sql);
  tx.commit();
}

std::string Query1(const std::string& url, const std::string& schema, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::work tx(c);
  tx.exec0("SET LOCAL search_path TO " + tx.quote_name(schema));
  auto r = tx.exec1(sql);
  return r[0].is_null() ? "" : r[0].as<std::string>();
}

void DbTest::SetUp() {
  url_ = DatabaseUrl();
  ASSERT_FALSE(url_.empty());
  schema_ = UniqueSchema();
  auto migrated = store::pg::Migrate(url_, schema_);
  ASSERT_TRUE(migrated.ok()) << migrated.status().message();
  pool_ = std::make_unique<store::pg::Pool>(store::pg::PoolOptions{url_, schema_, pool_size_});
  store_ = std::make_unique<store::pg::PgStore>(*pool_);
}

void DbTest::TearDown() {
  store_.reset();
  pool_.reset();
  if (!url_.empty()) {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    tx.exec0("DROP SCHEMA IF EXISTS " + tx.quote_name(schema_) + " CASCADE");
    tx.commit();
  }
}

std::string Describe(const domain::Status& s) {
  return fmt::format("{}: {}", domain::ToString(s.code()), s.message());
}

}  // namespace jobnik::testing
