#include "store/pg/pg_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <cctype>
#include <deque>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <utility>

#include "common/ascii.h"
#include "domain/codec.h"
#include "domain/lifecycle.h"
#include "domain/time.h"
#include "domain/validation.h"
#include "store/pg/rows.h"
#include "store/pg/statements.h"
#include "store/pg/transaction.h"

namespace jobnik::store::pg {
namespace {

using domain::ErrorCode;
using domain::JobStatus;
using domain::StageStatus;
using domain::TaskStatus;

using domain::JobNotFound;
using domain::StageNotFound;
using domain::TaskNotFound;
int PriorityValue(domain::Priority p) {
  return static_cast<int>(p);
}

std::optional<std::string> OptTimeParam(const std::optional<domain::Timestamp>& t) {
  if (!t) return std::nullopt;
  return domain::FormatTime(*t);
}

// The same with NULL for an absent id (a $n::uuid[] parallel to another).
std::string OptUuidArray(const std::vector<std::optional<std::string>>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += ids[i] ? *ids[i] : "NULL";
  }
  out += '}';
  return out;
}

// A claim as ClaimTask submits it to the claims' group commit, and back (ClaimBatch): the
// JSON of its options (empty for none; JSON text never holds a raw newline), a newline,
// the stage type. An entry without a newline is a bare stage type.
std::string EncodeClaim(const std::string& stage_type, const ClaimOptions& options) {
  std::string out;
  if (options.worker_id || options.lease_seconds) {
    nlohmann::json o = nlohmann::json::object();
    if (options.worker_id) o["workerId"] = *options.worker_id;
    if (options.lease_seconds) o["leaseSeconds"] = *options.lease_seconds;
    out = o.dump();
  }
  out += '\n';
  out += stage_type;
  return out;
}
std::pair<std::string, std::string> DecodeClaim(const std::string& entry) {  // {type, options JSON}
  const auto nl = entry.find('\n');
  if (nl == std::string::npos) return {entry, ""};
  return {entry.substr(nl + 1), entry.substr(0, nl)};
}

Status ClaimMismatch(const std::string& id, const std::string& claim_id) {
  return {ErrorCode::kTaskClaimMismatch,
          fmt::format("Task {} is not under claim {} any more (it was reported on, or failed by the sweeper and "
                      "perhaps claimed again); nothing was changed",
                      id, claim_id)};
}

// ---- The job event log (schema/0004, queries/event.sql; docs/design.md "Job events") ----

// One change to record (entity: domain::kEventEntity*; kind: domain::kEventKind*).
struct EventRecord {
  const char* entity;
  std::string entity_id;
  const char* kind;
  std::optional<std::string> old_value;
  std::string new_value;
  std::optional<std::string> reason;
  std::optional<std::string> worker_id;
};

// Records `e` in the event log of job `job_id`, in the transaction of the change.
void RecordEvent(pqxx::work& tx, const std::string& job_id, const EventRecord& e) {
  tx.exec_prepared0("EventInsert", job_id, e.entity, e.entity_id, e.kind, e.old_value, e.new_value, e.reason,
                    e.worker_id, CurrentActor());
}

template <typename S>
EventRecord StatusEvent(const char* entity, const std::string& id, S from, S to,
                        std::optional<std::string> reason = std::nullopt) {
  return {entity,
          id,
          domain::kEventKindStatus,
          std::string(domain::ToString(from)),
          std::string(domain::ToString(to)),
          std::move(reason),
          std::nullopt};
}

// The JSON array TaskInsertBatch reads.
std::string TaskBatchJson(const std::vector<domain::NewTask>& tasks, const TraceDefaults& trace) {
  std::string out;
  domain::AppendJson(out, tasks, trace);
  return out;
}

// A job submission's tasks go to PostgreSQL this many per statement (in order, in its
// transaction), so that the JSON text of a statement and libpq's copy of it (its output
// buffer keeps the size of the largest message it sent) stay ~1 MB, however many tasks.
constexpr std::size_t kTaskInsertChunk = 5000;

// TaskBatchJson of tasks[from, from + kTaskInsertChunk).
std::string TaskChunkJson(const std::vector<domain::NewTask>& tasks, std::size_t from, const TraceDefaults& trace) {
  const std::size_t to = std::min(tasks.size(), from + kTaskInsertChunk);
  std::string out = "[";
  for (std::size_t i = from; i < to; ++i) {
    if (i > from) out += ',';
    domain::AppendJson(out, tasks[i], trace);
  }
  out += ']';
  return out;
}

// Wakes the requests waiting for work of `stage_type` (services/claim_waiter.h): `count` of
// its tasks became claimable in this transaction (delivered at commit, dropped on rollback).
template <typename Tx>
void NotifyClaimable(Tx& tx, const std::string& stage_type, std::int64_t count) {
  tx.exec_prepared("TaskNotifyClaimable", stage_type, count);
}

std::optional<domain::Job> LoadJob(pqxx::work& tx, const char* statement, const std::string& id) {
  auto r = tx.exec_prepared(statement, id);
  if (r.empty()) return std::nullopt;
  return ReadJob(r[0]);
}

std::optional<domain::Stage> LoadStage(pqxx::work& tx, const char* statement, const std::string& id) {
  auto r = tx.exec_prepared(statement, id);
  if (r.empty()) return std::nullopt;
  return ReadStage(r[0]);
}

// The job of a stage, without locking or summarising it.
std::optional<std::string> StageJobId(pqxx::work& tx, const std::string& stage_id) {
  auto r = tx.exec_prepared("StageJobId", stage_id);
  if (r.empty()) return std::nullopt;
  return r[0]["job_id"].as<std::string>();
}

// Attaches tasks to stages (one query for all of them).
void AttachTasks(pqxx::work& tx, std::vector<domain::Stage>& stages) {
  std::vector<std::string> ids;
  std::map<std::string, domain::Stage*> by_id;
  for (auto& s : stages) {
    ids.push_back(s.id);
    by_id[s.id] = &s;
    s.tasks.emplace();
  }
  if (ids.empty()) return;
  const auto rows = tx.exec_prepared("TaskListForStages", UuidArray(ids));
  const TaskColumns columns(rows);
  for (const auto& row : rows) {
    auto task = ReadTask(row, columns);
    by_id.at(task.stage_id)->tasks->push_back(std::move(task));
  }
}

// Attaches stages to jobs (one query for all of them).
void AttachStages(pqxx::work& tx, std::vector<domain::Job>& jobs) {
  std::vector<std::string> ids;
  std::map<std::string, domain::Job*> by_id;
  for (auto& j : jobs) {
    ids.push_back(j.id);
    by_id[j.id] = &j;
    j.stages.emplace();
  }
  if (ids.empty()) return;
  const auto rows = tx.exec_prepared("StageListForJobs", UuidArray(ids));
  const StageColumns columns(rows);
  for (const auto& row : rows) {
    auto stage = ReadStage(row, columns);
    by_id.at(stage.job_id)->stages->push_back(std::move(stage));
  }
}

// Fills Job::task_summary of each job (one query for all of them).
void AttachTaskSummaries(pqxx::work& tx, std::vector<domain::Job>& jobs) {
  std::vector<std::string> ids;
  std::map<std::string, domain::Job*> by_id;
  for (auto& j : jobs) {
    ids.push_back(j.id);
    by_id[j.id] = &j;
    j.task_summary.emplace();
  }
  if (ids.empty()) return;
  const auto rows = tx.exec_prepared("StageTotalsForJobs", UuidArray(ids));
  const Column job_id = rows.column_number("job_id"), total = rows.column_number("total"),
               completed = rows.column_number("completed"), failed = rows.column_number("failed"),
               in_progress = rows.column_number("in_progress"), retried = rows.column_number("retried");
  for (const auto& row : rows) {
    auto& s = *by_id.at(row[job_id].as<std::string>())->task_summary;
    s.completed = row[completed].as<std::int64_t>();
    s.failed = row[failed].as<std::int64_t>();
    s.in_progress = row[in_progress].as<std::int64_t>();
    s.retried = row[retried].as<std::int64_t>();
    s.pending = row[total].as<std::int64_t>() - s.completed - s.failed - s.in_progress - s.retried;
  }
}

// The cursor parameters of a *Page statement: NULL for the first page.
std::optional<std::int64_t> AfterTime(const ListRange& r) {
  if (!r.after) return std::nullopt;
  return r.after->time_or_seq;
}
std::optional<std::string> AfterId(const ListRange& r) {
  if (!r.after) return std::nullopt;
  return r.after->id;
}

// Whether the statement that inserts a stage's tasks returns their rows (a job submission
// does not need them).
enum class TaskRows : std::uint8_t { kReturned, kNotReturned };

// Delayed start (docs/design.md, "Delayed start"): the time before which no task of a stage
// is claimable, the later of its job's and its own notBefore (std::nullopt for none).
std::optional<std::string> StartFloor(const std::optional<domain::Timestamp>& job,
                                      const std::optional<domain::Timestamp>& stage) {
  if (!job && !stage) return std::nullopt;
  if (!job) return domain::FormatTime(*stage);
  if (!stage) return domain::FormatTime(*job);
  return domain::FormatTime(std::max(*job, *stage));
}

// Inserts `tasks` into a stage (TaskInsertBatch; `floor`: StartFloor) and wakes the
// requests waiting for their type with the number that are claimable at once: `ready`
// unless a task waits for its start time (inserted not ready, with not_before). Returns
// the inserted rows when `rows` asks for them, in one statement; otherwise (a job
// submission) the tasks go in chunks of kTaskInsertChunk, through TaskInsertBatchQuiet
// when none can wait, and an empty result is returned.
pqxx::result InsertTasks(pqxx::work& tx, const std::string& stage_id, const std::string& type, int priority, bool ready,
                         const std::optional<std::string>& floor, const std::vector<domain::NewTask>& tasks,
                         const TraceDefaults& trace, TaskRows rows) {
  const bool may_wait =
      floor || std::any_of(tasks.begin(), tasks.end(), [](const auto& t) { return t.not_before.has_value(); });
  // How many of `inserted` (TaskInsertBatch's rows) are claimable now.
  auto claimable_of = [&](const pqxx::result& inserted) {
    if (!may_wait) return static_cast<std::int64_t>(inserted.size());
    std::int64_t n = 0;
    const Column not_before = inserted.column_number("not_before");
    for (const auto& row : inserted) n += row[not_before].is_null() ? 1 : 0;
    return n;
  };
  if (rows == TaskRows::kNotReturned) {
    // A job submission: in chunks of kTaskInsertChunk (bounded statement size).
    std::int64_t claimable = 0;
    for (std::size_t from = 0; from < tasks.size(); from += kTaskInsertChunk) {
      if (may_wait) {
        claimable += claimable_of(tx.exec_prepared("TaskInsertBatch", stage_id, type, priority, ready,
                                                   TaskChunkJson(tasks, from, trace), floor));
      } else {
        tx.exec_prepared0("TaskInsertBatchQuiet", stage_id, type, priority, ready, TaskChunkJson(tasks, from, trace));
        claimable += static_cast<std::int64_t>(std::min(kTaskInsertChunk, tasks.size() - from));
      }
    }
    if (ready && claimable > 0) NotifyClaimable(tx, type, claimable);
    return {};
  }
  auto result =
      tx.exec_prepared("TaskInsertBatch", stage_id, type, priority, ready, TaskBatchJson(tasks, trace), floor);
  if (ready) {
    if (const std::int64_t claimable = claimable_of(result); claimable > 0) NotifyClaimable(tx, type, claimable);
  }
  return result;
}

// Inserts a stage (and, for a job submission, its tasks) under a locked, active job.
domain::Stage InsertStage(pqxx::work& tx, const domain::Job& job, const domain::NewStage& stage,
                          const TraceDefaults& trace, TaskRows rows) {
  auto last = tx.exec_prepared("StageGetLast", job.id);
  const int order = last.empty() ? 1 : last[0]["order"].as<int>() + 1;
  std::optional<StageStatus> last_status;
  if (!last.empty()) last_status = domain::ParseStageStatus(last[0]["status"].c_str()).value();
  const StageStatus status = domain::InitialStageStatus(stage.start_as_waiting, last_status);
  const auto& traceparent = stage.traceparent ? *stage.traceparent : trace.traceparent;
  const auto& tracestate =
      stage.traceparent ? stage.tracestate : (stage.tracestate ? stage.tracestate : trace.tracestate);
  std::optional<std::string> retry;
  if (stage.retry) retry = domain::ToJson(*stage.retry);
  auto row = tx.exec_prepared1("StageInsert", job.id, stage.type, stage.data, stage.user_metadata,
                               std::string(domain::ToString(status)), traceparent, tracestate, order, retry,
                               OptTimeParam(stage.not_before));
  domain::Stage created = ReadStage(row);
  if (!stage.tasks.empty()) {
    const bool ready = domain::TasksClaimable(job.status, status);
    InsertTasks(tx, created.id, stage.type, PriorityValue(job.priority), ready,
                StartFloor(job.not_before, stage.not_before), stage.tasks, trace, rows);
    const auto total = static_cast<std::int64_t>(stage.tasks.size());
    tx.exec_prepared0("StageAddTotal", created.id, total, domain::StagePercentage({total, 0, 0}));
    created.summary.pending = static_cast<std::int64_t>(stage.tasks.size());
  }
  return created;
}

Status Conflict(const std::string& id) {
  return {ErrorCode::kTaskStatusUpdateFailed,
          fmt::format("Task {} was changed by another request; its status was not updated", id)};
}

// The job of a report whose stage `stage_id` failed goes from `from` to `to` (FAILED): its
// tasks stop being claimable, and the change is recorded.
void FailJobOfStage(pqxx::work& tx, TaskReport& report, JobStatus from, JobStatus to, const std::string& stage_id) {
  tx.exec_prepared0("JobSetStatus", report.job_id, std::string(domain::ToString(from)),
                    std::string(domain::ToString(to)));
  tx.exec_prepared0("TaskClearReadyForJob", report.job_id);
  report.job_failed = true;
  RecordEvent(tx, report.job_id,
              StatusEvent(domain::kEventEntityJob, report.job_id, from, to, fmt::format("stage {} failed", stage_id)));
}

// What follows a task's final status (`task_status`) once its stage's counters moved
// (StageCountFinished in task.sql left the stage `stage_status`), SPEC A.3.5: when it
// completed its stage, the next stage starts and the job's percentage (and status) follow;
// when it failed its stage, the job fails. The job's outcome is domain::JobAfterStage*'s.
// Fills the report's flags.
void FollowStage(pqxx::work& tx, int order, StageStatus stage_status, TaskStatus task_status, TaskReport& report) {
  if (task_status == TaskStatus::kCompleted && stage_status == StageStatus::kCompleted) {
    report.stage_completed = true;
    // The next stage starts, if it was waiting for this one (domain::StartsWhenPreviousCompletes).
    auto next = tx.exec_prepared("StageActivateNext", report.job_id, order);
    auto job = LoadJob(tx, "JobGetForUpdate", report.job_id).value();
    if (!next.empty()) {
      report.next_stage_started = next[0]["id"].as<std::string>();
      if (domain::TasksClaimable(job.status, StageStatus::kPending)) {
        tx.exec_prepared("TaskSetReadyForStage", *report.next_stage_started);  // notifies
      }
    }
    auto counts = tx.exec_prepared1("JobRefreshPercentage", report.job_id);
    const JobStatus after = domain::JobAfterStageCompleted(job.status, counts["completed"].as<std::int64_t>(),
                                                           counts["total"].as<std::int64_t>());
    if (after != job.status) {
      tx.exec_prepared0("JobSetStatus", report.job_id, std::string(domain::ToString(job.status)),
                        std::string(domain::ToString(after)));
      report.job_completed = true;
      // A job completing in the ordinary flow records nothing; one whose work finished
      // while it was paused takes the internal edge PAUSED -> COMPLETED, which is recorded.
      if (job.status == JobStatus::kPaused) {
        RecordEvent(tx, report.job_id,
                    StatusEvent(domain::kEventEntityJob, report.job_id, job.status, after,
                                std::string("its last stage completed while it was paused")));
      }
    }
  } else if (task_status == TaskStatus::kFailed && stage_status == StageStatus::kFailed) {
    report.stage_failed = true;
    // The stage failed now if this is its first failure (a stage fails only from
    // IN_PROGRESS, with its first final failure; later ones only count). Its row is
    // locked by this transaction's update, so the count read is this report's. (After a
    // task was re-run alone, RetryTask, the stage may hold earlier failures: then its job,
    // re-opened with it, tells.)
    const auto& stage_id = report.task.stage_id;
    auto job = LoadJob(tx, "JobGetForUpdate", report.job_id).value();
    const JobStatus after = domain::JobAfterStageFailed(job.status);
    if (tx.exec_prepared1("StageTaskFailed", stage_id)[0].as<std::int64_t>() == 1 || after != job.status) {
      RecordEvent(tx, report.job_id,
                  StatusEvent(domain::kEventEntityStage, stage_id, StageStatus::kInProgress, StageStatus::kFailed,
                              fmt::format("task {} failed for good", report.task.id)));
    }
    if (after != job.status) FailJobOfStage(tx, report, job.status, after, stage_id);
  } else if (task_status == TaskStatus::kCompleted && stage_status == StageStatus::kFailed) {
    // A completion finished a stage some of whose tasks are left FAILED (others were re-run
    // alone: RetryTask), domain::TallyFinishedTasks. The stage failed now if its job, which
    // was re-opened with it, has not failed yet; else it had failed before (a completion
    // arriving after its failure only counts).
    auto job = LoadJob(tx, "JobGetForUpdate", report.job_id).value();
    const JobStatus after = domain::JobAfterStageFailed(job.status);
    if (after != job.status) {
      const auto& stage_id = report.task.stage_id;
      report.stage_failed = true;
      RecordEvent(tx, report.job_id,
                  StatusEvent(domain::kEventEntityStage, stage_id, StageStatus::kInProgress, StageStatus::kFailed,
                              std::string("its last task finished with failed tasks left")));
      FailJobOfStage(tx, report, job.status, after, stage_id);
    }
  }
}

// The stage columns that TaskReportCounted and TaskReportBatch return after the task's
// (StageCountFinished's result: job_id, stage_order, stage_status), found by name once per
// result. `usual` positions as in task.sql: one name comparison each.
struct CountedColumns {
  template <typename ResultOrRow>
  explicit CountedColumns(const ResultOrRow& r)
      : job_id(FindColumn(r, 13, "job_id")),
        order(FindColumn(r, 14, "stage_order")),
        stage_status(FindColumn(r, 15, "stage_status")) {}
  Column job_id, order, stage_status;
};

// The same for a TaskReportCounted row (the task, then its stage's job, order, status).
Result<TaskReport> Cascade(pqxx::work& tx, const pqxx::row& row) {
  const CountedColumns counted(row);
  TaskReport report;
  report.task = ReadTask(row);
  report.job_id = row[counted.job_id].as<std::string>();
  report.stage_type = row["stage_type"].as<std::string>();
  FollowStage(tx, row[counted.order].as<int>(), domain::ParseStageStatus(row[counted.stage_status].c_str()).value(),
              report.task.status, report);
  return report;
}

// Why a guarded update matched no row: the task is gone (404), is not under the report's
// claim (409 TASK_CLAIM_MISMATCH), was not IN_PROGRESS (400), or changed between our read
// and our update (409).
Status WhyNotUpdated(pqxx::work& tx, const std::string& id, TaskStatus requested,
                     const std::optional<std::string>& claim_id = std::nullopt) {
  auto rows = tx.exec_prepared("TaskGet", id);
  if (rows.empty()) return TaskNotFound(id);
  const auto task = ReadTask(rows[0]);
  if (claim_id && (task.status != TaskStatus::kInProgress || task.claim_id != claim_id)) {
    return ClaimMismatch(id, *claim_id);
  }
  if (task.status != TaskStatus::kInProgress) {
    return domain::IllegalTransition(task.status, requested);
  }
  return Conflict(id);
}

// What the sweeper requires of a task it fails, as it listed it: still IN_PROGRESS under
// the same claim (when known), and still stale (claimed without a lease before
// `started_before`) or still expired (its lease ended before `lease_expired_before`). A
// report, a heartbeat or a new claim may have happened since.
struct SweepCheck {
  std::optional<std::string> claim_id;
  std::optional<domain::Timestamp> started_before;
  std::optional<domain::Timestamp> lease_expired_before;
  std::string reason;  // recorded in the task's errors

