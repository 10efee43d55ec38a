// The store against a real PostgreSQL: every operation and cascade of SPEC A.3.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "domain/validation.h"
#include "fixtures.h"
#include "pg_test_env.h"
#include "store/pg/statements.h"

namespace jobnik::testing {
namespace {

using domain::ErrorCode;
using domain::JobStatus;
using domain::Priority;
using domain::StageStatus;
using domain::TaskStatus;

class StoreTest : public DbTest {
 protected:
  domain::Job NewJob(Priority p = Priority::kMedium, const std::string& name = "test-job") {
    auto j = store_->CreateJob(AJob(name, p), ATrace());
    EXPECT_TRUE(j.ok()) << Describe(j.status());
    return j.ok() ? *j : domain::Job{};
  }
  domain::Stage NewStage(const std::string& job_id, const std::string& type, bool waiting = false) {
    auto s = store_->AddStage(job_id, AStage(type, waiting), ATrace());
    EXPECT_TRUE(s.ok()) << Describe(s.status());
    return s.ok() ? *s : domain::Stage{};
  }
  std::vector<domain::Task> NewTasks(const std::string& stage_id, int n, int max_attempts = 1) {
    auto t = store_->AddTasks(stage_id, SomeTasks(n, max_attempts), ATrace());
    EXPECT_TRUE(t.ok()) << Describe(t.status());
    return t.ok() ? *t : std::vector<domain::Task>{};
  }
  domain::Task Claim(const std::string& type) {
    auto d = store_->ClaimTask(type);
    EXPECT_TRUE(d.ok()) << Describe(d.status());
    return d.ok() ? d->task : domain::Task{};
  }
  domain::Job JobNow(const std::string& id) { return store_->GetJob(id).value(); }
  domain::Stage StageNow(const std::string& id) { return store_->GetStage(id).value(); }
};

// ---------------------------------------------------------------- jobs

TEST_F(StoreTest, CreatedJobIsPendingWithZeroPercentAndTheGivenFields) {
  auto job = NewJob(Priority::kHigh, "nightly");
  EXPECT_EQ(job.status, JobStatus::kPending);
  EXPECT_EQ(job.percentage, 0);
  EXPECT_EQ(job.name, "nightly");
  EXPECT_EQ(job.priority, Priority::kHigh);
  EXPECT_EQ(job.traceparent, ATrace().traceparent);
  EXPECT_EQ(job.creation_time, job.update_time);
  auto again = store_->GetJob(job.id);
  JOBNIK_ASSERT_OK(again);
  EXPECT_EQ(*again, job);
}

TEST_F(StoreTest, JobKeepsItsOwnTraceContext) {
  auto nj = AJob();
  nj.traceparent = "00-11111111111111111111111111111111-2222222222222222-01";
  nj.tracestate = "k=v";
  auto job = store_->CreateJob(nj, ATrace());
  JOBNIK_ASSERT_OK(job);
  EXPECT_EQ(job->traceparent, *nj.traceparent);
  EXPECT_EQ(job->tracestate, std::optional<std::string>("k=v"));
}

// The claim of many types keeps its generic plan on task_claim whatever the statistics: a
// small queue (16 jobs: stage and job below autovacuum's 50-row analyze threshold) with
// `task` analyzed once made the plan start from stage and job and bitmap-AND task_claim
// with task_stage per stage (10-20 ms a claim; docs/performance.md).
TEST_F(StoreTest, TheManyTypeClaimPlanReadsTaskClaimInOrderWithoutStatisticsOnStageAndJob) {
  constexpr int kTypes = 11;
  for (int i = 0; i < 16; ++i) {
    auto job = AJob(fmt::format("plan-{}", i));
    auto stage = AStage(fmt::format("plan-{}", i));
    stage.tasks = SomeTasks(200);
    job.stages.emplace();
    job.stages->push_back(stage);
    JOBNIK_ASSERT_OK(store_->CreateJob(job, ATrace()));
  }
  Exec("ANALYZE task");
  std::string args;
  for (int i = 0; i < kTypes; ++i) args += fmt::format("'plan-{}', 1, ", i);
  args += "'[]'";
  const auto plan = Query1("SET plan_cache_mode = force_generic_plan; PREPARE claim AS " +
                           store::pg::Statement(store::pg::ClaimStatementName(kTypes)) +
                           "; EXPLAIN (FORMAT JSON) EXECUTE claim(" + args + ")");
  EXPECT_EQ(plan.find("BitmapAnd"), std::string::npos) << plan;
  // Sequential scans only of the small stage_type_limit table (the limit gate).
  const std::string kSeqScan = R"("Node Type": "Seq Scan")", kRelation = R"("Relation Name": ")";
  for (auto at = plan.find(kSeqScan); at != std::string::npos; at = plan.find(kSeqScan, at + 1)) {
    const auto name_at = plan.find(kRelation, at) + kRelation.size();
    EXPECT_EQ(plan.substr(name_at, plan.find('"', name_at) - name_at), "stage_type_limit") << plan;
  }
  const std::string kClaimScan = R"("Index Name": "task_claim")";
  int ordered_claim_scans = 0;
  for (auto at = plan.find(kClaimScan); at != std::string::npos; at = plan.find(kClaimScan, at + 1)) {
    ++ordered_claim_scans;
  }
  EXPECT_EQ(ordered_claim_scans, kTypes) << plan;
}

// The claims start the stages and jobs of their first tasks (StartStagesAndJobs in task.sql)
// through the primary keys whatever the statistics. Analyzed when no job was PENDING, then
// a burst of new jobs (far below autovacuum's analyze threshold on a large table): a plan
// that tested `status = 'PENDING'` read every PENDING job in job_unfinished_status (and
// every PENDING stage in stage_type_status) in each claim, a cost that grew with the queue.
TEST_F(StoreTest, ClaimsStartStagesAndJobsByPrimaryKeyWhateverTheStatistics) {
  auto make_jobs = [&](int n, std::string_view prefix) {
    for (int i = 0; i < n; ++i) {
      auto job = AJob(fmt::format("{}-{}", prefix, i));
      auto stage = AStage("start");
      stage.tasks = SomeTasks(1);
      job.stages.emplace();
      job.stages->push_back(stage);
      JOBNIK_ASSERT_OK(store_->CreateJob(job, ATrace()));
    }
  };
  make_jobs(100, "started");
  for (int i = 0; i < 100; ++i) Claim("start");
  Exec("ANALYZE job");
  Exec("ANALYZE stage");
  make_jobs(300, "waiting");

  const auto plan_of = [&](const std::string& statement, const std::string& args) {
    return Query1("SET plan_cache_mode = force_generic_plan; PREPARE claim AS " + store::pg::Statement(statement) +
                  "; EXPLAIN (FORMAT JSON) EXECUTE claim(" + args + ")");
  };
  const std::vector<std::pair<std::string, std::string>> claims = {
      {store::pg::ClaimStatementName(1), "'start', 1, '[]'"},
      {store::pg::ClaimStatementName(3), "'start', 1, 'x', 1, 'y', 1, '[]'"},
      {store::pg::ClaimManyStatementName(1), "'start', 4, NULL, NULL"},
      {store::pg::ClaimManyStatementName(3), "'start', 'x', 'y', 4, NULL, NULL"},
  };
  for (const auto& [name, args] : claims) {
    const auto plan = plan_of(name, args);
    EXPECT_EQ(plan.find("job_unfinished_status"), std::string::npos) << name << ": " << plan;
    EXPECT_EQ(plan.find("stage_type_status"), std::string::npos) << name << ": " << plan;
    EXPECT_NE(plan.find(R"("Index Name": "job_pkey")"), std::string::npos) << name << ": " << plan;
  }
  // And they do start them: the next claims take tasks of the waiting jobs.
  const auto task = Claim("start");
  const auto stage = StageNow(task.stage_id);
  EXPECT_EQ(stage.status, StageStatus::kInProgress);
  EXPECT_EQ(JobNow(stage.job_id).status, JobStatus::kInProgress);
}

TEST_F(StoreTest, UnknownIdsAreNotFound) {
  const std::string id = "6a13d6fe-76b6-4c83-b62d-1a2d4d3a4a11";
  EXPECT_EQ(store_->GetJob(id).status().code(), ErrorCode::kJobNotFound);
  EXPECT_EQ(store_->GetStage(id).status().code(), ErrorCode::kStageNotFound);
  EXPECT_EQ(store_->GetTask(id).status().code(), ErrorCode::kTaskNotFound);
  EXPECT_EQ(store_->DeleteJob(id).code(), ErrorCode::kJobNotFound);
  EXPECT_EQ(store_->SetJobUserMetadata(id, "{}").code(), ErrorCode::kJobNotFound);
  EXPECT_EQ(store_->SetStageUserMetadata(id, "{}").code(), ErrorCode::kStageNotFound);
  EXPECT_EQ(store_->SetTaskUserMetadata(id, "{}").code(), ErrorCode::kTaskNotFound);
  EXPECT_EQ(store_->SetJobPriority(id, Priority::kLow).status().code(), ErrorCode::kJobNotFound);
  EXPECT_EQ(store_->SetJobStatus(id, JobStatus::kPaused).code(), ErrorCode::kJobNotFound);
  EXPECT_EQ(store_->SetStageStatus(id, StageStatus::kPending).code(), ErrorCode::kStageNotFound);
  EXPECT_EQ(store_->AddStage(id, AStage("x"), ATrace()).status().code(), ErrorCode::kJobNotFound);
  EXPECT_EQ(store_->AddTasks(id, SomeTasks(1), ATrace()).status().code(), ErrorCode::kStageNotFound);
  EXPECT_EQ(store_->GetStagesOfJob(id).status().code(), ErrorCode::kJobNotFound);
  EXPECT_EQ(store_->GetTasksOfStage(id).status().code(), ErrorCode::kStageNotFound);
  EXPECT_EQ(store_->ReportTask(id, TaskStatus::kCompleted).status().code(), ErrorCode::kTaskNotFound);
}

TEST_F(StoreTest, FindJobsFiltersByNamePriorityAndCreationTime) {
  auto a = NewJob(Priority::kHigh, "alpha");
  auto b = NewJob(Priority::kLow, "beta");
  NewStage(b.id, "t");
  domain::JobFilter by_name;
  by_name.name = "alpha";
  auto r = store_->FindJobs(by_name);
  JOBNIK_ASSERT_OK(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].id, a.id);
  EXPECT_FALSE((*r)[0].stages.has_value());

