// Unit tests of lib/client's seams without a server: the Client over a FakeTransport,
// base URLs, the clocks, backoff with full jitter, and the worker loop on virtual time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <httplib.h>
#include <prometheus/text_serializer.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "client/backoff.h"
#include "client/client.h"
#include "client/clock.h"
#include "client/fake_transport.h"
#include "client/task_context.h"
#include "client/trace.h"
#include "client/typed.h"
#include "client/worker.h"
#include "client/worker_metrics.h"
#include "domain/codec.h"

namespace jobnik::client {
namespace {

using domain::ErrorCode;
using domain::TaskStatus;
using std::chrono::milliseconds;

std::string TaskJson(const std::string& id, const std::string& status = "IN_PROGRESS") {
  return R"({"id":")" + id +
         R"(","stageId":"00000000-0000-0000-0000-000000000001","data":{},"userMetadata":{},"status":")" + status +
         R"(","attempts":0,"maxAttempts":1,"creationTime":"2024-01-01T00:00:00.000Z","updateTime":"2024-01-01T00:00:00.000Z",)"
         R"("traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})";
}

constexpr const char* kNothing = R"({"message":"No claimable task","code":"TASK_NOT_FOUND"})";

bool IsClaim(const HttpRequest& r) {
  return r.method == "PATCH" && r.path.ends_with("/tasks/dequeue");
}
bool IsReport(const HttpRequest& r) {
  return r.method == "PUT" && r.path.ends_with("/status");
}

// ---- base URLs ----

TEST(BaseUrlTest, SplitsHostAndPrefixAndDropsAFinalV1) {
  auto plain = ParseBaseUrl("http://h:8080");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->scheme_host_port, "http://h:8080");
  EXPECT_EQ(plain->prefix, "");
  auto v1 = ParseBaseUrl("http://h:8080/v1/");
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->scheme_host_port, "http://h:8080");
  EXPECT_EQ(v1->prefix, "");
  auto mounted = ParseBaseUrl("https://h/jobnik/v1");
  ASSERT_TRUE(mounted.ok());
  EXPECT_EQ(mounted->scheme_host_port, "https://h");
  EXPECT_EQ(mounted->prefix, "/jobnik");
  EXPECT_EQ(ParseBaseUrl("https://h/jobnik")->prefix, "/jobnik");
}

TEST(BaseUrlTest, RejectsWhatIsNotABaseUrl) {
  for (const char* bad : {"h:8080", "ftp://h", "http://", "http://h/x?y=1"}) {
    auto r = ParseBaseUrl(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::kValidation);
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().message();
  }
}

TEST(HttpTransportTest, AClientCertificateNeedsItsKeyAndMustLoad) {
  ClientOptions o;
  o.base_url = "https://127.0.0.1:1";
  o.client_cert = "/nonexistent/client.crt";
  auto r = MakeHttpTransport(o)->Send({"GET", "/liveness", {}, "", "application/json", std::nullopt});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kValidation);
  EXPECT_EQ(r.status().message(), "a client certificate needs both its certificate and its key file");
  o.client_key = "/nonexistent/client.key";
  r = MakeHttpTransport(o)->Send({"GET", "/liveness", {}, "", "application/json", std::nullopt});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kValidation);
  EXPECT_EQ(r.status().message(),
            "cannot load the client certificate /nonexistent/client.crt with the key /nonexistent/client.key");
}

TEST(HttpTransportTest, AnUnreachableServerIsUnavailable) {
  ClientOptions o;
  o.base_url = "http://127.0.0.1:1";  // nothing listens on port 1
  o.connect_timeout_ms = 500;
  Client client(o);
  auto r = client.Dequeue("t");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
}

TEST(HttpTransportTest, SendsThePrefixHeadersAndToken) {
  httplib::Server server;
  std::mutex mu;
  std::string path, auth, extra, per_request;
  server.Get(".*", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    path = req.path;
    auth = req.get_header_value("Authorization");
    extra = req.get_header_value("X-Extra");
    per_request = req.get_header_value("X-Request");
    res.set_header("X-Reply", "yes");
    res.set_content("{}", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&server] { server.listen_after_bind(); });
  {
    ClientOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(port) + "/jobnik/v1";
    o.headers = {{"X-Extra", "1"}};
    o.bearer_token = "s3cret";
    Client client(o);
    HttpRequest req;
    req.method = "GET";
    req.path = "/v1/jobs?limit=1";
    req.headers = {{"X-Request", "2"}};
    auto r = client.Send(req);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(FindHeader(r->headers, "x-reply"), "yes");
  }
  server.stop();
  thread.join();
  EXPECT_EQ(path, "/jobnik/v1/jobs");
  EXPECT_EQ(auth, "Bearer s3cret");
  EXPECT_EQ(extra, "1");
  EXPECT_EQ(per_request, "2");
}

TEST(HttpTransportTest, AStopCutsTheRequestInFlightAndARequestAfterItIsNotSent) {
  httplib::Server server;
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  std::atomic<int> requests{0};
  server.Post(".*", [&](const httplib::Request&, httplib::Response& res) {
    if (++requests == 1) entered.set_value();
    released.wait();  // a long poll that never ends by itself
    res.set_content("{}", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&server] { server.listen_after_bind(); });
  {
    ClientOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(port);
    Client client(o);
    std::stop_source stop;
    HttpRequest req;
    req.method = "POST";
    req.path = "/v1/tasks/claim";
    req.body = "{}";
    req.read_timeout = std::chrono::seconds(60);
    req.cancel = stop.get_token();
    auto reply = std::async(std::launch::async, [&] { return client.Send(req); });
    entered.get_future().wait();
    const auto t0 = std::chrono::steady_clock::now();
    stop.request_stop();
    ASSERT_EQ(reply.wait_for(std::chrono::seconds(5)), std::future_status::ready) << "the stop did not cut it";
    auto r = reply.get();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kUnavailable);
    EXPECT_NE(r.status().message().find("cancelled"), std::string::npos) << r.status().message();
    // Stopped already: not sent at all.
    auto again = client.Send(req);
    ASSERT_FALSE(again.ok());
    EXPECT_NE(again.status().message().find("not sent"), std::string::npos) << again.status().message();
    EXPECT_EQ(requests.load(), 1);
  }
  release.set_value();
  server.stop();
  thread.join();
}

// ---- the client over a fake transport ----

TEST(FakeTransportTest, ClientDecodesScriptedRepliesAndRequestsAreRecorded) {
  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(200, TaskJson("t1"));
  fake->Reply(404, kNothing);
  fake->Reply(409, R"({"message":"changed","code":"TASK_STATUS_UPDATE_FAILED"})");
  Client client(fake);
  auto claimed = client.Dequeue("tiles a/b");
  ASSERT_TRUE(claimed.ok()) << claimed.status().message();
  ASSERT_TRUE(claimed->has_value());
  EXPECT_EQ((*claimed)->id, "t1");
  auto empty = client.Dequeue("tiles");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->has_value());
  auto conflict = client.ReportTask("t1", TaskStatus::kCompleted);
  EXPECT_EQ(conflict.status().code(), ErrorCode::kTaskStatusUpdateFailed);

  const auto requests = fake->requests();
  ASSERT_EQ(requests.size(), 3U);
  EXPECT_EQ(requests[0].method, "PATCH");
  EXPECT_EQ(requests[0].path, "/v1/stages/tiles%20a%2Fb/tasks/dequeue");
  EXPECT_EQ(requests[2].method, "PUT");
  EXPECT_EQ(requests[2].path, "/v1/tasks/t1/status");
  EXPECT_EQ(requests[2].body, R"({"status":"COMPLETED"})");
}

TEST(FakeTransportTest, ClaimTasksSendsTheBatchAndDecodesEachTaskWithItsClaim) {
  auto fake = std::make_shared<FakeTransport>();
  std::string t1 = TaskJson("t1"), t2 = TaskJson("t2");
  t1.insert(t1.size() - 1, R"(,"claimId":"c1")");
  fake->Reply(200, R"({"tasks":[)" + t1 + "," + t2 + "]}");
  fake->Reply(200, R"({"tasks":[]})");
  fake->Reply(400, R"({"message":"request/body/limit must be an integer from 1 to 1000","code":"VALIDATION_ERROR"})");
  fake->Reply(200, R"({"tasks":{}})");
  Client client(fake);
  auto claimed = client.ClaimTasks({{"a", "b"}, 10, 0, 60, "w1"});
  ASSERT_TRUE(claimed.ok()) << claimed.status().message();
  ASSERT_EQ(claimed->size(), 2U);
  EXPECT_EQ((*claimed)[0].task.id, "t1");
  EXPECT_EQ((*claimed)[0].claim_id, "c1");
  EXPECT_EQ((*claimed)[1].task.id, "t2");
  EXPECT_EQ((*claimed)[1].claim_id, "");
  auto none = client.ClaimTasks({{"a"}, 5});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(client.ClaimTasks({{"a"}, 0}).status().code(), ErrorCode::kValidation);
  EXPECT_EQ(client.ClaimTasks({{"a"}, 1}).status().code(), ErrorCode::kBadResponse);

  const auto requests = fake->requests();
  ASSERT_EQ(requests.size(), 4U);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/v1/tasks/claim");
  EXPECT_EQ(nlohmann::json::parse(requests[0].body),
            nlohmann::json::parse(R"({"stageTypes":["a","b"],"limit":10,"leaseSeconds":60,"workerId":"w1"})"));
  EXPECT_EQ(nlohmann::json::parse(requests[1].body), nlohmann::json::parse(R"({"stageTypes":["a"],"limit":5})"));
}

TEST(FakeTransportTest, ReportTasksGivesOneStatusPerUpdateInOrder) {
  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(200, R"({"results":[{"id":"t1","ok":true},)"
                   R"({"id":"t2","code":"TASK_CLAIM_MISMATCH","message":"not under claim c"},)"
                   R"({"id":"t3","code":"TASK_NOT_FOUND","message":"no task t3"}]})");
  fake->Reply(200, R"({"results":[{"id":"t1","ok":true}]})");  // one result for two updates
  fake->Reply(503, R"({"message":"shutting down","code":"UNAVAILABLE"})");
  Client client(fake);
  Client::ReportOptions failed;
  failed.claim_id = "c";
  failed.reason = "it broke";
  failed.retry_after_seconds = 5;
  const std::vector<Client::TaskUpdate> updates = {
      {"t1", TaskStatus::kCompleted, {}}, {"t2", TaskStatus::kFailed, failed}, {"t3", TaskStatus::kCompleted, {}}};
  auto results = client.ReportTasks(updates);
  ASSERT_TRUE(results.ok()) << results.status().message();
  ASSERT_EQ(results->size(), 3U);
  EXPECT_TRUE((*results)[0].ok());
  EXPECT_EQ((*results)[1].code(), ErrorCode::kTaskClaimMismatch);
  EXPECT_EQ((*results)[1].message(), "not under claim c");
  EXPECT_EQ((*results)[2].code(), ErrorCode::kTaskNotFound);
  EXPECT_EQ(client.ReportTasks({updates[0], updates[2]}).status().code(), ErrorCode::kBadResponse);
  EXPECT_FALSE(client.ReportTasks({updates[0]}).ok());

  const auto requests = fake->requests();
  ASSERT_EQ(requests.size(), 3U);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/v1/tasks/status");
  EXPECT_EQ(nlohmann::json::parse(requests[0].body),
            nlohmann::json::parse(R"({"updates":[{"id":"t1","status":"COMPLETED"},)"
                                  R"({"id":"t2","status":"FAILED","claimId":"c","reason":"it broke",)"
                                  R"("retryAfterSeconds":5.0},{"id":"t3","status":"COMPLETED"}]})"));
}

