// The /v1/tasks routes: list (paged or streamed), get, user metadata, and status (the
// report of a task's outcome, with its metrics and cascade log lines).
#include "http/routes.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "domain/codec.h"
#include "domain/model.h"
#include "domain/time.h"
#include "http/lists.h"
#include "http/query.h"
#include "services/claim_waiter.h"

namespace jobnik::http {

namespace {

// The metrics and log lines of a task report (single or in a batch).
void NoteReport(Metrics& m, const std::string& id, const store::TaskReport& r) {
  m.throughput.Count(r.stage_type, r.task.status,
                     std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()));
  switch (r.task.status) {
    case domain::TaskStatus::kCompleted:
      m.tasks_completed.Increment();
      break;
    case domain::TaskStatus::kFailed:
      m.tasks_failed.Increment();
      break;
    case domain::TaskStatus::kRetried:
      m.tasks_retried.Increment();
      break;
    default:
      break;
  }
  if (r.task.status != domain::TaskStatus::kCompleted) {
    spdlog::info("task {} of stage {} (job {}) reported FAILED -> {} (attempt {}/{}){}{}{}{}", id, r.task.stage_id,
                 r.job_id, domain::ToString(r.task.status), r.task.attempts, r.task.max_attempts,
                 r.task.worker_id ? " by worker " : "", r.task.worker_id.value_or(""),
                 r.task.not_before ? "; claimable again from " : "",
                 r.task.not_before ? domain::FormatTime(*r.task.not_before) : "");
  }
  if (r.stage_completed) spdlog::info("stage {} of job {} completed", r.task.stage_id, r.job_id);
  if (r.stage_failed) spdlog::warn("stage {} of job {} failed (task {})", r.task.stage_id, r.job_id, id);
  if (r.next_stage_started) spdlog::info("stage {} of job {} started", *r.next_stage_started, r.job_id);
  if (r.job_completed) spdlog::info("job {} completed", r.job_id);
  if (r.job_failed) spdlog::warn("job {} failed", r.job_id);
}

// A batch report's result for one item: {"id","ok":true} or {"id","code","message"}.
void AppendItemResult(std::string& out, const std::string& id, const domain::Status& error) {
  out += R"({"id":)";
  if (id.empty()) {
    out += "null";
  } else {
    domain::AppendJsonString(out, id);
  }
  if (error.ok()) {
    out += R"(,"ok":true})";
    return;
  }
  out += R"(,"code":)";
  domain::AppendJsonString(out, domain::ToString(error.code()));
  out += R"(,"message":)";
  domain::AppendJsonString(out, error.message());
  out += '}';
}

}  // namespace

services::ClaimWaiter::Outcome LongPoll::ClaimOrWait(const httplib::Request& req, Metrics& m,
                                                     const std::vector<std::string>& stage_types,
                                                     std::chrono::seconds wait,
                                                     const std::function<bool()>& attempt) const {
  if (!waiter || wait.count() <= 0) {
    return attempt() ? services::ClaimWaiter::Outcome::kClaimed : services::ClaimWaiter::Outcome::kTimedOut;
  }
  services::WaitCancel cancel;
  const HangUpWatch watch(connections, req, [&cancel] { cancel.Cancel(); });
  // Before each attempt it looks at its connection itself (once the guard has found its
  // socket): the guard's next look may be a quarter second away, and a task claimed for a
  // client that is gone waits for its lease.
  const auto attempt_unless_gone = [&] {
    if (connections && connections->ClientGone({req.remote_addr, req.remote_port})) {
      cancel.Cancel();
      return false;
    }
    return attempt();
  };
  const auto outcome =
      waiter->ClaimOrWait(stage_types, std::chrono::steady_clock::now() + wait, attempt_unless_gone, &cancel);
  if (outcome == services::ClaimWaiter::Outcome::kCancelled) {
    m.claim_hangups.Increment();
    spdlog::debug("a waiting claim of {} ended: its client {}:{} closed the connection", fmt::join(stage_types, ", "),
                  req.remote_addr, req.remote_port);
  }
  return outcome;
}

Reply WaitersFullReply(Metrics& m, std::string_view instead) {
  m.claim_misses.Increment();
  Reply busy = ErrorReply(domain::Unavailable(
      fmt::format("too many claims are waiting already (claim.max_waiters): retry later, or {}", instead)));
  busy.headers.emplace_back("Retry-After", "1");
  return busy;
}

