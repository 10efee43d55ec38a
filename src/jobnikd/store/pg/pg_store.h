// The Store on PostgreSQL: the only code (with migrator) that speaks SQL.
// See docs/design.md for the dequeue, cascade and locking design.
#pragma once

#include "store/pg/pool.h"
#include "store/store.h"

namespace jobnik::store::pg {

class PgStore final : public Store {
 public:
  // `pool` must outlive the store.
  explicit PgStore(Pool& pool) : pool_(pool) {}

  Result<domain::Job> CreateJob(const domain::NewJob& job, const TraceDefaults& trace) override;
  Result<std::vector<domain::Job>> FindJobs(const domain::JobFilter& filter) override;
  Result<domain::Job> GetJob(const std::string& id, bool with_stages) override;
  Status DeleteJob(const std::string& id) override;
  Status SetJobUserMetadata(const std::string& id, const std::string& metadata_json) override;
  Result<bool> SetJobPriority(const std::string& id, domain::Priority priority) override;
  Status SetJobStatus(const std::string& id, domain::JobStatus status) override;

  Result<domain::Stage> AddStage(const std::string& job_id, const domain::NewStage& stage,
                                 const TraceDefaults& trace) override;
  Result<std::vector<domain::Stage>> GetStagesOfJob(const std::string& job_id, bool with_tasks) override;
  Result<std::vector<domain::Stage>> FindStages(const domain::StageFilter& filter) override;
  Result<domain::Stage> GetStage(const std::string& id, bool with_tasks) override;
  Result<domain::Summary> GetStageSummary(const std::string& id) override;
  Status SetStageUserMetadata(const std::string& id, const std::string& metadata_json) override;
  Status SetStageStatus(const std::string& id, domain::StageStatus status) override;

  Result<std::vector<domain::Task>> GetTasksOfStage(const std::string& stage_id) override;
  Result<std::vector<domain::Task>> AddTasks(const std::string& stage_id, const std::vector<domain::NewTask>& tasks,
                                             const TraceDefaults& trace) override;
  Result<std::vector<domain::Task>> FindTasks(const domain::TaskFilter& filter) override;
  Result<domain::Task> GetTask(const std::string& id) override;
  Status SetTaskUserMetadata(const std::string& id, const std::string& metadata_json) override;
  Result<Dequeued> Dequeue(const std::string& stage_type) override;
  Result<TaskReport> ReportTask(const std::string& id, domain::TaskStatus status) override;

  Result<std::vector<TaskReport>> FailStaleTasks(domain::Timestamp cutoff, int limit) override;
  Result<std::optional<TaskReport>> FailStaleTask(const std::string& id, domain::Timestamp cutoff) override;
  Result<QueueStats> GetQueueStats() override;
  Status Ping() override;

 private:
  Pool& pool_;
};

}  // namespace jobnik::store::pg
