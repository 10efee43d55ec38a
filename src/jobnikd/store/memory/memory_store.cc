#include "store/memory/memory_store.h"

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <tuple>

#include "common/ascii.h"
#include "domain/lifecycle.h"
#include "domain/time.h"

namespace jobnik::store::memory {
namespace {

using domain::ErrorCode;
using domain::JobStatus;
using domain::StageStatus;
using domain::TaskStatus;

std::int64_t Micros(domain::Timestamp t) {
  return t.time_since_epoch().count();
}

// The trace context of a created entity: its own, else the request's.
void ApplyTrace(const std::optional<std::string>& traceparent, const std::optional<std::string>& tracestate,
                const TraceDefaults& trace, std::string& out_parent, std::optional<std::string>& out_state) {
  out_parent = traceparent ? *traceparent : trace.traceparent;
  out_state = traceparent ? tracestate : (tracestate ? tracestate : trace.tracestate);
}

// `text` contains `part`, ASCII letters compared without case (PostgreSQL's lower() also
// folds other letters).
bool ContainsIgnoringCase(std::string_view text, std::string_view part) {
  const auto same = [](char a, char b) { return ascii::Lower(a) == ascii::Lower(b); };
  return std::search(text.begin(), text.end(), part.begin(), part.end(), same) != text.end() || part.empty();
}

bool InRange(domain::Timestamp t, const std::optional<domain::Timestamp>& from,
             const std::optional<domain::Timestamp>& end) {
  return (!from || t >= *from) && (!end || t <= *end);
}

// The rows of `keys` (sorted) strictly after range.after, skipping range.offset, at most
// range.limit.
std::vector<std::pair<ListKey, std::string>> Slice(std::vector<std::pair<ListKey, std::string>> keys,
                                                   const ListRange& range,
                                                   bool (*less)(const ListKey&, const ListKey&)) {
  std::vector<std::pair<ListKey, std::string>> out;
  std::int64_t skipped = 0;
  for (auto& k : keys) {
    if (range.after && !less(*range.after, k.first)) continue;
    if (skipped++ < range.offset) continue;
    if (static_cast<int>(out.size()) >= range.limit) break;
    out.push_back(std::move(k));
  }
  return out;
}

bool JobKeyLess(const ListKey& a, const ListKey& b) {
  return std::tie(a.time_or_seq, a.id) < std::tie(b.time_or_seq, b.id);
}
bool StageKeyLess(const ListKey& a, const ListKey& b) {
  return std::tie(a.time_or_seq, a.id, a.order) < std::tie(b.time_or_seq, b.id, b.order);
}
bool TaskKeyLess(const ListKey& a, const ListKey& b) {
  return a.time_or_seq < b.time_or_seq;
}

}  // namespace

MemoryStore::MemoryStore() : rng_(std::random_device{}()) {}

std::string MemoryStore::NewId() {
  // A random (version 4) UUID, as PostgreSQL's gen_random_uuid.
  const std::uint64_t hi = (rng_() & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;
  const std::uint64_t lo = (rng_() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48,
                     lo & 0xFFFFFFFFFFFFULL);
}

domain::Timestamp MemoryStore::Now() {
  // Strictly increasing, so that creation order is list order.
  auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  if (now <= last_time_) now = last_time_ + std::chrono::microseconds(1);
  last_time_ = now;
  return now;
}

void MemoryStore::Record(JobRow& job, const char* entity, const std::string& entity_id, const char* kind,
                         std::optional<std::string> old_value, std::string new_value, std::optional<std::string> reason,
                         std::optional<std::string> worker_id) {
  domain::JobEvent e;
  e.id = next_event_id_++;
  e.time = Now();
  e.job_id = job.job.id;
  e.entity = entity;
  e.entity_id = entity_id;
  e.kind = kind;
  e.old_value = std::move(old_value);
  e.new_value = std::move(new_value);
  e.reason = std::move(reason);
  e.worker_id = std::move(worker_id);
  e.actor = CurrentActor();
  job.events.push_back(std::move(e));
}

domain::Summary MemoryStore::SummaryOf(const StageRow& s) const {
  domain::Summary sum;
  for (const auto& id : s.tasks) {
    switch (tasks_.at(id).task.status) {
      case TaskStatus::kCreated:
        ++sum.created;
        break;
      case TaskStatus::kPending:
        ++sum.pending;
        break;
      case TaskStatus::kInProgress:
        ++sum.in_progress;
        break;
      case TaskStatus::kCompleted:
        ++sum.completed;
        break;
      case TaskStatus::kFailed:
        ++sum.failed;
        break;
      case TaskStatus::kRetried:
        ++sum.retried;
        break;
    }
  }
  return sum;
}

domain::Stage MemoryStore::ReadStage(const StageRow& s, bool with_tasks) const {
  domain::Stage out = s.stage;
  out.summary = SummaryOf(s);
  out.percentage = domain::StagePercentage({out.summary.total(), out.summary.completed, out.summary.failed});
  if (with_tasks) {
    out.tasks.emplace();
    for (const auto& id : s.tasks) out.tasks->push_back(tasks_.at(id).task);
  }
  return out;
}

domain::Job MemoryStore::ReadJob(const JobRow& j, bool with_stages, bool with_task_summary) const {
  domain::Job out = j.job;
  std::int64_t completed = 0;
  domain::Summary total;
  for (const auto& id : j.stages) {
    const auto& s = stages_.at(id);
    if (s.stage.status == StageStatus::kCompleted) ++completed;
    if (with_stages) {
      if (!out.stages) out.stages.emplace();
      out.stages->push_back(ReadStage(s, false));
    }
    if (with_task_summary) {
      const auto sum = SummaryOf(s);
      total.pending += sum.pending + sum.created;
      total.in_progress += sum.in_progress;
      total.completed += sum.completed;
      total.failed += sum.failed;
      total.retried += sum.retried;
    }
  }
  if (with_stages && !out.stages) out.stages.emplace();
  if (with_task_summary) out.task_summary = total;
  out.percentage = domain::JobPercentage(completed, static_cast<std::int64_t>(j.stages.size()));
  return out;
}

std::vector<domain::Task> MemoryStore::InsertTasks(StageRow& stage, const std::vector<domain::NewTask>& tasks,
                                                   const TraceDefaults& trace) {
  std::vector<domain::Task> out;
  out.reserve(tasks.size());
  // Delayed start: the latest of the job's, the stage's and the task's notBefore, kept
  // while it is in the future (the task is claimable from then on).
  std::optional<domain::Timestamp> floor = jobs_.at(stage.stage.job_id).job.not_before;
  if (stage.stage.not_before && (!floor || *stage.stage.not_before > *floor)) floor = stage.stage.not_before;
  const auto now = Now();
  for (const auto& t : tasks) {
    TaskRow row;
    row.seq = next_seq_++;
    auto& task = row.task;
    task.id = NewId();
    task.stage_id = stage.stage.id;
    task.data = t.data.empty() ? "{}" : t.data;
    task.user_metadata = t.user_metadata;
    task.status = TaskStatus::kPending;
    task.max_attempts = t.max_attempts;
    task.retry = t.retry ? t.retry : stage.stage.retry;  // a task without a policy takes its stage's
    task.creation_time = task.update_time = now;
    auto wait = floor;
    if (t.not_before && (!wait || *t.not_before > *wait)) wait = t.not_before;
    if (wait && *wait > now) task.not_before = wait;
    ApplyTrace(t.traceparent, t.tracestate, trace, task.traceparent, task.tracestate);
    stage.tasks.push_back(task.id);
    out.push_back(task);
    tasks_.emplace(task.id, std::move(row));
  }
  return out;
}

domain::Stage MemoryStore::InsertStage(JobRow& job, const domain::NewStage& stage, const TraceDefaults& trace) {
  std::optional<StageStatus> last;
  if (!job.stages.empty()) last = stages_.at(job.stages.back()).stage.status;
  StageRow row;
  auto& s = row.stage;
  s.id = NewId();
  s.job_id = job.job.id;
  s.type = stage.type;
  s.data = stage.data.empty() ? "{}" : stage.data;
  s.user_metadata = stage.user_metadata;
  s.order = static_cast<int>(job.stages.size()) + 1;
  s.status = domain::InitialStageStatus(stage.start_as_waiting, last);
  s.retry = stage.retry;
  s.not_before = stage.not_before;
  ApplyTrace(stage.traceparent, stage.tracestate, trace, s.traceparent, s.tracestate);
  InsertTasks(row, stage.tasks, trace);
  job.stages.push_back(s.id);
  const std::string id = s.id;
  auto& inserted = stages_.emplace(id, std::move(row)).first->second;
  return ReadStage(inserted, false);
}

// ---------------------------------------------------------------- jobs

Result<domain::Job> MemoryStore::CreateJob(const domain::NewJob& job, const TraceDefaults& trace) {
  std::lock_guard lock(mu_);
  JobRow row;
  auto& j = row.job;
  j.id = NewId();
  j.name = job.name;
  j.data = job.data.empty() ? "{}" : job.data;
  j.user_metadata = job.user_metadata;
  j.priority = job.priority;
  j.status = JobStatus::kPending;
  j.creation_time = j.update_time = Now();
  j.not_before = job.not_before;
  ApplyTrace(job.traceparent, job.tracestate, trace, j.traceparent, j.tracestate);
  auto& inserted = jobs_.emplace(j.id, std::move(row)).first->second;
  std::vector<domain::Stage> stages;
  if (job.stages) {
    for (const auto& stage : *job.stages) stages.push_back(InsertStage(inserted, stage, trace));
  }
  domain::Job out = ReadJob(inserted, false, false);
  if (job.stages) out.stages = std::move(stages);
  return out;
}

std::vector<std::pair<ListKey, std::string>> MemoryStore::JobKeys(const domain::JobFilter& f) const {
  std::vector<std::pair<ListKey, std::string>> keys;
  for (const auto& [id, row] : jobs_) {
    const auto& j = row.job;
    if ((f.name && j.name != *f.name) || (f.name_contains && !ContainsIgnoringCase(j.name, *f.name_contains)) ||
        (f.priority && j.priority != *f.priority) || (f.status && j.status != *f.status) ||
        !InRange(j.creation_time, f.from_date, f.end_date)) {
      continue;
    }
    keys.emplace_back(ListKey{Micros(j.creation_time), id, 0}, id);
  }
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return JobKeyLess(a.first, b.first); });
  return keys;
}

