// A circuit breaker over a rolling window of call outcomes.
//
//   closed     calls go out; each outcome is recorded. When the window (the last
//              `window` of time) holds at least `min_calls` outcomes and the share of
//              failures among them reaches `failure_ratio`, the breaker opens.
//   open       no call goes out for `reset_timeout`; then the breaker is half-open.
//   half-open  exactly one call (the probe) goes out; its success closes the breaker
//              (with an empty window), its failure opens it again for `reset_timeout`.
//
// The worker loop (worker.h) keeps two: one over claims (a failing server or network) and
// one over handlers (a broken handler or host: full disk, missing binary), so that neither
// hammers a server that cannot answer nor burns through a queue failing every task.
// Thread-safe: the slots of a worker share their breakers. Time comes from a Clock.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>

#include "client/clock.h"

namespace jobnik::client {

struct CircuitBreakerOptions {
  bool enabled = true;
  Clock::Duration window = std::chrono::seconds(60);
  int min_calls = 10;          // fewer outcomes in the window never open it
  double failure_ratio = 0.5;  // in (0, 1]
  Clock::Duration reset_timeout = std::chrono::seconds(30);
};

enum class BreakerState { kClosed, kOpen, kHalfOpen };
std::string_view ToString(BreakerState s);

// What Allow() granted: nothing, an ordinary call, or the half-open probe.
enum class Permit { kRefused, kCall, kProbe };

class CircuitBreaker {
 public:
  // Called (under no lock) on every change of state.
  using OnChange = std::function<void(BreakerState from, BreakerState to)>;

  // `clock` must outlive the breaker.
  explicit CircuitBreaker(CircuitBreakerOptions options, Clock& clock = SystemClock(), OnChange on_change = {});

  // Whether a call may go out now. In the half-open state the first caller gets the probe
  // and must end it with Record() or Cancel(); the others are refused until it ends.
  Permit Allow();
  // The outcome of a call Allow() permitted. In the half-open state only the probe's
  // outcome counts (a call let through before the breaker opened proves nothing).
  void Record(Permit permit, bool success);
  // A permitted call that was not made after all (e.g. nothing to do): a probe goes back
  // to the next caller; nothing is recorded.
  void Cancel(Permit permit);
  // How long a refused caller should wait before asking again: the rest of the open
  // period, or `probe_wait` while a probe is out.
  Clock::Duration RetryIn(Clock::Duration probe_wait = std::chrono::milliseconds(200)) const;

  BreakerState state() const;
  const CircuitBreakerOptions& options() const { return options_; }

 private:
  struct Outcome {
    Clock::TimePoint at;
    bool success;
  };
  // Under mu_: drops the outcomes older than the window.
  void Trim(Clock::TimePoint now);
  // Under mu_: opens the breaker for a fresh open period, with an empty window.
  void Open(Clock::TimePoint now);
  void Notify(BreakerState from, BreakerState to) const;

  const CircuitBreakerOptions options_;
  Clock& clock_;
  const OnChange on_change_;
  mutable std::mutex mu_;
  BreakerState state_ = BreakerState::kClosed;
  std::deque<Outcome> window_;
  int failures_ = 0;  // in window_
  Clock::TimePoint opened_at_{};
  bool probe_out_ = false;
};

}  // namespace jobnik::client
