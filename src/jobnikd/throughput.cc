#include "throughput.h"

namespace jobnik {

domain::Timestamp MinuteOf(domain::Timestamp t) {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::floor<std::chrono::minutes>(t));
}

void Throughput::Count(const std::string& stage_type, domain::TaskStatus status, domain::Timestamp now) {
  const bool completed = status == domain::TaskStatus::kCompleted;
  if (!completed && status != domain::TaskStatus::kFailed) return;
  const auto minute = MinuteOf(now);
  std::lock_guard lock(mu_);
  auto& [c, f] = counts_[{minute, stage_type}];
  ++(completed ? c : f);
}

std::vector<store::MinuteCount> Throughput::Take() {
  std::map<std::pair<domain::Timestamp, std::string>, std::pair<std::int64_t, std::int64_t>> taken;
  {
    std::lock_guard lock(mu_);
    taken.swap(counts_);
  }
  std::vector<store::MinuteCount> out;
  out.reserve(taken.size());
  for (const auto& [key, n] : taken) out.push_back({key.first, key.second, n.first, n.second});
  return out;
}

void Throughput::PutBack(const std::vector<store::MinuteCount>& counts) {
  std::lock_guard lock(mu_);
  for (const auto& m : counts) {
    auto& [c, f] = counts_[{m.minute, m.stage_type}];
    c += m.completed;
    f += m.failed;
  }
}

}  // namespace jobnik