TEST(FakeTransportTest, DropsBeforeAndAfterTheServerActed) {
  int acted = 0;
  auto fake = std::make_shared<FakeTransport>([&acted](const HttpRequest&) -> domain::Result<HttpResponse> {
    ++acted;
    return JsonReply(200, TaskJson("t1"));
  });
  Client client(fake);
  fake->DropNext(FakeTransport::Drop::kBeforeServer);
  fake->DropNext(FakeTransport::Drop::kAfterServer);
  EXPECT_EQ(client.Dequeue("t").status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(acted, 0);
  EXPECT_EQ(client.Dequeue("t").status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(acted, 1);  // the server claimed a task whose answer was lost
  EXPECT_TRUE(client.Dequeue("t").ok());
  EXPECT_EQ(fake->request_count(), 3U);
  EXPECT_EQ(fake->served_count(), 2U);
}

// A fake jobnikd that honours Idempotency-Key: the first request with a key acts, a repeat
// gets the first answer.
FakeTransport::Handler KeyedServer(int& acted) {
  auto answers = std::make_shared<std::map<std::string, HttpResponse>>();
  return [&acted, answers](const HttpRequest& r) -> domain::Result<HttpResponse> {
    const auto key = FindHeader(r.headers, "Idempotency-Key");
    if (key && answers->count(*key)) return answers->at(*key);
    ++acted;
    auto reply = JsonReply(r.method == "PATCH" ? 200 : 201,
                           r.method == "PATCH"
                               ? TaskJson("t" + std::to_string(acted))
                               : R"({"id":"j)" + std::to_string(acted) +
                                     R"(","name":"n","data":{},"userMetadata":{},"priority":"MEDIUM",)"
                                     R"("status":"PENDING","percentage":0,)"
                                     R"("creationTime":"2026-01-01T00:00:00.000Z",)"
                                     R"("updateTime":"2026-01-01T00:00:00.000Z",)"
                                     R"("traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})");
    if (key) (*answers)[*key] = reply;
    return reply;
  };
}

// The smallest valid job; retries without delay.
domain::NewJob SmallJob() {
  domain::NewJob job;
  job.name = "n";
  job.data = "{}";
  return job;
}
Idempotency NoDelay(std::string key, int attempts) {
  return {std::move(key), attempts, std::chrono::milliseconds(0)};
}

TEST(IdempotencyTest, ACreateWhoseAnswerWasLostIsRetriedWithItsKeyAndCreatesOnce) {
  int acted = 0;
  auto fake = std::make_shared<FakeTransport>(KeyedServer(acted));
  Client client(fake);
  fake->DropNext(FakeTransport::Drop::kAfterServer);
  const auto job = SmallJob();
  auto created = client.CreateJob(job, NoDelay("", 3));
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_EQ(created->id, "j1");
  EXPECT_EQ(acted, 1);
  const auto requests = fake->requests();
  ASSERT_EQ(requests.size(), 2U);
  const auto key = FindHeader(requests[0].headers, "Idempotency-Key");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->size(), 7U + 32U) << *key;  // "jobnik-" + 16 random bytes
  EXPECT_EQ(FindHeader(requests[1].headers, "Idempotency-Key"), key) << "the retry reuses the key";
  // The next create gets a key of its own.
  ASSERT_TRUE(client.CreateJob(job, NoDelay("", 1)).ok());
  EXPECT_NE(FindHeader(fake->requests()[2].headers, "Idempotency-Key"), key);
  EXPECT_EQ(acted, 2);
}

TEST(IdempotencyTest, RetriesStopAtTheAttemptsAndOnAnyRealAnswer) {
  auto fake = std::make_shared<FakeTransport>();
  Client client(fake);
  fake->DropNext(FakeTransport::Drop::kBeforeServer, 3);
  const auto job = SmallJob();
  EXPECT_EQ(client.CreateJob(job, NoDelay("k", 3)).status().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(fake->request_count(), 3U);
  fake->Reply(409, R"({"message":"running","code":"IDEMPOTENCY_KEY_IN_USE"})");
  fake->Reply(422, R"({"message":"reused","code":"IDEMPOTENCY_KEY_REUSED"})");
  EXPECT_EQ(client.CreateJob(job, NoDelay("k", 3)).status().code(), ErrorCode::kIdempotencyKeyReused);
  EXPECT_EQ(fake->request_count(), 5U) << "409 in use is retried, 422 is not";
}

TEST(IdempotencyTest, AnIdempotentClaimWhoseAnswerWasLostGetsItsTaskBack) {
  int acted = 0;
  auto fake = std::make_shared<FakeTransport>(KeyedServer(acted));
  Client client(fake);
  fake->DropNext(FakeTransport::Drop::kAfterServer);
  Client::ClaimOptions options;
  options.idempotent = true;
  auto claimed = client.Claim("t", options);
  ASSERT_TRUE(claimed.ok()) << claimed.status().message();
  ASSERT_TRUE(claimed->has_value());
  EXPECT_EQ((*claimed)->task.id, "t1");
  EXPECT_EQ(acted, 1) << "one task claimed, not two";
  // Not idempotent (the default): no key, and a lost answer is an error.
  fake->DropNext(FakeTransport::Drop::kAfterServer);
  EXPECT_EQ(client.Claim("t", {}).status().code(), ErrorCode::kUnavailable);
  EXPECT_FALSE(FindHeader(fake->requests().back().headers, "Idempotency-Key").has_value());
}

// ---- clocks ----

TEST(ClockTest, FakeClockSleepsInstantlyOnVirtualTime) {
  FakeClock clock;
  const auto t0 = clock.Now();
  EXPECT_TRUE(clock.SleepFor(std::chrono::hours(1)));
  EXPECT_EQ(clock.Now() - t0, std::chrono::hours(1));
  std::stop_source stop;
  stop.request_stop();
  EXPECT_FALSE(clock.SleepFor(std::chrono::hours(1), stop.get_token()));
  EXPECT_EQ(clock.Now() - t0, std::chrono::hours(1));
  EXPECT_EQ(clock.sleeps().size(), 2U);
}

TEST(ClockTest, RealSleepEndsOnAStopRequest) {
  std::stop_source stop;
  std::thread stopper([&stop] {
    std::this_thread::sleep_for(milliseconds(50));
    stop.request_stop();
  });
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(SystemClock().SleepFor(std::chrono::hours(1), stop.get_token()));
  stopper.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
  EXPECT_TRUE(SystemClock().SleepFor(milliseconds(1)));
}

// ---- backoff ----

TEST(BackoffTest, CeilingGrowsByTheFactorUpToTheMaxAndResets) {
  Backoff b({milliseconds(1000), 2.0, milliseconds(60000), Jitter::kNone});
  std::vector<long> waits;
  for (int i = 0; i < 9; ++i) waits.push_back(static_cast<long>(b.Next().count()));
  EXPECT_EQ(waits, (std::vector<long>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000}));
  b.Reset();
  EXPECT_EQ(b.Next(), milliseconds(1000));
}

TEST(BackoffTest, FullJitterStaysWithinZeroAndTheCeiling) {
  Backoff b({milliseconds(1000), 2.0, milliseconds(60000), Jitter::kFull});
  std::set<long> seen;
  for (int round = 0; round < 50; ++round) {
    b.Reset();
    for (int i = 0; i < 10; ++i) {
      const auto ceiling = b.Ceiling();
      const auto wait = b.Next();
      EXPECT_GE(wait.count(), 0);
      EXPECT_LE(wait, ceiling);
      seen.insert(static_cast<long>(wait.count()));
    }
  }
  EXPECT_GT(seen.size(), 100U);  // spread, not a constant
  // The extremes of the random source map to 0 and to the ceiling.
  Backoff low({milliseconds(1000), 2.0, milliseconds(60000)}, [] { return 0.0; });
  Backoff high({milliseconds(1000), 2.0, milliseconds(60000)}, [] { return 0.999999999; });
  EXPECT_EQ(low.Next(), milliseconds(0));
  EXPECT_EQ(high.Next(), milliseconds(1000));
  EXPECT_EQ(high.Next(), milliseconds(2000));
}

// ---- the worker loop ----

// The id in "/v1/tasks/ID[/...]".
std::string IdOf(const std::string& path) {
  const std::size_t from = std::string("/v1/tasks/").size();
  return path.substr(from, path.find('/', from) - from);
}

// A fake server for the worker: hands out `tasks` (then nothing), answers reports.
struct Queue {
  std::mutex mu;
  std::vector<std::string> tasks;
  std::vector<std::string> reports;  // "ID STATUS"
  domain::Result<HttpResponse> Handle(const HttpRequest& r) {
    std::lock_guard lock(mu);
    if (IsClaim(r)) {
      if (tasks.empty()) return JsonReply(404, kNothing);
      const std::string id = tasks.front();
      tasks.erase(tasks.begin());
      return JsonReply(200, TaskJson(id));
    }
    if (IsReport(r)) {
      const std::string id = IdOf(r.path);
      const bool done = r.body.find("COMPLETED") != std::string::npos;
      reports.push_back(id + (done ? " COMPLETED" : " FAILED"));
      return JsonReply(200, TaskJson(id, done ? "COMPLETED" : "FAILED"));
    }
    if (r.method == "GET") return JsonReply(200, TaskJson(IdOf(r.path)));
    return JsonReply(404, R"({"message":"no route","code":"ROUTE_NOT_FOUND"})");
  }
};

WorkerOptions OneSlot() {
  WorkerOptions o;
  o.stage_types = {"t"};
  o.slots = 1;
  return o;
}

Worker::ClientFactory Over(const std::shared_ptr<FakeTransport>& fake) {
  return [fake](int) { return std::make_unique<Client>(fake); };
}

TEST(WorkerTest, BackoffGrowsOnAnEmptyQueueAndResetsOnWork) {
  auto fake = std::make_shared<FakeTransport>();
  // Three empty claims, a task, two empty claims: then stop.
  for (int i = 0; i < 3; ++i) fake->Reply(404, kNothing);
  fake->Reply(200, TaskJson("t1"));
  fake->Reply(200, TaskJson("t1", "COMPLETED"));  // the report
  for (int i = 0; i < 2; ++i) fake->Reply(404, kNothing);
  FakeClock clock;
  auto options = OneSlot();
  options.uniform01 = [] { return 0.999999999; };  // the ceiling itself
  Worker* self = nullptr;
  clock.OnSleep([&clock, &self](Clock::Duration) {
    if (clock.sleeps().size() == 4) self->RequestStop();  // the 5th sleep is cut short
  });
  std::atomic<int> handled{0};
  Worker worker(
      options, Over(fake),
      [&handled](TaskContext&) {
        ++handled;
        return TaskStatus::kCompleted;
      },
      {}, clock);
  self = &worker;
  worker.Start();
  worker.Wait();
  EXPECT_EQ(handled.load(), 1);
  const auto sleeps = clock.sleeps();
  ASSERT_EQ(sleeps.size(), 5U);
  EXPECT_EQ(sleeps[0], milliseconds(1000));
  EXPECT_EQ(sleeps[1], milliseconds(2000));
  EXPECT_EQ(sleeps[2], milliseconds(4000));
  EXPECT_EQ(sleeps[3], milliseconds(1000));  // reset by the task
  EXPECT_EQ(sleeps[4], milliseconds(2000));
}

