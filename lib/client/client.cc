#include "client/client.h"

#include <nlohmann/json.hpp>

#include <thread>

#include "client/trace.h"
#include "client/wire.h"
#include "common/digest.h"
#include "domain/codec.h"

namespace jobnik::client {
namespace {

using domain::ErrorCode;
using domain::Result;
using domain::Status;

template <typename T>
Result<T> Decode(const Client::Raw& raw, int expected, Result<T> (*decode)(const nlohmann::json&)) {
  if (raw.status != expected) return wire::ErrorOf(raw.status, raw.body);
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

// Adds the thread's trace context (trace.h) unless the request carries its own.
void AddTrace(Headers& headers) {
  if (FindHeader(headers, "traceparent")) return;
  const auto trace = OutgoingTrace();
  headers.emplace_back("traceparent", trace.Traceparent());
  if (trace.tracestate) headers.emplace_back("tracestate", *trace.tracestate);
}

// How long the replay of a long poll cut by a stop may take (RequestIdempotent).
constexpr std::chrono::milliseconds kReplayReadTimeout{1000};

HttpRequest MakeRequest(const std::string& method, const std::string& path, const std::string& body, int wait_seconds,
                        std::stop_token cancel) {
  HttpRequest request;
  request.method = method;
  request.path = path;
  request.body = body;
  request.cancel = std::move(cancel);
  // The wait plus the usual read timeout: a long poll is not a slow server.
  if (wait_seconds > 0) request.read_timeout = std::chrono::seconds(wait_seconds) + kLongPollReadMargin;
  return request;
}

Client::Raw RawOf(HttpResponse&& r) {
  Client::Raw raw{r.status, std::move(r.body)};
  for (auto& [name, value] : r.headers) raw.headers.emplace_back(name, std::move(value));
  return raw;
}

}  // namespace

std::string NewJobJson(const domain::NewJob& job) {
  return domain::ToJson(job);
}

std::string NewStageJson(const domain::NewStage& stage) {
  std::string out;
  domain::AppendJson(out, stage, domain::StageTasks::kOmit);
  return out;
}

std::string NewTasksJson(const std::vector<domain::NewTask>& tasks) {
  return domain::ToJson(tasks);
}

Client::Client(const ClientOptions& options) : transport_(MakeHttpTransport(options)) {}

Client::Client(std::shared_ptr<Transport> transport) : transport_(std::move(transport)) {}

Client::~Client() = default;

Result<HttpResponse> Client::Send(HttpRequest request) {
  AddTrace(request.headers);
  return transport_->Send(request);
}

Result<Client::Raw> Client::Request(const std::string& method, const std::string& path, const std::string& body,
                                    int wait_seconds, std::stop_token cancel) {
  HttpRequest request = MakeRequest(method, path, body, wait_seconds, std::move(cancel));
  AddTrace(request.headers);
  auto r = transport_->Send(request);
  if (!r.ok()) return r.status();
  return RawOf(std::move(*r));
}

Result<Client::Raw> Client::RequestIdempotent(const std::string& method, const std::string& path,
                                              const std::string& body, const Idempotency& idempotency, int wait_seconds,
                                              std::stop_token cancel) {
  HttpRequest request = MakeRequest(method, path, body, wait_seconds, std::move(cancel));
  request.headers.emplace_back("Idempotency-Key",
                               idempotency.key.empty() ? "jobnik-" + digest::RandomHex(16) : idempotency.key);
  AddTrace(request.headers);
  auto delay = idempotency.retry_delay;
  int attempts = idempotency.attempts;
  for (int attempt = 1;; ++attempt) {
    const bool sent = !request.cancel.stop_requested();
    auto r = transport_->Send(request);
    if (!r.ok() && request.cancel.stop_requested()) {
      if (attempt == 1 && !sent) return r.status();
      // Cut by a stop: ask for the answer the server gave, not cut this time and not
      // waiting long (a request the cut kept from arriving would start a new wait).
      request.cancel = {};
      request.read_timeout = kReplayReadTimeout;
      attempts = std::max(attempts, attempt + 5);
    }
    bool again = !r.ok();
    if (r.ok()) {
      again = r->status == 503 ||
              (r->status == 409 && wire::ErrorOf(r->status, r->body).code() == ErrorCode::kIdempotencyKeyInUse);
    }
    if (!again || attempt >= attempts) {
      if (!r.ok()) return r.status();
      return RawOf(std::move(*r));
    }
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

Result<domain::Job> Client::CreateJob(const domain::NewJob& job, const Idempotency& idempotency) {
  auto raw = RequestIdempotent("POST", "/v1/jobs", NewJobJson(job), idempotency);
  if (!raw.ok()) return raw.status();
  return Decode<domain::Job>(*raw, 201, domain::DecodeJob);
}

Result<domain::Job> Client::GetJob(const std::string& id, bool with_stages) {
  auto raw = Request("GET", "/v1/jobs/" + id + (with_stages ? "?should_return_stages=true" : ""));
  if (!raw.ok()) return raw.status();
  return Decode<domain::Job>(*raw, 200, domain::DecodeJob);
}

Result<domain::Stage> Client::AddStage(const std::string& job_id, const domain::NewStage& stage,
                                       const Idempotency& idempotency) {
  auto raw = RequestIdempotent("POST", "/v1/jobs/" + job_id + "/stage", NewStageJson(stage), idempotency);
  if (!raw.ok()) return raw.status();
  return Decode<domain::Stage>(*raw, 201, domain::DecodeStage);
}

Result<std::vector<domain::Task>> Client::AddTasks(const std::string& stage_id,
                                                   const std::vector<domain::NewTask>& tasks,
                                                   const Idempotency& idempotency) {
  auto raw = RequestIdempotent("POST", "/v1/stages/" + stage_id + "/tasks", NewTasksJson(tasks), idempotency);
  if (!raw.ok()) return raw.status();
  return Decode<std::vector<domain::Task>>(*raw, 201, DecodeTasks);
}

Result<domain::Stage> Client::GetStage(const std::string& id, bool with_tasks) {
  auto raw = Request("GET", "/v1/stages/" + id + (with_tasks ? "?should_return_tasks=true" : ""));
  if (!raw.ok()) return raw.status();
  return Decode<domain::Stage>(*raw, 200, domain::DecodeStage);
}

Result<std::optional<domain::Task>> Client::Dequeue(const std::string& stage_type) {
  auto raw = Request("PATCH", "/v1/stages/" + wire::Encode(stage_type) + "/tasks/dequeue");
  if (!raw.ok()) return raw.status();
  if (raw->status == 404) {
    auto s = wire::ErrorOf(raw->status, raw->body);
    if (s.code() == ErrorCode::kTaskNotFound) return std::optional<domain::Task>{};
    return s;
  }
  auto task = Decode<domain::Task>(*raw, 200, domain::DecodeTask);
  if (!task.ok()) return task.status();
  return std::optional<domain::Task>(std::move(task).value());
}

Result<domain::Task> Client::ReportTask(const std::string& task_id, domain::TaskStatus status) {
  return Report(task_id, status, {});
}

Result<domain::Task> Client::GetTask(const std::string& id) {
  auto raw = Request("GET", "/v1/tasks/" + wire::Encode(id));
  if (!raw.ok()) return raw.status();
  return Decode<domain::Task>(*raw, 200, domain::DecodeTask);
}

}  // namespace jobnik::client
