// Long-poll claims (services/claim_waiter.h) on a real PostgreSQL: a waiting claim is woken
// by every change that makes a task claimable (LISTEN/NOTIFY), across two jobnikd stores
// on one database, by the poll fallback without NOTIFY, wakes as many waiters as there are
// new tasks, runs no claim between its attempts, and is released on shutdown; and the
// dequeue's wait_seconds over HTTP.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/model.h"
#include "fixtures.h"
#include "http/api.h"
#include "http/connections.h"
#include "metrics.h"
#include "pg_test_env.h"
#include "services/claim_waiter.h"
#include "services/scheduler.h"

namespace jobnik::testing {
namespace {

using domain::ErrorCode;
using domain::TaskStatus;
using services::ClaimWaiter;
using services::ClaimWaiterOptions;
using services::WakeupMode;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// ASSERT a Status to be ok, printing the error otherwise.
#define ASSERT_STATUS_OK(expr)                          \
  do {                                                  \
    const ::jobnik::domain::Status jobnik_s_ = (expr);  \
    ASSERT_TRUE(jobnik_s_.ok()) << Describe(jobnik_s_); \
  } while (0)

// Polls `done` every 10 ms for up to `timeout`.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

// One waiting claim on its own thread: its outcome, how many claim attempts it made, and
// the task it claimed.
struct WaitingClaim {
  std::atomic<int> attempts{0};  // claim attempts started
  std::atomic<int> tried{0};     // ... and finished
  std::optional<domain::Task> task;
  std::future<ClaimWaiter::Outcome> outcome;
  Clock::time_point started = Clock::now();
  Clock::time_point finished{};
};

class ClaimWaitTest : public DbTest {
 protected:
  void TearDown() override {
    for (auto& w : waiters_) w->Stop();
    DbTest::TearDown();
  }

  ClaimWaiter& NewWaiter(WakeupMode mode, store::pg::PgStore& st, Metrics* metrics = nullptr,
                         std::chrono::milliseconds poll_interval = 1000ms) {
    ClaimWaiterOptions options;
    options.mode = mode;
    options.poll_interval = poll_interval;
    options.database_url = url_;
    options.schema = schema_;
    waiters_.push_back(std::make_unique<ClaimWaiter>(
        options, [&st](const std::string& type, std::int64_t limit) { return st.CountClaimable(type, limit); },
        metrics));
    waiters_.back()->Start();
    if (mode == WakeupMode::kNotify) {
      EXPECT_TRUE(Eventually([&] { return waiters_.back()->Listening(); })) << "the listener did not connect";
    }
    return *waiters_.back();
  }

  // Starts a claim of `type` through `st` that waits up to `wait` on `waiter`.
  std::unique_ptr<WaitingClaim> StartClaim(ClaimWaiter& waiter, store::pg::PgStore& st, const std::string& type,
                                           std::chrono::milliseconds wait = 30s,
                                           services::WaitCancel* cancel = nullptr) {
    auto c = std::make_unique<WaitingClaim>();
    WaitingClaim* raw = c.get();
    c->outcome = std::async(std::launch::async, [&waiter, &st, type, wait, raw, cancel] {
      auto outcome = waiter.ClaimOrWait(
          {type}, Clock::now() + wait,
          [&] {
            ++raw->attempts;
            auto d = st.ClaimTask(type);
            if (d.ok()) raw->task = d->task;
            ++raw->tried;
            return d.ok() || d.status().code() != ErrorCode::kTaskNotFound;
          },
          cancel);
      raw->finished = Clock::now();
      return outcome;
    });
    return c;
  }

  // The claim has made its first attempt and sleeps. A notification of work added before the
  // claim started is delivered asynchronously and may still wake it once for nothing, so
  // this does not insist on exactly one attempt; tests that count attempts add no work first.
  static bool Asleep(const WaitingClaim& c) {
    const int tried = c.tried;
    return tried >= 1 && c.attempts == tried;
  }

  // The claim ends with a task within `within`, woken (a second attempt).
  static void ExpectClaimed(WaitingClaim& c, std::chrono::milliseconds within = 5s) {
    ASSERT_EQ(c.outcome.wait_for(within), std::future_status::ready) << "the waiting claim was not woken";
    EXPECT_EQ(c.outcome.get(), ClaimWaiter::Outcome::kClaimed);
    EXPECT_TRUE(c.task.has_value());
    EXPECT_GE(c.attempts.load(), 2) << "claimed at once: it never waited";
  }

