// The row readers (store/pg/rows.h) find their columns by name: a statement may return
// them in any order, with other columns around them.
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "fixtures.h"
#include "pg_test_env.h"
#include "store/pg/rows.h"
#include "store/pg/statements.h"

namespace jobnik::testing {
namespace {

class RowsTest : public DbTest {
 protected:
  void SetUp() override {
    DbTest::SetUp();
    auto nj = AJob("rows");
    nj.stages.emplace();
    auto stage = AStage("rows");
    stage.tasks = SomeTasks(2, /*max_attempts=*/3);
    nj.stages->push_back(stage);
    auto job = store_->CreateJob(nj, ATrace());
    ASSERT_TRUE(job.ok()) << Describe(job.status());
    job_ = store_->GetJob(job->id, store::StageDetail::kStages).value();
    tasks_ = store_->GetTasksOfStage(job_.stages->at(0).id).value();
    ASSERT_TRUE(store_->ClaimTask("rows").ok());  // one task IN_PROGRESS: start_time set
    tasks_[0] = store_->GetTask(tasks_[0].id).value();
  }
  // Runs `sql` on a pool connection (the session settings the readers rely on).
  pqxx::result Run(const std::string& sql) {
    auto lease = pool_->Acquire();
    EXPECT_TRUE(lease.ok());
    pqxx::nontransaction tx(**lease);
    return tx.exec(sql);
  }
  domain::Job job_;
  std::vector<domain::Task> tasks_;
};

TEST_F(RowsTest, TaskColumnsAreFoundByNameInAnyOrder) {
  auto rows =
      Run("SELECT 42 AS extra, errors::text, worker_id, lease_expires_at, claim_id::text, tracestate, traceparent, "
          "end_time, start_time, update_time, creation_time, max_attempts, attempts, status, user_metadata::text, "
          "data::text, stage_id::text, id::text FROM task ORDER BY seq");
  ASSERT_EQ(rows.size(), 2u);
  const store::pg::TaskColumns columns(rows);
  for (pqxx::result::size_type i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(store::pg::ReadTask(rows[i], columns), tasks_[i]) << i;
    EXPECT_EQ(store::pg::ReadTask(rows[i]), tasks_[i]) << i;
  }
  EXPECT_TRUE(tasks_[0].start_time.has_value());
}

TEST_F(RowsTest, StageAndJobColumnsAreFoundByNameInAnyOrder) {
  auto stages =
      Run("SELECT tracestate, traceparent, pending, retried, in_progress, task_failed, task_completed, task_total, "
          "percentage, status, \"order\", user_metadata::text, data::text, type, job_id::text, id::text "
          "FROM stage_summary");
  ASSERT_EQ(stages.size(), 1u);
  auto stage = store::pg::ReadStage(stages[0]);
  auto expected = store_->GetStage(stage.id).value();
  EXPECT_EQ(stage, expected);
  EXPECT_EQ(stage.summary.in_progress, 1);
  EXPECT_EQ(stage.summary.pending, 1);

  auto jobs =
      Run("SELECT tracestate, traceparent, update_time, creation_time, percentage, status, priority, "
          "user_metadata::text, data::text, name, id::text FROM job");
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(store::pg::ReadJob(jobs[0], store::pg::JobColumns(jobs)), store_->GetJob(job_.id).value());
}

// The final-report statements return the task's columns and then its stage's; each has a
// name of its own, so that both are read by name (the stage's status is not the task's).
TEST_F(RowsTest, FinalReportStatementsNameTheirStageColumns) {
  auto lease = pool_->Acquire();
  ASSERT_TRUE(lease.ok());
  pqxx::work tx(**lease);
  const auto rows = tx.exec_params(store::pg::Statements().at("TaskReportBatch"), "{" + tasks_[0].id + "}", "{NULL}");
  ASSERT_EQ(rows.size(), 1U);
  for (pqxx::row::size_type i = 0; i < rows.columns(); ++i) {
    for (pqxx::row::size_type k = 0; k < i; ++k) {
      EXPECT_STRNE(rows.column_name(i), rows.column_name(k)) << "two columns named " << rows.column_name(i);
    }
  }
  EXPECT_EQ(store::pg::ReadTask(rows[0]).status, domain::TaskStatus::kCompleted);
  EXPECT_EQ(rows[0]["job_id"].as<std::string>(), job_.id);
  EXPECT_EQ(rows[0]["stage_order"].as<int>(), 1);
  EXPECT_EQ(rows[0]["stage_status"].as<std::string>(), "IN_PROGRESS");  // one task still PENDING
  tx.abort();
}

TEST_F(RowsTest, AMissingColumnIsAnErrorNotAWrongValue) {
  auto rows = Run("SELECT id::text, stage_id::text FROM task");
  EXPECT_THROW(store::pg::TaskColumns{rows}, pqxx::argument_error);
}

}  // namespace
}  // namespace jobnik::testing
