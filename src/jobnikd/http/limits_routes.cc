// The stage-type routes (extension; docs/design.md, "Concurrency limits"): the concurrency
// limit of a stage type (PUT, GET, DELETE /v1/stage-types/{stageType}/limits) and the
// list of stage types with their limits and unfinished work (GET /v1/stage-types).
#include <spdlog/spdlog.h>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "domain/codec.h"
#include "domain/time.h"
#include "domain/validation.h"
#include "http/routes.h"

namespace jobnik::http {
namespace {

using nlohmann::json;

// The largest maxInProgress (a PostgreSQL integer with room to spare).
constexpr long long kMaxInProgressMax = 1000000000;

json LimitJson(const store::StageTypeLimit& l) {
  return {{"stageType", l.stage_type},
          {"maxInProgress", l.max_in_progress},
          {"updateTime", domain::FormatTime(l.update_time)}};
}

// {"maxInProgress": N}, N an integer 0..kMaxInProgressMax; no other field.
domain::Result<int> ParseLimit(std::string_view body) {
  JOBNIK_ASSIGN_OR_RETURN(json j, domain::ParseJsonBody(body));
  JOBNIK_TRY(domain::CheckObject(j, "request/body"));
  JOBNIK_TRY(domain::CheckAllowedKeys(j, {"maxInProgress"}, "request/body"));
  JOBNIK_TRY(domain::CheckRequired(j, "maxInProgress", "request/body"));
  const json& v = j["maxInProgress"];
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<unsigned long long>() > kMaxInProgressMax) ||
      v.get<long long>() < 0 || v.get<long long>() > kMaxInProgressMax) {
    return domain::ValidationError(
        fmt::format("request/body/maxInProgress must be an integer from 0 to {}", kMaxInProgressMax));
  }
  return static_cast<int>(v.get<long long>());
}

// The stage type of the path, checked as the dequeue checks it.
domain::Status TypeParam(const Call& c, std::string& type) {
  type = c.req.matches[1].str();
  Tag("jobnik.stage.type", type);
  return domain::CheckTextParam(type, "request/params/stageType", 50);
}

}  // namespace

void AddLimitRoutes(std::vector<Route>& routes, store::Store& st) {
  const RouteAdder add{routes};
  add("GET", "/v1/stage-types", "/v1/stage-types", {}, [&st](Call&) -> Reply {
    auto limits = st.ListStageTypeLimits();
    if (!limits.ok()) return ErrorReply(limits.status());
    auto queue = st.GetQueueStats();
    if (!queue.ok()) return ErrorReply(queue.status());
    // Every type with unfinished work or a limit, by name.
    std::map<std::string, json> types;
    const auto entry = [&types](const std::string& type) -> json& {
      auto [it, added] = types.try_emplace(type);
      if (added) {
        it->second = {
            {"stageType", type}, {"maxInProgress", nullptr}, {"pending", 0}, {"inProgress", 0}, {"retried", 0}};
      }
      return it->second;
    };
    for (const auto& t : queue->tasks) {
      auto& e = entry(t.stage_type);
      e["pending"] = t.pending;
      e["inProgress"] = t.in_progress;
      e["retried"] = t.retried;
    }
    for (const auto& l : *limits) entry(l.stage_type)["maxInProgress"] = l.max_in_progress;
    json out = json::array();
    for (auto& [type, e] : types) out.push_back(std::move(e));
    return {200, out.dump(), {}};
  });
  add("PUT", "/v1/stage-types/([^/]+)/limits", "/v1/stage-types/{stageType}/limits", {}, [&st](Call& c) -> Reply {
    std::string type;
    if (auto s = TypeParam(c, type); !s.ok()) return ErrorReply(s);
    auto max = ParseLimit(c.req.body);
    if (!max.ok()) return ErrorReply(max.status());
    auto limit = st.SetStageTypeLimit(type, *max);
    if (!limit.ok()) return ErrorReply(limit.status());
    spdlog::info("stage type '{}': concurrency limit set to {} tasks in progress{}", type, *max,
                 *max == 0 ? " (paused: none is claimed)" : "");
    return {200, LimitJson(*limit).dump(), {}};
  });
  add("GET", "/v1/stage-types/([^/]+)/limits", "/v1/stage-types/{stageType}/limits", {}, [&st](Call& c) -> Reply {
    std::string type;
    if (auto s = TypeParam(c, type); !s.ok()) return ErrorReply(s);
    auto limit = st.GetStageTypeLimit(type);
    if (!limit.ok()) return ErrorReply(limit.status());
    return {200, LimitJson(*limit).dump(), {}};
  });
  add("DELETE", "/v1/stage-types/([^/]+)/limits", "/v1/stage-types/{stageType}/limits", {}, [&st](Call& c) -> Reply {
    std::string type;
    if (auto s = TypeParam(c, type); !s.ok()) return ErrorReply(s);
    auto deleted = st.DeleteStageTypeLimit(type);
    if (!deleted.ok()) return ErrorReply(deleted.status());
    if (*deleted) spdlog::info("stage type '{}': concurrency limit removed", type);
    return {204, "", {}};
  });
}

}  // namespace jobnik::http
