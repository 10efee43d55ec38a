// Bearer tokens and roles (http/auth.h, domain/access.h) over real HTTP on a real
// PostgreSQL: every route with every role, 401 and 403, revocation and expiry taking
// effect in a running server, the auto mode, and the caller in the job events.
#include <gtest/gtest.h>

#include <httplib.h>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "client/client.h"
#include "http/api.h"
#include "http/auth.h"
#include "metrics.h"
#include "pg_test_env.h"
#include "store/pg/tokens.h"

namespace jobnik::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kNoSuchId = "6a13d6fe-76b6-4c83-b62d-1a2d4d3a4a11";

class AuthTest : public DbTest {
 protected:
  void SetUp() override {
    DbTest::SetUp();
    tokens_ = std::make_unique<store::pg::PgTokens>(*pool_);
  }
  void TearDown() override {
    clients_.clear();
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
    if (auth_) auth_->Stop();
    DbTest::TearDown();
  }

  void Serve(http::AuthMode mode, bool metrics_need_token = false) {
    auth_ = std::make_unique<http::Authenticator>(
        *tokens_, http::AuthOptions{mode, metrics_need_token, url_, schema_, std::chrono::milliseconds(60000)},
        &metrics_);
    ASSERT_TRUE(auth_->Start().ok());
    http::ApiOptions options{64 * 1024, false};
    options.auth = auth_.get();
    options.streams = &streams_;
    api_ = std::make_unique<http::Api>(*store_, metrics_, options);
    api_->Register(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }

  // A new token of `role` named `name`, as `jobnikd token create` makes it.
  std::string Token(const std::string& name, domain::Role role,
                    std::optional<domain::Timestamp> expires = std::nullopt) {
    const std::string token = http::NewToken();
    auto created = tokens_->Create(name, role, http::TokenHash(token), expires);
    EXPECT_TRUE(created.ok()) << Describe(created.status());
    return token;
  }

  struct Reply {
    int status = 0;
    json body;
    std::string raw;
  };
  Reply Call(const std::string& token, const std::string& method, const std::string& path,
             const std::string& body = "") {
    auto& c = clients_[token];
    if (!c) {
      client::ClientOptions o{"http://127.0.0.1:" + std::to_string(port_)};
      o.bearer_token = token;
      c = std::make_unique<client::Client>(o);
    }
    auto r = c->Request(method, path, body);
    EXPECT_TRUE(r.ok()) << Describe(r.status());
    if (!r.ok()) return {};
    return {r->status, json::parse(r->body, nullptr, false), r->body};
  }

  // Calls until the answer's status is `status` or `within` passes; returns the last.
  Reply CallUntil(int status, std::chrono::milliseconds within, const std::string& token, const std::string& method,
                  const std::string& path) {
    const auto deadline = Clock::now() + within;
    Reply r = Call(token, method, path);
    while (r.status != status && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      r = Call(token, method, path);
    }
    return r;
  }

  std::unique_ptr<store::pg::PgTokens> tokens_;
  Metrics metrics_;
  std::unique_ptr<http::Authenticator> auth_;
  http::Streams streams_{http::StreamOptions{}};
  std::unique_ptr<http::Api> api_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::map<std::string, std::unique_ptr<client::Client>> clients_;
};

// Who may use each route: "open" needs no token; else the roles (a = admin, p = producer,
// w = worker, r = reader). Written out here, independently of domain/access.cc, and
// checked to cover every route the API installs.
const std::map<std::pair<std::string, std::string>, std::string>& Expected() {
  static const std::map<std::pair<std::string, std::string>, std::string> kExpected = {
      {{"GET", "/liveness"}, "open"},
      {{"GET", "/readiness"}, "open"},
      {{"GET", "/openapi.yaml"}, "open"},
      {{"GET", "/metrics"}, "open"},
      {{"GET", "/"}, "open"},
      {{"GET", "/ui"}, "open"},
      {{"GET", "/ui/{path}"}, "open"},
      {{"GET", "/v1/jobs"}, "apwr"},
      {{"POST", "/v1/jobs"}, "ap"},
      {{"GET", "/v1/jobs/{jobId}"}, "apwr"},
      {{"DELETE", "/v1/jobs/{jobId}"}, "a"},
      {{"PATCH", "/v1/jobs/{jobId}/user-metadata"}, "apw"},
      {{"PATCH", "/v1/jobs/{jobId}/priority"}, "ap"},
      {{"PUT", "/v1/jobs/{jobId}/status"}, "ap"},
      {{"POST", "/v1/jobs/{jobId}/retry"}, "ap"},
      {{"GET", "/v1/jobs/{jobId}/stages"}, "apwr"},
      {{"GET", "/v1/jobs/{jobId}/events"}, "apwr"},
      {{"POST", "/v1/jobs/{jobId}/stage"}, "ap"},
      {{"GET", "/v1/stage-types"}, "apwr"},
      {{"PUT", "/v1/stage-types/{stageType}/limits"}, "a"},
      {{"GET", "/v1/stage-types/{stageType}/limits"}, "apwr"},
      {{"DELETE", "/v1/stage-types/{stageType}/limits"}, "a"},
      {{"GET", "/v1/stages"}, "apwr"},
      {{"GET", "/v1/stages/{stageId}"}, "apwr"},
      {{"GET", "/v1/stages/{stageId}/summary"}, "apwr"},
      {{"PATCH", "/v1/stages/{stageId}/user-metadata"}, "apw"},
      {{"PUT", "/v1/stages/{stageId}/status"}, "ap"},
      {{"GET", "/v1/stages/{stageId}/tasks"}, "apwr"},
      {{"POST", "/v1/stages/{stageId}/tasks"}, "ap"},
      {{"PATCH", "/v1/stages/{stageType}/tasks/dequeue"}, "aw"},
      {{"GET", "/v1/tasks"}, "apwr"},
      {{"GET", "/v1/tasks/{taskId}"}, "apwr"},
      {{"PATCH", "/v1/tasks/{taskId}/user-metadata"}, "apw"},
      {{"PUT", "/v1/tasks/{taskId}/status"}, "aw"},
      {{"POST", "/v1/tasks/claim"}, "aw"},
      {{"POST", "/v1/tasks/status"}, "aw"},
      {{"POST", "/v1/tasks/{taskId}/retry"}, "ap"},
      {{"POST", "/v1/tasks/{taskId}/heartbeat"}, "aw"},
      {{"GET", "/v1/queues"}, "apwr"},
      {{"GET", "/v1/stream"}, "apwr"},
  };
  return kExpected;
}

// A concrete path for a route template.
std::string PathOf(std::string tmpl) {
  for (const auto& [from, to] : std::map<std::string, std::string>{{"{jobId}", kNoSuchId},
                                                                   {"{stageId}", kNoSuchId},
                                                                   {"{taskId}", kNoSuchId},
                                                                   {"{stageType}", "auth-type"},
                                                                   {"{path}", "app.js"}}) {
    if (auto at = tmpl.find(from); at != std::string::npos) tmpl.replace(at, from.size(), to);
  }
  return tmpl;
}

TEST_F(AuthTest, EveryRouteAllowsItsRolesAndRefusesTheOthers) {
  Serve(http::AuthMode::kRequired);
  const std::map<char, std::string> tokens = {{'a', Token("the-admin", domain::Role::kAdmin)},
                                              {'p', Token("the-producer", domain::Role::kProducer)},
                                              {'w', Token("the-worker", domain::Role::kWorker)},
                                              {'r', Token("the-reader", domain::Role::kReader)}};
  const auto routes = api_->Routes();
  std::set<std::pair<std::string, std::string>> installed(routes.begin(), routes.end());
  for (const auto& route : installed) EXPECT_TRUE(Expected().count(route)) << route.first << " " << route.second;
  for (const auto& [route, who] : Expected()) {
    EXPECT_TRUE(installed.count(route)) << "not installed: " << route.first << " " << route.second;
    const auto& [method, tmpl] = route;
    const std::string path = PathOf(tmpl);
    const std::string body = method == "GET" || method == "DELETE" ? "" : "{}";
    const std::string what = method + " " + tmpl;
    // Without a token
    auto anonymous = Call("", method, path, body);
    if (who == "open") {
      EXPECT_NE(anonymous.status, 401) << what << ": " << anonymous.raw;
      EXPECT_NE(anonymous.status, 403) << what << ": " << anonymous.raw;
    } else {
      EXPECT_EQ(anonymous.status, 401) << what << ": " << anonymous.raw;
      EXPECT_EQ(anonymous.body.value("code", ""), "UNAUTHENTICATED") << what;
    }
    for (const auto& [role, token] : tokens) {
      auto r = Call(token, method, path, body);
      const bool allowed = who == "open" || who.find(role) != std::string::npos;
      if (allowed) {
        EXPECT_NE(r.status, 401) << what << " as " << role << ": " << r.raw;
        EXPECT_NE(r.status, 403) << what << " as " << role << ": " << r.raw;
      } else {
        EXPECT_EQ(r.status, 403) << what << " as " << role << ": " << r.raw;
        EXPECT_EQ(r.body.value("code", ""), "FORBIDDEN") << what << " as " << role;
      }
    }
  }
}

TEST_F(AuthTest, RefusalsSayWhyAndTheBadTokenIsNeverAccepted) {
  Serve(http::AuthMode::kRequired);
  const std::string reader = Token("ro", domain::Role::kReader);
  auto none = Call("", "GET", "/v1/jobs");
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.body.value("message", "").find("needs a bearer token"), std::string::npos) << none.raw;
  auto wrong = Call("jnk_" + std::string(64, '0'), "GET", "/v1/jobs");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_NE(wrong.body.value("message", "").find("not valid"), std::string::npos) << wrong.raw;
  auto forbidden = Call(reader, "POST", "/v1/jobs", R"({"name":"nope","data":{}})");
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(forbidden.body.value("message", ""),
            "Forbidden: token 'ro' has role reader; POST /v1/jobs needs producer or admin");
  // Nothing was created by the refused request.
  EXPECT_EQ(Query1("SELECT count(*) FROM job"), "0");
  EXPECT_EQ(metrics_.auth_unauthenticated.Value(), 2);
  EXPECT_EQ(metrics_.auth_forbidden.Value(), 1);
}

