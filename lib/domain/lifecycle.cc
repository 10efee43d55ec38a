#include "domain/lifecycle.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace jobnik::domain {

namespace {

template <typename S>
Status Illegal(ErrorCode code, S from, S to) {
  return {code, fmt::format("Illegal status transition from {} to {}", ToString(from), ToString(to))};
}

}  // namespace

Status IllegalTransition(JobStatus from, JobStatus to) {
  return Illegal(ErrorCode::kIllegalJobStatusTransition, from, to);
}
Status IllegalTransition(StageStatus from, StageStatus to) {
  return Illegal(ErrorCode::kIllegalStageStatusTransition, from, to);
}
Status IllegalTransition(TaskStatus from, TaskStatus to) {
  return Illegal(ErrorCode::kIllegalTaskStatusTransition, from, to);
}

std::optional<TaskReportOutcome> DecideTaskReport(TaskStatus current, int attempts, int max_attempts,
                                                  TaskStatus requested) {
  TaskReportOutcome out{requested, attempts, false};
  if (requested == TaskStatus::kFailed) {
    ++out.attempts;
    if (out.attempts < max_attempts) out.status = TaskStatus::kRetried;
  }
  if (!CanTransition(current, out.status)) return std::nullopt;
  out.counts_in_stage = IsFinal(out.status);
  return out;
}

double RetryDelaySeconds(const std::optional<RetryPolicy>& policy, int attempts,
                         std::optional<double> retry_after_seconds, double jitter) {
  if (retry_after_seconds) return std::max(0.0, *retry_after_seconds);
  if (!policy || policy->delay_seconds <= 0) return 0;  // (0 * inf would be NaN)
  // backoff^(attempts - 1) overflows to infinity long before attempts does: the cap holds.
  const double exponent = std::max(0, attempts - 1);
  const double base = std::min(policy->max_delay_seconds, policy->delay_seconds * std::pow(policy->backoff, exponent));
  return base * (1 + kRetryJitter * std::clamp(jitter, 0.0, 1.0));
}

StageStatus InitialStageStatus(bool start_as_waiting, std::optional<StageStatus> last_stage) {
  if (start_as_waiting) return StageStatus::kWaiting;
  if (!last_stage || *last_stage == StageStatus::kCompleted) return StageStatus::kPending;
  return StageStatus::kCreated;
}

int StagePercentage(const StageCounts& counts) {
  return Percentage(counts.completed, counts.total);
}

StageTally TallyFinishedTasks(StageStatus status, const StageCounts& before, std::int64_t completed,
                              std::int64_t failed) {
  StageTally out;
  out.counts = {before.total, before.completed + completed, before.failed + failed};
  out.percentage = StagePercentage(out.counts);
  out.status = status;
  if (status == StageStatus::kInProgress) {
    const bool all_completed = failed == 0 && out.counts.completed == out.counts.total;
    // A failure among them; or every task final with some failed earlier and not re-run.
    const bool failed_now =
        failed > 0 || (out.counts.failed > 0 && out.counts.completed + out.counts.failed == out.counts.total);
    if (all_completed) {
      out.status = StageStatus::kCompleted;
    } else if (failed_now) {
      out.status = StageStatus::kFailed;
    }
  }
  return out;
}

Result<JobStatus> JobAfterRetry(const std::string& job_id, JobStatus job) {
  if (!CanReopen(job, JobStatus::kInProgress)) {
    return Status(ErrorCode::kNotRetryable,
                  fmt::format("Job {} is {}; only a FAILED job can be retried", job_id, ToString(job)));
  }
  return JobStatus::kInProgress;
}

Result<TaskRetryOutcome> DecideTaskRetry(const std::string& task_id, TaskStatus task, StageStatus stage,
                                         JobStatus job) {
  if (!CanReopen(task, TaskStatus::kPending)) {
    return Status(ErrorCode::kNotRetryable,
                  fmt::format("Task {} is {}; only a FAILED task can be retried", task_id, ToString(task)));
  }
  TaskRetryOutcome out{TaskStatus::kPending, stage, job};
  if (CanReopen(stage, StageStatus::kInProgress)) {
    out.stage = StageStatus::kInProgress;
  } else if (!IsActive(stage)) {
    return Status(ErrorCode::kNotRetryable,
                  fmt::format("Task {} is in a stage that is {}; it cannot be retried", task_id, ToString(stage)));
  }
  if (CanReopen(job, JobStatus::kInProgress)) {
    out.job = JobStatus::kInProgress;
  } else if (!IsActive(job) && job != JobStatus::kPaused) {
    return Status(ErrorCode::kNotRetryable,
                  fmt::format("Task {} is in a job that is {}; it cannot be retried", task_id, ToString(job)));
  }
  return out;
}

JobStatus JobAfterStageCompleted(JobStatus job, std::int64_t completed_stages, std::int64_t total_stages) {
  if (completed_stages == total_stages && CanTransition(job, JobStatus::kCompleted)) return JobStatus::kCompleted;
  return job;
}

JobStatus JobAfterStageFailed(JobStatus job) {
  return CanTransition(job, JobStatus::kFailed) ? JobStatus::kFailed : job;
}

JobStatus JobAfterResume(std::int64_t completed_stages, std::int64_t total_stages) {
  return total_stages > 0 && completed_stages == total_stages ? JobStatus::kCompleted : JobStatus::kPending;
}

int JobPercentage(std::int64_t completed_stages, std::int64_t total_stages) {
  return Percentage(completed_stages, total_stages);
}

}  // namespace jobnik::domain
