// The lists over real HTTP (in-process server, real PostgreSQL): v1's whole answer,
// streamed in batches, and the paging extension (limit/cursor, page/page_size), the
// `status` filter of GET /v1/jobs and the job-level task summary.
#include <gtest/gtest.h>

#include <httplib.h>
#include <atomic>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <utility>

#include "domain/codec.h"
#include "fixtures.h"
#include "http/api.h"
#include "metrics.h"
#include "pg_test_env.h"

namespace jobnik::testing {
namespace {

using nlohmann::json;

class ListTest : public DbTest {
 protected:
  void SetUp() override {
    DbTest::SetUp();
    api_ = std::make_unique<http::Api>(*store_, metrics_, http::ApiOptions{64 * 1024, false});
    api_->Register(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
  }
  void TearDown() override {
    client_.reset();
    server_.stop();
    if (thread_.joinable()) thread_.join();
    DbTest::TearDown();
  }

  httplib::Result Get(const std::string& path) {
    auto r = client_->Get(path.c_str());
    EXPECT_TRUE(r) << path << ": " << httplib::to_string(r.error());
    return r;
  }
  // A 400 VALIDATION_ERROR whose message names `param`.
  // The ids of the jobs GET `path` (a /v1/jobs query) answers, in order.
  std::vector<std::string> JobIds(const std::string& path) {
    std::vector<std::string> out;
    auto r = Get(path);
    if (!r) return out;
    EXPECT_EQ(r->status, 200) << r->body;
    for (const auto& j : json::parse(r->body)) out.push_back(j["id"]);
    return out;
  }
  void ExpectBadParam(const std::string& path, const std::string& param) {
    auto r = Get(path);
    if (!r) return;
    EXPECT_EQ(r->status, 400) << path << ": " << r->body;
    auto body = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << r->body;
    EXPECT_EQ(body.value("code", ""), "VALIDATION_ERROR") << r->body;
    EXPECT_NE(body.value("message", "").find("request/query/" + param), std::string::npos) << r->body;
  }
  // Follows X-Next-Cursor from `first` to the end; returns every item's id in order and
  // checks that Link agrees with X-Next-Cursor. `between` runs after each page.
  std::vector<std::string> Walk(const std::string& first, const std::function<void()>& between = {}) {
    std::vector<std::string> ids;
    std::string path = first;
    for (int pages = 0; pages < 10000; ++pages) {
      auto r = Get(path);
      if (!r) return ids;
      EXPECT_EQ(r->status, 200) << path << ": " << r->body;
      auto body = json::parse(r->body);
      EXPECT_TRUE(body.is_array());
      for (const auto& item : body) ids.push_back(item["id"].get<std::string>());
      if (between) between();
      if (!r->has_header("X-Next-Cursor")) {
        EXPECT_FALSE(r->has_header("Link"));
        return ids;
      }
      const auto cursor = r->get_header_value("X-Next-Cursor");
      const auto link = r->get_header_value("Link");
      EXPECT_NE(link.find("cursor=" + cursor), std::string::npos) << link;
      EXPECT_NE(link.find("rel=\"next\""), std::string::npos) << link;
      EXPECT_EQ(link.find(first.substr(0, first.find('?'))), 1u) << link;  // <path?...>
      const auto q = first.find('?');
      path = first + (q == std::string::npos ? "?" : "&") + "cursor=" + cursor;
    }
    ADD_FAILURE() << "the walk did not end";
    return ids;
  }

  // A job with one stage of `type` and `n` tasks; returns the stage id.
  std::string StageWithTasks(const std::string& type, int n, std::string* job_id = nullptr) {
    auto job = store_->CreateJob(AJob("list-job"), ATrace());
    EXPECT_TRUE(job.ok());
    auto stage = store_->AddStage(job->id, AStage(type), ATrace());
    EXPECT_TRUE(stage.ok());
    if (n > 0) {
      EXPECT_TRUE(store_->AddTasks(stage->id, SomeTasks(n), ATrace()).ok());
    }
    if (job_id) *job_id = job->id;
    return stage->id;
  }
  // `n` PENDING tasks added to `stage_id` straight through SQL (fast, for big lists).
  void SeedTasks(const std::string& stage_id, int n) {
    Exec(
        "INSERT INTO task (id, stage_id, stage_type, priority, ready, status, data, max_attempts, creation_time, "
        "update_time, traceparent) SELECT gen_random_uuid(), '" +
        stage_id +
        "', s.type, 3, true, 'PENDING', jsonb_build_object('i', g), 1, now(), now(), "
        "'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' FROM stage s, generate_series(1, " +
        std::to_string(n) + ") g WHERE s.id = '" + stage_id + "'; UPDATE stage SET task_total = task_total + " +
        std::to_string(n) + " WHERE id = '" + stage_id + "'");
  }

  Metrics metrics_;
  std::unique_ptr<http::Api> api_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

// The value of an ok Result (a failed test and an empty value otherwise).
template <typename T>
T Value(domain::Result<T> r) {
  EXPECT_TRUE(r.ok()) << Describe(r.status());
  if (!r.ok()) return T{};
  return std::move(r).value();
}

std::vector<std::string> Ids(const std::vector<domain::Task>& tasks) {
  std::vector<std::string> ids;
  for (const auto& t : tasks) ids.push_back(t.id);
  return ids;
}

TEST_F(ListTest, AStreamedListIsByteIdenticalToTheWholeAnswer) {
  // More than one batch (1000 rows), so the answer is streamed in chunks.
  const auto stage_a = StageWithTasks("stream-a", 3);
  SeedTasks(stage_a, 2400);
  const auto stage_b = StageWithTasks("stream-b", 5);
  auto r = Get("/v1/tasks");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Transfer-Encoding"), "chunked");
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_FALSE(r->has_header("X-Next-Cursor"));
  auto whole = store_->FindTasks({});
  JOBNIK_ASSERT_OK(whole);
  ASSERT_EQ(whole->size(), 2408u);
  EXPECT_EQ(r->body, domain::ToJson(*whole));

  // Filtered, and through the stage's own route.
  domain::TaskFilter f;
  f.stage_id = stage_a;
  r = Get("/v1/stages/" + stage_a + "/tasks");
  ASSERT_TRUE(r);
  auto of_stage = store_->GetTasksOfStage(stage_a);
  JOBNIK_ASSERT_OK(of_stage);
  EXPECT_EQ(r->body, domain::ToJson(*of_stage));
  r = Get("/v1/tasks?stage_id=" + stage_a + "&status=PENDING");
  ASSERT_TRUE(r);
  f.status = domain::TaskStatus::kPending;
  EXPECT_EQ(r->body, domain::ToJson(Value(store_->FindTasks(f))));
}

TEST_F(ListTest, ShortListsAreSentWholeAsBefore) {
  const auto stage = StageWithTasks("short", 7);
  auto r = Get("/v1/tasks");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->has_header("Content-Length"));
  EXPECT_FALSE(r->has_header("Transfer-Encoding"));
  EXPECT_EQ(r->body, domain::ToJson(Value(store_->FindTasks({}))));
  EXPECT_EQ(Get("/v1/jobs")->body, domain::ToJson(Value(store_->FindJobs({}))));
  domain::JobFilter with_stages;
  with_stages.with_stages = true;
  EXPECT_EQ(Get("/v1/jobs?should_return_stages=true")->body, domain::ToJson(Value(store_->FindJobs(with_stages))));
  domain::StageFilter with_tasks;
  with_tasks.with_tasks = true;
  EXPECT_EQ(Get("/v1/stages?should_return_tasks=true")->body, domain::ToJson(Value(store_->FindStages(with_tasks))));
  EXPECT_EQ(Get("/v1/tasks?status=COMPLETED")->body, "[]");
  (void)stage;
}

TEST_F(ListTest, StreamedJobsAndStagesMatchTheWholeAnswer) {
  // 1,100 jobs with one stage each, seeded in SQL; some share a creation time.
  Exec(
      "INSERT INTO job (id, name, data, priority, status, creation_time, update_time, traceparent) "
      "SELECT gen_random_uuid(), 'seeded', '{}', 3, 'PENDING', now() - (g % 500) * interval '1 ms', now(), "
      "'00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' FROM generate_series(1, 1100) g; "
      "INSERT INTO stage (id, job_id, \"order\", type, data, status, creation_time, update_time, traceparent) "
      "SELECT gen_random_uuid(), id, 1, 'seeded', '{}', 'PENDING', creation_time, now(), traceparent FROM job");
  auto r = Get("/v1/jobs?should_return_stages=true");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Transfer-Encoding"), "chunked");
  domain::JobFilter jf;
  jf.with_stages = true;
  EXPECT_EQ(r->body, domain::ToJson(Value(store_->FindJobs(jf))));
  r = Get("/v1/stages");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Transfer-Encoding"), "chunked");
  EXPECT_EQ(r->body, domain::ToJson(Value(store_->FindStages({}))));
  // Pages walk the same order.
  std::vector<std::string> expected;
  for (const auto& j : Value(store_->FindJobs({}))) expected.push_back(j.id);
  EXPECT_EQ(Walk("/v1/jobs?limit=333"), expected);
  expected.clear();
  for (const auto& s : Value(store_->FindStages({}))) expected.push_back(s.id);
  EXPECT_EQ(Walk("/v1/stages?limit=250&stage_type=seeded"), expected);
}

TEST_F(ListTest, CursorPagesWalkEveryRowOnceUnderConcurrentInserts) {
  const auto stage = StageWithTasks("walk", 0);
  SeedTasks(stage, 1050);
  const auto before = Ids(Value(store_->FindTasks({})));
  // Another stage keeps growing while the client walks.
  const auto other = StageWithTasks("walk-other", 0);
  std::vector<std::string> inserted;
  auto insert = [&] {
    auto added = store_->AddTasks(other, SomeTasks(3), ATrace());
    ASSERT_TRUE(added.ok());
    for (const auto& t : *added) inserted.push_back(t.id);
  };
  const auto walked = Walk("/v1/tasks?limit=100", insert);
  std::set<std::string> seen(walked.begin(), walked.end());
  EXPECT_EQ(seen.size(), walked.size()) << "a task appeared twice";
  for (const auto& id : before) EXPECT_TRUE(seen.count(id)) << "missing " << id;
  // Rows committed after the cursor passed their place come on later pages: those
  // inserted before the last page was read are all there.
  EXPECT_GE(walked.size(), before.size() + inserted.size() - 3);
  // The walk is in the list's order: the unfiltered list's, minus the last insert.
  auto all = Ids(Value(store_->FindTasks({})));
  all.resize(walked.size());
  EXPECT_EQ(walked, all);
}

TEST_F(ListTest, StreamedAndPagedWalksUnderAConcurrentWriterMissNothingThatWasThere) {
  const auto stage = StageWithTasks("busy", 0);
  SeedTasks(stage, 2500);
  const auto before = Ids(Value(store_->FindTasks({})));
  const auto other = StageWithTasks("busy-other", 0);
  std::atomic<bool> stop{false};
  std::atomic<int> batches{0};
  std::thread writer([&] {
    while (!stop) {
      if (store_->AddTasks(other, SomeTasks(5), ATrace()).ok()) ++batches;
    }
  });
  auto streamed = Get("/v1/tasks");
  const auto paged = Walk("/v1/tasks?limit=250");
  stop = true;
  writer.join();
  EXPECT_GT(batches.load(), 0);
  ASSERT_TRUE(streamed);
  std::vector<std::string> streamed_ids;
  for (const auto& t : json::parse(streamed->body)) streamed_ids.push_back(t["id"]);
  for (const std::vector<std::string>* walk : {&std::as_const(streamed_ids), &paged}) {
    std::set<std::string> seen(walk->begin(), walk->end());
    EXPECT_EQ(seen.size(), walk->size()) << "a task appeared twice";
    for (const auto& id : before) EXPECT_TRUE(seen.count(id)) << "missing " << id;
    // In the list's order: a prefix of the final list (all inserts come after the seeds).
    auto all = Ids(Value(store_->FindTasks({})));
    all.resize(walk->size());
    EXPECT_EQ(*walk, all);
  }
}

TEST_F(ListTest, FiltersCombineWithPaging) {
  std::string job_a, job_b;
  const auto stage_a = StageWithTasks("filter-a", 25, &job_a);
  const auto stage_b = StageWithTasks("filter-b", 30, &job_b);
  // Claim and complete 5 tasks of type filter-a.
  for (int i = 0; i < 5; ++i) {
    auto d = store_->ClaimTask("filter-a");
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE(store_->ReportTask(d->task.id, domain::TaskStatus::kCompleted).ok());
  }
  domain::TaskFilter f;
  f.stage_type = "filter-a";
  f.status = domain::TaskStatus::kPending;
  EXPECT_EQ(Walk("/v1/tasks?stage_type=filter-a&status=PENDING&limit=7"), Ids(Value(store_->FindTasks(f))));
  EXPECT_EQ(Walk("/v1/tasks?stage_type=filter-a&status=PENDING&limit=7").size(), 20u);
  f = {};
  f.stage_id = stage_b;
  EXPECT_EQ(Walk("/v1/tasks?stage_id=" + stage_b + "&limit=4"), Ids(Value(store_->FindTasks(f))));
  EXPECT_EQ(Walk("/v1/stages/" + stage_b + "/tasks?limit=9"), Ids(Value(store_->FindTasks(f))));
  EXPECT_EQ(Walk("/v1/jobs?status=IN_PROGRESS&limit=1"), std::vector<std::string>{job_a});
  EXPECT_EQ(Walk("/v1/stages?job_id=" + job_b + "&limit=1").size(), 1u);
  // page/page_size: the same rows as the cursor walk, by number.
  auto all = Ids(Value(store_->FindTasks({})));
  auto r = Get("/v1/tasks?page=3&page_size=10");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto page = json::parse(r->body);
  ASSERT_EQ(page.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(page[i]["id"], all[20 + i]);
  EXPECT_NE(r->get_header_value("Link").find("page=4"), std::string::npos) << r->get_header_value("Link");
  r = Get("/v1/tasks?page=6&page_size=10");  // 55 tasks: the last, short page
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body).size(), 5u);
  EXPECT_FALSE(r->has_header("Link"));
  r = Get("/v1/tasks?page=2");  // page_size defaults to 100: nothing there
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "[]");
}

TEST_F(ListTest, BadPagingParametersAre400sNamingThem) {
  const auto stage = StageWithTasks("bad", 3);
  StageWithTasks("bad-too", 1);  // a second job: /v1/jobs?limit=1 has a next page
  ExpectBadParam("/v1/tasks?limit=0", "limit");
  ExpectBadParam("/v1/tasks?limit=1001", "limit");
  ExpectBadParam("/v1/tasks?limit=ten", "limit");
  ExpectBadParam("/v1/tasks?limit=5x", "limit");
  ExpectBadParam("/v1/tasks?limit=-1", "limit");
  ExpectBadParam("/v1/jobs?page=0", "page");
  ExpectBadParam("/v1/jobs?page_size=100000", "page_size");
  ExpectBadParam("/v1/stages?cursor=@@@", "cursor");
  ExpectBadParam("/v1/tasks?cursor=", "cursor");
  ExpectBadParam("/v1/tasks?cursor=dDE6LTE", "cursor");  // "t1:-1"
  ExpectBadParam("/v1/tasks?limit=5&page=2", "cursor");
  ExpectBadParam("/v1/tasks?limit=1&limit=2", "limit");
  // A cursor of another list.
  auto r = Get("/v1/jobs?limit=1");
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->has_header("X-Next-Cursor"));
  ExpectBadParam("/v1/tasks?cursor=" + r->get_header_value("X-Next-Cursor"), "cursor");
  ExpectBadParam("/v1/stages?cursor=" + r->get_header_value("X-Next-Cursor"), "cursor");
  // The limits themselves are fine; the cursor alone pages with the default size.
  EXPECT_EQ(Get("/v1/tasks?limit=1000")->status, 200);
  EXPECT_EQ(Get("/v1/tasks?limit=1")->status, 200);
  r = Get("/v1/jobs?cursor=" + r->get_header_value("X-Next-Cursor"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // The stage route checks its stage first.
  r = Get("/v1/stages/6a13d6fe-76b6-4c83-b62d-1a2d4d3a4a11/tasks?limit=5");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body).value("code", ""), "STAGE_NOT_FOUND");
  (void)stage;
}

