// The store: every operation of SPEC A as one transaction, in domain terms.
//
// Each method either applies its whole change and returns the result, or returns an
// error Status and changes nothing. Errors use the codes of SPEC A.5; messages are
// safe to show to clients. All methods are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/error.h"
#include "domain/model.h"

namespace jobnik::store {

using domain::Result;
using domain::Status;

using domain::TraceDefaults;

// Who asked for the changes a thread makes, for the job event log's actor (the caller's
// token name, http/auth.h): set by the request envelope around a request's handler with
// ScopedActor; none on the sweeper's and scheduler's threads. Events are written in the
// requesting thread's own transaction (group-committed COMPLETED reports record none),
// so the store reads it where it records an event.
inline std::optional<std::string>& CurrentActor() {
  thread_local std::optional<std::string> actor;
  return actor;
}

class ScopedActor {
 public:
  explicit ScopedActor(std::optional<std::string> actor) : previous_(std::move(CurrentActor())) {
    CurrentActor() = std::move(actor);
  }
  ~ScopedActor() { CurrentActor() = std::move(previous_); }
  ScopedActor(const ScopedActor&) = delete;
  ScopedActor& operator=(const ScopedActor&) = delete;

 private:
  std::optional<std::string> previous_;
};

// What a read returns besides the entity itself (v1's should_return_* parameters).
enum class StageDetail : std::uint8_t { kNone, kStages };         // a job's stages
enum class TaskDetail : std::uint8_t { kNone, kTasks };           // each stage's tasks
enum class SummaryDetail : std::uint8_t { kNone, kTaskSummary };  // a job's Job::task_summary

// What a claim (v1: dequeue) did besides taking the task, for metrics and logs.
struct ClaimedTask {
  domain::Task task;
  std::string job_id;
  bool stage_started = false;  // its stage went PENDING -> IN_PROGRESS
  bool job_started = false;    // its job went PENDING -> IN_PROGRESS
};

// Optional parts of a claim (extensions): who claims, and for how long (a lease the
// sweeper enforces instead of `stale_after`; seconds, within the daemon's bounds).
struct ClaimOptions {
  std::optional<std::string> worker_id;
  std::optional<int> lease_seconds;
};

// Optional parts of a report (extensions): the claim it is made under (refused with
// TASK_CLAIM_MISMATCH unless it is the task's current claim), a failure's reason (cut
// to domain::kMaxFailureReasonBytes by the caller), and the delay a failure asks for
// before the task is retried (instead of its retry policy's; validated by the caller).
struct ReportOptions {
  std::optional<std::string> claim_id;
  std::optional<std::string> reason;
  std::optional<double> retry_after_seconds = std::nullopt;
};

// One item of a batch report (ReportTasks): a task, its new status and the report's options.
struct TaskUpdate {
  std::string id;
  domain::TaskStatus status = domain::TaskStatus::kCompleted;
  ReportOptions options;
};

// Bounds of the batch routes (POST /v1/tasks/claim, POST /v1/tasks/status).
inline constexpr int kMaxClaimBatchTypes = 16;
inline constexpr int kMaxClaimBatchLimit = 1000;
inline constexpr int kMaxReportBatchItems = 1000;

// A RETRIED task whose retry delay is over, as the retry scheduler found it.
struct DueTask {
  std::string id;
  std::string stage_id;
  std::string job_id;
  bool ready = false;       // claimable now; false: its stage or job is not active (it will be on resume)
  double late_seconds = 0;  // how long after its due time it was made so
};

// A heartbeat's outcome: the task's claim and its new lease expiry.
struct Heartbeat {
  std::string claim_id;
  domain::Timestamp lease_expires_at{};
};

// What a task status report did, for metrics and logs.
struct TaskReport {
  domain::Task task;  // after the change (status RETRIED when it will be retried)
  std::string job_id;
  std::string stage_type;  // the task's stage's type
  bool stage_completed = false;
  bool stage_failed = false;
  bool job_completed = false;
  bool job_failed = false;
  std::optional<std::string> next_stage_started;  // id
};

// Unfinished work, for the metrics' queue gauges.
struct QueueStats {
  struct TypeCounts {
    std::string stage_type;
    std::int64_t pending = 0, in_progress = 0, retried = 0;
    // Seconds since the oldest task that can be claimed now (PENDING, of an active stage
    // of an active job) was created; unset when there is none. Read by GET /v1/queues.
    std::optional<double> oldest_pending_seconds;
  };
  std::vector<TypeCounts> tasks;                                 // by stage type
  std::vector<std::pair<domain::JobStatus, std::int64_t>> jobs;  // unfinished jobs by status
};

// ---- Lists in pages (GET /v1/jobs, /v1/stages, /v1/tasks; docs/design.md "Lists") ----

// A position in a list's order (keyset): the order columns of one row.
struct ListKey {
  // jobs, stages: creation time in µs since the epoch; tasks: seq; job events: the event's id
  std::int64_t time_or_seq = 0;
  std::string id;          // jobs: the job's id; stages: the stage's job id; tasks: unused
  std::int64_t order = 0;  // stages: the stage's order; otherwise unused
  bool operator==(const ListKey&) const = default;
};

// Which rows of a list: those strictly after `after` (all when unset), skipping `offset`
// of them, at most `limit`.
struct ListRange {
  std::optional<ListKey> after;
  std::int64_t offset = 0;
  int limit = 1000;
};

// One page: the rows in the list's order and, for each, its position (keys[i] is
// items[i]'s), from which the next page continues.
template <typename T>
struct ListPage {
  std::vector<T> items;
  std::vector<ListKey> keys;
};

// A stage type's concurrency limit (extension; docs/design.md, "Concurrency limits"):
// never more than max_in_progress of its tasks IN_PROGRESS at once; 0 pauses the type.
struct StageTypeLimit {
  std::string stage_type;
  int max_in_progress = 0;
  domain::Timestamp update_time{};
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- jobs ----
  // PENDING job; with new_job.stages (extension) the whole tree in one transaction.
  virtual Result<domain::Job> CreateJob(const domain::NewJob& job, const TraceDefaults& trace) = 0;
  virtual Result<std::vector<domain::Job>> FindJobs(const domain::JobFilter& filter) = 0;
  // One page of FindJobs' list (also filter.status and filter.with_task_summary), one
  // transaction; its stages and task summaries are read in the same snapshot.
  virtual Result<ListPage<domain::Job>> ListJobs(const domain::JobFilter& filter, const ListRange& range) = 0;
  // JOB_NOT_FOUND. Its stages and Job::task_summary (extension) when asked, same snapshot.
  virtual Result<domain::Job> GetJob(const std::string& id, StageDetail stages = StageDetail::kNone,
                                     SummaryDetail summary = SummaryDetail::kNone) = 0;
  // JOB_NOT_FOUND, JOB_NOT_IN_FINITE_STATE.
  virtual Status DeleteJob(const std::string& id) = 0;
  virtual Status SetJobUserMetadata(const std::string& id, const std::string& metadata_json) = 0;
  // true when changed, false when it already had that priority.
  virtual Result<bool> SetJobPriority(const std::string& id, domain::Priority priority) = 0;
  // PENDING (resume), PAUSED, ABORTED. ILLEGAL_JOB_STATUS_TRANSITION.
  virtual Status SetJobStatus(const std::string& id, domain::JobStatus status) = 0;