  bool StillDue(const domain::Task& t) const {
    if (t.status != TaskStatus::kInProgress) return false;
    if (claim_id && t.claim_id != claim_id) return false;
    if (started_before && (t.lease_expires_at || !t.start_time || *t.start_time >= *started_before)) return false;
    if (lease_expired_before && (!t.lease_expires_at || *t.lease_expires_at >= *lease_expired_before)) return false;
    return true;
  }
};

// A uniform draw in [0, 1) for the retry delay's jitter.
double Jitter() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// The body of a task report, shared by workers' reports and the sweeper (`sweep`: the
// task is read locked and failed only if still due).
// `limited`: the stage types with a concurrency limit (PgStore::LimitedTypes): a report
// that takes a task of one of them out of IN_PROGRESS wakes a request waiting for it.
Result<TaskReport> ReportTaskInTx(pqxx::work& tx, const std::string& id, TaskStatus requested,
                                  const ReportOptions& options, const SweepCheck* sweep = nullptr,
                                  const std::set<std::string>* limited = nullptr) {
  const auto is_limited = [&](const std::string& type) { return limited != nullptr && limited->count(type) > 0; };
  auto current_rows = tx.exec_prepared(sweep ? "TaskGetForUpdate" : "TaskGet", id);
  if (current_rows.empty()) return TaskNotFound(id);
  const domain::Task current = ReadTask(current_rows[0]);
  if (options.claim_id && (current.status != TaskStatus::kInProgress || current.claim_id != options.claim_id)) {
    return ClaimMismatch(id, *options.claim_id);
  }
  if (sweep && !sweep->StillDue(current)) return Conflict(id);
  const std::optional<std::string> reason = sweep ? std::optional<std::string>(sweep->reason) : options.reason;

  // FAILED with attempts left becomes RETRIED (SPEC A.3.5).
  const auto outcome = domain::DecideTaskReport(current.status, current.attempts, current.max_attempts, requested);
  if (!outcome) return domain::IllegalTransition(current.status, requested);
  const std::string target_name(domain::ToString(outcome->status));
  // Every report through here (a FAILED one: COMPLETED reports are grouped, see
  // ReportCompletedBatch) is recorded: IN_PROGRESS -> RETRIED or FAILED, with its reason.
  const auto record = [&](const std::string& job_id) {
    if (outcome->status == TaskStatus::kCompleted) return;
    auto event = StatusEvent(domain::kEventEntityTask, id, current.status, outcome->status, reason);
    event.worker_id = current.worker_id;
    RecordEvent(tx, job_id, event);
  };
  if (!outcome->counts_in_stage) {
    // RETRIED: claimable at once, or after its retry delay (the worker's, or its policy's).
    const double delay = domain::RetryDelaySeconds(current.retry, outcome->attempts,
                                                   sweep ? std::nullopt : options.retry_after_seconds, Jitter());
    auto updated = tx.exec_prepared("TaskReport", id, current.attempts, target_name, outcome->attempts,
                                    current.claim_id, reason, delay);
    if (updated.empty()) return Conflict(id);
    // Claimable again at once: wake a waiting request (a retry with a delay wakes one when
    // the scheduler promotes it, PromoteDueTasks).
    // A limited type's freed slot wakes one too (concurrency limits).
    const auto type = updated[0]["stage_type"].as<std::string>();
    if (updated[0]["ready"].as<bool>() || is_limited(type)) NotifyClaimable(tx, type, 1);
    TaskReport report;
    report.task = ReadTask(updated[0]);
    report.stage_type = type;
    report.job_id = StageJobId(tx, report.task.stage_id).value();
    record(report.job_id);
    return report;
  }
  auto updated = tx.exec_prepared("TaskReportCounted", id, current.attempts, target_name, outcome->attempts,
                                  current.claim_id, reason);
  if (updated.empty()) return Conflict(id);
  record(updated[0][CountedColumns(updated[0]).job_id].as<std::string>());
  if (const auto type = updated[0]["stage_type"].as<std::string>(); is_limited(type)) NotifyClaimable(tx, type, 1);
  return Cascade(tx, updated[0]);
}

}  // namespace

