// The job event log (schema/0004, docs/design.md "Job events") on a real PostgreSQL:
// what each control action, report and sweep records, newest first, in pages; that it
// is exact under concurrency; that it goes with its job; that the claim/complete flow
// records nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "domain/model.h"
#include "fixtures.h"
#include "pg_test_env.h"
#include "services/sweeper.h"
#include "store/pg/statements.h"

// ASSERT that a Status is ok, printing the error otherwise.
#define ASSERT_STATUS_OK(expr)                                             \
  do {                                                                     \
    const ::jobnik::domain::Status jobnik_s_ = (expr);                     \
    ASSERT_TRUE(jobnik_s_.ok()) << ::jobnik::testing::Describe(jobnik_s_); \
  } while (0)

namespace jobnik::testing {
namespace {

using domain::ErrorCode;
using domain::JobEvent;
using domain::JobStatus;
using domain::StageStatus;
using domain::TaskStatus;

// An event as the tests compare it: entity, entity id, kind, old, new, reason, worker.
struct Seen {
  std::string entity, entity_id, kind;
  std::optional<std::string> old_value;
  std::string new_value;
  std::optional<std::string> reason, worker_id;
  bool operator==(const Seen&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << s.entity << ' ' << s.entity_id << ' ' << s.kind << ' ' << s.old_value.value_or("-") << "->"
            << s.new_value << " reason=" << s.reason.value_or("-") << " worker=" << s.worker_id.value_or("-");
}

class EventsTest : public DbTest {
 protected:
  // Every event of `job_id`, newest first, read in pages of `page_size`.
  std::vector<JobEvent> All(const std::string& job_id, int page_size = 1000) {
    std::vector<JobEvent> out;
    store::ListRange range;
    range.limit = page_size;
    for (;;) {
      auto page = store_->ListJobEvents(job_id, range);
      EXPECT_TRUE(page.ok()) << Describe(page.status());
      if (!page.ok()) return out;
      for (auto& e : page->items) out.push_back(std::move(e));
      if (static_cast<int>(page->items.size()) < page_size) return out;
      range.after = page->keys.back();
    }
  }
  std::vector<Seen> Events(const std::string& job_id) {
    std::vector<Seen> out;
    for (const auto& e : All(job_id)) {
      out.push_back({e.entity, e.entity_id, e.kind, e.old_value, e.new_value, e.reason, e.worker_id});
    }
    return out;
  }
  std::int64_t EventRows() { return std::stoll(Query1("SELECT count(*) FROM job_event")); }

  static Seen JobStatusChange(const std::string& id, JobStatus from, JobStatus to,
                              std::optional<std::string> reason = std::nullopt) {
    return {"job",
            id,
            "status",
            std::string(domain::ToString(from)),
            std::string(domain::ToString(to)),
            std::move(reason),
            std::nullopt};
  }
  static Seen StageStatusChange(const std::string& id, StageStatus from, StageStatus to,
                                std::optional<std::string> reason = std::nullopt) {
    return {"stage",
            id,
            "status",
            std::string(domain::ToString(from)),
            std::string(domain::ToString(to)),
            std::move(reason),
            std::nullopt};
  }
  static Seen TaskStatusChange(const std::string& id, TaskStatus to, std::optional<std::string> reason,
                               std::optional<std::string> worker) {
    return {"task",           id, "status", "IN_PROGRESS", std::string(domain::ToString(to)), std::move(reason),
            std::move(worker)};
  }

