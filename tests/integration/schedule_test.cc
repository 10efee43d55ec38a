// Delayed start (notBefore on jobs, stages and tasks) and re-running failed work (RetryJob,
// RetryTask), on a real PostgreSQL through the store and the scheduler (docs/design.md,
// "Delayed start", "Re-running failed work").
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "domain/codec.h"
#include "domain/model.h"
#include "domain/time.h"
#include "fixtures.h"
#include "pg_test_env.h"
#include "services/scheduler.h"

namespace jobnik::testing {
namespace {

using domain::ErrorCode;
using domain::JobStatus;
using domain::StageStatus;
using domain::TaskStatus;
using namespace std::chrono_literals;

domain::Timestamp Now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}
// FormatTime keeps milliseconds: compare times as the database keeps them.
domain::Timestamp Ms(domain::Timestamp t) {
  return *domain::ParseTime(domain::FormatTime(t));
}

class ScheduleTest : public DbTest {
 protected:
  std::optional<store::ClaimedTask> TryClaim(const std::string& type) {
    auto d = store_->ClaimTask(type);
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), ErrorCode::kTaskNotFound) << Describe(d.status());
      return std::nullopt;
    }
    return *d;
  }
  domain::Task Claim(const std::string& type) {
    auto d = TryClaim(type);
    EXPECT_TRUE(d.has_value()) << "nothing claimable of " << type;
    return d ? d->task : domain::Task{};
  }
  void Report(const domain::Task& t, TaskStatus status) {
    auto r = store_->ReportTask(t.id, status, {t.claim_id, std::nullopt, std::nullopt});
    ASSERT_TRUE(r.ok()) << Describe(r.status());
  }
  int RunScheduler() {
    services::Scheduler scheduler(*store_, nullptr, {});
    auto n = scheduler.RunOnce();
    EXPECT_TRUE(n.ok()) << Describe(n.status());
    return n.ok() ? *n : -1;
  }
  // A job (notBefore `job_nb`) with one stage of `type` (`stage_nb`) and `n` tasks
  // (`task_nb` each) submitted in one request. Returns the job.
  domain::Job Submit(const std::string& type, int n, std::optional<domain::Timestamp> job_nb,
                     std::optional<domain::Timestamp> stage_nb = std::nullopt,
                     std::optional<domain::Timestamp> task_nb = std::nullopt, int max_attempts = 1) {
    auto job = AJob("delayed");
    job.not_before = job_nb;
    auto stage = AStage(type);
    stage.not_before = stage_nb;
    stage.tasks = SomeTasks(n, max_attempts);
    for (auto& t : stage.tasks) t.not_before = task_nb;
    job.stages.emplace();
    job.stages->push_back(stage);
    auto created = store_->CreateJob(job, ATrace());
    EXPECT_TRUE(created.ok()) << Describe(created.status());
    return created.ok() ? *created : domain::Job{};
  }
  std::vector<domain::Task> TasksOf(const std::string& job_id) {
    auto stages = store_->GetStagesOfJob(job_id, store::TaskDetail::kTasks);
    EXPECT_TRUE(stages.ok()) << Describe(stages.status());
    std::vector<domain::Task> out;
    if (stages.ok()) {
      for (const auto& s : *stages) out.insert(out.end(), s.tasks->begin(), s.tasks->end());
    }
    return out;
  }
  std::vector<std::string> Events(const std::string& job_id) {
    auto page = store_->ListJobEvents(job_id, {std::nullopt, 0, 1000});
    EXPECT_TRUE(page.ok()) << Describe(page.status());
    std::vector<std::string> out;  // oldest first: "entity old->new"
    if (page.ok()) {
      for (auto it = page->items.rbegin(); it != page->items.rend(); ++it) {
        out.push_back(it->entity + " " + it->old_value.value_or("") + "->" + it->new_value);
      }
    }
    return out;
  }
};

// ---- Delayed start

