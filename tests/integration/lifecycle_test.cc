// The lifecycle SQL against its reference, lib/domain/lifecycle.h (see "Lifecycle rules in
// SQL" in store/pg/queries/task.sql). Each case runs the same steps through the store, on a
// real PostgreSQL, and through a model of the job built only from the domain functions;
// after every step the two must agree on the statuses and attempts of the tasks, the
// statuses, counters and percentages of the stages, which stage started, and the job's
// status and percentage.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "domain/lifecycle.h"
#include "fixtures.h"
#include "pg_test_env.h"
#include "store/pg/statements.h"

namespace jobnik::testing {
namespace {

using domain::ErrorCode;
using domain::JobStatus;
using domain::StageCounts;
using domain::StageStatus;
using domain::TaskStatus;

class LifecycleTest : public DbTest {
 protected:
  // The job as the domain functions say it must be.
  struct ModelTask {
    std::size_t stage = 0;
    TaskStatus status = TaskStatus::kPending;
    int attempts = 0;
    int max_attempts = 1;
  };
  struct ModelStage {
    std::string id;
    std::string type;
    StageStatus status = StageStatus::kCreated;
    StageCounts counts;
    int percentage = 0;
  };

  void SetUp() override {
    DbTest::SetUp();
    if (HasFatalFailure()) return;
    auto job = store_->CreateJob(AJob("lifecycle"), ATrace());
    ASSERT_TRUE(job.ok()) << Describe(job.status());
    job_id_ = job->id;
    job_status_ = job->status;
  }

  std::int64_t CompletedStages() const {
    std::int64_t n = 0;
    for (const auto& s : stages_) n += s.status == StageStatus::kCompleted ? 1 : 0;
    return n;
  }

  // Appends a stage of type "t<index>".
  void AddStage(bool waiting = false) {
    ModelStage model;
    model.type = "t" + std::to_string(stages_.size());
    std::optional<StageStatus> last;
    if (!stages_.empty()) last = stages_.back().status;
    model.status = domain::InitialStageStatus(waiting, last);
    auto stage = store_->AddStage(job_id_, AStage(model.type, waiting), ATrace());
    ASSERT_TRUE(stage.ok()) << Describe(stage.status());
    model.id = stage->id;
    stages_.push_back(model);
    job_percentage_ = domain::JobPercentage(CompletedStages(), static_cast<std::int64_t>(stages_.size()));
    Check();
  }

  void AddTasks(std::size_t stage, int n, int max_attempts = 1) {
    auto tasks = store_->AddTasks(stages_.at(stage).id, SomeTasks(n, max_attempts), ATrace());
    ASSERT_TRUE(tasks.ok()) << Describe(tasks.status());
    for (const auto& t : *tasks) tasks_[t.id] = {stage, TaskStatus::kPending, 0, max_attempts};
    auto& s = stages_[stage];
    s.counts.total += n;
    s.percentage = domain::StagePercentage(s.counts);
    Check();
  }

  // Claims a task of `stage`; SPEC A.3.4 moves a PENDING stage and job to IN_PROGRESS.
  std::string Claim(std::size_t stage) {
    auto d = store_->ClaimTask(stages_.at(stage).type);
    EXPECT_TRUE(d.ok()) << Describe(d.status());
    if (!d.ok()) return {};
    auto& task = tasks_.at(d->task.id);
    EXPECT_EQ(task.stage, stage);
    EXPECT_TRUE(domain::IsClaimable(task.status));
    task.status = TaskStatus::kInProgress;
    auto& s = stages_[stage];
    if (s.status == StageStatus::kPending) s.status = StageStatus::kInProgress;
    if (job_status_ == JobStatus::kPending) job_status_ = JobStatus::kInProgress;
    Check();
    return d->task.id;
  }

  void ExpectNothingToClaim(std::size_t stage) {
    EXPECT_EQ(store_->ClaimTask(stages_.at(stage).type).status().code(), ErrorCode::kTaskNotFound);
  }

  void SetJobStatus(JobStatus status) {
    auto s = store_->SetJobStatus(job_id_, status);
    ASSERT_TRUE(s.ok()) << Describe(s);
    if (job_status_ == JobStatus::kPaused && status == JobStatus::kPending) {
      status = domain::JobAfterResume(CompletedStages(), static_cast<std::int64_t>(stages_.size()));
    }
    if (status == JobStatus::kAborted) {
      for (auto& st : stages_) {
        if (!domain::IsFinal(st.status)) st.status = StageStatus::kAborted;
      }
    }
    job_status_ = status;
    Check();
  }

