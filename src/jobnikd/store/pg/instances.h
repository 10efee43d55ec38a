// Instances (store/instances.h) on PostgreSQL: the instance and instance_minute tables
// (schema/0010), statements in queries/instance.sql, on the store's pool.
#pragma once

#include "store/instances.h"
#include "store/pg/pool.h"

namespace jobnik::store::pg {

class PgInstances final : public Instances {
 public:
  // `pool` must outlive this.
  explicit PgInstances(Pool& pool) : pool_(pool) {}

  domain::Result<std::string> RegisterInstance(const InstanceInfo& info) override;
  domain::Result<bool> Heartbeat(const std::string& id, bool sweeper_leader,
                                 const std::vector<MinuteCount>& counts) override;
  domain::Status RecordSweep(const std::string& id, const SweepRecord& sweep) override;
  domain::Status RemoveInstance(const std::string& id) override;
  domain::Result<std::vector<Instance>> ListInstances(std::chrono::seconds gone_after) override;
  domain::Result<std::vector<MinuteCount>> Throughput(domain::Timestamp since) override;
  domain::Result<std::int64_t> DeleteOld(domain::Timestamp gone_before, domain::Timestamp minutes_before) override;

 private:
  Pool& pool_;
};

}  // namespace jobnik::store::pg
