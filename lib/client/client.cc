#include "client/client.h"

#include <fmt/format.h>
#include <httplib.h>
#include <cctype>
#include <nlohmann/json.hpp>

#include "domain/codec.h"

namespace jobnik::client {
namespace {

using domain::ErrorCode;
using domain::Result;
using domain::Status;

void AppendTrace(std::string& out, const std::optional<std::string>& traceparent,
                 const std::optional<std::string>& tracestate) {
  if (traceparent) {
    out += R"(,"traceparent":)";
    domain::AppendJsonString(out, *traceparent);
  }
  if (tracestate) {
    out += R"(,"tracestate":)";
    domain::AppendJsonString(out, *tracestate);
  }
}

void AppendTask(std::string& out, const domain::NewTask& t) {
  out += R"({"data":)" + t.data + R"(,"userMetadata":)" + t.user_metadata + R"(,"maxAttempts":)" +
         std::to_string(t.max_attempts);
  AppendTrace(out, t.traceparent, t.tracestate);
  out += '}';
}

void AppendStage(std::string& out, const domain::NewStage& s, bool with_tasks) {
  out += R"({"type":)";
  domain::AppendJsonString(out, s.type);
  out += R"(,"data":)" + s.data + R"(,"userMetadata":)" + s.user_metadata;
  if (s.start_as_waiting) out += R"(,"startAsWaiting":true)";
  AppendTrace(out, s.traceparent, s.tracestate);
  if (with_tasks && !s.tasks.empty()) {
    out += R"(,"tasks":[)";
    for (std::size_t i = 0; i < s.tasks.size(); ++i) {
      if (i) out += ',';
      AppendTask(out, s.tasks[i]);
    }
    out += ']';
  }
  out += '}';
}

// An error body {"message","code"} back into a Status.
Status FromErrorBody(int http_status, const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("code") && j.contains("message") && j["code"].is_string() &&
      j["message"].is_string()) {
    if (auto code = domain::ParseErrorCode(j["code"].get<std::string>()))
      return {*code, j["message"].get<std::string>()};
    return {http_status >= 500 ? ErrorCode::kUnknown : ErrorCode::kValidation, j["message"].get<std::string>()};
  }
  return {http_status == 503 ? ErrorCode::kUnavailable : ErrorCode::kUnknown,
          fmt::format("HTTP {}: {}", http_status, body.substr(0, 200))};
}

template <typename T>
Result<T> Decode(const Client::Raw& raw, int expected, Result<T> (*decode)(const nlohmann::json&)) {
  if (raw.status != expected) return FromErrorBody(raw.status, raw.body);
  auto j = nlohmann::json::parse(raw.body, nullptr, false);
  if (j.is_discarded()) return domain::BadResponse("the server sent malformed JSON");
  return decode(j);
}

Result<std::vector<domain::Task>> DecodeTasks(const nlohmann::json& j) {
  if (!j.is_array()) return domain::BadResponse("expected an array of tasks");
  std::vector<domain::Task> out;
  for (const auto& t : j) {
    auto task = domain::DecodeTask(t);
    if (!task.ok()) return task.status();
    out.push_back(std::move(task).value());
  }
  return out;
}

// Percent-encodes a path segment (RFC 3986 unreserved characters pass).
std::string EncodeSegment(const std::string& s) {
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

}  // namespace

std::string NewJobJson(const domain::NewJob& job) {
  std::string out = R"({"name":)";
  domain::AppendJsonString(out, job.name);
  out += R"(,"data":)" + job.data + R"(,"userMetadata":)" + job.user_metadata + R"(,"priority":")" +
         std::string(domain::ToString(job.priority)) + '"';
  AppendTrace(out, job.traceparent, job.tracestate);
  if (job.stages) {
    out += R"(,"stages":[)";
    for (std::size_t i = 0; i < job.stages->size(); ++i) {
      if (i) out += ',';
      AppendStage(out, (*job.stages)[i], true);
    }
    out += ']';
  }
  out += '}';
  return out;
}

std::string NewStageJson(const domain::NewStage& stage) {
  std::string out;
  AppendStage(out, stage, false);
  return out;
}

std::string NewTasksJson(const std::vector<domain::NewTask>& tasks) {
  std::string out = "[";
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (i) out += ',';
    AppendTask(out, tasks[i]);
  }
  out += ']';
  return out;
}

