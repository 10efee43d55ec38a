#include "services/heartbeat.h"

#include <spdlog/spdlog.h>

namespace jobnik::services {

InstanceHeartbeat::InstanceHeartbeat(store::Instances& instances, Throughput& throughput,
                                     std::function<bool()> is_leader, HeartbeatOptions options)
    : instances_(instances), throughput_(throughput), is_leader_(std::move(is_leader)), options_(std::move(options)) {}

InstanceHeartbeat::~InstanceHeartbeat() {
  Stop();
}

std::string InstanceHeartbeat::Id() {
  std::lock_guard lock(mu_);
  return id_;
}

void InstanceHeartbeat::Register() {
  auto id = instances_.RegisterInstance(options_.info);
  if (!id.ok()) {
    spdlog::warn("instance: could not register this instance: {}", id.status().message());
    return;
  }
  spdlog::info("instance: registered as {} ({} pid {}, {})", *id, options_.info.host, options_.info.pid,
               options_.info.listen);
  std::lock_guard lock(mu_);
  id_ = *id;
}

domain::Status InstanceHeartbeat::Beat() {
  if (Id().empty()) Register();
  const std::string id = Id();
  if (id.empty()) return domain::Status(domain::ErrorCode::kUnknown, "instance: not registered");
  const bool leader = is_leader_ && is_leader_();
  auto counts = throughput_.Take();
  auto seen = instances_.Heartbeat(id, leader, counts);
  if (seen.ok() && !*seen) {
    // The row was deleted (not seen for long): register again and beat under the new id.
    spdlog::warn("instance: the row of instance {} is gone; registering again", id);
    {
      std::lock_guard lock(mu_);
      id_.clear();
    }
    Register();
    const std::string again = Id();
    if (!again.empty()) seen = instances_.Heartbeat(again, leader, counts);
  }
  if (!seen.ok() || !*seen) {
    throughput_.PutBack(counts);
    return seen.ok() ? domain::Status(domain::ErrorCode::kUnknown, "instance: not registered") : seen.status();
  }
  return domain::Status::Ok();
}

void InstanceHeartbeat::RecordSweep(const store::SweepRecord& sweep) {
  const std::string id = Id();
  if (id.empty()) return;
  if (auto s = instances_.RecordSweep(id, sweep); !s.ok()) {
    spdlog::warn("instance: could not record the sweep on instance {}: {}", id, s.message());
  }
}

void InstanceHeartbeat::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, options_.interval, [this] { return stopping_; })) {
    lock.unlock();
    if (auto s = Beat(); !s.ok()) spdlog::warn("instance: heartbeat: {}", s.message());
    lock.lock();
  }
}

void InstanceHeartbeat::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void InstanceHeartbeat::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  // The last counts, then the row (its counts stay).
  if (auto s = Beat(); !s.ok()) spdlog::warn("instance: last heartbeat: {}", s.message());
  const std::string id = Id();
  if (id.empty()) return;
  if (auto s = instances_.RemoveInstance(id); !s.ok()) {
    spdlog::warn("instance: could not remove instance {}: {}", id, s.message());
    return;
  }
  spdlog::info("instance: removed instance {}", id);
}

}  // namespace jobnik::services
