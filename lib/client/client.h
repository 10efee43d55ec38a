// The typed C++ client of the v1 API (used by jobnikctl, jobnik-worker and the
// benchmarks). A Client speaks over a Transport (transport.h): the real one is one
// keep-alive HTTP connection, so use one Client per thread; tests give it a FakeTransport.
// Every request carries a traceparent continuing the thread's trace context (trace.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/transport.h"
#include "domain/error.h"
#include "domain/model.h"

namespace jobnik::client {

// A long poll's read timeout: its wait plus this.
inline constexpr std::chrono::seconds kLongPollReadMargin{10};

// How a create (job, stage, tasks) is made safe to retry: it is sent with an
// Idempotency-Key (a jobnikd extension), and retried with the same key when there was no
// answer (connection lost, timeout), a 503, or 409 IDEMPOTENCY_KEY_IN_USE (the first try is
// still running). jobnikd answers a repeat with the first answer, so a retried create never
// creates twice. A server without idempotency keys (Jobnik Manager v1) ignores the header:
// use attempts = 1 with it.
struct Idempotency {
  std::string key;                             // empty: a fresh random key for this call
  int attempts = 3;                            // tries in all; 1: never retried
  std::chrono::milliseconds retry_delay{250};  // before the second try; doubled after each
};

class Client {
 public:
  // Over the real transport (MakeHttpTransport).
  explicit Client(const ClientOptions& options);
  // Over any transport (e.g. a FakeTransport shared with the test).
  explicit Client(std::shared_ptr<Transport> transport);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Producer side. Creates are sent with an Idempotency-Key and retried (see Idempotency).
  domain::Result<domain::Job> CreateJob(const domain::NewJob& job, const Idempotency& idempotency = {});
  domain::Result<domain::Job> GetJob(const std::string& id, bool with_stages = false);
  domain::Result<domain::Stage> AddStage(const std::string& job_id, const domain::NewStage& stage,
                                         const Idempotency& idempotency = {});
  domain::Result<std::vector<domain::Task>> AddTasks(const std::string& stage_id,
                                                     const std::vector<domain::NewTask>& tasks,
                                                     const Idempotency& idempotency = {});
  domain::Result<domain::Stage> GetStage(const std::string& id, bool with_tasks = false);

  // Consumer side. Dequeue: std::nullopt when nothing is claimable.
  domain::Result<std::optional<domain::Task>> Dequeue(const std::string& stage_type);
  domain::Result<domain::Task> ReportTask(const std::string& task_id, domain::TaskStatus status);
  domain::Result<domain::Task> GetTask(const std::string& id);

  // Any request; returns the HTTP status and body. Transport failures -> kUnavailable.
  struct Raw {
    int status = 0;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers = {};  // response header fields
  };
  // `wait_seconds` > 0: the server may hold the answer that long (a long poll): the read
  // timeout is stretched to cover it, and a stop of `cancel` cuts it (HttpRequest::cancel).
  domain::Result<Raw> Request(const std::string& method, const std::string& path, const std::string& body = "",
                              int wait_seconds = 0, std::stop_token cancel = {});
  // Any request, with its headers and the whole response.
  domain::Result<HttpResponse> Send(HttpRequest request);
  // A request with an Idempotency-Key (idempotency.key, or a fresh one), retried as
  // Idempotency says; the last try's answer, or its error when none answered. A first try
  // cut by `cancel` is asked again without it, for up to about 3 s while the server still
  // holds the key (it notices the cut within a second): the answer it gave then comes back.
  domain::Result<Raw> RequestIdempotent(const std::string& method, const std::string& path, const std::string& body,
                                        const Idempotency& idempotency, int wait_seconds = 0,
                                        std::stop_token cancel = {});

  Transport& transport() { return *transport_; }

  // ---- More of the v1 API and its extensions, built on Request (operations.cc) ----
  // Errors: the server's code and message (HTTP status in the message when the body is
  // not a Jobnik error); a body that is not the API's -> kBadResponse.

