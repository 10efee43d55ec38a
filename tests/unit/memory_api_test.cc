// The real REST API (http::Api) on the in-memory store, over loopback HTTP, driven by
// lib/client: the lifecycle through the API, and the worker loop, with no PostgreSQL.
#include <gtest/gtest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "client/client.h"
#include "client/worker.h"
#include "http/api.h"
#include "metrics.h"
#include "store/memory/memory_store.h"

namespace jobnik::testing {
namespace {

using domain::JobStatus;
using domain::StageStatus;
using domain::TaskStatus;
using nlohmann::json;

class MemoryApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_ = std::make_unique<http::Api>(store_, metrics_, http::ApiOptions{64 * 1024, false});
    api_->Register(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    client_ = std::make_unique<client::Client>(Options());
  }
  void TearDown() override {
    client_.reset();  // close the keep-alive connection, or stop() waits for its timeout
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  client::ClientOptions Options() const {
    client::ClientOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(port_) + "/v1";  // as `make run` prints it
    return o;
  }

  // A job of `stages` stages of types t0, t1, ... with `tasks` tasks each.
  domain::Job Submit(int stages, int tasks, int max_attempts = 1, const std::string& prefix = "t") {
    domain::NewJob job;
    job.name = "memory";
    job.data = "{}";
    job.stages.emplace();
    for (int s = 0; s < stages; ++s) {
      domain::NewStage stage;
      stage.type = prefix + std::to_string(s);
      stage.data = "{}";
      for (int t = 0; t < tasks; ++t) {
        domain::NewTask task;
        task.data = R"({"i":)" + std::to_string(t) + "}";
        task.max_attempts = max_attempts;
        stage.tasks.push_back(task);
      }
      job.stages->push_back(stage);
    }
    auto created = client_->CreateJob(job);
    EXPECT_TRUE(created.ok()) << created.status().message();
    return created.ok() ? *created : domain::Job{};
  }

  domain::Task Claim(const std::string& type) {
    auto claimed = client_->Dequeue(type);
    EXPECT_TRUE(claimed.ok()) << claimed.status().message();
    EXPECT_TRUE(claimed.ok() && claimed->has_value()) << "nothing to claim of " << type;
    return claimed.ok() && claimed->has_value() ? **claimed : domain::Task{};
  }

  store::memory::MemoryStore store_;
  Metrics metrics_;
  std::unique_ptr<http::Api> api_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::unique_ptr<client::Client> client_;
};

TEST_F(MemoryApiTest, CreateClaimReportCompletesTheJob) {
  const auto job = Submit(2, 1);
  ASSERT_EQ(job.status, JobStatus::kPending);
  ASSERT_TRUE(job.stages.has_value());
  ASSERT_EQ(job.stages->size(), 2U);
  EXPECT_EQ((*job.stages)[0].status, StageStatus::kPending);
  EXPECT_EQ((*job.stages)[1].status, StageStatus::kCreated);
  // The second stage's tasks wait for the first stage.
  auto early = client_->Dequeue("t1");
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value());

  const auto first = Claim("t0");
  EXPECT_EQ(first.status, TaskStatus::kInProgress);
  EXPECT_EQ(client_->GetJob(job.id)->status, JobStatus::kInProgress);
  auto done = client_->ReportTask(first.id, TaskStatus::kCompleted);
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(done->status, TaskStatus::kCompleted);
  auto mid = client_->GetJob(job.id, true);
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(mid->percentage, 50);
  EXPECT_EQ((*mid->stages)[0].status, StageStatus::kCompleted);
  EXPECT_EQ((*mid->stages)[1].status, StageStatus::kPending);

  const auto second = Claim("t1");
  ASSERT_TRUE(client_->ReportTask(second.id, TaskStatus::kCompleted).ok());
  auto end = client_->GetJob(job.id);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->status, JobStatus::kCompleted);
  EXPECT_EQ(end->percentage, 100);

  // A second report is illegal, with the SPEC's code and HTTP status.
  auto again = client_->Request("PUT", "/v1/tasks/" + second.id + "/status", R"({"status":"COMPLETED"})");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status, 400);
  EXPECT_EQ(json::parse(again->body).value("code", ""), "ILLEGAL_TASK_STATUS_TRANSITION");
}