TEST_F(AuthTest, ARevokedTokenIsRefusedWithoutARestart) {
  Serve(http::AuthMode::kRequired);
  const std::string token = Token("rotating", domain::Role::kProducer);
  EXPECT_EQ(Call(token, "GET", "/v1/jobs").status, 200);
  // Revoked by another process (as `jobnikd token revoke` is), through its own pool.
  store::pg::Pool other({url_, schema_, 1});
  store::pg::PgTokens other_tokens(other);
  auto revoked = other_tokens.Revoke("rotating");
  ASSERT_TRUE(revoked.ok() && *revoked);
  auto r = CallUntil(401, std::chrono::seconds(5), token, "GET", "/v1/jobs");
  EXPECT_EQ(r.status, 401) << r.raw;
  EXPECT_EQ(auth_->ActiveTokens(), 0u);
}

TEST_F(AuthTest, ANewTokenWorksAtOnce) {
  Serve(http::AuthMode::kRequired);
  Token("first", domain::Role::kReader);
  // Made by another process just now: known before its notification could be waited for.
  store::pg::Pool other({url_, schema_, 1});
  store::pg::PgTokens other_tokens(other);
  const std::string token = http::NewToken();
  ASSERT_TRUE(other_tokens.Create("second", domain::Role::kReader, http::TokenHash(token), std::nullopt).ok());
  EXPECT_EQ(Call(token, "GET", "/v1/jobs").status, 200);
}