  domain::JobFilter by_priority;
  by_priority.priority = Priority::kLow;
  by_priority.with_stages = true;
  r = store_->FindJobs(by_priority);
  JOBNIK_ASSERT_OK(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].id, b.id);
  ASSERT_TRUE((*r)[0].stages.has_value());
  EXPECT_EQ((*r)[0].stages->size(), 1u);

  domain::JobFilter future;
  future.from_date = a.creation_time + std::chrono::hours(1);
  r = store_->FindJobs(future);
  JOBNIK_ASSERT_OK(r);
  EXPECT_TRUE(r->empty());
  domain::JobFilter all;
  all.end_date = a.creation_time + std::chrono::hours(1);
  r = store_->FindJobs(all);
  JOBNIK_ASSERT_OK(r);
  EXPECT_EQ(r->size(), 2u);
}

TEST_F(StoreTest, UserMetadataIsReplaced) {
  auto job = NewJob();
  ASSERT_TRUE(store_->SetJobUserMetadata(job.id, R"({"owner":"me"})").ok());
  EXPECT_EQ(JobNow(job.id).user_metadata, R"({"owner": "me"})");
  auto stage = NewStage(job.id, "t");
  ASSERT_TRUE(store_->SetStageUserMetadata(stage.id, R"({"k":1})").ok());
  EXPECT_EQ(StageNow(stage.id).user_metadata, R"({"k": 1})");
  auto task = NewTasks(stage.id, 1)[0];
  ASSERT_TRUE(store_->SetTaskUserMetadata(task.id, R"({"t":true})").ok());
  EXPECT_EQ(store_->GetTask(task.id)->user_metadata, R"({"t": true})");
}