TEST_F(MemoryApiTest, AReportThatPrefersAMinimalReturnGetsNoContent) {
  Submit(1, 13);
  const auto report = [this](const std::string& id, std::vector<std::string> prefer) {
    client::HttpRequest r;
    r.method = "PUT";
    r.path = "/v1/tasks/" + id + "/status";
    r.body = R"({"status":"COMPLETED"})";
    for (auto& p : prefer) r.headers.emplace_back("Prefer", std::move(p));
    auto answer = client_->Send(std::move(r));
    EXPECT_TRUE(answer.ok());
    return answer.ok() ? *answer : client::HttpResponse{};
  };
  // Several spellings of the preference (RFC 7240): a list, parameters, quotes, case.
  for (const auto& prefer : std::vector<std::vector<std::string>>{
           {"return=minimal"}, {"respond-async, RETURN = \"Minimal\"; x=1"}, {"wait=5", "return=minimal"}}) {
    const auto task = Claim("t0");
    const auto answer = report(task.id, prefer);
    EXPECT_EQ(answer.status, 204) << prefer.front();
    EXPECT_EQ(answer.body, "");
    EXPECT_EQ(client::FindHeader(answer.headers, "Preference-Applied"), "return=minimal");
    EXPECT_EQ(client_->GetTask(task.id)->status, TaskStatus::kCompleted);  // applied all the same
  }
  // Any other preference, or a hostile header, is ignored: the task, as v1 answers.
  for (auto prefer : std::vector<std::string>{"", "return", "return=", "=minimal", ",,;", std::string(6000, 'x'),
                                              "return=minimal\xff", "return=\"minimal", "return=minimalist"}) {
    const auto ignored = Claim("t0");
    const auto plain = report(ignored.id, {prefer});
    EXPECT_EQ(plain.status, 200) << prefer.substr(0, 40);
    EXPECT_EQ(json::parse(plain.body).value("status", ""), "COMPLETED");
  }
  const auto task = Claim("t0");
  const auto answer = report(task.id, {"return=representation"});
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(json::parse(answer.body).value("status", ""), "COMPLETED");
  EXPECT_FALSE(client::FindHeader(answer.headers, "Preference-Applied").has_value());
  // An error is an error, whatever the preference.
  const auto again = report(task.id, {"return=minimal"});
  EXPECT_EQ(again.status, 400);
  EXPECT_EQ(json::parse(again.body).value("code", ""), "ILLEGAL_TASK_STATUS_TRANSITION");
}

TEST_F(MemoryApiTest, TheStoreRefusesAJobsInternalStatusesAsPgStoreDoes) {
  // The API's codec refuses them first (VALIDATION_ERROR); the store must too, for its
  // other callers.
  const auto job = Submit(1, 1);
  for (const JobStatus status : {JobStatus::kCompleted, JobStatus::kFailed, JobStatus::kInProgress}) {
    const auto s = store_.SetJobStatus(job.id, status);
    EXPECT_EQ(s.code(), domain::ErrorCode::kIllegalJobStatusTransition) << domain::ToString(status);
  }
  EXPECT_EQ(client_->GetJob(job.id)->status, JobStatus::kPending);
}

TEST_F(MemoryApiTest, AFailedTaskIsRetriedUntilItsAttemptsRunOut) {
  const auto job = Submit(1, 1, 2);
  auto task = Claim("t0");
  auto failed = client_->ReportTask(task.id, TaskStatus::kFailed);
  ASSERT_TRUE(failed.ok()) << failed.status().message();
  EXPECT_EQ(failed->status, TaskStatus::kRetried);
  EXPECT_EQ(failed->attempts, 1);
  EXPECT_EQ(client_->GetJob(job.id)->status, JobStatus::kInProgress);

  task = Claim("t0");
  EXPECT_EQ(task.attempts, 1);
  failed = client_->ReportTask(task.id, TaskStatus::kFailed);
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->status, TaskStatus::kFailed);
  EXPECT_EQ(client_->GetStage((*job.stages)[0].id)->status, StageStatus::kFailed);
  EXPECT_EQ(client_->GetJob(job.id)->status, JobStatus::kFailed);
}

