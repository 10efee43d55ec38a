// The entities of SPEC A.1, as plain values. No I/O.
//
// `data` and `user_metadata` hold the client's JSON object as JSON text: jobnikd
// never interprets them, so keeping them as text saves a parse and a dump on every
// response. The object is preserved, not its spelling: key order and spacing are
// normalised (by the request parser and by PostgreSQL's jsonb).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/status.h"

namespace jobnik::domain {

// Microsecond precision, like PostgreSQL's timestamptz. Always UTC.
using Timestamp = std::chrono::sys_time<std::chrono::microseconds>;

// Counts of a stage's tasks by current status. total() is always the sum.
struct Summary {
  std::int64_t pending = 0;
  std::int64_t in_progress = 0;
  std::int64_t completed = 0;
  std::int64_t failed = 0;
  std::int64_t created = 0;
  std::int64_t retried = 0;

  std::int64_t total() const { return pending + in_progress + completed + failed + created + retried; }
  bool operator==(const Summary&) const = default;
};

// floor(100 * done / total), clamped to 0..100; 0 when total is 0 (SPEC A.3.5).
int Percentage(std::int64_t done, std::int64_t total);

// Extension (docs/design.md, "Retry backoff"): how long a failed task with attempts left
// waits before it is claimable again: min(max_delay_seconds, delay_seconds *
// backoff^(attempts - 1)) seconds, plus up to kRetryJitter of that. Given per task, or per
// stage as the default of its tasks. Validated by the codec within these bounds.
inline constexpr double kMaxRetryDelaySeconds = 7 * 86400.0;  // delaySeconds, maxDelaySeconds, retryAfterSeconds
inline constexpr double kMaxRetryBackoff = 100;
inline constexpr double kRetryJitter = 0.1;
struct RetryPolicy {
  double delay_seconds = 0;
  double backoff = 1;
  double max_delay_seconds = kMaxRetryDelaySeconds;

  bool operator==(const RetryPolicy&) const = default;
};

struct Task {
  std::string id;
  std::string stage_id;
  std::string data = "{}";
  std::string user_metadata = "{}";
  TaskStatus status = TaskStatus::kPending;
  int attempts = 0;
  int max_attempts = 1;
  Timestamp creation_time{};
  Timestamp update_time{};
  std::optional<Timestamp> start_time;
  std::optional<Timestamp> end_time;
  std::string traceparent;
  std::optional<std::string> tracestate;
  // Extensions (docs/design.md, "Claims, leases and heartbeats"). The current claim's
  // token and lease expiry, shown only while IN_PROGRESS; the worker of the last claim,
  // when it said; the task's failures as a JSON array, once it has failed.
  std::optional<std::string> claim_id;
  std::optional<Timestamp> lease_expires_at;
  std::optional<std::string> worker_id;
  std::optional<std::string> errors;
  // Extensions (docs/design.md, "Retry backoff"): the task's retry policy (its own or its
  // stage's), and while a task waits (a RETRIED one for its retry delay, a PENDING one for
  // its delayed start, "Delayed start"), when it becomes claimable.
  std::optional<RetryPolicy> retry = std::nullopt;
  std::optional<Timestamp> not_before = std::nullopt;

  bool operator==(const Task&) const = default;
};

struct Stage {
  std::string id;
  std::string job_id;
  std::string type;
  std::string data = "{}";
  std::string user_metadata = "{}";
  int order = 1;
  StageStatus status = StageStatus::kCreated;
  int percentage = 0;
  Summary summary;
  std::string traceparent;
  std::optional<std::string> tracestate;
  std::optional<std::vector<Task>> tasks;           // only when asked for
  std::optional<RetryPolicy> retry = std::nullopt;  // extension: the default of its tasks
  // Extension (docs/design.md, "Delayed start"): none of its tasks is claimable before it.
  std::optional<Timestamp> not_before = std::nullopt;

  bool operator==(const Stage&) const = default;
};

struct Job {
  std::string id;
  std::string name;
  std::string data = "{}";
  std::string user_metadata = "{}";
  Priority priority = Priority::kMedium;
  JobStatus status = JobStatus::kPending;
  int percentage = 0;
  Timestamp creation_time{};
  Timestamp update_time{};
  std::string traceparent;
  std::optional<std::string> tracestate;
  std::optional<std::vector<Stage>> stages;  // only when asked for
  // Extension: its stages' summaries summed ("taskSummary"), only when asked for.
  std::optional<Summary> task_summary;
  // Extension (docs/design.md, "Delayed start"): none of its tasks is claimable before it.
  std::optional<Timestamp> not_before = std::nullopt;

