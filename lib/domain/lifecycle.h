// The lifecycle rules of SPEC A.3 as pure functions: what a task report does, the status a
// new stage starts in, when a stage completes or fails, what follows a completed stage, when
// the job completes or fails, and the percentages. No I/O.
//
// These are the reference. The store applies them; where the report path computes the same
// thing in SQL for speed (store/pg/queries/task.sql, "Lifecycle rules in SQL"), the
// integration test tests/integration/lifecycle_test.cc runs the same cases through the store
// and through these functions and compares the outcomes.
//
// Every status a function here returns is either the one it was given or an edge of
// CanTransition (SPEC A.2): tests/unit/lifecycle_test.cc checks that over all inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "domain/error.h"
#include "domain/model.h"
#include "domain/status.h"

namespace jobnik::domain {

// ---- Task reports (SPEC A.3.5)

// What a worker's (or the sweeper's) report does to its task.
struct TaskReportOutcome {
  TaskStatus status = TaskStatus::kInProgress;  // the task's new status
  int attempts = 0;                             // the task's new attempts
  // A final status (COMPLETED, FAILED) counts in its stage's counters, which may finish the
  // stage and so the job; a RETRIED task leaves its stage and job as they are.
  bool counts_in_stage = false;

  bool operator==(const TaskReportOutcome&) const = default;
};

// The error of a status change the state machine refuses: ILLEGAL_JOB_STATUS_TRANSITION,
// ILLEGAL_STAGE_STATUS_TRANSITION or ILLEGAL_TASK_STATUS_TRANSITION, naming both statuses.
Status IllegalTransition(JobStatus from, JobStatus to);
Status IllegalTransition(StageStatus from, StageStatus to);
Status IllegalTransition(TaskStatus from, TaskStatus to);

// The report of `requested` on a task now `current` with `attempts` of `max_attempts`:
// FAILED adds an attempt and becomes RETRIED while attempts remain (attempts < max_attempts),
// FAILED otherwise; COMPLETED stays COMPLETED. std::nullopt when the change is illegal (the
// task is not IN_PROGRESS): the caller answers ILLEGAL_TASK_STATUS_TRANSITION.
std::optional<TaskReportOutcome> DecideTaskReport(TaskStatus current, int attempts, int max_attempts,
                                                  TaskStatus requested);

// How many seconds a task that just became RETRIED (its attempts now `attempts`, >= 1)
// waits before it is claimable again (docs/design.md, "Retry backoff"): the worker's
// `retry_after_seconds` when given, exactly; else, with a policy, min(max_delay_seconds,
// delay_seconds * backoff^(attempts - 1)) plus `jitter` (in [0, 1)) times kRetryJitter of
// it; 0 (claimable at once, as in v1) with neither.
double RetryDelaySeconds(const std::optional<RetryPolicy>& policy, int attempts,
                         std::optional<double> retry_after_seconds, double jitter);

// ---- Stages

// The status a new stage starts in (SPEC A.3.2, A.3.12): WAITING when asked; otherwise
// PENDING when it is the job's first stage (`last_stage` is the status of the job's last
// stage so far, std::nullopt for none) or follows a COMPLETED stage, CREATED otherwise.
StageStatus InitialStageStatus(bool start_as_waiting, std::optional<StageStatus> last_stage);

// Whether the tasks of a stage can be claimed (the `ready` flag the claim reads): the stage
// and its job are both PENDING or IN_PROGRESS (SPEC A.3.4).
constexpr bool TasksClaimable(JobStatus job, StageStatus stage) {
  return IsActive(job) && IsActive(stage);
}

// A stage's stored counters of final tasks.
struct StageCounts {
  std::int64_t total = 0;
  std::int64_t completed = 0;
  std::int64_t failed = 0;

  bool operator==(const StageCounts&) const = default;
};

// A stage after some of its tasks reached a final status.
struct StageTally {
  StageCounts counts;
  int percentage = 0;  // floor(100 * completed / total)
  StageStatus status = StageStatus::kInProgress;

  bool operator==(const StageTally&) const = default;
};

// The stage now `status` with `before` after `completed` more tasks completed and `failed`
// more failed for good (SPEC A.3.5): the counters grow, the percentage follows, and an
// IN_PROGRESS stage fails with a failure among them, or else completes when every task is
// completed, or else fails when every task is final and some of them had failed (tasks
// left FAILED when others of the stage were re-run: RetryTask). A stage in any other
// status keeps it (only its counters move).
StageTally TallyFinishedTasks(StageStatus status, const StageCounts& before, std::int64_t completed,
                              std::int64_t failed);

// Whether the next stage (order + 1) starts when its predecessor completes: only a stage
// waiting for it (CREATED -> PENDING); a WAITING stage waits for a user.
constexpr bool StartsWhenPreviousCompletes(StageStatus next) {
  return next == StageStatus::kCreated;
}

// ---- Re-running failed work (docs/design.md, "Re-running failed work")

// What a retry of a whole job does (POST /v1/jobs/{id}/retry): a FAILED job goes back to
// IN_PROGRESS, and so do its FAILED stages; their FAILED tasks become PENDING with 0
// attempts; later stages keep their status. NOT_RETRYABLE for a job in any other status.
// Returns the job's new status (CanReopen's edge).
Result<JobStatus> JobAfterRetry(const std::string& job_id, JobStatus job);

// What a retry of one task does (POST /v1/tasks/{id}/retry).
struct TaskRetryOutcome {
  TaskStatus task = TaskStatus::kPending;  // with 0 attempts
  StageStatus stage = StageStatus::kInProgress;
  JobStatus job = JobStatus::kInProgress;

  bool operator==(const TaskRetryOutcome&) const = default;
};
// A FAILED task becomes PENDING; its stage, when FAILED, and its job, when FAILED, go back
// to IN_PROGRESS (CanReopen's edges); a stage or job still running (stage PENDING or
// IN_PROGRESS; job PENDING, IN_PROGRESS or PAUSED) keeps its status. NOT_RETRYABLE when the
// task is not FAILED, or its stage or job is in another status (ABORTED, COMPLETED, ...).
Result<TaskRetryOutcome> DecideTaskRetry(const std::string& task_id, TaskStatus task, StageStatus stage, JobStatus job);

// ---- Jobs

// The job's status once `completed_stages` of its `total_stages` are COMPLETED: COMPLETED when
// all are and the job may complete (CanTransition), else unchanged.
JobStatus JobAfterStageCompleted(JobStatus job, std::int64_t completed_stages, std::int64_t total_stages);

// The job's status once one of its stages FAILED: FAILED when the job may fail, else unchanged.
JobStatus JobAfterStageFailed(JobStatus job);

// The status a PAUSED job takes when a user resumes it: PENDING, unless it has stages and
// every one is COMPLETED (its work finished while it was paused, before PAUSED -> COMPLETED
// existed): then COMPLETED, as there is nothing left to claim.
JobStatus JobAfterResume(std::int64_t completed_stages, std::int64_t total_stages);

// A job's percentage: floor(100 * completed stages / all stages), 0 without stages.
int JobPercentage(std::int64_t completed_stages, std::int64_t total_stages);

// A stage's percentage: floor(100 * completed tasks / all tasks), 0 without tasks.
int StagePercentage(const StageCounts& counts);

}  // namespace jobnik::domain
