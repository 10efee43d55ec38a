// Idempotency keys on PostgreSQL (store/pg/idempotency.h): one request owns a new key
// however many race for it, replays, reuse, a key abandoned by a request that never
// finished, expiry; and the whole path through the HTTP API (http/idempotency.h).
#include <gtest/gtest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "http/api.h"
#include "pg_test_env.h"
#include "store/pg/idempotency.h"

namespace jobnik::testing {
namespace {

using namespace std::chrono_literals;
using Outcome = store::IdempotencyBegin::Outcome;

class IdempotencyTest : public DbTest {
 protected:
  void SetUp() override {
    pool_size_ = 20;
    DbTest::SetUp();
    keys_ = std::make_unique<store::pg::PgIdempotencyKeys>(*pool_);
  }
  store::IdempotencyBegin Begin(const store::IdempotentRequest& r, store::IdempotencyTimes times = {}) {
    auto b = keys_->Begin(r, times);
    EXPECT_TRUE(b.ok()) << Describe(b.status());
    return b.ok() ? *b : store::IdempotencyBegin{};
  }
  std::unique_ptr<store::pg::PgIdempotencyKeys> keys_;
};

TEST_F(IdempotencyTest, ManyRacingBeginsOfOneNewKeyStartItOnce) {
  constexpr int kThreads = 16;
  for (int round = 0; round < 10; ++round) {
    const store::IdempotentRequest r{"", "race-" + std::to_string(round), "fp"};
    std::atomic<int> started{0}, in_progress{0}, other{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&] {
        while (!go) std::this_thread::yield();
        auto b = keys_->Begin(r, {});
        if (!b.ok()) {
          ++other;
        } else if (b->outcome == Outcome::kStarted) {
          ++started;
        } else if (b->outcome == Outcome::kInProgress) {
          ++in_progress;
        } else {
          ++other;
        }
      });
    }
    go = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(started, 1) << "round " << round;
    EXPECT_EQ(in_progress, kThreads - 1) << "round " << round;
    EXPECT_EQ(other, 0);
  }
}

TEST_F(IdempotencyTest, FinishedKeysReplayAndRefuseAnotherFingerprint) {
  const store::IdempotentRequest r{"", "k", "fp-1"};
  EXPECT_EQ(Begin(r).outcome, Outcome::kStarted);
  EXPECT_EQ(Begin(r).outcome, Outcome::kInProgress);
  ASSERT_TRUE(keys_->Finish(r, {201, R"({"id":"x"})"}).ok());
  const auto replay = Begin(r);
  EXPECT_EQ(replay.outcome, Outcome::kReplay);
  EXPECT_EQ(replay.answer.status, 201);
  EXPECT_EQ(replay.answer.body, R"({"id":"x"})");
  EXPECT_EQ(Begin({"", "k", "fp-2"}).outcome, Outcome::kReused);
  // Another scope is another key.
  EXPECT_EQ(Begin({"someone-else", "k", "fp-2"}).outcome, Outcome::kStarted);
}

TEST_F(IdempotencyTest, AbandonForgetsTheKeyForARetry) {
  const store::IdempotentRequest r{"", "k", "fp"};
  EXPECT_EQ(Begin(r).outcome, Outcome::kStarted);
  ASSERT_TRUE(keys_->Abandon(r).ok());
  EXPECT_EQ(Begin(r).outcome, Outcome::kStarted);
  // A finished key is not abandoned by a late Abandon.
  ASSERT_TRUE(keys_->Finish(r, {200, "{}"}).ok());
  ASSERT_TRUE(keys_->Abandon(r).ok());
  EXPECT_EQ(Begin(r).outcome, Outcome::kReplay);
}

TEST_F(IdempotencyTest, AKeyHeldPastItsHoldIsTakenOver) {
  const store::IdempotentRequest r{"", "k", "fp"};
  EXPECT_EQ(Begin(r, {86400s, 1s}).outcome, Outcome::kStarted);
  EXPECT_EQ(Begin(r).outcome, Outcome::kInProgress);
  Exec("UPDATE idempotency_key SET locked_until = now() - interval '1 second'");
  const auto b = Begin(r);
  EXPECT_EQ(b.outcome, Outcome::kStarted);
  EXPECT_TRUE(b.taken_over);
  EXPECT_EQ(Begin(r).outcome, Outcome::kInProgress) << "the new owner holds it";
}

TEST_F(IdempotencyTest, ExpiredKeysCountAsAbsentAndAreDeletedInBatches) {
  for (int i = 0; i < 5; ++i) {
    const store::IdempotentRequest r{"", "old-" + std::to_string(i), "fp"};
    ASSERT_EQ(Begin(r).outcome, Outcome::kStarted);
    ASSERT_TRUE(keys_->Finish(r, {201, "{}"}).ok());
  }
  ASSERT_EQ(Begin({"", "young", "fp"}).outcome, Outcome::kStarted);
  Exec("UPDATE idempotency_key SET created_at = now() - interval '2 hours' WHERE key LIKE 'old-%'");
  // Expired but not yet deleted: a new request with the key starts afresh.
  const auto again = Begin({"", "old-0", "another-fp"}, {3600s, 180s});
  EXPECT_EQ(again.outcome, Outcome::kStarted);
  EXPECT_FALSE(again.taken_over);
  auto first = keys_->DeleteExpired(3600s, 3);
  JOBNIK_ASSERT_OK(first);
  EXPECT_EQ(*first, 3);
  auto second = keys_->DeleteExpired(3600s, 3);
  JOBNIK_ASSERT_OK(second);
  EXPECT_EQ(*second, 1);
  EXPECT_EQ(Query1("SELECT string_agg(key, ',' ORDER BY key) FROM idempotency_key"), "old-0,young");
}

// Through the API on PostgreSQL: 16 threads create with one key; one job exists and every
// 201 names it.
TEST_F(IdempotencyTest, ConcurrentCreatesThroughTheApiMakeOneJob) {
  Metrics metrics;
  http::ApiOptions options{1024 * 1024, false};
  options.idempotency.keys = keys_.get();
  http::Api api(*store_, metrics, options);
  httplib::Server server;
  api.Register(server);
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { server.listen_after_bind(); });
  constexpr int kThreads = 16;
  std::vector<std::string> ids(kThreads);
  std::vector<int> statuses(kThreads);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", port);
      while (!go) std::this_thread::yield();
      // A connection the loaded host refused or reset is retried with the same key, as a
      // client would: what is checked is what the server answers, not the transport.
      for (int attempt = 0; attempt < 3; ++attempt) {
        auto res = c.Post("/v1/jobs", {{"Idempotency-Key", "one"}}, R"({"name":"once","data":{}})", "application/json");
        if (!res) continue;
        statuses[i] = res->status;
        if (res->status == 201) ids[i] = nlohmann::json::parse(res->body).at("id").get<std::string>();
        return;
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  server.stop();
  serving.join();
  EXPECT_EQ(Query1("SELECT count(*) FROM job WHERE name = 'once'"), "1");
  std::string id;
  for (int i = 0; i < kThreads; ++i) {
    EXPECT_TRUE(statuses[i] == 201 || statuses[i] == 409) << statuses[i];
    if (statuses[i] != 201) continue;
    if (id.empty()) id = ids[i];
    EXPECT_EQ(ids[i], id);
  }
  EXPECT_FALSE(id.empty());
}

}  // namespace
}  // namespace jobnik::testing
