// Exponential backoff with full jitter: the n-th wait in a row (from 0) is drawn uniformly
// from [0, min(max, initial * factor^n)], so that many workers that found the queue empty
// at the same moment do not come back at the same moment. Reset() after a success.
#pragma once

#include <chrono>
#include <functional>

namespace jobnik::client {

enum class Jitter {
  kFull,  // uniform in [0, ceiling]
  kNone,  // exactly the ceiling (fixed pauses, e.g. the benchmark's)
};

struct BackoffOptions {
  std::chrono::milliseconds initial{1000};
  double factor = 2.0;  // >= 1
  std::chrono::milliseconds max{60000};
  Jitter jitter = Jitter::kFull;
};

class Backoff {
 public:
  // `uniform01` draws from [0, 1) (tests pass a fixed one); empty: a per-thread
  // pseudo-random generator seeded from std::random_device.
  explicit Backoff(BackoffOptions options, std::function<double()> uniform01 = {});

  // The wait before the next try, and counts one more failure.
  std::chrono::milliseconds Next();
  // The upper bound of the next Next() (before jitter).
  std::chrono::milliseconds Ceiling() const;
  // After a success: the next wait is drawn from [0, initial] again.
  void Reset() { failures_ = 0; }
  int failures() const { return failures_; }
  const BackoffOptions& options() const { return options_; }

 private:
  BackoffOptions options_;
  std::function<double()> uniform01_;
  int failures_ = 0;
};

}  // namespace jobnik::client
