// The tasks this instance saw reach COMPLETED or FAILED, per minute and stage type, counted
// in memory as reports are taken (a lock and a map update, no statement) and handed to the
// heartbeat (services/heartbeat.h), which adds them to the cluster-wide counts
// (store/instances.h).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "domain/model.h"
#include "domain/status.h"
#include "domain/time.h"
#include "store/instances.h"

namespace jobnik {

class Throughput {
 public:
  // Counts a task of `stage_type` that is now `status` at `now` (only COMPLETED and FAILED
  // count). Thread-safe.
  void Count(const std::string& stage_type, domain::TaskStatus status, domain::Timestamp now);
  // The counts so far, which are forgotten here (the caller puts them back if it cannot
  // store them).
  std::vector<store::MinuteCount> Take();
  // Adds counts back (a heartbeat that failed).
  void PutBack(const std::vector<store::MinuteCount>& counts);

 private:
  std::mutex mu_;
  std::map<std::pair<domain::Timestamp, std::string>, std::pair<std::int64_t, std::int64_t>> counts_;
};

// The start of the minute of `t` (UTC).
domain::Timestamp MinuteOf(domain::Timestamp t);

}  // namespace jobnik