PgStore::PgStore(Pool& pool, PgStoreOptions options)
    : pool_(pool),
      options_(std::move(options)),
      completed_reports_(
          options_.batch_max, options_.batches_in_flight,
          [this](const std::string&, const std::vector<std::string>& ids) { return ReportCompletedBatch(ids); }),
      claims_(
          options_.batch_max, options_.batches_in_flight,
          [this](const std::string&, const std::vector<std::string>& stage_types) { return ClaimBatch(stage_types); }) {
}

// ---------------------------------------------------------------- jobs

Result<domain::Job> PgStore::CreateJob(const domain::NewJob& job, const TraceDefaults& trace) {
  return RunTransaction<domain::Job>(pool_, "CreateJob", [&](pqxx::work& tx) -> Result<domain::Job> {
    const auto& traceparent = job.traceparent ? *job.traceparent : trace.traceparent;
    const auto& tracestate = job.traceparent ? job.tracestate : (job.tracestate ? job.tracestate : trace.tracestate);
    auto created =
        ReadJob(tx.exec_prepared1("JobInsert", job.name, job.data, job.user_metadata, PriorityValue(job.priority),
                                  traceparent, tracestate, OptTimeParam(job.not_before)));
    if (job.stages) {
      created.stages.emplace();
      for (const auto& stage : *job.stages) {
        created.stages->push_back(InsertStage(tx, created, stage, trace, TaskRows::kNotReturned));
      }
    }
    return created;
  });
}

Result<std::vector<domain::Job>> PgStore::FindJobs(const domain::JobFilter& f) {
  return RunTransaction<std::vector<domain::Job>>(
      pool_, "FindJobs", [&](pqxx::work& tx) -> Result<std::vector<domain::Job>> {
        std::optional<int> priority;
        if (f.priority) priority = PriorityValue(*f.priority);
        std::vector<domain::Job> jobs;
        const auto rows =
            tx.exec_prepared("JobFind", f.name, priority, OptTimeParam(f.from_date), OptTimeParam(f.end_date));
        const JobColumns columns(rows);
        for (const auto& row : rows) jobs.push_back(ReadJob(row, columns));
        if (f.with_stages) AttachStages(tx, jobs);
        return jobs;
      });
}

Result<ListPage<domain::Job>> PgStore::ListJobs(const domain::JobFilter& f, const ListRange& range) {
  using Page = ListPage<domain::Job>;
  return RunTransaction<Page>(pool_, "ListJobs", [&](pqxx::work& tx) -> Result<Page> {
    std::optional<int> priority;
    if (f.priority) priority = PriorityValue(*f.priority);
    std::optional<std::string> status;
    if (f.status) status = std::string(domain::ToString(*f.status));
    Page page;
    const auto rows =
        tx.exec_prepared("JobPage", f.name, priority, OptTimeParam(f.from_date), OptTimeParam(f.end_date), status,
                         AfterTime(range), AfterId(range), range.limit, range.offset, f.name_contains);
    const JobColumns columns(rows);
    const Column cursor = rows.column_number("cursor_time");
    for (const auto& row : rows) {
      page.items.push_back(ReadJob(row, columns));
      page.keys.push_back({row[cursor].as<std::int64_t>(), page.items.back().id, 0});
    }
    if (f.with_stages) AttachStages(tx, page.items);
    if (f.with_task_summary) AttachTaskSummaries(tx, page.items);
    return page;
  });
}

Result<domain::Job> PgStore::GetJob(const std::string& id, StageDetail stages, SummaryDetail summary) {
  return RunTransaction<domain::Job>(pool_, "GetJob", [&](pqxx::work& tx) -> Result<domain::Job> {
    auto job = LoadJob(tx, "JobGet", id);
    if (!job) return JobNotFound(id);
    if (stages == StageDetail::kStages || summary == SummaryDetail::kTaskSummary) {
      std::vector<domain::Job> one{std::move(*job)};
      if (stages == StageDetail::kStages) AttachStages(tx, one);
      if (summary == SummaryDetail::kTaskSummary) AttachTaskSummaries(tx, one);
      return std::move(one[0]);
    }
    return std::move(*job);
  });
}

Status PgStore::DeleteJob(const std::string& id) {
  return RunTransaction<bool>(
             pool_, "DeleteJob",
             [&](pqxx::work& tx) -> Result<bool> {
               auto job = LoadJob(tx, "JobGetForUpdate", id);
               if (!job) return JobNotFound(id);
               if (!domain::IsFinal(job->status)) {
                 return Status(ErrorCode::kJobNotInFiniteState,
                               fmt::format("Job {} is {}; only a COMPLETED, FAILED or ABORTED job can be deleted", id,
                                           domain::ToString(job->status)));
               }
               tx.exec_prepared0("JobDelete", id);
               return true;
             })
      .status();
}