TEST_F(ScheduleTest, ADelayedTaskIsNotClaimableEarlyAndIsClaimableOnTimeWithinTolerance) {
  services::Scheduler scheduler(*store_, nullptr, {100ms});
  scheduler.Start();
  const auto due = Ms(Now() + 1500ms);
  auto job = Submit("later", 1, std::nullopt, std::nullopt, due);
  std::optional<store::ClaimedTask> claimed;
  domain::Timestamp claimed_at{};
  const auto until = Now() + 10s;
  while (!claimed && Now() < until) {
    claimed = TryClaim("later");
    claimed_at = Now();
    if (!claimed) std::this_thread::sleep_for(5ms);  // polling for the condition
  }
  scheduler.Stop();
  ASSERT_TRUE(claimed.has_value()) << "never claimable";
  EXPECT_GE(claimed_at, due) << "claimed before its notBefore";
  // The scheduler steps at the next due time (or every 100 ms): well within half a second.
  EXPECT_LE(claimed_at, due + 500ms) << "claimable " << domain::FormatTime(claimed_at) << ", due "
                                     << domain::FormatTime(due);
  EXPECT_TRUE(claimed->job_started) << "the job stays PENDING until the first claim";
}

TEST_F(ScheduleTest, AJobWhoseTasksAllWaitStaysPendingAndNoRowIsInTheClaimIndex) {
  const auto due = Ms(Now() + 1h);
  auto job = Submit("wait-all", 3, due);
  EXPECT_EQ(job.not_before, due);
  EXPECT_FALSE(TryClaim("wait-all").has_value());
  EXPECT_EQ(store_->GetJob(job.id)->status, JobStatus::kPending);
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE ready AND status IN ('PENDING', 'RETRIED')"), "0");
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE not_before IS NOT NULL"), "3");
  for (const auto& t : TasksOf(job.id)) EXPECT_EQ(t.not_before, due);
  // Due now: the scheduler makes them claimable.
  Exec("UPDATE task SET not_before = now() - interval '1 millisecond' WHERE not_before IS NOT NULL");
  EXPECT_EQ(RunScheduler(), 3);
  for (int i = 0; i < 3; ++i) Claim("wait-all");
  EXPECT_EQ(store_->GetJob(job.id)->status, JobStatus::kInProgress);
}

TEST_F(ScheduleTest, TheLatestOfJobStageAndTaskNotBeforeWins) {
  const auto t0 = Ms(Now() + 1h);
  // Stage later than job and task.
  auto a = Submit("latest-a", 1, t0, t0 + 1h, t0 - 30min);
  EXPECT_EQ(TasksOf(a.id)[0].not_before, t0 + 1h);
  // Task later than both.
  auto b = Submit("latest-b", 1, t0, t0 - 10min, t0 + 2h);
  EXPECT_EQ(TasksOf(b.id)[0].not_before, t0 + 2h);
  // The job's applies to a stage and tasks added later.
  auto stage = AStage("latest-c");
  auto added_stage = store_->AddStage(a.id, stage, ATrace());
  ASSERT_TRUE(added_stage.ok()) << Describe(added_stage.status());
  auto added = store_->AddTasks(added_stage->id, SomeTasks(1), ATrace());
  ASSERT_TRUE(added.ok()) << Describe(added.status());
  EXPECT_EQ((*added)[0].not_before, t0);
  EXPECT_NE(domain::ToJson((*added)[0]).find(R"("notBefore")"), std::string::npos);
  // Shown in the JSON of the job and stage.
  auto job = store_->GetJob(a.id, store::StageDetail::kStages);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->not_before, t0);
  EXPECT_EQ((*job->stages)[0].not_before, t0 + 1h);
  EXPECT_FALSE((*job->stages)[1].not_before.has_value());
  EXPECT_NE(domain::ToJson(*job).find(R"("notBefore":")" + domain::FormatTime(t0)), std::string::npos);
}

TEST_F(ScheduleTest, ANotBeforeInThePastIsClaimableAtOnce) {
  auto job = Submit("past", 2, Ms(Now() - 1h), Ms(Now() - 1min), Ms(Now() - 1s));
  EXPECT_FALSE(TasksOf(job.id)[0].not_before.has_value());
  Claim("past");
  Claim("past");
}