TEST_F(AuthTest, AnExpiredTokenIsRefusedAtItsExpiry) {
  Serve(http::AuthMode::kRequired);
  const auto expires = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()) +
                       std::chrono::seconds(2);
  const std::string token = Token("short-lived", domain::Role::kReader, expires);
  EXPECT_EQ(Call(token, "GET", "/v1/jobs").status, 200);
  auto r = CallUntil(401, std::chrono::seconds(10), token, "GET", "/v1/jobs");
  ASSERT_EQ(r.status, 401) << r.raw;
  EXPECT_GE(std::chrono::system_clock::now(), expires);
  EXPECT_NE(r.body.value("message", "").find("expired"), std::string::npos) << r.raw;
}

TEST_F(AuthTest, AutoModeIsOpenUntilATokenExists) {
  Serve(http::AuthMode::kAuto);
  EXPECT_FALSE(auth_->Enforced());
  EXPECT_EQ(Call("", "POST", "/v1/jobs", R"({"name":"open-job","data":{}})").status, 201);
  const std::string admin = Token("boss", domain::Role::kAdmin);
  auto r = CallUntil(401, std::chrono::seconds(5), "", "GET", "/v1/jobs");
  EXPECT_EQ(r.status, 401) << r.raw;
  EXPECT_TRUE(auth_->Enforced());
  EXPECT_EQ(Call(admin, "GET", "/v1/jobs").status, 200);
}