  // A report through the store, and what the domain says it does.
  void Report(const std::string& id, TaskStatus requested) {
    auto& task = tasks_.at(id);
    const auto outcome = domain::DecideTaskReport(task.status, task.attempts, task.max_attempts, requested);
    auto report = store_->ReportTask(id, requested);
    if (!outcome) {
      EXPECT_EQ(report.status().code(), ErrorCode::kIllegalTaskStatusTransition);
      Check();
      return;
    }
    ASSERT_TRUE(report.ok()) << Describe(report.status());
    task.status = outcome->status;
    task.attempts = outcome->attempts;
    store::TaskReport expected;
    if (outcome->counts_in_stage) {
      auto& s = stages_[task.stage];
      const bool completed = task.status == TaskStatus::kCompleted;
      const auto tally = domain::TallyFinishedTasks(s.status, s.counts, completed ? 1 : 0, completed ? 0 : 1);
      s.status = tally.status;
      s.counts = tally.counts;
      s.percentage = tally.percentage;
      if (completed && s.status == StageStatus::kCompleted) {
        expected.stage_completed = true;
        if (task.stage + 1 < stages_.size()) {
          auto& next = stages_[task.stage + 1];
          if (domain::StartsWhenPreviousCompletes(next.status)) {
            next.status = StageStatus::kPending;
            expected.next_stage_started = next.id;
          }
        }
        const auto all = static_cast<std::int64_t>(stages_.size());
        job_percentage_ = domain::JobPercentage(CompletedStages(), all);
        const auto after = domain::JobAfterStageCompleted(job_status_, CompletedStages(), all);
        expected.job_completed = after != job_status_;
        job_status_ = after;
      } else if (!completed && s.status == StageStatus::kFailed) {
        expected.stage_failed = true;
        const auto after = domain::JobAfterStageFailed(job_status_);
        expected.job_failed = after != job_status_;
        job_status_ = after;
      }
    }
    EXPECT_EQ(report->task.status, task.status);
    EXPECT_EQ(report->task.attempts, task.attempts);
    EXPECT_EQ(report->task.end_time.has_value(), domain::IsFinal(task.status));
    EXPECT_EQ(report->job_id, job_id_);
    EXPECT_EQ(report->stage_completed, expected.stage_completed);
    EXPECT_EQ(report->stage_failed, expected.stage_failed);
    EXPECT_EQ(report->job_completed, expected.job_completed);
    EXPECT_EQ(report->job_failed, expected.job_failed);
    EXPECT_EQ(report->next_stage_started, expected.next_stage_started);
    Check();
  }

  // The completion group commit's statement on `ids` at once (what one batch of COMPLETED
  // reports runs before its cascades), and the domain's tally of the same.
  void CompleteInOneStatement(const std::vector<std::string>& ids) {
    std::string array = "{", claims = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) {
      array += (i ? "," : "") + ids[i];
      claims += i ? ",NULL" : "NULL";
    }
    array += "}";
    claims += "}";
    pqxx::connection c(url_);
    pqxx::work tx(c);
    tx.exec0("SET LOCAL search_path TO " + tx.quote_name(schema_));
    auto rows = tx.exec_params(store::pg::Statements().at("TaskReportBatch"), array, claims);
    tx.commit();
    EXPECT_EQ(rows.size(), ids.size());
    std::map<std::size_t, std::int64_t> per_stage;
    for (const auto& id : ids) {
      auto& task = tasks_.at(id);
      ASSERT_EQ(task.status, TaskStatus::kInProgress);
      task.status = TaskStatus::kCompleted;
      ++per_stage[task.stage];
    }
    for (const auto& [stage, n] : per_stage) {
      auto& s = stages_[stage];
      const auto tally = domain::TallyFinishedTasks(s.status, s.counts, n, 0);
      s.status = tally.status;
      s.counts = tally.counts;
      s.percentage = tally.percentage;
    }
    Check();
  }