  static domain::Timestamp Now() {
    return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  }
};

TEST_F(EventsTest, EachControlActionIsRecordedWithItsOldAndNewValueNewestFirst) {
  auto job = store_->CreateJob(AJob("controls"), ATrace());
  JOBNIK_ASSERT_OK(job);
  auto first = store_->AddStage(job->id, AStage("ctl-a", /*start_as_waiting=*/true), ATrace());
  JOBNIK_ASSERT_OK(first);
  auto second = store_->AddStage(job->id, AStage("ctl-b"), ATrace());
  JOBNIK_ASSERT_OK(second);
  JOBNIK_ASSERT_OK(store_->AddTasks(first->id, SomeTasks(2), ATrace()));
  EXPECT_TRUE(Events(job->id).empty()) << "creating a job, stages and tasks records nothing";

  JOBNIK_ASSERT_OK(store_->SetJobPriority(job->id, domain::Priority::kHigh));
  ASSERT_FALSE(*store_->SetJobPriority(job->id, domain::Priority::kHigh));  // no change, no event
  ASSERT_STATUS_OK(store_->SetStageStatus(first->id, StageStatus::kPending));
  ASSERT_STATUS_OK(store_->SetStageStatus(first->id, StageStatus::kPending));  // same status: a no-op
  ASSERT_STATUS_OK(store_->SetJobStatus(job->id, JobStatus::kPaused));
  EXPECT_EQ(store_->SetJobStatus(job->id, JobStatus::kPaused).code(), ErrorCode::kIllegalJobStatusTransition);
  ASSERT_STATUS_OK(store_->SetJobStatus(job->id, JobStatus::kPending));
  ASSERT_STATUS_OK(store_->SetJobStatus(job->id, JobStatus::kAborted));

  const std::vector<Seen> want = {
      StageStatusChange(second->id, StageStatus::kCreated, StageStatus::kAborted, "job aborted"),
      StageStatusChange(first->id, StageStatus::kPending, StageStatus::kAborted, "job aborted"),
      JobStatusChange(job->id, JobStatus::kPending, JobStatus::kAborted),
      JobStatusChange(job->id, JobStatus::kPaused, JobStatus::kPending),
      JobStatusChange(job->id, JobStatus::kPending, JobStatus::kPaused),
      StageStatusChange(first->id, StageStatus::kWaiting, StageStatus::kPending),
      {"job", job->id, "priority", "MEDIUM", "HIGH", std::nullopt, std::nullopt},
  };
  EXPECT_EQ(Events(job->id), want);

  const auto events = All(job->id);
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].job_id, job->id);
    EXPECT_FALSE(events[i].actor.has_value()) << "no authentication yet: the actor is unknown";
    EXPECT_GT(events[i].time, Now() - std::chrono::minutes(1));
    if (i > 0) {
      EXPECT_LT(events[i].id, events[i - 1].id);
      EXPECT_LE(events[i].time, events[i - 1].time);
    }
  }
}

TEST_F(EventsTest, ARetryAndAFinalFailureAreRecordedWithTheirReasonsAndWorkers) {
  auto job = store_->CreateJob(AJob("fails"), ATrace());
  auto stage = store_->AddStage(job->id, AStage("ev-fail"), ATrace());
  JOBNIK_ASSERT_OK(store_->AddTasks(stage->id, SomeTasks(2, /*max_attempts=*/2), ATrace()));

  auto a = store_->ClaimTask("ev-fail", {std::string("w-1"), std::nullopt});
  JOBNIK_ASSERT_OK(a);
  JOBNIK_ASSERT_OK(store_->ReportTask(a->task.id, TaskStatus::kFailed, {std::nullopt, std::string("disk full")}));
  auto b = store_->ClaimTask("ev-fail", {std::string("w-2"), std::nullopt});
  JOBNIK_ASSERT_OK(b);
  auto other = store_->ClaimTask("ev-fail", {std::string("w-3"), std::nullopt});
  JOBNIK_ASSERT_OK(other);
  ASSERT_EQ(b->task.id, a->task.id) << "the retried task comes first (older)";
  JOBNIK_ASSERT_OK(store_->ReportTask(b->task.id, TaskStatus::kFailed, {b->task.claim_id, std::string("again")}));
  // Another task's retry, after its job failed, is still recorded.
  auto last = store_->ReportTask(other->task.id, TaskStatus::kFailed, {});
  JOBNIK_ASSERT_OK(last);
  ASSERT_EQ(last->task.status, TaskStatus::kRetried);
  EXPECT_EQ(store_->GetJob(job->id)->status, JobStatus::kFailed);

  const std::vector<Seen> want = {
      TaskStatusChange(other->task.id, TaskStatus::kRetried, std::nullopt, "w-3"),
      JobStatusChange(job->id, JobStatus::kInProgress, JobStatus::kFailed, "stage " + stage->id + " failed"),
      StageStatusChange(stage->id, StageStatus::kInProgress, StageStatus::kFailed,
                        "task " + a->task.id + " failed for good"),
      TaskStatusChange(a->task.id, TaskStatus::kFailed, "again", "w-2"),
      TaskStatusChange(a->task.id, TaskStatus::kRetried, "disk full", "w-1"),
  };
  EXPECT_EQ(Events(job->id), want);
}

