#include "process/signals.h"

#include <pthread.h>
#include <cerrno>
#include <ctime>

namespace jobnik::process {

ShutdownSignals::ShutdownSignals(Hangup hangup) {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  if (hangup == Hangup::kReceive) sigaddset(&set_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

ShutdownSignals::Outcome ShutdownSignals::Wait(std::chrono::microseconds tick,
                                               const std::function<bool()>& on_tick) const {
  const long long usec = tick.count() > 0 ? tick.count() : 1;
  for (;;) {
    timespec timeout{};
    timeout.tv_sec = static_cast<time_t>(usec / 1000000);
    timeout.tv_nsec = static_cast<long>((usec % 1000000) * 1000);
    const int signal = sigtimedwait(&set_, nullptr, &timeout);
    if (signal > 0) return {signal};
    if (signal < 0 && errno == EINTR) continue;
    if (on_tick && !on_tick()) return {0};
  }
}

}  // namespace jobnik::process
