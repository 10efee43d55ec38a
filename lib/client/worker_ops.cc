// The worker's operations of Client (client.h): claim with a lease, report with a claim
// token and a reason, heartbeat, and the task's userMetadata.
#include <fmt/format.h>
#include <cctype>
#include <nlohmann/json.hpp>

#include "client/client.h"
#include "client/wire.h"
#include "domain/codec.h"

namespace jobnik::client {
namespace {

using domain::ErrorCode;
using domain::Result;
using domain::Status;

using wire::Encode;
using wire::ErrorOf;

constexpr std::size_t kMaxReasonBytes = std::size_t{8} * 1024;

// An idempotent claim (ClaimOptions::idempotent): a fresh key, and one more try with it
// 100 ms after a lost answer.
const Idempotency kClaimIdempotency{"", 2, std::chrono::milliseconds(100)};

// Cuts `s` to at most `n` bytes without splitting a UTF-8 sequence.
std::string CutUtf8(const std::string& s, std::size_t n) {
  if (s.size() <= n) return s;
  std::size_t end = n;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

}  // namespace

Result<std::optional<Client::Claimed>> Client::Claim(const std::string& stage_type, const ClaimOptions& options) {
  std::string path = "/v1/stages/" + Encode(stage_type) + "/tasks/dequeue";
  char sep = '?';
  if (options.lease_seconds > 0) {
    path += fmt::format("{}lease_seconds={}", sep, options.lease_seconds);
    sep = '&';
  }
  if (!options.worker_id.empty()) {
    path += fmt::format("{}worker_id={}", sep, Encode(options.worker_id));
    sep = '&';
  }
  if (options.wait_seconds > 0) path += fmt::format("{}wait_seconds={}", sep, options.wait_seconds);
  // Idempotent: a lost answer is asked for again once, with the same key (nothing is retried
  // after an answer: the caller's backoff decides).
  auto raw = options.idempotent ? RequestIdempotent("PATCH", path, "", kClaimIdempotency, options.wait_seconds)
                                : Request("PATCH", path, "", options.wait_seconds);
  if (!raw.ok()) return raw.status();
  if (raw->status == 404) {
    auto s = ErrorOf(raw->status, raw->body);
    if (s.code() == ErrorCode::kTaskNotFound) return std::optional<Claimed>{};
    return s;
  }
  if (raw->status != 200) return ErrorOf(raw->status, raw->body);
  auto j = nlohmann::json::parse(raw->body, nullptr, false);
  if (j.is_discarded()) return domain::BadResponse("the server sent malformed JSON");
  auto task = domain::DecodeTask(j);
  if (!task.ok()) return task.status();
  Claimed claimed{std::move(task).value(), std::move(raw->body), ""};
  if (j.contains("claimId") && j["claimId"].is_string()) claimed.claim_id = j["claimId"].get<std::string>();
  return std::optional<Claimed>(std::move(claimed));
}

namespace {

// The body of a report: {"status": ...} and the options that apply to it.
std::string ReportBody(domain::TaskStatus status, const Client::ReportOptions& options) {
  std::string body = R"({"status":")";
  body += domain::ToString(status);
  body += '"';
  if (!options.claim_id.empty()) {
    body += R"(,"claimId":)";
    domain::AppendJsonString(body, options.claim_id);
  }
  if (status == domain::TaskStatus::kFailed) {
    if (!options.reason.empty()) {
      body += R"(,"reason":)";
      domain::AppendJsonString(body, CutUtf8(options.reason, kMaxReasonBytes));
    }
    if (options.retry_after_seconds)
      body += R"(,"retryAfterSeconds":)" + nlohmann::json(*options.retry_after_seconds).dump();
  }
  body += '}';
  return body;
}

}  // namespace

Result<domain::Task> Client::Report(const std::string& task_id, domain::TaskStatus status,
                                    const ReportOptions& options) {
  auto raw = Request("PUT", "/v1/tasks/" + Encode(task_id) + "/status", ReportBody(status, options));
  if (!raw.ok()) return raw.status();
  if (raw->status != 200) return ErrorOf(raw->status, raw->body);
  auto j = nlohmann::json::parse(raw->body, nullptr, false);
  if (j.is_discarded()) return domain::BadResponse("the server sent malformed JSON");
  return domain::DecodeTask(j);
}

Status Client::ReportMinimal(const std::string& task_id, domain::TaskStatus status, const ReportOptions& options) {
  HttpRequest request;
  request.method = "PUT";
  request.path = "/v1/tasks/" + Encode(task_id) + "/status";
  request.body = ReportBody(status, options);
  request.headers.emplace_back("Prefer", "return=minimal");
  auto r = Send(std::move(request));
  if (!r.ok()) return r.status();
  // 204: jobnikd; 200 with the task: a server without the preference (Jobnik Manager v1).
  if (r->status == 204 || r->status == 200) return Status::Ok();
  return ErrorOf(r->status, r->body);
}

Client::HeartbeatOutcome Client::Heartbeat(const std::string& task_id, const std::string& claim_id, int lease_seconds,
                                           Status* error) {
  nlohmann::json body = nlohmann::json::object();
  if (!claim_id.empty()) body["claimId"] = claim_id;
  if (lease_seconds > 0) body["leaseSeconds"] = lease_seconds;
  auto raw = Request("POST", "/v1/tasks/" + Encode(task_id) + "/heartbeat", body.dump());
  if (!raw.ok()) {
    if (error) *error = raw.status();
    return HeartbeatOutcome::kError;
  }
  if (raw->status == 200) return HeartbeatOutcome::kOk;
  auto refused = ErrorOf(raw->status, raw->body);
  if (refused.code() == ErrorCode::kTaskClaimMismatch) return HeartbeatOutcome::kClaimLost;
  if (refused.code() == ErrorCode::kJobNotActive) return HeartbeatOutcome::kJobNotActive;
  if (error) *error = std::move(refused);
  return HeartbeatOutcome::kError;
}

Result<std::vector<Client::Claimed>> Client::ClaimTasks(const ClaimTasksRequest& request) {
  nlohmann::json body{{"stageTypes", request.stage_types}, {"limit", request.limit}};
  if (request.wait_seconds > 0) body["waitSeconds"] = request.wait_seconds;
  if (request.lease_seconds > 0) body["leaseSeconds"] = request.lease_seconds;
  if (!request.worker_id.empty()) body["workerId"] = request.worker_id;
  const std::string json = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto raw = request.idempotent ? RequestIdempotent("POST", "/v1/tasks/claim", json, kClaimIdempotency,
                                                    request.wait_seconds, request.cancel)
                                : Request("POST", "/v1/tasks/claim", json, request.wait_seconds, request.cancel);
  if (!raw.ok()) return raw.status();
  if (raw->status != 200) return ErrorOf(raw->status, raw->body);
  auto j = nlohmann::json::parse(raw->body, nullptr, false);
  if (j.is_discarded()) return domain::BadResponse("the server sent malformed JSON");
  if (!j.is_object() || !j.contains("tasks") || !j["tasks"].is_array()) {
    return domain::BadResponse("the claim's answer has no array `tasks`");
  }
  std::vector<Claimed> out;
  out.reserve(j["tasks"].size());
  for (const auto& t : j["tasks"]) {
    auto task = domain::DecodeTask(t);
    if (!task.ok()) return task.status();
    Claimed claimed{std::move(task).value(), t.dump(), ""};
    if (t.contains("claimId") && t["claimId"].is_string()) claimed.claim_id = t["claimId"].get<std::string>();
    out.push_back(std::move(claimed));
  }
  return out;
}

Result<std::vector<Status>> Client::ReportTasks(const std::vector<TaskUpdate>& updates) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& u : updates) {
    nlohmann::json item{{"id", u.task_id}, {"status", std::string(domain::ToString(u.status))}};
    if (!u.options.claim_id.empty()) item["claimId"] = u.options.claim_id;
    if (!u.options.reason.empty() && u.status == domain::TaskStatus::kFailed) {
      item["reason"] = CutUtf8(u.options.reason, kMaxReasonBytes);
    }
    if (u.options.retry_after_seconds && u.status == domain::TaskStatus::kFailed) {
      item["retryAfterSeconds"] = *u.options.retry_after_seconds;
    }
    items.push_back(std::move(item));
  }
  const nlohmann::json body{{"updates", std::move(items)}};
  auto raw = Request("POST", "/v1/tasks/status", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!raw.ok()) return raw.status();
  if (raw->status != 200) return ErrorOf(raw->status, raw->body);
  auto j = nlohmann::json::parse(raw->body, nullptr, false);
  if (j.is_discarded()) return domain::BadResponse("the server sent malformed JSON");
  if (!j.is_object() || !j.contains("results") || !j["results"].is_array() || j["results"].size() != updates.size()) {
    return domain::BadResponse(
        fmt::format("the batch report's answer has no array `results` of {} items", updates.size()));
  }
  std::vector<Status> out;
  out.reserve(updates.size());
  for (const auto& r : j["results"]) {
    if (r.is_object() && r.value("ok", false)) {
      out.push_back(Status::Ok());
      continue;
    }
    const std::string code =
        r.is_object() && r.contains("code") && r["code"].is_string() ? r["code"].get<std::string>() : "";
    const std::string message =
        r.is_object() && r.contains("message") && r["message"].is_string() ? r["message"].get<std::string>() : "";
    const auto parsed = domain::ParseErrorCode(code);
    if (!parsed) return domain::BadResponse("a batch report result has neither ok nor a known code: " + r.dump());
    out.emplace_back(*parsed, message);
  }
  return out;
}

}  // namespace jobnik::client