  // The store agrees with the model on every status, counter and percentage.
  void Check() {
    auto job = store_->GetJob(job_id_);
    ASSERT_TRUE(job.ok()) << Describe(job.status());
    EXPECT_EQ(job->status, job_status_) << domain::ToString(job->status) << " vs " << domain::ToString(job_status_);
    EXPECT_EQ(job->percentage, job_percentage_);
    for (const auto& model : stages_) {
      auto stage = store_->GetStage(model.id);
      ASSERT_TRUE(stage.ok()) << Describe(stage.status());
      EXPECT_EQ(stage->status, model.status)
          << model.type << ": " << domain::ToString(stage->status) << " vs " << domain::ToString(model.status);
      EXPECT_EQ(stage->percentage, model.percentage) << model.type;
      EXPECT_EQ(stage->summary.total(), model.counts.total) << model.type;
      EXPECT_EQ(stage->summary.completed, model.counts.completed) << model.type;
      EXPECT_EQ(stage->summary.failed, model.counts.failed) << model.type;
    }
    for (const auto& [id, model] : tasks_) {
      auto task = store_->GetTask(id);
      ASSERT_TRUE(task.ok()) << Describe(task.status());
      EXPECT_EQ(task->status, model.status) << id;
      EXPECT_EQ(task->attempts, model.attempts) << id;
    }
  }

