// The command lines of jobnikctl and jobnik-worker, run in-process through their Main():
// --version, --help, usage errors and `jobnikctl ping` against nothing, with the exit
// codes of lib/process/exit_code.h.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sstream>
#include <string>
#include <vector>

#include "cli.h"
#include "common/version.h"
#include "process/exit_code.h"
#include "worker.h"

namespace jobnik {
namespace {

using process::ExitCode;
using process::ToInt;

struct Outcome {
  int code = -1;
  std::string out, err;
};

Outcome Call(int (*program)(int, char**, std::ostream&, std::ostream&), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::ostringstream out, err;
  Outcome o;
  o.code = program(static_cast<int>(args.size()), argv.data(), out, err);
  o.out = out.str();
  o.err = err.str();
  return o;
}

TEST(Programs, AnswerVersionAndHelpWithExitZero) {
  for (auto [program, name] : {std::pair{&ctl::Main, "jobnikctl"}, std::pair{&worker::Main, "jobnik-worker"}}) {
    auto o = Call(program, {name, "--version"});
    EXPECT_EQ(o.code, ToInt(ExitCode::kOk));
    EXPECT_EQ(o.out, std::string(name) + " " + std::string(Version()) + "\n");
    o = Call(program, {name, "--help"});
    EXPECT_EQ(o.code, ToInt(ExitCode::kOk));
    EXPECT_NE(o.out.find("Usage"), std::string::npos) << o.out;
  }
}

TEST(Programs, AnUnknownOptionIsAUsageError) {
  for (const auto& o : {Call(&ctl::Main, {"jobnikctl", "ping", "--no-such-option"}),
                        Call(&worker::Main, {"jobnik-worker", "--no-such-option"})}) {
    EXPECT_EQ(o.code, ToInt(ExitCode::kUsage));
    EXPECT_NE(o.err.find("--no-such-option"), std::string::npos) << o.err;
    EXPECT_EQ(o.out, "");
  }
  const auto o = Call(&ctl::Main, {"jobnikctl"});
  EXPECT_EQ(o.code, ToInt(ExitCode::kUsage));
  EXPECT_NE(o.err.find("A subcommand is required"), std::string::npos) << o.err;
}

TEST(Programs, JobnikctlNamesAnUnknownCommand) {
  auto o = Call(&ctl::Main, {"jobnikctl", "--url", "http://127.0.0.1:1", "frobnicate"});
  EXPECT_EQ(o.code, ToInt(ExitCode::kUsage));
  EXPECT_EQ(o.err.rfind("jobnikctl: unknown command 'frobnicate' (commands: health, ", 0), 0u) << o.err;
  o = Call(&ctl::Main, {"jobnikctl", "get", "-o", "json", "jobs", "x"});
  EXPECT_EQ(o.code, ToInt(ExitCode::kUsage));
  EXPECT_EQ(o.err, "jobnikctl: unknown get command 'jobs' (expected one of: job, stage, task)\n");
}

TEST(Programs, JobnikctlTakesGlobalOptionsAfterTheCommand) {
  // --url after the command is still jobnikctl's: nothing listens there.
  const auto o = Call(&ctl::Main, {"jobnikctl", "get", "job", "x", "--url", "http://127.0.0.1:1/v1", "-o", "json"});
  EXPECT_EQ(o.code, ToInt(ExitCode::kUnavailable)) << o.err;
  EXPECT_EQ(o.err.rfind("jobnikctl: cannot reach jobnikd", 0), 0u) << o.err;
}

TEST(Programs, PingOfNothingListeningIsUnavailable) {
  // A bound socket that does not listen: connections to its port are refused.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const auto o = Call(&ctl::Main, {"jobnikctl", "--url", url, "ping"});
  ::close(fd);
  EXPECT_EQ(o.code, ToInt(ExitCode::kUnavailable));
  EXPECT_EQ(o.err.rfind("jobnikctl: ", 0), 0u) << o.err;
  EXPECT_EQ(o.out, "");
}

}  // namespace
}  // namespace jobnik