TEST_F(AuthTest, OffRefusesNothingButStillNamesAValidCaller) {
  // Made before the server starts: with auth off an unknown token is not looked up again,
  // so a token made later names its caller once its notification has arrived.
  const std::string reader = Token("named", domain::Role::kReader);
  Serve(http::AuthMode::kOff);
  auto job = Call("", "POST", "/v1/jobs", R"({"name":"anyone","data":{}})");
  ASSERT_EQ(job.status, 201) << job.raw;
  const std::string id = job.body.value("id", "");
  // A reader's token does not limit anything when auth is off, but names the caller.
  EXPECT_EQ(Call(reader, "PUT", "/v1/jobs/" + id + "/status", R"({"status":"PAUSED"})").status, 200);
  auto events = Call(reader, "GET", "/v1/jobs/" + id + "/events");
  ASSERT_EQ(events.status, 200) << events.raw;
  ASSERT_FALSE(events.body.empty());
  EXPECT_EQ(events.body[0].value("actor", ""), "named");
}

TEST_F(AuthTest, JobEventsNameTheCallerOfEachChange) {
  Serve(http::AuthMode::kRequired);
  const std::string producer = Token("nightly-cron", domain::Role::kProducer);
  const std::string admin = Token("ops", domain::Role::kAdmin);
  auto job = Call(producer, "POST", "/v1/jobs", R"({"name":"audited","data":{}})");
  ASSERT_EQ(job.status, 201) << job.raw;
  const std::string id = job.body.value("id", "");
  ASSERT_EQ(Call(producer, "PUT", "/v1/jobs/" + id + "/status", R"({"status":"PAUSED"})").status, 200);
  ASSERT_EQ(Call(admin, "PATCH", "/v1/jobs/" + id + "/priority", R"({"priority":"HIGH"})").status, 200);
  auto events = Call(admin, "GET", "/v1/jobs/" + id + "/events");
  ASSERT_EQ(events.status, 200) << events.raw;
  ASSERT_EQ(events.body.size(), 2u) << events.raw;
  EXPECT_EQ(events.body[0].value("kind", ""), "priority");
  EXPECT_EQ(events.body[0].value("actor", ""), "ops");
  EXPECT_EQ(events.body[1].value("kind", ""), "status");
  EXPECT_EQ(events.body[1].value("actor", ""), "nightly-cron");
}

TEST_F(AuthTest, MetricsNeedATokenOnlyWhenConfigured) {
  Serve(http::AuthMode::kRequired, /*metrics_need_token=*/true);
  const std::string reader = Token("scraper", domain::Role::kReader);
  EXPECT_EQ(Call("", "GET", "/metrics").status, 401);
  EXPECT_EQ(Call(reader, "GET", "/metrics").status, 200);
  EXPECT_EQ(Call("", "GET", "/liveness").status, 200);
}

TEST_F(AuthTest, TokensAreListedRevokedAndTheirNamesReusedAfterRevocation) {
  Token("svc", domain::Role::kWorker);
  auto again = tokens_->Create("svc", domain::Role::kWorker, http::TokenHash(http::NewToken()), std::nullopt);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), domain::ErrorCode::kValidation);
  auto revoked = tokens_->Revoke("svc");
  ASSERT_TRUE(revoked.ok() && *revoked);
  auto twice = tokens_->Revoke("svc");
  ASSERT_TRUE(twice.ok());
  EXPECT_FALSE(*twice);
  Token("svc", domain::Role::kAdmin);
  auto active = tokens_->List(false);
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ(active->front().role, domain::Role::kAdmin);
  auto all = tokens_->List(true);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_TRUE(all->front().revoked_at.has_value());
  // Only the hash is stored: no column holds the secret.
  EXPECT_EQ(Query1("SELECT count(*) FROM api_token WHERE hash !~ '^[0-9a-f]{64}$'"), "0");
}

}  // namespace
}  // namespace jobnik::testing