Status PgStore::SetJobUserMetadata(const std::string& id, const std::string& metadata_json) {
  return RunTransaction<bool>(pool_, "SetJobUserMetadata",
                              [&](pqxx::work& tx) -> Result<bool> {
                                if (tx.exec_prepared("JobSetUserMetadata", id, metadata_json).affected_rows() == 0)
                                  return JobNotFound(id);
                                return true;
                              })
      .status();
}

Result<bool> PgStore::SetJobPriority(const std::string& id, domain::Priority priority) {
  return RunTransaction<bool>(pool_, "SetJobPriority", [&](pqxx::work& tx) -> Result<bool> {
    auto job = LoadJob(tx, "JobGetForUpdate", id);
    if (!job) return JobNotFound(id);
    if (job->priority == priority) return false;
    tx.exec_prepared0("JobSetPriority", id, PriorityValue(priority));
    tx.exec_prepared0("TaskSetPriorityForJob", id, PriorityValue(priority));
    RecordEvent(tx, id,
                {domain::kEventEntityJob, id, domain::kEventKindPriority, std::string(domain::ToString(job->priority)),
                 std::string(domain::ToString(priority)), std::nullopt, std::nullopt});
    return true;
  });
}

Status PgStore::SetJobStatus(const std::string& id, JobStatus requested) {
  return RunTransaction<bool>(
             pool_, "SetJobStatus",
             [&](pqxx::work& tx) -> Result<bool> {
               auto job = LoadJob(tx, "JobGetForUpdate", id);
               if (!job) return JobNotFound(id);
               if (!domain::ClientMayRequest(requested) || !domain::CanTransition(job->status, requested)) {
                 return domain::IllegalTransition(job->status, requested);
               }
               JobStatus status = requested;
               if (job->status == JobStatus::kPaused && status == JobStatus::kPending) {
                 // A resumed job whose stages all completed is done (domain::JobAfterResume).
                 auto counts = tx.exec_prepared1("JobRefreshPercentage", id);
                 status = domain::JobAfterResume(counts[0].as<std::int64_t>(), counts[1].as<std::int64_t>());
               }
               tx.exec_prepared0("JobSetStatus", id, std::string(domain::ToString(job->status)),
                                 std::string(domain::ToString(status)));
               RecordEvent(
                   tx, id,
                   StatusEvent(domain::kEventEntityJob, id, job->status, status,
                               status == requested ? std::nullopt
                                                   : std::optional<std::string>("resumed with every stage completed")));
               // Aborts the unfinished stages, recording each (after the job's event).
               if (status == JobStatus::kAborted) tx.exec_prepared0("StageAbortForJob", id, CurrentActor());
               if (domain::IsActive(status)) {
                 tx.exec_prepared("TaskSetReadyForJob", id);  // notifies
               } else {
                 tx.exec_prepared0("TaskClearReadyForJob", id);
               }
               return true;
             })
      .status();
}

// ---- Re-running failed work (docs/design.md, "Re-running failed work")

Result<domain::Job> PgStore::RetryJob(const std::string& id) {
  return RunTransaction<domain::Job>(pool_, "RetryJob", [&](pqxx::work& tx) -> Result<domain::Job> {
    // Lock order everywhere: job, then stage, then task.
    auto job = LoadJob(tx, "JobGetForUpdate", id);
    if (!job) return JobNotFound(id);
    JOBNIK_ASSIGN_OR_RETURN(const JobStatus after, domain::JobAfterRetry(id, job->status));
    const std::string reason = "retry of the job requested";
    RecordEvent(tx, id, StatusEvent(domain::kEventEntityJob, id, job->status, after, reason));
    for (const auto& row : tx.exec_prepared("StageFailedOfJob", id)) {
      const auto stage_id = row["id"].as<std::string>();
      RecordEvent(
          tx, id,
          StatusEvent(domain::kEventEntityStage, stage_id, StageStatus::kFailed, StageStatus::kInProgress, reason));
      tx.exec_prepared1("TaskReopenFailed", stage_id, std::optional<std::string>{},
                        std::string(domain::ToString(StageStatus::kInProgress)), id, reason, CurrentActor());
    }
    tx.exec_prepared0("JobSetStatus", id, std::string(domain::ToString(job->status)),
                      std::string(domain::ToString(after)));
    tx.exec_prepared("TaskSetReadyForJob", id);  // notifies
    return LoadJob(tx, "JobGet", id).value();
  });
}

Result<domain::Task> PgStore::RetryTask(const std::string& id) {
  return RunTransaction<domain::Task>(pool_, "RetryTask", [&](pqxx::work& tx) -> Result<domain::Task> {
    auto first = tx.exec_prepared("TaskGet", id);
    if (first.empty()) return TaskNotFound(id);
    const auto stage_id = ReadTask(first[0]).stage_id;
    // Lock order everywhere: job, then stage, then task.
    auto job_id = StageJobId(tx, stage_id);
    if (!job_id) return TaskNotFound(id);
    auto job = LoadJob(tx, "JobGetForUpdate", *job_id);
    auto stage = LoadStage(tx, "StageGetForUpdate", stage_id);
    auto current = tx.exec_prepared("TaskGetForUpdate", id);
    if (!job || !stage || current.empty()) return TaskNotFound(id);
    const auto task = ReadTask(current[0]);
    JOBNIK_ASSIGN_OR_RETURN(const auto outcome, domain::DecideTaskRetry(id, task.status, stage->status, job->status));
    const std::string reason = "retry of the task requested";
    if (outcome.job != job->status) {
      RecordEvent(tx, *job_id, StatusEvent(domain::kEventEntityJob, *job_id, job->status, outcome.job, reason));
    }
    if (outcome.stage != stage->status) {
      RecordEvent(tx, *job_id, StatusEvent(domain::kEventEntityStage, stage_id, stage->status, outcome.stage, reason));
    }
    tx.exec_prepared1("TaskReopenFailed", stage_id, id, std::string(domain::ToString(outcome.stage)), *job_id, reason,
                      CurrentActor());
    if (outcome.job != job->status) {
      tx.exec_prepared0("JobSetStatus", *job_id, std::string(domain::ToString(job->status)),
                        std::string(domain::ToString(outcome.job)));
    }
    if (domain::TasksClaimable(outcome.job, outcome.stage)) {
      tx.exec_prepared("TaskSetReadyForStage", stage_id);  // notifies
    }
    return ReadTask(tx.exec_prepared1("TaskGet", id));
  });
}

namespace {

domain::JobEvent EventOf(const pqxx::row& row) {
  domain::JobEvent e;
  e.id = row["id"].as<std::int64_t>();
  e.time = ParsePgTime(row["time"].c_str());
  e.job_id = row["job_id"].as<std::string>();
  e.entity = row["entity"].as<std::string>();
  e.entity_id = row["entity_id"].as<std::string>();
  e.kind = row["kind"].as<std::string>();
  e.old_value = row["old_value"].get<std::string>();
  e.new_value = row["new_value"].as<std::string>();
  e.reason = row["reason"].get<std::string>();
  e.actor = row["actor"].get<std::string>();
  e.worker_id = row["worker_id"].get<std::string>();
  return e;
}

}  // namespace

Result<ListPage<domain::JobEvent>> PgStore::ListJobEvents(const std::string& job_id, const ListRange& range) {
  using Page = ListPage<domain::JobEvent>;
  return RunTransaction<Page>(pool_, "ListJobEvents", [&](pqxx::work& tx) -> Result<Page> {
    if (!LoadJob(tx, "JobGet", job_id)) return JobNotFound(job_id);
    Page page;
    const auto rows = tx.exec_prepared("EventPage", job_id, AfterTime(range), range.limit);
    for (const auto& row : rows) {
      page.items.push_back(EventOf(row));
      page.keys.push_back({page.items.back().id, "", 0});
    }
    return page;
  });
}

Result<std::vector<domain::JobEvent>> PgStore::JobEventsAfter(const std::string& job_id, std::int64_t after_id,
                                                              int limit) {
  using Events = std::vector<domain::JobEvent>;
  return RunTransaction<Events>(pool_, "JobEventsAfter", [&](pqxx::work& tx) -> Result<Events> {
    Events events;
    for (const auto& row : tx.exec_prepared("EventsAfter", job_id, after_id, limit)) events.push_back(EventOf(row));
    return events;
  });
}

// ---------------------------------------------------------------- stages

Result<domain::Stage> PgStore::AddStage(const std::string& job_id, const domain::NewStage& stage,
                                        const TraceDefaults& trace) {
  return RunTransaction<domain::Stage>(pool_, "AddStage", [&](pqxx::work& tx) -> Result<domain::Stage> {
    auto job = LoadJob(tx, "JobGetForUpdate", job_id);
    if (!job) return JobNotFound(job_id);
    if (domain::IsFinal(job->status)) {
      return Status(ErrorCode::kJobInFiniteState, fmt::format("Job {} is {}; stages cannot be added to a finished job",
                                                              job_id, domain::ToString(job->status)));
    }
    auto created = InsertStage(tx, *job, stage, trace, TaskRows::kReturned);
    tx.exec_prepared("JobRefreshPercentage", job_id);
    return created;
  });
}

Result<std::vector<domain::Stage>> PgStore::GetStagesOfJob(const std::string& job_id, TaskDetail tasks) {
  using Stages = std::vector<domain::Stage>;
  return RunTransaction<Stages>(pool_, "GetStagesOfJob", [&](pqxx::work& tx) -> Result<Stages> {
    if (!LoadJob(tx, "JobGet", job_id)) return JobNotFound(job_id);
    Stages stages;
    const auto rows = tx.exec_prepared("StageListForJobs", UuidArray({job_id}));
    const StageColumns columns(rows);
    for (const auto& row : rows) stages.push_back(ReadStage(row, columns));
    if (tasks == TaskDetail::kTasks) AttachTasks(tx, stages);
    return stages;
  });
}

