// Batch claims and batch reports (POST /v1/tasks/claim, POST /v1/tasks/status;
// docs/design.md "Batch claims and reports") on a real PostgreSQL through the store.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "domain/model.h"
#include "fixtures.h"
#include "pg_test_env.h"

namespace jobnik::testing {
namespace {

using domain::ErrorCode;
using domain::JobStatus;
using domain::Priority;
using domain::StageStatus;
using domain::TaskStatus;

class BatchTest : public DbTest {
 protected:
  struct Work {
    std::string job_id, stage_id;
    std::vector<std::string> task_ids;  // in creation order
  };

  // A job of `priority` with one stage of `type` and `n` tasks of `max_attempts`.
  Work NewWork(const std::string& type, int n, Priority priority = Priority::kMedium, int max_attempts = 1,
               bool waiting = false) {
    Work w;
    auto job = store_->CreateJob(AJob("batch", priority), ATrace());
    EXPECT_TRUE(job.ok()) << Describe(job.status());
    auto stage = store_->AddStage(job->id, AStage(type, waiting), ATrace());
    EXPECT_TRUE(stage.ok()) << Describe(stage.status());
    auto tasks = store_->AddTasks(stage->id, SomeTasks(n, max_attempts), ATrace());
    EXPECT_TRUE(tasks.ok()) << Describe(tasks.status());
    w.job_id = job->id;
    w.stage_id = stage->id;
    for (const auto& t : *tasks) w.task_ids.push_back(t.id);
    return w;
  }

  std::vector<store::ClaimedTask> Claim(const std::vector<std::string>& types, int limit,
                                        const store::ClaimOptions& options = {}) {
    auto claimed = store_->ClaimTasks(types, limit, options);
    EXPECT_TRUE(claimed.ok()) << Describe(claimed.status());
    return claimed.ok() ? *claimed : std::vector<store::ClaimedTask>{};
  }

  static std::vector<std::string> Ids(const std::vector<store::ClaimedTask>& claimed) {
    std::vector<std::string> ids;
    for (const auto& d : claimed) ids.push_back(d.task.id);
    return ids;
  }