  // A job with a stage of `type` and `n` tasks (the stage waiting when `waiting`).
  // Returns the stage's id.
  std::string AddWork(store::pg::PgStore& st, const std::string& type, int n, bool waiting = false,
                      int max_attempts = 1) {
    auto job = st.CreateJob(AJob("wait"), ATrace());
    EXPECT_TRUE(job.ok()) << Describe(job.status());
    auto stage = st.AddStage(job->id, AStage(type, waiting), ATrace());
    EXPECT_TRUE(stage.ok()) << Describe(stage.status());
    job_id_ = job->id;
    if (n > 0) {
      auto created = st.AddTasks(stage->id, SomeTasks(n, max_attempts), ATrace());
      EXPECT_TRUE(created.ok()) << Describe(created.status());
    }
    return stage->id;
  }

  std::vector<std::unique_ptr<ClaimWaiter>> waiters_;
  std::string job_id_;
};

TEST_F(ClaimWaitTest, ACreatedTaskWakesAWaitingClaim) {
  Metrics metrics;
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_, &metrics);
  auto c = StartClaim(waiter, *store_, "w-create");
  ASSERT_TRUE(Eventually([&] { return waiter.Waiting() == 1 && c->tried == 1; }));
  AddWork(*store_, "w-create", 1);
  ExpectClaimed(*c);
  EXPECT_EQ(c->attempts.load(), 2);
  EXPECT_GE(metrics.claim_notifications.Value(), 1);
  EXPECT_EQ(metrics.claim_wakeups.Value(), 1);
  EXPECT_EQ(waiter.Waiting(), 0u);
}

TEST_F(ClaimWaitTest, AJobSubmissionWithTasksWakesAWaitingClaim) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_);
  auto c = StartClaim(waiter, *store_, "w-submit");
  ASSERT_TRUE(Eventually([&] { return Asleep(*c); }));
  auto job = AJob("submitted");
  auto stage = AStage("w-submit");
  stage.tasks = SomeTasks(1);
  job.stages.emplace();
  job.stages->push_back(stage);
  JOBNIK_ASSERT_OK(store_->CreateJob(job, ATrace()));
  ExpectClaimed(*c);
}

TEST_F(ClaimWaitTest, AnImmediateRetryAndAPromotedRetryWakeAWaitingClaim) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_);
  AddWork(*store_, "w-retry", 1, false, /*max_attempts=*/3);
  auto first = store_->ClaimTask("w-retry");
  ASSERT_TRUE(first.ok()) << Describe(first.status());

  // FAILED with attempts left and no delay: claimable again at once.
  auto c = StartClaim(waiter, *store_, "w-retry");
  ASSERT_TRUE(Eventually([&] { return Asleep(*c); }));
  JOBNIK_ASSERT_OK(store_->ReportTask(first->task.id, TaskStatus::kFailed, {first->task.claim_id, "boom", 0.0}));
  ExpectClaimed(*c);
  ASSERT_TRUE(c->task.has_value());

  // FAILED with a delay: claimable once the retry scheduler promotes it.
  auto d = StartClaim(waiter, *store_, "w-retry");
  ASSERT_TRUE(Eventually([&] { return Asleep(*d); }));
  JOBNIK_ASSERT_OK(store_->ReportTask(c->task->id, TaskStatus::kFailed, {c->task->claim_id, "boom", 3600.0}));
  EXPECT_EQ(d->outcome.wait_for(300ms), std::future_status::timeout) << "woken before the retry was due";
  Exec("UPDATE task SET not_before = now() - interval '1 millisecond' WHERE not_before IS NOT NULL");
  services::Scheduler scheduler(*store_, nullptr, {});
  auto promoted = scheduler.RunOnce();
  ASSERT_TRUE(promoted.ok());
  EXPECT_EQ(*promoted, 1);
  ExpectClaimed(*d);
}