Result<std::vector<domain::Job>> MemoryStore::FindJobs(const domain::JobFilter& filter) {
  std::lock_guard lock(mu_);
  std::vector<domain::Job> out;
  for (const auto& [key, id] : JobKeys(filter)) {
    out.push_back(ReadJob(jobs_.at(id), filter.with_stages, filter.with_task_summary));
  }
  return out;
}

Result<ListPage<domain::Job>> MemoryStore::ListJobs(const domain::JobFilter& filter, const ListRange& range) {
  std::lock_guard lock(mu_);
  ListPage<domain::Job> page;
  for (auto& [key, id] : Slice(JobKeys(filter), range, JobKeyLess)) {
    page.items.push_back(ReadJob(jobs_.at(id), filter.with_stages, filter.with_task_summary));
    page.keys.push_back(key);
  }
  return page;
}

Result<domain::Job> MemoryStore::GetJob(const std::string& id, StageDetail stages, SummaryDetail summary) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return domain::JobNotFound(id);
  return ReadJob(it->second, stages == StageDetail::kStages, summary == SummaryDetail::kTaskSummary);
}

Status MemoryStore::DeleteJob(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return domain::JobNotFound(id);
  if (!domain::IsFinal(it->second.job.status)) {
    return {ErrorCode::kJobNotInFiniteState,
            fmt::format("Job {} is {}; only a COMPLETED, FAILED or ABORTED job can be deleted", id,
                        domain::ToString(it->second.job.status))};
  }
  for (const auto& stage_id : it->second.stages) {
    for (const auto& task_id : stages_.at(stage_id).tasks) tasks_.erase(task_id);
    stages_.erase(stage_id);
  }
  jobs_.erase(it);
  return Status::Ok();
}

