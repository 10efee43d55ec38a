// The database side of the integration tests: the URL of the private cluster the
// harness started (tests/harness/pg-harness.sh, via the pg_cluster CTest fixture),
// and a fixture giving each test its own freshly migrated schema.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "domain/error.h"
#include "store/pg/pg_store.h"
#include "store/pg/pool.h"

namespace jobnik::testing {

// $JOBNIK_TEST_DATABASE_URL, else the `url` file in $JOBNIK_TEST_PG_DIR. Fails the
// test (with how to get one) when neither is there.
std::string DatabaseUrl();

// A schema name no other test uses: t_<random>.
std::string UniqueSchema();

// Runs SQL outside any store (test set-up: triggers, back-dating rows, checks).
void Exec(const std::string& url, const std::string& schema, const std::string& sql);
// The first column of the first row, as text ("" for NULL).
std::string Query1(const std::string& url, const std::string& schema, const std::string& sql);

// A migrated schema with a pool and a store on it; dropped after the test.
class DbTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  void Exec(const std::string& sql) { testing::Exec(url_, schema_, sql); }
  std::string Query1(const std::string& sql) { return testing::Query1(url_, schema_, sql); }

  std::string url_;
  std::string schema_;
  std::unique_ptr<store::pg::Pool> pool_;
  std::unique_ptr<store::pg::PgStore> store_;
  int pool_size_ = 8;
};

// gtest printing of a Status, for failure messages.
std::string Describe(const domain::Status& s);

}  // namespace jobnik::testing

// EXPECT a Result/Status to be ok, printing the error otherwise.
#define JOBNIK_ASSERT_OK(expr)                                                      \
  do {                                                                              \
    const auto& jobnik_r_ = (expr);                                                 \
    ASSERT_TRUE(jobnik_r_.ok()) << ::jobnik::testing::Describe(jobnik_r_.status()); \
  } while (0)
