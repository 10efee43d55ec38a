// What a worker handler gets (TaskContext) and what it is made of: the worker's cache of the
// jobs and stages its handlers asked for (ContextCache) and the task's log lines (TaskLog).
//
// Staleness of job() and stage(): an entry is served for at most ContextCacheOptions::ttl
// (10 s) after its fetch began, then fetched again. Sooner than that it is dropped when a
// heartbeat answers JOB_NOT_ACTIVE (the job was paused or aborted: its job and stage), and it
// follows the context's own metadata helpers (SetJobMetadata/SetStageMetadata update the
// cached userMetadata; a helper that failed drops the entry, since a lost answer may have
// been applied). Anything else changed by someone else (status, priority, another
// program's userMetadata) is seen within the TTL.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <spdlog/common.h>

#include "client/client.h"
#include "client/clock.h"
#include "common/trace_context.h"
#include "domain/error.h"
#include "domain/model.h"

namespace spdlog {
class logger;
}

namespace jobnik::client {

// Why a task's `cancelled` token was requested: its job was paused or aborted, its claim was
// lost, or the worker is stopping and the handler's grace (Worker::Stop(grace)) is over.
enum class CancelCause { kNone, kJobNotActive, kClaimLost, kShutdown };

struct ContextCacheOptions {
  // Entries held at most, per kind (jobs, stages); the least recently used goes first.
  // 0: nothing is cached (every call fetches).
  std::size_t capacity = 256;
  // An entry older than this (from the start of its fetch) is fetched again; 0: nothing
  // is cached.
  Clock::Duration ttl = std::chrono::seconds(10);
};

// The jobs and stages that a worker's handlers asked for, shared by its slots. Thread-safe.
// A fetch goes through the asking slot's Client; slots asking for the same entry meanwhile
// wait for that one fetch and share its answer, error included (no request is doubled).
// Errors are never cached: the next call fetches again.
class ContextCache {
 public:
  // `clock` must outlive the cache.
  ContextCache(ContextCacheOptions options, Clock& clock);
  ~ContextCache();
  ContextCache(const ContextCache&) = delete;
  ContextCache& operator=(const ContextCache&) = delete;

  // The stage (without its tasks) or job (without its stages): cached, or fetched with
  // `client` (GetStage/GetJob): kStageNotFound, kJobNotFound, kUnavailable, ... as those say.
  domain::Result<domain::Stage> Stage(Client& client, const std::string& stage_id);
  domain::Result<domain::Job> Job(Client& client, const std::string& job_id);
  // The job of a stage this cache holds (of any age: a stage never changes jobs).
  std::optional<std::string> JobIdOf(const std::string& stage_id) const;

  // A cached entry's userMetadata is now `user_metadata` (JSON text); a fetch under way
  // when it changed is not cached.
  void UpdateStageMetadata(const std::string& stage_id, const std::string& user_metadata);
  void UpdateJobMetadata(const std::string& job_id, const std::string& user_metadata);
  // Forgets an entry (and does not cache a fetch of it under way).
  void DropStage(const std::string& stage_id);
  void DropJob(const std::string& job_id);
  // Forgets the stage and, when the stage is held, its job (a heartbeat's JOB_NOT_ACTIVE).
  void DropJobOfStage(const std::string& stage_id);

  struct Stats {
    std::uint64_t hits = 0;     // answered from the cache (or from another slot's fetch)
    std::uint64_t fetches = 0;  // requests sent
    std::size_t jobs = 0;       // entries held now
    std::size_t stages = 0;
  };
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The log lines of one task: each message prefixed with "task=<id> stage=<id>" and
// " job=<id>" once the job is known (job() or stage() was called), written to a logger
// (null: spdlog's default logger, as logging::Setup made it). Cheap to make and copy.
//
//   context.log().info("scaled {} to {} px", t.image, t.width);
//   // 2026-12-01T11:00:00.000Z info  jobnik-worker: task=1f.. stage=9a.. job=77.. scaled a.png to 256 px
class TaskLog {
 public:
  TaskLog(std::shared_ptr<spdlog::logger> logger, std::string prefix)
      : logger_(std::move(logger)), prefix_(std::move(prefix)) {}

