// Concurrency: many threads dequeue and complete the same stage; every task is
// claimed exactly as often as it should be, and the counts agree at the end.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "fixtures.h"
#include "pg_test_env.h"

namespace jobnik::testing {
namespace {

using domain::ErrorCode;
using domain::TaskStatus;

class RaceTest : public DbTest {
 protected:
  void SetUp() override {
    pool_size_ = 24;
    DbTest::SetUp();
  }
};

TEST_F(RaceTest, ManyWorkersClaimEveryTaskExactlyOnceAndCountsAgree) {
  constexpr int kTasks = 3000;
  constexpr int kWorkers = 16;
  auto job = store_->CreateJob(AJob("race"), ATrace());
  JOBNIK_ASSERT_OK(job);
  auto stage = store_->AddStage(job->id, AStage("race"), ATrace());
  JOBNIK_ASSERT_OK(stage);
  // Every 10th task fails on its first attempt and is retried once.
  auto tasks = SomeTasks(kTasks, /*max_attempts=*/2);
  JOBNIK_ASSERT_OK(store_->AddTasks(stage->id, tasks, ATrace()));

  std::mutex mu;
  std::map<std::string, int> claims;  // task id -> times claimed
  std::map<std::string, bool> fails_once;
  std::atomic<int> errors{0};
  std::atomic<int> completed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (completed.load() < kTasks) {
        auto d = store_->ClaimTask("race");
        if (!d.ok()) {
          if (d.status().code() != ErrorCode::kTaskNotFound) ++errors;
          if (completed.load() >= kTasks) break;
          std::this_thread::yield();
          continue;
        }
        bool fail = false;
        {
          std::lock_guard lock(mu);
          const int n = ++claims[d->task.id];
          const bool tenth = d->task.data.find("0}") != std::string::npos;  // i % 10 == 0
          fails_once[d->task.id] = tenth;
          fail = tenth && n == 1;
        }
        auto r = store_->ReportTask(d->task.id, fail ? TaskStatus::kFailed : TaskStatus::kCompleted);
        if (!r.ok()) {
          ++errors;
          continue;
        }
        if (!fail) ++completed;
      }
    });
  }
  for (auto& t : workers) t.join();

  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(completed.load(), kTasks);
  ASSERT_EQ(claims.size(), static_cast<std::size_t>(kTasks));
  int retried = 0;
  for (const auto& [id, n] : claims) {
    const int expected = fails_once[id] ? 2 : 1;
    EXPECT_EQ(n, expected) << "task " << id << " claimed " << n << " times";
    retried += fails_once[id] ? 1 : 0;
  }
  EXPECT_EQ(retried, kTasks / 10);

  auto s = store_->GetStage(stage->id);
  JOBNIK_ASSERT_OK(s);
  EXPECT_EQ(s->status, domain::StageStatus::kCompleted);
  EXPECT_EQ(s->percentage, 100);
  EXPECT_EQ(s->summary.completed, kTasks);
  EXPECT_EQ(s->summary.total(), kTasks);
  EXPECT_EQ(s->summary.pending + s->summary.in_progress + s->summary.retried + s->summary.failed, 0);
  auto j = store_->GetJob(job->id);
  JOBNIK_ASSERT_OK(j);
  EXPECT_EQ(j->status, domain::JobStatus::kCompleted);
  EXPECT_EQ(j->percentage, 100);
  // Cross-check the stored counts against the rows themselves.
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE status = 'COMPLETED'"), std::to_string(kTasks));
  EXPECT_EQ(Query1("SELECT sum(attempts) FROM task"), std::to_string(kTasks / 10));
}

