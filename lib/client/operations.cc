// The operations of Client beyond the first seven (client.h, the block "More of the v1
// API"): lists with paging, the remaining getters, and the changes a user makes to jobs,
// stages and tasks. All built on Client::Request.
#include <fmt/format.h>
#include <cctype>
#include <nlohmann/json.hpp>

#include "client/client.h"
#include "client/wire.h"
#include "domain/codec.h"
#include "domain/time.h"

namespace jobnik::client {

namespace wire {

using domain::ErrorCode;
using domain::Status;
using nlohmann::json;

Status ErrorOf(int http_status, const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("code") && j.contains("message") && j["code"].is_string() &&
      j["message"].is_string()) {
    if (auto code = domain::ParseErrorCode(j["code"].get<std::string>()))
      return {*code, j["message"].get<std::string>()};
    return {
        http_status >= 500 ? ErrorCode::kUnknown : ErrorCode::kValidation,
        fmt::format("{} ({}, HTTP {})", j["message"].get<std::string>(), j["code"].get<std::string>(), http_status)};
  }
  return {http_status == 503 ? ErrorCode::kUnavailable : ErrorCode::kBadResponse,
          fmt::format("HTTP {}: {}", http_status, body.substr(0, 200))};
}

// Percent-encodes a path segment or a query value (RFC 3986 unreserved characters pass).
std::string Encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

}  // namespace wire