TEST_F(ListTest, JobsFilterByStatus) {
  std::string pending, running, paused;
  StageWithTasks("status-a", 1, &pending);
  StageWithTasks("status-b", 1, &running);
  StageWithTasks("status-c", 1, &paused);
  ASSERT_TRUE(store_->ClaimTask("status-b").ok());
  ASSERT_TRUE(store_->SetJobStatus(paused, domain::JobStatus::kPaused).ok());
  EXPECT_EQ(JobIds("/v1/jobs?status=PENDING"), std::vector<std::string>{pending});
  EXPECT_EQ(JobIds("/v1/jobs?status=IN_PROGRESS"), std::vector<std::string>{running});
  EXPECT_EQ(JobIds("/v1/jobs?status=PAUSED&job_name=list-job"), std::vector<std::string>{paused});
  EXPECT_TRUE(JobIds("/v1/jobs?status=COMPLETED").empty());
  ExpectBadParam("/v1/jobs?status=DONE", "status");
  ExpectBadParam("/v1/jobs?status=pending", "status");
}

TEST_F(ListTest, JobsSearchByPartOfTheNameIgnoringCase) {
  const auto a = store_->CreateJob(AJob("Nightly-Report-eu"), ATrace());
  const auto b = store_->CreateJob(AJob("nightly-report-us"), ATrace());
  const auto c = store_->CreateJob(AJob("hourly_100%_sync"), ATrace());
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(JobIds("/v1/jobs?name_contains=REPORT"), (std::vector<std::string>{a->id, b->id}));
  EXPECT_EQ(JobIds("/v1/jobs?name_contains=report-us"), std::vector<std::string>{b->id});
  // A literal substring: % and _ are not wildcards.
  EXPECT_EQ(JobIds("/v1/jobs?name_contains=100%25_"), std::vector<std::string>{c->id});
  EXPECT_TRUE(JobIds("/v1/jobs?name_contains=_r").empty());
  // With the other filters and paging.
  EXPECT_EQ(JobIds("/v1/jobs?name_contains=nightly&limit=1"), std::vector<std::string>{a->id});
  EXPECT_TRUE(JobIds("/v1/jobs?name_contains=nightly&job_name=hourly_100%25_sync").empty());
  ExpectBadParam("/v1/jobs?name_contains=", "name_contains");
  ExpectBadParam("/v1/jobs?name_contains=" + std::string(51, 'x'), "name_contains");
}