TEST_F(RaceTest, ConcurrentReportsOnOneTaskLetExactlyOneWin) {
  constexpr int kRounds = 20;
  constexpr int kReporters = 8;
  auto job = store_->CreateJob(AJob("reports"), ATrace());
  JOBNIK_ASSERT_OK(job);
  auto stage = store_->AddStage(job->id, AStage("reports"), ATrace());
  JOBNIK_ASSERT_OK(stage);
  // Enough attempts that a FAILED report retries the task instead of failing the stage.
  JOBNIK_ASSERT_OK(store_->AddTasks(stage->id, SomeTasks(kRounds, /*max_attempts=*/1000), ATrace()));
  for (int round = 0; round < kRounds; ++round) {
    auto d = store_->ClaimTask("reports");
    JOBNIK_ASSERT_OK(d);
    std::atomic<int> wins{0}, conflicts{0}, other{0};
    std::vector<std::thread> reporters;
    for (int i = 0; i < kReporters; ++i) {
      reporters.emplace_back([&, i] {
        auto r = store_->ReportTask(d->task.id, i % 2 ? TaskStatus::kCompleted : TaskStatus::kFailed);
        if (r.ok()) {
          ++wins;
        } else if (r.status().code() == ErrorCode::kTaskStatusUpdateFailed ||
                   r.status().code() == ErrorCode::kIllegalTaskStatusTransition) {
          ++conflicts;
        } else {
          ++other;
        }
      });
    }
    for (auto& t : reporters) t.join();
    EXPECT_EQ(wins.load(), 1) << "round " << round;
    EXPECT_EQ(conflicts.load(), kReporters - 1);
    EXPECT_EQ(other.load(), 0);
  }
  auto s = store_->GetStage(stage->id);
  JOBNIK_ASSERT_OK(s);
  EXPECT_EQ(std::to_string(s->summary.completed), Query1("SELECT count(*) FROM task WHERE status = 'COMPLETED'"));
  EXPECT_EQ(std::to_string(s->summary.retried), Query1("SELECT count(*) FROM task WHERE status = 'RETRIED'"));
  EXPECT_EQ(s->summary.in_progress, 0);
}

TEST_F(RaceTest, PauseRacingClaimsNeverHandsOutTasksOfAPausedJob) {
  constexpr int kTasks = 400;
  auto job = store_->CreateJob(AJob("pause-race"), ATrace());
  JOBNIK_ASSERT_OK(job);
  auto stage = store_->AddStage(job->id, AStage("pause-race"), ATrace());
  JOBNIK_ASSERT_OK(stage);
  JOBNIK_ASSERT_OK(store_->AddTasks(stage->id, SomeTasks(kTasks), ATrace()));
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      while (!stop) {
        auto d = store_->ClaimTask("pause-race");
        if (!d.ok()) {
          if (d.status().code() != ErrorCode::kTaskNotFound) ++errors;
          continue;
        }
        if (!store_->ReportTask(d->task.id, TaskStatus::kCompleted).ok()) ++errors;
      }
    });
  }
  // Pause while workers are claiming, then check no claim happens while paused.
  while (std::stoi(Query1("SELECT count(*) FROM task WHERE status = 'COMPLETED'")) < 50) std::this_thread::yield();
  ASSERT_TRUE(store_->SetJobStatus(job->id, domain::JobStatus::kPaused).ok());
  const std::string claimed_at_pause = Query1("SELECT count(*) FROM task WHERE start_time IS NOT NULL");
  // Give the workers many chances to (wrongly) claim: poll the queue repeatedly.
  for (int i = 0; i < 200; ++i) EXPECT_EQ(store_->ClaimTask("pause-race").status().code(), ErrorCode::kTaskNotFound);
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE start_time IS NOT NULL"), claimed_at_pause);
  stop = true;
  for (auto& t : workers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE status = 'IN_PROGRESS'"), "0");
}

}  // namespace
}  // namespace jobnik::testing

