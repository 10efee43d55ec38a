// Per-stage-type concurrency limits (docs/design.md, "Concurrency limits") on a real
// PostgreSQL through the store: the limit caps every kind of claim, in the claim itself,
// across stores on separate pools (as separate jobnikd instances would be).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "domain/model.h"
#include "fixtures.h"
#include "pg_test_env.h"

namespace jobnik::testing {
namespace {

using domain::ErrorCode;
using domain::TaskStatus;

class LimitsTest : public DbTest {
 protected:
  // A job with one stage of `type` and `n` tasks of `max_attempts`; their ids.
  std::vector<std::string> NewTasks(const std::string& type, int n, int max_attempts = 1) {
    auto job = store_->CreateJob(AJob("limits"), ATrace());
    EXPECT_TRUE(job.ok()) << Describe(job.status());
    auto stage = store_->AddStage(job->id, AStage(type), ATrace());
    EXPECT_TRUE(stage.ok()) << Describe(stage.status());
    auto tasks = store_->AddTasks(stage->id, SomeTasks(n, max_attempts), ATrace());
    EXPECT_TRUE(tasks.ok()) << Describe(tasks.status());
    std::vector<std::string> ids;
    for (const auto& t : *tasks) ids.push_back(t.id);
    return ids;
  }

  int InProgress(const std::string& type) {
    return std::stoi(Query1("SELECT count(*) FROM task WHERE status = 'IN_PROGRESS' AND stage_type = '" + type + "'"));
  }

