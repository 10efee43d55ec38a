// Unit tests of jobnik-worker's handler: placeholders, and a task's outcome from the
// command's result (FakeProcessRunner: no program runs, no server).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "client/fake_transport.h"
#include "handler.h"
#include "process/fake_runner.h"

namespace jobnik::worker {
namespace {

using domain::TaskStatus;

TEST(PlaceholdersTest, FieldsAreSubstitutedStringsAsIsOthersAsJson) {
  const auto data = nlohmann::json::parse(R"({"a":{"b":"x y"},"n":5,"list":[1,"2"],"q":"it's"})");
  EXPECT_EQ(*ExpandPlaceholders("{data.a.b}", data, false), "x y");
  EXPECT_EQ(*ExpandPlaceholders("n={data.n}&m={data.n}", data, false), "n=5&m=5");
  EXPECT_EQ(*ExpandPlaceholders("{data.list}", data, false), R"([1,"2"])");
  EXPECT_EQ(*ExpandPlaceholders("{data.a}", data, false), R"({"b":"x y"})");
  EXPECT_EQ(*ExpandPlaceholders("{database} {other}", data, false), "{database} {other}");
  // For /bin/sh -c every value is one single-quoted word.
  EXPECT_EQ(*ExpandPlaceholders("echo {data.q}", data, true), R"(echo 'it'\''s')");
}

TEST(PlaceholdersTest, AMissingFieldOrAnOpenBraceIsAnErrorNamingIt) {
  const auto data = nlohmann::json::parse(R"({"a":{"b":1}})");
  auto missing = ExpandPlaceholders("{data.a.c}", data, false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "placeholder {data.a.c}: the task's data has no field 'data.a.c'");
  auto through_scalar = ExpandPlaceholders("{data.a.b.c}", data, false);
  ASSERT_FALSE(through_scalar.ok());
  EXPECT_EQ(through_scalar.status().message(), "placeholder {data.a.b.c}: the task's data has no field 'data.a.b.c'");
  auto open = ExpandPlaceholders("x{data.a", data, false);
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().message(), "placeholder '{data.a' has no closing brace");
}

struct Fixture {
  process::FakeProcessRunner runner;
  std::ostringstream log_text;
  Logger log{log_text, false};
  std::stop_source shutdown;
  RunEnvironment env{{}, runner, log, "http://jobnik", shutdown.get_token(), nullptr};
  std::shared_ptr<client::FakeTransport> fake = std::make_shared<client::FakeTransport>();
  client::Client client{fake};
  domain::Task task;
  std::string json = R"({"id":"t1","data":{"f":"v"}})";
  HandlerConfig handler;

  Fixture() {
    task.id = "t1";
    task.stage_id = "s1";
    task.data = R"({"f":"v"})";
    handler.stage_type = "resize";
    handler.command = {"/bin/prog", "{data.f}"};
    handler.retry_exit_code = 75;
    fake->Reply(200, R"({"message":"no","code":"STAGE_NOT_FOUND"})");  // the stage lookup (job id)
  }
  client::TaskOutcome Run() {
    client::TaskContext context{task, 0, client, {}, json, "", {}, nullptr};
    return RunTask(handler, env, context);
  }
};

TEST(RunTaskTest, ExitCodesTimeoutsAndShutdownBecomeOutcomesWithReasons) {
  Fixture f;
  f.runner.ScriptExit(0, "done\n");
  auto ok = f.Run();
  EXPECT_EQ(ok.status, TaskStatus::kCompleted);
  const auto request = f.runner.requests().at(0);
  EXPECT_EQ(request.spawn.argv, (std::vector<std::string>{"/bin/prog", "v"}));
  EXPECT_EQ(request.stdin_data, f.json);
  EXPECT_EQ(request.spawn.env->at("JOBNIK_TASK_ID"), "t1");
  EXPECT_EQ(request.spawn.env->at("JOBNIK_ATTEMPT"), "1");
  EXPECT_EQ(request.spawn.env->count("JOBNIK_TOKEN"), 0U);
  EXPECT_NE(f.log_text.str().find("task=t1 stdout: done"), std::string::npos);

  f.runner.ScriptExit(3, "", "line 1\nout of disk\n");
  auto failed = f.Run();
  EXPECT_EQ(failed.status, TaskStatus::kFailed);
  EXPECT_EQ(failed.reason, "the command exited with status 3: line 1\nout of disk");

  f.runner.ScriptExit(75);
  EXPECT_EQ(f.Run().reason, "retry later: the command exited with status 75");

  auto timed_out = process::ExitedWith(0);
  timed_out.status = process::ExitStatus::OfSignal(9);
  timed_out.timed_out = true;
  f.runner.Script(timed_out);
  f.handler.timeout_seconds = 2;
  EXPECT_EQ(f.Run().reason, "timed out after 2 s (the command's process group was killed)");

  // Shutdown: the command's stop token is requested, and the task fails "worker shutdown".
  f.runner.SetHandler(
      [](const process::RunRequest&, const std::stop_token& stop) -> domain::Result<process::RunResult> {
        auto r = process::ExitedWith(0);
        if (stop.stop_requested()) {
          r.cancelled = true;
          r.status = process::ExitStatus::OfSignal(15);
        }
        return r;
      });
  f.shutdown.request_stop();
  EXPECT_EQ(f.Run().reason, "worker shutdown");

  // A command that cannot start fails the task with the runner's error; a missing field
  // fails it without running anything.
  Fixture g;
  g.handler.command = {"/bin/prog", "{data.nope}"};
  EXPECT_EQ(g.Run().reason, "argument 1: placeholder {data.nope}: the task's data has no field 'data.nope'");
  EXPECT_EQ(g.runner.run_count(), 0U);
}

}  // namespace
}  // namespace jobnik::worker