Status MemoryStore::SetJobUserMetadata(const std::string& id, const std::string& metadata_json) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return domain::JobNotFound(id);
  it->second.job.user_metadata = metadata_json;
  it->second.job.update_time = Now();
  return Status::Ok();
}

Result<bool> MemoryStore::SetJobPriority(const std::string& id, domain::Priority priority) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return domain::JobNotFound(id);
  if (it->second.job.priority == priority) return false;
  Record(it->second, domain::kEventEntityJob, id, domain::kEventKindPriority,
         std::string(domain::ToString(it->second.job.priority)), std::string(domain::ToString(priority)));
  it->second.job.priority = priority;
  it->second.job.update_time = Now();
  return true;
}

Status MemoryStore::SetJobStatus(const std::string& id, JobStatus requested) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return domain::JobNotFound(id);
  auto& job = it->second.job;
  if (!domain::ClientMayRequest(requested) || !domain::CanTransition(job.status, requested)) {
    return domain::IllegalTransition(job.status, requested);
  }
  JobStatus status = requested;
  if (job.status == JobStatus::kPaused && status == JobStatus::kPending) {
    // As PgStore: a resumed job whose stages all completed is done.
    std::int64_t completed = 0;
    for (const auto& stage_id : it->second.stages) {
      if (stages_.at(stage_id).stage.status == StageStatus::kCompleted) ++completed;
    }
    status = domain::JobAfterResume(completed, static_cast<std::int64_t>(it->second.stages.size()));
  }
  Record(it->second, domain::kEventEntityJob, id, domain::kEventKindStatus, std::string(domain::ToString(job.status)),
         std::string(domain::ToString(status)),
         status == requested ? std::optional<std::string>()
                             : std::optional<std::string>("resumed with every stage completed"));
  job.status = status;
  job.update_time = Now();
  if (status == JobStatus::kAborted) {
    for (const auto& stage_id : it->second.stages) {
      auto& s = stages_.at(stage_id).stage;
      if (domain::IsFinal(s.status)) continue;
      Record(it->second, domain::kEventEntityStage, stage_id, domain::kEventKindStatus,
             std::string(domain::ToString(s.status)), std::string(domain::ToString(StageStatus::kAborted)),
             std::string("job aborted"));
      s.status = StageStatus::kAborted;
    }
  }
  return Status::Ok();
}

Result<ListPage<domain::JobEvent>> MemoryStore::ListJobEvents(const std::string& job_id, const ListRange& range) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return domain::JobNotFound(job_id);
  ListPage<domain::JobEvent> page;
  const auto& events = it->second.events;
  for (auto e = events.rbegin(); e != events.rend() && static_cast<int>(page.items.size()) < range.limit; ++e) {
    if (range.after && e->id >= range.after->time_or_seq) continue;
    page.items.push_back(*e);
    page.keys.push_back({e->id, "", 0});
  }
  return page;
}

Result<std::vector<domain::JobEvent>> MemoryStore::JobEventsAfter(const std::string& job_id, std::int64_t after_id,
                                                                  int limit) {
  std::lock_guard lock(mu_);
  std::vector<domain::JobEvent> events;
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return events;
  for (const auto& e : it->second.events) {  // in id order
    if (static_cast<int>(events.size()) >= limit) break;
    if (e.id > after_id) events.push_back(e);
  }
  return events;
}

// ---------------------------------------------------------------- stages

Result<domain::Stage> MemoryStore::AddStage(const std::string& job_id, const domain::NewStage& stage,
                                            const TraceDefaults& trace) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return domain::JobNotFound(job_id);
  if (domain::IsFinal(it->second.job.status)) {
    return Status(ErrorCode::kJobInFiniteState, fmt::format("Job {} is {}; stages cannot be added to a finished job",
                                                            job_id, domain::ToString(it->second.job.status)));
  }
  return InsertStage(it->second, stage, trace);
}

Result<std::vector<domain::Stage>> MemoryStore::GetStagesOfJob(const std::string& job_id, TaskDetail tasks) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return domain::JobNotFound(job_id);
  std::vector<domain::Stage> out;
  for (const auto& id : it->second.stages) out.push_back(ReadStage(stages_.at(id), tasks == TaskDetail::kTasks));
  return out;
}