Result<std::vector<domain::Stage>> PgStore::FindStages(const domain::StageFilter& f) {
  using Stages = std::vector<domain::Stage>;
  return RunTransaction<Stages>(pool_, "FindStages", [&](pqxx::work& tx) -> Result<Stages> {
    std::optional<std::string> status;
    if (f.status) status = std::string(domain::ToString(*f.status));
    Stages stages;
    const auto rows = tx.exec_prepared("StageFind", f.job_id, f.type, status);
    const StageColumns columns(rows);
    for (const auto& row : rows) stages.push_back(ReadStage(row, columns));
    if (f.with_tasks) AttachTasks(tx, stages);
    return stages;
  });
}

Result<ListPage<domain::Stage>> PgStore::ListStages(const domain::StageFilter& f, const ListRange& range) {
  using Page = ListPage<domain::Stage>;
  return RunTransaction<Page>(pool_, "ListStages", [&](pqxx::work& tx) -> Result<Page> {
    std::optional<std::string> status;
    if (f.status) status = std::string(domain::ToString(*f.status));
    std::optional<int> order;
    if (range.after) order = static_cast<int>(range.after->order);
    Page page;
    const auto rows = tx.exec_prepared("StagePage", f.job_id, f.type, status, AfterTime(range), AfterId(range), order,
                                       range.limit, range.offset);
    const StageColumns columns(rows);
    const Column cursor = rows.column_number("cursor_time");
    for (const auto& row : rows) {
      page.items.push_back(ReadStage(row, columns));
      const auto& s = page.items.back();
      page.keys.push_back({row[cursor].as<std::int64_t>(), s.job_id, s.order});
    }
    if (f.with_tasks) AttachTasks(tx, page.items);
    return page;
  });
}

Result<domain::Stage> PgStore::GetStage(const std::string& id, TaskDetail tasks) {
  return RunTransaction<domain::Stage>(pool_, "GetStage", [&](pqxx::work& tx) -> Result<domain::Stage> {
    auto stage = LoadStage(tx, "StageGet", id);
    if (!stage) return StageNotFound(id);
    if (tasks == TaskDetail::kTasks) {
      std::vector<domain::Stage> one{std::move(*stage)};
      AttachTasks(tx, one);
      return std::move(one[0]);
    }
    return std::move(*stage);
  });
}

Result<domain::Summary> PgStore::GetStageSummary(const std::string& id) {
  JOBNIK_ASSIGN_OR_RETURN(auto stage, GetStage(id));
  return stage.summary;
}

Status PgStore::SetStageUserMetadata(const std::string& id, const std::string& metadata_json) {
  return RunTransaction<bool>(pool_, "SetStageUserMetadata",
                              [&](pqxx::work& tx) -> Result<bool> {
                                if (tx.exec_prepared("StageSetUserMetadata", id, metadata_json).affected_rows() == 0) {
                                  return StageNotFound(id);
                                }
                                return true;
                              })
      .status();
}

Status PgStore::SetStageStatus(const std::string& id, StageStatus status) {
  return RunTransaction<bool>(
             pool_, "SetStageStatus",
             [&](pqxx::work& tx) -> Result<bool> {
               // Lock order everywhere: job, then stage, then task.
               auto job_id = StageJobId(tx, id);
               if (!job_id) return StageNotFound(id);
               auto job = LoadJob(tx, "JobGetForShare", *job_id);
               auto stage = LoadStage(tx, "StageGetForUpdate", id);
               if (!job || !stage) return StageNotFound(id);
               if (stage->status == status) return true;  // SPEC A.3.7: same status is a no-op
               if (!domain::CanTransition(stage->status, status)) {
                 return domain::IllegalTransition(stage->status, status);
               }
               if (stage->order > 1) {
                 auto previous = tx.exec_prepared("StageGetPrevious", stage->job_id, stage->order);
                 if (!previous.empty() && previous[0]["status"].as<std::string>() != "COMPLETED") {
                   return Status(
                       ErrorCode::kIllegalStageStatusTransition,
                       fmt::format("Illegal status transition from {} to {}: the previous stage (order {}) is "
                                   "{}, not COMPLETED",
                                   domain::ToString(stage->status), domain::ToString(status), stage->order - 1,
                                   previous[0]["status"].as<std::string>()));
                 }
               }
               tx.exec_prepared0("StageSetStatus", id, std::string(domain::ToString(stage->status)),
                                 std::string(domain::ToString(status)));
               RecordEvent(tx, stage->job_id, StatusEvent(domain::kEventEntityStage, id, stage->status, status));
               if (domain::IsActive(status) && domain::IsActive(job->status)) {
                 tx.exec_prepared("TaskSetReadyForStage", id);  // notifies
               }
               return true;
             })
      .status();
}

// ---------------------------------------------------------------- tasks

Result<std::vector<domain::Task>> PgStore::GetTasksOfStage(const std::string& stage_id) {
  using Tasks = std::vector<domain::Task>;
  return RunTransaction<Tasks>(pool_, "GetTasksOfStage", [&](pqxx::work& tx) -> Result<Tasks> {
    if (!StageJobId(tx, stage_id)) return StageNotFound(stage_id);
    Tasks tasks;
    const auto rows = tx.exec_prepared("TaskListForStages", UuidArray({stage_id}));
    const TaskColumns columns(rows);
    for (const auto& row : rows) tasks.push_back(ReadTask(row, columns));
    return tasks;
  });
}

Result<std::vector<domain::Task>> PgStore::AddTasks(const std::string& stage_id,
                                                    const std::vector<domain::NewTask>& tasks,
                                                    const TraceDefaults& trace) {
  using Tasks = std::vector<domain::Task>;
  return RunTransaction<Tasks>(pool_, "AddTasks", [&](pqxx::work& tx) -> Result<Tasks> {
    // Lock order everywhere: job, then stage, then task.
    auto job_id = StageJobId(tx, stage_id);
    if (!job_id) return StageNotFound(stage_id);
    auto job = LoadJob(tx, "JobGetForShare", *job_id);
    auto stage = LoadStage(tx, "StageGetForUpdate", stage_id);
    if (!job || !stage) return StageNotFound(stage_id);
    if (domain::IsFinal(stage->status)) {
      return Status(ErrorCode::kStageInFiniteState,
                    fmt::format("Stage {} is {}; tasks cannot be added to a finished stage", stage_id,
                                domain::ToString(stage->status)));
    }
    if (stage->status == StageStatus::kInProgress) {
      return Status(ErrorCode::kNotAllowedToAddTasksToInProgressStage,
                    fmt::format("Stage {} is IN_PROGRESS; tasks cannot be added to a stage in progress", stage_id));
    }
    Tasks created;
    if (tasks.empty()) return created;
    const bool ready = domain::TasksClaimable(job->status, stage->status);
    auto rows = InsertTasks(tx, stage_id, stage->type, PriorityValue(job->priority), ready,
                            StartFloor(job->not_before, stage->not_before), tasks, trace, TaskRows::kReturned);
    created.reserve(rows.size());
    const TaskColumns columns(rows);
    const Column seq_column = rows.column_number("seq");
    std::vector<std::pair<std::int64_t, std::size_t>> order;
    for (const auto& row : rows) {
      order.emplace_back(row[seq_column].as<std::int64_t>(), created.size());
      created.push_back(ReadTask(row, columns));
    }
    const auto added = static_cast<std::int64_t>(tasks.size());
    tx.exec_prepared0(
        "StageAddTotal", stage_id, added,
        domain::StagePercentage({stage->summary.total() + added, stage->summary.completed, stage->summary.failed}));
    // RETURNING does not promise an order: put the tasks back in the request's order.
    std::sort(order.begin(), order.end());
    Tasks sorted;
    sorted.reserve(created.size());
    for (const auto& [seq, index] : order) sorted.push_back(std::move(created[index]));
    return sorted;
  });
}

Result<std::vector<domain::Task>> PgStore::FindTasks(const domain::TaskFilter& f) {
  using Tasks = std::vector<domain::Task>;
  return RunTransaction<Tasks>(pool_, "FindTasks", [&](pqxx::work& tx) -> Result<Tasks> {
    std::optional<std::string> status;
    if (f.status) status = std::string(domain::ToString(*f.status));
    Tasks tasks;
    const auto rows = tx.exec_prepared("TaskFind", f.stage_id, f.stage_type, status, OptTimeParam(f.from_date),
                                       OptTimeParam(f.end_date));
    const TaskColumns columns(rows);
    for (const auto& row : rows) tasks.push_back(ReadTask(row, columns));
    return tasks;
  });
}

Result<ListPage<domain::Task>> PgStore::ListTasks(const domain::TaskFilter& f, const ListRange& range) {
  using Page = ListPage<domain::Task>;
  return RunTransaction<Page>(pool_, "ListTasks", [&](pqxx::work& tx) -> Result<Page> {
    std::optional<std::string> status;
    if (f.status) status = std::string(domain::ToString(*f.status));
    Page page;
    const auto rows = tx.exec_prepared(f.stage_id ? "TaskPageOfStage" : "TaskPage", f.stage_id, f.stage_type, status,
                                       OptTimeParam(f.from_date), OptTimeParam(f.end_date), AfterTime(range),
                                       range.limit, range.offset);
    const TaskColumns columns(rows);
    const Column seq = rows.column_number("seq");
    for (const auto& row : rows) {
      page.items.push_back(ReadTask(row, columns));
      page.keys.push_back({row[seq].as<std::int64_t>(), {}, 0});
    }
    return page;
  });
}

Result<domain::Task> PgStore::GetTask(const std::string& id) {
  return RunTransaction<domain::Task>(pool_, "GetTask", [&](pqxx::work& tx) -> Result<domain::Task> {
    auto r = tx.exec_prepared("TaskGet", id);
    if (r.empty()) return TaskNotFound(id);
    return ReadTask(r[0]);
  });
}