TEST_F(ClaimWaitTest, ADelayedStartMadeDueByTheSchedulerWakesAWaitingClaim) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_);
  auto c = StartClaim(waiter, *store_, "w-delayed");
  ASSERT_TRUE(Eventually([&] { return Asleep(*c); }));
  auto job = AJob("delayed");
  job.not_before = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now() + 1h);
  auto stage = AStage("w-delayed");
  stage.tasks = SomeTasks(1);
  job.stages.emplace();
  job.stages->push_back(stage);
  JOBNIK_ASSERT_OK(store_->CreateJob(job, ATrace()));
  EXPECT_EQ(c->outcome.wait_for(300ms), std::future_status::timeout) << "a task not yet due was claimed";
  Exec("UPDATE task SET not_before = now() - interval '1 millisecond' WHERE not_before IS NOT NULL");
  services::Scheduler scheduler(*store_, nullptr, {});
  auto promoted = scheduler.RunOnce();
  ASSERT_TRUE(promoted.ok());
  EXPECT_EQ(*promoted, 1);
  ExpectClaimed(*c);
}

TEST_F(ClaimWaitTest, RetryingAFailedJobOrTaskWakesAWaitingClaim) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_);
  AddWork(*store_, "w-rerun", 1);
  auto first = store_->ClaimTask("w-rerun");
  ASSERT_TRUE(first.ok()) << Describe(first.status());
  JOBNIK_ASSERT_OK(
      store_->ReportTask(first->task.id, TaskStatus::kFailed, {first->task.claim_id, std::nullopt, std::nullopt}));
  ASSERT_EQ(store_->GetJob(job_id_)->status, domain::JobStatus::kFailed);
  auto c = StartClaim(waiter, *store_, "w-rerun");
  ASSERT_TRUE(Eventually([&] { return Asleep(*c); }));
  JOBNIK_ASSERT_OK(store_->RetryJob(job_id_));
  ExpectClaimed(*c);
  ASSERT_TRUE(c->task.has_value());
  JOBNIK_ASSERT_OK(
      store_->ReportTask(c->task->id, TaskStatus::kFailed, {c->task->claim_id, std::nullopt, std::nullopt}));
  auto d = StartClaim(waiter, *store_, "w-rerun");
  ASSERT_TRUE(Eventually([&] { return Asleep(*d); }));
  JOBNIK_ASSERT_OK(store_->RetryTask(c->task->id));
  ExpectClaimed(*d);
}

TEST_F(ClaimWaitTest, ReleasingAWaitingStageWakesAWaitingClaim) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_);
  const auto stage_id = AddWork(*store_, "w-release", 2, /*waiting=*/true);
  auto c = StartClaim(waiter, *store_, "w-release");
  ASSERT_TRUE(Eventually([&] { return Asleep(*c); }));
  EXPECT_EQ(c->outcome.wait_for(200ms), std::future_status::timeout) << "a WAITING stage's task was claimed";
  ASSERT_STATUS_OK(store_->SetStageStatus(stage_id, domain::StageStatus::kPending));
  ExpectClaimed(*c);
}

TEST_F(ClaimWaitTest, ResumingAPausedJobWakesAWaitingClaim) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_);
  AddWork(*store_, "w-resume", 1);
  ASSERT_STATUS_OK(store_->SetJobStatus(job_id_, domain::JobStatus::kPaused));
  auto c = StartClaim(waiter, *store_, "w-resume");
  ASSERT_TRUE(Eventually([&] { return Asleep(*c); }));
  ASSERT_STATUS_OK(store_->SetJobStatus(job_id_, domain::JobStatus::kPending));
  ExpectClaimed(*c);
}

TEST_F(ClaimWaitTest, CompletingAStageWakesTheClaimsWaitingForTheNextOne) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_);
  AddWork(*store_, "w-first", 1);
  auto next = store_->AddStage(job_id_, AStage("w-second"), ATrace());
  ASSERT_TRUE(next.ok()) << Describe(next.status());
  JOBNIK_ASSERT_OK(store_->AddTasks(next->id, SomeTasks(1), ATrace()));
  auto c = StartClaim(waiter, *store_, "w-second");
  ASSERT_TRUE(Eventually([&] { return Asleep(*c); }));
  auto first = store_->ClaimTask("w-first");
  ASSERT_TRUE(first.ok()) << Describe(first.status());
  JOBNIK_ASSERT_OK(
      store_->ReportTask(first->task.id, TaskStatus::kCompleted, {first->task.claim_id, std::nullopt, std::nullopt}));
  ExpectClaimed(*c);
  EXPECT_EQ(c->task->stage_id, next->id);
}