TEST_F(ScheduleTest, ATaskDueWhileItsJobIsPausedWaitsForTheResume) {
  auto job = Submit("paused", 1, Ms(Now() + 1h));
  ASSERT_TRUE(store_->SetJobStatus(job.id, JobStatus::kPaused).ok());
  Exec("UPDATE task SET not_before = now() - interval '1 millisecond' WHERE not_before IS NOT NULL");
  EXPECT_EQ(RunScheduler(), 1);
  EXPECT_FALSE(TryClaim("paused").has_value()) << "claimable in a paused job";
  ASSERT_TRUE(store_->SetJobStatus(job.id, JobStatus::kPending).ok());
  Claim("paused");
}

TEST_F(ScheduleTest, ResumingOrStartingAStageNeverMakesADelayedTaskClaimableEarly) {
  auto job = Submit("first", 1, std::nullopt);
  auto second = AStage("second");
  second.not_before = Ms(Now() + 1h);
  auto stage = store_->AddStage(job.id, second, ATrace());
  ASSERT_TRUE(stage.ok());
  ASSERT_TRUE(store_->AddTasks(stage->id, SomeTasks(1), ATrace()).ok());
  ASSERT_TRUE(store_->SetJobStatus(job.id, JobStatus::kPaused).ok());
  ASSERT_TRUE(store_->SetJobStatus(job.id, JobStatus::kPending).ok());
  Report(Claim("first"), TaskStatus::kCompleted);  // the second stage starts
  EXPECT_EQ(store_->GetStage(stage->id)->status, StageStatus::kPending);
  EXPECT_FALSE(TryClaim("second").has_value()) << "claimable before its stage's notBefore";
  Exec("UPDATE task SET not_before = now() - interval '1 millisecond' WHERE not_before IS NOT NULL");
  EXPECT_EQ(RunScheduler(), 1);
  Claim("second");
}

// ---- Re-running failed work

TEST_F(ScheduleTest, ARetriedJobRunsItsFailedTasksAgainToCompletion) {
  auto job = Submit("rerun", 3, std::nullopt, std::nullopt, std::nullopt, /*max_attempts=*/2);
  auto next = store_->AddStage(job.id, AStage("rerun-next"), ATrace());
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(store_->AddTasks(next->id, SomeTasks(1), ATrace()).ok());
  auto a = Claim("rerun"), b = Claim("rerun"), c = Claim("rerun");
  Report(a, TaskStatus::kCompleted);
  Report(b, TaskStatus::kFailed);  // attempt 1 of 2: RETRIED
  b = Claim("rerun");
  Report(b, TaskStatus::kFailed);     // for good: the stage and job fail
  Report(c, TaskStatus::kCompleted);  // in flight when it failed: only counts
  ASSERT_EQ(store_->GetJob(job.id)->status, JobStatus::kFailed);
  const auto first_stage = b.stage_id;

  auto retried = store_->RetryJob(job.id);
  ASSERT_TRUE(retried.ok()) << Describe(retried.status());
  EXPECT_EQ(retried->status, JobStatus::kInProgress);
  auto stage = store_->GetStage(first_stage);
  EXPECT_EQ(stage->status, StageStatus::kInProgress);
  EXPECT_EQ(stage->summary, (domain::Summary{1, 0, 2, 0, 0, 0}));
  EXPECT_EQ(store_->GetStage(next->id)->status, StageStatus::kCreated) << "a later stage changed";
  auto reopened = store_->GetTask(b.id);
  EXPECT_EQ(reopened->status, TaskStatus::kPending);
  EXPECT_EQ(reopened->attempts, 0);
  EXPECT_FALSE(reopened->end_time.has_value());
  EXPECT_TRUE(reopened->errors.has_value()) << "its earlier failures are kept";

  // Fresh attempts: it may fail once more and be retried.
  auto again = Claim("rerun");
  EXPECT_EQ(again.id, b.id);
  Report(again, TaskStatus::kFailed);
  EXPECT_EQ(store_->GetTask(b.id)->status, TaskStatus::kRetried);
  Report(Claim("rerun"), TaskStatus::kCompleted);
  EXPECT_EQ(store_->GetStage(first_stage)->status, StageStatus::kCompleted);
  Report(Claim("rerun-next"), TaskStatus::kCompleted);
  auto done = store_->GetJob(job.id);
  EXPECT_EQ(done->status, JobStatus::kCompleted);
  EXPECT_EQ(done->percentage, 100);

  const auto events = Events(job.id);
  const std::vector<std::string> expected_tail = {"job FAILED->IN_PROGRESS", "stage FAILED->IN_PROGRESS",
                                                  "task FAILED->PENDING"};
  bool found = false;
  for (std::size_t i = 0; i + 3 <= events.size(); ++i) {
    found = found || std::vector<std::string>(events.begin() + static_cast<std::ptrdiff_t>(i),
                                              events.begin() + static_cast<std::ptrdiff_t>(i + 3)) == expected_tail;
  }
  EXPECT_TRUE(found) << "the retry is not in the job's events";
}