  void SetLimit(const std::string& type, int n) { JOBNIK_ASSERT_OK(store_->SetStageTypeLimit(type, n)); }
};

TEST_F(LimitsTest, ALimitIsSetReadChangedListedAndRemoved) {
  EXPECT_EQ(store_->GetStageTypeLimit("render").status().code(), ErrorCode::kLimitNotFound);
  auto set = store_->SetStageTypeLimit("render", 3);
  JOBNIK_ASSERT_OK(set);
  EXPECT_EQ(set->stage_type, "render");
  EXPECT_EQ(set->max_in_progress, 3);
  auto changed = store_->SetStageTypeLimit("render", 5);
  JOBNIK_ASSERT_OK(changed);
  EXPECT_EQ(store_->GetStageTypeLimit("render")->max_in_progress, 5);
  SetLimit("encode", 0);
  auto all = store_->ListStageTypeLimits();
  JOBNIK_ASSERT_OK(all);
  ASSERT_EQ(all->size(), 2U);
  EXPECT_EQ((*all)[0].stage_type, "encode");
  EXPECT_EQ((*all)[1].max_in_progress, 5);
  EXPECT_EQ(store_->SetStageTypeLimit("render", -1).status().code(), ErrorCode::kValidation);
  EXPECT_TRUE(*store_->DeleteStageTypeLimit("render"));
  EXPECT_FALSE(*store_->DeleteStageTypeLimit("render"));
  EXPECT_EQ(store_->GetStageTypeLimit("render").status().code(), ErrorCode::kLimitNotFound);
}

TEST_F(LimitsTest, DequeuesBeyondTheLimitGetNothingAndAFreedSlotIsClaimableAgain) {
  const auto ids = NewTasks("render", 10);
  SetLimit("render", 2);
  // Five dequeue requests in one batch: two get a task, three are refused by the limit.
  auto results = store_->ClaimBatch({"render", "render", "render", "render", "render"});
  int claimed = 0;
  for (const auto& r : results) {
    if (r.ok()) {
      ++claimed;
    } else {
      EXPECT_EQ(r.status().code(), ErrorCode::kTaskNotFound);
      EXPECT_NE(r.status().message().find("concurrency limit"), std::string::npos) << r.status().message();
    }
  }
  EXPECT_EQ(claimed, 2);
  EXPECT_EQ(InProgress("render"), 2);
  EXPECT_EQ(store_->ClaimTask("render").status().code(), ErrorCode::kTaskNotFound);
  // A completion frees a slot: exactly one more claim succeeds.
  auto first = store_->GetTask(ids[0]);
  JOBNIK_ASSERT_OK(first);
  ASSERT_EQ(first->status, TaskStatus::kInProgress);
  JOBNIK_ASSERT_OK(store_->ReportTask(ids[0], TaskStatus::kCompleted));
  JOBNIK_ASSERT_OK(store_->ClaimTask("render"));
  EXPECT_EQ(store_->ClaimTask("render").status().code(), ErrorCode::kTaskNotFound);
  // A failure frees one too (max_attempts 1: FAILED).
  JOBNIK_ASSERT_OK(store_->ReportTask(ids[1], TaskStatus::kFailed));
  EXPECT_EQ(InProgress("render"), 1);
}

TEST_F(LimitsTest, ABatchClaimGetsWhatFitsAndUnlimitedTypesAreUnaffected) {
  NewTasks("render", 10);
  NewTasks("plain", 10);
  SetLimit("render", 3);
  auto batch = store_->ClaimTasks({"render", "plain"}, 20);
  JOBNIK_ASSERT_OK(batch);
  EXPECT_EQ(batch->size(), 13U);  // 3 of render, all 10 of plain
  EXPECT_EQ(InProgress("render"), 3);
  EXPECT_EQ(InProgress("plain"), 10);
  auto none = store_->ClaimTasks({"render"}, 5);
  JOBNIK_ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
  // Dequeues of both types in one batch: the limited one is refused, the other is not.
  NewTasks("plain", 2);
  auto results = store_->ClaimBatch({"render", "plain", "plain"});
  EXPECT_EQ(results[0].status().code(), ErrorCode::kTaskNotFound);
  EXPECT_TRUE(results[1].ok());
  EXPECT_TRUE(results[2].ok());
}

TEST_F(LimitsTest, ZeroPausesATypeAndRemovingTheLimitReleasesIt) {
  NewTasks("render", 4);
  SetLimit("render", 0);
  EXPECT_EQ(store_->ClaimTask("render").status().code(), ErrorCode::kTaskNotFound);
  JOBNIK_ASSERT_OK(store_->DeleteStageTypeLimit("render"));
  auto all = store_->ClaimTasks({"render"}, 10);
  JOBNIK_ASSERT_OK(all);
  EXPECT_EQ(all->size(), 4U);
}

// The count of a limited type's tasks in progress reads its type's live entries, not one
// entry per task completed since the last VACUUM: every completed task leaves a dead
// IN_PROGRESS index entry behind, and a count by bitmap scan over task_active (0008)
// read them all again in every claim (19 ms a claim after 14,000 completions). With
// autovacuum off, 300 tasks claimed and completed one by one, then 5 left in progress:
// the rows and index entries one claim_slots call reads (this transaction's statistics:
// by sequential scan, index scan or bitmap) are about those 5.
TEST_F(LimitsTest, TheCountReadsTheTasksInProgressNotThoseThatCompletedBeforeThem) {
  Exec("ALTER TABLE task SET (autovacuum_enabled = false)");
  NewTasks("render", 405);
  SetLimit("render", 200);
  // Statistics taken while many tasks were in progress, as autovacuum's analyze of a busy
  // table would be: with them the old count read every row by sequential scan here (the
  // benchmark's larger table got the bitmap scan).
  auto busy = store_->ClaimTasks({"render"}, 100);
  JOBNIK_ASSERT_OK(busy);
  Exec("ANALYZE task");
  for (const auto& t : *busy) JOBNIK_ASSERT_OK(store_->ReportTask(t.task.id, TaskStatus::kCompleted));
  for (int i = 0; i < 300; ++i) {
    auto task = store_->ClaimTask("render");
    JOBNIK_ASSERT_OK(task);
    JOBNIK_ASSERT_OK(store_->ReportTask(task->task.id, TaskStatus::kCompleted));
  }
  for (int i = 0; i < 5; ++i) JOBNIK_ASSERT_OK(store_->ClaimTask("render"));
  ASSERT_EQ(InProgress("render"), 5);
  EXPECT_EQ(Query1("SELECT free FROM claim_slots(ARRAY['render'])"), "195");
  const auto entries_read = [&] {
    return std::stoi(Query1(
        "SELECT count(*) FROM claim_slots(ARRAY['render']); "
        "SELECT pg_stat_get_xact_tuples_returned('task'::regclass) + "
        "(SELECT sum(pg_stat_get_xact_tuples_returned(indexrelid)) FROM pg_index WHERE indrelid = 'task'::regclass)"));
  };
  // An entry can be marked dead only once no transaction of the database can still see its
  // row, and the tests running beside this one on the cluster have transactions of their
  // own: the first call made while none of them is older than the completions marks the
  // rest. A bitmap or sequential scan reads them all in every call, however many are made.
  int read = entries_read();
  for (int attempt = 0; attempt < 50 && read > 10; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    read = entries_read();
  }
  EXPECT_GE(read, 5);
  EXPECT_LE(read, 10);
}

// The count of tasks in progress is taken after the limit's lock is granted: a claim
// that waited for another claim's lock sees that claim's tasks. (Counted in the claim
// statement's own snapshot, taken before it waited, they would be missed.)
TEST_F(LimitsTest, AClaimThatWaitedForTheLockCountsTheTasksClaimedMeanwhile) {
  const auto ids = NewTasks("render", 6);
  SetLimit("render", 2);
  // Another "claim", by hand: holds the limit's lock and takes two tasks.
  pqxx::connection holder(url_);
  pqxx::work tx(holder);
  tx.exec0("SET LOCAL search_path TO " + tx.quote_name(schema_));
  tx.exec1("SELECT 1 FROM stage_type_limit WHERE stage_type = 'render' FOR UPDATE");
  const std::string xid = tx.exec1("SELECT txid_current()::text")[0].c_str();
  tx.exec0("UPDATE task SET status = 'IN_PROGRESS', start_time = now() WHERE id IN ('" + ids[0] + "', '" + ids[1] +
           "')");
  // The store's claim starts now (its statement's snapshot sees no task in progress) and
  // waits for the lock.
  std::atomic<bool> done{false};
  domain::Result<store::ClaimedTask> claimed = domain::Status(ErrorCode::kUnknown, "not run");
  std::thread claimer([&] {
    claimed = store_->ClaimTask("render");
    done = true;
  });
  // Wait until it is blocked on the holder's transaction, then commit the holder.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (
      Query1(
          "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid' AND transactionid::text = '" +
          xid + "'") == "0") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the claim never waited for the limit's lock";
    ASSERT_FALSE(done.load()) << "the claim did not wait for the limit's lock";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  tx.commit();
  claimer.join();
  EXPECT_EQ(claimed.status().code(), ErrorCode::kTaskNotFound) << "claimed beyond the limit";
  EXPECT_EQ(InProgress("render"), 2);
}

// Many threads on two stores with pools of their own (two jobnikd instances) claim a
// limited type by dequeue and by batch while others complete the claimed tasks; a sampler
// reads the number in progress all along and never sees more than the limit. Midway the
// limit is raised, then lowered; an unlimited type is claimed alongside.
TEST_F(LimitsTest, ConcurrentClaimsOnTwoInstancesNeverExceedTheLimit) {
  constexpr int kTasks = 3000;
  NewTasks("render", kTasks, 1000);  // a failure is retried (RETRIED), it does not fail the stage
  NewTasks("plain", 300);
  std::atomic<int> limit{3};
  SetLimit("render", 3);
  store::pg::Pool other_pool(store::pg::PoolOptions{url_, schema_, 8});
  store::pg::PgStore other(other_pool);
  store::pg::PgStore* stores[] = {store_.get(), &other};

  std::atomic<bool> stop{false};
  std::atomic<int> completed{0}, plain_claimed{0};
  std::mutex claimed_mu;
  std::vector<std::pair<store::pg::PgStore*, std::string>> to_report;  // claimed, not yet reported
  std::atomic<int> errors{0}, attempts{0}, got_render{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto* st = stores[t % 2];
      while (!stop) {
        std::vector<std::string> got;
        if (t % 4 < 2) {
          auto d = st->ClaimTask(t % 4 == 0 ? "render" : "plain");
          if (d.ok()) {
            if (t % 4 == 0)
              got.push_back(d->task.id);
            else
              ++plain_claimed;
          } else if (d.status().code() != ErrorCode::kTaskNotFound) {
            ++errors;
          }
        } else {
          auto batch = st->ClaimTasks({"render"}, 4);
          if (!batch.ok())
            ++errors;
          else
            for (const auto& d : *batch) got.push_back(d.task.id);
        }
        ++attempts;
        got_render += static_cast<int>(got.size());
        const std::lock_guard lock(claimed_mu);
        for (auto& id : got) to_report.emplace_back(stores[(t + 1) % 2], std::move(id));
      }
    });
  }
  for (int r = 0; r < 4; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937 rng(r);
      while (!stop) {
        std::pair<store::pg::PgStore*, std::string> item;
        {
          const std::lock_guard lock(claimed_mu);
          if (!to_report.empty()) {
            item = std::move(to_report.back());
            to_report.pop_back();
          }
        }
        if (item.second.empty()) {
          std::this_thread::yield();
          continue;
        }
        // Reports complete most tasks; some fail (to be retried: RETRIED), also freeing a slot.
        const auto status = rng() % 5 == 0 ? TaskStatus::kFailed : TaskStatus::kCompleted;
        if (auto rep = item.first->ReportTask(item.second, status); rep.ok())
          ++completed;
        else
          ++errors;
      }
    });
  }
  // The sampler: in progress of "render" vs the limit in force. A sample counts against a
  // limit only when the limit did not change while it was taken; after a lowering, only
  // once the count fell to the new limit (tasks in progress run on).
  int max_seen = 0, over = 0, samples = 0;
  bool lowered_reached = false;
  pqxx::connection sampler(url_);
  const std::string count_sql = "SELECT count(*) FROM " + sampler.quote_name(schema_) +
                                ".task WHERE status = 'IN_PROGRESS' AND stage_type = 'render'";
  const auto sample = [&](int phase_limit, bool lowering) {
    const int before = limit;
    const int n = pqxx::nontransaction(sampler).exec1(count_sql)[0].as<int>();
    if (limit != before) return;
    ++samples;
    max_seen = std::max(max_seen, n);
    if (lowering && !lowered_reached) {
      lowered_reached = n <= phase_limit;
      return;
    }
    if (n > phase_limit) ++over;
  };
  const auto run_for = [&](std::chrono::milliseconds d, bool lowering) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end && completed < kTasks - 20) sample(limit, lowering);
  };
  run_for(std::chrono::milliseconds(1200), false);
  limit = 6;
  SetLimit("render", 6);
  run_for(std::chrono::milliseconds(1200), false);
  limit = 2;
  JOBNIK_ASSERT_OK(other.SetStageTypeLimit("render", 2));  // through the other instance
  run_for(std::chrono::milliseconds(1200), true);
  stop = true;
  for (auto& th : threads) th.join();

  std::printf(
      "limits hammer: %d samples, max %d in progress, %d reported, %d unlimited claimed, %d attempts, %d "
      "render claimed\n",
      samples, max_seen, completed.load(), plain_claimed.load(), attempts.load(), got_render.load());
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(over, 0) << "saw more tasks in progress than the limit (max " << max_seen << ")";
  EXPECT_GT(samples, 50);
  EXPECT_GT(completed.load(), 50) << "the limited type made no progress";
  EXPECT_TRUE(lowered_reached);
  EXPECT_EQ(plain_claimed.load(), 300) << "the unlimited type was held back";
}

}  // namespace
}  // namespace jobnik::testing
