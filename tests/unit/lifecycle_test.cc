// Unit tests of lib/domain/lifecycle.h: the lifecycle rules of SPEC A.3, without a database.
// tests/integration/lifecycle_test.cc runs the same rules through the store's SQL.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>

#include "domain/lifecycle.h"

namespace jobnik::domain {
namespace {

// ---- Task reports (SPEC A.3.5)

TEST(TaskReport, CompletedFromInProgressCompletesAndCountsInItsStage) {
  EXPECT_EQ(DecideTaskReport(TaskStatus::kInProgress, 0, 3, TaskStatus::kCompleted),
            (TaskReportOutcome{TaskStatus::kCompleted, 0, true}));
}

TEST(TaskReport, CompletedKeepsTheAttemptsOfEarlierFailures) {
  EXPECT_EQ(DecideTaskReport(TaskStatus::kInProgress, 2, 3, TaskStatus::kCompleted),
            (TaskReportOutcome{TaskStatus::kCompleted, 2, true}));
}

TEST(TaskReport, FailedWithAttemptsLeftBecomesRetriedAndLeavesItsStageAlone) {
  EXPECT_EQ(DecideTaskReport(TaskStatus::kInProgress, 0, 3, TaskStatus::kFailed),
            (TaskReportOutcome{TaskStatus::kRetried, 1, false}));
  EXPECT_EQ(DecideTaskReport(TaskStatus::kInProgress, 1, 3, TaskStatus::kFailed),
            (TaskReportOutcome{TaskStatus::kRetried, 2, false}));
}

TEST(TaskReport, FailedOnTheLastAttemptFailsForGoodAndCountsInItsStage) {
  EXPECT_EQ(DecideTaskReport(TaskStatus::kInProgress, 2, 3, TaskStatus::kFailed),
            (TaskReportOutcome{TaskStatus::kFailed, 3, true}));
}

TEST(TaskReport, FailedWithOneAttemptFailsAtOnce) {
  EXPECT_EQ(DecideTaskReport(TaskStatus::kInProgress, 0, 1, TaskStatus::kFailed),
            (TaskReportOutcome{TaskStatus::kFailed, 1, true}));
}

TEST(TaskReport, OnlyATaskInProgressCanBeReportedOn) {
  for (auto current : kAllTaskStatuses) {
    if (current == TaskStatus::kInProgress) continue;
    EXPECT_FALSE(DecideTaskReport(current, 0, 3, TaskStatus::kCompleted).has_value()) << ToString(current);
    EXPECT_FALSE(DecideTaskReport(current, 0, 3, TaskStatus::kFailed).has_value()) << ToString(current);
  }
}

TEST(TaskReport, EveryDecidedStatusIsAnEdgeOfTheTaskMachine) {
  for (auto current : kAllTaskStatuses) {
    for (auto requested : kAllTaskStatuses) {
      for (int max_attempts = 1; max_attempts <= 3; ++max_attempts) {
        for (int attempts = 0; attempts < max_attempts; ++attempts) {
          auto out = DecideTaskReport(current, attempts, max_attempts, requested);
          if (out) {
            EXPECT_TRUE(CanTransition(current, out->status)) << ToString(current) << " " << ToString(requested);
          }
        }
      }
    }
  }
}

// ---- New stages (SPEC A.3.2, A.3.12)

TEST(InitialStage, TheFirstStageOfAJobStartsPending) {
  EXPECT_EQ(InitialStageStatus(false, std::nullopt), StageStatus::kPending);
}

TEST(InitialStage, ALaterStageStartsCreated) {
  for (auto last : {StageStatus::kCreated, StageStatus::kPending, StageStatus::kInProgress, StageStatus::kWaiting,
                    StageStatus::kFailed, StageStatus::kAborted}) {
    EXPECT_EQ(InitialStageStatus(false, last), StageStatus::kCreated) << ToString(last);
  }
}

TEST(InitialStage, AStageAfterACompletedOneStartsPendingAsItIsNext) {
  EXPECT_EQ(InitialStageStatus(false, StageStatus::kCompleted), StageStatus::kPending);
}

TEST(InitialStage, StartAsWaitingStartsAnyStageWaiting) {
  EXPECT_EQ(InitialStageStatus(true, std::nullopt), StageStatus::kWaiting);
  for (auto last : kAllStageStatuses) EXPECT_EQ(InitialStageStatus(true, last), StageStatus::kWaiting);
}

TEST(Claimable, TasksAreClaimableOnlyWhenStageAndJobAreBothActive) {
  for (auto job : kAllJobStatuses) {
    for (auto stage : kAllStageStatuses) {
      const bool expected = (job == JobStatus::kPending || job == JobStatus::kInProgress) &&
                            (stage == StageStatus::kPending || stage == StageStatus::kInProgress);
      EXPECT_EQ(TasksClaimable(job, stage), expected) << ToString(job) << " " << ToString(stage);
    }
  }
}

// ---- Stage counters and outcome (SPEC A.3.5)

TEST(StageTally, ACompletionMovesTheCounterAndFloorsThePercentage) {
  EXPECT_EQ(TallyFinishedTasks(StageStatus::kInProgress, {3, 0, 0}, 1, 0),
            (StageTally{{3, 1, 0}, 33, StageStatus::kInProgress}));
  EXPECT_EQ(TallyFinishedTasks(StageStatus::kInProgress, {3, 1, 0}, 1, 0),
            (StageTally{{3, 2, 0}, 66, StageStatus::kInProgress}));
}

TEST(StageTally, TheLastCompletionCompletesTheStage) {
  EXPECT_EQ(TallyFinishedTasks(StageStatus::kInProgress, {3, 2, 0}, 1, 0),
            (StageTally{{3, 3, 0}, 100, StageStatus::kCompleted}));
}

TEST(StageTally, ABatchOfCompletionsCountsOnceAndMayCompleteTheStage) {
  EXPECT_EQ(TallyFinishedTasks(StageStatus::kInProgress, {4, 1, 0}, 2, 0),
            (StageTally{{4, 3, 0}, 75, StageStatus::kInProgress}));
  EXPECT_EQ(TallyFinishedTasks(StageStatus::kInProgress, {4, 1, 0}, 3, 0),
            (StageTally{{4, 4, 0}, 100, StageStatus::kCompleted}));
}

TEST(StageTally, AFinalFailureFailsTheStageAndLeavesThePercentage) {
  EXPECT_EQ(TallyFinishedTasks(StageStatus::kInProgress, {4, 2, 0}, 0, 1),
            (StageTally{{4, 2, 1}, 50, StageStatus::kFailed}));
}

TEST(StageTally, AFailureOfTheLastTaskFailsTheStageRatherThanCompletingIt) {
  EXPECT_EQ(TallyFinishedTasks(StageStatus::kInProgress, {2, 1, 0}, 0, 1),
            (StageTally{{2, 1, 1}, 50, StageStatus::kFailed}));
}

TEST(StageTally, AStageNotInProgressKeepsItsStatusAndOnlyCounts) {
  for (auto status : {StageStatus::kCreated, StageStatus::kPending, StageStatus::kWaiting, StageStatus::kCompleted,
                      StageStatus::kFailed, StageStatus::kAborted}) {
    EXPECT_EQ(TallyFinishedTasks(status, {2, 1, 0}, 1, 0), (StageTally{{2, 2, 0}, 100, status})) << ToString(status);
    EXPECT_EQ(TallyFinishedTasks(status, {2, 0, 0}, 0, 1), (StageTally{{2, 0, 1}, 0, status})) << ToString(status);
  }
}

TEST(StageTally, EveryDecidedStatusIsAnEdgeOfTheStageMachine) {
  for (auto status : kAllStageStatuses) {
    for (std::int64_t completed = 0; completed <= 2; ++completed) {
      for (std::int64_t failed = 0; failed <= 1; ++failed) {
        const auto out = TallyFinishedTasks(status, {3, 1, 0}, completed, failed);
        if (out.status != status) {
          EXPECT_TRUE(CanTransition(status, out.status)) << ToString(status);
        }
      }
    }
  }
}

TEST(StagePercentage, IsZeroWithoutTasks) {
  EXPECT_EQ(StagePercentage({0, 0, 0}), 0);
}

TEST(StagePercentage, FloorsCompletedOverTotalAndIgnoresFailures) {
  EXPECT_EQ(StagePercentage({3, 2, 1}), 66);
  EXPECT_EQ(StagePercentage({200, 199, 0}), 99);
}

// ---- What follows a completed stage (SPEC A.3.5)

TEST(NextStage, OnlyAStageWaitingForItsPredecessorStartsWhenItCompletes) {
  for (auto next : kAllStageStatuses) {
    EXPECT_EQ(StartsWhenPreviousCompletes(next), next == StageStatus::kCreated) << ToString(next);
  }
  EXPECT_TRUE(CanTransition(StageStatus::kCreated, StageStatus::kPending));
}

TEST(JobOutcome, TheJobCompletesWhenItsLastStageCompletes) {
  EXPECT_EQ(JobAfterStageCompleted(JobStatus::kInProgress, 3, 3), JobStatus::kCompleted);
}

TEST(JobOutcome, TheJobStaysInProgressWhileStagesRemain) {
  EXPECT_EQ(JobAfterStageCompleted(JobStatus::kInProgress, 2, 3), JobStatus::kInProgress);
}

TEST(JobOutcome, AJobThatMayNotCompleteKeepsItsStatus) {
  for (auto job : {JobStatus::kAborted, JobStatus::kFailed}) {
    EXPECT_EQ(JobAfterStageCompleted(job, 1, 1), job) << ToString(job);
  }
}

TEST(JobOutcome, AFailedStageFailsAJobInProgress) {
  EXPECT_EQ(JobAfterStageFailed(JobStatus::kInProgress), JobStatus::kFailed);
}

// SPEC A.3.12: pausing stops claims, not running work. A paused job whose last work
// finishes ends COMPLETED (or FAILED), and so does a resumed job whose remaining work was
// already claimed before the pause (PENDING again until a new claim).
TEST(JobOutcome, APausedOrResumedJobWhoseLastStageCompletesCompletes) {
  EXPECT_EQ(JobAfterStageCompleted(JobStatus::kPaused, 2, 2), JobStatus::kCompleted);
  EXPECT_EQ(JobAfterStageCompleted(JobStatus::kPending, 2, 2), JobStatus::kCompleted);
  EXPECT_EQ(JobAfterStageCompleted(JobStatus::kPaused, 1, 2), JobStatus::kPaused);
}

TEST(JobOutcome, APausedOrResumedJobWhoseStageFailsFails) {
  EXPECT_EQ(JobAfterStageFailed(JobStatus::kPaused), JobStatus::kFailed);
  EXPECT_EQ(JobAfterStageFailed(JobStatus::kPending), JobStatus::kFailed);
}

TEST(JobOutcome, TheInternalTransitionsMayNotBeRequested) {
  EXPECT_FALSE(ClientMayRequest(JobStatus::kCompleted));
  EXPECT_FALSE(ClientMayRequest(JobStatus::kFailed));
}

TEST(JobOutcome, AResumedJobIsPendingUnlessAllItsStagesAreCompleted) {
  EXPECT_EQ(JobAfterResume(0, 0), JobStatus::kPending);
  EXPECT_EQ(JobAfterResume(1, 2), JobStatus::kPending);
  EXPECT_EQ(JobAfterResume(2, 2), JobStatus::kCompleted);
  EXPECT_TRUE(CanTransition(JobStatus::kPaused, JobStatus::kCompleted));
  EXPECT_TRUE(CanTransition(JobStatus::kPaused, JobStatus::kPending));
}

TEST(JobOutcome, AFailedStageLeavesAJobThatMayNotFail) {
  for (auto job : {JobStatus::kAborted, JobStatus::kCompleted}) {
    EXPECT_EQ(JobAfterStageFailed(job), job) << ToString(job);
  }
}

TEST(JobOutcome, EveryDecidedStatusIsAnEdgeOfTheJobMachine) {
  for (auto job : kAllJobStatuses) {
    const auto completed = JobAfterStageCompleted(job, 2, 2);
    if (completed != job) {
      EXPECT_TRUE(CanTransition(job, completed)) << ToString(job);
    }
    const auto failed = JobAfterStageFailed(job);
    if (failed != job) {
      EXPECT_TRUE(CanTransition(job, failed)) << ToString(job);
    }
  }
}

TEST(JobPercentage, FloorsCompletedStagesOverAllStages) {
  EXPECT_EQ(JobPercentage(0, 0), 0);
  EXPECT_EQ(JobPercentage(1, 3), 33);
  EXPECT_EQ(JobPercentage(2, 3), 66);
  EXPECT_EQ(JobPercentage(3, 3), 100);
}

// ---- Re-running failed work

TEST(StageTally, TheLastTaskFinishingWithFailedTasksLeftFailsTheStage) {
  // Tasks left FAILED when another task of the stage was re-run (RetryTask).
  EXPECT_EQ(TallyFinishedTasks(StageStatus::kInProgress, {3, 1, 1}, 1, 0),
            (StageTally{{3, 2, 1}, 66, StageStatus::kFailed}));
  EXPECT_EQ(TallyFinishedTasks(StageStatus::kInProgress, {3, 0, 1}, 1, 0),
            (StageTally{{3, 1, 1}, 33, StageStatus::kInProgress}));
}

TEST(JobRetry, OnlyAFailedJobIsRetriedAndGoesBackInProgress) {
  for (auto job : kAllJobStatuses) {
    auto after = JobAfterRetry("j", job);
    if (job == JobStatus::kFailed) {
      ASSERT_TRUE(after.ok());
      EXPECT_EQ(*after, JobStatus::kInProgress);
      EXPECT_TRUE(CanReopen(job, *after));
    } else {
      ASSERT_FALSE(after.ok()) << ToString(job);
      EXPECT_EQ(after.status().code(), ErrorCode::kNotRetryable);
      EXPECT_NE(after.status().message().find(ToString(job)), std::string::npos) << after.status().message();
    }
  }
}

TEST(TaskRetry, AFailedTaskOfAFailedJobReopensItsStageAndJob) {
  auto out = DecideTaskRetry("t", TaskStatus::kFailed, StageStatus::kFailed, JobStatus::kFailed);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, (TaskRetryOutcome{TaskStatus::kPending, StageStatus::kInProgress, JobStatus::kInProgress}));
}

TEST(TaskRetry, AFailedTaskOfARunningStageLeavesStageAndJobAsTheyAre) {
  for (auto job : {JobStatus::kPending, JobStatus::kInProgress, JobStatus::kPaused}) {
    auto out = DecideTaskRetry("t", TaskStatus::kFailed, StageStatus::kInProgress, job);
    ASSERT_TRUE(out.ok()) << ToString(job);
    EXPECT_EQ(*out, (TaskRetryOutcome{TaskStatus::kPending, StageStatus::kInProgress, job}));
  }
}

TEST(TaskRetry, OnlyAFailedTaskIsRetried) {
  for (auto task : kAllTaskStatuses) {
    if (task == TaskStatus::kFailed) continue;
    auto out = DecideTaskRetry("t", task, StageStatus::kFailed, JobStatus::kFailed);
    ASSERT_FALSE(out.ok()) << ToString(task);
    EXPECT_EQ(out.status().code(), ErrorCode::kNotRetryable);
  }
}

TEST(TaskRetry, ATaskOfAnAbortedOrFinishedStageOrJobIsNotRetried) {
  for (auto stage : {StageStatus::kAborted, StageStatus::kCompleted, StageStatus::kWaiting, StageStatus::kCreated}) {
    EXPECT_EQ(DecideTaskRetry("t", TaskStatus::kFailed, stage, JobStatus::kFailed).status().code(),
              ErrorCode::kNotRetryable)
        << ToString(stage);
  }
  for (auto job : {JobStatus::kAborted, JobStatus::kCompleted}) {
    EXPECT_EQ(DecideTaskRetry("t", TaskStatus::kFailed, StageStatus::kFailed, job).status().code(),
              ErrorCode::kNotRetryable)
        << ToString(job);
  }
}

TEST(TaskRetry, EveryDecidedStatusIsAReopenEdge) {
  for (auto stage : kAllStageStatuses) {
    for (auto job : kAllJobStatuses) {
      auto out = DecideTaskRetry("t", TaskStatus::kFailed, stage, job);
      if (!out.ok()) continue;
      EXPECT_TRUE(CanReopen(TaskStatus::kFailed, out->task));
      if (out->stage != stage) {
        EXPECT_TRUE(CanReopen(stage, out->stage)) << ToString(stage);
      }
      if (out->job != job) {
        EXPECT_TRUE(CanReopen(job, out->job)) << ToString(job);
      }
    }
  }
}

}  // namespace
}  // namespace jobnik::domain