  // One page of a list. next_cursor: pass it back to get the next page (absent: last).
  template <typename T>
  struct Page {
    std::vector<T> items;
    std::optional<std::string> next_cursor;
  };
  // limit: one page of at most `limit` items after `cursor`; absent: the whole list.
  struct Paging {
    std::optional<int> limit;
    std::optional<std::string> cursor;
  };
  domain::Result<Page<domain::Job>> FindJobs(const domain::JobFilter& filter, const Paging& paging = {});
  domain::Result<Page<domain::Stage>> FindStages(const domain::StageFilter& filter, const Paging& paging = {});
  domain::Result<Page<domain::Task>> FindTasks(const domain::TaskFilter& filter, const Paging& paging = {});
  domain::Result<std::vector<domain::Stage>> GetJobStages(const std::string& job_id);
  // GET /v1/jobs/{id}/events (extension): one page of the job's event log, newest first;
  // without paging.limit the server's default page size (100). Always paged: follow
  // next_cursor for older events.
  domain::Result<Page<domain::JobEvent>> GetJobEvents(const std::string& job_id, const Paging& paging = {});
  domain::Result<domain::Summary> GetStageSummary(const std::string& stage_id);
  // Pause (PAUSED), resume (PENDING) or abort (ABORTED) a job.
  domain::Status SetJobStatus(const std::string& job_id, domain::JobStatus status);
  domain::Status SetJobPriority(const std::string& job_id, domain::Priority priority);
  domain::Status DeleteJob(const std::string& job_id);
  // Re-runs failed work (extension): POST /v1/jobs/{id}/retry re-opens a FAILED job (its
  // failed tasks claimable again with fresh attempts) and returns the job; POST
  // /v1/tasks/{id}/retry re-opens one FAILED task and returns it. kNotRetryable (409)
  // when the job or task is not FAILED.
  domain::Result<domain::Job> RetryJob(const std::string& job_id);
  domain::Result<domain::Task> RetryTask(const std::string& task_id);
  // Concurrency limits of stage types (extension): at most max_in_progress tasks of the
  // type IN_PROGRESS at once, across every jobnikd and worker; 0 pauses the type.
  struct StageTypeLimit {
    std::string stage_type;
    std::optional<int> max_in_progress;  // none: unlimited
    std::optional<std::string> update_time;
    // Its unfinished work (ListStageTypes only).
    std::int64_t pending = 0, in_progress = 0, retried = 0;
  };
  // PUT /v1/stage-types/{type}/limits.
  domain::Result<StageTypeLimit> SetStageTypeLimit(const std::string& stage_type, int max_in_progress);
  // GET of the same; kLimitNotFound when the type has no limit.
  domain::Result<StageTypeLimit> GetStageTypeLimit(const std::string& stage_type);
  // DELETE of the same: the type is unlimited again (also fine when it had no limit).
  domain::Status ClearStageTypeLimit(const std::string& stage_type);
  // GET /v1/stage-types: every stage type with unfinished work or a limit, by name.
  domain::Result<std::vector<StageTypeLimit>> ListStageTypes();
  // Releases a WAITING (or CREATED) stage: PENDING.
  domain::Status ReleaseStage(const std::string& stage_id);
  enum class Entity { kJob, kStage, kTask };
  // Replaces the userMetadata of a job, stage or task with `json_object` (JSON text).
  domain::Status SetUserMetadata(Entity entity, const std::string& id, const std::string& json_object);

  // ---- A job's changes as they happen: GET /v1/stream (extension; stream.cc) ----
  struct JobStreamMessage {
    // kKeepAlive: nothing changed, the stream is alive (every 15 s without other messages).
    enum class Kind { kJob, kEvent, kKeepAlive } kind = Kind::kJob;
    domain::Job job;         // kJob: the job with its stages, as it is now
    domain::JobEvent event;  // kEvent: one entry of its event log
  };
  struct JobStreamOptions {
    // Also the events with ids above this (0: the whole log); unset: only new ones.
    std::optional<std::int64_t> after;
    // The longest silence before the stream counts as lost (the server sends a keep-alive
    // every 15 s).
    std::chrono::milliseconds silence{45000};
  };
  // Opens the job's stream (a kJob message first, then one whenever the job changes, and
  // kEvent messages for its event log) and hands each message to `on_message` until it
  // returns false (then OK). Otherwise the error that ended it: kJobNotFound (unknown or
  // deleted job), kUnavailable (the stream broke or jobnikd stopped: open it again with
  // `after` set to the last event's id), kRouteNotFound from a jobnikd without streams
  // (poll GetJob instead), kBadResponse.
  domain::Status StreamJob(const std::string& job_id, const JobStreamOptions& options,
                           const std::function<bool(const JobStreamMessage&)>& on_message);