namespace {

using wire::Encode;

using domain::ErrorCode;
using domain::Result;
using domain::Status;
using nlohmann::json;

// A query string built one parameter at a time ("" when empty).
class Query {
 public:
  void Add(std::string_view name, std::string_view value) {
    out_ += out_.empty() ? '?' : '&';
    out_ += name;
    out_ += '=';
    out_ += Encode(value);
  }
  void Opt(std::string_view name, const std::optional<std::string>& value) {
    if (value) Add(name, std::string_view(*value));
  }
  void Opt(std::string_view name, const std::optional<domain::Timestamp>& value) {
    if (value) Add(name, std::string_view(domain::FormatTime(*value)));
  }
  template <typename E>
  void AddEnum(std::string_view name, const std::optional<E>& value) {
    if (value) Add(name, domain::ToString(*value));
  }
  void Add(const Client::Paging& paging) {
    if (paging.limit) Add("limit", std::string_view(std::to_string(*paging.limit)));
    Opt("cursor", paging.cursor);
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

// The JSON body of a 2xx answer, or the error.
Result<json> Body(const Result<Client::Raw>& raw, int expected) {
  if (!raw.ok()) return raw.status();
  if (raw->status != expected) return wire::ErrorOf(raw->status, raw->body);
  auto j = json::parse(raw->body, nullptr, false);
  if (j.is_discarded())
    return domain::BadResponse(fmt::format("the server sent malformed JSON (HTTP {})", raw->status));
  return j;
}

// A change answered with {"code": "..._SUCCESSFULLY"}.
Status Change(const Result<Client::Raw>& raw) {
  return Body(raw, 200).status();
}

template <typename T>
Result<std::vector<T>> DecodeArray(const json& j, Result<T> (*decode)(const json&), std::string_view what) {
  if (!j.is_array()) return domain::BadResponse(fmt::format("expected an array of {}", what));
  std::vector<T> out;
  out.reserve(j.size());
  for (const auto& item : j) {
    auto v = decode(item);
    if (!v.ok()) return v.status();
    out.push_back(std::move(v).value());
  }
  return out;
}

template <typename T>
Result<Client::Page<T>> ListPage(Client& client, const std::string& path, Result<T> (*decode)(const json&),
                                 std::string_view what) {
  auto raw = client.Request("GET", path);
  JOBNIK_ASSIGN_OR_RETURN(const auto j, Body(raw, 200));
  Client::Page<T> page;
  JOBNIK_ASSIGN_OR_RETURN(page.items, DecodeArray(j, decode, what));
  if (auto cursor = FindHeader(raw->headers, "X-Next-Cursor")) page.next_cursor = std::move(*cursor);
  return page;
}

const char* EntityPath(Client::Entity entity) {
  switch (entity) {
    case Client::Entity::kJob:
      return "/v1/jobs/";
    case Client::Entity::kStage:
      return "/v1/stages/";
    case Client::Entity::kTask:
      return "/v1/tasks/";
  }
  return "/v1/jobs/";
}

}  // namespace

Result<Client::Page<domain::Job>> Client::FindJobs(const domain::JobFilter& filter, const Paging& paging) {
  Query q;
  q.Opt("job_name", filter.name);
  q.Opt("name_contains", filter.name_contains);
  q.AddEnum("priority", filter.priority);
  q.AddEnum("status", filter.status);
  q.Opt("from_date", filter.from_date);
  q.Opt("end_date", filter.end_date);
  if (filter.with_stages) q.Add("should_return_stages", "true");
  if (filter.with_task_summary) q.Add("should_return_task_summary", "true");
  q.Add(paging);
  return ListPage<domain::Job>(*this, "/v1/jobs" + q.str(), domain::DecodeJob, "jobs");
}

Result<Client::Page<domain::Stage>> Client::FindStages(const domain::StageFilter& filter, const Paging& paging) {
  Query q;
  q.Opt("job_id", filter.job_id);
  q.Opt("stage_type", filter.type);
  q.AddEnum("stage_operation_status", filter.status);
  if (filter.with_tasks) q.Add("should_return_tasks", "true");
  q.Add(paging);
  return ListPage<domain::Stage>(*this, "/v1/stages" + q.str(), domain::DecodeStage, "stages");
}

Result<Client::Page<domain::Task>> Client::FindTasks(const domain::TaskFilter& filter, const Paging& paging) {
  Query q;
  q.Opt("stage_id", filter.stage_id);
  q.Opt("stage_type", filter.stage_type);
  q.AddEnum("status", filter.status);
  q.Opt("from_date", filter.from_date);
  q.Opt("end_date", filter.end_date);
  q.Add(paging);
  return ListPage<domain::Task>(*this, "/v1/tasks" + q.str(), domain::DecodeTask, "tasks");
}

Result<Client::Page<domain::JobEvent>> Client::GetJobEvents(const std::string& job_id, const Paging& paging) {
  Query q;
  q.Add(paging);
  return ListPage<domain::JobEvent>(*this, "/v1/jobs/" + Encode(job_id) + "/events" + q.str(), domain::DecodeJobEvent,
                                    "events");
}

Result<std::vector<domain::Stage>> Client::GetJobStages(const std::string& job_id) {
  JOBNIK_ASSIGN_OR_RETURN(const auto j, Body(Request("GET", "/v1/jobs/" + Encode(job_id) + "/stages"), 200));
  return DecodeArray(j, domain::DecodeStage, "stages");
}

Result<domain::Summary> Client::GetStageSummary(const std::string& stage_id) {
  JOBNIK_ASSIGN_OR_RETURN(const auto j, Body(Request("GET", "/v1/stages/" + Encode(stage_id) + "/summary"), 200));
  return domain::DecodeSummary(j);
}

Status Client::SetJobStatus(const std::string& job_id, domain::JobStatus status) {
  return Change(Request("PUT", "/v1/jobs/" + Encode(job_id) + "/status",
                        fmt::format(R"({{"status":"{}"}})", domain::ToString(status))));
}

Status Client::SetJobPriority(const std::string& job_id, domain::Priority priority) {
  return Change(Request("PATCH", "/v1/jobs/" + Encode(job_id) + "/priority",
                        fmt::format(R"({{"priority":"{}"}})", domain::ToString(priority))));
}

Status Client::DeleteJob(const std::string& job_id) {
  return Change(Request("DELETE", "/v1/jobs/" + Encode(job_id)));
}

Result<domain::Job> Client::RetryJob(const std::string& job_id) {
  JOBNIK_ASSIGN_OR_RETURN(const auto j, Body(Request("POST", "/v1/jobs/" + Encode(job_id) + "/retry"), 200));
  return domain::DecodeJob(j);
}

Result<domain::Task> Client::RetryTask(const std::string& task_id) {
  JOBNIK_ASSIGN_OR_RETURN(const auto j, Body(Request("POST", "/v1/tasks/" + Encode(task_id) + "/retry"), 200));
  return domain::DecodeTask(j);
}

namespace {

Result<Client::StageTypeLimit> DecodeLimit(const json& j) {
  if (!j.is_object() || !j.contains("stageType") || !j["stageType"].is_string()) {
    return domain::BadResponse("expected a stage type's limit (an object with stageType)");
  }
  Client::StageTypeLimit l;
  l.stage_type = j["stageType"].get<std::string>();
  if (auto m = j.find("maxInProgress"); m != j.end() && m->is_number_integer()) l.max_in_progress = m->get<int>();
  if (auto t = j.find("updateTime"); t != j.end() && t->is_string()) l.update_time = t->get<std::string>();
  const auto count = [&j](const char* name) -> std::int64_t {
    auto it = j.find(name);
    return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  l.pending = count("pending");
  l.in_progress = count("inProgress");
  l.retried = count("retried");
  return l;
}

std::string LimitPath(const std::string& stage_type) {
  return "/v1/stage-types/" + Encode(stage_type) + "/limits";
}

}  // namespace

Result<Client::StageTypeLimit> Client::SetStageTypeLimit(const std::string& stage_type, int max_in_progress) {
  JOBNIK_ASSIGN_OR_RETURN(
      const auto j, Body(Request("PUT", LimitPath(stage_type), json{{"maxInProgress", max_in_progress}}.dump()), 200));
  return DecodeLimit(j);
}

Result<Client::StageTypeLimit> Client::GetStageTypeLimit(const std::string& stage_type) {
  JOBNIK_ASSIGN_OR_RETURN(const auto j, Body(Request("GET", LimitPath(stage_type)), 200));
  return DecodeLimit(j);
}

Status Client::ClearStageTypeLimit(const std::string& stage_type) {
  auto raw = Request("DELETE", LimitPath(stage_type));
  if (!raw.ok()) return raw.status();
  if (raw->status != 204) return wire::ErrorOf(raw->status, raw->body);
  return Status::Ok();
}

Result<std::vector<Client::StageTypeLimit>> Client::ListStageTypes() {
  JOBNIK_ASSIGN_OR_RETURN(const auto j, Body(Request("GET", "/v1/stage-types"), 200));
  return DecodeArray<StageTypeLimit>(j, DecodeLimit, "stage types");
}

Status Client::ReleaseStage(const std::string& stage_id) {
  return Change(Request("PUT", "/v1/stages/" + Encode(stage_id) + "/status", R"({"status":"PENDING"})"));
}

Status Client::SetUserMetadata(Entity entity, const std::string& id, const std::string& json_object) {
  return Change(Request("PATCH", EntityPath(entity) + Encode(id) + "/user-metadata", json_object));
}

}  // namespace jobnik::client
