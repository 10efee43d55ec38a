// Time as a seam: what the client's retries, backoff and worker loop read the time from
// and sleep with, so that unit tests run them on virtual time (FakeClock) without
// sleeping.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <stop_token>
#include <vector>

namespace jobnik::client {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  // Monotonic time.
  virtual TimePoint Now() = 0;
  // Waits `d`, or less when `stop` is requested meanwhile (or already was). Returns true
  // when the whole time passed, false when it was cut short by `stop`.
  virtual bool SleepFor(Duration d, const std::stop_token& stop) = 0;
  bool SleepFor(Duration d) { return SleepFor(d, std::stop_token()); }
};

// steady_clock; SleepFor waits on a condition variable that a stop request wakes.
class RealClock final : public Clock {
 public:
  using Clock::SleepFor;
  TimePoint Now() override { return std::chrono::steady_clock::now(); }
  bool SleepFor(Duration d, const std::stop_token& stop) override;
};

// The process's RealClock.
Clock& SystemClock();

// Virtual time for tests: Now() starts at an arbitrary fixed point and moves only by
// Advance and SleepFor; SleepFor advances it at once by the whole duration (unless `stop`
// was already requested: then it returns false at once) and records it. Thread-safe.
class FakeClock final : public Clock {
 public:
  using Clock::SleepFor;
  TimePoint Now() override;
  bool SleepFor(Duration d, const std::stop_token& stop) override;

  void Advance(Duration d);
  // Every completed or cut-short SleepFor, in order.
  std::vector<Duration> sleeps() const;
  // Called (outside the clock's lock) at the start of every SleepFor with its duration, e.g.
  // to stop a worker after so many sleeps.
  void OnSleep(std::function<void(Duration)> hook);

 private:
  mutable std::mutex mu_;
  TimePoint now_ = TimePoint(std::chrono::hours(1000));
  std::vector<Duration> sleeps_;
  std::function<void(Duration)> on_sleep_;
};

}  // namespace jobnik::client