TEST_F(StoreTest, PriorityChangeReportsWhetherItChanged) {
  auto job = NewJob(Priority::kMedium);
  auto same = store_->SetJobPriority(job.id, Priority::kMedium);
  JOBNIK_ASSERT_OK(same);
  EXPECT_FALSE(*same);
  auto changed = store_->SetJobPriority(job.id, Priority::kVeryHigh);
  JOBNIK_ASSERT_OK(changed);
  EXPECT_TRUE(*changed);
  EXPECT_EQ(JobNow(job.id).priority, Priority::kVeryHigh);
}

TEST_F(StoreTest, PriorityChangeReordersPendingTasks) {
  auto low = NewJob(Priority::kLow);
  auto low_stage = NewStage(low.id, "reorder");
  auto low_task = NewTasks(low_stage.id, 1)[0];
  auto medium = NewJob(Priority::kMedium);
  NewTasks(NewStage(medium.id, "reorder").id, 1);
  ASSERT_TRUE(store_->SetJobPriority(low.id, Priority::kVeryHigh).ok());
  EXPECT_EQ(Claim("reorder").id, low_task.id);
}

TEST_F(StoreTest, DeleteOnlyFinishedJobsAndCascades) {
  auto job = NewJob();
  auto stage = NewStage(job.id, "t");
  NewTasks(stage.id, 3);
  auto s = store_->DeleteJob(job.id);
  EXPECT_EQ(s.code(), ErrorCode::kJobNotInFiniteState);
  EXPECT_NE(s.message().find("PENDING"), std::string::npos);
  ASSERT_TRUE(store_->SetJobStatus(job.id, JobStatus::kAborted).ok());
  ASSERT_TRUE(store_->DeleteJob(job.id).ok());
  EXPECT_EQ(store_->GetJob(job.id).status().code(), ErrorCode::kJobNotFound);
  EXPECT_EQ(Query1("SELECT count(*) FROM stage"), "0");
  EXPECT_EQ(Query1("SELECT count(*) FROM task"), "0");
}

// ---------------------------------------------------------------- job status

TEST_F(StoreTest, IllegalJobTransitionsAreRejectedWithTheirNames) {
  auto job = NewJob();
  ASSERT_TRUE(store_->SetJobStatus(job.id, JobStatus::kAborted).ok());
  auto s = store_->SetJobStatus(job.id, JobStatus::kPending);
  EXPECT_EQ(s.code(), ErrorCode::kIllegalJobStatusTransition);
  EXPECT_EQ(s.message(), "Illegal status transition from ABORTED to PENDING");
  EXPECT_EQ(JobNow(job.id).status, JobStatus::kAborted);
}

TEST_F(StoreTest, PausedJobIsNotClaimableUntilResumed) {
  auto job = NewJob();
  auto stage = NewStage(job.id, "pause");
  NewTasks(stage.id, 2);
  ASSERT_TRUE(store_->SetJobStatus(job.id, JobStatus::kPaused).ok());
  EXPECT_EQ(store_->ClaimTask("pause").status().code(), ErrorCode::kTaskNotFound);
  ASSERT_TRUE(store_->SetJobStatus(job.id, JobStatus::kPending).ok());
  auto t = Claim("pause");
  EXPECT_EQ(t.stage_id, stage.id);
  EXPECT_EQ(JobNow(job.id).status, JobStatus::kInProgress);
}