TEST_F(MemoryApiTest, PausedJobsAreNotClaimedAndHigherPriorityGoesFirst) {
  const auto low = Submit(1, 1, 1, "p");
  domain::NewJob high_job;
  high_job.name = "high";
  high_job.data = "{}";
  high_job.priority = domain::Priority::kVeryHigh;
  auto high = client_->CreateJob(high_job);
  ASSERT_TRUE(high.ok());
  domain::NewStage stage;
  stage.type = "p0";
  stage.data = "{}";
  auto high_stage = client_->AddStage(high->id, stage);
  ASSERT_TRUE(high_stage.ok()) << high_stage.status().message();
  domain::NewTask task;
  task.data = "{}";
  ASSERT_TRUE(client_->AddTasks(high_stage->id, {task}).ok());

  auto paused = client_->Request("PUT", "/v1/jobs/" + high->id + "/status", R"({"status":"PAUSED"})");
  ASSERT_TRUE(paused.ok());
  ASSERT_EQ(paused->status, 200) << paused->body;
  EXPECT_EQ(Claim("p0").stage_id, (*low.stages)[0].id);  // the paused job's task waits

  auto resumed = client_->Request("PUT", "/v1/jobs/" + high->id + "/status", R"({"status":"PENDING"})");
  ASSERT_TRUE(resumed.ok());
  ASSERT_EQ(resumed->status, 200) << resumed->body;
  EXPECT_EQ(Claim("p0").stage_id, high_stage->id);
}

TEST_F(MemoryApiTest, BatchClaimsAndBatchReportsDrainAJob) {
  const auto job = Submit(2, 3);
  // Only the first stage is claimable; its three tasks in creation order, each claimed.
  auto claimed = client_->ClaimTasks({{"t0", "t1"}, 10, 0, 30, "w"});
  ASSERT_TRUE(claimed.ok()) << claimed.status().message();
  ASSERT_EQ(claimed->size(), 3U);
  for (const auto& c : *claimed) {
    EXPECT_EQ(c.task.status, TaskStatus::kInProgress);
    EXPECT_FALSE(c.claim_id.empty());
  }
  EXPECT_EQ(client_->GetJob(job.id)->status, JobStatus::kInProgress);
  // One item under another claim fails alone.
  std::vector<client::Client::TaskUpdate> updates;
  for (const auto& c : *claimed) updates.push_back({c.task.id, TaskStatus::kCompleted, {c.claim_id, "", {}}});
  updates[1].options.claim_id = "11111111-1111-4111-8111-111111111111";
  auto results = client_->ReportTasks(updates);
  ASSERT_TRUE(results.ok()) << results.status().message();
  ASSERT_EQ(results->size(), 3U);
  EXPECT_TRUE((*results)[0].ok());
  EXPECT_EQ((*results)[1].code(), domain::ErrorCode::kTaskClaimMismatch);
  EXPECT_TRUE((*results)[2].ok());
  updates = {{(*claimed)[1].task.id, TaskStatus::kCompleted, {(*claimed)[1].claim_id, "", {}}}};
  results = client_->ReportTasks(updates);
  ASSERT_TRUE(results.ok());
  EXPECT_TRUE((*results)[0].ok()) << (*results)[0].message();
  // The second stage started: its tasks now.
  claimed = client_->ClaimTasks({{"t1"}, 2});
  ASSERT_TRUE(claimed.ok());
  EXPECT_EQ(claimed->size(), 2U);
  EXPECT_EQ(client_->ClaimTasks({{"t0", "t1"}, 1000})->size(), 1U);
  EXPECT_TRUE(client_->ClaimTasks({{"t0", "t1"}, 1000})->empty());
}

TEST_F(MemoryApiTest, ListsPageThroughTheJobs) {
  for (int i = 0; i < 5; ++i) Submit(1, 1);
  auto page = client_->Request("GET", "/v1/jobs?limit=2");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->status, 200) << page->body;
  EXPECT_EQ(json::parse(page->body).size(), 2U) << page->body;
  auto all = client_->Request("GET", "/v1/jobs");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(json::parse(all->body).size(), 5U) << all->body;
}

TEST_F(MemoryApiTest, JobsAreFoundByPartOfTheirNameThroughTheClient) {
  for (const char* name : {"Backup-DB", "backup-files", "report"}) {
    domain::NewJob job;
    job.name = name;
    job.data = "{}";
    ASSERT_TRUE(client_->CreateJob(job).ok());
  }
  domain::JobFilter f;
  f.name_contains = "BACKUP";
  auto found = client_->FindJobs(f);
  ASSERT_TRUE(found.ok()) << found.status().message();
  ASSERT_EQ(found->items.size(), 2U);
  EXPECT_EQ(found->items[0].name, "Backup-DB");
  EXPECT_EQ(found->items[1].name, "backup-files");
  f.name_contains = "ort";
  found = client_->FindJobs(f);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->items.size(), 1U);
  EXPECT_EQ(found->items[0].name, "report");
}