Client::Client(ClientOptions options) : http_(std::make_unique<httplib::Client>(options.base_url)) {
  http_->set_keep_alive(true);
  http_->set_tcp_nodelay(true);
  http_->set_connection_timeout(std::chrono::milliseconds(options.connect_timeout_ms));
  http_->set_read_timeout(std::chrono::milliseconds(options.read_timeout_ms));
  if (!options.bearer_token.empty()) http_->set_bearer_token_auth(options.bearer_token.c_str());
}

Client::~Client() = default;

Result<Client::Raw> Client::Request(const std::string& method, const std::string& path, const std::string& body) {
  httplib::Result r{nullptr, httplib::Error::Unknown};
  const char* type = "application/json";
  if (method == "GET")
    r = http_->Get(path.c_str());
  else if (method == "POST")
    r = http_->Post(path.c_str(), body, type);
  else if (method == "PUT")
    r = http_->Put(path.c_str(), body, type);
  else if (method == "PATCH")
    r = http_->Patch(path.c_str(), body, type);
  else if (method == "DELETE")
    r = http_->Delete(path.c_str());
  else
    return Status(ErrorCode::kValidation, "unsupported method " + method);
  if (!r) return Status(ErrorCode::kUnavailable, "cannot reach jobnikd: " + httplib::to_string(r.error()));
  Raw raw{r->status, std::move(r->body)};
  for (const auto& [name, value] : r->headers) raw.headers.emplace_back(name, value);
  return raw;
}

Result<domain::Job> Client::CreateJob(const domain::NewJob& job) {
  auto raw = Request("POST", "/v1/jobs", NewJobJson(job));
  if (!raw.ok()) return raw.status();
  return Decode<domain::Job>(*raw, 201, domain::DecodeJob);
}

Result<domain::Job> Client::GetJob(const std::string& id, bool with_stages) {
  auto raw = Request("GET", "/v1/jobs/" + id + (with_stages ? "?should_return_stages=true" : ""));
  if (!raw.ok()) return raw.status();
  return Decode<domain::Job>(*raw, 200, domain::DecodeJob);
}

Result<domain::Stage> Client::AddStage(const std::string& job_id, const domain::NewStage& stage) {
  auto raw = Request("POST", "/v1/jobs/" + job_id + "/stage", NewStageJson(stage));
  if (!raw.ok()) return raw.status();
  return Decode<domain::Stage>(*raw, 201, domain::DecodeStage);
}

Result<std::vector<domain::Task>> Client::AddTasks(const std::string& stage_id,
                                                   const std::vector<domain::NewTask>& tasks) {
  auto raw = Request("POST", "/v1/stages/" + stage_id + "/tasks", NewTasksJson(tasks));
  if (!raw.ok()) return raw.status();
  return Decode<std::vector<domain::Task>>(*raw, 201, DecodeTasks);
}

Result<domain::Stage> Client::GetStage(const std::string& id, bool with_tasks) {
  auto raw = Request("GET", "/v1/stages/" + id + (with_tasks ? "?should_return_tasks=true" : ""));
  if (!raw.ok()) return raw.status();
  return Decode<domain::Stage>(*raw, 200, domain::DecodeStage);
}

Result<std::optional<domain::Task>> Client::Dequeue(const std::string& stage_type) {
  auto raw = Request("PATCH", "/v1/stages/" + EncodeSegment(stage_type) + "/tasks/dequeue");
  if (!raw.ok()) return raw.status();
  if (raw->status == 404) {
    auto s = FromErrorBody(raw->status, raw->body);
    if (s.code() == ErrorCode::kTaskNotFound) return std::optional<domain::Task>{};
    return s;
  }
  auto task = Decode<domain::Task>(*raw, 200, domain::DecodeTask);
  if (!task.ok()) return task.status();
  return std::optional<domain::Task>(std::move(task).value());
}

Result<domain::Task> Client::ReportTask(const std::string& task_id, domain::TaskStatus status) {
  auto raw =
      Request("PUT", "/v1/tasks/" + task_id + "/status", fmt::format(R"({{"status":"{}"}})", domain::ToString(status)));
  if (!raw.ok()) return raw.status();
  return Decode<domain::Task>(*raw, 200, domain::DecodeTask);
}

}  // namespace jobnik::client