TEST(WorkerTest, WithWaitSecondsAnIdleWorkerLongPollsEveryTypeInOneRequestAndNeverSleeps) {
  FakeClock clock;
  std::mutex mu;
  std::vector<HttpRequest> claims;
  int empties = 0;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& r) -> domain::Result<HttpResponse> {
    if (r.method == "POST" && r.path == "/v1/tasks/claim") {
      std::lock_guard lock(mu);
      claims.push_back(r);
      if (claims.size() == 2) return JsonReply(200, R"({"tasks":[)" + TaskJson("t1") + "]}");
      ++empties;
      clock.Advance(std::chrono::seconds(20));  // the server held the claim for its whole wait
      return JsonReply(200, R"({"tasks":[]})");
    }
    if (IsReport(r)) return JsonReply(200, TaskJson("t1", "COMPLETED"));
    return JsonReply(404, R"({"message":"no route","code":"NOT_FOUND"})");
  });
  auto options = OneSlot();
  options.stage_types = {"a", "b"};
  options.claim.wait_seconds = 20;
  options.claim.lease_seconds = 60;
  WorkerHooks hooks;
  hooks.on_queue_empty = [](int, int rounds) { return rounds >= 3 ? Next::kStopSlot : Next::kContinue; };
  std::atomic<int> handled{0};
  Worker worker(
      options, Over(fake),
      [&handled](TaskContext&) {
        ++handled;
        return TaskStatus::kCompleted;
      },
      hooks, clock);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(handled.load(), 1);
  EXPECT_EQ(empties, 4);  // one before the task, three after it (the rounds count again from 0)
  EXPECT_TRUE(clock.sleeps().empty()) << "slept " << clock.sleeps().size() << " time(s): the server did the waiting";
  ASSERT_EQ(claims.size(), 5U);
  const auto body = nlohmann::json::parse(claims[0].body);
  EXPECT_EQ(body["stageTypes"], nlohmann::json({"a", "b"}));
  EXPECT_EQ(body["limit"], 1);
  EXPECT_EQ(body["waitSeconds"], 20);
  EXPECT_EQ(body["leaseSeconds"], 60);
  // The read timeout covers the wait.
  ASSERT_TRUE(claims[0].read_timeout.has_value());
  EXPECT_GE(*claims[0].read_timeout, std::chrono::seconds(20) + kLongPollReadMargin);
}

TEST(WorkerTest, AnEmptyLongPollAnsweredAtOnceBacksOffAndAServerWithoutItIsPolled) {
  FakeClock clock;
  Queue q;
  q.tasks = {"t1"};
  int batch_claims = 0;
  std::vector<std::string> dequeues;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& r) -> domain::Result<HttpResponse> {
    if (r.method == "POST" && r.path == "/v1/tasks/claim") {
      // The first answer is empty at once (a server that does not hold claims); then the
      // route is gone (an older server).
      if (++batch_claims == 1) return JsonReply(200, R"({"tasks":[]})");
      return JsonReply(404, R"({"message":"No route for POST /v1/tasks/claim","code":"NOT_FOUND"})");
    }
    if (IsClaim(r)) dequeues.push_back(r.path);
    return q.Handle(r);
  });
  auto options = OneSlot();
  options.claim.wait_seconds = 20;
  options.uniform01 = [] { return 0.999999999; };
  WorkerHooks hooks;
  hooks.on_queue_empty = [](int, int rounds) { return rounds >= 2 ? Next::kStopSlot : Next::kContinue; };
  int unsupported = 0;
  hooks.on_long_poll_unsupported = [&unsupported](const domain::Status& s) {
    EXPECT_EQ(s.code(), ErrorCode::kRouteNotFound);
    ++unsupported;
  };
  Worker worker(
      options, Over(fake), [](TaskContext&) { return TaskStatus::kCompleted; }, hooks, clock);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(batch_claims, 2);  // never asked again once the route was missing
  EXPECT_EQ(unsupported, 1);
  EXPECT_EQ(q.reports, std::vector<std::string>{"t1 COMPLETED"});
  ASSERT_FALSE(dequeues.empty());
  for (const auto& path : dequeues) EXPECT_EQ(path.find("wait_seconds"), std::string::npos) << path;
  ASSERT_FALSE(clock.sleeps().empty());
  EXPECT_EQ(clock.sleeps()[0], milliseconds(1000));  // the instant empty answer backed off
}

TEST(WorkerTest, ABusyQueueNeverSleepsAndErrorsBackOff) {
  Queue q;
  for (int i = 0; i < 20; ++i) q.tasks.push_back(std::to_string(10 + i));
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  fake->DropNext(FakeTransport::Drop::kBeforeServer);  // the first claim fails
  FakeClock clock;
  auto options = OneSlot();
  options.backoff = {milliseconds(1000), 2.0, milliseconds(60000), Jitter::kFull};
  WorkerHooks hooks;
  hooks.on_queue_empty = [](int, int) { return Next::kStopSlot; };
  int claim_errors = 0;
  hooks.on_claim_error = [&claim_errors](int, const std::string&, const domain::Status& s) {
    EXPECT_EQ(s.code(), ErrorCode::kUnavailable);
    ++claim_errors;
    return Next::kContinue;
  };
  Worker worker(
      options, Over(fake), [](TaskContext&) { return TaskStatus::kCompleted; }, hooks, clock);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(claim_errors, 1);
  EXPECT_EQ(q.reports.size(), 20U);
  const auto sleeps = clock.sleeps();
  ASSERT_EQ(sleeps.size(), 1U);  // after the error only; none between the 20 tasks
  EXPECT_LE(sleeps[0], milliseconds(1000));
}

// A handler's "I have started" signal, waited for by the test.
class Started {
 public:
  void Signal() {
    {
      std::lock_guard lock(mu_);
      started_ = true;
    }
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return started_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
};

// Blocks until `token` is requested (a long task that ends only when told to).
void WaitUntilRequested(const std::stop_token& token) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait(lock, token, [] { return false; });
}

TEST(WorkerTest, StopReturnsOnceTheRunningHandlerFinishedAndReported) {
  Queue q;
  q.tasks = {"aa", "bb", "cc"};
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  Started started;
  std::atomic<bool> saw_stop{false};
  auto handler = [&](TaskContext& c) {
    started.Signal();
    WaitUntilRequested(c.stop);  // runs until the worker stops (a long task)
    saw_stop = c.stop.stop_requested();
    return TaskStatus::kCompleted;
  };
  FakeClock clock;
  Worker worker(OneSlot(), Over(fake), handler, {}, clock);
  worker.Start();
  started.Wait();
  worker.Stop();
  EXPECT_TRUE(saw_stop.load());
  std::lock_guard lock(q.mu);
  EXPECT_EQ(q.reports, (std::vector<std::string>{"aa COMPLETED"}));
  EXPECT_EQ(q.tasks.size(), 2U);  // no claim after the stop
}

TEST(WorkerTest, StopWithAGraceCallsOffAHandlerStillRunningAfterItAndReportsItFailed) {
  Queue q;
  q.tasks = {"aa", "bb"};
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  Started started;
  std::atomic<CancelCause> seen{CancelCause::kNone};
  auto handler = [&](TaskContext& c) {
    started.Signal();
    WaitUntilRequested(c.cancelled);  // ignores the stop request; ends only when called off
    seen = c.cancel_cause();
    return TaskStatus::kFailed;
  };
  std::vector<TaskOutcome> handled;
  WorkerHooks hooks;
  hooks.on_handled = [&](int, const domain::Task&, const TaskOutcome& o, Clock::Duration) { handled.push_back(o); };
  FakeClock clock;
  Worker worker(OneSlot(), Over(fake), handler, hooks, clock);
  worker.Start();
  started.Wait();
  worker.Stop(std::chrono::seconds(30));
  EXPECT_EQ(seen.load(), CancelCause::kShutdown);
  const auto sleeps = clock.sleeps();
  EXPECT_NE(std::find(sleeps.begin(), sleeps.end(), std::chrono::seconds(30)), sleeps.end());  // the grace
  ASSERT_EQ(handled.size(), 1U);
  EXPECT_TRUE(handled[0].cancelled);  // called off: the handler breaker does not count it
  EXPECT_NE(handled[0].reason.find("grace"), std::string::npos) << handled[0].reason;
  std::lock_guard lock(q.mu);
  EXPECT_EQ(q.reports, (std::vector<std::string>{"aa FAILED"}));
  EXPECT_EQ(q.tasks.size(), 1U);  // no claim after the stop
}

TEST(WorkerTest, StopWithAGraceLetsAHandlerThatEndsWithinItComplete) {
  Queue q;
  q.tasks = {"aa"};
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  Started started;
  std::atomic<CancelCause> seen{CancelCause::kNone};
  auto handler = [&](TaskContext& c) {
    started.Signal();
    WaitUntilRequested(c.stop);  // finishes as soon as the stop is asked
    seen = c.cancel_cause();
    return TaskStatus::kCompleted;
  };
  Worker worker(OneSlot(), Over(fake), handler, {}, SystemClock());
  worker.Start();
  started.Wait();
  const auto t0 = std::chrono::steady_clock::now();
  worker.Stop(std::chrono::seconds(60));  // returns when the slot ends, not after the grace
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  EXPECT_EQ(seen.load(), CancelCause::kNone);
  std::lock_guard lock(q.mu);
  EXPECT_EQ(q.reports, (std::vector<std::string>{"aa COMPLETED"}));
}

TEST(WorkerTest, AFailedCompletedReportIsRetriedNeverReportedFailed) {
  Queue q;
  q.tasks = {"aa"};
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  FakeClock clock;
  auto options = OneSlot();
  options.report_backoff = {milliseconds(100), 2.0, milliseconds(5000), Jitter::kNone};
  WorkerHooks hooks;
  hooks.on_queue_empty = [](int, int) { return Next::kStopSlot; };
  std::vector<std::string> outcomes;
  hooks.on_claimed = [&fake](int, const domain::Task&, Clock::Duration) {
    // The report's connection: refused, a 503, then a database error.
    fake->DropNext(FakeTransport::Drop::kBeforeServer);
    fake->Reply(503, R"({"message":"shutting down","code":"SERVICE_UNAVAILABLE"})");
    fake->Reply(500, R"({"message":"db","code":"DATABASE_RELATED_ERROR"})");
    return Next::kContinue;
  };
  hooks.on_reported = [&outcomes](int, const domain::Task&, TaskStatus requested, const domain::Result<domain::Task>& r,
                                  Clock::Duration) {
    outcomes.push_back(std::string(domain::ToString(requested)) + (r.ok() ? " ok" : " " + r.status().message()));
    return Next::kContinue;
  };
  Worker worker(
      options, Over(fake), [](TaskContext&) { return TaskStatus::kCompleted; }, hooks, clock);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(outcomes, (std::vector<std::string>{"COMPLETED ok"}));
  EXPECT_EQ(q.reports, (std::vector<std::string>{"aa COMPLETED"}));
  int report_requests = 0;
  for (const auto& r : fake->requests()) {
    if (IsReport(r)) {
      ++report_requests;
      EXPECT_EQ(r.body, R"({"status":"COMPLETED"})");
    }
  }
  EXPECT_EQ(report_requests, 4);
  const auto sleeps = clock.sleeps();
  ASSERT_GE(sleeps.size(), 3U);
  EXPECT_EQ(sleeps[0], milliseconds(100));
  EXPECT_EQ(sleeps[1], milliseconds(200));
  EXPECT_EQ(sleeps[2], milliseconds(400));
}

