// Unit tests of the circuit breaker (lib/client/circuit_breaker.h) on virtual time.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "client/circuit_breaker.h"
#include "client/clock.h"

namespace jobnik::client {
namespace {

using std::chrono::seconds;

CircuitBreakerOptions Options(int min_calls, double ratio, seconds window = seconds(60), seconds reset = seconds(10)) {
  return {true, window, min_calls, ratio, reset};
}

// Records "from>to" for every change.
struct Changes {
  std::vector<std::string> seen;
  CircuitBreaker::OnChange Hook() {
    return [this](BreakerState from, BreakerState to) {
      seen.push_back(std::string(ToString(from)) + ">" + std::string(ToString(to)));
    };
  }
};

TEST(CircuitBreakerTest, OpensAtTheFailureRatioOnlyWithEnoughCalls) {
  FakeClock clock;
  Changes changes;
  CircuitBreaker b(Options(4, 0.75), clock, changes.Hook());
  for (int i = 0; i < 3; ++i) b.Record(b.Allow(), false);
  EXPECT_EQ(b.state(), BreakerState::kClosed);  // 3 failures, but fewer than 4 calls
  b.Record(b.Allow(), true);                    // 3 of 4 failed: 0.75
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  EXPECT_EQ(b.Allow(), Permit::kRefused);
  EXPECT_EQ(changes.seen, (std::vector<std::string>{"closed>open"}));
}

TEST(CircuitBreakerTest, StaysClosedBelowTheRatio) {
  FakeClock clock;
  CircuitBreaker b(Options(4, 0.5), clock);
  for (int i = 0; i < 100; ++i) b.Record(b.Allow(), i % 3 == 0);  // 2 of 3 fail: above
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  CircuitBreaker c(Options(4, 0.5), clock);
  for (int i = 0; i < 100; ++i) c.Record(c.Allow(), i % 3 != 2);  // 1 of 3 fails: below
  EXPECT_EQ(c.state(), BreakerState::kClosed);
}

TEST(CircuitBreakerTest, OutcomesOlderThanTheWindowNoLongerCount) {
  FakeClock clock;
  CircuitBreaker b(Options(3, 1.0, seconds(10)), clock);
  b.Record(b.Allow(), false);
  b.Record(b.Allow(), false);
  clock.Advance(seconds(11));
  b.Record(b.Allow(), false);  // the first two left the window: 1 call
  b.Record(b.Allow(), false);
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  b.Record(b.Allow(), false);  // 3 in the window, all failed
  EXPECT_EQ(b.state(), BreakerState::kOpen);
}

TEST(CircuitBreakerTest, AfterTheResetTimeoutExactlyOneProbeDecides) {
  FakeClock clock;
  Changes changes;
  CircuitBreaker b(Options(1, 1.0, seconds(60), seconds(10)), clock, changes.Hook());
  b.Record(b.Allow(), false);
  ASSERT_EQ(b.state(), BreakerState::kOpen);
  clock.Advance(seconds(4));
  EXPECT_EQ(b.Allow(), Permit::kRefused);
  EXPECT_EQ(b.RetryIn(), seconds(6));
  clock.Advance(seconds(6));
  const Permit probe = b.Allow();
  EXPECT_EQ(probe, Permit::kProbe);
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen);
  EXPECT_EQ(b.Allow(), Permit::kRefused);  // one probe at a time
  b.Record(probe, false);                  // the probe failed: a fresh open period
  EXPECT_EQ(b.state(), BreakerState::kOpen);
  EXPECT_EQ(b.RetryIn(), seconds(10));
  clock.Advance(seconds(10));
  const Permit second = b.Allow();
  ASSERT_EQ(second, Permit::kProbe);
  b.Record(second, true);
  EXPECT_EQ(b.state(), BreakerState::kClosed);
  EXPECT_EQ(b.Allow(), Permit::kCall);
  EXPECT_EQ(b.RetryIn(), seconds(0));
  EXPECT_EQ(changes.seen, (std::vector<std::string>{"closed>open", "open>half-open", "half-open>open", "open>half-open",
                                                    "half-open>closed"}));
}

TEST(CircuitBreakerTest, ACancelledProbeGoesToTheNextCallerAndStragglersDoNotDecide) {
  FakeClock clock;
  CircuitBreaker b(Options(1, 1.0, seconds(60), seconds(10)), clock);
  const Permit early = b.Allow();  // let through while closed, ends after the breaker opened
  b.Record(b.Allow(), false);
  clock.Advance(seconds(10));
  const Permit probe = b.Allow();
  ASSERT_EQ(probe, Permit::kProbe);
  b.Cancel(probe);  // e.g. the claim found nothing to do
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen);
  const Permit next = b.Allow();
  ASSERT_EQ(next, Permit::kProbe);
  b.Record(early, true);  // a straggler's success does not close it
  EXPECT_EQ(b.state(), BreakerState::kHalfOpen);
  EXPECT_EQ(b.Allow(), Permit::kRefused);
  b.Record(next, true);
  EXPECT_EQ(b.state(), BreakerState::kClosed);
}

TEST(CircuitBreakerTest, ADisabledBreakerNeverRefuses) {
  FakeClock clock;
  auto options = Options(1, 0.1);
  options.enabled = false;
  CircuitBreaker b(options, clock);
  for (int i = 0; i < 50; ++i) {
    const Permit p = b.Allow();
    ASSERT_EQ(p, Permit::kCall);
    b.Record(p, false);
  }
  EXPECT_EQ(b.state(), BreakerState::kClosed);
}

}  // namespace
}  // namespace jobnik::client