  std::string job_id_;
  JobStatus job_status_ = JobStatus::kPending;
  int job_percentage_ = 0;
  std::vector<ModelStage> stages_;
  std::map<std::string, ModelTask> tasks_;
};

TEST_F(LifecycleTest, CompletionsOneByOneMatchTheDomain) {
  AddStage();
  AddTasks(0, 3);
  for (int i = 0; i < 3; ++i) Report(Claim(0), TaskStatus::kCompleted);
  EXPECT_EQ(job_status_, JobStatus::kCompleted);
}

TEST_F(LifecycleTest, RetriesAndAFinalFailureMatchTheDomain) {
  AddStage();
  AddTasks(0, 2);
  AddTasks(0, 1, /*max_attempts=*/3);
  Report(Claim(0), TaskStatus::kCompleted);
  const auto held = Claim(0);
  const auto retried = Claim(0);
  Report(retried, TaskStatus::kFailed);
  ASSERT_EQ(Claim(0), retried);
  Report(retried, TaskStatus::kFailed);
  Report(held, TaskStatus::kCompleted);
  ASSERT_EQ(Claim(0), retried);
  Report(retried, TaskStatus::kFailed);
  EXPECT_EQ(job_status_, JobStatus::kFailed);
}

TEST_F(LifecycleTest, AReportOnATaskNotInProgressMatchesTheDomain) {
  AddStage();
  AddTasks(0, 2);
  const auto id = Claim(0);
  Report(id, TaskStatus::kCompleted);
  Report(id, TaskStatus::kCompleted);
  Report(id, TaskStatus::kFailed);
}

TEST_F(LifecycleTest, StageCascadesMatchTheDomain) {
  AddStage();
  AddStage();
  AddStage(/*waiting=*/true);
  AddTasks(0, 2);
  AddTasks(1, 1);
  AddTasks(2, 1);
  ExpectNothingToClaim(1);
  Report(Claim(0), TaskStatus::kCompleted);
  Report(Claim(0), TaskStatus::kCompleted);  // starts stage 2
  Report(Claim(1), TaskStatus::kCompleted);  // stage 3 waits for a user
  ExpectNothingToClaim(2);
  EXPECT_EQ(job_percentage_, 66);
}

TEST_F(LifecycleTest, AFinalFailureInALaterStageMatchesTheDomain) {
  AddStage();
  AddStage();
  AddTasks(0, 1);
  AddTasks(1, 2, /*max_attempts=*/2);
  Report(Claim(0), TaskStatus::kCompleted);
  const auto id = Claim(1);
  Report(id, TaskStatus::kFailed);
  ASSERT_EQ(Claim(1), id);
  Report(id, TaskStatus::kFailed);
  ExpectNothingToClaim(1);
  EXPECT_EQ(job_status_, JobStatus::kFailed);
}

// SPEC A.3.12: pausing stops claims, not running work; the last work finishing under a
// paused job completes it (PAUSED -> COMPLETED), and a finished job takes no more stages.
TEST_F(LifecycleTest, WorkFinishingUnderAPausedJobCompletesItAndItTakesNoMoreStages) {
  AddStage();
  AddTasks(0, 2);
  const auto a = Claim(0);
  const auto b = Claim(0);
  SetJobStatus(JobStatus::kPaused);
  Report(a, TaskStatus::kCompleted);
  EXPECT_EQ(job_status_, JobStatus::kPaused);
  Report(b, TaskStatus::kCompleted);
  EXPECT_EQ(job_status_, JobStatus::kCompleted);
  EXPECT_EQ(job_percentage_, 100);
  auto added = store_->AddStage(job_id_, AStage("late", false), ATrace());
  EXPECT_EQ(added.status().code(), ErrorCode::kJobInFiniteState);
  EXPECT_EQ(store_->SetJobStatus(job_id_, JobStatus::kPending).code(), ErrorCode::kIllegalJobStatusTransition);
}

TEST_F(LifecycleTest, AFinalFailureUnderAPausedJobFailsIt) {
  AddStage();
  AddTasks(0, 2);
  const auto a = Claim(0);
  Claim(0);
  SetJobStatus(JobStatus::kPaused);
  Report(a, TaskStatus::kFailed);
  EXPECT_EQ(job_status_, JobStatus::kFailed);
}

// Resumed (PENDING) with its remaining work claimed before the pause: nothing will claim
// again, so the last completion must complete the job from PENDING.
TEST_F(LifecycleTest, AResumedJobWhoseLastTaskWasClaimedBeforeThePauseCompletes) {
  AddStage();
  AddStage();
  AddTasks(0, 1);
  AddTasks(1, 1);
  Report(Claim(0), TaskStatus::kCompleted);
  const auto last = Claim(1);
  SetJobStatus(JobStatus::kPaused);
  SetJobStatus(JobStatus::kPending);
  EXPECT_EQ(job_status_, JobStatus::kPending);
  Report(last, TaskStatus::kCompleted);
  EXPECT_EQ(job_status_, JobStatus::kCompleted);
}

// A job left PAUSED at 100 % (before PAUSED -> COMPLETED existed) completes on resume.
TEST_F(LifecycleTest, ResumingAPausedJobWhoseStagesAllCompletedCompletesIt) {
  AddStage();
  AddTasks(0, 1);
  Report(Claim(0), TaskStatus::kCompleted);
  ASSERT_EQ(job_status_, JobStatus::kCompleted);
  Exec("UPDATE job SET status = 'PAUSED' WHERE id = '" + job_id_ + "'");  // the state such a job was left in
  job_status_ = JobStatus::kPaused;
  SetJobStatus(JobStatus::kPending);
  EXPECT_EQ(job_status_, JobStatus::kCompleted);
}

// A WAITING stage released while its job is paused becomes PENDING, but its tasks are
// claimable only once the job is resumed.
TEST_F(LifecycleTest, AStageReleasedUnderAPausedJobWaitsForTheResume) {
  AddStage(/*waiting=*/true);
  AddTasks(0, 1);
  SetJobStatus(JobStatus::kPaused);
  ASSERT_TRUE(store_->SetStageStatus(stages_[0].id, StageStatus::kPending).ok());
  stages_[0].status = StageStatus::kPending;
  Check();
  ExpectNothingToClaim(0);
  SetJobStatus(JobStatus::kPending);
  Report(Claim(0), TaskStatus::kCompleted);
  EXPECT_EQ(job_status_, JobStatus::kCompleted);
}

// Aborting stops claims, not running work: a running task's report is still accepted and
// recorded on the task; its stage and job stay ABORTED, and a retry is never claimed.
TEST_F(LifecycleTest, ReportsOnTasksOfAnAbortedJobAreRecordedAndTheJobStaysAborted) {
  AddStage();
  AddTasks(0, 3, /*max_attempts=*/2);
  const auto a = Claim(0);
  const auto b = Claim(0);
  SetJobStatus(JobStatus::kAborted);
  Report(a, TaskStatus::kCompleted);
  Report(b, TaskStatus::kFailed);
  EXPECT_EQ(tasks_.at(b).status, TaskStatus::kRetried);
  ExpectNothingToClaim(0);
  EXPECT_EQ(job_status_, JobStatus::kAborted);
  EXPECT_EQ(stages_[0].status, StageStatus::kAborted);
}

// A client may not ask for the internal transitions.
TEST_F(LifecycleTest, NoClientMayCompleteOrFailAJob) {
  AddStage();
  SetJobStatus(JobStatus::kPaused);
  EXPECT_EQ(store_->SetJobStatus(job_id_, JobStatus::kCompleted).code(), ErrorCode::kIllegalJobStatusTransition);
  EXPECT_EQ(store_->SetJobStatus(job_id_, JobStatus::kFailed).code(), ErrorCode::kIllegalJobStatusTransition);
}

TEST_F(LifecycleTest, OneBatchOfCompletionsCountsLikeTheDomain) {
  AddStage();
  AddStage();
  AddTasks(0, 5);
  AddTasks(1, 3);
  std::vector<std::string> claimed;
  for (int i = 0; i < 4; ++i) claimed.push_back(Claim(0));
  CompleteInOneStatement({claimed[0], claimed[1], claimed[2]});
  const auto last = Claim(0);
  CompleteInOneStatement({claimed[3], last});
}

}  // namespace
}  // namespace jobnik::testing
