// GET /v1/stream (http/streams.h) over real HTTP and PostgreSQL, read with the SDK's
// Client::StreamJob: the first job message, changes made through the API arriving on
// their own, events once each and resumable from an id, the end of a deleted job, the
// limit on open streams, and Stop() ending every stream.
#include <gtest/gtest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>
#include "client/client.h"
#include "domain/codec.h"
#include "http/api.h"
#include "http/streams.h"
#include "metrics.h"
#include "pg_test_env.h"

namespace jobnik::testing {
namespace {

using Message = client::Client::JobStreamMessage;
using domain::ErrorCode;
using domain::JobStatus;
using nlohmann::json;
using namespace std::chrono_literals;

// A stream read on a thread of its own; what it received, waited for with a deadline.
class Reader {
 public:
  Reader(int port, std::string job_id, client::Client::JobStreamOptions options = {})
      : client_(client::ClientOptions{"http://127.0.0.1:" + std::to_string(port)}),
        thread_([this, id = std::move(job_id), options] {
          auto s = client_.StreamJob(id, options, [this](const Message& m) {
            std::lock_guard lock(mu_);
            messages_.push_back(m);
            cv_.notify_all();
            return !stop_;
          });
          std::lock_guard lock(mu_);
          ended_ = s;
          done_ = true;
          cv_.notify_all();
        }) {}
  // The reader ends at the next message or keep-alive.
  ~Reader() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Waits (at most 10 s) until `pred` holds for the messages received.
  bool WaitFor(const std::function<bool(const std::vector<Message>&)>& pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return pred(messages_); });
  }
  // Waits (at most 10 s) for the stream to end; its Status.
  std::optional<domain::Status> WaitEnd() {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, 10s, [&] { return done_; })) return std::nullopt;
    return ended_;
  }
  std::vector<Message> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }

 private:
  client::Client client_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Message> messages_;
  bool stop_ = false;
  bool done_ = false;
  domain::Status ended_;
  std::thread thread_;  // last: starts once the rest exists
};

bool HasJob(const std::vector<Message>& ms, const std::function<bool(const domain::Job&)>& pred) {
  for (const auto& m : ms)
    if (m.kind == Message::Kind::kJob && pred(m.job)) return true;
  return false;
}

std::vector<std::int64_t> EventIds(const std::vector<Message>& ms) {
  std::vector<std::int64_t> ids;
  for (const auto& m : ms)
    if (m.kind == Message::Kind::kEvent) ids.push_back(m.event.id);
  return ids;
}

// Streams that read every `interval` and keep alive every 200 ms (so a Reader stops soon).
http::StreamOptions Options(int max_clients = 256, std::chrono::milliseconds interval = 100ms) {
  return {max_clients, interval, 200ms};
}

