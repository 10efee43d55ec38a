// An in-memory Store for tests of the services and the HTTP API that need no PostgreSQL.
//
// One mutex around plain maps: every method is atomic and thread-safe, and like PgStore it
// applies the lifecycle rules of lib/domain/lifecycle.h (report outcomes, initial stage
// status, stage tallies, the next stage, the job's outcome, percentages) rather than its
// own. Claims: highest job priority first, then oldest task, among the tasks of active
// stages of active jobs (domain::TasksClaimable) that do not wait for a retry delay (a
// RETRIED task is claimable from its not_before on; PromoteDueTasks only clears it).
//
// Not a model of PgStore's performance or of its concurrency (no group commit, no
// conflicts: TASK_STATUS_UPDATE_FAILED never happens). Lists are paged as PgStore pages
// them (ListRange keys); Find* return the same rows unpaged. Supported: every method.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "store/store.h"

namespace jobnik::store::memory {

class MemoryStore final : public Store {
 public:
  MemoryStore();

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
  Result<StageTypeLimit> SetStageTypeLimit(const std::string& stage_type, int max_in_progress) override;
  Result<StageTypeLimit> GetStageTypeLimit(const std::string& stage_type) override;
  Result<bool> DeleteStageTypeLimit(const std::string& stage_type) override;
  Result<std::vector<StageTypeLimit>> ListStageTypeLimits() override;
  Result<QueueStats> GetQueueStats() override;
  Status Ping() override;

 private:
  struct TaskRow {
    domain::Task task;
    std::int64_t seq = 0;
  };
  struct StageRow {
    domain::Stage stage;             // without summary, percentage and tasks: computed when read
    std::vector<std::string> tasks;  // ids in creation order
  };
  struct JobRow {
    domain::Job job;                       // without stages and percentage: computed when read
    std::vector<std::string> stages;       // ids by order
    std::vector<domain::JobEvent> events;  // its event log, oldest first
  };

  // All with mu_ held.
  std::string NewId();
  domain::Timestamp Now();
  domain::Summary SummaryOf(const StageRow& s) const;
  domain::Stage ReadStage(const StageRow& s, bool with_tasks) const;
  domain::Job ReadJob(const JobRow& j, bool with_stages, bool with_task_summary) const;
  // Appends a status or priority change to `job`'s event log (a fresh id, now).
  // A FAILED task becomes PENDING with fresh attempts (RetryJob, RetryTask), recorded.
  void Reopen(JobRow& job_row, TaskRow& row, const std::string& reason);
  void Record(JobRow& job, const char* entity, const std::string& entity_id, const char* kind,
              std::optional<std::string> old_value, std::string new_value,
              std::optional<std::string> reason = std::nullopt, std::optional<std::string> worker_id = std::nullopt);
  domain::Stage InsertStage(JobRow& job, const domain::NewStage& stage, const TraceDefaults& trace);
  std::vector<domain::Task> InsertTasks(StageRow& stage, const std::vector<domain::NewTask>& tasks,
                                        const TraceDefaults& trace);
  // A report; a failure appends `reason` to the task's errors (the newest 20 kept), and a
  // retry waits for its delay (`retry_after_seconds`, else the task's policy's).
  Result<TaskReport> Report(const std::string& id, domain::TaskStatus status, const std::optional<std::string>& reason,
                            std::optional<double> retry_after_seconds = std::nullopt);
  // Claims the first claimable task (priority, then creation order) of any of `types`.
  std::optional<ClaimedTask> ClaimFirst(const std::vector<std::string>& types, const ClaimOptions& options);
  std::vector<std::pair<ListKey, std::string>> JobKeys(const domain::JobFilter& f) const;
  std::vector<std::pair<ListKey, std::string>> StageKeys(const domain::StageFilter& f) const;
  std::vector<std::pair<ListKey, std::string>> TaskKeys(const domain::TaskFilter& f) const;

  std::mutex mu_;
  std::mt19937_64 rng_;
  domain::Timestamp last_time_{};
  std::int64_t next_seq_ = 1;
  std::int64_t next_event_id_ = 1;
  std::map<std::string, JobRow> jobs_;
  std::map<std::string, StageRow> stages_;
  std::map<std::string, TaskRow> tasks_;
  std::map<std::string, StageTypeLimit> limits_;  // by stage type
};

}  // namespace jobnik::store::memory