  // The job's event log (extension): one page, newest first (ListKey::time_or_seq is the
  // event's id; range.after continues with older events; range.offset is not used).
  // JOB_NOT_FOUND. Events are recorded by the methods that make the changes, in their
  // transaction (docs/design.md, "Job events"); ClaimTask and COMPLETED reports record none.
  virtual Result<ListPage<domain::JobEvent>> ListJobEvents(const std::string& job_id, const ListRange& range) = 0;
  // The job's events with ids above `after_id`, oldest first, at most `limit` (a job stream's
  // read, http/streams.h). An unknown job has none (no JOB_NOT_FOUND).
  virtual Result<std::vector<domain::JobEvent>> JobEventsAfter(const std::string& job_id, std::int64_t after_id,
                                                               int limit) = 0;

  // ---- stages ----
  // JOB_NOT_FOUND, JOB_IN_FINITE_STATE.
  virtual Result<domain::Stage> AddStage(const std::string& job_id, const domain::NewStage& stage,
                                         const TraceDefaults& trace) = 0;
  // JOB_NOT_FOUND.
  virtual Result<std::vector<domain::Stage>> GetStagesOfJob(const std::string& job_id,
                                                            TaskDetail tasks = TaskDetail::kNone) = 0;
  virtual Result<std::vector<domain::Stage>> FindStages(const domain::StageFilter& filter) = 0;
  // One page of FindStages' list, one transaction (with its tasks when asked).
  virtual Result<ListPage<domain::Stage>> ListStages(const domain::StageFilter& filter, const ListRange& range) = 0;
  virtual Result<domain::Stage> GetStage(const std::string& id, TaskDetail tasks = TaskDetail::kNone) = 0;
  virtual Result<domain::Summary> GetStageSummary(const std::string& id) = 0;
  virtual Status SetStageUserMetadata(const std::string& id, const std::string& metadata_json) = 0;
  // Only PENDING (release a WAITING stage). ILLEGAL_STAGE_STATUS_TRANSITION.
  virtual Status SetStageStatus(const std::string& id, domain::StageStatus status) = 0;

