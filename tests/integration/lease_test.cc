// Claim tokens, leases, heartbeats and failure reasons (docs/design.md, "Claims, leases
// and heartbeats"), on a real PostgreSQL through the store and the sweeper.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "domain/model.h"
#include "fixtures.h"
#include "pg_test_env.h"
#include "services/sweeper.h"

namespace jobnik::testing {
namespace {

using domain::ErrorCode;
using domain::JobStatus;
using domain::TaskStatus;

class LeaseTest : public DbTest {
 protected:
  // A job with one stage of `type` and `n` tasks of `max_attempts`.
  std::string NewWork(const std::string& type, int n, int max_attempts) {
    auto job = store_->CreateJob(AJob("lease"), ATrace());
    EXPECT_TRUE(job.ok()) << Describe(job.status());
    auto stage = store_->AddStage(job->id, AStage(type), ATrace());
    EXPECT_TRUE(stage.ok()) << Describe(stage.status());
    auto tasks = store_->AddTasks(stage->id, SomeTasks(n, max_attempts), ATrace());
    EXPECT_TRUE(tasks.ok()) << Describe(tasks.status());
    return job->id;
  }

  store::ClaimedTask Claim(const std::string& type, store::ClaimOptions options = {}) {
    auto d = store_->ClaimTask(type, options);
    EXPECT_TRUE(d.ok()) << Describe(d.status());
    return d.ok() ? *d : store::ClaimedTask{};
  }

  static domain::Timestamp Now() {
    return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  }

  // Sweeps as of `now` with stale_after `stale`.
  int Sweep(domain::Timestamp now, std::chrono::seconds stale = std::chrono::seconds(1800)) {
    services::Sweeper sweeper(*store_, nullptr, nullptr, {std::chrono::seconds(60), stale, 100});
    auto n = sweeper.SweepAll(now);
    EXPECT_TRUE(n.ok()) << Describe(n.status());
    return n.ok() ? *n : -1;
  }

