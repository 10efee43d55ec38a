// jobnik-worker's handlers: the configuration of one stage type's command, and running a
// claimed task through it (the task contract of jobnik-worker(1)).
#pragma once

#include <sys/types.h>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/client.h"
#include "client/worker.h"
#include "domain/error.h"
#include "jobnik/worker_plugin.h"
#include "process/runner.h"

namespace jobnik::worker {

struct HandlerConfig {
  std::string stage_type;
  // argv; with `shell`, one element: the script given to /bin/sh -c.
  std::vector<std::string> command;
  bool shell = false;
  int concurrency = 1;
  int timeout_seconds = 0;  // 0: no limit
  int kill_grace_seconds = 5;
  std::map<std::string, std::string> env;
  std::string cwd;
  std::string user;  // run as this user (the worker must be root)
  std::optional<process::SpawnOptions::User> run_as;
  std::optional<int> retry_exit_code;  // "retry later"
  int retry_after_seconds = 60;        // ... after this long (retryAfterSeconds)
  // Or a plugin (include/jobnik/worker_plugin.h) instead of a command.
  std::string plugin;                                // its shared library
  std::string plugin_config;                         // given to its init()
  const jobnik_worker_plugin* plugin_api = nullptr;  // loaded by LoadPlugin
  void* plugin_state = nullptr;
};

// Loads the handler's plugin and calls its init(). Errors: the library cannot be loaded,
// has no jobnik_worker_plugin symbol, speaks another ABI version, or its init refused.
domain::Status LoadPlugin(HandlerConfig& handler);
// Calls the loaded plugin's destroy().
void UnloadPlugin(HandlerConfig& handler);

// Where log lines go (thread-safe): text or JSON lines, each with the task id when there is one.
class Logger {
 public:
  Logger(std::ostream& out, bool json) : out_(out), json_(json) {}
  void Log(std::string_view level, std::string_view message, std::string_view task_id = {},
           std::string_view stage_type = {});

 private:
  std::mutex mu_;
  std::ostream& out_;
  bool json_;
};

// Why a running command was killed before its end (other than its timeout).
enum class KillCause { kNone, kShutdown, kJobNotActive, kClaimLost };

// The job id of a stage (one GET per stage, then cached).
class StageCache {
 public:
  std::string JobIdOf(client::Client& client, const std::string& stage_id);

 private:
  std::mutex mu_;
  std::map<std::string, std::string> job_ids_;
};

// What a task run needs from the program.
struct RunEnvironment {
  StageCache stages;
  process::ProcessRunner& runner;
  Logger& log;
  std::string url;           // JOBNIK_URL for the command
  std::stop_token shutdown;  // requested when the shutdown timeout ends: commands are killed
  // Called with the stage type when a command is killed for its timeout (metrics).
  std::function<void(const std::string& stage_type)> on_timeout;
};

// Replaces each {data.a.b} in `arg` with that field of `data` (a string as is, anything
// else as JSON). With `shell`, values are single-quoted for /bin/sh. Errors name the
// placeholder when the field is missing or the braces are not closed.
domain::Result<std::string> ExpandPlaceholders(const std::string& arg, const nlohmann::json& data, bool shell);

// Runs a claimed task through the handler's command and says how it ended.
client::TaskOutcome RunTask(const HandlerConfig& handler, RunEnvironment& env, client::TaskContext& context);

}  // namespace jobnik::worker
