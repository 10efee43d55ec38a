// The jobnikd instances on one database (extension; docs/design.md, "Instances and
// throughput"): each registers itself at start, refreshes its row with a heartbeat and
// removes it on a clean stop; the sweeper's leader marks its row and records its last
// sweep there. With each heartbeat an instance also adds the tasks it saw reach
// COMPLETED or FAILED, per minute and stage type, to the cluster-wide counts, which the
// dashboard reads as the completion rate (never written by a report itself).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/error.h"
#include "domain/model.h"
#include "domain/time.h"

namespace jobnik::store {

// What an instance says of itself when it registers.
struct InstanceInfo {
  std::string host;
  int pid = 0;
  std::string listen;  // the address it serves on (host:port)
  std::string version;
};

// One sweep of the leader (services/sweeper.h): when it started, how long it took, and
// what it did.
struct SweepRecord {
  domain::Timestamp at{};
  std::chrono::milliseconds duration{0};
  std::int64_t tasks_failed = 0;
  std::int64_t keys_expired = 0;
  std::int64_t jobs_pruned = 0;
};

struct Instance {
  std::string id;
  InstanceInfo info;
  domain::Timestamp started_at{};
  domain::Timestamp seen_at{};
  bool gone = false;            // not seen for longer than the `gone_after` of ListInstances
  bool sweeper_leader = false;  // the leader as of its last heartbeat (never a gone one)
  std::optional<SweepRecord> last_sweep;
};

// Tasks that reached COMPLETED or FAILED in one minute (its start, whole minutes UTC), of
// one stage type.
struct MinuteCount {
  domain::Timestamp minute{};
  std::string stage_type;
  std::int64_t completed = 0;
  std::int64_t failed = 0;
};

class Instances {
 public:
  virtual ~Instances() = default;

  // Adds this instance's row (started and seen now). Returns its id.
  virtual domain::Result<std::string> RegisterInstance(const InstanceInfo& info) = 0;
  // One transaction: marks instance `id` seen now and whether it leads the sweeper (when
  // it does, no other row is marked), and adds `counts` to the cluster-wide minute counts.
  // Returns false, and adds nothing, when its row is gone (deleted as long gone): register
  // again.
  virtual domain::Result<bool> Heartbeat(const std::string& id, bool sweeper_leader,
                                         const std::vector<MinuteCount>& counts) = 0;
  // Records the leader's sweep on its row, and marks that row as the leader's (no other).
  virtual domain::Status RecordSweep(const std::string& id, const SweepRecord& sweep) = 0;
  // Deletes the row of `id` (a clean stop); its minute counts stay.
  virtual domain::Status RemoveInstance(const std::string& id) = 0;
  // Every row, oldest start first; `gone`: not seen for longer than `gone_after`, by the
  // database's clock.
  virtual domain::Result<std::vector<Instance>> ListInstances(std::chrono::seconds gone_after) = 0;
  // The minute counts summed over the instances, from minute `since` on, by stage type
  // and minute.
  virtual domain::Result<std::vector<MinuteCount>> Throughput(domain::Timestamp since) = 0;
  // Deletes the rows not seen since before `gone_before` and the minute counts older than
  // `minutes_before`. Returns how many rows of both it deleted.
  virtual domain::Result<std::int64_t> DeleteOld(domain::Timestamp gone_before, domain::Timestamp minutes_before) = 0;
};

}  // namespace jobnik::store