Status PgStore::SetTaskUserMetadata(const std::string& id, const std::string& metadata_json) {
  return RunTransaction<bool>(pool_, "SetTaskUserMetadata",
                              [&](pqxx::work& tx) -> Result<bool> {
                                if (tx.exec_prepared("TaskSetUserMetadata", id, metadata_json).affected_rows() == 0)
                                  return TaskNotFound(id);
                                return true;
                              })
      .status();
}

Result<ClaimedTask> PgStore::ClaimTask(const std::string& stage_type, const ClaimOptions& options) {
  return claims_.Submit("", EncodeClaim(stage_type, options));
}

std::vector<Result<ClaimedTask>> PgStore::ClaimBatch(const std::vector<std::string>& entries) {
  // The batch's distinct types, in order of first request, each with how many wait and
  // the options of each of those requests, in order ("{}" for none).
  struct Wanted {
    std::string type;
    int count = 0;
    std::vector<std::string> options;
  };
  std::vector<Wanted> wanted;
  std::vector<std::string> stage_types;
  stage_types.reserve(entries.size());
  for (const auto& entry : entries) {
    auto decoded = DecodeClaim(entry);
    std::string type = std::move(decoded.first), options = std::move(decoded.second);
    auto it = std::find_if(wanted.begin(), wanted.end(), [&](const auto& w) { return w.type == type; });
    if (it == wanted.end()) it = wanted.insert(wanted.end(), Wanted{type, 0, {}});
    ++it->count;
    it->options.push_back(options.empty() ? "{}" : std::move(options));
    stage_types.push_back(std::move(type));
  }
  // Claimed tasks per type, in claim order; one statement (and commit) per kMaxClaimTypes.
  std::map<std::string, std::deque<ClaimedTask>> claimed;
  std::map<std::string, Status> failed;
  std::map<std::string, int> limited_free;  // limited types: free slots before the claim
  for (std::size_t from = 0; from < wanted.size(); from += kMaxClaimTypes) {
    const std::size_t count = std::min(kMaxClaimTypes, wanted.size() - from);
    std::vector<std::string> params;
    params.reserve(2 * count + 1);
    // The options per branch ({options} in TaskClaim): "[]" when no request has any.
    bool any_options = false;
    std::string options = "[";
    for (std::size_t i = from; i < from + count; ++i) {
      params.push_back(wanted[i].type);
      params.push_back(std::to_string(wanted[i].count));
      options += i > from ? ",[" : "[";
      for (std::size_t k = 0; k < wanted[i].options.size(); ++k) {
        if (k) options += ',';
        options += wanted[i].options[k];
        any_options = any_options || wanted[i].options[k] != "{}";
      }
      options += ']';
    }
    params.push_back(any_options ? options + "]" : "[]");
    auto rows = RunTransaction<std::vector<std::pair<int, ClaimedTask>>, pqxx::nontransaction>(
        pool_, "ClaimTasks",
        [&](pqxx::nontransaction& tx) -> Result<std::vector<std::pair<int, ClaimedTask>>> {
          std::vector<std::pair<int, ClaimedTask>> out;
          const auto result = tx.exec_prepared(ClaimStatementName(count), pqxx::prepare::make_dynamic_params(params));
          const TaskColumns columns(result);
          const Column job_id = result.column_number("job_id"), branch = result.column_number("branch");
          // The claim's two EXISTS columns (both named "exists") follow job_id: whether it
          // started the task's stage, and its job.
          const Column stage_started = job_id + 1, job_started = job_id + 2;
          const Column limited_type = result.column_number("limited_type"), free = result.column_number("free");
          for (const auto& row : result) {
            if (!row[limited_type].is_null()) {  // a limited type's free slots (ClaimSlots)
              limited_free[row[limited_type].as<std::string>()] = row[free].as<int>();
              continue;
            }
            ClaimedTask d;
            d.task = ReadTask(row, columns);
            d.job_id = row[job_id].as<std::string>();
            d.stage_started = row[stage_started].as<bool>();
            d.job_started = row[job_started].as<bool>();
            out.emplace_back(row[branch].as<int>(), std::move(d));
          }
          return out;
        },
        Plans::kGeneric);
    if (!rows.ok()) {
      for (std::size_t i = from; i < from + count; ++i) failed.emplace(wanted[i].type, rows.status());
      continue;
    }
    for (auto& [branch, d] : *rows) claimed[wanted[from + branch - 1].type].push_back(std::move(d));
  }
  for (const auto& limited : limited_free) {
    const std::string& type = limited.first;
    const int free = limited.second;
    const auto w = std::find_if(wanted.begin(), wanted.end(), [&](const auto& x) { return x.type == type; });
    // Requests beyond the free slots were refused by the limit (when the claim took every
    // free slot: with fewer tasks than slots, the lack of tasks refused them).
    if (w != wanted.end() && w->count > free && static_cast<int>(claimed[type].size()) == free) {
      NoteLimited(type, w->count - free);
    }
  }
  // Requests get the tasks of their type in claim order (the oldest request the first
  // task). The first claim of a stage (job) reports having started it; the others do not.
  std::vector<Result<ClaimedTask>> results;
  results.reserve(stage_types.size());
  std::set<std::string> stages_seen, jobs_seen;
  for (const auto& type : stage_types) {
    if (auto f = failed.find(type); f != failed.end()) {
      results.emplace_back(f->second);
      continue;
    }
    auto& queue = claimed[type];
    if (queue.empty()) {
      const auto limited = limited_free.find(type);
      results.emplace_back(Status(
          ErrorCode::kTaskNotFound,
          limited != limited_free.end() && limited->second < std::count(stage_types.begin(), stage_types.end(), type)
              ? fmt::format("No claimable task of stage type '{}': it is at its concurrency limit", type)
              : fmt::format("No claimable task of stage type '{}'", type)));
      continue;
    }
    ClaimedTask d = std::move(queue.front());
    queue.pop_front();
    d.stage_started = d.stage_started && stages_seen.insert(d.task.stage_id).second;
    d.job_started = d.job_started && jobs_seen.insert(d.job_id).second;
    results.emplace_back(std::move(d));
  }
  return results;
}

Result<std::vector<ClaimedTask>> PgStore::ClaimTasks(const std::vector<std::string>& stage_types, int limit,
                                                     const ClaimOptions& options) {
  if (stage_types.empty() || stage_types.size() > kMaxClaimTypes ||
      std::set<std::string>(stage_types.begin(), stage_types.end()).size() != stage_types.size()) {
    return domain::ValidationError(fmt::format("stageTypes must hold 1 to {} distinct stage types", kMaxClaimTypes));
  }
  if (limit < 1) return domain::ValidationError("limit must be at least 1");
  if (stage_types.size() == 1 && static_cast<std::size_t>(limit) <= options_.batch_max) {
    // A few tasks of one type are `limit` dequeues of it: they join the dequeues' group
    // commit (with the claims under way, in the next transaction) instead of being one
    // transaction and commit more.
    auto results = claims_.SubmitMany(
        "", std::vector<std::string>(static_cast<std::size_t>(limit), EncodeClaim(stage_types.front(), options)));
    std::vector<ClaimedTask> out;
    Status error;
    for (auto& r : results) {
      if (r.ok()) {
        out.push_back(std::move(r).value());
      } else if (r.status().code() != ErrorCode::kTaskNotFound && error.ok()) {
        error = r.status();
      }
    }
    // A failure only when nothing was claimed: claimed tasks are never dropped.
    if (out.empty() && !error.ok()) return error;
    return out;
  }
  std::vector<std::optional<std::string>> params(stage_types.begin(), stage_types.end());
  params.emplace_back(std::to_string(limit));
  params.push_back(options.worker_id);
  params.push_back(options.lease_seconds ? std::optional<std::string>(std::to_string(*options.lease_seconds))
                                         : std::nullopt);
  std::map<std::string, int> limited_free;  // limited types: free slots before the claim
  auto claimed = RunTransaction<std::vector<ClaimedTask>, pqxx::nontransaction>(
      pool_, "ClaimTasks",
      [&](pqxx::nontransaction& tx) -> Result<std::vector<ClaimedTask>> {
        limited_free.clear();
        std::vector<ClaimedTask> out;
        const auto result =
            tx.exec_prepared(ClaimManyStatementName(stage_types.size()), pqxx::prepare::make_dynamic_params(params));
        const TaskColumns columns(result);
        const Column job_id = result.column_number("job_id");
        const Column stage_started = job_id + 1, job_started = job_id + 2;  // the two EXISTS columns
        const Column limited_type = result.column_number("limited_type"), free = result.column_number("free");
        out.reserve(result.size());
        std::set<std::string> stages_seen, jobs_seen;
        for (const auto& row : result) {
          if (!row[limited_type].is_null()) {  // a limited type's free slots (ClaimSlots)
            limited_free.emplace(row[limited_type].as<std::string>(), row[free].as<int>());
            continue;
          }
          ClaimedTask d;
          d.task = ReadTask(row, columns);
          d.job_id = row[job_id].as<std::string>();
          // The first claim of a stage (job) reports having started it; the others do not.
          d.stage_started = row[stage_started].as<bool>() && stages_seen.insert(d.task.stage_id).second;
          d.job_started = row[job_started].as<bool>() && jobs_seen.insert(d.job_id).second;
          out.push_back(std::move(d));
        }
        return out;
      },
      Plans::kGeneric);
  if (claimed.ok() && static_cast<int>(claimed->size()) < limit) {
    // A limited type with fewer free slots than the limit may have held back tasks the
    // claim would have taken: counted as one request cut short by that type's limit.
    for (const auto& [type, free] : limited_free) {
      if (free < limit) NoteLimited(type, 1);
    }
  }
  return claimed;
}