  bool operator==(const Job&) const = default;
};

// Extension: one entry of a job's event log (GET /v1/jobs/{id}/events): a change of the
// job, one of its stages or one of its tasks that is not the ordinary claim/complete flow.
struct JobEvent {
  std::int64_t id = 0;  // increasing: a newer event has a larger id
  Timestamp time{};
  std::string job_id;
  std::string entity;                    // kEventEntity*: "job", "stage" or "task"
  std::string entity_id;                 // its id
  std::string kind;                      // kEventKind*: "status" or "priority"
  std::optional<std::string> old_value;  // a status or priority name
  std::string new_value;
  std::optional<std::string> reason;  // a failure's reason, "stale", "lease expired", "job aborted", ...
  // Who asked for the change: unset until requests are authenticated (always null today).
  std::optional<std::string> actor;
  std::optional<std::string> worker_id;  // the worker of the task's claim, when it said

  bool operator==(const JobEvent&) const = default;
};
inline constexpr const char* kEventEntityJob = "job";
inline constexpr const char* kEventEntityStage = "stage";
inline constexpr const char* kEventEntityTask = "task";
inline constexpr const char* kEventKindStatus = "status";
inline constexpr const char* kEventKindPriority = "priority";

// ---- Requests (already validated by the codec) ----

// A failure reason is cut to this many bytes (at a UTF-8 boundary), never rejected.
inline constexpr std::size_t kMaxFailureReasonBytes = 8192;

// PUT /v1/tasks/{id}/status: v1's status plus the optional extensions.
struct TaskReportRequest {
  TaskStatus status = TaskStatus::kCompleted;
  std::optional<std::string> claim_id;                       // refused unless the task's current claim
  std::optional<std::string> reason;                         // FAILED only; cut to kMaxFailureReasonBytes
  std::optional<double> retry_after_seconds = std::nullopt;  // FAILED only; overrides the task's retry delay
};

// POST /v1/tasks/claim (extension): a batch claim. Bounds are checked by the parser
// except the lease's (the daemon's lease_min .. lease_max).
struct ClaimBatchRequest {
  std::vector<std::string> stage_types;  // 1..16, distinct, each 1..50 characters
  int limit = 1;                         // 1..1000
  int wait_seconds = 0;                  // 0..60
  std::optional<int> lease_seconds;
  std::optional<std::string> worker_id;  // 1..200 characters
};

// POST /v1/tasks/{id}/heartbeat (the body is optional).
struct HeartbeatRequest {
  std::optional<std::string> claim_id;
  std::optional<int> lease_seconds;  // the bounds are the daemon's (lease_min .. lease_max)
};

struct NewTask {
  std::string data;
  std::string user_metadata = "{}";
  int max_attempts = 1;
  std::optional<std::string> traceparent;
  std::optional<std::string> tracestate;
  std::optional<RetryPolicy> retry = std::nullopt;  // extension; none: its stage's
  // Extension (docs/design.md, "Delayed start"): not claimable before the latest of its
  // own, its stage's and its job's not_before.
  std::optional<Timestamp> not_before = std::nullopt;

  bool operator==(const NewTask&) const = default;
};

struct NewStage {
  std::string type;
  std::string data;
  std::string user_metadata = "{}";
  bool start_as_waiting = false;
  std::optional<std::string> traceparent;
  std::optional<std::string> tracestate;
  std::vector<NewTask> tasks;                          // extension: tasks created with the stage
  std::optional<RetryPolicy> retry = std::nullopt;     // extension: the default of its tasks
  std::optional<Timestamp> not_before = std::nullopt;  // extension: applies to all its tasks

  bool operator==(const NewStage&) const = default;
};

struct NewJob {
  std::string name;
  std::string data;
  std::string user_metadata = "{}";
  Priority priority = Priority::kMedium;
  std::optional<std::string> traceparent;
  std::optional<std::string> tracestate;
  // Extension (SPEC B): the whole tree in one request. Absent -> plain v1.
  std::optional<std::vector<NewStage>> stages;
  std::optional<Timestamp> not_before = std::nullopt;  // extension: applies to all its tasks

  bool operator==(const NewJob&) const = default;
};

// Trace context given to created entities that carry none of their own.
struct TraceDefaults {
  std::string traceparent;
  std::optional<std::string> tracestate;
};

struct JobFilter {
  std::optional<std::string> name;
  std::optional<std::string> name_contains;  // extension: the name contains this, ignoring case
  std::optional<Priority> priority;
  std::optional<JobStatus> status;  // extension
  std::optional<Timestamp> from_date;
  std::optional<Timestamp> end_date;
  bool with_stages = false;
  bool with_task_summary = false;  // extension: Job::task_summary
};

struct StageFilter {
  std::optional<std::string> job_id;
  std::optional<std::string> type;
  std::optional<StageStatus> status;
  bool with_tasks = false;
};

struct TaskFilter {
  std::optional<std::string> stage_id;
  std::optional<std::string> stage_type;
  std::optional<TaskStatus> status;
  std::optional<Timestamp> from_date;
  std::optional<Timestamp> end_date;
};

}  // namespace jobnik::domain