TEST_F(EventsTest, AStageFailsOnceEvenWhenMoreOfItsTasksFailForGood) {
  auto job = store_->CreateJob(AJob("fails-twice"), ATrace());
  auto stage = store_->AddStage(job->id, AStage("ev-twice"), ATrace());
  JOBNIK_ASSERT_OK(store_->AddTasks(stage->id, SomeTasks(2), ATrace()));
  auto a = store_->ClaimTask("ev-twice");
  auto b = store_->ClaimTask("ev-twice");
  JOBNIK_ASSERT_OK(store_->ReportTask(a->task.id, TaskStatus::kFailed));
  JOBNIK_ASSERT_OK(store_->ReportTask(b->task.id, TaskStatus::kFailed));
  const std::vector<Seen> want = {
      TaskStatusChange(b->task.id, TaskStatus::kFailed, std::nullopt, std::nullopt),
      JobStatusChange(job->id, JobStatus::kInProgress, JobStatus::kFailed, "stage " + stage->id + " failed"),
      StageStatusChange(stage->id, StageStatus::kInProgress, StageStatus::kFailed,
                        "task " + a->task.id + " failed for good"),
      TaskStatusChange(a->task.id, TaskStatus::kFailed, std::nullopt, std::nullopt),
  };
  EXPECT_EQ(Events(job->id), want);
}

TEST_F(EventsTest, TheSweeperRecordsStaleTasksAndExpiredLeases) {
  auto job = store_->CreateJob(AJob("swept"), ATrace());
  auto stage = store_->AddStage(job->id, AStage("ev-sweep"), ATrace());
  JOBNIK_ASSERT_OK(store_->AddTasks(stage->id, SomeTasks(2, /*max_attempts=*/3), ATrace()));
  auto stale = store_->ClaimTask("ev-sweep", {std::string("slow"), std::nullopt});
  auto leased = store_->ClaimTask("ev-sweep", {std::string("gone"), 60});
  JOBNIK_ASSERT_OK(stale);
  JOBNIK_ASSERT_OK(leased);
  Exec("UPDATE task SET start_time = now() - interval '2 hours' WHERE id = '" + stale->task.id + "'");
  Exec("UPDATE task SET lease_expires_at = now() - interval '1 second' WHERE id = '" + leased->task.id + "'");

  services::Sweeper sweeper(*store_, nullptr, nullptr, {std::chrono::seconds(60), std::chrono::seconds(1800), 100});
  auto swept = sweeper.SweepAll(Now());
  JOBNIK_ASSERT_OK(swept);
  ASSERT_EQ(*swept, 2);

  const auto events = Events(job->id);
  ASSERT_EQ(events.size(), 2u);
  const std::set<std::pair<std::string, std::string>> got = {{events[0].entity_id, events[0].reason.value_or("")},
                                                             {events[1].entity_id, events[1].reason.value_or("")}};
  const std::set<std::pair<std::string, std::string>> want = {{stale->task.id, "stale"},
                                                              {leased->task.id, "lease expired"}};
  EXPECT_EQ(got, want);
  for (const auto& e : events) {
    EXPECT_EQ(e.old_value, "IN_PROGRESS");
    EXPECT_EQ(e.new_value, "RETRIED");
    EXPECT_EQ(e.worker_id, e.entity_id == stale->task.id ? "slow" : "gone");
  }
}

TEST_F(EventsTest, APausedJobFinishingIsRecorded) {
  // Its last task completes while it is paused: PAUSED -> COMPLETED.
  auto done = store_->CreateJob(AJob("paused-done"), ATrace());
  auto s1 = store_->AddStage(done->id, AStage("ev-pd"), ATrace());
  JOBNIK_ASSERT_OK(store_->AddTasks(s1->id, SomeTasks(1), ATrace()));
  auto d1 = store_->ClaimTask("ev-pd");
  JOBNIK_ASSERT_OK(d1);
  ASSERT_STATUS_OK(store_->SetJobStatus(done->id, JobStatus::kPaused));
  JOBNIK_ASSERT_OK(store_->ReportTask(d1->task.id, TaskStatus::kCompleted));
  EXPECT_EQ(Events(done->id),
            (std::vector<Seen>{JobStatusChange(done->id, JobStatus::kPaused, JobStatus::kCompleted,
                                               "its last stage completed while it was paused"),
                               JobStatusChange(done->id, JobStatus::kInProgress, JobStatus::kPaused)}));

  // Its task fails for good while it is paused: PAUSED -> FAILED.
  auto failed = store_->CreateJob(AJob("paused-failed"), ATrace());
  auto s2 = store_->AddStage(failed->id, AStage("ev-pf"), ATrace());
  JOBNIK_ASSERT_OK(store_->AddTasks(s2->id, SomeTasks(1), ATrace()));
  auto d2 = store_->ClaimTask("ev-pf");
  JOBNIK_ASSERT_OK(d2);
  ASSERT_STATUS_OK(store_->SetJobStatus(failed->id, JobStatus::kPaused));
  JOBNIK_ASSERT_OK(store_->ReportTask(d2->task.id, TaskStatus::kFailed, {std::nullopt, std::string("boom")}));
  EXPECT_EQ(Events(failed->id),
            (std::vector<Seen>{
                JobStatusChange(failed->id, JobStatus::kPaused, JobStatus::kFailed, "stage " + s2->id + " failed"),
                StageStatusChange(s2->id, StageStatus::kInProgress, StageStatus::kFailed,
                                  "task " + d2->task.id + " failed for good"),
                TaskStatusChange(d2->task.id, TaskStatus::kFailed, "boom", std::nullopt),
                JobStatusChange(failed->id, JobStatus::kInProgress, JobStatus::kPaused)}));
}