std::vector<Result<TaskReport>> PgStore::ReportTasks(const std::vector<TaskUpdate>& updates) {
  std::vector<std::optional<Result<TaskReport>>> results(updates.size());
  // COMPLETED reports go into the completions' group commit together (so that concurrent
  // batch reports share transactions, as single reports do); the others are one
  // transaction each, as ReportTask runs them.
  std::vector<std::string> completions;
  std::vector<std::size_t> completion_index;
  for (std::size_t i = 0; i < updates.size(); ++i) {
    const auto& u = updates[i];
    if (!domain::IsUuid(u.id)) {
      results[i].emplace(TaskNotFound(u.id));
    } else if (u.options.claim_id && !domain::IsUuid(*u.options.claim_id)) {
      results[i].emplace(ClaimMismatch(u.id, *u.options.claim_id));
    } else if (u.status == TaskStatus::kCompleted) {
      completions.push_back(u.options.claim_id ? ascii::ToLower(u.id) + ' ' + ascii::ToLower(*u.options.claim_id)
                                               : ascii::ToLower(u.id));
      completion_index.push_back(i);
    } else {
      results[i].emplace(ReportTask(u.id, u.status, u.options));
    }
  }
  if (!completions.empty()) {
    auto done = completed_reports_.SubmitMany("", std::move(completions));
    for (std::size_t k = 0; k < done.size(); ++k) results[completion_index[k]].emplace(std::move(done[k]));
  }
  std::vector<Result<TaskReport>> out;
  out.reserve(updates.size());
  for (auto& r : results) out.push_back(std::move(*r));
  return out;
}

Result<TaskReport> PgStore::ReportTask(const std::string& id, TaskStatus status, const ReportOptions& options) {
  ReportOptions normal = options;
  if (normal.claim_id) normal.claim_id = ascii::ToLower(*normal.claim_id);
  if (status == TaskStatus::kCompleted) {
    return completed_reports_.Submit(
        "", normal.claim_id ? ascii::ToLower(id) + ' ' + *normal.claim_id : ascii::ToLower(id));
  }
  const auto limited = LimitedTypes();
  return RunTransaction<TaskReport>(pool_, "ReportTask", [&](pqxx::work& tx) -> Result<TaskReport> {
    return ReportTaskInTx(tx, id, status, normal, nullptr, limited.get());
  });
}

Result<Heartbeat> PgStore::HeartbeatTask(const std::string& id, const std::optional<std::string>& claim_id,
                                         int lease_seconds) {
  std::optional<std::string> claim;
  if (claim_id) claim = ascii::ToLower(*claim_id);
  auto beat = RunTransaction<std::optional<Heartbeat>, pqxx::nontransaction>(
      pool_, "HeartbeatTask", [&](pqxx::nontransaction& tx) -> Result<std::optional<Heartbeat>> {
        auto rows = tx.exec_prepared("TaskHeartbeat", id, claim, lease_seconds);
        if (rows.empty()) return std::optional<Heartbeat>{};
        return std::optional<Heartbeat>(
            Heartbeat{rows[0]["claim_id"].is_null() ? "" : rows[0]["claim_id"].c_str(),  // NULL: claimed before 0003
                      ParsePgTime(rows[0]["lease_expires_at"].c_str())});
      });
  if (!beat.ok()) return beat.status();
  if (*beat) return std::move(**beat);
  // Refused: say why (a read, on the refusal path only).
  return RunTransaction<Heartbeat>(pool_, "HeartbeatRefused", [&](pqxx::work& tx) -> Result<Heartbeat> {
    auto rows = tx.exec_prepared("TaskHeartbeatRefused", id);
    if (rows.empty()) return TaskNotFound(id);
    const auto status = domain::ParseTaskStatus(rows[0]["status"].c_str()).value();
    const auto current =
        rows[0]["claim_id"].is_null() ? std::nullopt : std::optional<std::string>(rows[0]["claim_id"].c_str());
    if (status != TaskStatus::kInProgress) {
      return Status(ErrorCode::kTaskClaimMismatch,
                    fmt::format("Task {} is {}, no longer IN_PROGRESS under a claim; its lease cannot be extended", id,
                                domain::ToString(status)));
    }
    if (claim && current != claim) return ClaimMismatch(id, *claim);
    const auto job_status = domain::ParseJobStatus(rows[0]["job_status"].c_str()).value();
    if (!domain::IsActive(job_status)) {
      return Status(ErrorCode::kJobNotActive, fmt::format("The job of task {} is {}; stop working on the task", id,
                                                          domain::ToString(job_status)));
    }
    return Conflict(id);  // changed between the two statements: the caller may retry
  });
}

// ---------------------------------------------------------------- group commit of completions
//
// Every completion writes its stage's counter row, and a row lock is held until commit:
// with many workers on one stage, completions would queue on that row one commit at a
// time. Instead, COMPLETED reports that arrive while a batch is being committed wait for
// the next batch, and a batch is one transaction: one guarded update of all its tasks,
// one counter update per stage (+n), the cascades, one commit. A report that arrives when
// nothing is in flight is committed at once, so batching adds no latency at low load.
// Each report's change is still all or nothing: a batch that fails, fails every report
// in it and leaves nothing behind. Claims are grouped the same way (ClaimBatch): one
// statement, one commit, for all the claims waiting, whatever their stage types.

// GCC 12 reports a false "maybe-uninitialized" for moving a Result (a std::variant) into
// the vector below (a known variant diagnostic bug); silenced for this function only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
std::vector<Result<TaskReport>> PgStore::ReportCompletedBatch(const std::vector<std::string>& entries) {
  using Results = std::vector<Result<TaskReport>>;
  auto results = CompleteInOneTransaction(entries);
  if (results.ok()) return std::move(results).value();
  if (entries.size() == 1) return Results(1, results.status());
  // A database error failed the whole transaction: one report in it may be poison (it
  // fails whatever its neighbours). Retry in halves, so that the others still commit and
  // only the poison gets the error: about 2 log2(n) transactions for one poison entry.
  spdlog::warn("a batch of {} completions failed ({}); retrying it in halves", entries.size(),
               results.status().message());
  const auto half = static_cast<std::ptrdiff_t>(entries.size() / 2);
  Results out = ReportCompletedBatch(std::vector<std::string>(entries.begin(), entries.begin() + half));
  Results rest = ReportCompletedBatch(std::vector<std::string>(entries.begin() + half, entries.end()));
  for (auto& r : rest) out.push_back(std::move(r));
  return out;
}

Result<std::vector<Result<TaskReport>>> PgStore::CompleteInOneTransaction(const std::vector<std::string>& entries) {
  using Results = std::vector<Result<TaskReport>>;
  // Each entry: a task id, or "id claim" (ReportTask).
  std::vector<std::string> ids;
  std::vector<std::optional<std::string>> claims;
  ids.reserve(entries.size());
  claims.reserve(entries.size());
  for (const auto& e : entries) {
    const auto space = e.find(' ');
    ids.push_back(e.substr(0, space));
    claims.push_back(space == std::string::npos ? std::nullopt : std::optional<std::string>(e.substr(space + 1)));
  }
  const auto limited = LimitedTypes();
  auto results = RunTransaction<Results>(
      pool_, "ReportCompletedTasks",
      [&](pqxx::work& tx) -> Result<Results> {
        struct Done {
          domain::Task task;
          std::string job_id;
          int order = 0;
          StageStatus stage_status = StageStatus::kInProgress;
          std::string stage_type;
        };
        std::map<std::string, Done> done;
        // Tasks are locked in id order, the same in every batch; a task reported twice in
        // one batch is tried under its first report's claim.
        std::map<std::string, std::optional<std::string>> claim_of;
        for (std::size_t i = 0; i < ids.size(); ++i) claim_of.emplace(ids[i], claims[i]);
        std::vector<std::string> sorted;
        std::vector<std::optional<std::string>> sorted_claims;
        for (const auto& [id, claim] : claim_of) {
          sorted.push_back(id);
          sorted_claims.push_back(claim);
        }
        const auto completed = tx.exec_prepared("TaskReportBatch", UuidArray(sorted), OptUuidArray(sorted_claims));
        const TaskColumns columns(completed);
        const CountedColumns counted(completed);
        std::map<std::string, std::int64_t> freed;  // slots of limited types freed, by type
        for (const auto& row : completed) {
          Done d{ReadTask(row, columns), row[counted.job_id].as<std::string>(), row[counted.order].as<int>(),
                 domain::ParseStageStatus(row[counted.stage_status].c_str()).value(),
                 row["stage_type"].as<std::string>()};
          if (!limited->empty() && limited->count(d.stage_type) > 0) ++freed[d.stage_type];
          done.emplace(d.task.id, std::move(d));
        }
        for (const auto& [type, n] : freed) NotifyClaimable(tx, type, n);
        Results out;
        out.reserve(ids.size());
        std::set<std::string> followed;  // the first report of each stage carries its cascade
        for (std::size_t i = 0; i < ids.size(); ++i) {
          const auto& id = ids[i];
          auto it = done.find(id);
          if (it == done.end() || claims[i] != claim_of.at(id)) {
            out.push_back(WhyNotUpdated(tx, id, TaskStatus::kCompleted, claims[i]));
            continue;
          }
          TaskReport report;
          report.task = std::move(it->second.task);
          report.job_id = it->second.job_id;
          report.stage_type = std::move(it->second.stage_type);
          const int order = it->second.order;
          const auto stage_status = it->second.stage_status;
          done.erase(it);  // a second report of the same task in this batch is answered by WhyNotUpdated
          if (followed.insert(report.task.stage_id).second) {
            FollowStage(tx, order, stage_status, TaskStatus::kCompleted, report);
          }
          out.push_back(std::move(report));
        }
        return out;
      },
      Plans::kGeneric);
  return results;
}
#pragma GCC diagnostic pop

