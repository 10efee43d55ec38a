// The v1 wire JSON codec (camelCase fields, RFC 3339 UTC millisecond times,
// optional fields omitted when unset), in both directions:
//  - encoding entities into response bodies (appended to a string: jobnikd's hot path),
//  - decoding entities from response bodies (the client library, jobnikctl),
//  - parsing and validating request bodies into New* values (jobnikd),
//  - encoding New* values into request bodies (the client library; jobnikd's store hands
//    new tasks to PostgreSQL in the same form). This is the one encoder of NewJob,
//    NewStage and NewTask; ParseNewJob/ParseNewStage/ParseNewTasks are its inverse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "domain/error.h"
#include "domain/model.h"

namespace jobnik::domain {

// ---- Encoding ----

void AppendJson(std::string& out, const Summary& s);
void AppendJson(std::string& out, const Task& t);
void AppendJson(std::string& out, const Stage& s);  // includes "tasks" only when s.tasks is set
void AppendJson(std::string& out, const Job& j);    // includes "stages" only when j.stages is set
// "actor" is always present (null until requests are authenticated); oldValue, reason and
// workerId only when set.
void AppendJson(std::string& out, const JobEvent& e);
// {"delaySeconds":d,"backoff":f,"maxDelaySeconds":m}
void AppendJson(std::string& out, const RetryPolicy& r);
template <typename T>
void AppendJson(std::string& out, const std::vector<T>& items) {
  out += '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    AppendJson(out, items[i]);
  }
  out += ']';
}
template <typename T>
std::string ToJson(const T& value) {
  std::string out;
  AppendJson(out, value);
  return out;
}

// Request bodies. Optional fields (userMetadata is always sent) are omitted when unset:
// traceparent, tracestate, startAsWaiting when false, a job's stages when std::nullopt, a
// stage's tasks when empty.
void AppendJson(std::string& out, const NewTask& t);
// Trace fields resolved against `defaults` (the store: a task without its own traceparent
// takes the request's), so traceparent is always present.
void AppendJson(std::string& out, const NewTask& t, const TraceDefaults& defaults);
void AppendJson(std::string& out, const std::vector<NewTask>& tasks, const TraceDefaults& defaults);
// Whether a stage's body carries its tasks, in both directions: inside a job submission it
// does; the v1 add-stage body has none (ParseNewStage ignores the key there).
enum class StageTasks : std::uint8_t { kInclude, kOmit };
void AppendJson(std::string& out, const NewStage& s, StageTasks tasks = StageTasks::kInclude);
void AppendJson(std::string& out, const NewJob& j);

// A JSON string literal with the quotes. Bytes that are not valid UTF-8 (each maximal
// ill-formed subsequence, as Unicode recommends) become U+FFFD, so the result is always
// valid JSON, whatever the input (error messages echo paths, parameters and body bytes).
void AppendJsonString(std::string& out, std::string_view s);

// {"message":"...","code":"..."}
std::string ErrorBody(const Status& status);
// {"code":"JOB_MODIFIED_SUCCESSFULLY"}
std::string CodeBody(std::string_view code);

// ---- Decoding (client side). Errors name the missing or malformed field. ----

Result<Summary> DecodeSummary(const nlohmann::json& j);
Result<Task> DecodeTask(const nlohmann::json& j);
Result<Stage> DecodeStage(const nlohmann::json& j);
Result<Job> DecodeJob(const nlohmann::json& j);
Result<JobEvent> DecodeJobEvent(const nlohmann::json& j);
// A `retry` object as AppendJson(RetryPolicy) writes it (missing keys keep their defaults).
Result<RetryPolicy> DecodeRetryPolicy(const nlohmann::json& j);

// ---- Request bodies (server side). Every violation -> VALIDATION_ERROR naming the field. ----

// How deeply arrays and objects may nest in a request body (the body's own brackets count:
// `{"data":{"x":[]}}` is 3 levels). Serializing, validating and storing (PostgreSQL's jsonb)
// recurse once per level, so the depth is bounded before any of them runs.
inline constexpr std::size_t kMaxJsonDepth = 512;

// Parses JSON text. VALIDATION_ERROR for: a syntax error (with position), a NUL byte
// anywhere, nesting deeper than kMaxJsonDepth (checked before parsing, naming the limit),
// a number too large for a double (1e400).
Result<nlohmann::json> ParseJsonBody(std::string_view body);

// The job and task-array bodies are parsed as a stream (nlohmann's SAX interface): each
// stage and task is read as soon as it ends, and the whole body is never held as a JSON
// tree, so a 100,000-task submission costs its NewTask values, not a tree ~10x its text.
// The results and errors are those of the *Tree functions over ParseJsonBody's tree.
Result<NewJob> ParseNewJob(std::string_view body);
Result<NewStage> ParseNewStage(std::string_view body);
Result<std::vector<NewTask>> ParseNewTasks(std::string_view body);
// The same rules over a parsed body (the reference the streaming parsers are tested against).
Result<NewJob> ParseNewJobTree(const nlohmann::json& body);
Result<std::vector<NewTask>> ParseNewTasksTree(const nlohmann::json& body);
// {"status": X} restricted to the user-settable statuses of each entity.
Result<JobStatus> ParseJobStatusChange(std::string_view body);
Result<StageStatus> ParseStageStatusChange(std::string_view body);
Result<TaskStatus> ParseTaskStatusChange(std::string_view body);
// The same with the optional `claimId` (a uuid), `reason` (a string, cut to
// kMaxFailureReasonBytes at a UTF-8 boundary; only kept for FAILED) and
// `retryAfterSeconds` (a number from 0 to kMaxRetryDelaySeconds; only kept for FAILED).
Result<TaskReportRequest> ParseTaskReport(std::string_view body);
// One item of POST /v1/tasks/status (extension): a report of task `id`, or why the item
// is invalid (`error` not ok; `id` is empty when the item has no string id).
struct TaskReportBatchItem {
  std::string id;
  TaskReportRequest report;
  Status error = Status::Ok();
};

// POST /v1/tasks/claim: {"stageTypes", "limit", "waitSeconds"?, "leaseSeconds"?,
// "workerId"?}; unknown keys are ignored (as in the other task bodies).
Result<ClaimBatchRequest> ParseClaimBatch(std::string_view body);
// POST /v1/tasks/status: {"updates": [1..1000 reports]}. The body's shape is checked here
// (an error for the whole request); each item's validity is its own (item.error), so that
// one bad item never fails the others. Each item: {"id", "status", "claimId"?, "reason"?,
// "retryAfterSeconds"?} as ParseTaskReport reads it.
Result<std::vector<TaskReportBatchItem>> ParseTaskReportBatch(std::string_view body);
// A heartbeat: empty, or an object with the optional `claimId` (a uuid) and
// `leaseSeconds` (an integer; its bounds are checked by the caller).
Result<HeartbeatRequest> ParseHeartbeat(std::string_view body);
// `s` cut to at most `max_bytes`, never inside a UTF-8 sequence.
std::string CutUtf8(std::string s, std::size_t max_bytes);
Result<Priority> ParsePriorityChange(std::string_view body);
// Any JSON object; returned as compact JSON text.
Result<std::string> ParseUserMetadata(std::string_view body);

}  // namespace jobnik::domain