TEST_F(StoreTest, AbortedJobAbortsItsUnfinishedStagesAndStopsClaims) {
  auto job = NewJob();
  auto first = NewStage(job.id, "abort");
  auto second = NewStage(job.id, "abort");
  NewTasks(first.id, 2);
  ASSERT_TRUE(store_->SetJobStatus(job.id, JobStatus::kAborted).ok());
  EXPECT_EQ(StageNow(first.id).status, StageStatus::kAborted);
  EXPECT_EQ(StageNow(second.id).status, StageStatus::kAborted);
  EXPECT_EQ(store_->ClaimTask("abort").status().code(), ErrorCode::kTaskNotFound);
  EXPECT_EQ(store_->AddStage(job.id, AStage("x"), ATrace()).status().code(), ErrorCode::kJobInFiniteState);
}

// ---------------------------------------------------------------- stages

TEST_F(StoreTest, FirstStageIsPendingLaterOnesCreatedOrWaiting) {
  auto job = NewJob();
  auto first = NewStage(job.id, "a");
  auto second = NewStage(job.id, "b");
  auto third = NewStage(job.id, "c", /*waiting=*/true);
  EXPECT_EQ(first.status, StageStatus::kPending);
  EXPECT_EQ(first.order, 1);
  EXPECT_EQ(second.status, StageStatus::kCreated);
  EXPECT_EQ(second.order, 2);
  EXPECT_EQ(third.status, StageStatus::kWaiting);
  EXPECT_EQ(third.order, 3);
  auto stages = store_->GetStagesOfJob(job.id);
  JOBNIK_ASSERT_OK(stages);
  ASSERT_EQ(stages->size(), 3u);
  EXPECT_EQ((*stages)[0].id, first.id);
  EXPECT_EQ((*stages)[2].id, third.id);
}

TEST_F(StoreTest, FindStagesFiltersByJobTypeAndStatus) {
  auto job = NewJob();
  auto a = NewStage(job.id, "find-a");
  NewStage(job.id, "find-b");
  NewTasks(a.id, 2);
  domain::StageFilter f;
  f.type = "find-a";
  f.with_tasks = true;
  auto r = store_->FindStages(f);
  JOBNIK_ASSERT_OK(r);
  ASSERT_EQ(r->size(), 1u);
  ASSERT_TRUE((*r)[0].tasks.has_value());
  EXPECT_EQ((*r)[0].tasks->size(), 2u);
  domain::StageFilter created;
  created.job_id = job.id;
  created.status = StageStatus::kCreated;
  r = store_->FindStages(created);
  JOBNIK_ASSERT_OK(r);
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].type, "find-b");
}

TEST_F(StoreTest, WaitingStageIsReleasedOnlyAfterItsPredecessorCompleted) {
  auto job = NewJob();
  auto first = NewStage(job.id, "w1");
  auto second = NewStage(job.id, "w2", /*waiting=*/true);
  NewTasks(first.id, 1);
  NewTasks(second.id, 1);
  auto s = store_->SetStageStatus(second.id, StageStatus::kPending);
  EXPECT_EQ(s.code(), ErrorCode::kIllegalStageStatusTransition);
  EXPECT_EQ(store_->ClaimTask("w2").status().code(), ErrorCode::kTaskNotFound);
  auto t = Claim("w1");
  JOBNIK_ASSERT_OK(store_->ReportTask(t.id, TaskStatus::kCompleted));
  EXPECT_EQ(StageNow(second.id).status, StageStatus::kWaiting);  // not started by the completion
  ASSERT_TRUE(store_->SetStageStatus(second.id, StageStatus::kPending).ok());
  EXPECT_TRUE(store_->SetStageStatus(second.id, StageStatus::kPending).ok());  // same status: no-op
  EXPECT_EQ(Claim("w2").stage_id, second.id);
}

TEST_F(StoreTest, IllegalStageTransitionIsRejected) {
  auto job = NewJob();
  auto stage = NewStage(job.id, "ill");
  NewTasks(stage.id, 1);
  auto t = Claim("ill");
  JOBNIK_ASSERT_OK(store_->ReportTask(t.id, TaskStatus::kCompleted));
  auto s = store_->SetStageStatus(stage.id, StageStatus::kPending);
  EXPECT_EQ(s.code(), ErrorCode::kIllegalStageStatusTransition);
  EXPECT_EQ(s.message(), "Illegal status transition from COMPLETED to PENDING");
}

// ---------------------------------------------------------------- tasks

TEST_F(StoreTest, AddedTasksArePendingInOrderAndCounted) {
  auto job = NewJob();
  auto stage = NewStage(job.id, "add");
  auto tasks = NewTasks(stage.id, 5, 3);
  ASSERT_EQ(tasks.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(tasks[i].data, fmt::format(R"({{"i": {}}})", i));
    EXPECT_EQ(tasks[i].status, TaskStatus::kPending);
    EXPECT_EQ(tasks[i].attempts, 0);
    EXPECT_EQ(tasks[i].max_attempts, 3);
    EXPECT_FALSE(tasks[i].start_time.has_value());
    EXPECT_EQ(tasks[i].stage_id, stage.id);
  }
  auto summary = store_->GetStageSummary(stage.id);
  JOBNIK_ASSERT_OK(summary);
  EXPECT_EQ(summary->pending, 5);
  EXPECT_EQ(summary->total(), 5);
  auto listed = store_->GetTasksOfStage(stage.id);
  JOBNIK_ASSERT_OK(listed);
  EXPECT_EQ(*listed, tasks);
}

