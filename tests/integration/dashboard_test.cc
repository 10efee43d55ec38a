// GET /v1/queues and the web dashboard's files under /ui/ over real HTTP (in-process
// server, real PostgreSQL).
#include <gtest/gtest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "http/api.h"
#include "metrics.h"
#include "pg_test_env.h"

namespace jobnik::testing {
namespace {

using nlohmann::json;

class DashboardTest : public DbTest {
 protected:
  void Start(bool ui) {
    http::ApiOptions options{64 * 1024, false};
    options.ui = ui;
    api_ = std::make_unique<http::Api>(*store_, metrics_, options);
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
  httplib::Result Get(const std::string& path) { return client_->Get(path.c_str()); }
  json Queues() {
    auto r = Get("/v1/queues");
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    return json::parse(r->body);
  }
  std::string Post(const std::string& path, const std::string& body) {
    auto r = client_->Post(path.c_str(), body, "application/json");
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_LT(r->status, 300) << path << ": " << r->body;
    return r->body;
  }

  Metrics metrics_;
  std::unique_ptr<http::Api> api_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
};

const json* TypeRow(const json& queues, const std::string& type) {
  for (const auto& row : queues["stageTypes"]) {
    if (row["stageType"] == type) return &row;
  }
  return nullptr;
}

TEST_F(DashboardTest, QueuesCountUnfinishedWorkByStageType) {
  Start(true);
  auto empty = Queues();
  EXPECT_EQ(empty["stageTypes"], json::array());
  EXPECT_EQ(empty["jobs"], (json{{"CREATED", 0}, {"PENDING", 0}, {"IN_PROGRESS", 0}, {"PAUSED", 0}}));

  // Job a: 3 tasks of "resize" (one then claimed), job b (paused): 2 of "resize", 1 of "publish".
  const auto a = json::parse(Post("/v1/jobs", R"({"name":"qa","data":{},"stages":[
      {"type":"resize","data":{},"tasks":[{"data":{}},{"data":{}},{"data":{}}]}]})"));
  const auto b = json::parse(Post("/v1/jobs", R"({"name":"qb","data":{},"stages":[
      {"type":"publish","data":{},"tasks":[{"data":{}}]},{"type":"resize","data":{},"tasks":[{"data":{}},{"data":{}}]}]})"));
  Exec("UPDATE task SET creation_time = now() - interval '90 seconds' WHERE stage_id = '" +
       a["stages"][0]["id"].get<std::string>() + "'");
  auto claimed = client_->Patch("/v1/stages/resize/tasks/dequeue", "", "application/json");
  ASSERT_TRUE(claimed);
  ASSERT_EQ(claimed->status, 200) << claimed->body;

  auto q = Queues();
  const auto* resize = TypeRow(q, "resize");
  ASSERT_NE(resize, nullptr) << q.dump();
  // b's second stage is CREATED: its two tasks are pending but not claimable.
  EXPECT_EQ((*resize)["pending"], 4) << q.dump();
  EXPECT_EQ((*resize)["inProgress"], 1);
  EXPECT_EQ((*resize)["retried"], 0);
  // The oldest claimable PENDING task of a is 90 s old.
  ASSERT_TRUE((*resize)["oldestPendingSeconds"].is_number()) << q.dump();
  EXPECT_GE((*resize)["oldestPendingSeconds"].get<double>(), 89.0);
  EXPECT_LT((*resize)["oldestPendingSeconds"].get<double>(), 150.0);
  const auto* publish = TypeRow(q, "publish");
  ASSERT_NE(publish, nullptr) << q.dump();
  EXPECT_EQ((*publish)["pending"], 1);
  EXPECT_GE((*publish)["oldestPendingSeconds"].get<double>(), 0.0);
  EXPECT_LT((*publish)["oldestPendingSeconds"].get<double>(), 60.0);
  EXPECT_EQ(q["jobs"]["PENDING"].get<int>() + q["jobs"]["IN_PROGRESS"].get<int>(), 2) << q.dump();

  // Pausing b: its tasks are no longer claimable, so publish has no oldest pending task.
  auto paused = client_->Put(("/v1/jobs/" + b["id"].get<std::string>() + "/status").c_str(), R"({"status":"PAUSED"})",
                             "application/json");
  ASSERT_TRUE(paused);
  ASSERT_EQ(paused->status, 200) << paused->body;
  q = Queues();
  publish = TypeRow(q, "publish");
  ASSERT_NE(publish, nullptr) << q.dump();
  EXPECT_EQ((*publish)["pending"], 1);
  EXPECT_TRUE((*publish)["oldestPendingSeconds"].is_null()) << q.dump();
  EXPECT_EQ(q["jobs"]["PAUSED"], 1);
}

TEST_F(DashboardTest, QueuesNeverReadFinishedWork) {
  Start(true);
  Post("/v1/jobs", R"({"name":"done","data":{},"stages":[{"type":"old","data":{},"tasks":[{"data":{}}]}]})");
  Exec("UPDATE stage SET status = 'COMPLETED'");
  Exec("UPDATE job SET status = 'COMPLETED'");
  auto q = Queues();
  EXPECT_EQ(q["stageTypes"], json::array()) << q.dump();
  EXPECT_EQ(q["jobs"]["PENDING"], 0);
}

TEST_F(DashboardTest, UiFilesCarrySecurityHeaders) {
  Start(true);
  auto index = Get("/ui/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  const auto csp = index->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_EQ(index->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(index->get_header_value("Referrer-Policy"), "no-referrer");
  EXPECT_NE(index->body.find(R"(<script type="module" src="/ui/app.js">)"), std::string::npos);
  // No inline script or style in the page.
  EXPECT_EQ(index->body.find("<script>"), std::string::npos);
  EXPECT_EQ(index->body.find("<style"), std::string::npos);
  EXPECT_EQ(index->body.find("style=\""), std::string::npos);

  auto js = Get("/ui/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js->get_header_value("X-Content-Type-Options"), "nosniff");
  auto css = Get("/ui/style.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->get_header_value("Content-Type"), "text/css; charset=utf-8");

  // A deep link (a job's page, filtered lists) answers the app; a missing file is a 404.
  auto deep = Get("/ui/jobs/6a13d6fe-76b6-4c83-b62d-1a2d4d3a4a11");
  ASSERT_TRUE(deep);
  EXPECT_EQ(deep->status, 200);
  EXPECT_EQ(deep->body, index->body);
  auto filtered = Get("/ui/jobs?status=FAILED&page=2");
  ASSERT_TRUE(filtered);
  EXPECT_EQ(filtered->status, 200);
  auto missing = Get("/ui/nope.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["code"], "NOT_FOUND") << missing->body;

  auto root = Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 302);
  EXPECT_EQ(root->get_header_value("Location"), "/ui/");
}

TEST_F(DashboardTest, UiOffServesNothingButTheApi) {
  Start(false);
  auto index = Get("/ui/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 404);
  auto root = Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 404);
  EXPECT_EQ(Get("/v1/queues")->status, 200);
}

}  // namespace
}  // namespace jobnik::testing
