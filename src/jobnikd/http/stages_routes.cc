// The /v1/stages routes: list (paged or streamed), get, summary, user metadata, status,
// the tasks of a stage (list, add), and dequeue (claim) by stage type.
#include "http/routes.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <chrono>
#include <optional>
#include <string>

#include "domain/codec.h"
#include "domain/model.h"
#include "domain/time.h"
#include "domain/validation.h"
#include "http/lists.h"
#include "http/query.h"

namespace jobnik::http {

using domain::ErrorCode;

void AddStageRoutes(std::vector<Route>& routes, store::Store& st, Metrics& m, LeaseBounds lease, LongPoll long_poll) {
  const RouteAdder add{routes};
  add("GET", "/v1/stages", "/v1/stages",
      WithPaging({"job_id", "stage_type", "stage_operation_status", "should_return_tasks"}), [&st](Call& c) -> Reply {
        Query q(c.query);
        domain::StageFilter f;
        f.job_id = q.Uuid("job_id");
        f.type = q.String("stage_type", 0, 50);
        f.status = q.Enum("stage_operation_status", domain::ParseStageStatus, domain::kAllStageStatuses);
        f.with_tasks = q.Bool("should_return_tasks");
        const Paging paging = ReadPaging(q, ListKind::kStages);
        if (!q.status().ok()) return ErrorReply(q.status());
        return ListReply<domain::Stage>(c, paging, ListKind::kStages,
                                        [&st, f](const store::ListRange& r) { return st.ListStages(f, r); });
      });
  add("GET", "/v1/stages/([^/]+)", "/v1/stages/{stageId}", {"should_return_tasks"}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "stageId", id); !s.ok()) return ErrorReply(s);
    Query q(c.query);
    const auto tasks = q.Bool("should_return_tasks") ? store::TaskDetail::kTasks : store::TaskDetail::kNone;
    if (!q.status().ok()) return ErrorReply(q.status());
    auto stage = st.GetStage(id, tasks);
    return stage.ok() ? JsonReply(200, *stage) : ErrorReply(stage.status());
  });
  add("GET", "/v1/stages/([^/]+)/summary", "/v1/stages/{stageId}/summary", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "stageId", id); !s.ok()) return ErrorReply(s);
    auto summary = st.GetStageSummary(id);
    return summary.ok() ? JsonReply(200, *summary) : ErrorReply(summary.status());
  });
  add("PATCH", "/v1/stages/([^/]+)/user-metadata", "/v1/stages/{stageId}/user-metadata", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "stageId", id); !s.ok()) return ErrorReply(s);
    auto md = domain::ParseUserMetadata(c.req.body);
    if (!md.ok()) return ErrorReply(md.status());
    if (auto s = st.SetStageUserMetadata(id, *md); !s.ok()) return ErrorReply(s);
    return CodeReply("STAGE_MODIFIED_SUCCESSFULLY");
  });
  add("PUT", "/v1/stages/([^/]+)/status", "/v1/stages/{stageId}/status", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "stageId", id); !s.ok()) return ErrorReply(s);
    auto status = domain::ParseStageStatusChange(c.req.body);
    if (!status.ok()) return ErrorReply(status.status());
    if (auto s = st.SetStageStatus(id, *status); !s.ok()) return ErrorReply(s);
    spdlog::info("stage {} status set to {}", id, domain::ToString(*status));
    return CodeReply("STAGE_MODIFIED_SUCCESSFULLY");
  });
  add("GET", "/v1/stages/([^/]+)/tasks", "/v1/stages/{stageId}/tasks", WithPaging({}), [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "stageId", id); !s.ok()) return ErrorReply(s);
    Query q(c.query);
    const Paging paging = ReadPaging(q, ListKind::kTasks);
    if (!q.status().ok()) return ErrorReply(q.status());
    if (auto stage = st.GetStage(id); !stage.ok()) return ErrorReply(stage.status());
    domain::TaskFilter f;
    f.stage_id = id;
    return ListReply<domain::Task>(c, paging, ListKind::kTasks,
                                   [&st, f](const store::ListRange& r) { return st.ListTasks(f, r); });
  });
  add("POST", "/v1/stages/([^/]+)/tasks", "/v1/stages/{stageId}/tasks", {}, [&st, &m](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "stageId", id); !s.ok()) return ErrorReply(s);
    auto tasks = domain::ParseNewTasks(c.req.body);
    if (!tasks.ok()) return ErrorReply(tasks.status());
    auto created = st.AddTasks(id, *tasks, c.trace);
    if (!created.ok()) return ErrorReply(created.status());
    m.tasks_created.Increment(static_cast<double>(created->size()));
    spdlog::info("{} tasks added to stage {}", created->size(), id);
    return JsonReply(201, *created);
  });
  add("PATCH", "/v1/stages/([^/]+)/tasks/dequeue", "/v1/stages/{stageType}/tasks/dequeue",
      {"lease_seconds", "worker_id", "wait_seconds"}, [&st, &m, lease, long_poll](Call& c) -> Reply {
        const std::string type = c.req.matches[1].str();
        Tag("jobnik.stage.type", type);
        if (auto s = domain::CheckTextParam(type, "request/params/stageType", 50); !s.ok()) return ErrorReply(s);
        // Extensions: a lease the sweeper enforces, and who claims (docs/design.md).
        Query q(c.query);
        store::ClaimOptions options;
        if (auto l = q.Int("lease_seconds", lease.min, lease.max)) options.lease_seconds = static_cast<int>(*l);
        options.worker_id = q.String("worker_id", 1, 200);
        // Extension: long poll. Waits up to this many seconds for a claimable task instead
        // of answering 404 at once (services/claim_waiter.h); no SQL runs while it waits.
        const auto wait = q.Int("wait_seconds", 0, kMaxWaitSeconds);
        if (!q.status().ok()) return ErrorReply(q.status());
        // Unset only when the client hung up before the first attempt: answered as empty.
        std::optional<domain::Result<store::ClaimedTask>> claimed =
            domain::Status(ErrorCode::kTaskNotFound, fmt::format("No claimable task of stage type '{}'", type));
        const auto attempt = [&] {
          claimed = st.ClaimTask(type, options);
          return claimed->ok() || claimed->status().code() != ErrorCode::kTaskNotFound;
        };
        if (long_poll.ClaimOrWait(c.req, m, {type}, std::chrono::seconds(wait.value_or(0)), attempt) ==
            services::ClaimWaiter::Outcome::kOverLimit) {
          return WaitersFullReply(m, "without wait_seconds");
        }
        auto& d = *claimed;
        if (!d.ok()) {
          if (d.status().code() == ErrorCode::kTaskNotFound) m.claim_misses.Increment();
          return ErrorReply(d.status());
        }
        m.tasks_claimed.Increment();
        Tag("jobnik.task.id", d->task.id);
        Tag("jobnik.stage.id", d->task.stage_id);
        Tag("jobnik.job.id", d->job_id);
        spdlog::debug("task {} of stage {} (job {}) dequeued (claim {}{}{})", d->task.id, d->task.stage_id, d->job_id,
                      d->task.claim_id.value_or("-"), options.worker_id ? ", worker " : "",
                      options.worker_id.value_or(""));
        return JsonReply(200, d->task);
      });
}

}  // namespace jobnik::http