TEST_F(ClaimWaitTest, ATimeoutRunsNoClaimWhileItWaits) {
  Metrics metrics;
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_, &metrics);
  AddWork(*store_, "w-other", 1);  // work of another type wakes nobody here
  auto c = StartClaim(waiter, *store_, "w-idle", 1500ms);
  ASSERT_EQ(c->outcome.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(c->outcome.get(), ClaimWaiter::Outcome::kTimedOut);
  const double waited = std::chrono::duration<double>(c->finished - c->started).count();
  EXPECT_GE(waited, 1.45);
  EXPECT_LT(waited, 3.0);
  EXPECT_EQ(c->attempts.load(), 1) << "a waiting claim ran claims while it waited";
  EXPECT_EQ(metrics.claim_wakeups.Value(), 0);
  EXPECT_EQ(metrics.claim_waiting.Value(), 0);
}

TEST_F(ClaimWaitTest, ATaskCreatedThroughOneInstanceWakesAClaimWaitingOnAnother) {
  // A second jobnikd on the same database: its own pool, store and listener.
  store::pg::Pool other_pool({url_, schema_, 4});
  store::pg::PgStore other(other_pool);
  Metrics metrics_a, metrics_b;
  NewWaiter(WakeupMode::kNotify, *store_, &metrics_a);
  auto& waiter_b = NewWaiter(WakeupMode::kNotify, other, &metrics_b);
  auto c = StartClaim(waiter_b, other, "w-across");
  ASSERT_TRUE(Eventually([&] { return Asleep(*c); }));
  AddWork(*store_, "w-across", 1);  // through instance A
  ExpectClaimed(*c);
  EXPECT_GE(metrics_b.claim_notifications.Value(), 1);
}

TEST_F(ClaimWaitTest, NotificationsOfAnotherSchemaAreIgnored) {
  Metrics metrics;
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_, &metrics);
  auto c = StartClaim(waiter, *store_, "w-schema", 2s);
  ASSERT_TRUE(Eventually([&] { return Asleep(*c); }));
  Exec("SELECT pg_notify('jobnik_claimable', 'not_" + schema_ + "' || E'\\tw-schema\\t1')");
  ASSERT_EQ(c->outcome.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(c->outcome.get(), ClaimWaiter::Outcome::kTimedOut);
  EXPECT_EQ(c->attempts.load(), 1);
  EXPECT_EQ(metrics.claim_notifications.Value(), 0);
}

TEST_F(ClaimWaitTest, TheFallbackPollWakesWaitingClaimsWithoutNotify) {
  Metrics metrics;
  auto& waiter = NewWaiter(WakeupMode::kPoll, *store_, &metrics, 200ms);
  EXPECT_FALSE(waiter.Listening());
  auto c = StartClaim(waiter, *store_, "w-poll");
  auto d = StartClaim(waiter, *store_, "w-poll");
  ASSERT_TRUE(Eventually([&] { return Asleep(*c) && Asleep(*d); }));
  AddWork(*store_, "w-poll", 1);
  // One task: one of the two is woken and claims it; the other keeps waiting.
  ASSERT_TRUE(Eventually([&] { return waiter.Waiting() == 1; }));
  auto& claimed = c->task ? *c : *d;
  auto& still = c->task ? *d : *c;
  ExpectClaimed(claimed);
  EXPECT_EQ(still.attempts.load(), 1);
  EXPECT_EQ(metrics.claim_notifications.Value(), 0);
  EXPECT_EQ(metrics.claim_wakeups.Value(), 1);
  waiter.Stop();
  EXPECT_EQ(still.outcome.get(), ClaimWaiter::Outcome::kStopped);
}

