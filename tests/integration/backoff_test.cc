// Retry backoff (docs/design.md, "Retry backoff"), on a real PostgreSQL through the store,
// the sweeper and the retry scheduler.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "domain/codec.h"
#include "domain/model.h"
#include "fixtures.h"
#include "pg_test_env.h"
#include "services/scheduler.h"
#include "services/sweeper.h"

namespace jobnik::testing {
namespace {

using domain::ErrorCode;
using domain::JobStatus;
using domain::RetryPolicy;
using domain::TaskStatus;
using Clock = std::chrono::steady_clock;

double Seconds(domain::Timestamp::duration d) {
  return std::chrono::duration<double>(d).count();
}

class BackoffTest : public DbTest {
 protected:
  // A job with one stage of `type` (its default `stage_retry`) and `n` tasks of
  // `max_attempts` with `task_retry`. Returns the job's id.
  std::string NewWork(const std::string& type, int n, int max_attempts, std::optional<RetryPolicy> task_retry,
                      std::optional<RetryPolicy> stage_retry = std::nullopt) {
    auto job = store_->CreateJob(AJob("backoff"), ATrace());
    EXPECT_TRUE(job.ok()) << Describe(job.status());
    auto stage_spec = AStage(type);
    stage_spec.retry = stage_retry;
    auto stage = store_->AddStage(job->id, stage_spec, ATrace());
    EXPECT_TRUE(stage.ok()) << Describe(stage.status());
    auto tasks = SomeTasks(n, max_attempts);
    for (auto& t : tasks) t.retry = task_retry;
    auto created = store_->AddTasks(stage->id, tasks, ATrace());
    EXPECT_TRUE(created.ok()) << Describe(created.status());
    return job->id;
  }

  std::optional<domain::Task> TryClaim(const std::string& type) {
    auto d = store_->ClaimTask(type);
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), ErrorCode::kTaskNotFound) << Describe(d.status());
      return std::nullopt;
    }
    return d->task;
  }

  domain::Task Claim(const std::string& type) {
    auto t = TryClaim(type);
    EXPECT_TRUE(t.has_value()) << "nothing claimable of " << type;
    return t.value_or(domain::Task{});
  }

  store::TaskReport Fail(const domain::Task& t, std::optional<double> retry_after = std::nullopt) {
    auto r = store_->ReportTask(t.id, TaskStatus::kFailed, {t.claim_id, std::nullopt, retry_after});
    EXPECT_TRUE(r.ok()) << Describe(r.status());
    return r.ok() ? *r : store::TaskReport{};
  }

  // The delay the report gave the task: not_before - the report's time (one now()).
  static double DelayOf(const store::TaskReport& r) {
    EXPECT_TRUE(r.task.not_before.has_value()) << "the task does not wait";
    return r.task.not_before ? Seconds(*r.task.not_before - r.task.update_time) : -1;
  }

  // The waiting task becomes due now (as if its delay were over), and the scheduler runs.
  int MakeDue(const std::string& task_id) {
    Exec("UPDATE task SET not_before = now() - interval '1 millisecond' WHERE id = '" + task_id + "'");
    return RunScheduler();
  }

  int RunScheduler() {
    services::Scheduler scheduler(*store_, nullptr, {});
    auto n = scheduler.RunOnce();
    EXPECT_TRUE(n.ok()) << Describe(n.status());
    return n.ok() ? *n : -1;
  }

  // Polls for a claim of `type` until `limit`; the claimed task, or none.
  std::optional<domain::Task> PollClaim(const std::string& type, std::chrono::milliseconds limit) {
    const auto until = Clock::now() + limit;
    while (Clock::now() < until) {
      if (auto t = TryClaim(type)) return t;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return std::nullopt;
  }
};

TEST_F(BackoffTest, DelaysGrowExponentiallyUpToTheCapWithAtMostTenPercentJitter) {
  NewWork("grow", 1, 6, RetryPolicy{10, 3, 50});
  const double expected[] = {10, 30, 50, 50};  // min(50, 10 * 3^(attempt - 1))
  for (int attempt = 1; attempt <= 4; ++attempt) {
    auto t = Claim("grow");
    auto r = Fail(t);
    EXPECT_EQ(r.task.status, TaskStatus::kRetried);
    EXPECT_EQ(r.task.attempts, attempt);
    const double delay = DelayOf(r);
    EXPECT_GE(delay, expected[attempt - 1]) << "attempt " << attempt;
    EXPECT_LE(delay, expected[attempt - 1] * 1.1 + 1e-6) << "attempt " << attempt;
    EXPECT_FALSE(TryClaim("grow").has_value()) << "claimable during its delay, attempt " << attempt;
    EXPECT_EQ(store_->GetTask(t.id)->not_before, r.task.not_before);
    ASSERT_EQ(MakeDue(t.id), 1);
    EXPECT_FALSE(store_->GetTask(t.id)->not_before.has_value());
  }
}