namespace {

// The sweeper's failure of one task: exactly the path of a worker's FAILED report, one
// transaction per task, guarded by `check` so that a task reported on, heartbeated or
// claimed again since it was listed is skipped (std::nullopt).
Result<std::optional<TaskReport>> SweepTask(Pool& pool, const std::string& id, const SweepCheck& check,
                                            const std::set<std::string>* limited) {
  auto report = RunTransaction<TaskReport>(pool, "FailStaleTask", [&](pqxx::work& tx) -> Result<TaskReport> {
    return ReportTaskInTx(tx, id, TaskStatus::kFailed, {}, &check, limited);
  });
  if (report.ok()) return std::optional<TaskReport>(std::move(report).value());
  switch (report.status().code()) {
    case ErrorCode::kTaskStatusUpdateFailed:
    case ErrorCode::kIllegalTaskStatusTransition:
    case ErrorCode::kTaskNotFound:
      return std::optional<TaskReport>{};
    default:
      return report.status();
  }
}

// Lists up to `limit` tasks with `statement` (id, claim_id) as of `when`, then fails each
// that is still due (`check`, completed with the claim listed).
Result<std::vector<TaskReport>> Sweep(Pool& pool, const char* statement, domain::Timestamp when, int limit,
                                      SweepCheck check, const std::set<std::string>* limited) {
  using Claims = std::vector<std::pair<std::string, std::string>>;
  auto due = RunTransaction<Claims>(pool, statement, [&](pqxx::work& tx) -> Result<Claims> {
    Claims claims;
    for (const auto& row : tx.exec_prepared(statement, domain::FormatTime(when), limit)) {
      claims.emplace_back(row["id"].as<std::string>(), row["claim_id"].is_null() ? "" : row["claim_id"].c_str());
    }
    return claims;
  });
  if (!due.ok()) return due.status();
  std::vector<TaskReport> reports;
  for (const auto& [id, claim] : *due) {
    check.claim_id = claim.empty() ? std::nullopt : std::optional<std::string>(claim);
    auto report = SweepTask(pool, id, check, limited);
    if (!report.ok()) return report.status();
    if (*report) reports.push_back(std::move(**report));
  }
  return reports;
}

}  // namespace

Result<std::vector<TaskReport>> PgStore::FailStaleTasks(domain::Timestamp cutoff, int limit) {
  return Sweep(pool_, "TaskFindStale", cutoff, limit, SweepCheck{std::nullopt, cutoff, std::nullopt, "stale"},
               LimitedTypes().get());
}

Result<std::vector<TaskReport>> PgStore::FailExpiredLeases(domain::Timestamp now, int limit) {
  return Sweep(pool_, "TaskFindLeaseExpired", now, limit, SweepCheck{std::nullopt, std::nullopt, now, "lease expired"},
               LimitedTypes().get());
}

Result<std::optional<TaskReport>> PgStore::FailStaleTask(const std::string& id, domain::Timestamp cutoff) {
  return SweepTask(pool_, id, SweepCheck{std::nullopt, cutoff, std::nullopt, "stale"}, LimitedTypes().get());
}

Result<std::vector<DueTask>> PgStore::PromoteDueTasks(int limit) {
  using Due = std::vector<DueTask>;
  return RunTransaction<Due, pqxx::nontransaction>(
      pool_, "PromoteDueTasks", [&](pqxx::nontransaction& tx) -> Result<Due> {
        Due due;
        std::map<std::string, std::int64_t> ready_by_type;
        for (const auto& row : tx.exec_prepared("TaskPromoteDue", limit)) {
          due.push_back({row["id"].as<std::string>(), row["stage_id"].as<std::string>(),
                         row["job_id"].is_null() ? "" : row["job_id"].as<std::string>(), row["ready"].as<bool>(),
                         row["late_seconds"].as<double>()});
          if (due.back().ready) ++ready_by_type[row["stage_type"].as<std::string>()];
        }
        // The promotion is committed (autocommit): wake waiting requests now.
        for (const auto& [type, n] : ready_by_type) NotifyClaimable(tx, type, n);
        return due;
      });
}

Result<std::int64_t> PgStore::CountClaimable(const std::string& stage_type, std::int64_t limit) {
  return RunTransaction<std::int64_t, pqxx::nontransaction>(
      pool_, "CountClaimable", [&](pqxx::nontransaction& tx) -> Result<std::int64_t> {
        return tx.exec_prepared1("TaskCountClaimable", stage_type, limit)["n"].as<std::int64_t>();
      });
}

Result<std::optional<double>> PgStore::NextRetryDue() {
  return RunTransaction<std::optional<double>, pqxx::nontransaction>(
      pool_, "NextRetryDue", [&](pqxx::nontransaction& tx) -> Result<std::optional<double>> {
        auto rows = tx.exec_prepared("TaskNextDue");
        if (rows.empty()) return std::optional<double>{};
        return std::optional<double>(rows[0]["due_in_seconds"].as<double>());
      });
}

Result<QueueStats> PgStore::GetQueueStats() {
  return RunTransaction<QueueStats>(pool_, "GetQueueStats", [&](pqxx::work& tx) -> Result<QueueStats> {
    QueueStats stats;
    for (const auto& row : tx.exec_prepared("QueueTaskCounts")) {
      stats.tasks.push_back({row["type"].as<std::string>(), row["pending"].as<std::int64_t>(),
                             row["in_progress"].as<std::int64_t>(), row["retried"].as<std::int64_t>(),
                             row["oldest_pending"].get<double>()});
    }
    for (const auto& row : tx.exec_prepared("QueueJobCounts")) {
      stats.jobs.emplace_back(domain::ParseJobStatus(row["status"].c_str()).value(), row["jobs"].as<std::int64_t>());
    }
    return stats;
  });
}

// ---------------------------------------------------------------- concurrency limits

namespace {

StageTypeLimit ReadLimit(const pqxx::row& row) {
  return {row["stage_type"].as<std::string>(), row["max_in_progress"].as<int>(),
          ParsePgTime(row["update_time"].c_str())};
}

Status LimitNotFound(const std::string& stage_type) {
  return {ErrorCode::kLimitNotFound, fmt::format("Stage type '{}' has no concurrency limit", stage_type)};
}

// The limited types are read again after this long (PgStore::LimitedTypes).
constexpr auto kLimitedTypesTtl = std::chrono::seconds(1);

}  // namespace

Result<StageTypeLimit> PgStore::SetStageTypeLimit(const std::string& stage_type, int max_in_progress) {
  if (max_in_progress < 0) return domain::ValidationError("maxInProgress must be an integer >= 0");
  auto changed =
      RunTransaction<StageTypeLimit>(pool_, "SetStageTypeLimit", [&](pqxx::work& tx) -> Result<StageTypeLimit> {
        auto limit = ReadLimit(tx.exec_prepared1("LimitSet", stage_type, max_in_progress));
        // A raised limit may have freed slots: wake as many waiting requests.
        if (max_in_progress > 0) NotifyClaimable(tx, stage_type, max_in_progress);
        return limit;
      });
  if (changed.ok()) {
    const std::lock_guard lock(limited_mu_);
    limited_read_at_ = {};  // read again on next use
  }
  return changed;
}

Result<StageTypeLimit> PgStore::GetStageTypeLimit(const std::string& stage_type) {
  return RunTransaction<StageTypeLimit, pqxx::nontransaction>(pool_, "GetStageTypeLimit",
                                                              [&](pqxx::nontransaction& tx) -> Result<StageTypeLimit> {
                                                                auto rows = tx.exec_prepared("LimitGet", stage_type);
                                                                if (rows.empty()) return LimitNotFound(stage_type);
                                                                return ReadLimit(rows[0]);
                                                              });
}

Result<bool> PgStore::DeleteStageTypeLimit(const std::string& stage_type) {
  auto deleted = RunTransaction<bool>(pool_, "DeleteStageTypeLimit", [&](pqxx::work& tx) -> Result<bool> {
    if (tx.exec_prepared("LimitDelete", stage_type).empty()) return false;
    NotifyClaimable(tx, stage_type, std::numeric_limits<int>::max());  // unlimited: wake every waiter
    return true;
  });
  if (deleted.ok()) {
    const std::lock_guard lock(limited_mu_);
    limited_read_at_ = {};
  }
  return deleted;
}

Result<std::vector<StageTypeLimit>> PgStore::ListStageTypeLimits() {
  using Limits = std::vector<StageTypeLimit>;
  return RunTransaction<Limits, pqxx::nontransaction>(pool_, "ListStageTypeLimits",
                                                      [&](pqxx::nontransaction& tx) -> Result<Limits> {
                                                        Limits out;
                                                        for (const auto& row : tx.exec_prepared("LimitList")) {
                                                          out.push_back(ReadLimit(row));
                                                        }
                                                        return out;
                                                      });
}

std::shared_ptr<const std::set<std::string>> PgStore::LimitedTypes() {
  const auto now = std::chrono::steady_clock::now();
  {
    const std::lock_guard lock(limited_mu_);
    if (limited_ && now - limited_read_at_ < kLimitedTypesTtl) return limited_;
    // Whoever finds it stale reads it; the others keep the old set meanwhile.
    if (limited_) limited_read_at_ = now;
  }
  auto types = std::make_shared<std::set<std::string>>();
  if (auto limits = ListStageTypeLimits(); limits.ok()) {
    for (const auto& l : *limits) types->insert(l.stage_type);
  } else {
    spdlog::warn("concurrency limits: cannot read the limited stage types: {}", limits.status().message());
    const std::lock_guard lock(limited_mu_);
    if (limited_) return limited_;
    return types;
  }
  const std::lock_guard lock(limited_mu_);
  limited_ = std::move(types);
  limited_read_at_ = now;
  return limited_;
}

void PgStore::NoteLimited(const std::string& stage_type, int refused) {
  spdlog::debug("claim: stage type '{}' is at its concurrency limit; {} claim request(s) got nothing", stage_type,
                refused);
  if (options_.on_claim_limited) options_.on_claim_limited(stage_type, refused);
}

Status PgStore::Ping() {
  return RunTransaction<bool>(pool_, "Ping",
                              [&](pqxx::work& tx) -> Result<bool> {
                                tx.exec1("SELECT 1");
                                return true;
                              })
      .status();
}

}  // namespace jobnik::store::pg