// An on_reported hook that keeps the report's result in `result` and stops its slot.
auto KeepReportAndStop(domain::Result<domain::Task>& result) {
  return [&result](int, const domain::Task&, TaskStatus, const domain::Result<domain::Task>& r, Clock::Duration) {
    result = r;
    return Next::kStopSlot;
  };
}

TEST(WorkerTest, ACompletionAsksForNoTaskBackAndTakesANoContentAnswer) {
  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(200, TaskJson("aa"));  // the claim
  fake->Reply(204, "");              // the report: applied, nothing sent back
  WorkerHooks hooks;
  domain::Result<domain::Task> result = domain::Unavailable("none");
  hooks.on_reported = KeepReportAndStop(result);
  Worker worker(
      OneSlot(), Over(fake), [](TaskContext&) { return TaskStatus::kCompleted; }, hooks);
  worker.Start();
  worker.Wait();
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->id, "aa");
  EXPECT_EQ(result->status, TaskStatus::kCompleted);  // the claimed task, completed
  const auto requests = fake->requests();
  ASSERT_EQ(requests.size(), 2U);
  ASSERT_TRUE(IsReport(requests[1]));
  EXPECT_EQ(FindHeader(requests[1].headers, "prefer"), "return=minimal");
  EXPECT_EQ(requests[1].body, R"({"status":"COMPLETED"})");
}

TEST(FakeTransportTest, AMinimalReportTakesTheTaskFromAServerWithoutThePreferenceAndKeepsErrors) {
  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(200, TaskJson("aa", "COMPLETED"));  // Jobnik Manager v1 ignores Prefer
  fake->Reply(409, R"({"message":"claim c-1 is not the task's","code":"TASK_CLAIM_MISMATCH"})");
  Client client(fake);
  EXPECT_TRUE(client.ReportMinimal("aa", TaskStatus::kCompleted, {}).ok());
  const auto refused = client.ReportMinimal("aa", TaskStatus::kCompleted, {"c-1", ""});
  EXPECT_EQ(refused.code(), ErrorCode::kTaskClaimMismatch);
  const auto requests = fake->requests();
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[1].body, R"({"status":"COMPLETED","claimId":"c-1"})");
}

TEST(WorkerTest, ARetriedReportWhoseFirstTryWasAppliedCountsAsReported) {
  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(200, TaskJson("aa"));  // the claim
  FakeClock clock;
  auto options = OneSlot();
  WorkerHooks hooks;
  hooks.on_claimed = [&fake](int, const domain::Task&, Clock::Duration) {
    // The first report is applied, its answer lost; the retry finds the task final.
    fake->DropNext(FakeTransport::Drop::kAfterServer);
    fake->Reply(200, TaskJson("aa", "COMPLETED"));
    fake->Reply(
        400,
        R"({"message":"Illegal status transition from COMPLETED to COMPLETED","code":"ILLEGAL_TASK_STATUS_TRANSITION"})");
    fake->Reply(200, TaskJson("aa", "COMPLETED"));  // GET /v1/tasks/aa
    return Next::kContinue;
  };
  domain::Result<domain::Task> result = domain::Unavailable("none");
  hooks.on_reported = KeepReportAndStop(result);
  Worker worker(
      options, Over(fake), [](TaskContext&) { return TaskStatus::kCompleted; }, hooks, clock);
  worker.Start();
  worker.Wait();
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->status, TaskStatus::kCompleted);
  const auto requests = fake->requests();
  ASSERT_EQ(requests.size(), 4U);
  EXPECT_EQ(requests[3].method, "GET");
  EXPECT_EQ(requests[3].path, "/v1/tasks/aa");
}

TEST(WorkerTest, AFailedReportIsNotRetriedAndAThrowingHandlerFailsItsTask) {
  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(200, TaskJson("aa"));
  fake->Reply(503, R"({"message":"shutting down","code":"SERVICE_UNAVAILABLE"})");
  FakeClock clock;
  WorkerHooks hooks;
  std::vector<std::string> outcomes;
  hooks.on_reported = [&](int, const domain::Task&, TaskStatus requested, const domain::Result<domain::Task>& r,
                          Clock::Duration) {
    outcomes.push_back(std::string(domain::ToString(requested)) + " " +
                       std::string(domain::ToString(r.status().code())));
    return Next::kStopSlot;
  };
  Worker worker(
      OneSlot(), Over(fake), [](TaskContext&) -> TaskStatus { throw std::runtime_error("boom"); }, hooks, clock);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(outcomes, (std::vector<std::string>{"FAILED SERVICE_UNAVAILABLE"}));
  EXPECT_EQ(fake->request_count(), 2U);
}

TEST(WorkerTest, SlotsRunConcurrentlyEachWithItsOwnClient) {
  Queue q;
  for (int i = 0; i < 40; ++i) q.tasks.push_back(std::to_string(10 + i));
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  FakeClock clock;
  auto options = OneSlot();
  options.slots = 4;
  std::atomic<int> clients{0};
  WorkerHooks hooks;
  hooks.on_queue_empty = [](int, int) { return Next::kStopSlot; };
  Worker worker(
      options,
      [&](int) {
        ++clients;
        return std::make_unique<Client>(fake);
      },
      [](TaskContext&) { return TaskStatus::kCompleted; }, hooks, clock);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(clients.load(), 4);
  EXPECT_EQ(q.reports.size(), 40U);
  EXPECT_EQ(std::set<std::string>(q.reports.begin(), q.reports.end()).size(), 40U);
}

// A fake jobnikd for combine_requests: the batch claim and the batch report over `tasks`;
// counts requests and checks that no two claims (reports) of the worker are out at once.
struct BatchQueue {
  std::mutex mu;
  std::vector<std::string> tasks;
  std::vector<int> claim_limits;          // of each batch claim
  std::vector<std::size_t> report_sizes;  // completions per report request
  std::map<std::string, int> completed;   // task -> completions reported
  int claims_out = 0, reports_out = 0;
  bool overlapped = false;
  bool batch_claim = true, batch_report = true;  // the server has them
  // Called with the request counts before answering (outside the lock).
  std::function<void(const HttpRequest&)> before_answer;

  domain::Result<HttpResponse> Handle(const HttpRequest& r) {
    const bool claim = r.method == "POST" && r.path == "/v1/tasks/claim";
    const bool batch = r.method == "POST" && r.path == "/v1/tasks/status";
    if ((claim && !batch_claim) || (batch && !batch_report)) {
      return JsonReply(404, R"({"message":"No route","code":"NOT_FOUND"})");
    }
    int& out = claim || IsClaim(r) ? claims_out : reports_out;
    {
      std::lock_guard lock(mu);
      overlapped = overlapped || ++out > 1;
    }
    if (before_answer) before_answer(r);
    std::lock_guard lock(mu);
    --out;
    if (claim) {
      const int limit = nlohmann::json::parse(r.body)["limit"].get<int>();
      claim_limits.push_back(limit);
      std::string body = R"({"tasks":[)";
      for (int i = 0; i < limit && !tasks.empty(); ++i) {
        body += (i ? "," : "") + TaskJson(tasks.front());
        tasks.erase(tasks.begin());
      }
      return JsonReply(200, body + "]}");
    }
    if (IsClaim(r)) {
      claim_limits.push_back(0);
      if (tasks.empty()) return JsonReply(404, kNothing);
      const std::string id = tasks.front();
      tasks.erase(tasks.begin());
      return JsonReply(200, TaskJson(id));
    }
    if (batch) {
      const auto updates = nlohmann::json::parse(r.body)["updates"];
      report_sizes.push_back(updates.size());
      std::string body = R"({"results":[)";
      for (std::size_t i = 0; i < updates.size(); ++i) {
        ++completed[updates[i]["id"].get<std::string>()];
        body += i ? R"(,{"ok":true})" : R"({"ok":true})";
      }
      return JsonReply(200, body + "]}");
    }
    if (IsReport(r)) {
      report_sizes.push_back(1);
      ++completed[IdOf(r.path)];
      return JsonReply(204, "");
    }
    return JsonReply(404, R"({"message":"No route","code":"ROUTE_NOT_FOUND"})");
  }
};

// `slots` slots sharing their requests.
WorkerOptions Combined(int slots) {
  auto o = OneSlot();
  o.slots = slots;
  o.combine_requests = true;
  return o;
}

// Every slot stops at its first empty round.
WorkerHooks StopWhenEmpty() {
  WorkerHooks h;
  h.on_queue_empty = [](int, int) { return Next::kStopSlot; };
  return h;
}

// Waits until `done` holds (another thread's progress), at most 10 s.
template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(WorkerTest, CombinedRequestsClaimForEveryWaitingSlotAndReportCompletionsTogether) {
  BatchQueue q;
  q.tasks = {"t1", "t2", "t3", "t4"};
  Worker* worker = nullptr;
  bool first_claim = true, first_report = true;
  std::size_t first_report_size = 0;
  q.before_answer = [&](const HttpRequest& r) {
    if (r.path == "/v1/tasks/claim" && std::exchange(first_claim, false)) {
      // The first claim is answered once every slot waits for a task: the others wait
      // for it rather than sending their own, and the next claim asks for all of them.
      EXPECT_TRUE(Eventually([&] { return worker->slots_waiting_for_claim() == 4; }));
    }
    if (r.method != "PATCH" && r.path.find("/status") != std::string::npos && std::exchange(first_report, false)) {
      first_report_size = r.method == "PUT" ? 1 : nlohmann::json::parse(r.body)["updates"].size();
      // The first report is answered once the other completions queued behind it.
      EXPECT_TRUE(Eventually([&] { return worker->reports_queued() == static_cast<int>(4 - first_report_size); }));
    }
  };
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  FakeClock clock;
  const auto options = Combined(4);
  const auto hooks = StopWhenEmpty();
  // Every slot holds a task at once: the four handlers meet before any ends.
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
  Worker w(
      options, Over(fake),
      [&](TaskContext&) {
        std::unique_lock lock(mu);
        ++running;
        cv.notify_all();
        EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return running == 4; }));
        return TaskStatus::kCompleted;
      },
      hooks, clock);
  worker = &w;
  w.Start();
  w.Wait();
  EXPECT_FALSE(q.overlapped) << "two claims or two reports of one worker were out at once";
  // Two claims carried the four tasks: the first for the slots waiting when it was sent,
  // the second for the rest; then one empty claim per slot, none asking for more than
  // the slots that wait.
  ASSERT_GE(q.claim_limits.size(), 3U);
  EXPECT_EQ(q.claim_limits[0] + q.claim_limits[1], 4);
  for (const int limit : q.claim_limits) {
    EXPECT_GE(limit, 1);
    EXPECT_LE(limit, 4);
  }
  // Two reports carried the four completions.
  ASSERT_EQ(q.report_sizes.size(), 2U);
  EXPECT_EQ(q.report_sizes[0], first_report_size);
  EXPECT_EQ(q.report_sizes[0] + q.report_sizes[1], 4U);
  EXPECT_EQ(q.completed, (std::map<std::string, int>{{"t1", 1}, {"t2", 1}, {"t3", 1}, {"t4", 1}}));
}