std::vector<std::pair<ListKey, std::string>> MemoryStore::StageKeys(const domain::StageFilter& f) const {
  std::vector<std::pair<ListKey, std::string>> keys;
  for (const auto& [id, row] : stages_) {
    const auto& s = row.stage;
    if ((f.job_id && s.job_id != *f.job_id) || (f.type && s.type != *f.type) || (f.status && s.status != *f.status)) {
      continue;
    }
    const auto& job = jobs_.at(s.job_id).job;
    keys.emplace_back(ListKey{Micros(job.creation_time), job.id, s.order}, id);
  }
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return StageKeyLess(a.first, b.first); });
  return keys;
}

Result<std::vector<domain::Stage>> MemoryStore::FindStages(const domain::StageFilter& filter) {
  std::lock_guard lock(mu_);
  std::vector<domain::Stage> out;
  for (const auto& [key, id] : StageKeys(filter)) out.push_back(ReadStage(stages_.at(id), filter.with_tasks));
  return out;
}

Result<ListPage<domain::Stage>> MemoryStore::ListStages(const domain::StageFilter& filter, const ListRange& range) {
  std::lock_guard lock(mu_);
  ListPage<domain::Stage> page;
  for (auto& [key, id] : Slice(StageKeys(filter), range, StageKeyLess)) {
    page.items.push_back(ReadStage(stages_.at(id), filter.with_tasks));
    page.keys.push_back(key);
  }
  return page;
}

Result<domain::Stage> MemoryStore::GetStage(const std::string& id, TaskDetail tasks) {
  std::lock_guard lock(mu_);
  auto it = stages_.find(id);
  if (it == stages_.end()) return domain::StageNotFound(id);
  return ReadStage(it->second, tasks == TaskDetail::kTasks);
}

Result<domain::Summary> MemoryStore::GetStageSummary(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = stages_.find(id);
  if (it == stages_.end()) return domain::StageNotFound(id);
  return SummaryOf(it->second);
}

Status MemoryStore::SetStageUserMetadata(const std::string& id, const std::string& metadata_json) {
  std::lock_guard lock(mu_);
  auto it = stages_.find(id);
  if (it == stages_.end()) return domain::StageNotFound(id);
  it->second.stage.user_metadata = metadata_json;
  return Status::Ok();
}

Status MemoryStore::SetStageStatus(const std::string& id, StageStatus status) {
  std::lock_guard lock(mu_);
  auto it = stages_.find(id);
  if (it == stages_.end()) return domain::StageNotFound(id);
  auto& stage = it->second.stage;
  if (stage.status == status) return Status::Ok();  // SPEC A.3.7: same status is a no-op
  if (!domain::CanTransition(stage.status, status)) {
    return domain::IllegalTransition(stage.status, status);
  }
  if (stage.order > 1) {
    const auto& job = jobs_.at(stage.job_id);
    const auto& previous = stages_.at(job.stages[static_cast<std::size_t>(stage.order - 2)]).stage;
    if (previous.status != StageStatus::kCompleted) {
      return {ErrorCode::kIllegalStageStatusTransition,
              fmt::format("Illegal status transition from {} to {}: the previous stage (order {}) is {}, not COMPLETED",
                          domain::ToString(stage.status), domain::ToString(status), stage.order - 1,
                          domain::ToString(previous.status))};
    }
  }
  Record(jobs_.at(stage.job_id), domain::kEventEntityStage, id, domain::kEventKindStatus,
         std::string(domain::ToString(stage.status)), std::string(domain::ToString(status)));
  stage.status = status;
  return Status::Ok();
}

// ---------------------------------------------------------------- tasks

Result<std::vector<domain::Task>> MemoryStore::GetTasksOfStage(const std::string& stage_id) {
  std::lock_guard lock(mu_);
  auto it = stages_.find(stage_id);
  if (it == stages_.end()) return domain::StageNotFound(stage_id);
  std::vector<domain::Task> out;
  for (const auto& id : it->second.tasks) out.push_back(tasks_.at(id).task);
  return out;
}

Result<std::vector<domain::Task>> MemoryStore::AddTasks(const std::string& stage_id,
                                                        const std::vector<domain::NewTask>& tasks,
                                                        const TraceDefaults& trace) {
  std::lock_guard lock(mu_);
  auto it = stages_.find(stage_id);
  if (it == stages_.end()) return domain::StageNotFound(stage_id);
  const auto status = it->second.stage.status;
  if (domain::IsFinal(status)) {
    return Status(
        ErrorCode::kStageInFiniteState,
        fmt::format("Stage {} is {}; tasks cannot be added to a finished stage", stage_id, domain::ToString(status)));
  }
  if (status == StageStatus::kInProgress) {
    return Status(ErrorCode::kNotAllowedToAddTasksToInProgressStage,
                  fmt::format("Stage {} is IN_PROGRESS; tasks cannot be added to a stage in progress", stage_id));
  }
  return InsertTasks(it->second, tasks, trace);
}