  template <class... Args>
  void trace(fmt::format_string<Args...> f, Args&&... args) const {
    Format(spdlog::level::trace, f, std::forward<Args>(args)...);
  }
  template <class... Args>
  void debug(fmt::format_string<Args...> f, Args&&... args) const {
    Format(spdlog::level::debug, f, std::forward<Args>(args)...);
  }
  template <class... Args>
  void info(fmt::format_string<Args...> f, Args&&... args) const {
    Format(spdlog::level::info, f, std::forward<Args>(args)...);
  }
  template <class... Args>
  void warn(fmt::format_string<Args...> f, Args&&... args) const {
    Format(spdlog::level::warn, f, std::forward<Args>(args)...);
  }
  template <class... Args>
  void error(fmt::format_string<Args...> f, Args&&... args) const {
    Format(spdlog::level::err, f, std::forward<Args>(args)...);
  }
  // One line at `level`: the prefix, a space and `message`.
  void Log(spdlog::level::level_enum level, std::string_view message) const;
  bool ShouldLog(spdlog::level::level_enum level) const;
  // "task=<id> stage=<id>[ job=<id>]"
  const std::string& prefix() const { return prefix_; }

 private:
  template <class... Args>
  void Format(spdlog::level::level_enum level, fmt::format_string<Args...> f, Args&&... args) const {
    if (ShouldLog(level)) Log(level, fmt::format(f, std::forward<Args>(args)...));
  }

  std::shared_ptr<spdlog::logger> logger_;
  std::string prefix_;
};

// What a handler gets. The worker makes one per claimed task, on the slot's thread; the
// references live until the handler returns.
struct TaskContext {
  const domain::Task& task;
  int slot = 0;
  Client& client;           // the slot's client (its connection)
  std::stop_token stop;     // requested when the worker stops
  std::string_view json{};  // the claimed task as the server sent it
  std::string claim_id{};   // the claim token (empty: the server has none)
  // Requested when a heartbeat finds the task's job paused or aborted, or its claim gone
  // (cancel_cause() says which): the work should stop, its result is not wanted.
  std::stop_token cancelled{};
  const std::atomic<CancelCause>* cause = nullptr;
  // Set by the worker: its cache of jobs and stages (null: every stage()/job() fetches),
  // the logger of log() (null: spdlog's default) and the trace context the handler runs in.
  ContextCache* cache = nullptr;
  std::shared_ptr<spdlog::logger> logger = nullptr;
  std::optional<tracing::TraceContext> trace = std::nullopt;

  CancelCause cancel_cause() const { return cause != nullptr ? cause->load() : CancelCause::kNone; }

  // The task's stage and job, from the worker's cache or fetched on first use with the
  // slot's client (see the staleness note at the top). The handler decides what an error
  // means (kStageNotFound, kJobNotFound, kUnavailable, ...). job() needs the stage's job id:
  // the first call of a stage fetches both.
  domain::Result<domain::Stage> stage();
  domain::Result<domain::Job> job();

  // Replace the userMetadata of the task, its stage or its job with `json_object` (JSON
  // text of an object; anything else is kValidation, naming userMetadata, and nothing is
  // sent). The server's error otherwise. The cached stage or job follows (see above).
  domain::Status SetTaskMetadata(const std::string& json_object);
  domain::Status SetStageMetadata(const std::string& json_object);
  domain::Status SetJobMetadata(const std::string& json_object);

  // The task's log lines ("task=<id> stage=<id> job=<id> ...").
  TaskLog log() const;

  // The W3C trace context the handler runs in (the task's own, from its traceparent), for
  // the handler to pass on to what it calls: traceparent() is "00-<trace>-<span>-<flags>",
  // empty when the task has no valid one. The Client's own requests already carry it (as
  // children, see trace.h); client::OutgoingTrace() makes a child for a call of its own.
  std::string traceparent() const { return trace ? trace->Traceparent() : std::string(); }
  std::optional<std::string> tracestate() const { return trace ? trace->tracestate : std::nullopt; }
};

}  // namespace jobnik::client
