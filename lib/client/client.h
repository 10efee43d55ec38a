// The typed C++ client of the v1 API (used by jobnikctl, jobnik-worker and the
// benchmarks). A Client speaks over a Transport (transport.h): the real one is one
// keep-alive HTTP connection, so use one Client per thread; tests give it a FakeTransport.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/transport.h"
#include "domain/error.h"
#include "domain/model.h"

namespace jobnik::client {

class Client {
 public:
  // Over the real transport (MakeHttpTransport).
  explicit Client(const ClientOptions& options);
  // Over any transport (e.g. a FakeTransport shared with the test).
  explicit Client(std::shared_ptr<Transport> transport);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Producer side.
  domain::Result<domain::Job> CreateJob(const domain::NewJob& job);
  domain::Result<domain::Job> GetJob(const std::string& id, bool with_stages = false);
  domain::Result<domain::Stage> AddStage(const std::string& job_id, const domain::NewStage& stage);
  domain::Result<std::vector<domain::Task>> AddTasks(const std::string& stage_id,
                                                     const std::vector<domain::NewTask>& tasks);
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
  domain::Result<Raw> Request(const std::string& method, const std::string& path, const std::string& body = "");
  // Any request, with its headers and the whole response.
  domain::Result<HttpResponse> Send(const HttpRequest& request);

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
  domain::Result<domain::Summary> GetStageSummary(const std::string& stage_id);
  // Pause (PAUSED), resume (PENDING) or abort (ABORTED) a job.
  domain::Status SetJobStatus(const std::string& job_id, domain::JobStatus status);
  domain::Status SetJobPriority(const std::string& job_id, domain::Priority priority);
  domain::Status DeleteJob(const std::string& job_id);
  // Releases a WAITING (or CREATED) stage: PENDING.
  domain::Status ReleaseStage(const std::string& stage_id);
  // A report with the extensions of a server that has them: the claim it is made under
  // (409 TASK_CLAIM_MISMATCH when the task is no longer that claim) and, for FAILED, the
  // reason (kept in the task's `errors`).
  struct ReportDetails {
    std::optional<std::string> claim_id;
    std::optional<std::string> reason;
  };
  domain::Result<domain::Task> ReportTask(const std::string& task_id, domain::TaskStatus status,
                                          const ReportDetails& details);
  enum class Entity { kJob, kStage, kTask };
  // Replaces the userMetadata of a job, stage or task with `json_object` (JSON text).
  domain::Status SetUserMetadata(Entity entity, const std::string& id, const std::string& json_object);

 private:
  std::shared_ptr<Transport> transport_;
};

// JSON bodies for the requests (also used by jobnikctl): domain/codec.h's encoders.
std::string NewJobJson(const domain::NewJob& job);
std::string NewStageJson(const domain::NewStage& stage);
std::string NewTasksJson(const std::vector<domain::NewTask>& tasks);

}  // namespace jobnik::client
