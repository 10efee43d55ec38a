// The instance routes (extension; docs/design.md, "Instances and throughput"): the jobnikd
// instances on this database with the sweeper's leader and its last sweep (GET
// /v1/instances), and the tasks completed and failed per minute and stage type, summed
// over the instances (GET /v1/throughput).
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "domain/time.h"
#include "http/query.h"
#include "http/routes.h"
#include "throughput.h"

namespace jobnik::http {
namespace {

using nlohmann::json;

json InstanceJson(const store::Instance& i) {
  json sweep = nullptr;
  if (i.last_sweep) {
    sweep = {{"at", domain::FormatTime(i.last_sweep->at)},
             {"durationMs", i.last_sweep->duration.count()},
             {"tasksFailed", i.last_sweep->tasks_failed},
             {"idempotencyKeysExpired", i.last_sweep->keys_expired},
             {"jobsPruned", i.last_sweep->jobs_pruned}};
  }
  return {{"id", i.id},
          {"host", i.info.host},
          {"pid", i.info.pid},
          {"listen", i.info.listen},
          {"version", i.info.version},
          {"startedAt", domain::FormatTime(i.started_at)},
          {"seenAt", domain::FormatTime(i.seen_at)},
          {"gone", i.gone},
          {"sweeperLeader", i.sweeper_leader},
          {"lastSweep", std::move(sweep)}};
}

}  // namespace

void AddInstanceRoutes(std::vector<Route>& routes, store::Instances& instances) {
  const RouteAdder add{routes};
  add("GET", "/v1/instances", "/v1/instances", {}, [&instances](Call&) -> Reply {
    auto list = instances.ListInstances(kInstanceGoneAfter);
    if (!list.ok()) return ErrorReply(list.status());
    json out = json::array();
    for (const auto& i : *list) out.push_back(InstanceJson(i));
    return {200, json{{"instances", std::move(out)}}.dump(), {}};
  });
  add("GET", "/v1/throughput", "/v1/throughput", {"minutes"}, [&instances](Call& c) -> Reply {
    Query q(c.query);
    const auto minutes = q.Int("minutes", 1, kMaxThroughputMinutes).value_or(60);
    if (!q.status().ok()) return ErrorReply(q.status());
    const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
    const auto from = MinuteOf(now) - std::chrono::minutes(minutes - 1);
    auto counts = instances.Throughput(from);
    if (!counts.ok()) return ErrorReply(counts.status());
    std::map<std::string, json> types;
    for (const auto& m : *counts) {
      const auto at = std::chrono::duration_cast<std::chrono::minutes>(m.minute - from).count();
      if (at < 0 || at >= minutes) continue;  // a clock ahead of this one's
      auto [it, added] = types.try_emplace(m.stage_type);
      auto& t = it->second;
      if (added) {
        t = {{"stageType", m.stage_type},
             {"completed", 0},
             {"failed", 0},
             {"completedPerMinute", std::vector<std::int64_t>(static_cast<std::size_t>(minutes), 0)},
             {"failedPerMinute", std::vector<std::int64_t>(static_cast<std::size_t>(minutes), 0)}};
      }
      t["completed"] = t["completed"].get<std::int64_t>() + m.completed;
      t["failed"] = t["failed"].get<std::int64_t>() + m.failed;
      t["completedPerMinute"][static_cast<std::size_t>(at)] = m.completed;
      t["failedPerMinute"][static_cast<std::size_t>(at)] = m.failed;
    }
    json out = json::array();
    for (auto& [type, t] : types) out.push_back(std::move(t));
    return {
        200, json{{"minutes", minutes}, {"from", domain::FormatTime(from)}, {"stageTypes", std::move(out)}}.dump(), {}};
  });
}

}  // namespace jobnik::http