  // ---- tasks ----
  // STAGE_NOT_FOUND.
  virtual Result<std::vector<domain::Task>> GetTasksOfStage(const std::string& stage_id) = 0;
  // All or nothing. STAGE_NOT_FOUND, STAGE_IN_FINITE_STATE,
  // NOT_ALLOWED_TO_ADD_TASKS_TO_IN_PROGRESS_STAGE.
  virtual Result<std::vector<domain::Task>> AddTasks(const std::string& stage_id,
                                                     const std::vector<domain::NewTask>& tasks,
                                                     const TraceDefaults& trace) = 0;
  virtual Result<std::vector<domain::Task>> FindTasks(const domain::TaskFilter& filter) = 0;
  // One page of FindTasks' list (in creation order), one transaction. With
  // filter.stage_id it is GetTasksOfStage's list too (but an unknown stage is no error).
  virtual Result<ListPage<domain::Task>> ListTasks(const domain::TaskFilter& filter, const ListRange& range) = 0;
  virtual Result<domain::Task> GetTask(const std::string& id) = 0;
  virtual Status SetTaskUserMetadata(const std::string& id, const std::string& metadata_json) = 0;
  // TASK_NOT_FOUND when nothing is claimable. Every claim gets a fresh Task::claim_id.
  virtual Result<ClaimedTask> ClaimTask(const std::string& stage_type, const ClaimOptions& options = {}) = 0;
  // A batch claim (extension): up to `limit` claimable tasks of any of `stage_types`
  // (distinct, 1..kMaxClaimBatchTypes), all under `options`; empty when none is claimable.
  // Every task is claimed exactly as ClaimTask claims it (fresh claim id, first claim of a
  // stage or job starts it). Order: highest job priority first, then oldest (creation
  // order), over all the requested types together; so within a type the v1 dequeue order.
  virtual Result<std::vector<ClaimedTask>> ClaimTasks(const std::vector<std::string>& stage_types, int limit,
                                                      const ClaimOptions& options = {}) = 0;
  // COMPLETED or FAILED, from IN_PROGRESS only, with every cascade of SPEC A.3.5.
  // TASK_NOT_FOUND, ILLEGAL_TASK_STATUS_TRANSITION, TASK_STATUS_UPDATE_FAILED (409),
  // TASK_CLAIM_MISMATCH (409: options.claim_id is not the task's current claim).
  virtual Result<TaskReport> ReportTask(const std::string& id, domain::TaskStatus status,
                                        const ReportOptions& options = {}) = 0;
  // A batch report (extension): each update as ReportTask would make it, each atomic on
  // its own (one failing never fails another); a result per update, in order.
  virtual std::vector<Result<TaskReport>> ReportTasks(const std::vector<TaskUpdate>& updates) = 0;
  // Extends the lease of an IN_PROGRESS task to now + `lease_seconds`: one statement on the
  // task row only. TASK_NOT_FOUND; TASK_CLAIM_MISMATCH when the task is no longer in
  // progress or `claim_id` is not its current claim; JOB_NOT_ACTIVE when its job is not
  // PENDING or IN_PROGRESS (paused or aborted since the claim).
  virtual Result<Heartbeat> HeartbeatTask(const std::string& id, const std::optional<std::string>& claim_id,
                                          int lease_seconds) = 0;