// Ids are UUIDs of version 7 (schema/0012): the Unix time in milliseconds first, so that
// rows made together sit together in the primary keys; claim tokens stay random (version 4).
TEST_F(StoreTest, IdsAreTimeOrderedVersion7UuidsAndClaimTokensStayRandom) {
  const auto ms_now = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  // The id's time: its first 48 bits (12 hex digits around the first dash).
  const auto id_ms = [](const std::string& id) { return std::stoll(id.substr(0, 8) + id.substr(9, 4), nullptr, 16); };
  const auto before = ms_now();
  auto job = NewJob();
  auto stage = NewStage(job.id, "ids");
  auto tasks = NewTasks(stage.id, 300);
  const auto after = ms_now();
  ASSERT_EQ(tasks.size(), 300u);
  std::vector<std::string> ids{job.id, stage.id};
  for (const auto& t : tasks) ids.push_back(t.id);
  std::set<std::string> distinct;
  long long last_ms = 0;
  for (const auto& id : ids) {
    ASSERT_TRUE(domain::IsUuid(id)) << id;
    EXPECT_EQ(id[14], '7') << id << ": version";
    EXPECT_NE(std::string_view("89ab").find(id[19]), std::string_view::npos) << id << ": variant";
    // Made in this order, within this test's time (the clocks may differ by a rounding).
    EXPECT_GE(id_ms(id), last_ms) << id;
    EXPECT_GE(id_ms(id), before - 1) << id;
    EXPECT_LE(id_ms(id), after + 1) << id;
    last_ms = id_ms(id);
    distinct.insert(id);
  }
  EXPECT_EQ(distinct.size(), ids.size());
  auto claimed = Claim("ids");
  ASSERT_TRUE(claimed.claim_id.has_value());
  ASSERT_TRUE(domain::IsUuid(*claimed.claim_id));
  EXPECT_EQ((*claimed.claim_id)[14], '4') << *claimed.claim_id;
}

TEST_F(StoreTest, TasksCannotBeAddedToAStageInProgressOrFinished) {
  auto job = NewJob();
  auto stage = NewStage(job.id, "closed");
  NewTasks(stage.id, 1);
  auto t = Claim("closed");
  EXPECT_EQ(store_->AddTasks(stage.id, SomeTasks(1), ATrace()).status().code(),
            ErrorCode::kNotAllowedToAddTasksToInProgressStage);
  JOBNIK_ASSERT_OK(store_->ReportTask(t.id, TaskStatus::kCompleted));
  EXPECT_EQ(store_->AddTasks(stage.id, SomeTasks(1), ATrace()).status().code(), ErrorCode::kStageInFiniteState);
  EXPECT_EQ(StageNow(stage.id).summary.total(), 1);
}

TEST_F(StoreTest, DequeueTakesHighestPriorityThenOldest) {
  auto low = NewJob(Priority::kLow);
  auto low_tasks = NewTasks(NewStage(low.id, "order").id, 2);
  auto high = NewJob(Priority::kHigh);
  auto high_tasks = NewTasks(NewStage(high.id, "order").id, 2);
  auto other = NewJob(Priority::kVeryHigh);
  NewTasks(NewStage(other.id, "other-type").id, 2);
  EXPECT_EQ(Claim("order").id, high_tasks[0].id);
  EXPECT_EQ(Claim("order").id, high_tasks[1].id);
  EXPECT_EQ(Claim("order").id, low_tasks[0].id);
  EXPECT_EQ(Claim("order").id, low_tasks[1].id);
  EXPECT_EQ(store_->ClaimTask("order").status().code(), ErrorCode::kTaskNotFound);
}

TEST_F(StoreTest, FirstClaimStartsStageAndJob) {
  auto job = NewJob();
  auto stage = NewStage(job.id, "start");
  NewTasks(stage.id, 2);
  auto d = store_->ClaimTask("start");
  JOBNIK_ASSERT_OK(d);
  EXPECT_TRUE(d->stage_started);
  EXPECT_TRUE(d->job_started);
  EXPECT_EQ(d->task.status, TaskStatus::kInProgress);
  EXPECT_TRUE(d->task.start_time.has_value());
  EXPECT_EQ(StageNow(stage.id).status, StageStatus::kInProgress);
  EXPECT_EQ(JobNow(job.id).status, JobStatus::kInProgress);
  auto summary = StageNow(stage.id).summary;
  EXPECT_EQ(summary.pending, 1);
  EXPECT_EQ(summary.in_progress, 1);
  auto second = store_->ClaimTask("start");
  JOBNIK_ASSERT_OK(second);
  EXPECT_FALSE(second->stage_started);
  EXPECT_FALSE(second->job_started);
}