  TaskStatus StatusOf(const std::string& task_id) {
    auto t = store_->GetTask(task_id);
    EXPECT_TRUE(t.ok()) << Describe(t.status());
    return t.ok() ? t->status : TaskStatus::kCreated;
  }
};

// ---- batch claim

TEST_F(BatchTest, WithinATypeTheV1OrderHoldsHighestPriorityThenOldest) {
  const auto low = NewWork("order", 2, Priority::kLow);
  const auto high = NewWork("order", 2, Priority::kHigh);
  const auto medium = NewWork("order", 2, Priority::kMedium);
  EXPECT_EQ(Ids(Claim({"order"}, 3)),
            (std::vector<std::string>{high.task_ids[0], high.task_ids[1], medium.task_ids[0]}));
  EXPECT_EQ(Ids(Claim({"order"}, 10)),
            (std::vector<std::string>{medium.task_ids[1], low.task_ids[0], low.task_ids[1]}));
  EXPECT_TRUE(Claim({"order"}, 10).empty());
}

TEST_F(BatchTest, AcrossTypesHighestPriorityFirstThenOldestOverAllTheTypes) {
  const auto a_low = NewWork("type-a", 2, Priority::kLow);
  const auto b_medium = NewWork("type-b", 2, Priority::kMedium);
  const auto a_medium = NewWork("type-a", 1, Priority::kMedium);
  const auto c_high = NewWork("type-c", 1, Priority::kVeryHigh);
  NewWork("type-other", 3, Priority::kVeryHigh);  // not asked for
  EXPECT_EQ(Ids(Claim({"type-a", "type-b", "type-c"}, 5)),
            (std::vector<std::string>{c_high.task_ids[0], b_medium.task_ids[0], b_medium.task_ids[1],
                                      a_medium.task_ids[0], a_low.task_ids[0]}));
  EXPECT_EQ(Ids(Claim({"type-b", "type-a"}, 5)), (std::vector<std::string>{a_low.task_ids[1]}));
}

// A claim over many types locks about the tasks it claims, not `limit` of every type: a
// row lock leaves the lock-only transaction id in the row's xmax, so the PENDING rows with
// one are the rows a claim locked without claiming them (160 - 10 when each branch locked
// its first 10).
TEST_F(BatchTest, AClaimOverManyTypesLocksOnlyTheTasksItClaims) {
  std::vector<std::string> types;
  for (int i = 0; i < 16; ++i) {
    types.push_back("wide-" + std::to_string(i));
    NewWork(types.back(), 20);
  }
  ASSERT_EQ(Claim(types, 10).size(), 10U);
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE status = 'PENDING' AND xmax <> '0'"), "0");
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE status = 'IN_PROGRESS'"), "10");
}

TEST_F(BatchTest, TheLimitBoundsTheClaimAndAnEmptyQueueGivesNoTasks) {
  NewWork("limit", 10);
  EXPECT_EQ(Claim({"limit"}, 4).size(), 4U);
  EXPECT_EQ(Claim({"limit"}, 1000).size(), 6U);
  EXPECT_TRUE(Claim({"limit"}, 1000).empty());
  EXPECT_TRUE(Claim({"no-such-type"}, 5).empty());
}

TEST_F(BatchTest, EveryTaskGetsItsOwnClaimAndTheRequestsLeaseAndWorker) {
  const auto w = NewWork("lease", 3);
  const auto claimed = Claim({"lease"}, 3, {std::string("worker-7"), 60});
  ASSERT_EQ(claimed.size(), 3U);
  std::set<std::string> claims;
  for (const auto& d : claimed) {
    EXPECT_EQ(d.task.status, TaskStatus::kInProgress);
    ASSERT_TRUE(d.task.claim_id.has_value());
    claims.insert(*d.task.claim_id);
    EXPECT_EQ(d.task.worker_id, std::optional<std::string>("worker-7"));
    ASSERT_TRUE(d.task.lease_expires_at.has_value());
    EXPECT_GT(*d.task.lease_expires_at, std::chrono::system_clock::now() + std::chrono::seconds(50));
    EXPECT_EQ(d.job_id, w.job_id);
    const auto stored = store_->GetTask(d.task.id);
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(stored->claim_id, d.task.claim_id);
    EXPECT_EQ(stored->lease_expires_at, d.task.lease_expires_at);
  }
  EXPECT_EQ(claims.size(), 3U);
  // Without a lease: no expiry (the sweeper's stale_after applies).
  NewWork("nolease", 1);
  const auto plain = Claim({"nolease"}, 1);
  ASSERT_EQ(plain.size(), 1U);
  EXPECT_FALSE(plain[0].task.lease_expires_at.has_value());
  EXPECT_FALSE(plain[0].task.worker_id.has_value());
}

TEST_F(BatchTest, TheFirstClaimStartsStageAndJobOnceAndInactiveWorkIsNotClaimed) {
  const auto w = NewWork("start", 3);
  const auto paused = NewWork("start", 2);
  ASSERT_TRUE(store_->SetJobStatus(paused.job_id, JobStatus::kPaused).ok());
  const auto waiting = NewWork("start", 2, Priority::kVeryHigh, 1, /*waiting=*/true);
  const auto claimed = Claim({"start"}, 10);
  ASSERT_EQ(Ids(claimed), w.task_ids);  // not the paused job's, not the waiting stage's
  EXPECT_TRUE(claimed[0].stage_started);
  EXPECT_TRUE(claimed[0].job_started);
  for (std::size_t i = 1; i < claimed.size(); ++i) {
    EXPECT_FALSE(claimed[i].stage_started);
    EXPECT_FALSE(claimed[i].job_started);
  }
  EXPECT_EQ(store_->GetJob(w.job_id)->status, JobStatus::kInProgress);
  EXPECT_EQ(store_->GetStage(w.stage_id)->status, StageStatus::kInProgress);
  EXPECT_EQ(store_->GetJob(paused.job_id)->status, JobStatus::kPaused);
  EXPECT_EQ(store_->GetStage(waiting.stage_id)->status, StageStatus::kWaiting);
  // Resumed and released, they are claimable like any other.
  ASSERT_TRUE(store_->SetJobStatus(paused.job_id, JobStatus::kPending).ok());
  ASSERT_TRUE(store_->SetStageStatus(waiting.stage_id, StageStatus::kPending).ok());
  EXPECT_EQ(Claim({"start"}, 10).size(), 4U);
}

TEST_F(BatchTest, BadRequestsAreRefusedByTheStoreToo) {
  EXPECT_EQ(store_->ClaimTasks({}, 1).status().code(), ErrorCode::kValidation);
  EXPECT_EQ(store_->ClaimTasks({"a", "a"}, 1).status().code(), ErrorCode::kValidation);
  EXPECT_EQ(store_->ClaimTasks({"a"}, 0).status().code(), ErrorCode::kValidation);
  std::vector<std::string> seventeen;
  for (int i = 0; i < 17; ++i) seventeen.push_back("t" + std::to_string(i));
  EXPECT_EQ(store_->ClaimTasks(seventeen, 1).status().code(), ErrorCode::kValidation);
}

TEST_F(BatchTest, ConcurrentBatchClaimsClaimEveryTaskExactlyOnce) {
  // 2,000 tasks over two types; 8 threads claim 50 at a time until nothing is left.
  std::set<std::string> all;
  for (int j = 0; j < 4; ++j) {
    for (const auto& id : NewWork(j % 2 ? "hammer-a" : "hammer-b", 500).task_ids) all.insert(id);
  }
  ASSERT_EQ(all.size(), 2000U);
  std::mutex mu;
  std::map<std::string, int> claimed;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const std::vector<std::string> types =
          t % 2 ? std::vector<std::string>{"hammer-a", "hammer-b"} : std::vector<std::string>{"hammer-b", "hammer-a"};
      for (int empty = 0; empty < 3;) {
        auto batch = store_->ClaimTasks(types, 50);
        std::lock_guard lock(mu);
        if (!batch.ok()) {
          errors.push_back(Describe(batch.status()));
          return;
        }
        if (batch->empty()) ++empty;  // a few empty answers in a row: SKIP LOCKED may pass rows by
        for (const auto& d : *batch) ++claimed[d.task.id];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(claimed.size(), all.size());
  for (const auto& [id, n] : claimed) {
    EXPECT_EQ(n, 1) << id;
    EXPECT_TRUE(all.count(id)) << id;
  }
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE status = 'IN_PROGRESS'"), "2000");
}

// A batch claim of a few tasks of one type goes into the dequeues' group commit: batch
// claims of 1 to 9 and single dequeues of the same type, from 12 threads at once, share
// its transactions and still claim every task once, with its own claim token.
TEST_F(BatchTest, OneTypeBatchClaimsAndDequeuesTogetherClaimEveryTaskExactlyOnce) {
  std::set<std::string> all;
  for (int j = 0; j < 3; ++j) {
    for (const auto& id : NewWork("one-type", 500, j == 1 ? Priority::kHigh : Priority::kMedium).task_ids) {
      all.insert(id);
    }
  }
  std::mutex mu;
  std::map<std::string, int> claimed;
  std::set<std::string> tokens;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&, t] {
      for (int empty = 0; empty < 3;) {
        std::vector<store::ClaimedTask> got;
        if (t % 3 == 0) {
          auto one = store_->ClaimTask("one-type");
          if (one.ok()) {
            got.push_back(std::move(one).value());
          } else if (one.status().code() != ErrorCode::kTaskNotFound) {
            std::lock_guard lock(mu);
            errors.push_back(Describe(one.status()));
            return;
          }
        } else {
          auto batch = store_->ClaimTasks({"one-type"}, 1 + t % 9, {std::string("w") + std::to_string(t), 60});
          if (!batch.ok()) {
            std::lock_guard lock(mu);
            errors.push_back(Describe(batch.status()));
            return;
          }
          if (batch->size() > static_cast<std::size_t>(1 + t % 9)) {
            std::lock_guard lock(mu);
            errors.push_back("more tasks than the limit");
          }
          for (const auto& d : *batch) {
            // Each task carries the options of the request that claimed it.
            if (d.task.worker_id != std::optional<std::string>(std::string("w") + std::to_string(t)) ||
                !d.task.lease_expires_at) {
              std::lock_guard lock(mu);
              errors.push_back("task " + d.task.id + " without its claim's worker or lease");
            }
          }
          got = std::move(batch).value();
        }
        std::lock_guard lock(mu);
        if (got.empty()) ++empty;
        for (const auto& d : got) {
          ++claimed[d.task.id];
          if (d.task.claim_id) tokens.insert(*d.task.claim_id);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(claimed.size(), all.size());
  for (const auto& [id, n] : claimed) {
    EXPECT_EQ(n, 1) << id;
    EXPECT_TRUE(all.count(id)) << id;
  }
  EXPECT_EQ(tokens.size(), all.size());
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE status = 'IN_PROGRESS'"), "1500");
}

// ---- batch report

TEST_F(BatchTest, ABatchReportAnswersEachItemOnItsOwnInOrder) {
  const auto w = NewWork("report", 6, Priority::kMedium, 2);
  const auto claimed = Claim({"report"}, 5);  // task 5 stays PENDING
  ASSERT_EQ(claimed.size(), 5U);
  const std::string unknown = "00000000-0000-4000-8000-000000000000";
  const std::string other_claim = "11111111-1111-4111-8111-111111111111";
  const std::vector<store::TaskUpdate> updates = {
      {claimed[0].task.id, TaskStatus::kCompleted, {claimed[0].task.claim_id, std::nullopt}},
      {claimed[1].task.id, TaskStatus::kFailed, {claimed[1].task.claim_id, std::string("boom")}},
      {unknown, TaskStatus::kCompleted, {}},
      {w.task_ids[5], TaskStatus::kCompleted, {}},                      // not IN_PROGRESS
      {claimed[2].task.id, TaskStatus::kCompleted, {other_claim, {}}},  // another claim
      {claimed[3].task.id, TaskStatus::kFailed, {other_claim, {}}},     // another claim, failure path
      {claimed[4].task.id, TaskStatus::kCompleted, {}},
      {claimed[4].task.id, TaskStatus::kCompleted, {}},  // the same task again
  };
  const auto results = store_->ReportTasks(updates);
  ASSERT_EQ(results.size(), updates.size());
  EXPECT_TRUE(results[0].ok()) << Describe(results[0].status());
  ASSERT_TRUE(results[1].ok()) << Describe(results[1].status());
  EXPECT_EQ(results[1]->task.status, TaskStatus::kRetried);
  EXPECT_EQ(results[2].status().code(), ErrorCode::kTaskNotFound);
  EXPECT_EQ(results[3].status().code(), ErrorCode::kIllegalTaskStatusTransition);
  EXPECT_EQ(results[4].status().code(), ErrorCode::kTaskClaimMismatch);
  EXPECT_EQ(results[5].status().code(), ErrorCode::kTaskClaimMismatch);
  EXPECT_TRUE(results[6].ok()) << Describe(results[6].status());
  EXPECT_EQ(results[7].status().code(), ErrorCode::kIllegalTaskStatusTransition);

  EXPECT_EQ(StatusOf(claimed[0].task.id), TaskStatus::kCompleted);
  EXPECT_EQ(StatusOf(claimed[1].task.id), TaskStatus::kRetried);
  EXPECT_EQ(StatusOf(claimed[2].task.id), TaskStatus::kInProgress);
  EXPECT_EQ(StatusOf(claimed[3].task.id), TaskStatus::kInProgress);
  EXPECT_EQ(StatusOf(claimed[4].task.id), TaskStatus::kCompleted);
  EXPECT_EQ(StatusOf(w.task_ids[5]), TaskStatus::kPending);
  auto summary = store_->GetStageSummary(w.stage_id);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->completed, 2);
}

TEST_F(BatchTest, ABatchOfCompletionsFinishesStageAndJobWithTheirCascade) {
  const auto w = NewWork("finish", 20);
  const auto claimed = Claim({"finish"}, 20);
  ASSERT_EQ(claimed.size(), 20U);
  std::vector<store::TaskUpdate> updates;
  for (const auto& d : claimed) updates.push_back({d.task.id, TaskStatus::kCompleted, {d.task.claim_id, {}}});
  const auto results = store_->ReportTasks(updates);
  int stage_completed = 0, job_completed = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << Describe(r.status());
    stage_completed += r->stage_completed ? 1 : 0;
    job_completed += r->job_completed ? 1 : 0;
  }
  EXPECT_EQ(stage_completed, 1);
  EXPECT_EQ(job_completed, 1);
  EXPECT_EQ(store_->GetJob(w.job_id)->status, JobStatus::kCompleted);
}

// A report that makes the SQL fail (here: a trigger raising on one task's completion)
// fails alone; its neighbours in the same completion batch still commit. Without the
// fix the whole batch failed with it.
TEST_F(BatchTest, APoisonReportFailsAloneAndItsNeighboursCommit) {
  const auto w = NewWork("poison", 9);
  const auto claimed = Claim({"poison"}, 9);
  ASSERT_EQ(claimed.size(), 9U);
  const std::string poison = claimed[4].task.id;
  Exec(R"(CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF NEW.status = 'COMPLETED' AND NEW.id = ')" +
       poison + R"('::uuid THEN RAISE EXCEPTION 'poison task'; END IF;
            RETURN NEW;
          END $$;
          CREATE TRIGGER poison BEFORE UPDATE ON task FOR EACH ROW EXECUTE FUNCTION poison();)");
  std::vector<store::TaskUpdate> updates;
  for (const auto& d : claimed) updates.push_back({d.task.id, TaskStatus::kCompleted, {d.task.claim_id, {}}});
  const auto results = store_->ReportTasks(updates);
  ASSERT_EQ(results.size(), 9U);
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (claimed[i].task.id == poison) {
      EXPECT_FALSE(results[i].ok());
      EXPECT_EQ(StatusOf(poison), TaskStatus::kInProgress);
    } else {
      EXPECT_TRUE(results[i].ok()) << i << ": " << Describe(results[i].status());
      EXPECT_EQ(StatusOf(claimed[i].task.id), TaskStatus::kCompleted);
    }
  }
  auto summary = store_->GetStageSummary(w.stage_id);
  ASSERT_TRUE(summary.ok());
  EXPECT_EQ(summary->completed, 8);
  // The same through the single report's group commit: concurrent completions with the
  // poison among them; only the poison's report fails.
  Exec("DROP TRIGGER poison ON task");
  const auto more = NewWork("poison2", 16);
  const auto claimed2 = Claim({"poison2"}, 16);
  ASSERT_EQ(claimed2.size(), 16U);
  const std::string poison2 = claimed2[7].task.id;
  Exec(R"(CREATE OR REPLACE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF NEW.status = 'COMPLETED' AND NEW.id = ')" +
       poison2 + R"('::uuid THEN RAISE EXCEPTION 'poison task'; END IF;
            RETURN NEW;
          END $$;
          CREATE TRIGGER poison BEFORE UPDATE ON task FOR EACH ROW EXECUTE FUNCTION poison();)");
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<std::pair<std::string, bool>> outcomes;
  for (const auto& d : claimed2) {
    threads.emplace_back([&, d] {
      auto r = store_->ReportTask(d.task.id, TaskStatus::kCompleted, {d.task.claim_id, {}});
      std::lock_guard lock(mu);
      outcomes.emplace_back(d.task.id, r.ok());
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& [id, ok] : outcomes) EXPECT_EQ(ok, id != poison2) << id;
  EXPECT_EQ(store_->GetStageSummary(more.stage_id)->completed, 15);
}

}  // namespace
}  // namespace jobnik::testing