std::vector<std::pair<ListKey, std::string>> MemoryStore::TaskKeys(const domain::TaskFilter& f) const {
  std::vector<std::pair<ListKey, std::string>> keys;
  for (const auto& [id, row] : tasks_) {
    const auto& t = row.task;
    if ((f.stage_id && t.stage_id != *f.stage_id) || (f.status && t.status != *f.status) ||
        (f.stage_type && stages_.at(t.stage_id).stage.type != *f.stage_type) ||
        !InRange(t.creation_time, f.from_date, f.end_date)) {
      continue;
    }
    keys.emplace_back(ListKey{row.seq, {}, 0}, id);
  }
  std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return TaskKeyLess(a.first, b.first); });
  return keys;
}

Result<std::vector<domain::Task>> MemoryStore::FindTasks(const domain::TaskFilter& filter) {
  std::lock_guard lock(mu_);
  std::vector<domain::Task> out;
  for (const auto& [key, id] : TaskKeys(filter)) out.push_back(tasks_.at(id).task);
  return out;
}

Result<ListPage<domain::Task>> MemoryStore::ListTasks(const domain::TaskFilter& filter, const ListRange& range) {
  std::lock_guard lock(mu_);
  ListPage<domain::Task> page;
  for (auto& [key, id] : Slice(TaskKeys(filter), range, TaskKeyLess)) {
    page.items.push_back(tasks_.at(id).task);
    page.keys.push_back(key);
  }
  return page;
}

Result<domain::Task> MemoryStore::GetTask(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return domain::TaskNotFound(id);
  return it->second.task;
}

Status MemoryStore::SetTaskUserMetadata(const std::string& id, const std::string& metadata_json) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return domain::TaskNotFound(id);
  it->second.task.user_metadata = metadata_json;
  it->second.task.update_time = Now();
  return Status::Ok();
}

Result<ClaimedTask> MemoryStore::ClaimTask(const std::string& stage_type, const ClaimOptions& options) {
  std::lock_guard lock(mu_);
  auto d = ClaimFirst({stage_type}, options);
  if (!d) return Status(ErrorCode::kTaskNotFound, fmt::format("No claimable task of stage type '{}'", stage_type));
  return std::move(*d);
}

Result<std::vector<ClaimedTask>> MemoryStore::ClaimTasks(const std::vector<std::string>& stage_types, int limit,
                                                         const ClaimOptions& options) {
  if (stage_types.empty() || stage_types.size() > static_cast<std::size_t>(kMaxClaimBatchTypes) ||
      std::set<std::string>(stage_types.begin(), stage_types.end()).size() != stage_types.size()) {
    return domain::ValidationError(
        fmt::format("stageTypes must hold 1 to {} distinct stage types", kMaxClaimBatchTypes));
  }
  if (limit < 1) return domain::ValidationError("limit must be at least 1");
  std::lock_guard lock(mu_);
  std::vector<ClaimedTask> out;
  while (static_cast<int>(out.size()) < limit) {
    auto d = ClaimFirst(stage_types, options);
    if (!d) break;
    out.push_back(std::move(*d));
  }
  return out;
}

std::optional<ClaimedTask> MemoryStore::ClaimFirst(const std::vector<std::string>& types, const ClaimOptions& options) {
  const auto now = Now();
  TaskRow* best = nullptr;
  JobRow* best_job = nullptr;
  StageRow* best_stage = nullptr;
  // Concurrency limits: the limited types among `types` that are at their limit.
  std::set<std::string> full;
  if (!limits_.empty()) {
    std::map<std::string, int> in_progress;
    for (const auto& [id, row] : tasks_) {
      if (row.task.status == TaskStatus::kInProgress) ++in_progress[stages_.at(row.task.stage_id).stage.type];
    }
    for (const auto& type : types) {
      auto l = limits_.find(type);
      if (l != limits_.end() && in_progress[type] >= l->second.max_in_progress) full.insert(type);
    }
  }
  for (auto& [id, row] : tasks_) {
    if (row.task.status != TaskStatus::kPending && row.task.status != TaskStatus::kRetried) continue;
    auto& stage = stages_.at(row.task.stage_id);
    if (std::find(types.begin(), types.end(), stage.stage.type) == types.end()) continue;
    if (full.count(stage.stage.type) > 0) continue;
    auto& job = jobs_.at(stage.stage.job_id);
    if (!domain::TasksClaimable(job.job.status, stage.stage.status)) continue;
    if (row.task.not_before && *row.task.not_before > now) continue;  // waits for its retry delay
    // Highest priority first (kVeryHigh is the smallest value), then the oldest task.
    if (best == nullptr || std::tie(job.job.priority, row.seq) < std::tie(best_job->job.priority, best->seq)) {
      best = &row;
      best_job = &job;
      best_stage = &stage;
    }
  }
  if (best == nullptr) return std::nullopt;
  ClaimedTask d;
  best->task.not_before.reset();
  best->task.status = TaskStatus::kInProgress;
  best->task.start_time = now;
  best->task.update_time = now;
  best->task.claim_id = NewId();
  best->task.worker_id = options.worker_id;
  best->task.lease_expires_at.reset();
  if (options.lease_seconds) best->task.lease_expires_at = now + std::chrono::seconds(*options.lease_seconds);
  // The first claim starts a PENDING stage and job (SPEC A.3.4).
  if (best_stage->stage.status == StageStatus::kPending) {
    best_stage->stage.status = StageStatus::kInProgress;
    d.stage_started = true;
  }
  if (best_job->job.status == JobStatus::kPending) {
    best_job->job.status = JobStatus::kInProgress;
    best_job->job.update_time = now;
    d.job_started = true;
  }
  d.task = best->task;
  d.job_id = best_job->job.id;
  return d;
}