TEST_F(ScheduleTest, ARetryOfAJobThatIsNotFailedIsRefused) {
  auto job = Submit("refuse", 2, std::nullopt);
  EXPECT_EQ(store_->RetryJob(job.id).status().code(), ErrorCode::kNotRetryable);  // PENDING
  auto t = Claim("refuse");
  EXPECT_EQ(store_->RetryJob(job.id).status().code(), ErrorCode::kNotRetryable);  // IN_PROGRESS
  EXPECT_EQ(store_->RetryTask(t.id).status().code(), ErrorCode::kNotRetryable);   // IN_PROGRESS task
  ASSERT_TRUE(store_->SetJobStatus(job.id, JobStatus::kAborted).ok());
  auto aborted = store_->RetryJob(job.id);
  EXPECT_EQ(aborted.status().code(), ErrorCode::kNotRetryable);
  EXPECT_NE(aborted.status().message().find("ABORTED"), std::string::npos) << aborted.status().message();
  // A task failed in an aborted job stays failed.
  Report(t, TaskStatus::kFailed);
  EXPECT_EQ(store_->RetryTask(t.id).status().code(), ErrorCode::kNotRetryable);
  EXPECT_EQ(store_->RetryJob("00000000-0000-0000-0000-000000000000").status().code(), ErrorCode::kJobNotFound);
  EXPECT_EQ(store_->RetryTask("00000000-0000-0000-0000-000000000000").status().code(), ErrorCode::kTaskNotFound);
  EXPECT_EQ(store_->GetJob(job.id)->status, JobStatus::kAborted);
}

TEST_F(ScheduleTest, RetryingOneTaskReopensItsStageAndJobWhichFailAgainIfOthersStayFailed) {
  auto job = Submit("one", 2, std::nullopt);
  auto a = Claim("one"), b = Claim("one");
  Report(a, TaskStatus::kFailed);
  Report(b, TaskStatus::kFailed);
  ASSERT_EQ(store_->GetJob(job.id)->status, JobStatus::kFailed);

  auto task = store_->RetryTask(a.id);
  ASSERT_TRUE(task.ok()) << Describe(task.status());
  EXPECT_EQ(task->status, TaskStatus::kPending);
  EXPECT_EQ(store_->GetJob(job.id)->status, JobStatus::kInProgress);
  EXPECT_EQ(store_->GetStage(a.stage_id)->status, StageStatus::kInProgress);
  EXPECT_EQ(store_->GetTask(b.id)->status, TaskStatus::kFailed);
  // Its stage's last open task completes with b still FAILED: the stage and job fail again.
  Report(Claim("one"), TaskStatus::kCompleted);
  EXPECT_EQ(store_->GetStage(a.stage_id)->status, StageStatus::kFailed);
  EXPECT_EQ(store_->GetJob(job.id)->status, JobStatus::kFailed);
  // b re-run: the job completes.
  ASSERT_TRUE(store_->RetryTask(b.id).ok());
  Report(Claim("one"), TaskStatus::kCompleted);
  EXPECT_EQ(store_->GetStage(a.stage_id)->status, StageStatus::kCompleted);
  EXPECT_EQ(store_->GetJob(job.id)->status, JobStatus::kCompleted);
  const auto events = Events(job.id);
  int job_failed = 0;
  for (const auto& e : events) job_failed += e == "job IN_PROGRESS->FAILED" ? 1 : 0;
  EXPECT_EQ(job_failed, 2) << "each failure of the job is recorded";
}

}  // namespace
}  // namespace jobnik::testing