TEST(WorkerTest, CombinedRequestsFallBackToPerSlotRequestsOnAServerWithoutBatches) {
  for (const bool has_claim : {false, true}) {
    BatchQueue q;
    for (int i = 0; i < 60; ++i) q.tasks.push_back(std::to_string(100 + i));
    q.batch_claim = has_claim;
    q.batch_report = false;
    auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
    FakeClock clock;
    const auto options = Combined(6);
    auto hooks = StopWhenEmpty();
    std::atomic<int> claim_errors{0};
    hooks.on_claim_error = [&claim_errors](int, const std::string&, const domain::Status&) {
      ++claim_errors;
      return Next::kContinue;
    };
    Worker worker(
        options, Over(fake), [](TaskContext&) { return TaskStatus::kCompleted; }, hooks, clock);
    worker.Start();
    worker.Wait();
    EXPECT_EQ(claim_errors.load(), 0) << "a missing route is not a failed claim";
    EXPECT_EQ(q.completed.size(), 60U) << has_claim;
    for (const auto& [id, n] : q.completed) EXPECT_EQ(n, 1) << id;
    EXPECT_TRUE(q.tasks.empty());
    // Without the batch report every completion went alone, each once.
    EXPECT_EQ(q.report_sizes.size(), 60U);
  }
}

// Many slots, many tasks, a handler that sometimes yields: every task is handled and
// reported exactly once, nothing is left claimed, and no two claims were ever out at once.
TEST(WorkerTest, CombinedRequestsNeverLoseOrDoubleATask) {
  BatchQueue q;
  for (int i = 0; i < 2000; ++i) q.tasks.push_back(std::to_string(10000 + i));
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  FakeClock clock;
  const auto options = Combined(16);
  const auto hooks = StopWhenEmpty();
  std::mutex mu;
  std::map<std::string, int> handled;
  Worker worker(
      options, Over(fake),
      [&](TaskContext& c) {
        if (c.task.id.back() % 3 == 0) std::this_thread::yield();
        std::lock_guard lock(mu);
        ++handled[c.task.id];
        return TaskStatus::kCompleted;
      },
      hooks, clock);
  worker.Start();
  worker.Wait();
  EXPECT_FALSE(q.overlapped);
  EXPECT_TRUE(q.tasks.empty());
  EXPECT_EQ(handled.size(), 2000U);
  for (const auto& [id, n] : handled) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(q.completed, handled);
  EXPECT_EQ(worker.slots_waiting_for_claim(), 0);
  EXPECT_EQ(worker.reports_queued(), 0);
}

}  // namespace
}  // namespace jobnik::client

namespace jobnik::client {
namespace {

// A claimed task as a server with claim tokens sends it.
std::string ClaimedJson(const std::string& id) {
  std::string json = TaskJson(id);
  json.pop_back();
  return json + R"(,"claimId":"c-1","leaseExpiresAt":"2024-01-01T00:01:00.000Z","workerId":"w"})";
}

TEST(WorkerTest, AFailureReasonAndTheClaimTokenAreReportedOnlyToAServerWithClaimTokens) {
  for (const bool tokens : {false, true}) {
    auto fake = std::make_shared<FakeTransport>();
    fake->Reply(200, tokens ? ClaimedJson("aa") : TaskJson("aa"));
    fake->Reply(200, TaskJson("aa", "FAILED"));
    FakeClock clock;
    WorkerHooks hooks;
    hooks.on_reported = [](int, const domain::Task&, TaskStatus, const domain::Result<domain::Task>&, Clock::Duration) {
      return Next::kStopSlot;
    };
    std::string seen_claim, seen_json;
    Worker worker(OneSlot(), Over(fake), OutcomeHandler([&](TaskContext& c) {
                    seen_claim = c.claim_id;
                    seen_json = std::string(c.json);
                    return TaskOutcome{TaskStatus::kFailed, "exited with status 3", false};
                  }),
                  hooks, clock);
    worker.Start();
    worker.Wait();
    const auto requests = fake->requests();
    ASSERT_EQ(requests.size(), 2U);
    EXPECT_EQ(requests[0].path, "/v1/stages/t/tasks/dequeue");
    if (tokens) {
      EXPECT_EQ(seen_claim, "c-1");
      EXPECT_EQ(requests[1].body, R"({"status":"FAILED","claimId":"c-1","reason":"exited with status 3"})");
    } else {
      EXPECT_EQ(seen_claim, "");
      EXPECT_EQ(requests[1].body, R"({"status":"FAILED"})");
    }
    EXPECT_EQ(seen_json, tokens ? ClaimedJson("aa") : TaskJson("aa"));
  }
}

TEST(WorkerTest, TheClaimBreakerOpensOnFailedClaimsAndAProbeClosesIt) {
  Queue q;
  q.tasks = {"aa", "bb"};
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  fake->DropNext(FakeTransport::Drop::kBeforeServer, 3);  // the server is away for 3 claims
  FakeClock clock;
  auto options = OneSlot();
  options.uniform01 = [] { return 0.0; };  // no backoff: only the breaker waits
  options.claim_breaker = {true, std::chrono::seconds(60), 3, 0.5, std::chrono::seconds(10)};
  WorkerHooks hooks;
  std::vector<std::string> changes;
  std::vector<std::size_t> requests_at_change;
  hooks.on_breaker = [&](BreakerKind kind, BreakerState from, BreakerState to) {
    changes.push_back(std::string(ToString(kind)) + " " + std::string(ToString(from)) + ">" +
                      std::string(ToString(to)));
    requests_at_change.push_back(fake->request_count());
  };
  hooks.on_queue_empty = [](int, int) { return Next::kStopSlot; };
  Worker worker(
      options, Over(fake), [](TaskContext&) { return TaskStatus::kCompleted; }, hooks, clock);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(changes, (std::vector<std::string>{"claim closed>open", "claim open>half-open", "claim half-open>closed"}));
  // Opened by the 3rd failed claim; no request while open; the probe was the 4th.
  EXPECT_EQ(requests_at_change, (std::vector<std::size_t>{3, 3, 4}));
  EXPECT_EQ(q.reports, (std::vector<std::string>{"aa COMPLETED", "bb COMPLETED"}));
  const auto sleeps = clock.sleeps();
  EXPECT_EQ(std::count(sleeps.begin(), sleeps.end(), Clock::Duration(std::chrono::seconds(10))), 1);
}

TEST(WorkerTest, TheHandlerBreakerStopsClaimingWhileHandlersFail) {
  Queue q;
  for (int i = 0; i < 20; ++i) q.tasks.push_back(std::to_string(10 + i));
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  FakeClock clock;
  auto options = OneSlot();
  options.handler_breaker = {true, std::chrono::seconds(60), 3, 1.0, std::chrono::seconds(30)};
  WorkerHooks hooks;
  std::vector<std::string> changes;
  Worker* self = nullptr;
  hooks.on_breaker = [&](BreakerKind kind, BreakerState from, BreakerState to) {
    changes.push_back(std::string(ToString(kind)) + " " + std::string(ToString(from)) + ">" +
                      std::string(ToString(to)));
    if (changes.size() == 3) self->RequestStop();  // opened again by the failed probe
  };
  std::atomic<int> handled{0};
  Worker worker(options, Over(fake), OutcomeHandler([&handled](TaskContext&) {
                  ++handled;
                  return TaskOutcome{TaskStatus::kFailed, "disk full", false};
                }),
                hooks, clock);
  self = &worker;
  worker.Start();
  worker.Wait();
  EXPECT_EQ(changes,
            (std::vector<std::string>{"handler closed>open", "handler open>half-open", "handler half-open>open"}));
  EXPECT_EQ(handled.load(), 4);  // three failures opened it, one probe failed: 16 tasks left unclaimed
  EXPECT_EQ(q.tasks.size(), 16U);
  EXPECT_EQ(q.reports.size(), 4U);
  const auto sleeps = clock.sleeps();
  EXPECT_GE(std::count(sleeps.begin(), sleeps.end(), Clock::Duration(std::chrono::seconds(30))), 1);
}

TEST(WorkerTest, CancelledTasksDoNotCountAgainstTheHandler) {
  Queue q;
  for (int i = 0; i < 6; ++i) q.tasks.push_back(std::to_string(10 + i));
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  FakeClock clock;
  auto options = OneSlot();
  options.handler_breaker = {true, std::chrono::seconds(60), 3, 1.0, std::chrono::seconds(30)};
  WorkerHooks hooks;
  int changes = 0;
  hooks.on_breaker = [&changes](BreakerKind, BreakerState, BreakerState) { ++changes; };
  hooks.on_queue_empty = [](int, int) { return Next::kStopSlot; };
  Worker worker(options, Over(fake), OutcomeHandler([](TaskContext&) {
                  return TaskOutcome{TaskStatus::kFailed, "worker shutdown", true};
                }),
                hooks, clock);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(changes, 0);
  EXPECT_EQ(q.reports.size(), 6U);  // all reported FAILED, none held back
  EXPECT_EQ(worker.breaker_state(BreakerKind::kHandler), BreakerState::kClosed);
}

TEST(WorkerTest, HeartbeatsCancelATaskWhoseJobIsNoLongerActive) {
  std::string claimed = TaskJson("aa");
  claimed.replace(claimed.find(R"("data")"), 6, R"("claimId":"c-1","data")");
  std::atomic<int> heartbeats{0};
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& r) -> domain::Result<HttpResponse> {
    if (r.path.ends_with("/heartbeat")) {
      EXPECT_EQ(r.path, "/v1/tasks/aa/heartbeat");
      EXPECT_THAT(r.body, ::testing::HasSubstr(R"("claimId":"c-1")"));
      if (++heartbeats <= 2) return JsonReply(200, R"({"leaseExpiresAt":"2030-01-01T00:00:00.000Z"})");
      return JsonReply(409, R"({"message":"the job is ABORTED","code":"JOB_NOT_ACTIVE"})");
    }
    if (IsReport(r)) return JsonReply(200, TaskJson("aa", "FAILED"));
    return JsonReply(404, kNothing);
  });
  fake->Reply(200, claimed);
  auto options = OneSlot();
  options.heartbeat_interval = milliseconds(10);  // real time: the heartbeat thread runs on its own
  WorkerHooks hooks;
  std::mutex mu;
  std::vector<Client::HeartbeatOutcome> outcomes;
  hooks.on_heartbeat = [&](const domain::Task& task, Client::HeartbeatOutcome outcome, const domain::Status&) {
    EXPECT_EQ(task.id, "aa");
    std::lock_guard lock(mu);
    outcomes.push_back(outcome);
  };
  hooks.on_reported = [](int, const domain::Task&, TaskStatus, const domain::Result<domain::Task>&, Clock::Duration) {
    return Next::kStopSlot;
  };
  CancelCause seen = CancelCause::kNone;
  Worker worker(options, Over(fake), OutcomeHandler([&seen](TaskContext& c) {
                  std::mutex m;
                  std::condition_variable_any cv;
                  std::unique_lock lock(m);
                  cv.wait(lock, c.cancelled, [] { return false; });  // until cancelled
                  seen = c.cancel_cause();
                  return TaskOutcome{TaskStatus::kFailed, "cancelled", true};
                }),
                hooks);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(seen, CancelCause::kJobNotActive);
  std::lock_guard lock(mu);
  EXPECT_EQ(outcomes,
            (std::vector<Client::HeartbeatOutcome>{Client::HeartbeatOutcome::kOk, Client::HeartbeatOutcome::kOk,
                                                   Client::HeartbeatOutcome::kJobNotActive}));
}