  // ---- re-running failed work (extension; docs/design.md, "Re-running failed work") ----
  // Re-opens a FAILED job (POST /v1/jobs/{id}/retry): the job and its FAILED stage go back
  // to IN_PROGRESS, that stage's FAILED tasks become PENDING with 0 attempts and claimable
  // (with the stage's other unfinished tasks); later stages keep their status. Recorded
  // in the job's events (the job, the stage, each task). Returns the job after.
  // JOB_NOT_FOUND; NOT_RETRYABLE (409) for a job that is not FAILED.
  virtual Result<domain::Job> RetryJob(const std::string& id) = 0;
  // Re-opens one FAILED task (POST /v1/tasks/{id}/retry): PENDING with 0 attempts, and its
  // stage and job back to IN_PROGRESS if they had FAILED (domain::DecideTaskRetry);
  // claimable when its stage and job are active. Recorded in the job's events. Returns the
  // task after. TASK_NOT_FOUND; NOT_RETRYABLE (409) for a task that is not FAILED or whose
  // stage or job is neither FAILED nor still running.
  virtual Result<domain::Task> RetryTask(const std::string& id) = 0;

  // ---- concurrency limits (extension; docs/design.md, "Concurrency limits") ----
  // Sets (creates or changes) the limit of `stage_type`; every claim that starts after this
  // returns honours it, on every jobnikd of the database. Tasks in progress stay so.
  virtual Result<StageTypeLimit> SetStageTypeLimit(const std::string& stage_type, int max_in_progress) = 0;
  // LIMIT_NOT_FOUND when the type has none.
  virtual Result<StageTypeLimit> GetStageTypeLimit(const std::string& stage_type) = 0;
  // Removes it (the type is unlimited again); false when it had none.
  virtual Result<bool> DeleteStageTypeLimit(const std::string& stage_type) = 0;
  // Every limit, by stage type.
  virtual Result<std::vector<StageTypeLimit>> ListStageTypeLimits() = 0;

  // ---- maintenance ----
  // Fails (as a worker's FAILED report would, reason "lease expired") up to `limit`
  // IN_PROGRESS tasks whose lease expired before `now`. Returns the reports of those it
  // failed; a task heartbeated or reported on since it was listed is skipped.
  virtual Result<std::vector<TaskReport>> FailExpiredLeases(domain::Timestamp now, int limit) = 0;
  // Fails (as a worker's FAILED report would, reason "stale") up to `limit` tasks claimed
  // without a lease and IN_PROGRESS since before `cutoff`. Returns the reports of those it failed.
  virtual Result<std::vector<TaskReport>> FailStaleTasks(domain::Timestamp cutoff, int limit) = 0;
  // One step of that: fails task `id` only if it is still IN_PROGRESS since before
  // `cutoff` (it may have been reported on, and claimed again, since it was listed).
  // std::nullopt when it was skipped for that reason.
  virtual Result<std::optional<TaskReport>> FailStaleTask(const std::string& id, domain::Timestamp cutoff) = 0;
  // The retry scheduler's step (docs/design.md, "Retry backoff"): up to `limit` RETRIED
  // tasks whose retry delay is over, soonest due first, stop waiting: each is claimable
  // from now on if its stage and job are active (else once they are). Safe to run from
  // several instances at once (each task is taken by one).
  virtual Result<std::vector<DueTask>> PromoteDueTasks(int limit) = 0;
  // Seconds until the next waiting task is due (<= 0: due already); std::nullopt when no
  // task waits for its retry delay.
  virtual Result<std::optional<double>> NextRetryDue() = 0;
  // Counts of unfinished work; cost bounded by unfinished stages and jobs.
  virtual Result<QueueStats> GetQueueStats() = 0;
  // The database answers.
  virtual Status Ping() = 0;
};

}  // namespace jobnik::store
