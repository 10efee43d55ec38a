// The REST API over real HTTP (in-process server, real PostgreSQL): every operation
// and every error path of SPEC A.5.
#include <gtest/gtest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "client/client.h"
#include "http/api.h"
#include "metrics.h"
#include "pg_test_env.h"

namespace jobnik::testing {
namespace {

using nlohmann::json;

class HttpTest : public DbTest {
 protected:
  void SetUp() override {
    DbTest::SetUp();
    api_ = std::make_unique<http::Api>(*store_, metrics_, http::ApiOptions{64 * 1024, false});
    api_->Register(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    client_ = std::make_unique<client::Client>(client::ClientOptions{"http://127.0.0.1:" + std::to_string(port_)});
  }
  void TearDown() override {
    client_.reset();  // close the keep-alive connection, or stop() waits for its timeout
    server_.stop();
    if (thread_.joinable()) thread_.join();
    DbTest::TearDown();
  }

  struct Reply {
    int status;
    json body;
    std::string raw;
  };
  Reply Call(const std::string& method, const std::string& path, const std::string& body = "") {
    auto r = client_->Request(method, path, body);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) return {0, json(), ""};
    return {r->status, json::parse(r->body, nullptr, false), r->body};
  }
  // Asserts an error reply and returns its message.
  std::string ExpectError(const Reply& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.raw;
    EXPECT_EQ(r.body.value("code", ""), code) << r.raw;
    return r.body.value("message", "");
  }
  std::string CreateJob(const std::string& body = R"({"name":"http-job","data":{"k":"v"}})") {
    auto r = Call("POST", "/v1/jobs", body);
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body.value("id", "");
  }
  std::string AddStage(const std::string& job_id, const std::string& type) {
    auto r = Call("POST", "/v1/jobs/" + job_id + "/stage", R"({"type":")" + type + R"(","data":{}})");
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body.value("id", "");
  }

