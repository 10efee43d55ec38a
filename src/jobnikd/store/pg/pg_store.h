// The Store on PostgreSQL. store/pg (this, migrator, leadership) is the only code that speaks SQL.
// See docs/design.md for the dequeue, cascade and locking design.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>

#include "store/pg/group_commit.h"
#include "store/pg/pool.h"
#include "store/store.h"

namespace jobnik::store::pg {

struct PgStoreOptions {
  // Group commit (group_commit.h) of COMPLETED reports and of dequeues (of any stage
  // types): requests arriving while a batch is being committed go into the next one, up to
  // this many per transaction...
  std::size_t batch_max = 64;
  // ...with at most this many batches of each kind being committed at once. One gives
  // the largest batches (measured best, docs/performance.md); more lets other requests
  // pass a slow batch (e.g. a completion whose cascade starts a very large stage).
  int batches_in_flight = 1;
  // Called after a claim that a stage type's concurrency limit cut short: the type and
  // how many of the tasks asked for it refused (metrics, logs). Must be thread-safe.
  std::function<void(const std::string& stage_type, int refused)> on_claim_limited;
};

class PgStore final : public Store {
 public:
  // `pool` must outlive the store.
  explicit PgStore(Pool& pool, PgStoreOptions options = {});

  Result<domain::Job> CreateJob(const domain::NewJob& job, const TraceDefaults& trace) override;
  Result<std::vector<domain::Job>> FindJobs(const domain::JobFilter& filter) override;
  Result<ListPage<domain::Job>> ListJobs(const domain::JobFilter& filter, const ListRange& range) override;
  Result<domain::Job> GetJob(const std::string& id, StageDetail stages = StageDetail::kNone,
                             SummaryDetail summary = SummaryDetail::kNone) override;
  Status DeleteJob(const std::string& id) override;
  Status SetJobUserMetadata(const std::string& id, const std::string& metadata_json) override;
  Result<bool> SetJobPriority(const std::string& id, domain::Priority priority) override;
  Status SetJobStatus(const std::string& id, domain::JobStatus status) override;
  Result<ListPage<domain::JobEvent>> ListJobEvents(const std::string& job_id, const ListRange& range) override;
  Result<std::vector<domain::JobEvent>> JobEventsAfter(const std::string& job_id, std::int64_t after_id,
                                                       int limit) override;

  Result<domain::Stage> AddStage(const std::string& job_id, const domain::NewStage& stage,
                                 const TraceDefaults& trace) override;
  Result<std::vector<domain::Stage>> GetStagesOfJob(const std::string& job_id,
                                                    TaskDetail tasks = TaskDetail::kNone) override;
  Result<std::vector<domain::Stage>> FindStages(const domain::StageFilter& filter) override;
  Result<ListPage<domain::Stage>> ListStages(const domain::StageFilter& filter, const ListRange& range) override;
  Result<domain::Stage> GetStage(const std::string& id, TaskDetail tasks = TaskDetail::kNone) override;
  Result<domain::Summary> GetStageSummary(const std::string& id) override;
  Status SetStageUserMetadata(const std::string& id, const std::string& metadata_json) override;
  Status SetStageStatus(const std::string& id, domain::StageStatus status) override;

