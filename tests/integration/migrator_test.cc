// Migrations: empty database, re-run, concurrent migrators, newer database refused.
#include <gtest/gtest.h>

#include <atomic>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "pg_test_env.h"
#include "store/pg/migrator.h"

namespace jobnik::testing {
namespace {

class MigratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty());
    schema_ = UniqueSchema();
  }
  void TearDown() override {
    if (!url_.empty()) testing::Exec(url_, "public", "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
  }
  std::string url_, schema_;
};

TEST_F(MigratorTest, MigratesAnEmptyDatabaseToTheLatestVersion) {
  auto report = store::pg::Migrate(url_, schema_);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(report->from_version, 0);
  EXPECT_EQ(report->to_version, store::pg::LatestVersion());
  EXPECT_EQ(report->applied.size(), store::pg::Migrations().size());
  EXPECT_EQ(Query1(url_, schema_, "SELECT count(*) FROM task"), "0");
  EXPECT_EQ(Query1(url_, schema_, "SELECT max(version) FROM schema_migrations"),
            std::to_string(store::pg::LatestVersion()));
}

TEST_F(MigratorTest, SecondRunIsANoOp) {
  ASSERT_TRUE(store::pg::Migrate(url_, schema_).ok());
  auto again = store::pg::Migrate(url_, schema_);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(again->from_version, store::pg::LatestVersion());
  EXPECT_EQ(Query1(url_, schema_, "SELECT count(*) FROM schema_migrations"),
            std::to_string(store::pg::Migrations().size()));
}

TEST_F(MigratorTest, ConcurrentMigratorsApplyEachMigrationOnce) {
  constexpr int kMigrators = 8;
  std::atomic<int> ok{0}, applied{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kMigrators; ++i) {
    threads.emplace_back([&] {
      auto r = store::pg::Migrate(url_, schema_);
      if (r.ok()) {
        ++ok;
        applied += static_cast<int>(r->applied.size());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kMigrators);
  EXPECT_EQ(applied.load(), static_cast<int>(store::pg::Migrations().size()));
  EXPECT_EQ(Query1(url_, schema_, "SELECT count(*) FROM schema_migrations"),
            std::to_string(store::pg::Migrations().size()));
}

TEST_F(MigratorTest, RefusesADatabaseNewerThanItself) {
  ASSERT_TRUE(store::pg::Migrate(url_, schema_).ok());
  testing::Exec(url_, schema_, "INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')");
  auto r = store::pg::Migrate(url_, schema_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("newer"), std::string::npos) << r.status().message();
  auto v = store::pg::CurrentVersion(url_, schema_);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 9999);
}

TEST_F(MigratorTest, CurrentVersionOfAnUnmigratedSchemaIsZero) {
  auto v = store::pg::CurrentVersion(url_, schema_);
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(*v, 0);
}

}  // namespace
}  // namespace jobnik::testing