class StreamTest : public DbTest {
 protected:
  void Start(http::StreamOptions options = Options()) {
    streams_ = std::make_unique<http::Streams>(options);
    http::ApiOptions api{64 * 1024, false};
    api.streams = streams_.get();
    api_ = std::make_unique<http::Api>(*store_, metrics_, api);
    api_->Register(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    http_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
  }
  void TearDown() override {
    if (streams_) streams_->Stop();
    http_.reset();
    server_.stop();
    if (thread_.joinable()) thread_.join();
    DbTest::TearDown();
  }
  json Send(const char* method, const std::string& path, const std::string& body = "") {
    const std::string m = method;
    httplib::Result r = m == "POST"     ? http_->Post(path.c_str(), body, "application/json")
                        : m == "PUT"    ? http_->Put(path.c_str(), body, "application/json")
                        : m == "PATCH"  ? http_->Patch(path.c_str(), body, "application/json")
                        : m == "DELETE" ? http_->Delete(path.c_str())
                                        : http_->Get(path.c_str());
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_LT(r->status, 300) << method << ' ' << path << ": " << r->body;
    return json::parse(r->body, nullptr, false);
  }
  // A job of one stage of `tasks` tasks of type "st".
  std::string NewJob(int tasks) {
    json stage{{"type", "st"}, {"data", json::object()}, {"tasks", json::array()}};
    for (int i = 0; i < tasks; ++i) stage["tasks"].push_back({{"data", {{"i", i}}}});
    return Send("POST", "/v1/jobs",
                json{{"name", "streamed"}, {"data", json::object()}, {"stages", {stage}}}.dump())["id"];
  }
  void CompleteOne() {
    const auto task = Send("PATCH", "/v1/stages/st/tasks/dequeue");  // v1 dequeue by stage type
    Send("PUT", "/v1/tasks/" + task["id"].get<std::string>() + "/status", R"({"status":"COMPLETED"})");
  }

  Metrics metrics_;
  std::unique_ptr<http::Streams> streams_;
  std::unique_ptr<http::Api> api_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::unique_ptr<httplib::Client> http_;
};

TEST_F(StreamTest, SendsTheJobFirstThenEachChangeMadeThroughTheApi) {
  Start();
  const auto id = NewJob(2);
  Reader reader(port_, id);
  ASSERT_TRUE(reader.WaitFor([](const auto& ms) { return !ms.empty(); }));
  const auto first = reader.messages().front();
  ASSERT_EQ(first.kind, Message::Kind::kJob);
  EXPECT_EQ(first.job.id, id);
  ASSERT_TRUE(first.job.stages.has_value());
  ASSERT_EQ(first.job.stages->size(), 1U);
  EXPECT_EQ(first.job.stages->front().summary.pending, 2);

  CompleteOne();
  EXPECT_TRUE(reader.WaitFor([](const auto& ms) {
    return HasJob(ms, [](const domain::Job& j) { return j.stages && j.stages->front().summary.completed == 1; });
  }));
  CompleteOne();
  EXPECT_TRUE(reader.WaitFor([](const auto& ms) {
    return HasJob(ms, [](const domain::Job& j) { return j.status == JobStatus::kCompleted; });
  }));
  // No job message repeats the one before it: each says something changed.
  const auto ms = reader.messages();
  const domain::Job* last = nullptr;
  for (const auto& m : ms) {
    if (m.kind != Message::Kind::kJob) continue;
    if (last) {
      EXPECT_NE(domain::ToJson(*last), domain::ToJson(m.job));
    }
    last = &m.job;
  }
}

TEST_F(StreamTest, SendsEachEventOnceInOrderAndResumesAfterAnId) {
  Start();
  const auto id = NewJob(1);
  Reader reader(port_, id);
  ASSERT_TRUE(reader.WaitFor([](const auto& ms) { return !ms.empty(); }));
  Send("PUT", "/v1/jobs/" + id + "/status", R"({"status":"PAUSED"})");
  Send("PUT", "/v1/jobs/" + id + "/status", R"({"status":"PENDING"})");
  Send("PATCH", "/v1/jobs/" + id + "/priority", R"({"priority":"HIGH"})");
  // pause, resume, priority: three events of the job (and maybe its stage's) in id order.
  const auto log = store_->JobEventsAfter(id, 0, 100);
  ASSERT_TRUE(log.ok());
  ASSERT_GE(log->size(), 3U);
  std::vector<std::int64_t> all;
  for (const auto& e : *log) all.push_back(e.id);
  ASSERT_TRUE(reader.WaitFor([&](const auto& ms) { return EventIds(ms).size() >= all.size(); }));
  EXPECT_EQ(EventIds(reader.messages()), all);
  EXPECT_TRUE(reader.WaitFor([](const auto& ms) {
    return HasJob(ms, [](const domain::Job& j) { return j.priority == domain::Priority::kHigh; });
  }));

  // A new stream from the first event's id gets the others, and from 0 all of them.
  Reader resumed(port_, id, {all.front()});
  ASSERT_TRUE(resumed.WaitFor([&](const auto& ms) { return EventIds(ms).size() >= all.size() - 1; }));
  EXPECT_EQ(EventIds(resumed.messages()), std::vector<std::int64_t>(all.begin() + 1, all.end()));
  Reader whole(port_, id, {0});
  ASSERT_TRUE(whole.WaitFor([&](const auto& ms) { return EventIds(ms).size() >= all.size(); }));
  EXPECT_EQ(EventIds(whole.messages()), all);
}

TEST_F(StreamTest, AnEventCommittedLateWithASmallerIdIsStillSent) {
  Start();
  const auto id = NewJob(1);
  Reader reader(port_, id);
  ASSERT_TRUE(reader.WaitFor([](const auto& ms) { return !ms.empty(); }));
  // Transaction A takes an event id and holds its commit; B takes a larger id and commits.
  // (Inserted directly: a pause through the API would wait for A's lock on the job row.)
  const std::string insert =
      "INSERT INTO job_event (job_id, time, entity, entity_id, kind, new_value, reason) VALUES ('" + id +
      "', now(), 'job', '" + id + "', 'status', 'PENDING', ";
  pqxx::connection a(url_);
  pqxx::work ta(a);
  ta.exec("SET LOCAL search_path TO " + schema_);
  ta.exec(insert + "'late')");
  Exec(insert + "'early')");
  ASSERT_TRUE(reader.WaitFor([](const auto& ms) { return EventIds(ms).size() >= 1; }));
  ta.commit();
  ASSERT_TRUE(reader.WaitFor([](const auto& ms) { return EventIds(ms).size() >= 2; }));
  const auto ids = EventIds(reader.messages());
  ASSERT_EQ(ids.size(), 2U);
  EXPECT_GT(ids[0], ids[1]);  // the late one, with the smaller id, came second
}

TEST_F(StreamTest, ADeletedJobEndsItsStreamWithJobNotFound) {
  Start();
  const auto id = NewJob(1);
  Reader reader(port_, id);
  ASSERT_TRUE(reader.WaitFor([](const auto& ms) { return !ms.empty(); }));
  Send("PUT", "/v1/jobs/" + id + "/status", R"({"status":"ABORTED"})");
  Send("DELETE", "/v1/jobs/" + id);
  const auto end = reader.WaitEnd();
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(end->code(), ErrorCode::kJobNotFound) << end->message();
}

TEST_F(StreamTest, RefusesBadRequestsBeforeStreaming) {
  Start();
  const auto id = NewJob(1);
  struct Case {
    std::string path;
    httplib::Headers headers;
    int status;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"/v1/stream", {}, 400, "job_id"},
      {"/v1/stream?job_id=nope", {}, 400, "job_id"},
      {"/v1/stream?job_id=" + id + "&after=-1", {}, 400, "after"},
      {"/v1/stream?job_id=" + id + "&after=x", {}, 400, "after"},
      {"/v1/stream?job_id=" + id, {{"Last-Event-ID", "12a"}}, 400, "Last-Event-ID"},
      {"/v1/stream?job_id=" + id + "&follow=1", {}, 400, "follow"},
      {"/v1/stream?job_id=00000000-0000-4000-8000-000000000000", {}, 404, "JOB_NOT_FOUND"},
  };
  for (const auto& c : cases) {
    auto r = http_->Get(c.path.c_str(), c.headers);
    ASSERT_TRUE(r) << c.path;
    EXPECT_EQ(r->status, c.status) << c.path << ": " << r->body;
    EXPECT_NE(r->body.find(c.needle), std::string::npos) << c.path << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << c.path;
  }
  EXPECT_EQ(streams_->open(), 0);
}

