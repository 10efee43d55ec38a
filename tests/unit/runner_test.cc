// Unit tests of lib/process's runner seam: the real SpawnRunner (stdin, timeout, cancel)
// and the FakeProcessRunner.
#include <gtest/gtest.h>

#include <chrono>
#include <stop_token>
#include <thread>

#include "process/fake_runner.h"
#include "process/runner.h"

namespace jobnik::process {
namespace {

using std::chrono::milliseconds;

TEST(SpawnRunnerTest, FeedsStdinAndCapturesOutput) {
  SpawnRunner runner;
  RunRequest req;
  req.spawn.argv = {"sh", "-c", "tr a-z A-Z; echo oops >&2; exit 3"};
  req.stdin_data = "hello\n";
  auto r = runner.Run(req);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status.Code(), 3);
  EXPECT_EQ(r->out.text, "HELLO\n");
  EXPECT_EQ(r->err.text, "oops\n");
  EXPECT_FALSE(r->timed_out);
  EXPECT_FALSE(r->cancelled);
}

TEST(SpawnRunnerTest, KillsTheGroupOnTimeout) {
  SpawnRunner runner;
  RunRequest req;
  req.spawn.argv = {"sleep", "30"};
  req.timeout = milliseconds(100);
  req.grace = milliseconds(100);
  auto r = runner.Run(req);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->timed_out);
  EXPECT_FALSE(r->cancelled);
  EXPECT_FALSE(r->status.Success());
}

TEST(SpawnRunnerTest, KillsTheGroupOnCancel) {
  SpawnRunner runner;
  RunRequest req;
  req.spawn.argv = {"sleep", "30"};
  req.grace = milliseconds(100);
  std::stop_source stop;
  std::jthread canceller([&stop] {
    std::this_thread::sleep_for(milliseconds(100));
    stop.request_stop();
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto r = runner.Run(req, stop.get_token());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->cancelled);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->status.Signal(), SIGTERM);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
}

TEST(SpawnRunnerTest, AProgramThatCannotStartIsAnError) {
  SpawnRunner runner;
  RunRequest req;
  req.spawn.argv = {"/nonexistent/jobnik-no-such-program"};
  auto r = runner.Run(req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("jobnik-no-such-program"), std::string::npos) << r.status().message();
}

TEST(FakeProcessRunnerTest, AnswersFromTheScriptThenTheHandlerAndRecords) {
  FakeProcessRunner fake;
  fake.ScriptExit(0, "out", "err");
  RunResult signalled;
  signalled.status = ExitStatus::OfSignal(SIGKILL);
  fake.Script(signalled);
  fake.SetHandler([](const RunRequest& r, const std::stop_token& stop) -> domain::Result<RunResult> {
    RunResult out = ExitedWith(r.stdin_data == "in" ? 7 : 1);
    out.cancelled = stop.stop_requested();
    return out;
  });
  RunRequest req;
  req.spawn.argv = {"convert", "a.png"};
  auto first = fake.Run(req);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->status.Success());
  EXPECT_EQ(first->out.text, "out");
  EXPECT_EQ(first->err.text, "err");
  auto second = fake.Run(req);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->status.Signal(), SIGKILL);
  EXPECT_EQ(second->status.Describe(), "was killed by signal 9 (Killed)");
  req.stdin_data = "in";
  std::stop_source stop;
  stop.request_stop();
  auto third = fake.Run(req, stop.get_token());
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->status.Code(), 7);
  EXPECT_TRUE(third->cancelled);
  ASSERT_EQ(fake.run_count(), 3U);
  EXPECT_EQ(fake.requests()[2].spawn.argv, (std::vector<std::string>{"convert", "a.png"}));
  EXPECT_EQ(fake.requests()[2].stdin_data, "in");
}

TEST(FakeProcessRunnerTest, WithNothingScriptedNamesTheCommand) {
  FakeProcessRunner fake;
  RunRequest req;
  req.spawn.argv = {"convert"};
  auto r = fake.Run(req);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("convert"), std::string::npos);
}

}  // namespace
}  // namespace jobnik::process