  nlohmann::json Errors(const std::string& task_id) {
    auto task = store_->GetTask(task_id);
    EXPECT_TRUE(task.ok()) << Describe(task.status());
    if (!task.ok() || !task->errors) return nlohmann::json::array();
    return nlohmann::json::parse(*task->errors);
  }
};

// ---- claim tokens

TEST_F(LeaseTest, EveryClaimGetsAFreshClaimId) {
  NewWork("tok", 1, 3);
  auto first = Claim("tok");
  ASSERT_TRUE(first.task.claim_id.has_value());
  EXPECT_EQ(store_->GetTask(first.task.id)->claim_id, first.task.claim_id);
  JOBNIK_ASSERT_OK(store_->ReportTask(first.task.id, TaskStatus::kFailed, {first.task.claim_id, std::nullopt}));
  auto second = Claim("tok");
  ASSERT_EQ(second.task.id, first.task.id);
  ASSERT_TRUE(second.task.claim_id.has_value());
  EXPECT_NE(second.task.claim_id, first.task.claim_id);
}

TEST_F(LeaseTest, AStaleClaimIsRefusedAfterASweepReclaimedTheTaskAndTheNewClaimReports) {
  NewWork("swept", 1, 3);
  auto first = Claim("swept");
  Exec("UPDATE task SET start_time = now() - interval '2 hours' WHERE id = '" + first.task.id + "'");
  ASSERT_EQ(Sweep(Now()), 1);
  auto second = Claim("swept");
  ASSERT_EQ(second.task.id, first.task.id);

  for (auto status : {TaskStatus::kCompleted, TaskStatus::kFailed}) {
    auto stale = store_->ReportTask(first.task.id, status, {first.task.claim_id, std::nullopt});
    EXPECT_EQ(stale.status().code(), ErrorCode::kTaskClaimMismatch) << Describe(stale.status());
  }
  auto task = store_->GetTask(first.task.id);
  EXPECT_EQ(task->status, TaskStatus::kInProgress);
  EXPECT_EQ(task->attempts, 1);
  EXPECT_EQ(task->claim_id, second.task.claim_id);

  auto ok = store_->ReportTask(second.task.id, TaskStatus::kCompleted, {second.task.claim_id, std::nullopt});
  JOBNIK_ASSERT_OK(ok);
  EXPECT_EQ(ok->task.status, TaskStatus::kCompleted);
  // Already reported: the claim is gone.
  auto again = store_->ReportTask(second.task.id, TaskStatus::kCompleted, {second.task.claim_id, std::nullopt});
  EXPECT_EQ(again.status().code(), ErrorCode::kTaskClaimMismatch);
}

TEST_F(LeaseTest, WithoutAClaimIdAReportBehavesAsInV1) {
  NewWork("v1", 1, 1);
  auto d = Claim("v1");
  auto r = store_->ReportTask(d.task.id, TaskStatus::kCompleted);
  JOBNIK_ASSERT_OK(r);
  EXPECT_EQ(store_->ReportTask(d.task.id, TaskStatus::kCompleted).status().code(),
            ErrorCode::kIllegalTaskStatusTransition);
}

TEST_F(LeaseTest, AClaimIdIsComparedWithoutRegardToCase) {
  NewWork("case", 1, 1);
  auto d = Claim("case");
  std::string upper = *d.task.claim_id;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  JOBNIK_ASSERT_OK(store_->ReportTask(d.task.id, TaskStatus::kCompleted, {upper, std::nullopt}));
}

// ---- leases and heartbeats

TEST_F(LeaseTest, AClaimWithALeaseShowsItAndItsWorker) {
  NewWork("leased", 1, 1);
  const auto before = Now();
  auto d = Claim("leased", {std::string("w-1"), 60});
  ASSERT_TRUE(d.task.lease_expires_at.has_value());
  EXPECT_GE(*d.task.lease_expires_at, before + std::chrono::seconds(59));
  EXPECT_LE(*d.task.lease_expires_at, Now() + std::chrono::seconds(61));
  EXPECT_EQ(d.task.worker_id, "w-1");
  auto read = store_->GetTask(d.task.id);
  EXPECT_EQ(read->worker_id, "w-1");
  EXPECT_EQ(read->lease_expires_at, d.task.lease_expires_at);
}

TEST_F(LeaseTest, OneBatchGivesEachRequestItsOwnOptions) {
  NewWork("batch", 3, 1);
  auto results = store_->ClaimBatch({R"({"workerId":"a","leaseSeconds":30})"
                                     "\nbatch",
                                     "batch",
                                     R"({"workerId":"c"})"
                                     "\nbatch"});
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << Describe(r.status());
  EXPECT_EQ(results[0]->task.worker_id, "a");
  EXPECT_TRUE(results[0]->task.lease_expires_at.has_value());
  EXPECT_FALSE(results[1]->task.worker_id.has_value());
  EXPECT_FALSE(results[1]->task.lease_expires_at.has_value());
  EXPECT_EQ(results[2]->task.worker_id, "c");
  EXPECT_FALSE(results[2]->task.lease_expires_at.has_value());
  // Each is the stored truth, not only the answer.
  for (const auto& r : results) EXPECT_EQ(store_->GetTask(r->task.id)->worker_id, r->task.worker_id);
}

TEST_F(LeaseTest, AHeartbeatingTaskOutlivesStaleAfter) {
  NewWork("beat", 1, 2);
  auto d = Claim("beat", {std::nullopt, 60});
  // Claimed "long ago", far beyond stale_after, but its lease is alive.
  Exec("UPDATE task SET start_time = now() - interval '2 hours' WHERE id = '" + d.task.id + "'");
  auto beat = store_->HeartbeatTask(d.task.id, d.task.claim_id, 120);
  JOBNIK_ASSERT_OK(beat);
  EXPECT_EQ(beat->claim_id, *d.task.claim_id);
  EXPECT_GT(beat->lease_expires_at, *d.task.lease_expires_at);
  EXPECT_EQ(Sweep(Now(), std::chrono::seconds(1)), 0);
  EXPECT_EQ(store_->GetTask(d.task.id)->status, TaskStatus::kInProgress);
}

TEST_F(LeaseTest, AnExpiredLeaseIsFailedLikeAReportAndRetried) {
  NewWork("expire", 1, 2);
  auto d = Claim("expire", {std::string("w-9"), 60});
  EXPECT_EQ(Sweep(Now()), 0);  // alive
  Exec("UPDATE task SET lease_expires_at = now() - interval '1 second' WHERE id = '" + d.task.id + "'");
  EXPECT_EQ(Sweep(Now()), 1);
  auto task = store_->GetTask(d.task.id);
  EXPECT_EQ(task->status, TaskStatus::kRetried);
  EXPECT_EQ(task->attempts, 1);
  auto errors = Errors(d.task.id);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["reason"], "lease expired");
  EXPECT_EQ(errors[0]["attempt"], 1);
  EXPECT_EQ(errors[0]["workerId"], "w-9");
  EXPECT_TRUE(errors[0].contains("at"));
  // Retried: claimable again, and the late worker's heartbeat and report are refused.
  auto again = Claim("expire");
  EXPECT_EQ(again.task.id, d.task.id);
  EXPECT_EQ(store_->HeartbeatTask(d.task.id, d.task.claim_id, 60).status().code(), ErrorCode::kTaskClaimMismatch);
  EXPECT_EQ(store_->ReportTask(d.task.id, TaskStatus::kCompleted, {d.task.claim_id, std::nullopt}).status().code(),
            ErrorCode::kTaskClaimMismatch);
}

TEST_F(LeaseTest, AHeartbeatOfATaskOfAPausedOrAbortedJobAnswersJobNotActive) {
  const auto job = NewWork("stop", 2, 1);
  auto d = Claim("stop", {std::nullopt, 60});
  ASSERT_TRUE(store_->SetJobStatus(job, JobStatus::kPaused).ok());
  EXPECT_EQ(store_->HeartbeatTask(d.task.id, d.task.claim_id, 60).status().code(), ErrorCode::kJobNotActive);
  ASSERT_TRUE(store_->SetJobStatus(job, JobStatus::kPending).ok());
  JOBNIK_ASSERT_OK(store_->HeartbeatTask(d.task.id, d.task.claim_id, 60));
  ASSERT_TRUE(store_->SetJobStatus(job, JobStatus::kAborted).ok());
  EXPECT_EQ(store_->HeartbeatTask(d.task.id, d.task.claim_id, 60).status().code(), ErrorCode::kJobNotActive);
  EXPECT_EQ(store_->HeartbeatTask(d.task.id, std::nullopt, 60).status().code(), ErrorCode::kJobNotActive);
}

TEST_F(LeaseTest, AHeartbeatWritesOnlyTheTaskLease) {
  const auto job = NewWork("cheap", 1, 1);
  auto d = Claim("cheap", {std::nullopt, 60});
  const auto stage_before = Query1("SELECT update_time::text FROM stage WHERE id = '" + d.task.stage_id + "'");
  const auto job_before = Query1("SELECT update_time::text FROM job WHERE id = '" + job + "'");
  const auto task_before = Query1("SELECT update_time::text FROM task WHERE id = '" + d.task.id + "'");
  JOBNIK_ASSERT_OK(store_->HeartbeatTask(d.task.id, std::nullopt, 90));
  EXPECT_EQ(Query1("SELECT update_time::text FROM stage WHERE id = '" + d.task.stage_id + "'"), stage_before);
  EXPECT_EQ(Query1("SELECT update_time::text FROM job WHERE id = '" + job + "'"), job_before);
  EXPECT_EQ(Query1("SELECT update_time::text FROM task WHERE id = '" + d.task.id + "'"), task_before);
}

TEST_F(LeaseTest, HeartbeatsOfUnknownOrFinishedTasksAreRefused) {
  NewWork("gone", 1, 1);
  auto d = Claim("gone");
  EXPECT_EQ(store_->HeartbeatTask("00000000-0000-0000-0000-000000000000", std::nullopt, 60).status().code(),
            ErrorCode::kTaskNotFound);
  EXPECT_EQ(store_->HeartbeatTask(d.task.id, "00000000-0000-0000-0000-000000000000", 60).status().code(),
            ErrorCode::kTaskClaimMismatch);
  JOBNIK_ASSERT_OK(store_->ReportTask(d.task.id, TaskStatus::kCompleted));
  EXPECT_EQ(store_->HeartbeatTask(d.task.id, std::nullopt, 60).status().code(), ErrorCode::kTaskClaimMismatch);
}

// A task claimed without a lease keeps the stale_after rule; a leased one is not stale.
TEST_F(LeaseTest, StaleAfterAppliesOnlyToTasksClaimedWithoutALease) {
  NewWork("mixed", 2, 2);
  auto plain = Claim("mixed");
  auto leased = Claim("mixed", {std::nullopt, 3600});
  Exec("UPDATE task SET start_time = now() - interval '2 hours'");
  EXPECT_EQ(Sweep(Now()), 1);
  EXPECT_EQ(store_->GetTask(plain.task.id)->status, TaskStatus::kRetried);
  EXPECT_EQ(store_->GetTask(leased.task.id)->status, TaskStatus::kInProgress);
  auto errors = Errors(plain.task.id);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["reason"], "stale");
  EXPECT_FALSE(errors[0].contains("workerId"));
}

