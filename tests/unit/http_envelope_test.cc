// Unit tests of the HTTP layer's seams, without a database: Status -> HTTP
// (http/errors.h), query parameters (http/query.h), cursors, paging and list replies
// (http/lists.h), and the request envelope (http/envelope.h) around made-up routes on a
// real cpp-httplib server over loopback TCP.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http/envelope.h"
#include "http/errors.h"
#include "http/lists.h"
#include "http/query.h"
#include "metrics.h"

namespace jobnik::http {
namespace {

using domain::ErrorCode;
using domain::Status;
using nlohmann::json;

// ---- Status -> HTTP ----

TEST(HttpStatusOfTest, MapsEachCodeFamily) {
  EXPECT_EQ(HttpStatusOf(Status::Ok()), 200);
  EXPECT_EQ(HttpStatusOf(domain::ValidationError("x")), 400);
  EXPECT_EQ(HttpStatusOf({ErrorCode::kIllegalTaskStatusTransition, "x"}), 400);
  EXPECT_EQ(HttpStatusOf({ErrorCode::kNotAllowedToAddTasksToInProgressStage, "x"}), 400);
  EXPECT_EQ(HttpStatusOf(domain::JobNotFound("j")), 404);
  EXPECT_EQ(HttpStatusOf(domain::StageNotFound("s")), 404);
  EXPECT_EQ(HttpStatusOf(domain::TaskNotFound("t")), 404);
  EXPECT_EQ(HttpStatusOf({ErrorCode::kRouteNotFound, "x"}), 404);
  EXPECT_EQ(HttpStatusOf({ErrorCode::kMethodNotAllowed, "x"}), 405);
  EXPECT_EQ(HttpStatusOf({ErrorCode::kTaskStatusUpdateFailed, "x"}), 409);
  EXPECT_EQ(HttpStatusOf({ErrorCode::kTaskClaimMismatch, "x"}), 409);
  EXPECT_EQ(HttpStatusOf({ErrorCode::kJobNotActive, "x"}), 409);
  EXPECT_EQ(HttpStatusOf({ErrorCode::kIdempotencyKeyInUse, "x"}), 409);
  EXPECT_EQ(HttpStatusOf({ErrorCode::kIdempotencyKeyReused, "x"}), 422);
  EXPECT_EQ(HttpStatusOf({ErrorCode::kPayloadTooLarge, "x"}), 413);
  EXPECT_EQ(HttpStatusOf(domain::Unavailable("x")), 503);
  EXPECT_EQ(HttpStatusOf(domain::BadResponse("x")), 502);
  EXPECT_EQ(HttpStatusOf({ErrorCode::kDatabase, "x"}), 500);
  EXPECT_EQ(HttpStatusOf({ErrorCode::kUnknown, "x"}), 500);
}

// ---- query parameters ----

TEST(UrlQueryTest, ReadsOnlyTheTargetsQueryString) {
  httplib::Request req;
  req.target = "/v1/jobs?a=1&b=x%20y";
  req.params.emplace("from_body", "1");  // what httplib merges in from a form body
  const httplib::Params q = UrlQuery(req);
  ASSERT_EQ(q.size(), 2U);
  EXPECT_EQ(q.find("a")->second, "1");
  EXPECT_EQ(q.find("b")->second, "x y");
}

TEST(CheckQueryNamesTest, NamesTheUnknownParameter) {
  const httplib::Params q = {{"limit", "1"}, {"colour", "red"}};
  EXPECT_TRUE(CheckQueryNames(q, {"limit", "colour"}).ok());
  const Status s = CheckQueryNames(q, {"limit"});
  EXPECT_EQ(s.code(), ErrorCode::kValidation);
  EXPECT_EQ(s.message(), "Unknown query parameter 'colour'");
}

TEST(QueryTest, ReadsTypedValues) {
  const httplib::Params params = {{"n", "42"}, {"b", "true"}, {"s", "abc"}, {"p", "HIGH"}, {"d", "2024-01-02"}};
  Query q(params);
  EXPECT_EQ(q.Int("n", 1, 100), 42);
  EXPECT_TRUE(q.Bool("b"));
  EXPECT_FALSE(q.Bool("absent"));
  EXPECT_EQ(q.String("s", 2, 5), "abc");
  EXPECT_EQ(q.Enum("p", domain::ParsePriority, domain::kAllPriorities), domain::Priority::kHigh);
  EXPECT_TRUE(q.Time("d", domain::DateBound::kStartOfDay).has_value());
  EXPECT_FALSE(q.Int("absent", 1, 2).has_value());
  EXPECT_TRUE(q.status().ok()) << q.status().message();
}

TEST(QueryTest, RecordsTheFirstErrorNamingItsParameter) {
  const httplib::Params params = {{"n", "7x"}, {"m", "0"}};
  Query q(params);
  EXPECT_FALSE(q.Int("n", 1, 100).has_value());
  EXPECT_FALSE(q.Int("m", 1, 100).has_value());
  EXPECT_EQ(q.status().code(), ErrorCode::kValidation);
  EXPECT_EQ(q.status().message(), "request/query/n must be an integer from 1 to 100");
}

TEST(QueryTest, RejectsRepeatedParametersAndBadValues) {
  {
    const httplib::Params params = {{"n", "1"}, {"n", "2"}};
    Query q(params);
    (void)q.Int("n", 1, 100);
    EXPECT_EQ(q.status().message(), "request/query/n must be given once");
  }
  {
    const httplib::Params params = {{"s", "a"}};
    Query q(params);
    (void)q.String("s", 2, 5);
    EXPECT_EQ(q.status().message(), "request/query/s must NOT have fewer than 2 characters");
  }
  {
    const httplib::Params params = {{"p", "URGENT"}};
    Query q(params);
    EXPECT_FALSE(q.Enum("p", domain::ParsePriority, domain::kAllPriorities).has_value());
    EXPECT_NE(q.status().message().find("request/query/p must be equal to one of the allowed values: "),
              std::string::npos);
  }
  {
    const httplib::Params params = {{"id", "not-a-uuid"}};
    Query q(params);
    (void)q.Uuid("id");
    EXPECT_EQ(q.status().code(), ErrorCode::kValidation);
    EXPECT_NE(q.status().message().find("request/query/id"), std::string::npos);
  }
}

// ---- cursors and paging ----

TEST(CursorTest, RoundTripsEachKind) {
  store::ListKey job{1'700'000'000'000'000, "0b5a3c1e-7d1f-4e7a-9a3b-6c2d1e0f4a5b", 0};
  auto j = DecodeCursor(ListKind::kJobs, EncodeCursor(ListKind::kJobs, job));
  ASSERT_TRUE(j);
  EXPECT_EQ(j->time_or_seq, job.time_or_seq);
  EXPECT_EQ(j->id, job.id);

  store::ListKey stage{-5, "0b5a3c1e-7d1f-4e7a-9a3b-6c2d1e0f4a5b", 3};
  auto s = DecodeCursor(ListKind::kStages, EncodeCursor(ListKind::kStages, stage));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->time_or_seq, -5);
  EXPECT_EQ(s->order, 3);

  auto t = DecodeCursor(ListKind::kTasks, EncodeCursor(ListKind::kTasks, {12345, "", 0}));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->time_or_seq, 12345);
}

TEST(CursorTest, RejectsAnotherListsCursorAndGarbage) {
  const std::string job_cursor = EncodeCursor(ListKind::kJobs, {1, "0b5a3c1e-7d1f-4e7a-9a3b-6c2d1e0f4a5b", 0});
  EXPECT_FALSE(DecodeCursor(ListKind::kTasks, job_cursor));
  EXPECT_FALSE(DecodeCursor(ListKind::kStages, job_cursor));
  EXPECT_FALSE(DecodeCursor(ListKind::kTasks, "!!"));
  EXPECT_FALSE(DecodeCursor(ListKind::kTasks, ""));
  EXPECT_FALSE(DecodeCursor(ListKind::kTasks, std::string(201, 'A')));
  EXPECT_FALSE(DecodeCursor(ListKind::kTasks, EncodeCursor(ListKind::kTasks, {-1, "", 0})));
}

TEST(PagingTest, ReadsEitherWayOfPaging) {
  {
    const httplib::Params params;
    Query q(params);
    EXPECT_FALSE(ReadPaging(q, ListKind::kJobs).paged);
  }
  {
    const httplib::Params params = {{"page", "3"}, {"page_size", "10"}};
    Query q(params);
    const Paging p = ReadPaging(q, ListKind::kJobs);
    EXPECT_TRUE(q.status().ok());
    EXPECT_TRUE(p.paged);
    EXPECT_EQ(p.size, 10);
    EXPECT_EQ(p.range.offset, 20);
  }
  {
    const httplib::Params params = {{"cursor", EncodeCursor(ListKind::kTasks, {9, "", 0})}};
    Query q(params);
    const Paging p = ReadPaging(q, ListKind::kTasks);
    EXPECT_TRUE(q.status().ok());
    EXPECT_EQ(p.size, 100);  // the default page size
    ASSERT_TRUE(p.range.after);
    EXPECT_EQ(p.range.after->time_or_seq, 9);
  }
}

TEST(PagingTest, RejectsMixedOrForeignPaging) {
  {
    const httplib::Params params = {{"limit", "5"}, {"page", "2"}};
    Query q(params);
    (void)ReadPaging(q, ListKind::kJobs);
    EXPECT_NE(q.status().message().find("cannot be combined"), std::string::npos);
  }
  {
    const httplib::Params params = {{"cursor", EncodeCursor(ListKind::kTasks, {9, "", 0})}};
    Query q(params);
    (void)ReadPaging(q, ListKind::kJobs);
    EXPECT_NE(q.status().message().find("request/query/cursor is not a cursor of this list"), std::string::npos);
  }
  {
    const httplib::Params params = {{"limit", "1001"}};
    Query q(params);
    (void)ReadPaging(q, ListKind::kJobs);
    EXPECT_EQ(q.status().message(), "request/query/limit must be an integer from 1 to 1000");
  }
}

// ---- the envelope, on a real server ----

class EnvelopeTest : public testing::Test {
 protected:
  void SetUp() override {
    std::vector<Route> routes;
    const RouteAdder add{routes};
    add("GET", "/things", "/things", {"colour"}, [](Call&) -> Reply { return CodeReply("OK"); });
    add("POST", "/things", "/things", {}, [](Call&) -> Reply { return {201, "{}", {}}; });
    add("GET", "/boom", "/boom", {}, [](Call&) -> Reply { throw std::runtime_error("boom"); });
    add("GET", "/gone", "/gone", {}, [](Call&) -> Reply { return ErrorReply(domain::JobNotFound("j1")); });
    // A list of `rows_` tasks, seq 1..rows_, read a page at a time.
    add("GET", "/tasks", "/tasks", WithPaging({}), [this](Call& c) -> Reply {
      Query q(c.query);
      const Paging paging = ReadPaging(q, ListKind::kTasks);
      if (!q.status().ok()) return ErrorReply(q.status());
      return ListReply<domain::Task>(c, paging, ListKind::kTasks,
                                     [this](const store::ListRange& r) { return Fetch(r); });
    });
    InstallRoutes(server_, routes, metrics_, nullptr, false);
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

  domain::Result<store::ListPage<domain::Task>> Fetch(const store::ListRange& r) {
    if (++fetches_ > fail_after_) return domain::Unavailable("database gone");
    store::ListPage<domain::Task> page;
    std::int64_t seq = r.after ? r.after->time_or_seq + 1 : 1 + r.offset;
    for (; seq <= rows_ && page.items.size() < static_cast<std::size_t>(r.limit); ++seq) {
      domain::Task t;
      t.id = std::to_string(seq);
      page.items.push_back(t);
      page.keys.push_back({seq, "", 0});
    }
    return page;
  }

  httplib::Client Client() { return httplib::Client("127.0.0.1", port_); }

  Metrics metrics_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::int64_t rows_ = 0;
  std::atomic<int> fetches_{0};
  int fail_after_ = 1'000'000;
};

TEST_F(EnvelopeTest, AnswersWithTraceparentRequestIdAndMetrics) {
  auto cli = Client();
  auto res = cli.Get("/things?colour=red", httplib::Headers{{"X-Request-Id", "req-1"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["code"], "OK");
  EXPECT_EQ(res->get_header_value("X-Request-Id"), "req-1");
  EXPECT_EQ(res->get_header_value("traceparent").size(), 55U);
  EXPECT_NE(metrics_.Expose().find("route=\"/things\""), std::string::npos);

  // An unusable request id is replaced by the span id.
  res = cli.Get("/things", httplib::Headers{{"X-Request-Id", "has space"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->get_header_value("X-Request-Id").size(), 16U);

  // The caller's trace continues: the response's traceparent shares its trace id.
  const std::string parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  res = cli.Post("/things", httplib::Headers{{"traceparent", parent}}, "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(res->get_header_value("traceparent").substr(0, 35), parent.substr(0, 35));
}

TEST_F(EnvelopeTest, ErrorsAreJsonWithTheirStatus) {
  auto cli = Client();
  auto res = cli.Get("/things?size=big");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(json::parse(res->body)["message"], "Unknown query parameter 'size'");

  res = cli.Get("/boom");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(json::parse(res->body)["code"], "UNKNOWN_ERROR");

  res = cli.Get("/gone");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(json::parse(res->body)["code"], "JOB_NOT_FOUND");

  res = cli.Get("/nowhere");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(json::parse(res->body)["code"], "NOT_FOUND");
}

TEST_F(EnvelopeTest, OtherMethodsOnAKnownPathAre405WithAllow) {
  auto cli = Client();
  auto res = cli.Delete("/things");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "GET, POST");
  EXPECT_EQ(json::parse(res->body)["code"], "METHOD_NOT_ALLOWED");
  res = cli.Options("/boom");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "GET");
}

TEST_F(EnvelopeTest, PagedListsLinkTheirNextPage) {
  rows_ = 3;
  auto cli = Client();
  auto res = cli.Get("/tasks?limit=2");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body).size(), 2U);
  const std::string next = res->get_header_value("X-Next-Cursor");
  ASSERT_FALSE(next.empty());
  EXPECT_NE(res->get_header_value("Link").find("rel=\"next\""), std::string::npos);

  res = cli.Get("/tasks?limit=2&cursor=" + next);
  ASSERT_TRUE(res);
  const json rest = json::parse(res->body);
  ASSERT_EQ(rest.size(), 1U);
  EXPECT_EQ(rest[0]["id"], "3");
  EXPECT_FALSE(res->has_header("X-Next-Cursor"));
}

TEST_F(EnvelopeTest, WholeListsAreStreamedInBatches) {
  rows_ = 2500;  // three batches of 1000
  auto cli = Client();
  auto res = cli.Get("/tasks");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Transfer-Encoding"), "chunked");
  const json all = json::parse(res->body);
  ASSERT_EQ(all.size(), 2500U);
  for (std::size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i]["id"], std::to_string(i + 1));
  EXPECT_EQ(fetches_.load(), 3);
}

TEST_F(EnvelopeTest, AStreamedListCutShortIsNoValidResponse) {
  rows_ = 2500;
  fail_after_ = 1;  // the second batch fails, after the first byte was sent
  auto cli = Client();
  auto res = cli.Get("/tasks");
  EXPECT_FALSE(res && res->status == 200 && json::accept(res->body));
}

TEST_F(EnvelopeTest, AListFailingAtOnceIsAJsonError) {
  rows_ = 10;
  fail_after_ = 0;
  auto cli = Client();
  auto res = cli.Get("/tasks");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(json::parse(res->body)["code"], "SERVICE_UNAVAILABLE");
}

}  // namespace
}  // namespace jobnik::http
