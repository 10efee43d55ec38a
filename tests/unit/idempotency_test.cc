// Idempotency-Key in the request envelope (http/idempotency.h) with the in-memory keys
// (store/memory/memory_idempotency.h): which routes honour it, what is stored and
// replayed, what is forgotten, and the key's validation. No database.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http/envelope.h"
#include "http/idempotency.h"
#include "metrics.h"
#include "store/memory/memory_idempotency.h"

namespace jobnik::http {
namespace {

class IdempotentRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<Route> routes;
    RouteAdder add{routes};
    add("POST", "/things", "/things", {"q"}, [this](Call& c) -> Reply {
      ++calls_;
      if (c.req.body == "fail") return ErrorReply(domain::Unavailable("try later"));
      if (c.req.body == "throw") throw std::runtime_error("boom");
      return {201, R"({"n":)" + std::to_string(calls_.load()) + "}", {}};
    });
    add("GET", "/things", "/things", {}, [this](Call&) -> Reply {
      ++calls_;
      return {200, R"({"n":)" + std::to_string(calls_.load()) + "}", {}};
    });
    add("PATCH", "/things/([^/]+)/dequeue", "/things/{type}/dequeue", {}, [this](Call&) -> Reply {
      ++calls_;
      return {200, R"({"n":)" + std::to_string(calls_.load()) + "}", {}};
    });
    options_.keys = &keys_;
    InstallRoutes(server_, routes, metrics_, nullptr, false, &options_);
    InstallServerHandlers(server_, 1024, nullptr);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }
  void TearDown() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  httplib::Result Post(const std::string& key, const std::string& body, const std::string& path = "/things") {
    httplib::Client c("127.0.0.1", port_);
    return c.Post(path.c_str(), {{"Idempotency-Key", key}}, body, "application/json");
  }

  std::atomic<int> calls_{0};
  store::memory::MemoryIdempotencyKeys keys_;
  IdempotencyOptions options_;
  Metrics metrics_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(IdempotentRoutesTest, ARepeatIsReplayedWithoutRunningTheHandler) {
  auto first = Post("k1", "{}");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 201);
  EXPECT_FALSE(first->has_header("Idempotent-Replayed"));
  auto second = Post("k1", "{}");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 201);
  EXPECT_EQ(second->body, first->body);
  EXPECT_EQ(second->get_header_value("Idempotent-Replayed"), "true");
  EXPECT_EQ(second->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(calls_, 1);
  // Without the header, every request runs.
  httplib::Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.Post("/things", "{}", "application/json"));
  EXPECT_EQ(calls_, 2);
}

TEST_F(IdempotentRoutesTest, AnotherBodyOrQueryUnderTheKeyIsRefused) {
  ASSERT_TRUE(Post("k", "{}"));
  auto body = Post("k", R"({"x":1})");
  ASSERT_TRUE(body);
  EXPECT_EQ(body->status, 422);
  EXPECT_NE(body->body.find("IDEMPOTENCY_KEY_REUSED"), std::string::npos);
  auto query = Post("k", "{}", "/things?q=1");
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status, 422);
  EXPECT_EQ(calls_, 1);
}

TEST_F(IdempotentRoutesTest, ServerErrorsAndExceptionsAreNotStored) {
  auto failed = Post("k", "fail");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 503);
  ASSERT_TRUE(Post("k", "fail"));
  EXPECT_EQ(calls_, 2) << "a 5xx answer is not replayed: the retry runs";
  auto thrown = Post("t", "throw");
  ASSERT_TRUE(thrown);
  EXPECT_EQ(thrown->status, 500);
  ASSERT_TRUE(Post("t", "throw"));
  EXPECT_EQ(calls_, 4);
  EXPECT_EQ(keys_.size(), 0U);
}

TEST_F(IdempotentRoutesTest, OnlyPostsAndDequeuesTakeTheKey) {
  httplib::Client c("127.0.0.1", port_);
  ASSERT_TRUE(c.Get("/things", {{"Idempotency-Key", "g"}}));
  ASSERT_TRUE(c.Get("/things", {{"Idempotency-Key", "g"}}));
  EXPECT_EQ(calls_, 2);
  auto d1 = c.Patch("/things/a/dequeue", {{"Idempotency-Key", "d"}}, "", "application/json");
  auto d2 = c.Patch("/things/a/dequeue", {{"Idempotency-Key", "d"}}, "", "application/json");
  ASSERT_TRUE(d1);
  ASSERT_TRUE(d2);
  EXPECT_EQ(d2->body, d1->body);
  EXPECT_EQ(calls_, 3);
}

TEST_F(IdempotentRoutesTest, ABadKeyIsA400NamingTheHeader) {
  auto bad = Post(std::string(256, 'k'), "{}");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("Idempotency-Key"), std::string::npos);
  EXPECT_EQ(calls_, 0);
  EXPECT_TRUE(CheckIdempotencyKey(std::string(255, 'k')).ok());
  EXPECT_FALSE(CheckIdempotencyKey("").ok());
  EXPECT_FALSE(CheckIdempotencyKey("a\x01").ok());
  EXPECT_TRUE(CheckIdempotencyKey("cron job 2026-11-30T02:00").ok());
}

TEST(RequestFingerprintTest, DiffersByMethodPathQueryAndBody) {
  httplib::Request a;
  a.method = "POST";
  a.path = "/v1/jobs";
  a.body = "{}";
  const httplib::Params none;
  const std::string base = RequestFingerprint(a, none);
  EXPECT_EQ(base.size(), 64U);
  EXPECT_EQ(RequestFingerprint(a, none), base);
  httplib::Request b = a;
  b.body = "{ }";
  EXPECT_NE(RequestFingerprint(b, none), base);
  b = a;
  b.path = "/v1/jobsx";
  EXPECT_NE(RequestFingerprint(b, none), base);
  b = a;
  b.method = "PATCH";
  EXPECT_NE(RequestFingerprint(b, none), base);
  EXPECT_NE(RequestFingerprint(a, {{"wait_seconds", "5"}}), base);
  // Parts cannot run together: path "/a" + body "b{}" is not path "/ab" + body "{}".
  httplib::Request c = a, d = a;
  c.path = "/a";
  c.body = "\nb";
  d.path = "/a\n";
  d.body = "b";
  EXPECT_NE(RequestFingerprint(c, none), RequestFingerprint(d, none));
}

}  // namespace
}  // namespace jobnik::http
