// Retention (store/retention.h, services/sweeper.h Prune) on a real PostgreSQL: which
// finished jobs are deleted with everything that is theirs, the bounds of a batch, and
// the races with a concurrent change of a job (docs/design.md, "Retention").
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "domain/model.h"
#include "fixtures.h"
#include "pg_test_env.h"
#include "services/sweeper.h"
#include "store/pg/retention.h"

namespace jobnik::testing {
namespace {

using domain::JobStatus;
using domain::TaskStatus;
using namespace std::chrono_literals;

domain::Timestamp Now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

class RetentionTest : public DbTest {
 protected:
  void SetUp() override {
    DbTest::SetUp();
    retention_ = std::make_unique<store::pg::PgRetention>(*pool_);
  }

  // A job of one stage of `tasks` tasks (type unique to the job), brought to `status`
  // through the store (so it has its events), then back-dated `age` (its update_time).
  // PENDING: left as created; IN_PROGRESS: one task claimed.
  std::string AJobThatIs(JobStatus status, std::chrono::hours age, int tasks = 3) {
    const std::string type = "retention-" + std::to_string(next_type_++);
    auto job = store_->CreateJob(AJob(), ATrace());
    EXPECT_TRUE(job.ok()) << Describe(job.status());
    auto stage = store_->AddStage(job->id, AStage(type), ATrace());
    EXPECT_TRUE(stage.ok()) << Describe(stage.status());
    EXPECT_TRUE(store_->AddTasks(stage->id, SomeTasks(tasks, /*max_attempts=*/1), ATrace()).ok());
    const auto finish = [&](TaskStatus how) {
      auto claimed = store_->ClaimTask(type);
      ASSERT_TRUE(claimed.ok()) << Describe(claimed.status());
      auto r = store_->ReportTask(claimed->task.id, how, {claimed->task.claim_id, std::nullopt, std::nullopt});
      ASSERT_TRUE(r.ok()) << Describe(r.status());
    };
    switch (status) {
      case JobStatus::kCompleted:
        for (int i = 0; i < tasks; ++i) finish(TaskStatus::kCompleted);
        break;
      case JobStatus::kFailed:
        finish(TaskStatus::kFailed);
        break;
      case JobStatus::kAborted:
        EXPECT_TRUE(store_->SetJobStatus(job->id, JobStatus::kAborted).ok());
        break;
      case JobStatus::kInProgress:
        EXPECT_TRUE(store_->ClaimTask(type).ok());
        break;
      default:
        break;
    }
    EXPECT_EQ(store_->GetJob(job->id)->status, status);
    Exec(fmt::format("UPDATE job SET update_time = now() - interval '{} hours' WHERE id = '{}'", age.count(), job->id));
    return job->id;
  }

  // The job's rows: job, stages, tasks, events.
  struct Rows {
    int jobs, stages, tasks, events;
    bool operator==(const Rows&) const = default;
  };
  Rows RowsOf(const std::string& job_id) {
    const auto n = [&](const std::string& sql) { return std::stoi(Query1(sql)); };
    const std::string id = "'" + job_id + "'";
    return {n("SELECT count(*) FROM job WHERE id = " + id), n("SELECT count(*) FROM stage WHERE job_id = " + id),
            n("SELECT count(*) FROM task t JOIN stage s ON s.id = t.stage_id WHERE s.job_id = " + id),
            n("SELECT count(*) FROM job_event WHERE job_id = " + id)};
  }
  bool Gone(const std::string& job_id) { return RowsOf(job_id) == Rows{0, 0, 0, 0}; }

  services::SweeperOptions Options(std::chrono::hours completed, std::chrono::hours failed,
                                   std::chrono::hours aborted) {
    services::SweeperOptions o;
    o.retention = retention_.get();
    o.retain_completed = completed;
    o.retain_failed = failed;
    o.retain_aborted = aborted;
    return o;
  }

  // One batch with a fresh cursor (from the oldest).
  domain::Result<store::Pruned> PruneFromStart(JobStatus status, domain::Timestamp before, store::PruneBatch batch) {
    store::PruneCursor from_start;
    return retention_->PruneFinishedJobs(status, before, batch, from_start);
  }

