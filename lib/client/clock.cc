#include "client/clock.h"

#include <condition_variable>

namespace jobnik::client {

bool RealClock::SleepFor(Duration d, const std::stop_token& stop) {
  if (stop.stop_requested()) return false;
  if (d <= Duration::zero()) return true;
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  // The predicate never becomes true: only the time or a stop request ends the wait.
  cv.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

Clock& SystemClock() {
  static RealClock clock;
  return clock;
}

Clock::TimePoint FakeClock::Now() {
  std::lock_guard lock(mu_);
  return now_;
}

bool FakeClock::SleepFor(Duration d, const std::stop_token& stop) {
  std::function<void(Duration)> hook;
  {
    std::lock_guard lock(mu_);
    hook = on_sleep_;
  }
  if (hook) hook(d);
  std::lock_guard lock(mu_);
  sleeps_.push_back(d);
  if (stop.stop_requested()) return false;
  if (d > Duration::zero()) now_ += d;
  return true;
}

void FakeClock::Advance(Duration d) {
  std::lock_guard lock(mu_);
  now_ += d;
}

std::vector<Clock::Duration> FakeClock::sleeps() const {
  std::lock_guard lock(mu_);
  return sleeps_;
}

void FakeClock::OnSleep(std::function<void(Duration)> hook) {
  std::lock_guard lock(mu_);
  on_sleep_ = std::move(hook);
}

}  // namespace jobnik::client