TEST_F(StreamTest, MoreThanMaxClientsGet503AndAClosedStreamFreesItsPlace) {
  Start(Options(2));
  const auto id = NewJob(1);
  auto one = std::make_unique<Reader>(port_, id);
  Reader two(port_, id);
  ASSERT_TRUE(one->WaitFor([](const auto& ms) { return !ms.empty(); }));
  ASSERT_TRUE(two.WaitFor([](const auto& ms) { return !ms.empty(); }));
  EXPECT_EQ(streams_->open(), 2);
  auto r = http_->Get(("/v1/stream?job_id=" + id).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  EXPECT_EQ(r->get_header_value("Retry-After"), "5");
  EXPECT_NE(r->body.find("stream.max_clients"), std::string::npos) << r->body;

  one.reset();  // stops at the next keep-alive; the server notices the closed connection at a later one
  for (int i = 0; i < 200 && streams_->open() != 1; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(streams_->open(), 1);
  Reader three(port_, id);
  EXPECT_TRUE(three.WaitFor([](const auto& ms) { return !ms.empty(); }));
}

TEST_F(StreamTest, StopEndsEveryOpenStreamAtOnce) {
  Start(Options(256, 60000ms));  // a long interval: only Stop() can end the wait
  const auto id = NewJob(1);
  Reader a(port_, id), b(port_, id);
  ASSERT_TRUE(a.WaitFor([](const auto& ms) { return !ms.empty(); }));
  ASSERT_TRUE(b.WaitFor([](const auto& ms) { return !ms.empty(); }));
  const auto start = std::chrono::steady_clock::now();
  streams_->Stop();
  for (auto* r : {&a, &b}) {
    const auto end = r->WaitEnd();
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(end->code(), ErrorCode::kUnavailable) << end->message();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  auto r = http_->Get(("/v1/stream?job_id=" + id).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
}

TEST_F(StreamTest, RawStreamIsServerSentEvents) {
  Start();
  const auto id = NewJob(1);
  std::string text;
  std::string type;
  auto r = http_->Get(("/v1/stream?job_id=" + id).c_str(),
                      [&](const httplib::Response& head) {
                        type = head.get_header_value("Content-Type");
                        return true;
                      },
                      [&](const char* data, std::size_t n) {
                        text.append(data, n);
                        return text.find("event: job\n") == std::string::npos;  // until the first job message
                      });
  EXPECT_EQ(type, "text/event-stream");
  EXPECT_EQ(text.rfind("retry: 3000\n\n", 0), 0U) << text;
  EXPECT_NE(text.find("event: job\ndata: {\"id\":\"" + id + "\""), std::string::npos) << text;
}

}  // namespace
}  // namespace jobnik::testing
