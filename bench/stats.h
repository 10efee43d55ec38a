// Figures the benchmark tools (loadgen.cc, siege.cc) print: rounding and latency
// percentiles.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace jobnik::bench {

inline double Round(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

// Latency percentiles (milliseconds, nearest rank) of samples in microseconds, as a JSON
// object of the caller's JSON type: count, and when there are samples mean, p50, p90,
// p99, p999 and max.
template <typename Json>
Json Percentiles(std::vector<float> us) {
  Json out = Json::object();
  out["count"] = us.size();
  if (us.empty()) return out;
  std::sort(us.begin(), us.end());
  const auto at = [&us](double q) {
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(us.size())));
    rank = std::clamp<std::size_t>(rank, 1, us.size());
    return Round(us[rank - 1] / 1000.0, 3);
  };
  double sum = 0;
  for (float v : us) sum += v;
  out["mean"] = Round(sum / static_cast<double>(us.size()) / 1000.0, 3);
  out["p50"] = at(0.50);
  out["p90"] = at(0.90);
  out["p99"] = at(0.99);
  out["p999"] = at(0.999);
  out["max"] = Round(us.back() / 1000.0, 3);
  return out;
}

}  // namespace jobnik::bench