  Result<std::vector<domain::Task>> GetTasksOfStage(const std::string& stage_id) override;
  Result<std::vector<domain::Task>> AddTasks(const std::string& stage_id, const std::vector<domain::NewTask>& tasks,
                                             const TraceDefaults& trace) override;
  Result<std::vector<domain::Task>> FindTasks(const domain::TaskFilter& filter) override;
  Result<ListPage<domain::Task>> ListTasks(const domain::TaskFilter& filter, const ListRange& range) override;
  Result<domain::Task> GetTask(const std::string& id) override;
  Status SetTaskUserMetadata(const std::string& id, const std::string& metadata_json) override;
  Result<ClaimedTask> ClaimTask(const std::string& stage_type, const ClaimOptions& options = {}) override;
  // The batch behind ClaimTask (public so that tests can form a batch deterministically):
  // claims a task for each entry of `stage_types` (one entry per waiting request, any
  // mix of types) in one statement per kMaxClaimTypes distinct types; a result per
  // entry, in order: the oldest request of a type gets its type's first task, requests
  // beyond a type's claimable tasks get TASK_NOT_FOUND. An entry may also be a claim with
  // options, as ClaimTask submits it (EncodeClaim: the options' JSON, a newline, the type).
  std::vector<Result<ClaimedTask>> ClaimBatch(const std::vector<std::string>& stage_types);
  Result<std::vector<ClaimedTask>> ClaimTasks(const std::vector<std::string>& stage_types, int limit,
                                              const ClaimOptions& options = {}) override;
  Result<TaskReport> ReportTask(const std::string& id, domain::TaskStatus status,
                                const ReportOptions& options = {}) override;
  std::vector<Result<TaskReport>> ReportTasks(const std::vector<TaskUpdate>& updates) override;
  Result<domain::Job> RetryJob(const std::string& id) override;
  Result<domain::Task> RetryTask(const std::string& id) override;
  Result<Heartbeat> HeartbeatTask(const std::string& id, const std::optional<std::string>& claim_id,
                                  int lease_seconds) override;

  Result<std::vector<TaskReport>> FailExpiredLeases(domain::Timestamp now, int limit) override;
  Result<std::vector<TaskReport>> FailStaleTasks(domain::Timestamp cutoff, int limit) override;
  Result<std::optional<TaskReport>> FailStaleTask(const std::string& id, domain::Timestamp cutoff) override;
  Result<std::vector<DueTask>> PromoteDueTasks(int limit) override;
  Result<std::optional<double>> NextRetryDue() override;
  // The long-poll's poll fallback (services/claim_waiter.h): how many tasks of
  // `stage_type` a claim would find now, at most `limit`. Locks nothing.
  Result<std::int64_t> CountClaimable(const std::string& stage_type, std::int64_t limit);
  Result<StageTypeLimit> SetStageTypeLimit(const std::string& stage_type, int max_in_progress) override;
  Result<StageTypeLimit> GetStageTypeLimit(const std::string& stage_type) override;
  Result<bool> DeleteStageTypeLimit(const std::string& stage_type) override;
  Result<std::vector<StageTypeLimit>> ListStageTypeLimits() override;
  Result<QueueStats> GetQueueStats() override;
  Status Ping() override;

 private:
  // Completes `ids` (each a task id, or "id claim" for a report under a claim); a result
  // per entry, in order. One transaction; when it fails on a database error (a poison
  // report), the entries are retried in halves, recursively, so that only the report
  // that fails on its own gets the error.
  std::vector<Result<TaskReport>> ReportCompletedBatch(const std::vector<std::string>& ids);
  // One transaction of that; an error only when the whole transaction failed.
  Result<std::vector<Result<TaskReport>>> CompleteInOneTransaction(const std::vector<std::string>& ids);

  // The stage types that have a concurrency limit, as last read (at most a second ago).
  // Not used to enforce limits (the claim statement does, in SQL), only to wake the
  // requests waiting for a limited type when a report frees one of its slots, without a
  // statement more on the report path of unlimited types.
  std::shared_ptr<const std::set<std::string>> LimitedTypes();
  // `refused` claim requests of `stage_type` got nothing because of its limit: logs and
  // calls on_claim_limited.
  void NoteLimited(const std::string& stage_type, int refused);

  Pool& pool_;
  PgStoreOptions options_;
  std::mutex limited_mu_;
  std::shared_ptr<const std::set<std::string>> limited_;
  std::chrono::steady_clock::time_point limited_read_at_{};
  GroupCommit<Result<TaskReport>> completed_reports_;
  GroupCommit<Result<ClaimedTask>> claims_;
};

}  // namespace jobnik::store::pg
