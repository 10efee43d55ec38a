// The instance heartbeat (docs/design.md, "Instances and throughput"): registers this
// jobnikd in the instance table at start, and every `interval` marks it seen, says whether
// it leads the sweeper, and adds the completion counts taken since the last beat
// (Throughput) to the cluster-wide minute counts; one short transaction per beat, off the
// request paths. Stop() makes a last beat and removes the row.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "store/instances.h"
#include "throughput.h"

namespace jobnik::services {

struct HeartbeatOptions {
  std::chrono::milliseconds interval{10000};
  store::InstanceInfo info;
};

class InstanceHeartbeat {
 public:
  // `instances` and `throughput` must outlive this. `is_leader` (may be empty: never)
  // tells at each beat whether this instance leads the sweeper.
  InstanceHeartbeat(store::Instances& instances, Throughput& throughput, std::function<bool()> is_leader,
                    HeartbeatOptions options);
  ~InstanceHeartbeat();
  InstanceHeartbeat(const InstanceHeartbeat&) = delete;
  InstanceHeartbeat& operator=(const InstanceHeartbeat&) = delete;

  // Adds this instance's row; an error is logged and tried again at the next beat.
  void Register();
  // One beat now: registers again if the row is gone; counts that could not be stored are
  // kept for the next beat.
  domain::Status Beat();
  // Records the sweeper's turn on this instance's row (any thread).
  void RecordSweep(const store::SweepRecord& sweep);

  // Starts the background beats; Stop() ends them with a last beat and deletes the row.
  void Start();
  void Stop();

  // This instance's id ("" until registered).
  std::string Id();

 private:
  void Loop();

  store::Instances& instances_;
  Throughput& throughput_;
  std::function<bool()> is_leader_;
  const HeartbeatOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::string id_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace jobnik::services