TEST_F(StoreTest, TasksOfACreatedStageAreNotClaimableUntilItStarts) {
  auto job = NewJob();
  auto first = NewStage(job.id, "seq-1");
  auto second = NewStage(job.id, "seq-2");
  NewTasks(first.id, 1);
  NewTasks(second.id, 2);
  EXPECT_EQ(store_->ClaimTask("seq-2").status().code(), ErrorCode::kTaskNotFound);
  auto t = Claim("seq-1");
  auto report = store_->ReportTask(t.id, TaskStatus::kCompleted);
  JOBNIK_ASSERT_OK(report);
  EXPECT_TRUE(report->stage_completed);
  EXPECT_EQ(report->next_stage_started, std::optional<std::string>(second.id));
  EXPECT_EQ(StageNow(second.id).status, StageStatus::kPending);
  EXPECT_EQ(JobNow(job.id).percentage, 50);
  EXPECT_EQ(Claim("seq-2").stage_id, second.id);
}

TEST_F(StoreTest, CompletionsMovePercentagesAndCompleteStageAndJob) {
  auto job = NewJob();
  auto stage = NewStage(job.id, "pct");
  NewTasks(stage.id, 3);
  std::vector<domain::Task> claimed = {Claim("pct"), Claim("pct"), Claim("pct")};
  JOBNIK_ASSERT_OK(store_->ReportTask(claimed[0].id, TaskStatus::kCompleted));
  EXPECT_EQ(StageNow(stage.id).percentage, 33);
  JOBNIK_ASSERT_OK(store_->ReportTask(claimed[1].id, TaskStatus::kCompleted));
  EXPECT_EQ(StageNow(stage.id).percentage, 66);
  EXPECT_EQ(JobNow(job.id).percentage, 0);
  auto last = store_->ReportTask(claimed[2].id, TaskStatus::kCompleted);
  JOBNIK_ASSERT_OK(last);
  EXPECT_TRUE(last->job_completed);
  EXPECT_TRUE(last->task.end_time.has_value());
  auto done = StageNow(stage.id);
  EXPECT_EQ(done.status, StageStatus::kCompleted);
  EXPECT_EQ(done.percentage, 100);
  EXPECT_EQ(done.summary.completed, 3);
  EXPECT_EQ(done.summary.total(), 3);
  EXPECT_EQ(JobNow(job.id).status, JobStatus::kCompleted);
  EXPECT_EQ(JobNow(job.id).percentage, 100);
}

TEST_F(StoreTest, FailureWithAttemptsLeftRetriesThenFailsStageAndJob) {
  auto job = NewJob();
  auto stage = NewStage(job.id, "retry");
  auto task = NewTasks(stage.id, 1, /*max_attempts=*/2)[0];
  NewTasks(stage.id, 1);  // a second task stays pending
  ASSERT_EQ(Claim("retry").id, task.id);
  auto first = store_->ReportTask(task.id, TaskStatus::kFailed);
  JOBNIK_ASSERT_OK(first);
  EXPECT_EQ(first->task.status, TaskStatus::kRetried);
  EXPECT_EQ(first->task.attempts, 1);
  EXPECT_FALSE(first->task.end_time.has_value());
  EXPECT_EQ(StageNow(stage.id).summary.retried, 1);
  ASSERT_EQ(Claim("retry").id, task.id);  // retried tasks are claimable, and older
  auto second = store_->ReportTask(task.id, TaskStatus::kFailed);
  JOBNIK_ASSERT_OK(second);
  EXPECT_EQ(second->task.status, TaskStatus::kFailed);
  EXPECT_EQ(second->task.attempts, 2);
  EXPECT_TRUE(second->task.end_time.has_value());
  EXPECT_TRUE(second->stage_failed);
  EXPECT_TRUE(second->job_failed);
  EXPECT_EQ(StageNow(stage.id).status, StageStatus::kFailed);
  EXPECT_EQ(StageNow(stage.id).summary.failed, 1);
  EXPECT_EQ(JobNow(job.id).status, JobStatus::kFailed);
  EXPECT_EQ(store_->ClaimTask("retry").status().code(), ErrorCode::kTaskNotFound);
}

TEST_F(StoreTest, ReportsOnlyFromInProgress) {
  auto job = NewJob();
  auto stage = NewStage(job.id, "rep");
  auto task = NewTasks(stage.id, 1)[0];
  auto s = store_->ReportTask(task.id, TaskStatus::kCompleted);
  EXPECT_EQ(s.status().code(), ErrorCode::kIllegalTaskStatusTransition);
  EXPECT_EQ(s.status().message(), "Illegal status transition from PENDING to COMPLETED");
  Claim("rep");
  JOBNIK_ASSERT_OK(store_->ReportTask(task.id, TaskStatus::kCompleted));
  EXPECT_EQ(store_->ReportTask(task.id, TaskStatus::kFailed).status().code(), ErrorCode::kIllegalTaskStatusTransition);
}

TEST_F(StoreTest, FindTasksFiltersByStageTypeAndStatus) {
  auto job = NewJob();
  auto stage = NewStage(job.id, "ft");
  NewTasks(stage.id, 3);
  Claim("ft");
  domain::TaskFilter f;
  f.stage_type = "ft";
  f.status = TaskStatus::kPending;
  auto r = store_->FindTasks(f);
  JOBNIK_ASSERT_OK(r);
  EXPECT_EQ(r->size(), 2u);
  domain::TaskFilter by_stage;
  by_stage.stage_id = stage.id;
  r = store_->FindTasks(by_stage);
  JOBNIK_ASSERT_OK(r);
  EXPECT_EQ(r->size(), 3u);
}

