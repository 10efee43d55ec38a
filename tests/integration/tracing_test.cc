// Tracing: a small OTLP/HTTP receiver collects what jobnikd exports; checks span
// names, parent/child links, attributes, the OTLP JSON encoding, and that a full
// queue drops (and counts) spans instead of blocking.
#include <gtest/gtest.h>

#include <httplib.h>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "client/client.h"
#include "common/tracer.h"
#include "http/api.h"
#include "metrics.h"
#include "pg_test_env.h"

namespace jobnik::testing {
namespace {

using nlohmann::json;

// Receives POST /v1/traces and keeps every span.
class OtlpReceiver {
 public:
  OtlpReceiver() {
    server_.Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      auto body = json::parse(req.body);
      resources_.push_back(body["resourceSpans"][0]["resource"]);
      for (const auto& span : body["resourceSpans"][0]["scopeSpans"][0]["spans"]) spans_.push_back(span);
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~OtlpReceiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<json> spans() {
    std::lock_guard lock(mu_);
    return spans_;
  }
  std::vector<json> resources() {
    std::lock_guard lock(mu_);
    return resources_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<json> spans_, resources_;
};

std::string Attr(const json& span, const std::string& key) {
  for (const auto& a : span["attributes"]) {
    if (a["key"] == key)
      return a["value"].contains("stringValue") ? a["value"]["stringValue"].get<std::string>()
                                                : a["value"]["intValue"].get<std::string>();
  }
  return "";
}

class TracingTest : public DbTest {
 protected:
  void Serve(tracing::Tracer* tracer) {
    api_ = std::make_unique<http::Api>(*store_, metrics_, http::ApiOptions{1 << 20, false}, tracer);
    api_->Register(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  void TearDown() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
    DbTest::TearDown();
  }
  httplib::Result Post(const std::string& path, const std::string& body, const httplib::Headers& headers = {}) {
    httplib::Client c("127.0.0.1", port_);
    return c.Post(path.c_str(), headers, body, "application/json");
  }

  Metrics metrics_;
  std::unique_ptr<http::Api> api_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(TracingTest, RequestSpansHaveDatabaseChildrenAndEntityAttributes) {
  OtlpReceiver receiver;
  tracing::Tracer tracer({receiver.url(), "jobnikd-test", 1024, 512, std::chrono::milliseconds(50)});
  Serve(&tracer);
  const std::string incoming_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string incoming_span = "00f067aa0ba902b7";
  auto r =
      Post("/v1/jobs", R"({"name":"traced","data":{},"stages":[{"type":"spanned","data":{},"tasks":[{"data":{}}]}]})",
           {{"traceparent", "00-" + incoming_trace + "-" + incoming_span + "-01"}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201);
  const auto job_id = json::parse(r->body)["id"].get<std::string>();
  httplib::Client c("127.0.0.1", port_);
  auto d = c.Patch("/v1/stages/spanned/tasks/dequeue");
  ASSERT_TRUE(d);
  ASSERT_EQ(d->status, 200);
  const auto task_id = json::parse(d->body)["id"].get<std::string>();
  tracer.Flush();

  const auto spans = receiver.spans();
  const json* create = nullptr;
  const json* dequeue = nullptr;
  for (const auto& s : spans) {
    if (s["name"] == "POST /v1/jobs") create = &s;
    if (s["name"] == "PATCH /v1/stages/{stageType}/tasks/dequeue") dequeue = &s;
  }
  ASSERT_NE(create, nullptr) << json(spans).dump(2);
  ASSERT_NE(dequeue, nullptr);
  // The server span continues the caller's trace, as a child of the caller's span.
  EXPECT_EQ((*create)["traceId"], incoming_trace);
  EXPECT_EQ((*create)["parentSpanId"], incoming_span);
  EXPECT_EQ((*create)["kind"], 2);
  EXPECT_EQ(Attr(*create, "http.route"), "/v1/jobs");
  EXPECT_EQ(Attr(*create, "http.response.status_code"), "201");
  EXPECT_EQ(Attr(*create, "jobnik.job.id"), job_id);
  // Without a traceparent a new trace starts; the dequeue span names its entities.
  EXPECT_FALSE(dequeue->contains("parentSpanId"));
  EXPECT_EQ(Attr(*dequeue, "jobnik.stage.type"), "spanned");
  EXPECT_EQ(Attr(*dequeue, "jobnik.task.id"), task_id);
  EXPECT_EQ(Attr(*dequeue, "jobnik.job.id"), job_id);
  // Each request has its database transaction as a child span.
  int db_children = 0;
  for (const auto& s : spans) {
    if (s.value("parentSpanId", "") == (*create)["spanId"]) {
      EXPECT_EQ(s["name"], "db.transaction CreateJob");
      EXPECT_EQ(s["kind"], 3);
      EXPECT_EQ(s["traceId"], incoming_trace);
      EXPECT_EQ(Attr(s, "db.system"), "postgresql");
      ++db_children;
    }
  }
  EXPECT_EQ(db_children, 1);
  // OTLP JSON encoding: lower-case hex ids, decimal-string nanoseconds, ordered times.
  for (const auto& s : spans) {
    EXPECT_EQ(s["traceId"].get<std::string>().size(), 32u);
    EXPECT_EQ(s["spanId"].get<std::string>().size(), 16u);
    EXPECT_LE(std::stoull(s["startTimeUnixNano"].get<std::string>()),
              std::stoull(s["endTimeUnixNano"].get<std::string>()));
  }
  ASSERT_FALSE(receiver.resources().empty());
  EXPECT_EQ(receiver.resources()[0]["attributes"][0]["value"]["stringValue"], "jobnikd-test");
  EXPECT_EQ(tracer.Dropped(), 0u);
}

TEST_F(TracingTest, AFullQueueDropsAndCountsInsteadOfBlocking) {
  // An endpoint where nothing listens, a queue of 16 and a slow flush: requests must not wait.
  tracing::Tracer tracer({"http://127.0.0.1:1", "jobnikd-test", 16, 512, std::chrono::hours(1)});
  Serve(&tracer);
  for (int i = 0; i < 40; ++i) {
    auto r = Post("/v1/jobs", R"({"name":"many","data":{}})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201);
  }
  // 40 requests x (server span + db span) = 80 spans into a queue of 16.
  EXPECT_GE(tracer.Dropped(), 80u - 16u);
}

TEST_F(TracingTest, TracingOffRecordsNothing) {
  tracing::Tracer tracer({"", "jobnikd-test"});
  Serve(&tracer);
  auto r = Post("/v1/jobs", R"({"name":"quiet","data":{}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201);
  EXPECT_TRUE(r->has_header("traceparent"));  // responses always carry one
  EXPECT_EQ(tracer.Dropped(), 0u);
  EXPECT_EQ(tracer.Exported(), 0u);
}

}  // namespace
}  // namespace jobnik::testing