Result<TaskReport> MemoryStore::Report(const std::string& id, TaskStatus requested,
                                       const std::optional<std::string>& reason,
                                       std::optional<double> retry_after_seconds) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return domain::TaskNotFound(id);
  auto& task = it->second.task;
  auto& stage_row = stages_.at(task.stage_id);
  auto& stage = stage_row.stage;
  auto& job_row = jobs_.at(stage.job_id);
  auto& job = job_row.job;
  const auto outcome = domain::DecideTaskReport(task.status, task.attempts, task.max_attempts, requested);
  if (!outcome) return domain::IllegalTransition(task.status, requested);

  // The stage's counters before this task's final status counts.
  const auto before_sum = SummaryOf(stage_row);
  const domain::StageCounts before{before_sum.total(), before_sum.completed, before_sum.failed};
  const auto now = Now();
  if (outcome->status != TaskStatus::kCompleted) {
    Record(job_row, domain::kEventEntityTask, id, domain::kEventKindStatus, std::string(domain::ToString(task.status)),
           std::string(domain::ToString(outcome->status)), reason, task.worker_id);
  }
  task.status = outcome->status;
  task.attempts = outcome->attempts;
  task.update_time = now;
  if (domain::IsFinal(task.status)) task.end_time = now;
  if (task.status == TaskStatus::kRetried) {
    const double delay = domain::RetryDelaySeconds(task.retry, task.attempts, retry_after_seconds,
                                                   std::uniform_real_distribution<double>(0.0, 1.0)(rng_));
    task.not_before.reset();
    if (delay > 0) {
      task.not_before =
          now + std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::duration<double>(delay));
    }
  }
  if (task.status != TaskStatus::kCompleted) {
    auto errors = task.errors ? nlohmann::json::parse(*task.errors) : nlohmann::json::array();
    nlohmann::json entry{{"attempt", task.attempts}, {"at", domain::FormatTime(now)}};
    if (reason) entry["reason"] = reason->substr(0, domain::kMaxFailureReasonBytes);
    if (task.worker_id) entry["workerId"] = *task.worker_id;
    errors.push_back(std::move(entry));
    if (errors.size() > 20) errors.erase(errors.begin(), errors.end() - 20);
    task.errors = errors.dump();
  }

  TaskReport report;
  report.job_id = job.id;
  report.stage_type = stage.type;
  if (outcome->counts_in_stage) {
    const bool completed = task.status == TaskStatus::kCompleted;
    const auto tally = domain::TallyFinishedTasks(stage.status, before, completed ? 1 : 0, completed ? 0 : 1);
    const StageStatus stage_before = stage.status;
    stage.status = tally.status;
    if (completed && stage.status == StageStatus::kCompleted && stage_before != StageStatus::kCompleted) {
      report.stage_completed = true;
      const auto next_index = static_cast<std::size_t>(stage.order);  // order + 1, from 0
      if (next_index < job_row.stages.size()) {
        auto& next = stages_.at(job_row.stages[next_index]).stage;
        if (domain::StartsWhenPreviousCompletes(next.status)) {
          next.status = StageStatus::kPending;
          report.next_stage_started = next.id;
        }
      }
      std::int64_t done = 0;
      for (const auto& sid : job_row.stages) done += stages_.at(sid).stage.status == StageStatus::kCompleted ? 1 : 0;
      const JobStatus after =
          domain::JobAfterStageCompleted(job.status, done, static_cast<std::int64_t>(job_row.stages.size()));
      if (after != job.status) {
        if (job.status == JobStatus::kPaused) {
          Record(job_row, domain::kEventEntityJob, job.id, domain::kEventKindStatus,
                 std::string(domain::ToString(job.status)), std::string(domain::ToString(after)),
                 std::string("its last stage completed while it was paused"));
        }
        job.status = after;
        job.update_time = now;
        report.job_completed = true;
      }
    } else if (stage.status == StageStatus::kFailed && stage_before != StageStatus::kFailed) {
      // A final failure, or a completion that left only tasks FAILED earlier (RetryTask).
      report.stage_failed = true;
      Record(job_row, domain::kEventEntityStage, stage.id, domain::kEventKindStatus,
             std::string(domain::ToString(stage_before)), std::string(domain::ToString(stage.status)),
             completed ? std::string("its last task finished with failed tasks left")
                       : fmt::format("task {} failed for good", id));
      const JobStatus after = domain::JobAfterStageFailed(job.status);
      if (after != job.status) {
        Record(job_row, domain::kEventEntityJob, job.id, domain::kEventKindStatus,
               std::string(domain::ToString(job.status)), std::string(domain::ToString(after)),
               fmt::format("stage {} failed", stage.id));
        job.status = after;
        job.update_time = now;
        report.job_failed = true;
      }
    }
  }
  report.task = task;
  return report;
}

Result<TaskReport> MemoryStore::ReportTask(const std::string& id, TaskStatus status, const ReportOptions& options) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return domain::TaskNotFound(id);
  if (options.claim_id && it->second.task.status == TaskStatus::kInProgress &&
      it->second.task.claim_id != options.claim_id) {
    return Status(ErrorCode::kTaskClaimMismatch,
                  fmt::format("Task {} is not under claim {} any more", id, *options.claim_id));
  }
  return Report(id, status, options.reason, options.retry_after_seconds);
}