TEST_F(BackoffTest, ADelayedTaskIsNotClaimableEarlyAndIsClaimableAfterItsDelay) {
  NewWork("wait", 1, 4, RetryPolicy{0.4, 2, 10});
  services::Scheduler scheduler(*store_, nullptr, {std::chrono::milliseconds(20)});
  scheduler.Start();
  auto t = Claim("wait");
  for (const double delay : {0.4, 0.8}) {  // two attempts: the delay doubles
    const auto reported = Clock::now();
    Fail(t);
    auto again = PollClaim("wait", std::chrono::milliseconds(5000));
    const double elapsed = std::chrono::duration<double>(Clock::now() - reported).count();
    ASSERT_TRUE(again.has_value()) << "never claimable again";
    EXPECT_EQ(again->id, t.id);
    EXPECT_GE(elapsed, delay);
    EXPECT_LE(elapsed, delay * 1.1 + 0.5);
    t = *again;
  }
  scheduler.Stop();
}

TEST_F(BackoffTest, RetryAfterSecondsOverridesThePolicyExactly) {
  NewWork("after", 1, 5, RetryPolicy{100, 2, 1000});
  auto t = Claim("after");
  EXPECT_NEAR(DelayOf(Fail(t, 7.5)), 7.5, 1e-6);  // no jitter on an explicit delay
  ASSERT_EQ(MakeDue(t.id), 1);
  // 0: at once, whatever the policy.
  t = Claim("after");
  auto r = Fail(t, 0.0);
  EXPECT_FALSE(r.task.not_before.has_value());
  EXPECT_EQ(Claim("after").id, t.id);
  // Also without a policy.
  NewWork("after-v1", 1, 2, std::nullopt);
  t = Claim("after-v1");
  EXPECT_NEAR(DelayOf(Fail(t, 30)), 30, 1e-6);
  EXPECT_FALSE(TryClaim("after-v1").has_value());
}

TEST_F(BackoffTest, AStagesRetryIsTheDefaultOfItsTasks) {
  auto job = store_->CreateJob(AJob("inherit"), ATrace());
  ASSERT_TRUE(job.ok());
  auto spec = AStage("inherit", /*start_as_waiting=*/true);
  spec.retry = RetryPolicy{20, 1, 20};
  auto stage = store_->AddStage(job->id, spec, ATrace());
  ASSERT_TRUE(stage.ok()) << Describe(stage.status());
  EXPECT_EQ(stage->retry, spec.retry);
  EXPECT_EQ(store_->GetStage(stage->id)->retry, spec.retry);
  auto tasks = SomeTasks(2, 3);
  tasks[1].retry = RetryPolicy{5, 2, 60};
  auto created = store_->AddTasks(stage->id, tasks, ATrace());
  ASSERT_TRUE(created.ok()) << Describe(created.status());
  EXPECT_EQ((*created)[0].retry, spec.retry);
  EXPECT_EQ((*created)[1].retry, tasks[1].retry);
  // And in a job submitted whole.
  auto whole = AJob("inherit-whole");
  auto st = AStage("inherit-whole");
  st.retry = RetryPolicy{9, 1.5, 90};
  st.tasks = SomeTasks(1, 2);
  whole.stages.emplace({st});
  auto submitted = store_->CreateJob(whole, ATrace());
  ASSERT_TRUE(submitted.ok()) << Describe(submitted.status());
  auto t = Claim("inherit-whole");
  EXPECT_EQ(store_->GetTask(t.id)->retry, st.retry);
  const double delay = DelayOf(Fail(t));
  EXPECT_GE(delay, 9);
  EXPECT_LE(delay, 9.9 + 1e-6);
}