TEST(WorkerTest, HeartbeatsRacingTasksThatEndNeverReadAFinishedTask) {
  // Many short tasks with a claim token, heartbeats every millisecond on the real clock:
  // a heartbeat must use its own copy of the task id, never the slot's task, which ends
  // (and is freed) at any moment. (A use after free here crashed jobnik-worker.)
  std::mutex mu;
  int next = 0, heartbeats = 0;
  std::set<std::string> bad_ids;
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& r) -> domain::Result<HttpResponse> {
    std::lock_guard lock(mu);
    if (IsClaim(r)) {
      if (next >= 3000) return JsonReply(404, kNothing);
      std::string t = TaskJson("task-" + std::to_string(next++) + std::string(40, 'x'));
      t.insert(t.size() - 1, R"(,"claimId":"c1")");
      return JsonReply(200, t);
    }
    if (r.method == "POST" && r.path.ends_with("/heartbeat")) {
      ++heartbeats;
      if (r.path.find("/v1/tasks/task-") != 0) bad_ids.insert(r.path);
      return JsonReply(200, R"({"leaseExpiresAt":"2024-01-01T00:01:00.000Z"})");
    }
    if (IsReport(r)) return JsonReply(200, TaskJson(IdOf(r.path), "COMPLETED"));
    return JsonReply(404, R"({"message":"no route","code":"NOT_FOUND"})");
  });
  WorkerOptions options;
  options.stage_types = {"t"};
  options.slots = 4;
  options.heartbeat_interval = std::chrono::milliseconds(1);
  WorkerHooks hooks;
  hooks.on_queue_empty = [](int, int) { return Next::kStopSlot; };
  Worker worker(
      options, Over(fake),
      [](TaskContext&) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));  // long enough to be heartbeated
        return TaskStatus::kCompleted;
      },
      hooks);
  worker.Start();
  worker.Wait();
  std::lock_guard lock(mu);
  EXPECT_EQ(next, 3000);
  EXPECT_GT(heartbeats, 20) << "the race was not exercised";
  EXPECT_TRUE(bad_ids.empty()) << *bad_ids.begin();
}

TEST(WorkerTest, NoHeartbeatsWithoutAClaimToken) {
  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(200, TaskJson("aa"));  // a v1 server: no claimId
  fake->Reply(200, TaskJson("aa", "COMPLETED"));
  auto options = OneSlot();
  options.heartbeat_interval = milliseconds(1);
  WorkerHooks hooks;
  hooks.on_reported = [](int, const domain::Task&, TaskStatus, const domain::Result<domain::Task>&, Clock::Duration) {
    return Next::kStopSlot;
  };
  Worker worker(
      options, Over(fake),
      [](TaskContext& c) {
        EXPECT_FALSE(c.cancelled.stop_requested());
        std::this_thread::sleep_for(milliseconds(50));  // the span in which heartbeats would be due
        return TaskStatus::kCompleted;
      },
      hooks);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(fake->request_count(), 2U);  // claim and report only
}

// ---- trace context ----

std::string TraceIdOf(const HttpRequest& r) {
  const auto tp = FindHeader(r.headers, "traceparent");
  const auto parsed = tracing::ParseTraceparent(tp.value_or(""));
  return parsed ? parsed->trace_id : "";
}