std::vector<Result<TaskReport>> MemoryStore::ReportTasks(const std::vector<TaskUpdate>& updates) {
  std::vector<Result<TaskReport>> out;
  out.reserve(updates.size());
  for (const auto& u : updates) out.push_back(ReportTask(u.id, u.status, u.options));
  return out;
}

// ---------------------------------------------------------------- re-running failed work

void MemoryStore::Reopen(JobRow& job_row, TaskRow& row, const std::string& reason) {
  auto& task = row.task;
  Record(job_row, domain::kEventEntityTask, task.id, domain::kEventKindStatus,
         std::string(domain::ToString(task.status)), std::string(domain::ToString(TaskStatus::kPending)), reason);
  task.status = TaskStatus::kPending;
  task.attempts = 0;
  task.start_time.reset();
  task.end_time.reset();
  task.claim_id.reset();
  task.lease_expires_at.reset();
  task.not_before.reset();
  task.update_time = Now();
}

Result<domain::Job> MemoryStore::RetryJob(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return domain::JobNotFound(id);
  auto& job_row = it->second;
  JOBNIK_ASSIGN_OR_RETURN(const JobStatus after, domain::JobAfterRetry(id, job_row.job.status));
  const std::string reason = "retry of the job requested";
  Record(job_row, domain::kEventEntityJob, id, domain::kEventKindStatus,
         std::string(domain::ToString(job_row.job.status)), std::string(domain::ToString(after)), reason);
  for (const auto& stage_id : job_row.stages) {
    auto& stage_row = stages_.at(stage_id);
    if (stage_row.stage.status != StageStatus::kFailed) continue;
    Record(job_row, domain::kEventEntityStage, stage_id, domain::kEventKindStatus,
           std::string(domain::ToString(StageStatus::kFailed)), std::string(domain::ToString(StageStatus::kInProgress)),
           reason);
    stage_row.stage.status = StageStatus::kInProgress;
    for (const auto& task_id : stage_row.tasks) {
      auto& row = tasks_.at(task_id);
      if (row.task.status == TaskStatus::kFailed) Reopen(job_row, row, reason);
    }
  }
  job_row.job.status = after;
  job_row.job.update_time = Now();
  return ReadJob(job_row, false, false);
}

Result<domain::Task> MemoryStore::RetryTask(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return domain::TaskNotFound(id);
  auto& stage = stages_.at(it->second.task.stage_id).stage;
  auto& job_row = jobs_.at(stage.job_id);
  auto& job = job_row.job;
  JOBNIK_ASSIGN_OR_RETURN(const auto outcome,
                          domain::DecideTaskRetry(id, it->second.task.status, stage.status, job.status));
  const std::string reason = "retry of the task requested";
  if (outcome.job != job.status) {
    Record(job_row, domain::kEventEntityJob, job.id, domain::kEventKindStatus,
           std::string(domain::ToString(job.status)), std::string(domain::ToString(outcome.job)), reason);
    job.status = outcome.job;
    job.update_time = Now();
  }
  if (outcome.stage != stage.status) {
    Record(job_row, domain::kEventEntityStage, stage.id, domain::kEventKindStatus,
           std::string(domain::ToString(stage.status)), std::string(domain::ToString(outcome.stage)), reason);
    stage.status = outcome.stage;
  }
  Reopen(job_row, it->second, reason);
  return it->second.task;
}

Result<Heartbeat> MemoryStore::HeartbeatTask(const std::string& id, const std::optional<std::string>& claim_id,
                                             int lease_seconds) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return domain::TaskNotFound(id);
  auto& task = it->second.task;
  if (task.status != TaskStatus::kInProgress || (claim_id && task.claim_id != claim_id)) {
    return Status(ErrorCode::kTaskClaimMismatch, fmt::format("Task {} is not under that claim any more", id));
  }
  const auto& job = jobs_.at(stages_.at(task.stage_id).stage.job_id).job;
  if (!domain::IsActive(job.status)) {
    return Status(ErrorCode::kJobNotActive, fmt::format("The job of task {} is {}", id, domain::ToString(job.status)));
  }
  task.lease_expires_at = Now() + std::chrono::seconds(lease_seconds);
  return Heartbeat{task.claim_id.value_or(""), *task.lease_expires_at};
}

// ---------------------------------------------------------------- maintenance

Result<std::vector<TaskReport>> MemoryStore::FailExpiredLeases(domain::Timestamp now, int limit) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<domain::Timestamp, std::string>> expired;
  for (const auto& [id, row] : tasks_) {
    if (row.task.status == TaskStatus::kInProgress && row.task.lease_expires_at && *row.task.lease_expires_at < now) {
      expired.emplace_back(*row.task.lease_expires_at, id);
    }
  }
  std::sort(expired.begin(), expired.end());
  if (static_cast<int>(expired.size()) > limit) expired.resize(static_cast<std::size_t>(std::max(limit, 0)));
  std::vector<TaskReport> reports;
  for (const auto& [at, id] : expired) {
    JOBNIK_ASSIGN_OR_RETURN(auto report, Report(id, TaskStatus::kFailed, std::string("lease expired")));
    reports.push_back(std::move(report));
  }
  return reports;
}