  // ---- Worker operations (worker_ops.cc): claim tokens, leases, reasons and heartbeats ----
  // The claim/report/heartbeat fields of a server with leases are sent only when asked for
  // (a server without them rejects unknown fields and query parameters).
  struct ClaimOptions {
    int lease_seconds = 0;  // > 0: ?lease_seconds=N
    std::string worker_id;  // non-empty: ?worker_id=...
    // > 0 (up to 60): jobnikd's long poll, ?wait_seconds=N: an empty queue is answered
    // after up to N seconds, as soon as a task arrives. The read timeout is stretched to
    // cover the wait.
    int wait_seconds = 0;
    // true: the claim is sent with a fresh Idempotency-Key (jobnikd extension) and, when
    // its answer is lost (no answer), sent again once with the same key, so that the task
    // it claimed comes back instead of being stranded until the sweeper fails it. Costs
    // jobnikd two short statements per claim.
    bool idempotent = false;
  };
  struct Claimed {
    domain::Task task;
    std::string json;      // the task as the server sent it
    std::string claim_id;  // empty: the server has no claim tokens
  };
  // std::nullopt when nothing is claimable.
  domain::Result<std::optional<Claimed>> Claim(const std::string& stage_type, const ClaimOptions& options);
  struct ReportOptions {
    std::string claim_id;  // non-empty: sent as claimId
    std::string reason;    // non-empty (FAILED): sent as reason, cut to 8 KiB
    // Set (FAILED): sent as retryAfterSeconds, the delay before the task is retried
    // (instead of its retry policy's); 0 .. 604800.
    std::optional<double> retry_after_seconds = std::nullopt;
  };
  domain::Result<domain::Task> Report(const std::string& task_id, domain::TaskStatus status,
                                      const ReportOptions& options);
  // The same report without the task in the answer (Prefer: return=minimal; jobnikd answers
  // 204): for a caller that only needs to know it was applied. Against a server without the
  // preference the task it sends is ignored.
  domain::Status ReportMinimal(const std::string& task_id, domain::TaskStatus status, const ReportOptions& options);
  // POST /v1/tasks/{id}/heartbeat. kClaimLost: 409 TASK_CLAIM_MISMATCH; kJobNotActive: 409
  // JOB_NOT_ACTIVE (the job was paused or aborted); kError: anything else (status set).
  enum class HeartbeatOutcome { kOk, kClaimLost, kJobNotActive, kError };
  HeartbeatOutcome Heartbeat(const std::string& task_id, const std::string& claim_id, int lease_seconds,
                             domain::Status* error = nullptr);

  // ---- Batch operations (extension; worker_ops.cc) ----
  struct ClaimTasksRequest {
    std::vector<std::string> stage_types{};  // 1..16 distinct types
    int limit = 1;                           // 1..1000
    int wait_seconds = 0;                    // 0..60
    int lease_seconds = 0;                   // > 0: sent as leaseSeconds
    std::string worker_id{};                 // non-empty: sent as workerId
    bool idempotent = false;                 // as ClaimOptions::idempotent
    // A stop cuts a waiting claim (RequestStop of a worker): kUnavailable "cancelled", or
    // with `idempotent` the answer the server had given (maybe a task) asked for again.
    std::stop_token cancel{};
  };
  // POST /v1/tasks/claim: up to `limit` tasks of the types, highest priority then oldest
  // first over all of them; empty when none is claimable.
  domain::Result<std::vector<Claimed>> ClaimTasks(const ClaimTasksRequest& request);
  struct TaskUpdate {
    std::string task_id;
    domain::TaskStatus status = domain::TaskStatus::kCompleted;
    ReportOptions options;
  };
  // POST /v1/tasks/status (1..1000 updates): one Status per update, in order: ok, or that
  // update's error with the code the single report gives (TASK_CLAIM_MISMATCH, ...). An
  // error Result only when the request as a whole failed (then nothing is known of the
  // updates: each may or may not have been applied).
  domain::Result<std::vector<domain::Status>> ReportTasks(const std::vector<TaskUpdate>& updates);

 private:
  std::shared_ptr<Transport> transport_;
};

// JSON bodies for the requests (also used by jobnikctl): domain/codec.h's encoders.
std::string NewJobJson(const domain::NewJob& job);
std::string NewStageJson(const domain::NewStage& stage);
std::string NewTasksJson(const std::vector<domain::NewTask>& tasks);

}  // namespace jobnik::client
