#include "domain/access.h"

#include <fmt/format.h>

#include <utility>

namespace jobnik::domain {

namespace {

struct RouteAccess {
  std::string_view method;
  std::string_view route_template;
  Access access;
};

// Every route that is not a plain read. GETs not listed here are kRead.
constexpr std::array<RouteAccess, 29> kTable{{
    {"GET", "/liveness", Access::kOpen},
    {"GET", "/readiness", Access::kOpen},
    {"GET", "/openapi.yaml", Access::kOpen},
    {"GET", "/", Access::kOpen},
    {"GET", "/ui", Access::kOpen},
    {"GET", "/ui/{path}", Access::kOpen},
    {"GET", "/metrics", Access::kMetrics},
    // Workers
    {"PATCH", "/v1/stages/{stageType}/tasks/dequeue", Access::kWork},
    {"POST", "/v1/tasks/claim", Access::kWork},
    {"PUT", "/v1/tasks/{taskId}/status", Access::kWork},
    {"POST", "/v1/tasks/status", Access::kWork},
    {"POST", "/v1/tasks/{taskId}/heartbeat", Access::kWork},
    // Producers and workers
    {"PATCH", "/v1/jobs/{jobId}/user-metadata", Access::kAnnotate},
    {"PATCH", "/v1/stages/{stageId}/user-metadata", Access::kAnnotate},
    {"PATCH", "/v1/tasks/{taskId}/user-metadata", Access::kAnnotate},
    // Producers
    {"POST", "/v1/jobs", Access::kProduce},
    {"POST", "/v1/jobs/{jobId}/stage", Access::kProduce},
    {"POST", "/v1/stages/{stageId}/tasks", Access::kProduce},
    {"PUT", "/v1/jobs/{jobId}/status", Access::kProduce},
    {"PATCH", "/v1/jobs/{jobId}/priority", Access::kProduce},
    {"PUT", "/v1/stages/{stageId}/status", Access::kProduce},
    {"POST", "/v1/jobs/{jobId}/retry", Access::kProduce},
    {"POST", "/v1/tasks/{taskId}/retry", Access::kProduce},
    // Administrators
    {"DELETE", "/v1/jobs/{jobId}", Access::kAdmin},
    {"PUT", "/v1/stage-types/{stageType}/limits", Access::kAdmin},
    {"DELETE", "/v1/stage-types/{stageType}/limits", Access::kAdmin},
    // Reads that are listed only to say so: the dashboard's data is the API's.
    {"GET", "/v1/queues", Access::kRead},
    {"GET", "/v1/instances", Access::kRead},
    {"GET", "/v1/stream", Access::kRead},
}};

}  // namespace

std::string_view ToString(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kWorker:
      return "worker";
    case Role::kProducer:
      return "producer";
    case Role::kAdmin:
      return "admin";
  }
  return "reader";
}

Result<Role> ParseRole(std::string_view text, std::string_view field) {
  for (Role r : kRoles) {
    if (text == ToString(r)) return r;
  }
  return ValidationError(fmt::format("{} must be one of admin, producer, worker, reader (got '{}')", field, text));
}

std::string_view ToString(Access access) {
  switch (access) {
    case Access::kOpen:
      return "open";
    case Access::kMetrics:
      return "metrics";
    case Access::kRead:
      return "read";
    case Access::kWork:
      return "work";
    case Access::kAnnotate:
      return "annotate";
    case Access::kProduce:
      return "produce";
    case Access::kAdmin:
      return "admin";
  }
  return "admin";
}

Access AccessOf(std::string_view method, std::string_view route_template) {
  for (const auto& r : kTable) {
    if (r.method == method && r.route_template == route_template) return r.access;
  }
  return method == "GET" ? Access::kRead : Access::kAdmin;
}

bool Allows(Role role, Access access) {
  switch (access) {
    case Access::kOpen:
    case Access::kMetrics:
    case Access::kRead:
      return true;
    case Access::kWork:
      return role == Role::kWorker || role == Role::kAdmin;
    case Access::kAnnotate:
      return role != Role::kReader;
    case Access::kProduce:
      return role == Role::kProducer || role == Role::kAdmin;
    case Access::kAdmin:
      return role == Role::kAdmin;
  }
  return false;
}

}  // namespace jobnik::domain