TEST_F(BackoffTest, PauseAndResumeDuringTheDelayDoNotMakeTheTaskClaimableEarly) {
  const auto job = NewWork("pause", 2, 3, RetryPolicy{60, 1, 60});
  auto t = Claim("pause");
  Fail(t);
  ASSERT_TRUE(store_->SetJobStatus(job, JobStatus::kPaused).ok());
  ASSERT_TRUE(store_->SetJobStatus(job, JobStatus::kPending).ok());
  auto other = Claim("pause");  // the other task is claimable, the delayed one is not
  EXPECT_NE(other.id, t.id);
  EXPECT_FALSE(TryClaim("pause").has_value());
  EXPECT_EQ(RunScheduler(), 0);
  EXPECT_FALSE(TryClaim("pause").has_value());
  // Due while the job is paused: the scheduler leaves it unclaimable; the resume makes it so.
  ASSERT_TRUE(store_->SetJobStatus(job, JobStatus::kPaused).ok());
  EXPECT_EQ(MakeDue(t.id), 1);
  EXPECT_FALSE(store_->GetTask(t.id)->not_before.has_value());
  EXPECT_FALSE(TryClaim("pause").has_value());
  EXPECT_EQ(Query1("SELECT ready::text FROM task WHERE id = '" + t.id + "'"), "false");
  ASSERT_TRUE(store_->SetJobStatus(job, JobStatus::kPending).ok());
  EXPECT_EQ(Claim("pause").id, t.id);
}

TEST_F(BackoffTest, ASweeperFailureAppliesTheBackoffToo) {
  NewWork("swept", 1, 3, RetryPolicy{45, 2, 600});
  auto t = Claim("swept");
  Exec("UPDATE task SET start_time = now() - interval '2 hours' WHERE id = '" + t.id + "'");
  services::Sweeper sweeper(*store_, nullptr, nullptr, {std::chrono::seconds(60), std::chrono::seconds(1800), 100});
  auto swept =
      sweeper.RunOnce(std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()));
  ASSERT_TRUE(swept.ok()) << Describe(swept.status());
  ASSERT_EQ(*swept, 1);
  auto task = store_->GetTask(t.id);
  EXPECT_EQ(task->status, TaskStatus::kRetried);
  ASSERT_TRUE(task->not_before.has_value());
  const double delay = Seconds(*task->not_before - task->update_time);
  EXPECT_GE(delay, 45);
  EXPECT_LE(delay, 49.5 + 1e-6);
  EXPECT_FALSE(TryClaim("swept").has_value());
}

TEST_F(BackoffTest, WithoutRetryFieldsARetryIsImmediateAndTheJsonIsV1) {
  NewWork("v1", 1, 2, std::nullopt);
  auto t = Claim("v1");
  auto r = Fail(t);
  EXPECT_EQ(r.task.status, TaskStatus::kRetried);
  EXPECT_FALSE(r.task.not_before.has_value());
  EXPECT_FALSE(r.task.retry.has_value());
  const auto json = nlohmann::json::parse(domain::ToJson(*store_->GetTask(t.id)));
  EXPECT_FALSE(json.contains("retry"));
  EXPECT_FALSE(json.contains("notBefore"));
  const auto stage = nlohmann::json::parse(domain::ToJson(*store_->GetStage(t.stage_id)));
  EXPECT_FALSE(stage.contains("retry"));
  EXPECT_EQ(Claim("v1").id, t.id);
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE not_before IS NOT NULL"), "0");
}

TEST_F(BackoffTest, AWaitingTaskShowsRetryAndNotBeforeInItsJson) {
  NewWork("shown", 1, 2, RetryPolicy{30, 2, 300});
  auto t = Claim("shown");
  Fail(t);
  const auto json = nlohmann::json::parse(domain::ToJson(*store_->GetTask(t.id)));
  EXPECT_EQ(json["retry"], nlohmann::json::parse(R"({"delaySeconds":30,"backoff":2,"maxDelaySeconds":300})"));
  ASSERT_TRUE(json.contains("notBefore"));
  auto decoded = domain::DecodeTask(json);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->retry, (RetryPolicy{30, 2, 300}));
  EXPECT_TRUE(decoded->not_before.has_value());
}

TEST_F(BackoffTest, TheClaimIndexIsUnchangedAndWaitingRowsAreOutsideIt) {
  EXPECT_EQ(Query1("SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'task_claim'"),
            "CREATE INDEX task_claim ON " + schema_ +
                ".task USING btree (stage_type, priority, seq) WHERE (ready AND (status = ANY "
                "(ARRAY['PENDING'::text, 'RETRIED'::text])))");
  NewWork("outside", 3, 2, RetryPolicy{600, 1, 600});
  for (int i = 0; i < 3; ++i) Fail(Claim("outside"));
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE ready AND status IN ('PENDING', 'RETRIED')"), "0");
  EXPECT_EQ(Query1("SELECT count(*) FROM task WHERE not_before IS NOT NULL"), "3");
}

