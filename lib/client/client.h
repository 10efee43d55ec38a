// The typed C++ client of the v1 API (used by jobnikctl, jobnik-worker and the
// benchmarks). One Client holds one keep-alive HTTP connection: use one per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "domain/error.h"
#include "domain/model.h"

namespace httplib {
class Client;
}

namespace jobnik::client {

struct ClientOptions {
  std::string base_url = "http://127.0.0.1:8080";  // scheme://host:port
  int connect_timeout_ms = 3000;
  int read_timeout_ms = 30000;
};

class Client {
 public:
  explicit Client(const ClientOptions& options);
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

  // Any request; returns the HTTP status and body. Transport failures -> kUnavailable.
  struct Raw {
    int status = 0;
    std::string body;
  };
  domain::Result<Raw> Request(const std::string& method, const std::string& path, const std::string& body = "");

 private:
  std::unique_ptr<httplib::Client> http_;
};

// JSON bodies for the requests (also used by jobnikctl): domain/codec.h's encoders.
std::string NewJobJson(const domain::NewJob& job);
std::string NewStageJson(const domain::NewStage& stage);
std::string NewTasksJson(const std::vector<domain::NewTask>& tasks);

}  // namespace jobnik::client