TEST_F(EventsTest, ResumingAJobWhoseStagesAllCompletedRecordsItsCompletion) {
  auto job = store_->CreateJob(AJob("resume-done"), ATrace());
  auto stage = store_->AddStage(job->id, AStage("ev-rd"), ATrace());
  JOBNIK_ASSERT_OK(store_->AddTasks(stage->id, SomeTasks(1), ATrace()));
  auto d = store_->ClaimTask("ev-rd");
  JOBNIK_ASSERT_OK(d);
  JOBNIK_ASSERT_OK(store_->ReportTask(d->task.id, TaskStatus::kCompleted));
  // A job left PAUSED at 100 % by a version before PAUSED -> COMPLETED existed.
  Exec("UPDATE job SET status = 'PAUSED' WHERE id = '" + job->id + "'");
  ASSERT_STATUS_OK(store_->SetJobStatus(job->id, JobStatus::kPending));
  EXPECT_EQ(Events(job->id), (std::vector<Seen>{JobStatusChange(job->id, JobStatus::kPaused, JobStatus::kCompleted,
                                                                "resumed with every stage completed")}));
}

TEST_F(EventsTest, PagesFollowTheCursorWithoutGapsOrDuplicates) {
  auto job = store_->CreateJob(AJob("pages"), ATrace());
  auto other = store_->CreateJob(AJob("other"), ATrace());
  constexpr int kChanges = 251;
  for (int i = 0; i < kChanges; ++i) {
    const auto p = i % 2 == 0 ? domain::Priority::kHigh : domain::Priority::kMedium;
    JOBNIK_ASSERT_OK(store_->SetJobPriority(job->id, p));
    if (i % 10 == 0) {  // another job's changes, interleaved: not listed
      JOBNIK_ASSERT_OK(
          store_->SetJobPriority(other->id, (i / 10) % 2 == 0 ? domain::Priority::kHigh : domain::Priority::kMedium));
    }
  }
  const auto whole = All(job->id);
  ASSERT_EQ(whole.size(), static_cast<std::size_t>(kChanges));
  for (int page_size : {1, 7, 100, 250, 251, 252}) {
    const auto paged = All(job->id, page_size);
    ASSERT_EQ(paged.size(), whole.size()) << page_size;
    std::set<std::int64_t> ids;
    for (std::size_t i = 0; i < paged.size(); ++i) {
      EXPECT_EQ(paged[i], whole[i]) << page_size << " " << i;
      ids.insert(paged[i].id);
      if (i > 0) {
        EXPECT_LT(paged[i].id, paged[i - 1].id);
      }
    }
    EXPECT_EQ(ids.size(), whole.size());
  }
  // The newest is the last change (i = 250: MEDIUM -> HIGH), the oldest the first.
  EXPECT_EQ(whole.front().old_value, "MEDIUM");
  EXPECT_EQ(whole.front().new_value, "HIGH");
  EXPECT_EQ(whole.back().old_value, "MEDIUM");
  EXPECT_EQ(whole.back().new_value, "HIGH");
  EXPECT_EQ(All(other->id).size(), 26u);
}