TEST_F(ClaimWaitTest, ABurstWakesAsManyWaitersAsThereAreNewTasks) {
  Metrics metrics;
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_, &metrics);
  std::vector<std::unique_ptr<WaitingClaim>> claims;
  claims.reserve(5);
  for (int i = 0; i < 5; ++i) claims.push_back(StartClaim(waiter, *store_, "w-burst"));
  ASSERT_TRUE(Eventually([&] {
    for (auto& c : claims) {
      if (c->tried != 1) return false;
    }
    return waiter.Waiting() == 5;
  }));
  AddWork(*store_, "w-burst", 2);  // one transaction, one notification for 2 tasks
  ASSERT_TRUE(Eventually([&] { return waiter.Waiting() == 3; }));
  int claimed = 0, attempts = 0;
  for (auto& c : claims) {
    if (c->outcome.wait_for(0s) == std::future_status::ready) ++claimed;
    attempts += c->attempts;
  }
  EXPECT_EQ(claimed, 2);
  EXPECT_EQ(attempts, 5 + 2) << "waiters beyond the new tasks were woken";
  EXPECT_EQ(metrics.claim_wakeups.Value(), 2) << metrics.claim_notifications.Value() << " notifications";
  waiter.Stop();
}

TEST_F(ClaimWaitTest, ACancelledWaitEndsAtOnceAndClaimsNothingMore) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_);
  services::WaitCancel cancel, other;
  auto c = StartClaim(waiter, *store_, "w-cancel", 60s, &cancel);
  auto d = StartClaim(waiter, *store_, "w-cancel", 60s, &other);
  ASSERT_TRUE(Eventually([&] { return Asleep(*c) && Asleep(*d) && waiter.Waiting() == 2; }));
  cancel.Cancel();
  ASSERT_EQ(c->outcome.wait_for(2s), std::future_status::ready) << "the cancelled wait went on";
  EXPECT_EQ(c->outcome.get(), ClaimWaiter::Outcome::kCancelled);
  const int attempts = c->attempts;
  EXPECT_FALSE(c->task.has_value());
  // The other waiter goes on waiting and gets the next task; the cancelled one none.
  EXPECT_EQ(waiter.Waiting(), 1u);
  AddWork(*store_, "w-cancel", 1);
  ExpectClaimed(*d);
  EXPECT_EQ(c->attempts.load(), attempts);
  // Cancelled before its wait began: one attempt, then it ends.
  services::WaitCancel early;
  early.Cancel();
  auto e = StartClaim(waiter, *store_, "w-cancel", 60s, &early);
  ASSERT_EQ(e->outcome.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(e->outcome.get(), ClaimWaiter::Outcome::kCancelled);
  EXPECT_EQ(e->attempts.load(), 1);
}

TEST_F(ClaimWaitTest, StopReleasesEveryWaiterAtOnce) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_);
  std::vector<std::unique_ptr<WaitingClaim>> claims;
  claims.reserve(3);
  for (int i = 0; i < 3; ++i) claims.push_back(StartClaim(waiter, *store_, "w-stop", 60s));
  ASSERT_TRUE(Eventually([&] { return waiter.Waiting() == 3; }));
  const auto stop = Clock::now();
  waiter.Stop();
  for (auto& c : claims) {
    ASSERT_EQ(c->outcome.wait_for(2s), std::future_status::ready);
    EXPECT_EQ(c->outcome.get(), ClaimWaiter::Outcome::kStopped);
  }
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - stop).count(), 1.0);
  // Later claims try once and do not wait.
  auto late = StartClaim(waiter, *store_, "w-stop", 60s);
  ASSERT_EQ(late->outcome.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(late->outcome.get(), ClaimWaiter::Outcome::kStopped);
  EXPECT_EQ(late->attempts.load(), 1);
}

TEST_F(ClaimWaitTest, TheLimitOfWaitersAnswersAtOnce) {
  ClaimWaiterOptions options;
  options.mode = WakeupMode::kPoll;
  options.max_waiters = 1;
  ClaimWaiter waiter(
      options, [](const std::string&, std::int64_t) { return domain::Result<std::int64_t>(0); }, nullptr);
  waiter.Start();
  auto c = StartClaim(waiter, *store_, "w-limit", 30s);
  ASSERT_TRUE(Eventually([&] { return waiter.Waiting() == 1; }));
  auto d = StartClaim(waiter, *store_, "w-limit", 30s);
  ASSERT_EQ(d->outcome.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(d->outcome.get(), ClaimWaiter::Outcome::kOverLimit);
  EXPECT_EQ(d->attempts.load(), 1);
  waiter.Stop();
  EXPECT_EQ(c->outcome.get(), ClaimWaiter::Outcome::kStopped);
}

TEST_F(ClaimWaitTest, TheListenerReconnectsAfterItsConnectionIsKilled) {
  Metrics metrics;
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_, &metrics);
  // This test's listener, by its name.
  EXPECT_EQ(Query1("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '" +
                   services::ListenerName(schema_) + "'"),
            "1");
  ASSERT_TRUE(Eventually([&] { return !waiter.Listening(); }, 5s)) << "the listener did not notice";
  ASSERT_TRUE(Eventually([&] { return waiter.Listening(); }, 10s)) << "the listener did not reconnect";
  auto c = StartClaim(waiter, *store_, "w-reconnect");
  ASSERT_TRUE(Eventually([&] { return Asleep(*c); }));
  AddWork(*store_, "w-reconnect", 1);
  ExpectClaimed(*c);
  EXPECT_GE(metrics.claim_notifications.Value(), 1);
}