// ---- failure reasons

TEST_F(LeaseTest, ReasonsOfFailuresAreKeptNewestLastAndBounded) {
  NewWork("why", 1, 30);
  std::string id;
  for (int i = 1; i <= 25; ++i) {
    auto d = Claim("why", {std::string("w") + std::to_string(i), std::nullopt});
    id = d.task.id;
    JOBNIK_ASSERT_OK(store_->ReportTask(id, TaskStatus::kFailed, {std::nullopt, "boom " + std::to_string(i)}));
  }
  auto errors = Errors(id);
  ASSERT_EQ(errors.size(), 20u);
  EXPECT_EQ(errors[0]["attempt"], 6);
  EXPECT_EQ(errors[0]["reason"], "boom 6");
  EXPECT_EQ(errors[19]["attempt"], 25);
  EXPECT_EQ(errors[19]["reason"], "boom 25");
  EXPECT_EQ(errors[19]["workerId"], "w25");
}

TEST_F(LeaseTest, AFinalFailureRecordsItsReasonToo) {
  NewWork("final", 1, 1);
  auto d = Claim("final");
  auto r = store_->ReportTask(d.task.id, TaskStatus::kFailed, {d.task.claim_id, "disk full"});
  JOBNIK_ASSERT_OK(r);
  EXPECT_EQ(r->task.status, TaskStatus::kFailed);
  ASSERT_TRUE(r->task.errors.has_value());
  auto errors = Errors(d.task.id);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["reason"], "disk full");
}

TEST_F(LeaseTest, TheHappyPathWritesNoErrors) {
  NewWork("happy", 1, 1);
  auto d = Claim("happy", {std::string("w"), 30});
  auto r = store_->ReportTask(d.task.id, TaskStatus::kCompleted, {d.task.claim_id, std::nullopt});
  JOBNIK_ASSERT_OK(r);
  EXPECT_EQ(Query1("SELECT coalesce(errors::text, '') FROM task WHERE id = '" + d.task.id + "'"), "");
}

}  // namespace
}  // namespace jobnik::testing