  std::unique_ptr<store::pg::PgRetention> retention_;
  int next_type_ = 0;
};

TEST_F(RetentionTest, DeletesExactlyTheFinishedJobsPastTheirStatussAgeWithAllTheirRows) {
  // Retention: COMPLETED 7 days, FAILED 30 days, ABORTED 30 days.
  const auto completed_old = AJobThatIs(JobStatus::kCompleted, 8 * 24h);
  const auto completed_young = AJobThatIs(JobStatus::kCompleted, 6 * 24h);
  const auto failed_old = AJobThatIs(JobStatus::kFailed, 31 * 24h);
  const auto failed_young = AJobThatIs(JobStatus::kFailed, 8 * 24h);
  const auto aborted_old = AJobThatIs(JobStatus::kAborted, 31 * 24h);
  const auto aborted_young = AJobThatIs(JobStatus::kAborted, 29 * 24h);
  const auto pending_old = AJobThatIs(JobStatus::kPending, 100 * 24h);
  const auto running_old = AJobThatIs(JobStatus::kInProgress, 100 * 24h);
  const std::vector<std::string> kept = {completed_young, failed_young, aborted_young, pending_old, running_old};
  std::map<std::string, Rows> before;
  for (const auto& id : kept) before[id] = RowsOf(id);
  const auto old_rows = RowsOf(completed_old);
  EXPECT_EQ(old_rows.stages, 1);
  EXPECT_EQ(old_rows.tasks, 3);
  EXPECT_GT(RowsOf(failed_old).events, 0) << "the test needs jobs with events";
  const int old_events = old_rows.events + RowsOf(failed_old).events + RowsOf(aborted_old).events;

  services::Sweeper sweeper(*store_, nullptr, nullptr, Options(7 * 24h, 30 * 24h, 30 * 24h));
  auto pruned = sweeper.Prune(Now());
  JOBNIK_ASSERT_OK(pruned);
  EXPECT_EQ(pruned->jobs, 3);
  EXPECT_EQ(pruned->stages, 3);
  EXPECT_EQ(pruned->tasks, 9);
  EXPECT_EQ(pruned->events, old_events);
  for (const auto& id : {completed_old, failed_old, aborted_old}) EXPECT_TRUE(Gone(id)) << id;
  for (const auto& id : kept) EXPECT_EQ(RowsOf(id), before[id]) << id << " was touched";
  EXPECT_EQ(store_->GetJob(completed_old).status().code(), domain::ErrorCode::kJobNotFound);

  auto again = sweeper.Prune(Now());
  JOBNIK_ASSERT_OK(again);
  EXPECT_EQ(again->jobs, 0);
}

TEST_F(RetentionTest, CountsEveryEventDeleted) {
  const auto a = AJobThatIs(JobStatus::kFailed, 48h);
  const auto b = AJobThatIs(JobStatus::kAborted, 48h);
  const int events = RowsOf(a).events + RowsOf(b).events;
  ASSERT_GT(events, 0);
  services::Sweeper sweeper(*store_, nullptr, nullptr, Options(0h, 24h, 24h));
  auto pruned = sweeper.Prune(Now());
  JOBNIK_ASSERT_OK(pruned);
  EXPECT_EQ(pruned->events, events);
  EXPECT_EQ(Query1("SELECT count(*) FROM job_event"), "0");
}

TEST_F(RetentionTest, AStatusWithoutRetentionIsKept) {
  const auto completed = AJobThatIs(JobStatus::kCompleted, 1000 * 24h);
  const auto failed = AJobThatIs(JobStatus::kFailed, 1000 * 24h);
  services::Sweeper sweeper(*store_, nullptr, nullptr, Options(0h, 24h, 0h));
  auto pruned = sweeper.Prune(Now());
  JOBNIK_ASSERT_OK(pruned);
  EXPECT_EQ(pruned->jobs, 1);
  EXPECT_FALSE(Gone(completed));
  EXPECT_TRUE(Gone(failed));
}

TEST_F(RetentionTest, ABatchTakesTheOldestFirstWithinItsJobAndTaskBounds) {
  // Five COMPLETED jobs of 3 tasks, the first the oldest.
  std::vector<std::string> ids;
  ids.reserve(5);
  for (int i = 0; i < 5; ++i) ids.push_back(AJobThatIs(JobStatus::kCompleted, std::chrono::hours(100 - i)));
  const auto before = Now() - 24h;

  auto two = PruneFromStart(JobStatus::kCompleted, before, {2, 1000});
  JOBNIK_ASSERT_OK(two);
  EXPECT_EQ(two->jobs, 2);
  EXPECT_TRUE(Gone(ids[0]));
  EXPECT_TRUE(Gone(ids[1]));
  EXPECT_FALSE(Gone(ids[2]));

  // 3 tasks each: a budget of 5 tasks takes one job, not two.
  auto budget = PruneFromStart(JobStatus::kCompleted, before, {10, 5});
  JOBNIK_ASSERT_OK(budget);
  EXPECT_EQ(budget->jobs, 1);
  EXPECT_EQ(budget->tasks, 3);
  EXPECT_TRUE(Gone(ids[2]));

  // A job larger than the budget is still deleted, alone.
  auto large = PruneFromStart(JobStatus::kCompleted, before, {10, 1});
  JOBNIK_ASSERT_OK(large);
  EXPECT_EQ(large->jobs, 1);
  EXPECT_TRUE(Gone(ids[3]));
  EXPECT_FALSE(Gone(ids[4]));

  // The sweeper goes on batch after batch until none is left.
  services::SweeperOptions o = Options(24h, 0h, 0h);
  o.prune_batch = {1, 1};
  services::Sweeper sweeper(*store_, nullptr, nullptr, o);
  auto rest = sweeper.Prune(Now());
  JOBNIK_ASSERT_OK(rest);
  EXPECT_EQ(rest->jobs, 1);
  EXPECT_TRUE(Gone(ids[4]));
}

TEST_F(RetentionTest, AJobLockedByAConcurrentChangeIsSkippedNotWaitedFor) {
  const auto locked = AJobThatIs(JobStatus::kCompleted, 48h);
  const auto other = AJobThatIs(JobStatus::kCompleted, 47h);
  pqxx::connection c(url_);
  pqxx::work tx(c);
  tx.exec0("SET LOCAL search_path TO " + tx.quote_name(schema_));
  tx.exec1("SELECT id FROM job WHERE id = '" + locked + "' FOR UPDATE");

  auto pruned = PruneFromStart(JobStatus::kCompleted, Now() - 24h, {10, 1000});
  JOBNIK_ASSERT_OK(pruned);
  EXPECT_EQ(pruned->jobs, 1);
  EXPECT_TRUE(Gone(other));
  EXPECT_FALSE(Gone(locked));

  tx.commit();
  auto later = PruneFromStart(JobStatus::kCompleted, Now() - 24h, {10, 1000});
  JOBNIK_ASSERT_OK(later);
  EXPECT_EQ(later->jobs, 1);
  EXPECT_TRUE(Gone(locked));
}

TEST_F(RetentionTest, ACursorGoesOnAfterTheLastJobDeletedAndAFreshOneStartsOver) {
  // Four jobs, oldest first; the second locked by a concurrent change.
  std::vector<std::string> ids;
  ids.reserve(4);
  for (int i = 0; i < 4; ++i) ids.push_back(AJobThatIs(JobStatus::kCompleted, std::chrono::hours(100 - i)));
  pqxx::connection c(url_);
  pqxx::work tx(c);
  tx.exec0("SET LOCAL search_path TO " + tx.quote_name(schema_));
  tx.exec1("SELECT id FROM job WHERE id = '" + ids[1] + "' FOR UPDATE");

  const auto before = Now() - 24h;
  store::PruneCursor cursor;
  auto first = retention_->PruneFinishedJobs(JobStatus::kCompleted, before, {2, 1000}, cursor);
  JOBNIK_ASSERT_OK(first);
  EXPECT_EQ(first->jobs, 2);  // the oldest and the third: the locked one is skipped
  EXPECT_TRUE(Gone(ids[0]));
  EXPECT_FALSE(Gone(ids[1]));
  EXPECT_TRUE(Gone(ids[2]));
  EXPECT_EQ(cursor.id, ids[2]);
  tx.commit();

  // The same cursor goes on after the third: the fourth, then nothing.
  auto second = retention_->PruneFinishedJobs(JobStatus::kCompleted, before, {2, 1000}, cursor);
  JOBNIK_ASSERT_OK(second);
  EXPECT_EQ(second->jobs, 1);
  EXPECT_TRUE(Gone(ids[3]));
  EXPECT_FALSE(Gone(ids[1]));
  auto third = retention_->PruneFinishedJobs(JobStatus::kCompleted, before, {2, 1000}, cursor);
  JOBNIK_ASSERT_OK(third);
  EXPECT_EQ(third->jobs, 0);
  EXPECT_FALSE(Gone(ids[1]));

  // A fresh cursor (the next prune) sees the once locked job again.
  auto fresh = PruneFromStart(JobStatus::kCompleted, before, {2, 1000});
  JOBNIK_ASSERT_OK(fresh);
  EXPECT_EQ(fresh->jobs, 1);
  EXPECT_TRUE(Gone(ids[1]));
}

TEST_F(RetentionTest, AFinishedJobChangedSinceCountsItsAgeFromTheChange) {
  // The age is that of the job's last change (update_time): a finished job whose
  // userMetadata was just updated is young again.
  const auto id = AJobThatIs(JobStatus::kCompleted, 48h);
  EXPECT_TRUE(store_->SetJobUserMetadata(id, R"({"touched":true})").ok());
  auto pruned = PruneFromStart(JobStatus::kCompleted, Now() - 24h, {10, 1000});
  JOBNIK_ASSERT_OK(pruned);
  EXPECT_EQ(pruned->jobs, 0);
  EXPECT_FALSE(Gone(id));
}

TEST_F(RetentionTest, RetriesRacingThePruneLeaveEachJobWholeOrGone) {
  // 40 old FAILED jobs; one thread retries them all while another prunes one job per
  // batch. Whoever takes a job's lock first wins: a job is either re-opened with every
  // one of its rows, or deleted with every one of them.
  constexpr int kJobs = 40;
  std::vector<std::string> ids;
  std::map<std::string, Rows> before;
  for (int i = 0; i < kJobs; ++i) {
    ids.push_back(AJobThatIs(JobStatus::kFailed, 48h, /*tasks=*/2));
    before[ids.back()] = RowsOf(ids.back());
  }
  std::atomic<bool> go{false};
  std::atomic<int> retried{0}, not_found{0}, other_errors{0};
  std::thread retrier([&] {
    while (!go) std::this_thread::yield();
    for (const auto& id : ids) {
      auto r = store_->RetryJob(id);
      if (r.ok()) {
        ++retried;
      } else if (r.status().code() == domain::ErrorCode::kJobNotFound) {
        ++not_found;
      } else {
        ++other_errors;
      }
    }
  });
  store::Pruned total;
  std::thread pruner([&] {
    while (!go) std::this_thread::yield();
    for (;;) {
      auto batch = PruneFromStart(JobStatus::kFailed, Now() - 24h, {1, 1000});
      if (!batch.ok()) {
        ++other_errors;
        return;
      }
      total += *batch;
      if (batch->jobs == 0) return;
    }
  });
  go = true;
  retrier.join();
  pruner.join();
  EXPECT_EQ(other_errors, 0);
  EXPECT_EQ(retried + not_found, kJobs);
  int gone = 0;
  for (const auto& id : ids) {
    const auto rows = RowsOf(id);
    if (rows == Rows{0, 0, 0, 0}) {
      ++gone;
      continue;
    }
    EXPECT_EQ(rows.jobs, 1) << id;
    EXPECT_EQ(rows.stages, before[id].stages) << id;
    EXPECT_EQ(rows.tasks, before[id].tasks) << id;
    EXPECT_EQ(store_->GetJob(id)->status, JobStatus::kInProgress) << id << " survived the prune without a retry";
  }
  EXPECT_EQ(gone, total.jobs);
  EXPECT_EQ(gone, not_found.load());
}

}  // namespace
}  // namespace jobnik::testing