namespace jobnik::testing {
namespace {

TEST_F(RaceTest, GroupedCompletionsAcrossManyStagesKeepEveryCascadeRight) {
  // 12 jobs x 2 stages x 60 tasks, one stage type: completions of different stages and
  // jobs land in the same batches, and each first stage's last completion must start
  // its second stage; each job must end COMPLETED at 100%.
  constexpr int kJobs = 12, kTasksPerStage = 60, kWorkers = 16;
  std::vector<std::string> jobs;
  for (int j = 0; j < kJobs; ++j) {
    auto job = store_->CreateJob(AJob("grouped"), ATrace());
    JOBNIK_ASSERT_OK(job);
    for (int s = 0; s < 2; ++s) {
      auto stage = store_->AddStage(job->id, AStage("grouped"), ATrace());
      JOBNIK_ASSERT_OK(stage);
      JOBNIK_ASSERT_OK(store_->AddTasks(stage->id, SomeTasks(kTasksPerStage), ATrace()));
    }
    jobs.push_back(job->id);
  }
  const int total = kJobs * 2 * kTasksPerStage;
  std::atomic<int> completed{0}, errors{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (completed.load() < total) {
        auto d = store_->ClaimTask("grouped");
        if (!d.ok()) {
          if (d.status().code() != ErrorCode::kTaskNotFound) ++errors;
          std::this_thread::yield();
          continue;
        }
        auto r = store_->ReportTask(d->task.id, TaskStatus::kCompleted);
        if (r.ok()) {
          ++completed;
        } else {
          ++errors;
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(completed.load(), total);
  for (const auto& id : jobs) {
    auto job = store_->GetJob(id, store::StageDetail::kStages);
    JOBNIK_ASSERT_OK(job);
    EXPECT_EQ(job->status, domain::JobStatus::kCompleted) << id;
    EXPECT_EQ(job->percentage, 100);
    for (const auto& stage : *job->stages) {
      EXPECT_EQ(stage.status, domain::StageStatus::kCompleted);
      EXPECT_EQ(stage.summary.completed, kTasksPerStage);
      EXPECT_EQ(stage.percentage, 100);
    }
  }
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE status <> 'COMPLETED'"), "0");
  EXPECT_EQ(Query1("SELECT sum(task_completed) FROM stage"), std::to_string(total));
}

TEST_F(RaceTest, OneClaimBatchServesManyStageTypesEachRequestItsOwnType) {
  // 20 types (more than one statement's kMaxClaimTypes), type k with k % 4 + 1 tasks in
  // a job of its own, plus a type nobody submitted: one batch of requests, several per
  // type, interleaved. Each request gets a task of its own type, the oldest request of
  // a type the type's first task, and TASK_NOT_FOUND once its type has run out.
  constexpr int kTypes = 20;
  std::map<std::string, std::string> type_of_stage;
  std::map<std::string, std::vector<std::string>> tasks_of_type;  // in claim order
  for (int k = 0; k < kTypes; ++k) {
    const std::string type = "mixed-" + std::to_string(k);
    auto job = store_->CreateJob(AJob("mixed"), ATrace());
    JOBNIK_ASSERT_OK(job);
    auto stage = store_->AddStage(job->id, AStage(type), ATrace());
    JOBNIK_ASSERT_OK(stage);
    auto added = store_->AddTasks(stage->id, SomeTasks(k % 4 + 1), ATrace());
    JOBNIK_ASSERT_OK(added);
    type_of_stage[stage->id] = type;
    for (const auto& t : *added) tasks_of_type[type].push_back(t.id);
  }
  std::vector<std::string> requests;
  for (int round = 0; round < 4; ++round) {
    for (int k = kTypes - 1; k >= 0; --k) requests.push_back("mixed-" + std::to_string(k));
    requests.push_back("mixed-none");
  }
  auto results = store_->ClaimBatch(requests);
  ASSERT_EQ(results.size(), requests.size());
  std::map<std::string, std::size_t> served;  // type -> requests answered with a task
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& type = requests[i];
    auto& next = served[type];
    if (next >= tasks_of_type[type].size()) {
      ASSERT_FALSE(results[i].ok()) << "request " << i << " (" << type << ") got a task beyond its type's";
      EXPECT_EQ(results[i].status().code(), ErrorCode::kTaskNotFound);
      EXPECT_NE(results[i].status().message().find(type), std::string::npos) << results[i].status().message();
      continue;
    }
    JOBNIK_ASSERT_OK(results[i]);
    const auto& d = *results[i];
    EXPECT_EQ(type_of_stage[d.task.stage_id], type) << "request " << i;
    EXPECT_EQ(d.task.id, tasks_of_type[type][next]) << "request " << i << " got its type's task out of order";
    EXPECT_EQ(d.task.status, TaskStatus::kInProgress);
    // The type's first claim started its stage and its job; no other claim reports it.
    EXPECT_EQ(d.stage_started, next == 0) << "request " << i;
    EXPECT_EQ(d.job_started, next == 0) << "request " << i;
    ++next;
  }
  // Four requests per type and at most four tasks each: every task was claimed.
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE status = 'IN_PROGRESS'"), "50");
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE status <> 'IN_PROGRESS'"), "0");
  EXPECT_EQ(Query1("SELECT count(*) FROM stage WHERE status <> 'IN_PROGRESS'"), "0");
  EXPECT_EQ(Query1("SELECT count(*) FROM job WHERE status <> 'IN_PROGRESS'"), "0");
}

TEST_F(RaceTest, WorkersOfManyStageTypesClaimEveryTaskOnceAndOnlyOfTheirType) {
  // 24 threads over 20 types with different priorities, each asking for the types in
  // its own rotation: claims of many types are grouped into the same batches.
  constexpr int kTypes = 20, kTasksPerType = 60, kWorkers = 24;
  std::map<std::string, std::string> type_of_stage;
  for (int k = 0; k < kTypes; ++k) {
    const std::string type = "many-" + std::to_string(k);
    auto job = store_->CreateJob(AJob("many", static_cast<domain::Priority>(k % 5 + 1)), ATrace());
    JOBNIK_ASSERT_OK(job);
    auto stage = store_->AddStage(job->id, AStage(type), ATrace());
    JOBNIK_ASSERT_OK(stage);
    JOBNIK_ASSERT_OK(store_->AddTasks(stage->id, SomeTasks(kTasksPerType), ATrace()));
    type_of_stage[stage->id] = type;
  }
  const int total = kTypes * kTasksPerType;
  std::mutex mu;
  std::map<std::string, int> claims;
  std::atomic<int> completed{0}, errors{0}, wrong_type{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      // Stops at the first wrong answer too: a task of another type is never completed
      // by its own type's workers, and waiting for it would hang.
      for (int i = w; completed.load() < total && wrong_type.load() == 0 && errors.load() == 0; ++i) {
        const std::string type = "many-" + std::to_string(i % kTypes);
        auto d = store_->ClaimTask(type);
        if (!d.ok()) {
          if (d.status().code() != ErrorCode::kTaskNotFound) ++errors;
          continue;
        }
        {
          std::lock_guard lock(mu);
          ++claims[d->task.id];
          if (type_of_stage[d->task.stage_id] != type) ++wrong_type;
        }
        if (store_->ReportTask(d->task.id, TaskStatus::kCompleted).ok()) {
          ++completed;
        } else {
          ++errors;
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(wrong_type.load(), 0);
  EXPECT_EQ(completed.load(), total);
  ASSERT_EQ(claims.size(), static_cast<std::size_t>(total));
  for (const auto& [id, n] : claims) EXPECT_EQ(n, 1) << "task " << id << " claimed " << n << " times";
  EXPECT_EQ(Query1("SELECT count(*) FROM job WHERE status <> 'COMPLETED'"), "0");
  EXPECT_EQ(Query1("SELECT sum(task_completed) FROM stage"), std::to_string(total));
}

TEST_F(RaceTest, AFailingBatchFailsEveryReportInItAndLeavesNothingBehind) {
  auto job = store_->CreateJob(AJob("doomed"), ATrace());
  JOBNIK_ASSERT_OK(job);
  auto stage = store_->AddStage(job->id, AStage("doomed"), ATrace());
  JOBNIK_ASSERT_OK(stage);
  JOBNIK_ASSERT_OK(store_->AddTasks(stage->id, SomeTasks(8), ATrace()));
  std::vector<std::string> claimed;
  for (int i = 0; i < 8; ++i) claimed.push_back(store_->ClaimTask("doomed")->task.id);
  Exec(R"sql(
    CREATE FUNCTION refuse_counting() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'injected failure'; END $$;
    CREATE TRIGGER refuse_counting BEFORE UPDATE OF task_completed ON stage
      FOR EACH ROW EXECUTE FUNCTION refuse_counting();
  )sql");
  std::vector<std::thread> reporters;
  std::atomic<int> failed{0};
  for (const auto& id : claimed) {
    reporters.emplace_back([&, id] {
      if (store_->ReportTask(id, TaskStatus::kCompleted).status().code() == ErrorCode::kDatabase) ++failed;
    });
  }
  for (auto& t : reporters) t.join();
  EXPECT_EQ(failed.load(), 8);
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE status = 'IN_PROGRESS'"), "8");
  EXPECT_EQ(Query1("SELECT task_completed FROM stage"), "0");
}

}  // namespace
}  // namespace jobnik::testing