void AddTaskRoutes(std::vector<Route>& routes, store::Store& st, Metrics& m, LeaseBounds lease, LongPoll long_poll) {
  const RouteAdder add{routes};
  add("GET", "/v1/tasks", "/v1/tasks", WithPaging({"stage_id", "stage_type", "status", "from_date", "end_date"}),
      [&st](Call& c) -> Reply {
        Query q(c.query);
        domain::TaskFilter f;
        f.stage_id = q.Uuid("stage_id");
        f.stage_type = q.String("stage_type", 0, 50);
        f.status = q.Enum("status", domain::ParseTaskStatus, domain::kAllTaskStatuses);
        f.from_date = q.Time("from_date", domain::DateBound::kStartOfDay);
        f.end_date = q.Time("end_date", domain::DateBound::kEndOfDay);
        const Paging paging = ReadPaging(q, ListKind::kTasks);
        if (!q.status().ok()) return ErrorReply(q.status());
        return ListReply<domain::Task>(c, paging, ListKind::kTasks,
                                       [&st, f](const store::ListRange& r) { return st.ListTasks(f, r); });
      });
  add("GET", "/v1/tasks/([^/]+)", "/v1/tasks/{taskId}", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "taskId", id); !s.ok()) return ErrorReply(s);
    auto task = st.GetTask(id);
    return task.ok() ? JsonReply(200, *task) : ErrorReply(task.status());
  });
  add("PATCH", "/v1/tasks/([^/]+)/user-metadata", "/v1/tasks/{taskId}/user-metadata", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "taskId", id); !s.ok()) return ErrorReply(s);
    auto md = domain::ParseUserMetadata(c.req.body);
    if (!md.ok()) return ErrorReply(md.status());
    if (auto s = st.SetTaskUserMetadata(id, *md); !s.ok()) return ErrorReply(s);
    return CodeReply("TASK_MODIFIED_SUCCESSFULLY");
  });
  add("PUT", "/v1/tasks/([^/]+)/status", "/v1/tasks/{taskId}/status", {}, [&st, &m](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "taskId", id); !s.ok()) return ErrorReply(s);
    auto report = domain::ParseTaskReport(c.req.body);
    if (!report.ok()) return ErrorReply(report.status());
    auto r = st.ReportTask(id, report->status, {report->claim_id, report->reason, report->retry_after_seconds});
    if (!r.ok()) return ErrorReply(r.status());
    Tag("jobnik.stage.id", r->task.stage_id);
    Tag("jobnik.job.id", r->job_id);
    NoteReport(m, id, *r);
    // Extension: a worker that has no use for the task (Prefer: return=minimal) gets none.
    if (PrefersMinimalReturn(c.req)) return Reply{204, "", {{"Preference-Applied", "return=minimal"}}};
    return JsonReply(200, r->task);
  });
  // Extension: a batch claim (docs/design.md, "Batch claims and reports"). 200
  // {"tasks": [...]}, possibly empty; each task as the dequeue answers it.
  add("POST", "/v1/tasks/claim", "/v1/tasks/claim", {}, [&st, &m, lease, long_poll](Call& c) -> Reply {
    auto req = domain::ParseClaimBatch(c.req.body);
    if (!req.ok()) return ErrorReply(req.status());
    if (req->lease_seconds && (*req->lease_seconds < lease.min || *req->lease_seconds > lease.max)) {
      return ErrorReply(domain::ValidationError(
          fmt::format("request/body/leaseSeconds must be an integer from {} to {}", lease.min, lease.max)));
    }
    const store::ClaimOptions options{req->worker_id, req->lease_seconds};
    // With waitSeconds, an empty claim waits for work of any of its types (no SQL while it
    // waits; services/claim_waiter.h) and claims again, until the deadline.
    // Empty unless an attempt ran (a client that hung up before the first gets none).
    std::optional<domain::Result<std::vector<store::ClaimedTask>>> result = std::vector<store::ClaimedTask>{};
    const auto attempt = [&] {
      result = st.ClaimTasks(req->stage_types, req->limit, options);
      return !result->ok() || !(*result)->empty();
    };
    if (long_poll.ClaimOrWait(c.req, m, req->stage_types, std::chrono::seconds(req->wait_seconds), attempt) ==
        services::ClaimWaiter::Outcome::kOverLimit) {
      return WaitersFullReply(m, "with waitSeconds 0");
    }
    auto& claimed = *result;
    if (!claimed.ok()) return ErrorReply(claimed.status());
    if (claimed->empty()) {
      m.claim_misses.Increment();
    } else {
      m.tasks_claimed.Increment(static_cast<double>(claimed->size()));
    }
    Tag("jobnik.tasks.claimed", std::to_string(claimed->size()));
    std::string body = R"({"tasks":[)";
    for (std::size_t i = 0; i < claimed->size(); ++i) {
      const auto& d = (*claimed)[i];
      if (i) body += ',';
      domain::AppendJson(body, d.task);
      spdlog::debug("task {} of stage {} (job {}) claimed in a batch (claim {}{}{})", d.task.id, d.task.stage_id,
                    d.job_id, d.task.claim_id.value_or("-"), options.worker_id ? ", worker " : "",
                    options.worker_id.value_or(""));
    }
    body += "]}";
    return Reply{200, std::move(body), {}};
  });
  // Extension: a batch report. 200 with one result per update, in order; each update is
  // applied on its own (one failing never fails another).
  add("POST", "/v1/tasks/status", "/v1/tasks/status", {}, [&st, &m](Call& c) -> Reply {
    auto items = domain::ParseTaskReportBatch(c.req.body);
    if (!items.ok()) return ErrorReply(items.status());
    std::vector<store::TaskUpdate> updates;
    std::vector<std::size_t> index;  // updates[k] is item index[k]
    for (std::size_t i = 0; i < items->size(); ++i) {
      const auto& item = (*items)[i];
      if (!item.error.ok()) continue;
      updates.push_back(
          {item.id, item.report.status, {item.report.claim_id, item.report.reason, item.report.retry_after_seconds}});
      index.push_back(i);
    }
    auto results = st.ReportTasks(updates);
    std::vector<domain::Status> outcome(items->size(), domain::Status::Ok());
    for (std::size_t k = 0; k < results.size(); ++k) {
      if (results[k].ok()) {
        NoteReport(m, updates[k].id, *results[k]);
      } else {
        outcome[index[k]] = results[k].status();
      }
    }
    std::string body = R"({"results":[)";
    for (std::size_t i = 0; i < items->size(); ++i) {
      if (i) body += ',';
      const auto& item = (*items)[i];
      AppendItemResult(body, item.id, item.error.ok() ? outcome[i] : item.error);
    }
    body += "]}";
    Tag("jobnik.tasks.reported", std::to_string(items->size()));
    return Reply{200, std::move(body), {}};
  });
  // Extension: extends the lease of a claimed task (docs/design.md, "Claims, leases and
  // heartbeats"). 200 {"id", "claimId", "leaseExpiresAt"}.
  // Extension: re-run one FAILED task (docs/design.md, "Re-running failed work").
  add("POST", "/v1/tasks/([^/]+)/retry", "/v1/tasks/{taskId}/retry", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "taskId", id); !s.ok()) return ErrorReply(s);
    auto task = st.RetryTask(id);
    if (!task.ok()) return ErrorReply(task.status());
    spdlog::info("task {} of stage {} retried", id, task->stage_id);
    return JsonReply(200, *task);
  });
  add("POST", "/v1/tasks/([^/]+)/heartbeat", "/v1/tasks/{taskId}/heartbeat", {}, [&st, lease](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "taskId", id); !s.ok()) return ErrorReply(s);
    auto beat = domain::ParseHeartbeat(c.req.body);
    if (!beat.ok()) return ErrorReply(beat.status());
    const int seconds = beat->lease_seconds.value_or(lease.heartbeat_default);
    if (seconds < lease.min || seconds > lease.max) {
      return ErrorReply(domain::ValidationError(
          fmt::format("request/body/leaseSeconds must be an integer from {} to {}", lease.min, lease.max)));
    }
    auto h = st.HeartbeatTask(id, beat->claim_id, seconds);
    if (!h.ok()) {
      spdlog::info("heartbeat of task {} refused: {}", id, h.status().message());
      return ErrorReply(h.status());
    }
    std::string body = "{";
    body += R"("id":)" + nlohmann::json(id).dump();
    body += R"(,"claimId":)" + nlohmann::json(h->claim_id).dump();
    body += R"(,"leaseExpiresAt":")" + domain::FormatTime(h->lease_expires_at) + "\"}";
    return Reply{200, std::move(body), {}};
  });
}

}  // namespace jobnik::http