// ---- over HTTP: the dequeue's wait_seconds ----

class DequeueWaitTest : public ClaimWaitTest {
 protected:
  // `guard_looks`: the connection guard looks on its own thread (else only when the test
  // calls guard_->RunOnce).
  void StartServer(ClaimWaiter* waiter, bool guard_looks = true) {
    http::ApiOptions options{std::size_t{64} * 1024, false};
    options.claim_waiter = waiter;
    options.connections = &connections_;
    api_ = std::make_unique<http::Api>(*store_, metrics_, options);
    api_->Register(server_);
    server_.set_logger(
        [this](const httplib::Request& req, const httplib::Response&) { connections_.RequestFinished(req); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    // As jobnikd runs it: finds the connections whose client hung up.
    http::ConnectionGuardOptions guard;
    guard.port = port_;
    guard.interval = 50ms;
    guard_ = std::make_unique<http::ConnectionGuard>(guard, connections_, nullptr);
    if (guard_looks) guard_->Start();
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    ASSERT_TRUE(Eventually([&] { return server_.is_running(); }));
  }
  void TearDown() override {
    if (guard_) guard_->Stop();
    for (auto& w : waiters_) w->Stop();
    server_.stop();
    if (thread_.joinable()) thread_.join();
    ClaimWaitTest::TearDown();
  }
  // A client socket that has sent `request` (raw HTTP) to the server; -1 on failure.
  int SendRaw(const std::string& request) const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
      close(fd);
      return -1;
    }
    return fd;
  }
  httplib::Result Dequeue(const std::string& type, const std::string& query) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(70, 0);
    return client.Patch(("/v1/stages/" + type + "/tasks/dequeue" + query).c_str());
  }

  Metrics metrics_;
  http::ConnectionTracker connections_;
  std::unique_ptr<http::ConnectionGuard> guard_;
  std::unique_ptr<http::Api> api_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(DequeueWaitTest, WaitSecondsIsValidated) {
  StartServer(&NewWaiter(WakeupMode::kNotify, *store_));
  for (const char* bad : {"?wait_seconds=61", "?wait_seconds=-1", "?wait_seconds=soon"}) {
    auto r = Dequeue("w-http", bad);
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_NE(r->body.find("request/query/wait_seconds"), std::string::npos) << r->body;
  }
}

TEST_F(DequeueWaitTest, ADequeueWithWaitSecondsAnswersTheTaskCreatedWhileItWaits) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_, &metrics_);
  StartServer(&waiter);
  auto reply = std::async(std::launch::async, [&] { return Dequeue("w-http", "?wait_seconds=20&worker_id=w1"); });
  ASSERT_TRUE(Eventually([&] { return waiter.Waiting() == 1; }));
  const auto created = Clock::now();
  AddWork(*store_, "w-http", 1);
  auto r = reply.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - created).count(), 2.0);
  const auto task = nlohmann::json::parse(r->body);
  EXPECT_EQ(task.value("status", ""), "IN_PROGRESS");
  EXPECT_EQ(task.value("workerId", ""), "w1");
}