Result<std::vector<TaskReport>> MemoryStore::FailStaleTasks(domain::Timestamp cutoff, int limit) {
  std::lock_guard lock(mu_);
  std::vector<std::pair<domain::Timestamp, std::string>> stale;
  for (const auto& [id, row] : tasks_) {
    if (row.task.status == TaskStatus::kInProgress && !row.task.lease_expires_at && row.task.start_time &&
        *row.task.start_time < cutoff) {
      stale.emplace_back(*row.task.start_time, id);
    }
  }
  std::sort(stale.begin(), stale.end());
  if (static_cast<int>(stale.size()) > limit) stale.resize(static_cast<std::size_t>(std::max(limit, 0)));
  std::vector<TaskReport> reports;
  for (const auto& [start, id] : stale) {
    JOBNIK_ASSIGN_OR_RETURN(auto report, Report(id, TaskStatus::kFailed, std::string("stale")));
    reports.push_back(std::move(report));
  }
  return reports;
}

Result<std::optional<TaskReport>> MemoryStore::FailStaleTask(const std::string& id, domain::Timestamp cutoff) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(id);
  if (it == tasks_.end() || it->second.task.status != TaskStatus::kInProgress || !it->second.task.start_time ||
      *it->second.task.start_time >= cutoff) {
    return std::optional<TaskReport>{};
  }
  JOBNIK_ASSIGN_OR_RETURN(auto report, Report(id, TaskStatus::kFailed, std::string("stale")));
  return std::optional<TaskReport>(std::move(report));
}

Result<std::vector<DueTask>> MemoryStore::PromoteDueTasks(int limit) {
  std::lock_guard lock(mu_);
  const auto now = Now();
  std::vector<std::pair<domain::Timestamp, std::string>> due;
  for (const auto& [id, row] : tasks_) {
    if (row.task.not_before && *row.task.not_before <= now) due.emplace_back(*row.task.not_before, id);
  }
  std::sort(due.begin(), due.end());
  if (static_cast<int>(due.size()) > limit) due.resize(static_cast<std::size_t>(std::max(limit, 0)));
  std::vector<DueTask> out;
  for (const auto& [at, id] : due) {
    auto& task = tasks_.at(id).task;
    task.not_before.reset();
    const auto& stage = stages_.at(task.stage_id).stage;
    const auto& job = jobs_.at(stage.job_id).job;
    out.push_back({id, stage.id, job.id, domain::TasksClaimable(job.status, stage.status),
                   std::chrono::duration<double>(now - at).count()});
  }
  return out;
}

Result<std::optional<double>> MemoryStore::NextRetryDue() {
  std::lock_guard lock(mu_);
  std::optional<domain::Timestamp> next;
  for (const auto& [id, row] : tasks_) {
    if (row.task.not_before && (!next || *row.task.not_before < *next)) next = row.task.not_before;
  }
  if (!next) return std::optional<double>{};
  return std::optional<double>(std::chrono::duration<double>(*next - Now()).count());
}

Result<StageTypeLimit> MemoryStore::SetStageTypeLimit(const std::string& stage_type, int max_in_progress) {
  if (max_in_progress < 0) return domain::ValidationError("maxInProgress must be an integer >= 0");
  std::lock_guard lock(mu_);
  return limits_[stage_type] = StageTypeLimit{stage_type, max_in_progress, Now()};
}

Result<StageTypeLimit> MemoryStore::GetStageTypeLimit(const std::string& stage_type) {
  std::lock_guard lock(mu_);
  auto it = limits_.find(stage_type);
  if (it == limits_.end()) {
    return Status(ErrorCode::kLimitNotFound, fmt::format("Stage type '{}' has no concurrency limit", stage_type));
  }
  return it->second;
}

Result<bool> MemoryStore::DeleteStageTypeLimit(const std::string& stage_type) {
  std::lock_guard lock(mu_);
  return limits_.erase(stage_type) > 0;
}

Result<std::vector<StageTypeLimit>> MemoryStore::ListStageTypeLimits() {
  std::lock_guard lock(mu_);
  std::vector<StageTypeLimit> out;
  for (const auto& [type, limit] : limits_) out.push_back(limit);
  return out;
}

Result<QueueStats> MemoryStore::GetQueueStats() {
  std::lock_guard lock(mu_);
  QueueStats stats;
  std::map<std::string, QueueStats::TypeCounts> by_type;
  for (const auto& [id, row] : stages_) {
    if (domain::IsFinal(row.stage.status)) continue;
    auto& counts = by_type[row.stage.type];
    counts.stage_type = row.stage.type;
    const auto sum = SummaryOf(row);
    counts.pending += sum.pending + sum.created;
    counts.in_progress += sum.in_progress;
    counts.retried += sum.retried;
  }
  const auto now = Now();
  for (const auto& [id, row] : tasks_) {
    if (row.task.status != TaskStatus::kPending) continue;
    const auto& stage = stages_.at(row.task.stage_id);
    if (!domain::TasksClaimable(jobs_.at(stage.stage.job_id).job.status, stage.stage.status)) continue;
    if (row.task.not_before && *row.task.not_before > now) continue;  // not due yet
    auto& oldest = by_type[stage.stage.type].oldest_pending_seconds;
    const double age = std::chrono::duration<double>(now - row.task.creation_time).count();
    if (!oldest || age > *oldest) oldest = age;
  }
  for (auto& [type, counts] : by_type) stats.tasks.push_back(std::move(counts));
  std::map<JobStatus, std::int64_t> jobs;
  for (const auto& [id, row] : jobs_) {
    if (!domain::IsFinal(row.job.status)) ++jobs[row.job.status];
  }
  for (const auto& [status, n] : jobs) stats.jobs.emplace_back(status, n);
  return stats;
}

Status MemoryStore::Ping() {
  return Status::Ok();
}

}  // namespace jobnik::store::memory