TEST_F(BackoffTest, TwoSchedulersNeverPromoteATaskTwice) {
  NewWork("two", 40, 2, RetryPolicy{600, 1, 600});
  for (int i = 0; i < 40; ++i) Fail(Claim("two"));
  Exec("UPDATE task SET not_before = now() - interval '1 second' WHERE not_before IS NOT NULL");
  services::Scheduler a(*store_, nullptr, {std::chrono::milliseconds(1000), 3});
  services::Scheduler b(*store_, nullptr, {std::chrono::milliseconds(1000), 3});
  int na = 0, nb = 0;
  std::thread ta([&] {
    auto n = a.RunOnce();
    na = n.ok() ? *n : -1000;
  });
  std::thread tb([&] {
    auto n = b.RunOnce();
    nb = n.ok() ? *n : -1000;
  });
  ta.join();
  tb.join();
  EXPECT_EQ(na + nb, 40);
  for (int i = 0; i < 40; ++i) Claim("two");
  EXPECT_FALSE(TryClaim("two").has_value());
}

// ---- request validation (the codec)

TEST(BackoffCodecTest, RetryObjectsAreValidatedNamingTheFieldAndTheProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {R"([{"data":{},"retry":5}])", "request/body/0/retry must be object"},
      {R"([{"data":{},"retry":{}}])", "request/body/0/retry must have required property 'delaySeconds'"},
      {R"([{"data":{},"retry":{"delaySeconds":-1}}])", "request/body/0/retry/delaySeconds must be a number from 0"},
      {R"([{"data":{},"retry":{"delaySeconds":"5"}}])", "request/body/0/retry/delaySeconds must be a number"},
      {R"([{"data":{},"retry":{"delaySeconds":1e9}}])",
       "request/body/0/retry/delaySeconds must be a number from 0 to 604800"},
      {R"([{"data":{},"retry":{"delaySeconds":5,"backoff":0.5}}])",
       "request/body/0/retry/backoff must be a number from 1 to 100"},
      {R"([{"data":{},"retry":{"delaySeconds":5,"backoff":1000}}])",
       "request/body/0/retry/backoff must be a number from 1 to 100"},
      {R"([{"data":{},"retry":{"delaySeconds":5,"maxDelaySeconds":4}}])",
       "request/body/0/retry/maxDelaySeconds must be a number from delaySeconds (5) to 604800"},
      {R"([{"data":{},"retry":{"delaySeconds":5,"jitter":1}}])", "jitter"},
  };
  for (const auto& [body, message] : cases) {
    auto r = domain::ParseNewTasks(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), ErrorCode::kValidation) << body;
    EXPECT_NE(r.status().message().find(message), std::string::npos) << body << ": " << r.status().message();
  }
  auto stage =
      domain::ParseNewJob(R"({"name":"jj","data":{},"stages":[{"type":"t","data":{},"retry":{"delaySeconds":-2}}]})");
  ASSERT_FALSE(stage.ok());
  EXPECT_NE(stage.status().message().find("request/body/stages/0/retry/delaySeconds"), std::string::npos)
      << stage.status().message();
  auto ok = domain::ParseNewTasks(R"([{"data":{},"retry":{"delaySeconds":2.5}}])");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ((*ok)[0].retry, (RetryPolicy{2.5, 1, domain::kMaxRetryDelaySeconds}));
}

TEST(BackoffCodecTest, RetryAfterSecondsIsValidatedAndKeptForFailuresOnly) {
  auto r = domain::ParseTaskReport(R"({"status":"FAILED","retryAfterSeconds":12.5})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->retry_after_seconds, 12.5);
  auto completed = domain::ParseTaskReport(R"({"status":"COMPLETED","retryAfterSeconds":3})");
  ASSERT_TRUE(completed.ok());
  EXPECT_FALSE(completed->retry_after_seconds.has_value());
  for (const char* bad :
       {R"({"status":"FAILED","retryAfterSeconds":-1})", R"({"status":"FAILED","retryAfterSeconds":"1"})",
        R"({"status":"FAILED","retryAfterSeconds":700000})"}) {
    auto b = domain::ParseTaskReport(bad);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_NE(b.status().message().find("request/body/retryAfterSeconds must be a number from 0 to 604800"),
              std::string::npos)
        << b.status().message();
  }
}

}  // namespace
}  // namespace jobnik::testing
