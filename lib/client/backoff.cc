#include "client/backoff.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace jobnik::client {

Backoff::Backoff(BackoffOptions options, std::function<double()> uniform01)
    : options_(options), uniform01_(std::move(uniform01)) {
  options_.factor = std::max(options_.factor, 1.0);
  options_.initial = std::max(options_.initial, std::chrono::milliseconds(0));
  options_.max = std::max(options_.max, options_.initial);
}

std::chrono::milliseconds Backoff::Ceiling() const {
  const auto initial = static_cast<double>(options_.initial.count());
  const auto max = static_cast<double>(options_.max.count());
  // pow overflows to inf for large counts, which min() caps.
  const double ceiling = std::min(max, initial * std::pow(options_.factor, failures_));
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(ceiling));
}

std::chrono::milliseconds Backoff::Next() {
  const auto ceiling = Ceiling();
  if (failures_ < 1000) ++failures_;  // the ceiling is at max long before
  if (options_.jitter == Jitter::kNone || ceiling.count() == 0) return ceiling;
  // Seeded once per thread, not per Backoff: the worker makes one for every report.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  double u = uniform01_ ? uniform01_() : std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  u = std::clamp(u, 0.0, 1.0);
  // Uniform over the whole milliseconds 0..ceiling, both included.
  const auto n = static_cast<double>(ceiling.count() + 1);
  const auto ms = std::min(static_cast<std::chrono::milliseconds::rep>(u * n), ceiling.count());
  return std::chrono::milliseconds(ms);
}

}  // namespace jobnik::client