TEST_F(DequeueWaitTest, ADequeueWithWaitSecondsAnswers404AtTheDeadline) {
  StartServer(&NewWaiter(WakeupMode::kNotify, *store_, &metrics_));
  const auto start = Clock::now();
  auto r = Dequeue("w-http-none", "?wait_seconds=1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  const double waited = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_GE(waited, 0.95);
  EXPECT_LT(waited, 3.0);
}

TEST_F(DequeueWaitTest, ABatchClaimWithWaitSecondsAnswersTheTasksCreatedWhileItWaitsOnAnyOfItsTypes) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_, &metrics_);
  StartServer(&waiter);
  auto claim = [&](int wait) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(70, 0);
    const nlohmann::json body{{"stageTypes", {"w-batch-a", "w-batch-b"}}, {"limit", 5}, {"waitSeconds", wait}};
    return client.Post("/v1/tasks/claim", body.dump(), "application/json");
  };
  auto reply = std::async(std::launch::async, [&] { return claim(20); });
  ASSERT_TRUE(Eventually([&] { return waiter.Waiting() == 1; }));
  const auto created = Clock::now();
  AddWork(*store_, "w-batch-b", 3);
  auto r = reply.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - created).count(), 2.0);
  const auto tasks = nlohmann::json::parse(r->body).at("tasks");
  EXPECT_EQ(tasks.size(), 3U) << r->body;
  // Nothing left: a wait of 1 s answers an empty list at its deadline.
  const auto start = Clock::now();
  auto empty = claim(1);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 200) << empty->body;
  EXPECT_EQ(nlohmann::json::parse(empty->body).at("tasks").size(), 0U);
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - start).count(), 0.95);
}

TEST_F(DequeueWaitTest, AWaitingClaimWhoseClientHangsUpStopsWaitingAndClaimsNothing) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_, &metrics_);
  StartServer(&waiter);
  const std::string claim_body = R"({"stageTypes":["w-hangup"],"limit":1,"waitSeconds":60})";
  const std::vector<std::string> requests = {
      "PATCH /v1/stages/w-hangup/tasks/dequeue?wait_seconds=60 HTTP/1.1\r\nHost: t\r\n\r\n",
      "POST /v1/tasks/claim HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: " +
          std::to_string(claim_body.size()) + "\r\n\r\n" + claim_body,
  };
  for (const auto& request : requests) {
    // A client that sends its long poll and goes away (a worker killed while it waits).
    const int fd = SendRaw(request);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(Eventually([&] { return waiter.Waiting() == 1; })) << request;
    close(fd);
    ASSERT_TRUE(Eventually([&] { return waiter.Waiting() == 0; }, 5s))
        << "still waiting for a gone client: " << request;
  }
  EXPECT_EQ(metrics_.claim_hangups.Value(), 2);
  // Nothing was claimed for them: the next task is there for a client that asks.
  AddWork(*store_, "w-hangup", 1);
  auto r = Dequeue("w-hangup", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
}

TEST_F(DequeueWaitTest, AWokenClaimLooksAtItsConnectionBeforeClaimingForAClientThatIsGone) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_, &metrics_);
  StartServer(&waiter, /*guard_looks=*/false);
  const std::string request = "PATCH /v1/stages/w-gone/tasks/dequeue?wait_seconds=60 HTTP/1.1\r\nHost: t\r\n\r\n";
  const int fd = SendRaw(request);
  ASSERT_GE(fd, 0);
  // Asleep after its first attempt: a first attempt still running (a waiter counts as
  // waiting from before it) could claim the task added below for a client it saw there.
  ASSERT_TRUE(Eventually([&] { return waiter.Sleeping() == 1; }));
  // The guard looks once (it finds the connection, the client still there), then not again.
  EXPECT_EQ(guard_->RunOnce(Clock::now()).hung_up, 0u);
  close(fd);
  // A task wakes the claim: it sees its client gone and claims nothing.
  AddWork(*store_, "w-gone", 1);
  ASSERT_TRUE(Eventually([&] { return waiter.Waiting() == 0; }, 5s));
  EXPECT_EQ(metrics_.claim_hangups.Value(), 1);
  auto r = Dequeue("w-gone", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << "the task was claimed for the client that was gone: " << r->body;
}

TEST_F(DequeueWaitTest, ShutdownAnswersWaitingDequeuesAt404) {
  auto& waiter = NewWaiter(WakeupMode::kNotify, *store_, &metrics_);
  StartServer(&waiter);
  auto reply = std::async(std::launch::async, [&] { return Dequeue("w-http-stop", "?wait_seconds=60"); });
  ASSERT_TRUE(Eventually([&] { return waiter.Waiting() == 1; }));
  const auto stop = Clock::now();
  waiter.Stop();
  auto r = reply.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - stop).count(), 1.0);
}

}  // namespace
}  // namespace jobnik::testing