// ---------------------------------------------------------------- atomic submission

TEST_F(StoreTest, JobSubmissionCreatesTheWholeTree) {
  auto nj = AJob();
  nj.stages.emplace();
  auto s1 = AStage("tree-1");
  s1.tasks = SomeTasks(3);
  auto s2 = AStage("tree-2");
  s2.tasks = SomeTasks(2);
  nj.stages->push_back(s1);
  nj.stages->push_back(s2);
  auto job = store_->CreateJob(nj, ATrace());
  JOBNIK_ASSERT_OK(job);
  ASSERT_TRUE(job->stages.has_value());
  ASSERT_EQ(job->stages->size(), 2u);
  EXPECT_EQ((*job->stages)[0].status, StageStatus::kPending);
  EXPECT_EQ((*job->stages)[0].summary.pending, 3);
  EXPECT_EQ((*job->stages)[1].status, StageStatus::kCreated);
  EXPECT_EQ(StageNow((*job->stages)[1].id).summary.total(), 2);
  EXPECT_EQ(Claim("tree-1").stage_id, (*job->stages)[0].id);
  EXPECT_EQ(store_->ClaimTask("tree-2").status().code(), ErrorCode::kTaskNotFound);
}

// ---------------------------------------------------------------- failure atomicity

TEST_F(StoreTest, AnErrorInTheMiddleOfACascadeLeavesNothingBehind) {
  auto job = NewJob();
  auto stage = NewStage(job.id, "atomic");
  auto task = NewTasks(stage.id, 1)[0];
  Claim("atomic");
  // Make the last step of the cascade (job -> COMPLETED) fail inside the database.
  Exec(R"sql(
    CREATE FUNCTION refuse_completion() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status = 'COMPLETED' THEN RAISE EXCEPTION 'injected failure'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_completion BEFORE UPDATE ON job FOR EACH ROW EXECUTE FUNCTION refuse_completion();
  )sql");
  auto r = store_->ReportTask(task.id, TaskStatus::kCompleted);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kDatabase);
  EXPECT_EQ(r.status().message().find("injected"), std::string::npos) << "internals leaked: " << r.status().message();
  // The task, its stage and the job are exactly as before the request.
  EXPECT_EQ(store_->GetTask(task.id)->status, TaskStatus::kInProgress);
  auto s = StageNow(stage.id);
  EXPECT_EQ(s.status, StageStatus::kInProgress);
  EXPECT_EQ(s.summary.completed, 0);
  EXPECT_EQ(s.summary.in_progress, 1);
  EXPECT_EQ(s.percentage, 0);
  EXPECT_EQ(JobNow(job.id).status, JobStatus::kInProgress);
  Exec("DROP TRIGGER refuse_completion ON job");
  JOBNIK_ASSERT_OK(store_->ReportTask(task.id, TaskStatus::kCompleted));
  EXPECT_EQ(JobNow(job.id).status, JobStatus::kCompleted);
}

TEST_F(StoreTest, AFailedSubmissionCreatesNothing) {
  Exec(R"sql(
    CREATE FUNCTION refuse_task() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.data ? 'boom' THEN RAISE EXCEPTION 'injected failure'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_task BEFORE INSERT ON task FOR EACH ROW EXECUTE FUNCTION refuse_task();
  )sql");
  auto nj = AJob();
  nj.stages.emplace();
  auto s1 = AStage("fine");
  s1.tasks = SomeTasks(2);
  auto s2 = AStage("boom");
  s2.tasks = SomeTasks(1);
  s2.tasks[0].data = R"({"boom":true})";
  nj.stages->push_back(s1);
  nj.stages->push_back(s2);
  EXPECT_FALSE(store_->CreateJob(nj, ATrace()).ok());
  EXPECT_EQ(Query1("SELECT count(*) FROM job"), "0");
  EXPECT_EQ(Query1("SELECT count(*) FROM stage"), "0");
  EXPECT_EQ(Query1("SELECT count(*) FROM task"), "0");
}

// ---------------------------------------------------------------- sweeper path

TEST_F(StoreTest, StaleTasksAreFailedLikeAWorkerReport) {
  auto job = NewJob();
  auto stage = NewStage(job.id, "stale");
  auto retrying = NewTasks(stage.id, 1, /*max_attempts=*/2)[0];
  auto fresh = NewTasks(stage.id, 1)[0];
  Claim("stale");
  Claim("stale");
  // Back-date one claim instead of sleeping.
  Exec("UPDATE task SET start_time = now() - interval '2 hours' WHERE id = '" + retrying.id + "'");
  const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  auto swept = store_->FailStaleTasks(now - std::chrono::minutes(30), 10);
  JOBNIK_ASSERT_OK(swept);
  ASSERT_EQ(swept->size(), 1u);
  EXPECT_EQ((*swept)[0].task.id, retrying.id);
  EXPECT_EQ((*swept)[0].task.status, TaskStatus::kRetried);
  EXPECT_EQ(store_->GetTask(fresh.id)->status, TaskStatus::kInProgress);
  auto again = store_->FailStaleTasks(now - std::chrono::minutes(30), 10);
  JOBNIK_ASSERT_OK(again);
  EXPECT_TRUE(again->empty());
}

}  // namespace
}  // namespace jobnik::testing