TEST_F(EventsTest, APageIsAnIndexRangeScan) {
  auto job = store_->CreateJob(AJob("plan"), ATrace());
  Exec(
      "INSERT INTO job (id, name, data, priority, status, creation_time, update_time, traceparent) "
      "SELECT gen_random_uuid(), 'bulk', '{}', 3, 'PENDING', now(), now(), 'tp' FROM generate_series(1, 50)");
  Exec(
      "INSERT INTO job_event (job_id, time, entity, entity_id, kind, old_value, new_value) "
      "SELECT j.id, now(), 'job', j.id, 'priority', 'HIGH', 'MEDIUM' FROM job j, generate_series(1, 400)");
  Exec("ANALYZE job_event");
  // The store's own statement, with the generic plan that the pool's prepared statements
  // may settle on (the cursor a parameter, NULL on the first page).
  const auto plan =
      Query1("SET plan_cache_mode = force_generic_plan; PREPARE page AS " + store::pg::Statement("EventPage") +
             "; EXPLAIN (FORMAT JSON) EXECUTE page('" + job->id + "', NULL, 101)");
  EXPECT_NE(plan.find("\"Scan Direction\": \"Backward\""), std::string::npos) << plan;
  EXPECT_NE(plan.find("job_event_pkey"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("\"Sort\""), std::string::npos) << plan;
}

TEST_F(EventsTest, ConcurrentPausesAndResumesRecordExactlyOneEventPerChange) {
  auto job = store_->CreateJob(AJob("race"), ATrace());
  JOBNIK_ASSERT_OK(job);
  constexpr int kThreads = 8, kTries = 40;
  std::atomic<int> changed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int i = 0; i < kTries; ++i) {
        const auto to = rng() % 2 == 0 ? JobStatus::kPaused : JobStatus::kPending;
        if (store_->SetJobStatus(job->id, to).ok()) ++changed;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_GT(changed.load(), 0);

  auto events = All(job->id);
  ASSERT_EQ(static_cast<int>(events.size()), changed.load());
  // Oldest first, each change starts where the previous one ended, and the last one ended
  // where the job is now.
  std::reverse(events.begin(), events.end());
  std::string status = "PENDING";
  for (const auto& e : events) {
    EXPECT_EQ(e.old_value, status);
    EXPECT_NE(e.new_value, status);
    status = e.new_value;
  }
  EXPECT_EQ(status, domain::ToString(store_->GetJob(job->id)->status));
}

TEST_F(EventsTest, DeletingAJobDeletesItsEvents) {
  auto job = store_->CreateJob(AJob("deleted"), ATrace());
  auto keep = store_->CreateJob(AJob("kept"), ATrace());
  JOBNIK_ASSERT_OK(store_->AddStage(job->id, AStage("ev-del"), ATrace()));
  ASSERT_STATUS_OK(store_->SetJobStatus(job->id, JobStatus::kAborted));
  ASSERT_STATUS_OK(store_->SetJobStatus(keep->id, JobStatus::kPaused));
  ASSERT_EQ(EventRows(), 3);
  ASSERT_STATUS_OK(store_->DeleteJob(job->id));
  EXPECT_EQ(Query1("SELECT count(*) FROM job_event WHERE job_id = '" + job->id + "'"), "0");
  EXPECT_EQ(EventRows(), 1);
  EXPECT_EQ(store_->ListJobEvents(job->id, {}).status().code(), ErrorCode::kJobNotFound);
}

TEST_F(EventsTest, AnUnknownJobHasNoEventLog) {
  EXPECT_EQ(store_->ListJobEvents("00000000-0000-4000-8000-000000000000", {}).status().code(), ErrorCode::kJobNotFound);
}

TEST_F(EventsTest, TheClaimAndCompleteFlowRecordsNothing) {
  auto job = store_->CreateJob(AJob("happy"), ATrace());
  auto s1 = store_->AddStage(job->id, AStage("ev-happy-1"), ATrace());
  auto s2 = store_->AddStage(job->id, AStage("ev-happy-2"), ATrace());
  JOBNIK_ASSERT_OK(store_->AddTasks(s1->id, SomeTasks(5), ATrace()));
  JOBNIK_ASSERT_OK(store_->AddTasks(s2->id, SomeTasks(5), ATrace()));
  for (const auto* type : {"ev-happy-1", "ev-happy-2"}) {
    std::vector<std::thread> workers;
    for (int w = 0; w < 5; ++w) {
      workers.emplace_back([&, w] {
        auto d = store_->ClaimTask(type, {"w" + std::to_string(w), 60});
        ASSERT_TRUE(d.ok()) << Describe(d.status());
        ASSERT_TRUE(store_->HeartbeatTask(d->task.id, d->task.claim_id, 60).ok());
        ASSERT_TRUE(store_->ReportTask(d->task.id, TaskStatus::kCompleted, {d->task.claim_id, std::nullopt}).ok());
      });
    }
    for (auto& w : workers) w.join();
  }
  EXPECT_EQ(store_->GetJob(job->id)->status, JobStatus::kCompleted);
  EXPECT_EQ(EventRows(), 0);
}

}  // namespace
}  // namespace jobnik::testing
