#include "store/pg/instances.h"

#include <nlohmann/json.hpp>

#include "store/pg/rows.h"
#include "store/pg/transaction.h"

namespace jobnik::store::pg {
namespace {

std::optional<std::int64_t> OptInt(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<std::int64_t>(f.as<std::int64_t>());
}

}  // namespace

domain::Result<std::string> PgInstances::RegisterInstance(const InstanceInfo& info) {
  return RunTransaction<std::string, pqxx::nontransaction>(
      pool_, "InstanceRegister", [&](pqxx::nontransaction& tx) -> domain::Result<std::string> {
        return tx.exec_prepared1("InstanceRegister", info.host, info.pid, info.listen, info.version)["id"]
            .as<std::string>();
      });
}

domain::Result<bool> PgInstances::Heartbeat(const std::string& id, bool sweeper_leader,
                                            const std::vector<MinuteCount>& counts) {
  return RunTransaction<bool>(pool_, "InstanceHeartbeat", [&](pqxx::work& tx) -> domain::Result<bool> {
    if (tx.exec_prepared("InstanceSeen", id, sweeper_leader).empty()) return false;
    if (sweeper_leader) tx.exec_prepared0("InstanceUnmarkOthers", id);
    if (!counts.empty()) {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& c : counts) {
        rows.push_back({{"minute", domain::FormatTime(c.minute)},
                        {"stage_type", c.stage_type},
                        {"completed", c.completed},
                        {"failed", c.failed}});
      }
      tx.exec_prepared0("InstanceAddMinutes", id, rows.dump());
    }
    return true;
  });
}

domain::Status PgInstances::RecordSweep(const std::string& id, const SweepRecord& sweep) {
  return RunTransaction<bool>(pool_, "InstanceRecordSweep",
                              [&](pqxx::work& tx) -> domain::Result<bool> {
                                tx.exec_prepared0("InstanceRecordSweep", id, domain::FormatTime(sweep.at),
                                                  static_cast<std::int64_t>(sweep.duration.count()), sweep.tasks_failed,
                                                  sweep.keys_expired, sweep.jobs_pruned);
                                tx.exec_prepared0("InstanceUnmarkOthers", id);
                                return true;
                              })
      .status();
}

domain::Status PgInstances::RemoveInstance(const std::string& id) {
  return RunTransaction<bool, pqxx::nontransaction>(pool_, "InstanceRemove",
                                                    [&](pqxx::nontransaction& tx) -> domain::Result<bool> {
                                                      tx.exec_prepared0("InstanceRemove", id);
                                                      return true;
                                                    })
      .status();
}

domain::Result<std::vector<Instance>> PgInstances::ListInstances(std::chrono::seconds gone_after) {
  return RunTransaction<std::vector<Instance>, pqxx::nontransaction>(
      pool_, "InstanceList", [&](pqxx::nontransaction& tx) -> domain::Result<std::vector<Instance>> {
        std::vector<Instance> out;
        for (const auto& row : tx.exec_prepared("InstanceList", static_cast<double>(gone_after.count()))) {
          Instance i;
          i.id = row["id"].as<std::string>();
          i.info = {row["host"].as<std::string>(), row["pid"].as<int>(), row["listen"].as<std::string>(),
                    row["version"].as<std::string>()};
          i.started_at = ParsePgTime(row["started_at"].c_str());
          i.seen_at = ParsePgTime(row["seen_at"].c_str());
          i.gone = row["gone"].as<bool>();
          i.sweeper_leader = row["sweeper_leader"].as<bool>() && !i.gone;
          if (!row["last_sweep_at"].is_null()) {
            i.last_sweep = SweepRecord{ParsePgTime(row["last_sweep_at"].c_str()),
                                       std::chrono::milliseconds(OptInt(row["last_sweep_ms"]).value_or(0)),
                                       OptInt(row["last_sweep_tasks_failed"]).value_or(0),
                                       OptInt(row["last_sweep_keys_expired"]).value_or(0),
                                       OptInt(row["last_sweep_jobs_pruned"]).value_or(0)};
          }
          out.push_back(std::move(i));
        }
        return out;
      });
}

domain::Result<std::vector<MinuteCount>> PgInstances::Throughput(domain::Timestamp since) {
  return RunTransaction<std::vector<MinuteCount>, pqxx::nontransaction>(
      pool_, "InstanceThroughput", [&](pqxx::nontransaction& tx) -> domain::Result<std::vector<MinuteCount>> {
        std::vector<MinuteCount> out;
        for (const auto& row : tx.exec_prepared("InstanceThroughput", domain::FormatTime(since))) {
          out.push_back({ParsePgTime(row["minute"].c_str()), row["stage_type"].as<std::string>(),
                         row["completed"].as<std::int64_t>(), row["failed"].as<std::int64_t>()});
        }
        return out;
      });
}

domain::Result<std::int64_t> PgInstances::DeleteOld(domain::Timestamp gone_before, domain::Timestamp minutes_before) {
  return RunTransaction<std::int64_t>(pool_, "InstanceDeleteOld", [&](pqxx::work& tx) -> domain::Result<std::int64_t> {
    return tx
        .exec_prepared1("InstanceDeleteOld", domain::FormatTime(gone_before),
                        domain::FormatTime(minutes_before))["deleted"]
        .as<std::int64_t>();
  });
}

}  // namespace jobnik::store::pg
