// Unit tests of lib/process/signals.h: the shutdown-signal wait loop.
#include <gtest/gtest.h>

#include <pthread.h>
#include <csignal>

#include "process/signals.h"

namespace jobnik::process {
namespace {

using namespace std::chrono_literals;

// Restores the thread's signal mask (ShutdownSignals leaves SIGINT/SIGTERM blocked).
class SignalsTest : public testing::Test {
 protected:
  void SetUp() override { pthread_sigmask(SIG_SETMASK, nullptr, &saved_); }
  void TearDown() override { pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  sigset_t saved_{};
};

TEST_F(SignalsTest, ReturnsAPendingSigterm) {
  ShutdownSignals signals;
  pthread_kill(pthread_self(), SIGTERM);  // blocked: stays pending instead of killing us
  int ticks = 0;
  EXPECT_EQ(signals.Wait(1h, [&] { return ++ticks > 0; }).signal, SIGTERM);
  EXPECT_EQ(ticks, 0);
}

TEST_F(SignalsTest, ReturnsSigintSentWhileTicking) {
  ShutdownSignals signals;
  int ticks = 0;
  const auto outcome = signals.Wait(1ms, [&] {
    if (++ticks == 3) pthread_kill(pthread_self(), SIGINT);
    return true;
  });
  EXPECT_EQ(outcome.signal, SIGINT);
  EXPECT_EQ(ticks, 3);
}

TEST_F(SignalsTest, ReturnsSighupWhenAskedToReceiveIt) {
  ShutdownSignals signals(Hangup::kReceive);
  pthread_kill(pthread_self(), SIGHUP);  // blocked: stays pending instead of ending the process
  EXPECT_EQ(signals.Wait(1h, nullptr).signal, SIGHUP);
}

TEST_F(SignalsTest, LeavesSighupAloneByDefault) {
  ShutdownSignals signals;
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  EXPECT_EQ(sigismember(&mask, SIGHUP), 0);
  EXPECT_EQ(sigismember(&mask, SIGTERM), 1);
}

TEST_F(SignalsTest, TheTickStopsTheWait) {
  ShutdownSignals signals;
  int ticks = 0;
  EXPECT_EQ(signals.Wait(1ms, [&] { return ++ticks < 5; }).signal, 0);
  EXPECT_EQ(ticks, 5);
}

}  // namespace
}  // namespace jobnik::process
