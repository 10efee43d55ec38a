// The typed C++ client of the v1 API (used by jobnikctl, jobnik-worker and the
// benchmarks). A Client speaks over a Transport (transport.h): the real one is one
// keep-alive HTTP connection, so use one Client per thread; tests give it a FakeTransport.
#pragma once

#include <memory>
#include <optional>
#include <string>
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
  };
  domain::Result<Raw> Request(const std::string& method, const std::string& path, const std::string& body = "");
  // Any request, with its headers and the whole response.
  domain::Result<HttpResponse> Send(const HttpRequest& request);

  Transport& transport() { return *transport_; }

 private:
  std::shared_ptr<Transport> transport_;
};

// JSON bodies for the requests (also used by jobnikctl): domain/codec.h's encoders.
std::string NewJobJson(const domain::NewJob& job);
std::string NewStageJson(const domain::NewStage& stage);
std::string NewTasksJson(const std::vector<domain::NewTask>& tasks);

}  // namespace jobnik::client