  Metrics metrics_;
  std::unique_ptr<http::Api> api_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::unique_ptr<client::Client> client_;
};

constexpr const char* kNoSuchId = "6a13d6fe-76b6-4c83-b62d-1a2d4d3a4a11";

TEST_F(HttpTest, CreateJobReturnsTheV1Shape) {
  auto r = Call("POST", "/v1/jobs", R"({"name":"shape","data":{"a":[1,2]},"userMetadata":{"o":"me"}})");
  ASSERT_EQ(r.status, 201) << r.raw;
  EXPECT_EQ(r.body["name"], "shape");
  EXPECT_EQ(r.body["status"], "PENDING");
  EXPECT_EQ(r.body["priority"], "MEDIUM");
  EXPECT_EQ(r.body["percentage"], 0);
  EXPECT_EQ(r.body["data"], json::parse(R"({"a":[1,2]})"));
  EXPECT_EQ(r.body["userMetadata"], json::parse(R"({"o":"me"})"));
  EXPECT_TRUE(r.body["traceparent"].is_string());
  EXPECT_FALSE(r.body.contains("tracestate"));
  EXPECT_FALSE(r.body.contains("stages"));
  EXPECT_EQ(r.body["creationTime"].get<std::string>().size(), 24u);  // 2026-11-29T02:08:43.123Z
  EXPECT_EQ(r.body["creationTime"].get<std::string>().back(), 'Z');
}

TEST_F(HttpTest, JobTraceparentComesFromTheRequestHeader) {
  httplib::Client c("127.0.0.1", port_);
  httplib::Headers h = {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                        {"tracestate", "rojo=00f067aa0ba902b7"}};
  auto r = c.Post("/v1/jobs", h, R"({"name":"traced","data":{}})", "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201);
  auto body = json::parse(r->body);
  const auto tp = body["traceparent"].get<std::string>();
  EXPECT_EQ(tp.substr(0, 36), "00-4bf92f3577b34da6a3ce929d0e0e4736-");  // same trace
  EXPECT_NE(tp.substr(36, 16), "00f067aa0ba902b7");                     // our span
  EXPECT_EQ(body["tracestate"], "rojo=00f067aa0ba902b7");
  ASSERT_TRUE(r->has_header("traceparent"));
  EXPECT_EQ(r->get_header_value("traceparent"), tp);
}

TEST_F(HttpTest, ValidationErrorsNameTheField) {
  ExpectError(Call("POST", "/v1/jobs", R"({"data":{}})"), 400, "VALIDATION_ERROR");
  auto m = ExpectError(Call("POST", "/v1/jobs", R"({"name":"x","data":{}})"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("request/body/name"), std::string::npos) << m;
  m = ExpectError(Call("POST", "/v1/jobs", R"({"name":"ok","data":{},"priority":"SUPER_HIGH"})"), 400,
                  "VALIDATION_ERROR");
  EXPECT_NE(m.find("request/body/priority"), std::string::npos) << m;
  m = ExpectError(Call("POST", "/v1/jobs", R"({"name":"ok","data":{},"colour":"red"})"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("colour"), std::string::npos) << m;
  m = ExpectError(Call("POST", "/v1/jobs", R"({"name":"ok","data":{},"traceparent":"nope"})"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("request/body/traceparent"), std::string::npos) << m;
  m = ExpectError(Call("POST", "/v1/jobs", R"({"name":"ok",)"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("not valid JSON"), std::string::npos) << m;
  m = ExpectError(Call("GET", "/v1/jobs/not-a-uuid"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("request/params/jobId"), std::string::npos) << m;
  m = ExpectError(Call("GET", "/v1/jobs?priority=NOPE"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("request/query/priority"), std::string::npos) << m;
  m = ExpectError(Call("GET", "/v1/jobs?bogus=1"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("bogus"), std::string::npos) << m;
  m = ExpectError(Call("GET", "/v1/jobs?should_return_stages=maybe"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("should_return_stages"), std::string::npos) << m;
  m = ExpectError(Call("GET", "/v1/tasks?from_date=yesterday"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("from_date"), std::string::npos) << m;
  // Nothing was created by any of these.
  EXPECT_EQ(Query1("SELECT count(*) FROM job"), "0");
}

TEST_F(HttpTest, TransportErrorsAreJson) {
  auto r = Call("GET", "/v1/nothing-here");
  ExpectError(r, 404, "NOT_FOUND");
  r = Call("DELETE", "/v1/jobs");
  ExpectError(r, 405, "METHOD_NOT_ALLOWED");
  httplib::Client c("127.0.0.1", port_);
  auto big = c.Post("/v1/jobs", std::string(70 * 1024, ' '), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(json::parse(big->body).value("code", ""), "PAYLOAD_TOO_LARGE");
  auto del = c.Delete("/v1/jobs");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->get_header_value("Allow"), "GET, POST");
}

TEST_F(HttpTest, FullLifecycleThroughTheApi) {
  const auto job = CreateJob();
  const auto stage = AddStage(job, "life");
  auto tasks = Call("POST", "/v1/stages/" + stage + "/tasks", R"([{"data":{"n":1}},{"data":{"n":2},"maxAttempts":2}])");
  ASSERT_EQ(tasks.status, 201) << tasks.raw;
  ASSERT_EQ(tasks.body.size(), 2u);
  EXPECT_EQ(tasks.body[1]["maxAttempts"], 2);

  auto d1 = Call("PATCH", "/v1/stages/life/tasks/dequeue");
  ASSERT_EQ(d1.status, 200) << d1.raw;
  EXPECT_EQ(d1.body["status"], "IN_PROGRESS");
  EXPECT_TRUE(d1.body.contains("startTime"));
  auto done = Call("PUT", "/v1/tasks/" + d1.body["id"].get<std::string>() + "/status", R"({"status":"COMPLETED"})");
  ASSERT_EQ(done.status, 200) << done.raw;
  EXPECT_EQ(done.body["status"], "COMPLETED");
  EXPECT_TRUE(done.body.contains("endTime"));

  auto summary = Call("GET", "/v1/stages/" + stage + "/summary");
  ASSERT_EQ(summary.status, 200);
  EXPECT_EQ(summary.body,
            json::parse(R"({"pending":1,"inProgress":0,"completed":1,"failed":0,"created":0,"retried":0,"total":2})"));

  auto d2 = Call("PATCH", "/v1/stages/life/tasks/dequeue");
  ASSERT_EQ(d2.status, 200);
  const auto t2 = d2.body["id"].get<std::string>();
  auto retry = Call("PUT", "/v1/tasks/" + t2 + "/status", R"({"status":"FAILED"})");
  EXPECT_EQ(retry.body["status"], "RETRIED");
  EXPECT_EQ(retry.body["attempts"], 1);
  auto d3 = Call("PATCH", "/v1/stages/life/tasks/dequeue");
  EXPECT_EQ(d3.body["id"], t2);
  Call("PUT", "/v1/tasks/" + t2 + "/status", R"({"status":"COMPLETED"})");

  auto full = Call("GET", "/v1/jobs/" + job + "?should_return_stages=true");
  ASSERT_EQ(full.status, 200);
  EXPECT_EQ(full.body["status"], "COMPLETED");
  EXPECT_EQ(full.body["percentage"], 100);
  ASSERT_EQ(full.body["stages"].size(), 1u);
  EXPECT_EQ(full.body["stages"][0]["status"], "COMPLETED");
  EXPECT_EQ(full.body["stages"][0]["summary"]["completed"], 2);

  auto stages = Call("GET", "/v1/jobs/" + job + "/stages?should_return_tasks=true");
  ASSERT_EQ(stages.status, 200);
  EXPECT_EQ(stages.body[0]["tasks"].size(), 2u);
  EXPECT_EQ(Call("GET", "/v1/stages/" + stage + "/tasks").body.size(), 2u);
  EXPECT_EQ(Call("GET", "/v1/stages?job_id=" + job).body.size(), 1u);
  EXPECT_EQ(Call("GET", "/v1/stages/" + stage + "?should_return_tasks=true").body["tasks"].size(), 2u);
  EXPECT_EQ(Call("GET", "/v1/tasks?stage_id=" + stage + "&status=COMPLETED").body.size(), 2u);
  EXPECT_EQ(Call("GET", "/v1/tasks/" + t2).body["attempts"], 1);
  EXPECT_EQ(Call("GET", "/v1/jobs?job_name=http-job").body.size(), 1u);

  auto del = Call("DELETE", "/v1/jobs/" + job);
  EXPECT_EQ(del.status, 200);
  EXPECT_EQ(del.body, json::parse(R"({"code":"JOB_DELETED_SUCCESSFULLY"})"));
  ExpectError(Call("GET", "/v1/jobs/" + job), 404, "JOB_NOT_FOUND");
}

TEST_F(HttpTest, DequeueWithNothingClaimableIs404TaskNotFound) {
  ExpectError(Call("PATCH", "/v1/stages/empty/tasks/dequeue"), 404, "TASK_NOT_FOUND");
  auto m = ExpectError(Call("PATCH", "/v1/stages/" + std::string(51, 'x') + "/tasks/dequeue"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("stageType"), std::string::npos);
}

TEST_F(HttpTest, StatusAndMetadataEndpoints) {
  const auto job = CreateJob();
  const auto stage = AddStage(job, "meta");
  EXPECT_EQ(Call("PATCH", "/v1/jobs/" + job + "/user-metadata", R"({"a":1})").body,
            json::parse(R"({"code":"JOB_MODIFIED_SUCCESSFULLY"})"));
  EXPECT_EQ(Call("GET", "/v1/jobs/" + job).body["userMetadata"], json::parse(R"({"a":1})"));
  EXPECT_EQ(Call("PATCH", "/v1/stages/" + stage + "/user-metadata", R"({"b":2})").body["code"],
            "STAGE_MODIFIED_SUCCESSFULLY");
  ExpectError(Call("PATCH", "/v1/jobs/" + job + "/user-metadata", "[1]"), 400, "VALIDATION_ERROR");

  auto same = Call("PATCH", "/v1/jobs/" + job + "/priority", R"({"priority":"MEDIUM"})");
  EXPECT_EQ(same.status, 204);
  EXPECT_TRUE(same.raw.empty());
  EXPECT_EQ(Call("PATCH", "/v1/jobs/" + job + "/priority", R"({"priority":"HIGH"})").status, 200);

  EXPECT_EQ(Call("PUT", "/v1/jobs/" + job + "/status", R"({"status":"PAUSED"})").status, 200);
  auto m =
      ExpectError(Call("PUT", "/v1/jobs/" + job + "/status", R"({"status":"COMPLETED"})"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("request/body/status"), std::string::npos);
  EXPECT_EQ(Call("PUT", "/v1/jobs/" + job + "/status", R"({"status":"ABORTED"})").status, 200);
  m = ExpectError(Call("PUT", "/v1/jobs/" + job + "/status", R"({"status":"PENDING"})"), 400,
                  "ILLEGAL_JOB_STATUS_TRANSITION");
  EXPECT_EQ(m, "Illegal status transition from ABORTED to PENDING");
  ExpectError(Call("POST", "/v1/jobs/" + job + "/stage", R"({"type":"late","data":{}})"), 400, "JOB_IN_FINITE_STATE");
  ExpectError(Call("POST", "/v1/stages/" + stage + "/tasks", R"([{"data":{}}])"), 400, "STAGE_IN_FINITE_STATE");
  ExpectError(Call("PUT", "/v1/stages/" + stage + "/status", R"({"status":"PENDING"})"), 400,
              "ILLEGAL_STAGE_STATUS_TRANSITION");
}

TEST_F(HttpTest, NotFoundCodesPerEntity) {
  const std::string id = kNoSuchId;
  ExpectError(Call("GET", "/v1/jobs/" + id), 404, "JOB_NOT_FOUND");
  ExpectError(Call("GET", "/v1/jobs/" + id + "/stages"), 404, "JOB_NOT_FOUND");
  ExpectError(Call("POST", "/v1/jobs/" + id + "/stage", R"({"type":"t","data":{}})"), 404, "JOB_NOT_FOUND");
  ExpectError(Call("DELETE", "/v1/jobs/" + id), 404, "JOB_NOT_FOUND");
  ExpectError(Call("GET", "/v1/stages/" + id), 404, "STAGE_NOT_FOUND");
  ExpectError(Call("GET", "/v1/stages/" + id + "/summary"), 404, "STAGE_NOT_FOUND");
  ExpectError(Call("GET", "/v1/stages/" + id + "/tasks"), 404, "STAGE_NOT_FOUND");
  ExpectError(Call("POST", "/v1/stages/" + id + "/tasks", "[]"), 404, "STAGE_NOT_FOUND");
  ExpectError(Call("GET", "/v1/tasks/" + id), 404, "TASK_NOT_FOUND");
  ExpectError(Call("PUT", "/v1/tasks/" + id + "/status", R"({"status":"COMPLETED"})"), 404, "TASK_NOT_FOUND");
  ExpectError(Call("PATCH", "/v1/tasks/" + id + "/user-metadata", "{}"), 404, "TASK_NOT_FOUND");
}

TEST_F(HttpTest, TaskReportErrors) {
  const auto job = CreateJob();
  const auto stage = AddStage(job, "errs");
  auto tasks = Call("POST", "/v1/stages/" + stage + "/tasks", R"([{"data":{}}])");
  const auto task = tasks.body[0]["id"].get<std::string>();
  auto m = ExpectError(Call("PUT", "/v1/tasks/" + task + "/status", R"({"status":"COMPLETED"})"), 400,
                       "ILLEGAL_TASK_STATUS_TRANSITION");
  EXPECT_EQ(m, "Illegal status transition from PENDING to COMPLETED");
  ExpectError(Call("PUT", "/v1/tasks/" + task + "/status", R"({"status":"RETRIED"})"), 400, "VALIDATION_ERROR");
  Call("PATCH", "/v1/stages/errs/tasks/dequeue");
  ExpectError(Call("POST", "/v1/stages/" + stage + "/tasks", R"([{"data":{}}])"), 400,
              "NOT_ALLOWED_TO_ADD_TASKS_TO_IN_PROGRESS_STAGE");
  ExpectError(Call("DELETE", "/v1/jobs/" + job), 400, "JOB_NOT_IN_FINITE_STATE");
}

TEST_F(HttpTest, AtomicSubmissionExtension) {
  auto r = Call("POST", "/v1/jobs", R"({"name":"tree","data":{},"stages":[
      {"type":"t-a","data":{},"tasks":[{"data":{"x":1}},{"data":{"x":2}}]},
      {"type":"t-b","data":{},"startAsWaiting":true}]})");
  ASSERT_EQ(r.status, 201) << r.raw;
  ASSERT_EQ(r.body["stages"].size(), 2u);
  EXPECT_EQ(r.body["stages"][0]["summary"]["total"], 2);
  EXPECT_EQ(r.body["stages"][0]["status"], "PENDING");
  EXPECT_EQ(r.body["stages"][1]["status"], "WAITING");
  auto bad =
      Call("POST", "/v1/jobs",
           R"({"name":"tree","data":{},"stages":[{"type":"t","data":{},"tasks":[{"data":{},"maxAttempts":0}]}]})");
  auto m = ExpectError(bad, 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("request/body/stages/0/tasks/0/maxAttempts"), std::string::npos) << m;
  EXPECT_EQ(Query1("SELECT count(*) FROM job"), "1");
}

TEST_F(HttpTest, BatchClaimAndBatchReportRoutes) {
  const std::string job = CreateJob();
  const std::string stage = AddStage(job, "batch-http");
  ASSERT_EQ(Call("POST", "/v1/stages/" + stage + "/tasks", R"([{"data":{}},{"data":{}},{"data":{}}])").status, 201);
  // Validation errors name the field.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"limit":1})", "request/body must have required property 'stageTypes'"},
      {R"({"stageTypes":["a"]})", "request/body must have required property 'limit'"},
      {R"({"stageTypes":[],"limit":1})", "request/body/stageTypes"},
      {R"({"stageTypes":["a","a"],"limit":1})", "request/body/stageTypes/1"},
      {R"({"stageTypes":[""],"limit":1})", "request/body/stageTypes/0"},
      {R"({"stageTypes":["a"],"limit":1001})", "request/body/limit"},
      {R"({"stageTypes":["a"],"limit":"5"})", "request/body/limit"},
      {R"({"stageTypes":["a"],"limit":1,"waitSeconds":61})", "request/body/waitSeconds"},
      {R"({"stageTypes":["a"],"limit":1,"leaseSeconds":1})", "request/body/leaseSeconds"},
      {R"({"stageTypes":["a"],"limit":1,"workerId":""})", "request/body/workerId"},
      {R"([])", "request/body"},
  };
  for (const auto& [body, field] : bad) {
    EXPECT_NE(ExpectError(Call("POST", "/v1/tasks/claim", body), 400, "VALIDATION_ERROR").find(field),
              std::string::npos)
        << body;
  }
  // A claim within bounds: the tasks as the dequeue answers them; waitSeconds is accepted.
  auto r = Call("POST", "/v1/tasks/claim",
                R"({"stageTypes":["batch-http","other"],"limit":2,"waitSeconds":0,"leaseSeconds":30,"workerId":"w"})");
  ASSERT_EQ(r.status, 200) << r.raw;
  ASSERT_EQ(r.body["tasks"].size(), 2U);
  EXPECT_EQ(r.body["tasks"][0]["status"], "IN_PROGRESS");
  EXPECT_TRUE(r.body["tasks"][0]["claimId"].is_string());
  EXPECT_TRUE(r.body["tasks"][0]["leaseExpiresAt"].is_string());
  const std::string t0 = r.body["tasks"][0]["id"], c0 = r.body["tasks"][0]["claimId"];
  const std::string t1 = r.body["tasks"][1]["id"];
  // Batch report: one result per item, in order; bad items fail alone.
  EXPECT_NE(ExpectError(Call("POST", "/v1/tasks/status", R"({"updates":[]})"), 400, "VALIDATION_ERROR")
                .find("request/body/updates"),
            std::string::npos);
  EXPECT_NE(ExpectError(Call("POST", "/v1/tasks/status", R"({})"), 400, "VALIDATION_ERROR").find("updates"),
            std::string::npos);
  const std::string body = R"({"updates":[{"id":")" + t0 + R"(","status":"COMPLETED","claimId":")" + c0 +
                           R"("},{"id":"nope","status":"COMPLETED"},{"id":")" + t1 +
                           R"(","status":"PENDING"},{"id":")" + std::string(kNoSuchId) +
                           R"(","status":"FAILED"},{"id":")" + t1 +
                           R"(","status":"FAILED","claimId":"11111111-1111-4111-8111-111111111111"},7]})";
  r = Call("POST", "/v1/tasks/status", body);
  ASSERT_EQ(r.status, 200) << r.raw;
  const json& results = r.body["results"];
  ASSERT_EQ(results.size(), 6U) << r.raw;
  EXPECT_EQ(results[0], json::parse(R"({"id":")" + t0 + R"(","ok":true})"));
  EXPECT_EQ(results[1]["id"], "nope");
  EXPECT_EQ(results[1]["code"], "VALIDATION_ERROR");
  EXPECT_NE(results[1]["message"].get<std::string>().find("request/body/updates/1/id"), std::string::npos);
  EXPECT_EQ(results[2]["code"], "VALIDATION_ERROR");
  EXPECT_NE(results[2]["message"].get<std::string>().find("request/body/updates/2/status"), std::string::npos);
  EXPECT_EQ(results[3]["code"], "TASK_NOT_FOUND");
  EXPECT_EQ(results[4]["code"], "TASK_CLAIM_MISMATCH");
  EXPECT_TRUE(results[5]["id"].is_null());
  EXPECT_EQ(results[5]["code"], "VALIDATION_ERROR");
  EXPECT_EQ(Call("GET", "/v1/tasks/" + t0).body["status"], "COMPLETED");
  EXPECT_EQ(Call("GET", "/v1/tasks/" + t1).body["status"], "IN_PROGRESS");

  // The SDK against the same server.
  auto claimed = client_->ClaimTasks({{"batch-http"}, 10});
  ASSERT_TRUE(claimed.ok()) << claimed.status().message();
  ASSERT_EQ(claimed->size(), 1U);
  std::vector<client::Client::TaskUpdate> updates = {
      {t1, domain::TaskStatus::kCompleted, {}},
      {(*claimed)[0].task.id, domain::TaskStatus::kFailed, {(*claimed)[0].claim_id, "broken", {}}},
      {t0, domain::TaskStatus::kCompleted, {}}};
  auto statuses = client_->ReportTasks(updates);
  ASSERT_TRUE(statuses.ok()) << statuses.status().message();
  ASSERT_EQ(statuses->size(), 3U);
  EXPECT_TRUE((*statuses)[0].ok()) << (*statuses)[0].message();
  EXPECT_TRUE((*statuses)[1].ok()) << (*statuses)[1].message();
  EXPECT_EQ((*statuses)[2].code(), domain::ErrorCode::kIllegalTaskStatusTransition);
  EXPECT_EQ(Call("GET", "/v1/jobs/" + job).body["status"], "FAILED");
}

TEST_F(HttpTest, DatabaseErrorsDoNotLeakInternals) {
  Exec("DROP TABLE task CASCADE");
  auto r = Call("GET", "/v1/tasks");
  auto m = ExpectError(r, 500, "DATABASE_RELATED_ERROR");
  EXPECT_EQ(r.raw.find("relation"), std::string::npos) << r.raw;
  EXPECT_EQ(r.raw.find("SELECT"), std::string::npos) << r.raw;
}

TEST_F(HttpTest, OperationalEndpoints) {
  auto live = Call("GET", "/liveness");
  EXPECT_EQ(live.status, 200);
  EXPECT_EQ(Call("GET", "/readiness").status, 200);
  api_->SetDraining(true);
  EXPECT_EQ(Call("GET", "/readiness").status, 503);
  api_->SetDraining(false);
  CreateJob();
  auto metrics = client_->Request("GET", "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("jobnik_jobs_created_total 1"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find(R"(jobnik_http_requests_total{method="POST",route="/v1/jobs",status="201"} 1)"),
            std::string::npos);
  auto spec = client_->Request("GET", "/openapi.yaml");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->status, 200);
  EXPECT_NE(spec->body.find("openapi:"), std::string::npos);
}

}  // namespace
}  // namespace jobnik::testing

namespace jobnik::testing {
namespace {

TEST_F(HttpTest, EveryRouteRejectsUnknownQueryParameters) {
  const auto job = CreateJob();
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/jobs/" + job + "?x=1"},
           {"GET", "/v1/jobs/" + job + "/stages?should_return_stages=true"},
           {"PATCH", "/v1/stages/t/tasks/dequeue?limit=5"},
           {"GET", "/v1/tasks/" + std::string(kNoSuchId) + "?verbose=1"},
           {"POST", "/v1/jobs?dry_run=true"}}) {
    auto m =
        ExpectError(Call(method, path, method == "POST" ? R"({"name":"nn","data":{}})" : ""), 400, "VALIDATION_ERROR");
    EXPECT_NE(m.find("Unknown query parameter"), std::string::npos) << method << " " << path << ": " << m;
  }
  EXPECT_EQ(Query1("SELECT count(*) FROM job"), "1");
}

TEST_F(HttpTest, TransportErrorsCarryATraceparentToo) {
  httplib::Client c("127.0.0.1", port_);
  auto not_found = c.Get("/nowhere");
  ASSERT_TRUE(not_found);
  EXPECT_EQ(not_found->status, 404);
  EXPECT_TRUE(not_found->has_header("traceparent"));
  auto not_allowed = c.Options("/v1/jobs");
  ASSERT_TRUE(not_allowed);
  EXPECT_EQ(not_allowed->status, 405);
  EXPECT_TRUE(not_allowed->has_header("traceparent"));
}

}  // namespace
}  // namespace jobnik::testing

namespace jobnik::testing {
namespace {

TEST_F(HttpTest, TextPostgresCannotStoreIsA400NotA500) {
  auto m = ExpectError(Call("PATCH", "/v1/stages/bad%00type/tasks/dequeue"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("stageType"), std::string::npos) << m;
  m = ExpectError(Call("PATCH", "/v1/stages/%FF/tasks/dequeue"), 400, "VALIDATION_ERROR");
  m = ExpectError(Call("GET", "/v1/jobs?job_name=ab%00cd"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("job_name"), std::string::npos) << m;
  m = ExpectError(Call("POST", "/v1/jobs", R"({"name":"nul","data":{"x":"\u0000"}})"), 400, "VALIDATION_ERROR");
  EXPECT_NE(m.find("request/body/data"), std::string::npos) << m;
  const auto job = CreateJob();
  m = ExpectError(Call("PATCH", "/v1/jobs/" + job + "/user-metadata", R"({"x":"\u0000"})"), 400, "VALIDATION_ERROR");
  EXPECT_EQ(Query1("SELECT count(*) FROM job"), "1");
}

}  // namespace
}  // namespace jobnik::testing