TEST(TraceTest, EveryRequestCarriesATraceparentContinuingTheThreadsContext) {
  auto fake = std::make_shared<FakeTransport>([](const HttpRequest&) { return JsonReply(200, "{}"); });
  Client client(fake);
  ASSERT_TRUE(client.Request("GET", "/v1/jobs").ok());
  ASSERT_TRUE(client.Request("GET", "/v1/jobs").ok());
  const std::string outer = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  {
    const TraceScope scope(outer, "vendor=1");
    ASSERT_TRUE(client.Request("GET", "/v1/jobs").ok());
    {
      const TraceScope inner(tracing::TraceContext{"11111111111111111111111111111111", "2222222222222222", "01", {}});
      ASSERT_TRUE(client.Request("GET", "/v1/jobs").ok());
    }
    HttpRequest own;
    own.method = "GET";
    own.path = "/v1/jobs";
    ASSERT_TRUE(client.Send(own).ok());  // the outer scope again
    own.headers.emplace_back("traceparent", "00-33333333333333333333333333333333-4444444444444444-00");
    ASSERT_TRUE(client.Send(own).ok());  // its own is kept
  }
  EXPECT_FALSE(CurrentTrace().has_value());
  const TraceScope bad("not a traceparent");  // ignored
  EXPECT_FALSE(CurrentTrace().has_value());

  const auto r = fake->requests();
  ASSERT_EQ(r.size(), 6U);
  for (const auto& req : r) EXPECT_EQ(TraceIdOf(req).size(), 32U);
  EXPECT_NE(TraceIdOf(r[0]), TraceIdOf(r[1]));  // no context: a new trace each
  EXPECT_EQ(TraceIdOf(r[2]), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_NE(FindHeader(r[2].headers, "traceparent"), outer);  // a child: a span of its own
  EXPECT_EQ(FindHeader(r[2].headers, "tracestate"), "vendor=1");
  EXPECT_EQ(TraceIdOf(r[3]), "11111111111111111111111111111111");
  EXPECT_EQ(TraceIdOf(r[4]), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(FindHeader(r[5].headers, "traceparent"), "00-33333333333333333333333333333333-4444444444444444-00");
}

TEST(TraceTest, TheWorkerReportsInTheTasksTrace) {
  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(200, TaskJson("aa"));  // TaskJson's traceparent: trace 0af76519...
  fake->Reply(200, TaskJson("aa", "COMPLETED"));
  fake->Reply(404, kNothing);
  FakeClock clock;
  WorkerHooks hooks;
  hooks.on_queue_empty = [](int, int) { return Next::kStopSlot; };
  std::string seen_in_handler, traceparent;
  Worker worker(
      OneSlot(), Over(fake),
      [&](TaskContext& c) {
        seen_in_handler = CurrentTrace() ? CurrentTrace()->trace_id : "";
        traceparent = c.traceparent();
        return TaskStatus::kCompleted;
      },
      hooks, clock);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(seen_in_handler, "0af7651916cd43dd8448eb211c80319c");
  // The context hands the task's own trace context to the handler, to pass on.
  EXPECT_EQ(traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  const auto r = fake->requests();
  ASSERT_EQ(r.size(), 3U);
  EXPECT_NE(TraceIdOf(r[0]), "0af7651916cd43dd8448eb211c80319c");  // the claim: before the task
  EXPECT_EQ(TraceIdOf(r[1]), "0af7651916cd43dd8448eb211c80319c");  // the report
}

// ---- typed payloads ----

struct ResizeTask {
  std::string src;
  int width = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ResizeTask, src, width)
struct OtherTask {
  bool flag = false;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OtherTask, flag)
struct TilesJob {
  std::string area;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TilesJob, area)

struct Resize {
  static constexpr std::string_view kType = "resize";
  using Data = nlohmann::json;
  using TaskData = ResizeTask;
};
struct Tiles {
  static constexpr std::string_view kName = "tiles";
  using Data = TilesJob;
};

// A producer or handler of the wrong payload type does not compile.
template <class S, class T>
concept CanAddTasks = requires(Client& c, std::vector<T> v) {
  typed::AddTasks<S>(c, "", v);
};
template <class S, class F>
concept CanHandle = requires(F f) {
  typed::Handler<S>(f);
};
static_assert(CanAddTasks<Resize, ResizeTask>);
static_assert(!CanAddTasks<Resize, OtherTask>);
static_assert(CanHandle<Resize, TaskStatus (*)(TaskContext&, const ResizeTask&)>);
static_assert(!CanHandle<Resize, TaskStatus (*)(TaskContext&, const OtherTask&)>);
static_assert(!typed::StageKind<Tiles> && typed::JobKind<Tiles> && typed::StageKind<Resize>);

TEST(TypedTest, ProducersEncodeTheDeclaredTypes) {
  const auto job = typed::NewJob<Tiles>(TilesJob{"north"}, domain::Priority::kHigh);
  EXPECT_EQ(job.name, "tiles");
  EXPECT_EQ(nlohmann::json::parse(job.data), (nlohmann::json{{"area", "north"}}));
  EXPECT_EQ(job.priority, domain::Priority::kHigh);
  const auto stage = typed::NewStage<Resize>({{"quality", 90}}, {ResizeTask{"a.png", 256}, ResizeTask{"b.png", 64}}, 3);
  EXPECT_EQ(stage.type, "resize");
  EXPECT_EQ(typed::NewStage<Resize>({}).data, "{}");  // untyped and empty: an empty object
  ASSERT_EQ(stage.tasks.size(), 2U);
  EXPECT_EQ(nlohmann::json::parse(stage.tasks[1].data), (nlohmann::json{{"src", "b.png"}, {"width", 64}}));
  EXPECT_EQ(stage.tasks[1].max_attempts, 3);

  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(201, "[" + TaskJson("aa") + "]");
  Client client(fake);
  ASSERT_TRUE(typed::AddTasks<Resize>(client, "st1", {ResizeTask{"c.png", 32}}).ok());
  EXPECT_EQ(nlohmann::json::parse(fake->requests()[0].body),
            nlohmann::json::parse(R"([{"data":{"src":"c.png","width":32},"userMetadata":{},"maxAttempts":1}])"));
}

TEST(TypedTest, ReadingChecksTheKindAndNamesWhatDoesNotConvert) {
  domain::Job job;
  job.id = "j1";
  job.name = "tiles";
  job.data = R"({"area":"south"})";
  auto data = typed::DataOf<Tiles>(job);
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ(data->area, "south");
  job.data = R"({"area":7})";
  auto bad = typed::DataOf<Tiles>(job);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kBadResponse);
  EXPECT_THAT(bad.status().message(), ::testing::StartsWith("job j1 data: "));
  EXPECT_THAT(bad.status().message(), ::testing::HasSubstr("must be string"));
  job.name = "other";
  EXPECT_THAT(typed::DataOf<Tiles>(job).status().message(), ::testing::HasSubstr("is named 'other', not 'tiles'"));
  domain::Stage stage;
  stage.id = "s1";
  stage.type = "crop";
  EXPECT_THAT(typed::DataOf<Resize>(stage).status().message(),
              ::testing::HasSubstr("stage s1 is of type 'crop', not 'resize'"));
}

TEST(TypedTest, AHandlerGetsTheTaskDataAndATaskThatDoesNotConvertIsFailed) {
  auto with_data = [](const std::string& id, const std::string& data) {
    std::string json = TaskJson(id);
    json.replace(json.find(R"("data":{})"), 9, R"("data":)" + data);
    return json;
  };
  auto fake = std::make_shared<FakeTransport>();
  fake->Reply(200, with_data("aa", R"({"src":"a.png","width":256})"));
  fake->Reply(200, TaskJson("aa", "COMPLETED"));
  fake->Reply(200, with_data("bb", R"({"src":"b.png"})"));  // width missing
  fake->Reply(200, TaskJson("bb", "FAILED"));
  fake->Reply(404, kNothing);
  FakeClock clock;
  WorkerHooks hooks;
  hooks.on_queue_empty = [](int, int) { return Next::kStopSlot; };
  std::vector<std::string> reasons;
  hooks.on_handled = [&reasons](int, const domain::Task&, const TaskOutcome& o, Clock::Duration) {
    reasons.push_back(o.reason);
  };
  std::vector<std::string> seen;
  Worker worker(typed::ForStage<Resize>(), Over(fake),
                typed::Handler<Resize>([&seen](TaskContext&, const ResizeTask& t) {
                  seen.push_back(t.src + ":" + std::to_string(t.width));
                  return TaskStatus::kCompleted;
                }),
                hooks, clock);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(seen, (std::vector<std::string>{"a.png:256"}));
  ASSERT_EQ(reasons.size(), 2U);
  EXPECT_EQ(reasons[0], "");
  EXPECT_THAT(reasons[1], ::testing::StartsWith("task bb data: "));
  EXPECT_THAT(reasons[1], ::testing::HasSubstr("width"));
  const auto r = fake->requests();
  ASSERT_EQ(r.size(), 5U);
  EXPECT_THAT(r[0].path, ::testing::HasSubstr("/v1/stages/resize/tasks/dequeue"));
  EXPECT_THAT(r[3].body, ::testing::HasSubstr("FAILED"));
}

// The value of one series in the text exposition, e.g. Sample(text, "x_total{stage_type=\"t\"}").
double Sample(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST(WorkerMetricsTest, CountTasksOutcomesErrorsAndBreakerStates) {
  Queue q;
  q.tasks = {"aa", "bb", "cc"};
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  fake->DropNext(FakeTransport::Drop::kBeforeServer, 1);  // one failed claim
  FakeClock clock;
  auto options = OneSlot();
  options.uniform01 = [] { return 0.0; };
  options.handler_breaker = {true, std::chrono::seconds(60), 2, 0.6, std::chrono::seconds(30)};
  prometheus::Registry registry;
  WorkerMetrics metrics(registry);
  WorkerHooks inner;
  int empties = 0;
  inner.on_empty = [&empties](int, const std::string&, Clock::Duration) { ++empties; };
  inner.on_queue_empty = [](int, int rounds) { return rounds >= 3 ? Next::kStopSlot : Next::kContinue; };
  int n = 0;
  Worker worker(options, Over(fake), OutcomeHandler([&n](TaskContext&) {
                  // COMPLETED, FAILED, FAILED: 2 of 3 failed opens the handler breaker.
                  return TaskOutcome{n++ == 0 ? TaskStatus::kCompleted : TaskStatus::kFailed, "no", false};
                }),
                metrics.Wrap("t", inner), clock);
  worker.Start();
  worker.Wait();
  const std::string text = "\n" + prometheus::TextSerializer().Serialize(registry.Collect());
  const std::string t = R"({stage_type="t"})";
  EXPECT_EQ(Sample(text, "jobnik_worker_tasks_started_total" + t), 3) << text;
  EXPECT_EQ(Sample(text, "jobnik_worker_tasks_completed_total" + t), 1);
  EXPECT_EQ(Sample(text, "jobnik_worker_tasks_failed_total" + t), 2);
  EXPECT_EQ(Sample(text, "jobnik_worker_tasks_timed_out_total" + t), 0);
  EXPECT_EQ(Sample(text, "jobnik_worker_tasks_in_flight" + t), 0);
  EXPECT_EQ(Sample(text, "jobnik_worker_claim_errors_total" + t), 1);
  EXPECT_EQ(Sample(text, "jobnik_worker_report_errors_total" + t), 0);
  EXPECT_EQ(Sample(text, "jobnik_worker_handler_duration_seconds_count" + t), 3);
  EXPECT_EQ(Sample(text, "jobnik_worker_empty_polls" + t), 3);  // the inner hooks ran too
  EXPECT_EQ(empties, 3);
  // Opened after the third task; the probe (after 30 s) found the queue empty and was
  // given back: still half-open.
  EXPECT_EQ(Sample(text, R"(jobnik_worker_breaker_state{breaker="handler",stage_type="t"})"), 1);
  EXPECT_EQ(Sample(text, R"(jobnik_worker_breaker_state{breaker="claim",stage_type="t"})"), 0);
  metrics.CountTimeout("t");
  EXPECT_EQ(Sample("\n" + prometheus::TextSerializer().Serialize(registry.Collect()),
                   "jobnik_worker_tasks_timed_out_total" + t),
            1);
}

// With shared requests, the histogram of tasks per request: every task came back in some
// shared claim and went out in some shared report, and each empty claim counts as 0.
TEST(WorkerMetricsTest, SharedRequestsCountTheirTasks) {
  BatchQueue q;
  for (int i = 0; i < 200; ++i) q.tasks.push_back(std::to_string(1000 + i));
  auto fake = std::make_shared<FakeTransport>([&q](const HttpRequest& r) { return q.Handle(r); });
  FakeClock clock;
  prometheus::Registry registry;
  WorkerMetrics metrics(registry);
  std::atomic<int> shared_claims{0};
  WorkerHooks inner = StopWhenEmpty();
  inner.on_shared_request = [&shared_claims](SharedRequest r, std::size_t) {
    if (r == SharedRequest::kClaim) ++shared_claims;
  };
  Worker worker(
      Combined(8), Over(fake), [](TaskContext&) { return TaskStatus::kCompleted; }, metrics.Wrap("t", inner), clock);
  worker.Start();
  worker.Wait();
  const std::string text = "\n" + prometheus::TextSerializer().Serialize(registry.Collect());
  const std::string claim = R"({request="claim",stage_type="t"})", report = R"({request="report",stage_type="t"})";
  EXPECT_EQ(Sample(text, "jobnik_worker_tasks_per_request_sum" + claim), 200) << text;
  EXPECT_EQ(Sample(text, "jobnik_worker_tasks_per_request_sum" + report), 200);
  EXPECT_EQ(Sample(text, "jobnik_worker_tasks_per_request_count" + claim), q.claim_limits.size());
  EXPECT_EQ(Sample(text, "jobnik_worker_tasks_per_request_count" + report), q.report_sizes.size());
  EXPECT_EQ(shared_claims.load(), static_cast<int>(q.claim_limits.size()));  // the inner hook ran too
  EXPECT_GE(Sample(text, R"(jobnik_worker_tasks_per_request_bucket{request="claim",stage_type="t",le="0"})"), 1);
}

TEST(WorkerOpsTest, ClaimOptionsHeartbeatsAndLongReasons) {
  auto fake = std::make_shared<FakeTransport>();
  Client client(fake);
  fake->Reply(404, kNothing);
  auto none = client.Claim("a b", {30, "host:1"});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(fake->requests()[0].path, "/v1/stages/a%20b/tasks/dequeue?lease_seconds=30&worker_id=host%3A1");

  fake->Reply(200, TaskJson("aa"));
  fake->Reply(409, R"({"message":"claim gone","code":"TASK_CLAIM_MISMATCH"})");
  fake->Reply(409, R"({"message":"paused","code":"JOB_NOT_ACTIVE"})");
  fake->Reply(503, R"({"message":"down","code":"SERVICE_UNAVAILABLE"})");
  EXPECT_EQ(client.Heartbeat("aa", "c-1", 60), Client::HeartbeatOutcome::kOk);
  EXPECT_EQ(fake->requests()[1].path, "/v1/tasks/aa/heartbeat");
  EXPECT_EQ(fake->requests()[1].body, R"({"claimId":"c-1","leaseSeconds":60})");
  EXPECT_EQ(client.Heartbeat("aa", "c-1", 0), Client::HeartbeatOutcome::kClaimLost);
  EXPECT_EQ(client.Heartbeat("aa", "c-1", 0), Client::HeartbeatOutcome::kJobNotActive);
  domain::Status error;
  EXPECT_EQ(client.Heartbeat("aa", "c-1", 0, &error), Client::HeartbeatOutcome::kError);
  EXPECT_EQ(error.code(), ErrorCode::kUnavailable);

  // A reason is cut to 8 KiB, never inside a UTF-8 sequence.
  fake->Reply(200, TaskJson("aa", "FAILED"));
  std::string reason = "x";
  for (int i = 0; i < 5000; ++i) reason += "\xC3\xA9";  // é
  ASSERT_TRUE(client.Report("aa", TaskStatus::kFailed, {"c-1", reason}).ok());
  const auto body = nlohmann::json::parse(fake->requests().back().body);
  const auto sent = body["reason"].get<std::string>();
  EXPECT_EQ(sent.size(), 8191U);  // "x" and 4095 whole "é"
  EXPECT_EQ(sent.substr(0, 3), "x\xC3\xA9");
}

// ---- the handler's context ----

constexpr const char* kStage = "00000000-0000-0000-0000-000000000001";  // TaskJson's stage
constexpr const char* kJob = "00000000-0000-0000-0000-0000000000aa";

std::string StageJson(const std::string& id) {
  domain::Stage s;
  s.id = id;
  s.job_id = kJob;
  s.type = "resize";
  s.data = R"({"quality":90})";
  return domain::ToJson(s);
}

std::string JobJson(const std::string& id, domain::JobStatus status, const std::string& user_metadata) {
  domain::Job j;
  j.id = id;
  j.name = "tiles";
  j.data = R"({"area":"north"})";
  j.user_metadata = user_metadata;
  j.status = status;
  return domain::ToJson(j);
}

// A fake server for the context: the Queue's claims and reports, GETs of any stage (of job
// kJob; "missing" is not found) and any job, counted by path, each taking `latency` (real
// time, so that the slots' fetches overlap), and metadata updates.
struct ContextServer {
  Queue queue;
  std::mutex mu;
  std::map<std::string, int> gets;  // path -> requests
  std::vector<HttpRequest> patches;
  domain::JobStatus job_status = domain::JobStatus::kInProgress;
  std::string job_metadata = "{}";
  milliseconds latency{0};

  domain::Result<HttpResponse> Handle(const HttpRequest& r) {
    const bool stage = r.path.starts_with("/v1/stages/") && !r.path.ends_with("/user-metadata");
    const bool job = r.path.starts_with("/v1/jobs/") && !r.path.ends_with("/user-metadata");
    if (r.method == "GET" && (stage || job)) {
      std::this_thread::sleep_for(latency);
      std::lock_guard lock(mu);
      ++gets[r.path];
      const std::string id = r.path.substr(r.path.rfind('/') + 1);
      if (stage && id == "missing") return JsonReply(404, R"({"message":"no stage","code":"STAGE_NOT_FOUND"})");
      return JsonReply(200, stage ? StageJson(id) : JobJson(id, job_status, job_metadata));
    }
    if (r.method == "PATCH" && r.path.ends_with("/user-metadata")) {
      std::lock_guard lock(mu);
      patches.push_back(r);
      if (r.path.starts_with("/v1/jobs/")) job_metadata = r.body;
      return JsonReply(200, R"({"code":"JOB_MODIFIED_SUCCESSFULLY"})");
    }
    return queue.Handle(r);
  }
  int Gets(const std::string& path) {
    std::lock_guard lock(mu);
    return gets[path];
  }
};

std::shared_ptr<spdlog::logger> LoggerTo(std::ostringstream& out) {
  auto logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_pattern("%l %v");
  logger->set_level(spdlog::level::info);
  return logger;
}

TEST(TaskContextTest, TasksOfOneJobOnSeveralSlotsFetchItsStageAndJobOnce) {
  ContextServer server;
  for (int i = 0; i < 40; ++i) server.queue.tasks.push_back("t" + std::to_string(i));
  server.latency = milliseconds(5);  // the other slots ask while the first fetch is under way
  auto fake = std::make_shared<FakeTransport>([&server](const HttpRequest& r) { return server.Handle(r); });
  WorkerOptions options;
  options.stage_types = {"t"};
  options.slots = 4;
  std::ostringstream log;
  options.logger = LoggerTo(log);
  WorkerHooks hooks;
  hooks.on_queue_empty = [](int, int) { return Next::kStopSlot; };
  std::mutex mu;
  std::set<std::string> seen;
  std::atomic<int> handled{0}, errors{0};
  FakeClock clock;
  Worker worker(
      options, Over(fake),
      [&](TaskContext& c) {
        auto job = c.job();
        auto stage = c.stage();
        if (!job.ok() || !stage.ok()) {
          ++errors;
          return TaskStatus::kFailed;
        }
        c.log().info("done");
        std::lock_guard lock(mu);
        seen.insert(job->id + " " + stage->id + " " + stage->job_id);
        ++handled;
        return TaskStatus::kCompleted;
      },
      hooks, clock);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(handled.load(), 40);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(seen, (std::set<std::string>{std::string(kJob) + " " + kStage + " " + kJob}));
  EXPECT_EQ(server.Gets(std::string("/v1/stages/") + kStage), 1);
  EXPECT_EQ(server.Gets(std::string("/v1/jobs/") + kJob), 1);
  const auto stats = worker.context_cache_stats();
  EXPECT_EQ(stats.fetches, 2U);
  EXPECT_EQ(stats.jobs, 1U);
  EXPECT_EQ(stats.stages, 1U);
  // Every handler's line carries its task, stage and job.
  std::istringstream lines(log.str());
  std::set<std::string> tasks;
  for (std::string line; std::getline(lines, line);) {
    EXPECT_THAT(line, ::testing::MatchesRegex("info task=t[0-9]+ stage=" + std::string(kStage) +
                                              " job=" + std::string(kJob) + " done"));
    tasks.insert(line.substr(0, line.find(' ', 5)));
  }
  EXPECT_EQ(tasks.size(), 40U);
}

TEST(TaskContextTest, ConcurrentCallsShareOneFetchPerEntry) {
  ContextServer server;
  server.latency = milliseconds(2);
  auto fake = std::make_shared<FakeTransport>([&server](const HttpRequest& r) { return server.Handle(r); });
  FakeClock clock;
  ContextCache cache({}, clock);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Client client(fake);  // one per thread, as the slots have
      for (int i = 0; i < 100; ++i) {
        const std::string id = "j" + std::to_string((i + t) % 3);
        auto job = cache.Job(client, id);
        if (!job.ok() || job->id != id) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  for (const char* id : {"j0", "j1", "j2"}) EXPECT_EQ(server.Gets(std::string("/v1/jobs/") + id), 1) << id;
  const auto stats = cache.stats();
  EXPECT_EQ(stats.fetches, 3U);
  EXPECT_EQ(stats.hits, 797U);
}

TEST(TaskContextTest, EntriesExpireAfterTheTtlAndTheLeastRecentlyUsedGoesFirst) {
  ContextServer server;
  auto fake = std::make_shared<FakeTransport>([&server](const HttpRequest& r) { return server.Handle(r); });
  Client client(fake);
  FakeClock clock;
  ContextCache cache({2, std::chrono::seconds(10)}, clock);
  auto get = [&](const std::string& id) {
    auto job = cache.Job(client, id);
    ASSERT_TRUE(job.ok()) << job.status().message();
    EXPECT_EQ(job->id, id);
  };
  get("j1");
  get("j1");
  clock.Advance(std::chrono::seconds(9));
  get("j1");
  EXPECT_EQ(server.Gets("/v1/jobs/j1"), 1);
  clock.Advance(std::chrono::seconds(1));  // 10 s after its fetch: too old
  get("j1");
  EXPECT_EQ(server.Gets("/v1/jobs/j1"), 2);
  // Two entries at most: j3 pushes out j2, the least recently used.
  get("j2");
  get("j1");
  get("j3");
  get("j1");
  EXPECT_EQ(server.Gets("/v1/jobs/j1"), 2);
  get("j2");
  EXPECT_EQ(server.Gets("/v1/jobs/j2"), 2);
  EXPECT_EQ(server.Gets("/v1/jobs/j3"), 1);
  EXPECT_EQ(cache.stats().jobs, 2U);

  // A TTL of 0 caches nothing.
  ContextCache off({256, Clock::Duration::zero()}, clock);
  ASSERT_TRUE(off.Job(client, "j9").ok());
  ASSERT_TRUE(off.Job(client, "j9").ok());
  EXPECT_EQ(server.Gets("/v1/jobs/j9"), 2);
}

TEST(TaskContextTest, MetadataHelpersSendTheObjectAndKeepTheCacheCoherent) {
  ContextServer server;
  auto fake = std::make_shared<FakeTransport>([&server](const HttpRequest& r) { return server.Handle(r); });
  Client client(fake);
  FakeClock clock;
  ContextCache cache({}, clock);
  domain::Task task;
  task.id = "t1";
  task.stage_id = kStage;
  TaskContext c{task, 0, client, {}, "", "", {}, nullptr, &cache};
  ASSERT_TRUE(c.job().ok());
  const std::string job_path = std::string("/v1/jobs/") + kJob;
  const std::string stage_path = std::string("/v1/stages/") + kStage;

  ASSERT_TRUE(c.SetJobMetadata(R"({"b":1, "a":"x"})").ok());
  ASSERT_EQ(server.patches.size(), 1U);
  EXPECT_EQ(server.patches[0].path, job_path + "/user-metadata");
  EXPECT_EQ(server.patches[0].body, R"({"a":"x","b":1})");
  auto job = c.job();
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->user_metadata, R"({"a":"x","b":1})");  // the cached job follows

  ASSERT_TRUE(c.SetStageMetadata(R"({"done":2})").ok());
  EXPECT_EQ(server.patches.at(1).path, stage_path + "/user-metadata");
  EXPECT_EQ(c.stage()->user_metadata, R"({"done":2})");

  ASSERT_TRUE(c.SetTaskMetadata(R"({"out":"a.png"})").ok());
  EXPECT_EQ(server.patches.at(2).path, "/v1/tasks/t1/user-metadata");
  EXPECT_EQ(server.patches.at(2).body, R"({"out":"a.png"})");
  EXPECT_EQ(server.Gets(job_path), 1);  // all from the cache
  EXPECT_EQ(server.Gets(stage_path), 1);

  // Not an object: an error naming userMetadata, and nothing sent.
  const auto array = c.SetJobMetadata("[1,2]");
  EXPECT_EQ(array.code(), ErrorCode::kValidation);
  EXPECT_EQ(array.message(), "userMetadata of the job must be a JSON object, not array");
  const auto broken = c.SetTaskMetadata("{");
  EXPECT_EQ(broken.code(), ErrorCode::kValidation);
  EXPECT_EQ(broken.message(), "userMetadata of the task is not valid JSON");
  EXPECT_EQ(server.patches.size(), 3U);

  // An update whose answer was lost may have been applied: the entry is dropped, and the
  // next job() asks the server.
  fake->DropNext(FakeTransport::Drop::kAfterServer);
  EXPECT_EQ(c.SetJobMetadata(R"({"c":3})").code(), ErrorCode::kUnavailable);
  job = c.job();
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(server.Gets(job_path), 2);
  EXPECT_EQ(job->user_metadata, R"({"c":3})");
}

TEST(TaskContextTest, FetchErrorsComeBackAsStatusAndAreNotCached) {
  ContextServer server;
  auto fake = std::make_shared<FakeTransport>([&server](const HttpRequest& r) { return server.Handle(r); });
  Client client(fake);
  FakeClock clock;
  ContextCache cache({}, clock);
  domain::Task task;
  task.id = "t1";
  task.stage_id = "missing";
  std::ostringstream log;
  TaskContext c{task, 0, client, {}, "", "", {}, nullptr, &cache, LoggerTo(log)};
  EXPECT_EQ(c.stage().status().code(), ErrorCode::kStageNotFound);
  EXPECT_EQ(c.job().status().code(), ErrorCode::kStageNotFound);
  EXPECT_EQ(c.SetJobMetadata("{}").code(), ErrorCode::kStageNotFound);
  EXPECT_EQ(server.Gets("/v1/stages/missing"), 3);  // each call asked again
  EXPECT_TRUE(server.patches.empty());
  fake->DropNext(FakeTransport::Drop::kBeforeServer);
  EXPECT_EQ(c.stage().status().code(), ErrorCode::kUnavailable);
  // Without the job, the log lines carry the task and the stage.
  c.log().warn("no stage {}", 1);
  c.log().debug("not at info");
  EXPECT_EQ(log.str(), "warning task=t1 stage=missing no stage 1\n");
}

TEST(TaskContextTest, AHeartbeatsJobNotActiveDropsTheCachedJob) {
  ContextServer server;
  std::string claimed = TaskJson("aa");
  claimed.replace(claimed.find(R"("data")"), 6, R"("claimId":"c-1","data")");
  std::atomic<bool> heartbeat_sees_abort{false};
  auto fake = std::make_shared<FakeTransport>([&](const HttpRequest& r) -> domain::Result<HttpResponse> {
    if (r.path.ends_with("/heartbeat")) {
      if (heartbeat_sees_abort.load()) {
        return JsonReply(409, R"({"message":"the job is ABORTED","code":"JOB_NOT_ACTIVE"})");
      }
      return JsonReply(200, R"({"leaseExpiresAt":"2030-01-01T00:00:00.000Z"})");
    }
    return server.Handle(r);
  });
  fake->Reply(200, claimed);
  auto options = OneSlot();
  options.heartbeat_interval = milliseconds(10);  // real time: the heartbeat thread runs on its own
  WorkerHooks hooks;
  hooks.on_reported = [](int, const domain::Task&, TaskStatus, const domain::Result<domain::Task>&, Clock::Duration) {
    return Next::kStopSlot;
  };
  std::vector<domain::JobStatus> seen;
  Worker worker(options, Over(fake), OutcomeHandler([&](TaskContext& c) {
                  seen.push_back(c.job()->status);
                  {
                    std::lock_guard lock(server.mu);
                    server.job_status = domain::JobStatus::kAborted;  // someone aborts the job
                  }
                  seen.push_back(c.job()->status);  // still the cached one
                  heartbeat_sees_abort = true;
                  std::mutex m;
                  std::condition_variable_any cv;
                  std::unique_lock lock(m);
                  cv.wait(lock, c.cancelled, [] { return false; });  // until a heartbeat cancels
                  seen.push_back(c.job()->status);                   // fetched again
                  return TaskOutcome{TaskStatus::kFailed, "aborted", true};
                }),
                hooks);
  worker.Start();
  worker.Wait();
  EXPECT_EQ(seen, (std::vector<domain::JobStatus>{domain::JobStatus::kInProgress, domain::JobStatus::kInProgress,
                                                  domain::JobStatus::kAborted}));
  EXPECT_EQ(server.Gets(std::string("/v1/jobs/") + kJob), 2);
}

TEST(TaskContextTest, TypedAccessorsReadTheJobsAndStagesData) {
  ContextServer server;
  auto fake = std::make_shared<FakeTransport>([&server](const HttpRequest& r) { return server.Handle(r); });
  Client client(fake);
  FakeClock clock;
  ContextCache cache({}, clock);
  domain::Task task;
  task.id = "t1";
  task.stage_id = kStage;
  TaskContext c{task, 0, client, {}, "", "", {}, nullptr, &cache};
  auto tiles = typed::JobData<Tiles>(c);
  ASSERT_TRUE(tiles.ok()) << tiles.status().message();
  EXPECT_EQ(tiles->area, "north");
  auto data = typed::StageData<Resize>(c);
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ((*data)["quality"], 90);
  task.stage_id = "missing";
  EXPECT_EQ(typed::JobData<Tiles>(c).status().code(), ErrorCode::kStageNotFound);
}

}  // namespace
}  // namespace jobnik::client
