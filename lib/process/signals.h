// The shutdown-signal wait loop of a program: SIGINT and SIGTERM (and SIGHUP, for a
// program that reloads on it) are blocked in every thread and received synchronously by one
// waiter, which meanwhile runs a periodic tick (systemd watchdog, health checks).
#pragma once

#include <chrono>
#include <csignal>
#include <functional>

namespace jobnik::process {

// Whether SIGHUP is received by Wait() (a reload) or keeps its default action.
enum class Hangup { kDefault, kReceive };

class ShutdownSignals {
 public:
  // Blocks SIGINT and SIGTERM (and SIGHUP with Hangup::kReceive) in the calling thread;
  // threads started afterwards inherit the mask. Construct it before starting any thread.
  // The mask stays blocked afterwards (a signal arriving during shutdown stays pending
  // instead of killing the process).
  explicit ShutdownSignals(Hangup hangup = Hangup::kDefault);

  // What ended Wait(): a signal, or the tick asking to stop.
  struct Outcome {
    int signal = 0;  // SIGINT, SIGTERM or (with Hangup::kReceive) SIGHUP; 0 when the tick stopped the wait
  };

  // Waits for SIGINT or SIGTERM (or SIGHUP, see above). Every `tick` without one, calls `on_tick` (when set);
  // when it returns false, stops waiting with signal 0. A signal already pending is
  // returned at once.
  Outcome Wait(std::chrono::microseconds tick, const std::function<bool()>& on_tick) const;

 private:
  sigset_t set_{};
};

}  // namespace jobnik::process
