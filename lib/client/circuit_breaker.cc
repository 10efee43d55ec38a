#include "client/circuit_breaker.h"

#include <utility>

namespace jobnik::client {

std::string_view ToString(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half-open";
  }
  return "unknown";
}

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options, Clock& clock, OnChange on_change)
    : options_(options), clock_(clock), on_change_(std::move(on_change)) {}

void CircuitBreaker::Trim(Clock::TimePoint now) {
  while (!window_.empty() && now - window_.front().at > options_.window) {
    if (!window_.front().success) --failures_;
    window_.pop_front();
  }
}

void CircuitBreaker::Open(Clock::TimePoint now) {
  state_ = BreakerState::kOpen;
  opened_at_ = now;
  probe_out_ = false;
  window_.clear();
  failures_ = 0;
}

void CircuitBreaker::Notify(BreakerState from, BreakerState to) const {
  if (from != to && on_change_) on_change_(from, to);
}

Permit CircuitBreaker::Allow() {
  if (!options_.enabled) return Permit::kCall;
  BreakerState from{};
  {
    std::lock_guard lock(mu_);
    switch (state_) {
      case BreakerState::kClosed:
        return Permit::kCall;
      case BreakerState::kHalfOpen:
        if (probe_out_) return Permit::kRefused;
        probe_out_ = true;
        return Permit::kProbe;
      case BreakerState::kOpen:
        if (clock_.Now() - opened_at_ < options_.reset_timeout) return Permit::kRefused;
        from = state_;
        state_ = BreakerState::kHalfOpen;
        probe_out_ = true;
        break;
    }
  }
  Notify(from, BreakerState::kHalfOpen);
  return Permit::kProbe;
}

void CircuitBreaker::Record(Permit permit, bool success) {
  if (!options_.enabled || permit == Permit::kRefused) return;
  BreakerState from{};
  BreakerState to{};
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.Now();
    from = state_;
    switch (state_) {
      case BreakerState::kHalfOpen:
        if (permit != Permit::kProbe) return;
        probe_out_ = false;
        if (success) {
          state_ = BreakerState::kClosed;
          window_.clear();
          failures_ = 0;
        } else {
          Open(now);
        }
        break;
      case BreakerState::kOpen:
        // A call allowed before the breaker opened ended now: already counted against it.
        return;
      case BreakerState::kClosed:
        window_.push_back({now, success});
        if (!success) ++failures_;
        Trim(now);
        if (static_cast<int>(window_.size()) >= options_.min_calls &&
            static_cast<double>(failures_) >= options_.failure_ratio * static_cast<double>(window_.size())) {
          Open(now);
        }
        break;
    }
    to = state_;
  }
  Notify(from, to);
}

void CircuitBreaker::Cancel(Permit permit) {
  if (!options_.enabled || permit != Permit::kProbe) return;
  std::lock_guard lock(mu_);
  if (state_ == BreakerState::kHalfOpen) probe_out_ = false;
}

Clock::Duration CircuitBreaker::RetryIn(Clock::Duration probe_wait) const {
  if (!options_.enabled) return Clock::Duration::zero();
  std::lock_guard lock(mu_);
  switch (state_) {
    case BreakerState::kClosed:
      return Clock::Duration::zero();
    case BreakerState::kHalfOpen:
      return probe_wait;
    case BreakerState::kOpen: {
      const auto left = opened_at_ + options_.reset_timeout - clock_.Now();
      return left > Clock::Duration::zero() ? left : Clock::Duration::zero();
    }
  }
  return probe_wait;
}

BreakerState CircuitBreaker::state() const {
  if (!options_.enabled) return BreakerState::kClosed;
  std::lock_guard lock(mu_);
  return state_;
}

}  // namespace jobnik::client
