// Unit tests of lib/process/spawn.h: real children (/bin/sh -c scripts), their exit
// statuses, output capture and its bound, environment, working directory, timeouts that
// kill the whole process group, and the parent-death signal.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "matchers.h"
#include "process/spawn.h"

namespace jobnik::process {
namespace {

using domain::IsOk;
using namespace std::chrono_literals;

SpawnOptions Shell(const std::string& script) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", script};
  return o;
}

RunResult MustRun(const SpawnOptions& options, std::optional<std::chrono::milliseconds> timeout = std::nullopt,
                  std::chrono::milliseconds grace = 5s) {
  auto r = Run(options, timeout, grace);
  EXPECT_TRUE(IsOk(r));
  return r.ok() ? *r : RunResult{};
}

// Gone, or a zombie nobody has reaped yet: either way it runs no more.
bool Dead(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  return paren == std::string::npos || line.substr(paren + 2, 1) == "Z";
}

bool PollUntil(const std::function<bool()>& condition, std::chrono::seconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

class TempDir {
 public:
  TempDir() {
    std::string name = (std::filesystem::temp_directory_path() / "jobnik-spawn-XXXXXX").string();
    path_ = ::mkdtemp(name.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Spawn, ReportsTheExitCode) {
  const auto r = MustRun(Shell("exit 7"));
  EXPECT_TRUE(r.status.Exited());
  EXPECT_EQ(r.status.Code(), 7);
  EXPECT_FALSE(r.status.Success());
  EXPECT_EQ(r.status.Describe(), "exited with status 7");
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(MustRun(Shell("true")).status.Success());
}

TEST(Spawn, ReportsTheSignalThatKilledIt) {
  const auto r = MustRun(Shell("kill -9 $$"));
  EXPECT_FALSE(r.status.Exited());
  EXPECT_EQ(r.status.Signal(), SIGKILL);
  EXPECT_EQ(r.status.Describe(), "was killed by signal 9 (Killed)");
}

TEST(Spawn, CapturesStdoutAndStderrApart) {
  const auto r = MustRun(Shell("echo out; echo err >&2; echo more"));
  EXPECT_EQ(r.out.text, "out\nmore\n");
  EXPECT_EQ(r.err.text, "err\n");
  EXPECT_FALSE(r.out.Truncated());
}

TEST(Spawn, StreamsOutputLineByLineWhileTheChildRuns) {
  TempDir dir;
  const std::string seen = dir.path() + "/seen";
  // The child goes on only once its first line was passed on: proof that lines come while
  // it runs, not when it ends.
  auto options = Shell("echo one; while [ ! -e '" + seen + R"(' ]; do sleep 0.01; done; echo two >&2; )" +
                       R"(printf 'par'; printf 'tial\nlast-no-newline'; head -c 70000 /dev/zero | tr '\0' x >&2)");
  std::vector<std::string> lines;
  options.on_line = [&lines, &seen](int stream, std::string_view line) {
    if (line == "one") std::ofstream(seen).put('1');
    lines.push_back(std::to_string(stream) + ":" + std::string(line.substr(0, 20)) + "/" + std::to_string(line.size()));
  };
  const auto r = MustRun(options, std::chrono::seconds(20));
  EXPECT_TRUE(r.status.Success());
  EXPECT_FALSE(r.timed_out);
  // stdout and stderr each in order; a long line in pieces of kMaxLineBytes; the last line
  // without a newline at the end.
  std::vector<std::string> out, err;
  for (const auto& l : lines) (l[0] == '1' ? out : err).push_back(l);
  EXPECT_EQ(out, (std::vector<std::string>{"1:one/3", "1:partial/7", "1:last-no-newline/15"}));
  EXPECT_EQ(err, (std::vector<std::string>{"2:two/3", "2:" + std::string(20, 'x') + "/" + std::to_string(kMaxLineBytes),
                                           "2:" + std::string(20, 'x') + "/" + std::to_string(70000 - kMaxLineBytes)}));
}

TEST(Spawn, KeepsOnlyTheTailOfALongOutput) {
  auto options = Shell("printf 0123456789abcdefghij; head -c 1000000 /dev/zero >&2; printf end >&2");
  options.tail_bytes = 10;
  const auto r = MustRun(options);
  EXPECT_EQ(r.out.text, "abcdefghij");
  EXPECT_EQ(r.out.total_bytes, 20u);
  EXPECT_TRUE(r.out.Truncated());
  // A megabyte through the pipe: read while the child runs, so it never blocks on a full pipe.
  EXPECT_EQ(r.err.total_bytes, 1000003u);
  EXPECT_EQ(r.err.text, std::string(7, '\0') + "end");
  EXPECT_TRUE(r.status.Success());
}

TEST(Spawn, GivesExactlyTheEnvironmentAsked) {
  auto options = Shell("echo \"$JOBNIK_SPAWN_TEST/${HOME:-unset}\"");
  options.env = std::map<std::string, std::string>{{"JOBNIK_SPAWN_TEST", "a b"}};
  EXPECT_EQ(MustRun(options).out.text, "a b/unset\n");
}

TEST(Spawn, InheritsTheEnvironmentByDefault) {
  ::setenv("JOBNIK_SPAWN_INHERITED", "yes", 1);
  EXPECT_EQ(MustRun(Shell("echo $JOBNIK_SPAWN_INHERITED")).out.text, "yes\n");
  ::unsetenv("JOBNIK_SPAWN_INHERITED");
}

TEST(Spawn, RunsInTheWorkingDirectoryAsked) {
  TempDir dir;
  auto options = Shell("pwd -P");
  options.cwd = dir.path();
  EXPECT_EQ(MustRun(options).out.text, std::filesystem::canonical(dir.path()).string() + "\n");
}

TEST(Spawn, AppendsOutputToAFileWhenAsked) {
  TempDir dir;
  auto options = Shell("echo one; echo two >&2");
  options.output_file = dir.path() + "/out.log";
  EXPECT_TRUE(MustRun(options).status.Success());
  EXPECT_TRUE(MustRun(options).status.Success());
  std::ifstream in(options.output_file);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "one\ntwo\none\ntwo\n");
}

TEST(Spawn, NamesTheProgramItCannotRun) {
  SpawnOptions options;
  options.argv = {"/nonexistent/program", "x"};
  const auto r = Child::Spawn(options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "cannot run '/nonexistent/program': No such file or directory");
  options.argv = {"sh", "-c", "exit 3"};  // found in $PATH
  EXPECT_EQ(MustRun(options).status.Code(), 3);
}

TEST(Spawn, NamesTheWorkingDirectoryItCannotEnter) {
  auto options = Shell("true");
  options.cwd = "/nonexistent/dir";
  const auto r = Child::Spawn(options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "cannot change to directory /nonexistent/dir: No such file or directory");
}

TEST(Spawn, RunKillsAChildThatOutlivesItsTimeout) {
  const auto r = MustRun(Shell("exec sleep 1000"), 100ms, 1s);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.status.Signal(), SIGTERM);
}

TEST(Spawn, ATimeoutKillsTheWholeGroupAndLeavesNoOrphan) {
  // The grandchild ignores SIGTERM: only the SIGKILL to the group after the grace ends it.
  auto child = Child::Spawn(Shell("sh -c 'trap \"\" TERM; echo $$; exec sleep 1000' & wait"));
  ASSERT_TRUE(IsOk(child));
  while (child->Stdout().text.find('\n') == std::string::npos) ASSERT_FALSE(child->Wait(10ms).has_value());
  const pid_t grandchild = std::atoi(child->Stdout().text.c_str());
  ASSERT_GT(grandchild, 0) << child->Stdout().text;
  EXPECT_FALSE(child->Wait(100ms).has_value());  // the timeout passes
  const auto status = child->Kill(200ms);
  EXPECT_FALSE(status.Exited());
  EXPECT_TRUE(PollUntil([&] { return Dead(grandchild); })) << "grandchild " << grandchild << " survived";
}

TEST(Spawn, KillSendsSigtermThenSigkillAfterTheGrace) {
  auto child = Child::Spawn(Shell("trap '' TERM; echo ready; while :; do sleep 1; done"));
  ASSERT_TRUE(IsOk(child));
  // Wait until the trap is set (its output says so), then ask it to stop.
  while (child->Stdout().text.empty()) ASSERT_FALSE(child->Wait(10ms).has_value());
  const auto status = child->Kill(100ms);
  EXPECT_EQ(status.Signal(), SIGKILL);
  EXPECT_EQ(::kill(child->pid(), 0), -1);
}

TEST(Spawn, ADestroyedChildIsKilledAndReaped) {
  pid_t pid = -1;
  {
    auto child = Child::Spawn(Shell("exec sleep 1000"));
    ASSERT_TRUE(IsOk(child));
    pid = child->pid();
    EXPECT_FALSE(child->Wait(0ms).has_value());
  }
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(Spawn, TheDeathSignalComesWhenTheSpawningThreadEnds) {
  pid_t pid = -1;
  std::thread([&] {
    auto options = Shell("exec sleep 1000");
    options.death_signal = SIGTERM;
    auto child = Child::Spawn(options);
    if (child.ok()) pid = child->Release();
  }).join();
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
}

TEST(Spawn, TheChildStartsWithNoSignalBlockedAndSigpipeAtItsDefault) {
  // The parent ignores SIGPIPE and blocks SIGTERM in the spawning thread, as the daemons do.
  struct sigaction ignore {
  }, old_pipe{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old_pipe), 0);
  sigset_t term, old_mask;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &term, &old_mask), 0);
  // sed reads its own masks (a shell's would show what it blocks while it waits for sed).
  SpawnOptions options;
  options.argv = {"sed", "-n", "s/^\\(SigBlk\\|SigIgn\\):[[:space:]]*//p", "/proc/self/status"};
  const auto r = MustRun(options);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ASSERT_EQ(r.status.Code(), 0) << r.err.text;
  std::istringstream lines(r.out.text);
  std::string blocked, ignored;
  lines >> blocked >> ignored;
  EXPECT_EQ(blocked, "0000000000000000");
  EXPECT_EQ(std::stoull(ignored, nullptr, 16) & (1ULL << (SIGPIPE - 1)), 0U) << ignored;
}

TEST(Spawn, ManyThreadsSpawnAtOnceAndEachGetsItsOwnChild) {
  // The child shares the parent's memory until it execs: spawns from many threads at once
  // must not disturb each other or the parent.
  constexpr int kThreads = 8, kEach = 40;
  std::vector<std::string> failures[kThreads];
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < kEach; ++i) {
        SpawnOptions o;
        const std::string word = std::to_string(t) + "-" + std::to_string(i);
        o.argv = {"echo", word};  // found through $PATH
        o.env = std::map<std::string, std::string>{{"PATH", "/usr/bin:/bin"}};
        auto r = process::Run(o, std::nullopt, 5s);
        if (!r.ok() || r->out.text != word + "\n" || !r->status.Success()) {
          failures[t].push_back(word + ": " + (r.ok() ? r->out.text : r.status().message()));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& f : failures) EXPECT_TRUE(f.empty()) << f.front();
}

TEST(Spawn, DropsPrivilegesWhenRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  auto options = Shell("echo $(id -u) $(id -g) $(id -G)");
  options.run_as = SpawnOptions::User{65534, 65534};
  EXPECT_EQ(MustRun(options).out.text, "65534 65534 65534\n");
}

}  // namespace
}  // namespace jobnik::process
