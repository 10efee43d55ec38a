// The /v1/jobs routes: list (paged or streamed), create, get, delete, user metadata,
// priority, status, the stages of a job, and adding a stage to a job.
#include "http/routes.h"

#include <spdlog/spdlog.h>
#include <string>

#include "domain/codec.h"
#include "domain/model.h"
#include "domain/time.h"
#include "http/lists.h"
#include "http/query.h"

namespace jobnik::http {

void AddJobRoutes(std::vector<Route>& routes, store::Store& st, Metrics& m) {
  const RouteAdder add{routes};
  add("GET", "/v1/jobs", "/v1/jobs",
      WithPaging({"job_name", "name_contains", "priority", "status", "from_date", "end_date", "should_return_stages",
                  "should_return_task_summary"}),
      [&st](Call& c) -> Reply {
        Query q(c.query);
        domain::JobFilter f;
        f.name = q.String("job_name", 2, 50);
        f.name_contains = q.String("name_contains", 1, 50);  // extension: search
        f.priority = q.Enum("priority", domain::ParsePriority, domain::kAllPriorities);
        f.status = q.Enum("status", domain::ParseJobStatus, domain::kAllJobStatuses);
        f.from_date = q.Time("from_date", domain::DateBound::kStartOfDay);
        f.end_date = q.Time("end_date", domain::DateBound::kEndOfDay);
        f.with_stages = q.Bool("should_return_stages");
        f.with_task_summary = q.Bool("should_return_task_summary");
        const Paging paging = ReadPaging(q, ListKind::kJobs);
        if (!q.status().ok()) return ErrorReply(q.status());
        return ListReply<domain::Job>(c, paging, ListKind::kJobs,
                                      [&st, f](const store::ListRange& r) { return st.ListJobs(f, r); });
      });
  add("POST", "/v1/jobs", "/v1/jobs", {}, [&st, &m](Call& c) -> Reply {
    auto job = domain::ParseNewJob(c.req.body);
    if (!job.ok()) return ErrorReply(job.status());
    auto created = st.CreateJob(*job, c.trace);
    if (!created.ok()) return ErrorReply(created.status());
    m.jobs_created.Increment();
    Tag("jobnik.job.id", created->id);
    if (job->stages) {
      for (const auto& s : *job->stages) {
        m.stages_created.Increment();
        m.tasks_created.Increment(static_cast<double>(s.tasks.size()));
      }
    }
    spdlog::info("job {} created (name {}, {} stages)", created->id, created->name,
                 created->stages ? created->stages->size() : 0);
    return JsonReply(201, *created);
  });
  add("GET", "/v1/jobs/([^/]+)", "/v1/jobs/{jobId}", {"should_return_stages", "should_return_task_summary"},
      [&st](Call& c) -> Reply {
        std::string id;
        if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
        Query q(c.query);
        const auto stages = q.Bool("should_return_stages") ? store::StageDetail::kStages : store::StageDetail::kNone;
        const auto summary =
            q.Bool("should_return_task_summary") ? store::SummaryDetail::kTaskSummary : store::SummaryDetail::kNone;
        if (!q.status().ok()) return ErrorReply(q.status());
        auto job = st.GetJob(id, stages, summary);
        return job.ok() ? JsonReply(200, *job) : ErrorReply(job.status());
      });
  add("DELETE", "/v1/jobs/([^/]+)", "/v1/jobs/{jobId}", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    if (auto s = st.DeleteJob(id); !s.ok()) return ErrorReply(s);
    spdlog::info("job {} deleted", id);
    return CodeReply("JOB_DELETED_SUCCESSFULLY");
  });
  add("PATCH", "/v1/jobs/([^/]+)/user-metadata", "/v1/jobs/{jobId}/user-metadata", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    auto md = domain::ParseUserMetadata(c.req.body);
    if (!md.ok()) return ErrorReply(md.status());
    if (auto s = st.SetJobUserMetadata(id, *md); !s.ok()) return ErrorReply(s);
    return CodeReply("JOB_MODIFIED_SUCCESSFULLY");
  });
  add("PATCH", "/v1/jobs/([^/]+)/priority", "/v1/jobs/{jobId}/priority", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    auto p = domain::ParsePriorityChange(c.req.body);
    if (!p.ok()) return ErrorReply(p.status());
    auto changed = st.SetJobPriority(id, *p);
    if (!changed.ok()) return ErrorReply(changed.status());
    if (!*changed) return {204, "", {{"Reason", "Priority cannot be updated to the same value."}}};
    spdlog::info("job {} priority set to {}", id, domain::ToString(*p));
    return CodeReply("JOB_MODIFIED_SUCCESSFULLY");
  });
  add("PUT", "/v1/jobs/([^/]+)/status", "/v1/jobs/{jobId}/status", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    auto status = domain::ParseJobStatusChange(c.req.body);
    if (!status.ok()) return ErrorReply(status.status());
    if (auto s = st.SetJobStatus(id, *status); !s.ok()) return ErrorReply(s);
    spdlog::info("job {} status set to {}", id, domain::ToString(*status));
    return CodeReply("JOB_MODIFIED_SUCCESSFULLY");
  });
  // Extension: re-run a FAILED job's failed work (docs/design.md, "Re-running failed work").
  add("POST", "/v1/jobs/([^/]+)/retry", "/v1/jobs/{jobId}/retry", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    auto job = st.RetryJob(id);
    if (!job.ok()) return ErrorReply(job.status());
    spdlog::info("job {} retried: its failed tasks are claimable again", id);
    return JsonReply(200, *job);
  });
  add("GET", "/v1/jobs/([^/]+)/stages", "/v1/jobs/{jobId}/stages", {"should_return_tasks"}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    Query q(c.query);
    const auto tasks = q.Bool("should_return_tasks") ? store::TaskDetail::kTasks : store::TaskDetail::kNone;
    if (!q.status().ok()) return ErrorReply(q.status());
    auto stages = st.GetStagesOfJob(id, tasks);
    return stages.ok() ? JsonReply(200, *stages) : ErrorReply(stages.status());
  });
  // Extension: the job's event log, newest first, always in pages (limit, cursor).
  add("GET", "/v1/jobs/([^/]+)/events", "/v1/jobs/{jobId}/events", {"limit", "cursor"}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    Query q(c.query);
    Paging paging = ReadPaging(q, ListKind::kEvents);
    if (!q.status().ok()) return ErrorReply(q.status());
    if (!paging.paged) {  // no limit and no cursor: the first page, of the lists' default size
      paging.paged = true;
      paging.size = kDefaultPageSize;
    }
    return ListReply<domain::JobEvent>(c, paging, ListKind::kEvents,
                                       [&st, id](const store::ListRange& r) { return st.ListJobEvents(id, r); });
  });
  add("POST", "/v1/jobs/([^/]+)/stage", "/v1/jobs/{jobId}/stage", {}, [&st, &m](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    auto stage = domain::ParseNewStage(c.req.body);
    if (!stage.ok()) return ErrorReply(stage.status());
    auto created = st.AddStage(id, *stage, c.trace);
    if (!created.ok()) return ErrorReply(created.status());
    m.stages_created.Increment();
    Tag("jobnik.stage.id", created->id);
    Tag("jobnik.stage.type", created->type);
    spdlog::info("stage {} added to job {} (type {}, order {}, {})", created->id, id, created->type, created->order,
                 domain::ToString(created->status));
    return JsonReply(201, *created);
  });
}

}  // namespace jobnik::http