namespace jobnik::testing {
namespace {

TEST_F(DbTest, PoolConnectionsRunWithTheSessionSettingsTheStoreReliesOn) {
  // Whatever the server's defaults: JIT off (it would compile a many-type claim on every
  // execution once the table is large), UTC and ISO dates (the row readers parse them).
  Exec("ALTER DATABASE " + Query1("SELECT current_database()") + " SET jit = on");
  auto lease = pool_->Acquire();
  JOBNIK_ASSERT_OK(lease);
  pqxx::nontransaction tx(**lease);
  EXPECT_EQ(tx.exec1("SHOW jit")[0].as<std::string>(), "off");
  EXPECT_EQ(tx.exec1("SHOW TimeZone")[0].as<std::string>(), "UTC");
  EXPECT_EQ(tx.exec1("SHOW DateStyle")[0].as<std::string>(), "ISO, MDY");
  EXPECT_EQ(tx.exec1("SHOW search_path")[0].as<std::string>(), schema_);
}

TEST_F(DbTest, GenericPlanModeIsSetForBatchesAndResetForEverythingElse) {
  auto show = [](store::pg::Pool::Lease& lease) {
    pqxx::nontransaction tx(*lease);
    return tx.exec1("SHOW plan_cache_mode")[0].as<std::string>();
  };
  {
    auto lease = pool_->Acquire(store::pg::Plans::kGeneric);
    JOBNIK_ASSERT_OK(lease);
    lease->UsePlans(store::pg::Plans::kGeneric);
    EXPECT_EQ(show(*lease), "force_generic_plan");
  }
  // The only idle connection is in generic mode: a default lease takes it and resets it.
  auto lease = pool_->Acquire();
  JOBNIK_ASSERT_OK(lease);
  EXPECT_EQ(show(*lease), "force_generic_plan");
  lease->UsePlans(store::pg::Plans::kDefault);
  EXPECT_EQ(show(*lease), "auto");
}

TEST_F(DbTest, BrokenConnectionsAreReplacedNotReused) {
  auto job = store_->CreateJob(AJob("survivor"), ATrace());
  JOBNIK_ASSERT_OK(job);
  const auto before = pool_->Stats();
  EXPECT_GE(before.open, 1);
  // Kill every connection the pool holds, as a database restart or failover would.
  Exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
      "WHERE application_name = 'jobnikd' AND pid <> pg_backend_pid()");
  for (int i = 0; i < 3 * pool_size_; ++i) {
    auto again = store_->GetJob(job->id);
    ASSERT_TRUE(again.ok()) << Describe(again.status()) << " on attempt " << i;
    EXPECT_EQ(again->name, "survivor");
  }
  EXPECT_GT(pool_->Stats().broken, before.broken);
}

}  // namespace
}  // namespace jobnik::testing

namespace jobnik::testing {
namespace {

TEST_F(DbTest, SweeperSkipsATaskClaimedAgainSinceItWasFoundStale) {
  auto job = store_->CreateJob(AJob("reclaimed"), ATrace());
  JOBNIK_ASSERT_OK(job);
  auto stage = store_->AddStage(job->id, AStage("reclaimed"), ATrace());
  JOBNIK_ASSERT_OK(stage);
  JOBNIK_ASSERT_OK(store_->AddTasks(stage->id, SomeTasks(1, /*max_attempts=*/3), ATrace()));
  auto first = store_->ClaimTask("reclaimed");
  JOBNIK_ASSERT_OK(first);
  const auto id = first->task.id;
  // The sweeper lists the claim as stale (back-dated an hour)...
  Exec("UPDATE task SET start_time = now() - interval '1 hour' WHERE id = '" + id + "'");
  const auto cutoff = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()) -
                      std::chrono::minutes(30);
  // ...but before it fails it, the worker reports FAILED and another worker claims it again.
  JOBNIK_ASSERT_OK(store_->ReportTask(id, domain::TaskStatus::kFailed));
  JOBNIK_ASSERT_OK(store_->ClaimTask("reclaimed"));
  auto step = store_->FailStaleTask(id, cutoff);
  JOBNIK_ASSERT_OK(step);
  EXPECT_FALSE(step->has_value()) << "the fresh claim was failed";
  auto task = store_->GetTask(id);
  EXPECT_EQ(task->status, domain::TaskStatus::kInProgress);
  EXPECT_EQ(task->attempts, 1);
  // The stale claim itself would have been failed.
  Exec("UPDATE task SET start_time = now() - interval '1 hour' WHERE id = '" + id + "'");
  step = store_->FailStaleTask(id, cutoff);
  JOBNIK_ASSERT_OK(step);
  ASSERT_TRUE(step->has_value());
  EXPECT_EQ((*step)->task.status, domain::TaskStatus::kRetried);
  EXPECT_EQ((*step)->task.attempts, 2);
}

}  // namespace
}  // namespace jobnik::testing