TEST_F(ListTest, JobTaskSummarySumsItsStages) {
  auto job = store_->CreateJob(AJob("summary-job"), ATrace());
  ASSERT_TRUE(job.ok());
  auto first = store_->AddStage(job->id, AStage("sum-1"), ATrace());
  auto second = store_->AddStage(job->id, AStage("sum-2"), ATrace());
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(store_->AddTasks(first->id, SomeTasks(4, 2), ATrace()).ok());
  ASSERT_TRUE(store_->AddTasks(second->id, SomeTasks(3), ATrace()).ok());
  auto a = store_->ClaimTask("sum-1");
  auto b = store_->ClaimTask("sum-1");
  auto c = store_->ClaimTask("sum-1");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_TRUE(store_->ReportTask(a->task.id, domain::TaskStatus::kCompleted).ok());
  ASSERT_TRUE(store_->ReportTask(b->task.id, domain::TaskStatus::kFailed).ok());  // 1 of 2 attempts: RETRIED
  const json expected = {{"pending", 4}, {"inProgress", 1}, {"completed", 1}, {"failed", 0},
                         {"created", 0}, {"retried", 1},    {"total", 7}};

  auto r = Get("/v1/jobs/" + job->id + "?should_return_task_summary=true");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["taskSummary"], expected) << r->body;
  r = Get("/v1/jobs?should_return_task_summary=true&should_return_stages=true");
  ASSERT_TRUE(r);
  auto list = json::parse(r->body);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["taskSummary"], expected);
  EXPECT_EQ(list[0]["stages"].size(), 2u);
  // Not asked for: the v1 job, unchanged.
  EXPECT_FALSE(json::parse(Get("/v1/jobs/" + job->id)->body).contains("taskSummary"));
  EXPECT_FALSE(json::parse(Get("/v1/jobs")->body)[0].contains("taskSummary"));
  // A job without stages has an all-zero summary.
  auto empty = store_->CreateJob(AJob("no-stages"), ATrace());
  ASSERT_TRUE(empty.ok());
  r = Get("/v1/jobs/" + empty->id + "?should_return_task_summary=true");
  EXPECT_EQ(json::parse(r->body)["taskSummary"]["total"], 0);
  ExpectBadParam("/v1/jobs/" + job->id + "?should_return_task_summary=maybe", "should_return_task_summary");
}

}  // namespace
}  // namespace jobnik::testing