TEST_F(MemoryApiTest, TheEventLogListsRetriesFailuresAndControlsNewestFirstInPages) {
  const auto job = Submit(1, 1, 2);
  const auto& stage_id = (*job.stages)[0].id;
  ASSERT_TRUE(client_->SetJobPriority(job.id, domain::Priority::kHigh).ok());
  auto task = Claim("t0");
  ASSERT_TRUE(client_->Report(task.id, TaskStatus::kFailed, {"", "out of memory"}).ok());
  ASSERT_TRUE(client_->SetJobStatus(job.id, JobStatus::kPaused).ok());
  ASSERT_TRUE(client_->SetJobStatus(job.id, JobStatus::kPending).ok());
  task = Claim("t0");
  ASSERT_TRUE(client_->Report(task.id, TaskStatus::kFailed, {"", "again"}).ok());

  // {entity, entity id, old, new, reason}, newest first.
  using Row = std::tuple<std::string, std::string, std::string, std::string, std::string>;
  const std::vector<Row> want = {
      {"job", job.id, "IN_PROGRESS", "FAILED", "stage " + stage_id + " failed"},
      {"stage", stage_id, "IN_PROGRESS", "FAILED", "task " + task.id + " failed for good"},
      {"task", task.id, "IN_PROGRESS", "FAILED", "again"},
      {"job", job.id, "PAUSED", "PENDING", ""},
      {"job", job.id, "IN_PROGRESS", "PAUSED", ""},
      {"task", task.id, "IN_PROGRESS", "RETRIED", "out of memory"},
      {"job", job.id, "MEDIUM", "HIGH", ""},
  };
  std::vector<Row> got;
  client::Client::Paging paging;
  paging.limit = 2;
  int pages = 0;
  for (;;) {
    ++pages;
    auto page = client_->GetJobEvents(job.id, paging);
    ASSERT_TRUE(page.ok()) << page.status().message();
    for (const auto& e : page->items) {
      EXPECT_FALSE(e.actor.has_value());
      got.emplace_back(e.entity, e.entity_id, e.old_value.value_or(""), e.new_value, e.reason.value_or(""));
    }
    if (!page->next_cursor) break;
    paging.cursor = page->next_cursor;
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(pages, 4);

  auto unknown = client_->GetJobEvents("00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(unknown.status().code(), domain::ErrorCode::kJobNotFound);
  for (const char* bad : {"?limit=0", "?limit=1001", "?cursor=nope", "?page=2", "?limit=x"}) {
    auto r = client_->Request("GET", "/v1/jobs/" + job.id + "/events" + bad);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << bad << ": " << r->body;
    EXPECT_EQ(json::parse(r->body).value("code", ""), "VALIDATION_ERROR") << bad;
  }
  // A cursor of another list is not one of this list.
  Submit(1, 1);
  auto jobs = client_->FindJobs({}, {1, std::nullopt});
  ASSERT_TRUE(jobs.ok());
  auto other = client_->Request("GET", "/v1/jobs/" + job.id + "/events?cursor=" + jobs->next_cursor.value_or("x"));
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(jobs->next_cursor.has_value());
  EXPECT_EQ(other->status, 400) << other->body;
}

TEST_F(MemoryApiTest, TheWorkerLoopDrainsAJobOverHttp) {
  const auto job = Submit(2, 25);
  std::atomic<int> handled{0};
  client::WorkerOptions options;
  options.stage_types = {"t0", "t1"};
  options.slots = 4;
  options.backoff = {std::chrono::milliseconds(1), 2.0, std::chrono::milliseconds(20), client::Jitter::kFull};
  client::WorkerHooks hooks;
  std::mutex mu;
  std::set<std::string> reported;
  hooks.on_reported = [&](int, const domain::Task& task, TaskStatus, const domain::Result<domain::Task>& r,
                          client::Clock::Duration) {
    EXPECT_TRUE(r.ok()) << r.status().message();
    std::lock_guard lock(mu);
    EXPECT_TRUE(reported.insert(task.id).second) << "reported twice: " << task.id;
    return client::Next::kContinue;
  };
  client::Worker worker(
      options, client::Worker::ClientsFor(Options()),
      [&handled](client::TaskContext&) {
        ++handled;
        return TaskStatus::kCompleted;
      },
      hooks);
  worker.Start();
  // Poll for the job's end (the worker keeps polling the empty queue with backoff).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  JobStatus status = JobStatus::kPending;
  while (std::chrono::steady_clock::now() < deadline) {
    status = store_.GetJob(job.id)->status;
    if (domain::IsFinal(status)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  worker.Stop();
  EXPECT_EQ(status, JobStatus::kCompleted);
  EXPECT_EQ(handled.load(), 50);
  EXPECT_EQ(reported.size(), 50U);
}

TEST_F(MemoryApiTest, ARetryReopensAFailedJobAndRefusesOtherStatuses) {
  const auto job = Submit(1, 2);
  const auto a = Claim("t0");
  const auto b = Claim("t0");
  ASSERT_TRUE(client_->ReportTask(a.id, TaskStatus::kFailed).ok());
  ASSERT_TRUE(client_->ReportTask(b.id, TaskStatus::kCompleted).ok());
  EXPECT_EQ(client_->GetJob(job.id)->status, JobStatus::kFailed);
  EXPECT_EQ(client_->RetryTask(b.id).status().code(), domain::ErrorCode::kNotRetryable);
  auto retried = client_->RetryJob(job.id);
  ASSERT_TRUE(retried.ok()) << retried.status().message();
  EXPECT_EQ(retried->status, JobStatus::kInProgress);
  const auto again = Claim("t0");
  EXPECT_EQ(again.id, a.id);
  EXPECT_EQ(again.attempts, 0);
  ASSERT_TRUE(client_->ReportTask(a.id, TaskStatus::kCompleted).ok());
  EXPECT_EQ(client_->GetJob(job.id)->status, JobStatus::kCompleted);
  auto refused = client_->RetryJob(job.id);
  EXPECT_EQ(refused.status().code(), domain::ErrorCode::kNotRetryable);
  EXPECT_NE(refused.status().message().find("COMPLETED"), std::string::npos) << refused.status().message();
}

TEST_F(MemoryApiTest, ADelayedJobsTasksAreNotClaimableBeforeItsNotBefore) {
  domain::NewJob later;
  later.name = "later";
  later.data = "{}";
  later.not_before =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()) + std::chrono::hours(1);
  domain::NewStage stage;
  stage.type = "later";
  stage.data = "{}";
  domain::NewTask task;
  task.data = "{}";
  stage.tasks.push_back(task);
  later.stages = std::vector<domain::NewStage>{stage};
  auto created = client_->CreateJob(later);
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_EQ(created->not_before, later.not_before);
  auto early = client_->Dequeue("later");
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value());
  EXPECT_EQ(client_->GetJob(created->id)->status, JobStatus::kPending);
}

TEST_F(MemoryApiTest, RetryBackoffDelaysAFailedTaskAndRetryAfterSecondsOverridesIt) {
  // The stage's retry policy is its task's default; the client encodes it.
  domain::NewJob job;
  job.name = "backoff";
  job.data = "{}";
  domain::NewStage stage;
  stage.type = "slow";
  stage.data = "{}";
  stage.retry = domain::RetryPolicy{0.3, 2, 10};
  domain::NewTask task;
  task.data = "{}";
  task.max_attempts = 4;
  stage.tasks.push_back(task);
  job.stages.emplace({stage});
  auto created = client_->CreateJob(job);
  ASSERT_TRUE(created.ok()) << created.status().message();
  ASSERT_EQ((*created->stages)[0].retry, stage.retry);

  auto claimed = Claim("slow");
  EXPECT_EQ(claimed.retry, stage.retry);
  const auto reported = std::chrono::steady_clock::now();
  auto failed = client_->Report(claimed.id, TaskStatus::kFailed, {"", "busy"});
  ASSERT_TRUE(failed.ok()) << failed.status().message();
  EXPECT_EQ(failed->status, TaskStatus::kRetried);
  ASSERT_TRUE(failed->not_before.has_value());
  auto early = client_->Dequeue("slow");
  ASSERT_TRUE(early.ok());
  EXPECT_FALSE(early->has_value()) << "claimable during its delay";
  // Claimable once the delay is over (polled), not before.
  std::optional<domain::Task> again;
  for (int i = 0; i < 400 && !again; ++i) {
    auto d = client_->Dequeue("slow");
    ASSERT_TRUE(d.ok());
    if (d->has_value()) again = **d;
    if (!again) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(again.has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - reported, std::chrono::milliseconds(300));
  EXPECT_FALSE(again->not_before.has_value());

  // retryAfterSeconds: that delay exactly (0: at once).
  auto zero = client_->Report(again->id, TaskStatus::kFailed, {"", "", 0.0});
  ASSERT_TRUE(zero.ok()) << zero.status().message();
  EXPECT_FALSE(zero->not_before.has_value());
  auto third = Claim("slow");
  auto later = client_->Report(third.id, TaskStatus::kFailed, {"", "", 60.0});
  ASSERT_TRUE(later.ok()) << later.status().message();
  ASSERT_TRUE(later->not_before.has_value());
  EXPECT_NEAR(std::chrono::duration<double>(*later->not_before - later->update_time).count(), 60, 0.01);
  // The scheduler's step finds nothing due yet.
  auto due = store_.PromoteDueTasks(10);
  ASSERT_TRUE(due.ok());
  EXPECT_TRUE(due->empty());
  auto next = store_.NextRetryDue();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_GT(**next, 50);
}

}  // namespace
}  // namespace jobnik::testing

namespace jobnik::testing {
namespace {

TEST_F(MemoryApiTest, QueuesCountUnfinishedWorkAndTheOldestClaimableTask) {
  Submit(2, 2, 1, "q");  // q0 claimable now, q1 waits for q0
  Claim("q0");
  auto r = client_->Request("GET", "/v1/queues");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  const auto q = json::parse(r->body);
  ASSERT_EQ(q["stageTypes"].size(), 2u) << r->body;
  const auto& q0 = q["stageTypes"][0];
  EXPECT_EQ(q0["stageType"], "q0");
  EXPECT_EQ(q0["pending"], 1);
  EXPECT_EQ(q0["inProgress"], 1);
  ASSERT_TRUE(q0["oldestPendingSeconds"].is_number()) << r->body;
  EXPECT_GE(q0["oldestPendingSeconds"].get<double>(), 0.0);
  const auto& q1 = q["stageTypes"][1];
  EXPECT_EQ(q1["pending"], 2);
  EXPECT_TRUE(q1["oldestPendingSeconds"].is_null()) << r->body;  // its stage has not started
  EXPECT_EQ(q["jobs"]["PENDING"].get<int>() + q["jobs"]["IN_PROGRESS"].get<int>(), 1) << r->body;
  EXPECT_EQ(q["jobs"]["PAUSED"], 0);
}

// Concurrency limits through the SDK (Client::SetStageTypeLimit ...) on the in-memory store.
TEST_F(MemoryApiTest, AStageTypeLimitCapsClaimsAndIsListedWithTheTypes) {
  Submit(1, 3);
  EXPECT_EQ(client_->GetStageTypeLimit("t0").status().code(), domain::ErrorCode::kLimitNotFound);
  auto set = client_->SetStageTypeLimit("t0", 1);
  ASSERT_TRUE(set.ok()) << set.status().message();
  EXPECT_EQ(set->max_in_progress, 1);
  const auto first = Claim("t0");
  auto refused = client_->Dequeue("t0");
  ASSERT_TRUE(refused.ok()) << refused.status().message();
  EXPECT_FALSE(refused->has_value());
  auto types = client_->ListStageTypes();
  ASSERT_TRUE(types.ok()) << types.status().message();
  ASSERT_EQ(types->size(), 1U);
  EXPECT_EQ((*types)[0].stage_type, "t0");
  EXPECT_EQ((*types)[0].max_in_progress, 1);
  EXPECT_EQ((*types)[0].in_progress, 1);
  EXPECT_EQ((*types)[0].pending, 2);
  ASSERT_TRUE(client_->ReportTask(first.id, TaskStatus::kCompleted).ok());
  Claim("t0");
  ASSERT_TRUE(client_->ClearStageTypeLimit("t0").ok());
  ASSERT_TRUE(client_->ClearStageTypeLimit("t0").ok());  // none: no error
  Claim("t0");
}

}  // namespace
}  // namespace jobnik::testing
