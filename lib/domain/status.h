// Statuses, priorities and the three state machines of SPEC A.2, as data.
//
// Every status change in Jobnik is an edge of these machines: a change a request asks for
// is asked of CanTransition() first, and the lifecycle rules (domain/lifecycle.h) only ever
// decide edges. The SQL that performs a change also re-checks the expected current status,
// so a lost race is detected by the database (see src/jobnikd/store/pg).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace jobnik::domain {

enum class JobStatus : std::uint8_t {
  kCreated,     // not used by v1 creation (jobs start PENDING); kept for the wire enum
  kPending,     // created or resumed; moved on by the first dequeue
  kInProgress,  // a task was dequeued; moved on by the last stage's completion or a failure
  kCompleted,   // every stage completed (final)
  kFailed,      // a task exhausted its attempts (final)
  kAborted,     // by a user (final)
  kPaused,      // by a user; moved on by a user (resume -> PENDING, or abort)
};

enum class StageStatus : std::uint8_t {
  kCreated,     // a later stage waiting for its predecessor; moved on by that completion
  kPending,     // claimable; moved on by the first dequeue
  kInProgress,  // a task was dequeued
  kCompleted,   // every task completed (final)
  kFailed,      // a task exhausted its attempts (final)
  kAborted,     // its job was aborted (final)
  kWaiting,     // held back until a user sets it PENDING
};

enum class TaskStatus : std::uint8_t {
  kCreated,     // not used by v1 (tasks start PENDING); kept for the wire enum
  kPending,     // claimable
  kInProgress,  // claimed by a worker; moved on by the worker's report or the sweeper
  kCompleted,   // final
  kFailed,      // attempts exhausted (final)
  kRetried,     // failed with attempts left; claimable again
};

// Highest first. The numeric value is the sort key stored in the database.
enum class Priority : std::uint8_t {
  kVeryHigh = 1,
  kHigh = 2,
  kMedium = 3,
  kLow = 4,
  kVeryLow = 5,
};

inline constexpr std::array kAllJobStatuses = {JobStatus::kCreated,   JobStatus::kPending, JobStatus::kInProgress,
                                               JobStatus::kCompleted, JobStatus::kFailed,  JobStatus::kAborted,
                                               JobStatus::kPaused};
inline constexpr std::array kAllStageStatuses = {
    StageStatus::kCreated, StageStatus::kPending, StageStatus::kInProgress, StageStatus::kCompleted,
    StageStatus::kFailed,  StageStatus::kAborted, StageStatus::kWaiting};
inline constexpr std::array kAllTaskStatuses = {TaskStatus::kCreated,   TaskStatus::kPending, TaskStatus::kInProgress,
                                                TaskStatus::kCompleted, TaskStatus::kFailed,  TaskStatus::kRetried};
inline constexpr std::array kAllPriorities = {Priority::kVeryHigh, Priority::kHigh, Priority::kMedium, Priority::kLow,
                                              Priority::kVeryLow};

// Wire names (SCREAMING_SNAKE_CASE, as in the v1 API).
std::string_view ToString(JobStatus s);
std::string_view ToString(StageStatus s);
std::string_view ToString(TaskStatus s);
std::string_view ToString(Priority p);

// Parse a wire name; std::nullopt for anything else (case-sensitive, as the v1 schema).
std::optional<JobStatus> ParseJobStatus(std::string_view s);
std::optional<StageStatus> ParseStageStatus(std::string_view s);
std::optional<TaskStatus> ParseTaskStatus(std::string_view s);
std::optional<Priority> ParsePriority(std::string_view s);

// The state machines. True when `from -> to` is an edge of SPEC A.2.
// A status never "transitions" to itself: CanTransition(x, x) is false.
// The job machine also has the internal edges PENDING/PAUSED -> COMPLETED/FAILED, taken
// only by the lifecycle rules (a paused job's last work finishing), never on request.
bool CanTransition(JobStatus from, JobStatus to);
bool CanTransition(StageStatus from, StageStatus to);
bool CanTransition(TaskStatus from, TaskStatus to);

// Re-opening failed work (docs/design.md, "Re-running failed work"): the only edges out of
// FAILED, taken only by a retry request (POST /v1/jobs/{id}/retry, /v1/tasks/{id}/retry):
// a job or stage FAILED -> IN_PROGRESS, a task FAILED -> PENDING (with fresh attempts).
// They are not edges of CanTransition: FAILED stays final for everything else (IsFinal,
// deleting a job, adding stages or tasks, reports, status requests).
bool CanReopen(JobStatus from, JobStatus to);
bool CanReopen(StageStatus from, StageStatus to);
bool CanReopen(TaskStatus from, TaskStatus to);

// Whether a client may ask for a job to become `to` (PUT /v1/jobs/{id}/status): PENDING
// (resume), PAUSED, ABORTED. COMPLETED and FAILED are reached only by the lifecycle rules.
bool ClientMayRequest(JobStatus to);

// Final statuses have no outgoing edges.
bool IsFinal(JobStatus s);
bool IsFinal(StageStatus s);
bool IsFinal(TaskStatus s);

// Claimability of the containers, used by dequeue (SPEC A.3.4).
constexpr bool IsActive(JobStatus s) {
  return s == JobStatus::kPending || s == JobStatus::kInProgress;
}
constexpr bool IsActive(StageStatus s) {
  return s == StageStatus::kPending || s == StageStatus::kInProgress;
}
constexpr bool IsClaimable(TaskStatus s) {
  return s == TaskStatus::kPending || s == TaskStatus::kRetried;
}

}  // namespace jobnik::domain
