// The worker loop: N slots, each with its own Client (one connection), each looping
// claim -> handle -> report until the worker stops.
//
// - Claims go round the stage types (slot i starts at type i % K and stays on a type while
//   it has work). After a full round of empty claims, and after a failed claim, the slot
//   waits an exponential backoff with full jitter (WorkerOptions::backoff: 1 s, x2, at most
//   60 s); a claim that returns work resets it. A busy queue never waits.
// - With claim.wait_seconds (jobnikd's long poll), each claim is one batch claim of one task
//   over all the stage types that the server holds until a task comes or the wait is up: an
//   idle worker makes one request per slot per wait, and a new task is claimed at once. An
//   empty answer much sooner than the wait backs off as above; a server without the batch
//   claim (404/405) makes every slot fall back to the dequeue and the backoff.
// - The handler's status is reported (with its failure reason and the claim token when the
//   server returned one with the task). A COMPLETED report that gets no answer (connection
//   lost, 503, DATABASE_ERROR) is retried (report_backoff, report_attempts) and never turned
//   into FAILED; when a retry finds the task already final, the task is read back, and a
//   COMPLETED task counts as reported. A FAILED report is not retried: without a claim
//   token a repeated FAILED could fail the task's next claim (the sweeper fails a task
//   whose report was lost).
// - With combine_requests (jobnikd), the slots share their claims and completion reports:
//   while one slot's claim is out, the slots that want a task wait for it instead of
//   sending their own, and the next claim asks for all of them in one batch claim over
//   every stage type (POST /v1/tasks/claim, long-polling with claim.wait_seconds);
//   completions that meet go in one batch report (POST /v1/tasks/status). No request
//   waits for company: a lone slot's claim or report goes out at once, so an idle or
//   lightly loaded worker behaves as without; under load, when requests queue anyway,
//   one request carries several tasks. A server without the batch endpoints (404/405) is
//   sent the per-slot requests from then on.
// - Heartbeats (WorkerOptions::heartbeat_interval, with a server that hands out claim
//   tokens): one thread per worker heartbeats every task being handled, asking for
//   claim.lease_seconds; when the server answers that the task's job was paused or
//   aborted, or that the claim is gone, the task's `cancelled` token is requested.
// - RequestStop() stops claiming and cuts the slots' waiting long polls; running handlers
//   see their stop token requested and finish, and their reports are sent; Stop() waits
//   for that.
// - Two circuit breakers (circuit_breaker.h) guard the loop: one over claims (failed
//   claims: no answer, 5xx) and one over handlers (FAILED outcomes). While either is open
//   no slot claims; after its reset timeout one slot claims as the probe. Empty claims
//   count for neither.
// - Hooks see every step (for counters, latencies and logs) and may end their slot.
// - Each handler gets a TaskContext (task_context.h): the task, its stage and job from one
//   cache shared by the slots (WorkerOptions::context_cache), metadata helpers, a logger
//   carrying the task id and the task's trace context.
//
// All time is read from and slept on a Clock (clock.h): tests use FakeClock and
// FakeTransport (fake_transport.h).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "client/backoff.h"
#include "client/circuit_breaker.h"
#include "client/client.h"
#include "client/clock.h"
#include "client/task_context.h"
#include "domain/error.h"
#include "domain/model.h"

namespace jobnik::client {

// How a handler says a task ended: kCompleted or kFailed, and why it failed.
struct TaskOutcome {
  domain::TaskStatus status = domain::TaskStatus::kFailed;
  // FAILED: the reason, sent with the report when the server takes it (it returned a
  // claim token with the task), else only seen by the hooks.
  std::string reason;
  // FAILED because the work was called off (worker shutdown, job aborted, claim lost), not
  // because the handler failed: the handler breaker does not count it.
  bool cancelled = false;
  // FAILED: retry the task after this many seconds rather than by its retry policy (sent
  // as retryAfterSeconds, like the reason only to a server with claim tokens).
  std::optional<double> retry_after_seconds = std::nullopt;
};
using OutcomeHandler = std::function<TaskOutcome(TaskContext&)>;

// Which of a worker's two breakers.
enum class BreakerKind { kClaim, kHandler };
std::string_view ToString(BreakerKind k);

// Handles a claimed task and says how it ended: kCompleted or kFailed (an exception
// counts as kFailed).
using TaskHandler = std::function<domain::TaskStatus(TaskContext&)>;

// A request that the slots share (combine_requests).
enum class SharedRequest { kClaim, kReport };
std::string_view ToString(SharedRequest r);

// What a slot does after a hook.
enum class Next { kContinue, kStopSlot };

// Every member may be empty. They run on the slot's thread; a slot's hooks never run
// concurrently with each other, different slots' do.
struct WorkerHooks {
  using Duration = Clock::Duration;
  // Before the slot's first claim (e.g. to open its connection early).
  std::function<void(int slot, Client& client)> on_slot_started;
  // A claim returned `task` after `latency`. kStopSlot: the task is neither handled nor reported.
  std::function<Next(int slot, const domain::Task& task, Duration latency)> on_claimed;
  // A claim on `stage_type` found nothing, after `latency`.
  std::function<void(int slot, const std::string& stage_type, Duration latency)> on_empty;
  // Every stage type was empty, `rounds` full rounds in a row; called before the backoff.
  std::function<Next(int slot, int rounds)> on_queue_empty;
  // A claim failed (no answer, or an error answer other than "nothing to claim").
  std::function<Next(int slot, const std::string& stage_type, const domain::Status& error)> on_claim_error;
  // The handler ended with `outcome` after `duration` (before the report).
  std::function<void(int slot, const domain::Task& task, const TaskOutcome& outcome, Duration duration)> on_handled;
  // The report of `requested` on `task` ended, after any retries: the task as the server
  // left it, or the last error. A completion is reported without asking for the task back
  // (Client::ReportMinimal): its result is the claimed task with status COMPLETED (times as
  // claimed). `latency` is the last attempt's.
  std::function<Next(int slot, const domain::Task& task, domain::TaskStatus requested,
                     const domain::Result<domain::Task>& result, Duration latency)>
      on_reported;
  // The slot ended (stopped, or ended by a hook).
  std::function<void(int slot)> on_slot_stopped;
  // A breaker changed state (on the thread that caused it).
  std::function<void(BreakerKind breaker, BreakerState from, BreakerState to)> on_breaker;
  // A heartbeat of `task` answered `outcome` (kError: `error` says why). On the heartbeat
  // thread, concurrently with the slots' hooks.
  std::function<void(const domain::Task& task, Client::HeartbeatOutcome outcome, const domain::Status& error)>
      on_heartbeat;
  // combine_requests: a shared claim brought back `tasks` tasks (0: none), or a shared
  // report carried `tasks` completions. On the thread of the slot that sent it.
  std::function<void(SharedRequest request, std::size_t tasks)> on_shared_request;
  // The server has no batch claim (claim.wait_seconds asked for a long poll): the worker
  // polls with the dequeue from now on. Once per worker.
  std::function<void(const domain::Status& error)> on_long_poll_unsupported;
};

struct WorkerOptions {
  std::vector<std::string> stage_types;  // at least one
  int slots = 1;                         // concurrent claim -> handle -> report loops
  BackoffOptions backoff;                // after an empty round and after a failed claim
  // A COMPLETED report without an answer is retried with this backoff, at most
  // report_attempts tries in all (1: no retry).
  BackoffOptions report_backoff{std::chrono::milliseconds(100), 2.0, std::chrono::milliseconds(5000)};
  int report_attempts = 10;
  std::function<double()> uniform01;  // the jitter's random source (tests); empty: random
  // Share claims and completion reports between the slots (see the top of this file).
  bool combine_requests = false;
  Client::ClaimOptions claim;  // lease and worker id asked for with every claim (and heartbeat)
  // How often tasks being handled are heartbeated (with a claim token); 0: never.
  Clock::Duration heartbeat_interval{0};
  // Opens when at least half of 5 or more claims in a minute failed; probes after 10 s.
  CircuitBreakerOptions claim_breaker{true, std::chrono::seconds(60), 5, 0.5, std::chrono::seconds(10)};
  // Opens when 80 % of 20 or more handled tasks in a minute failed; probes after 30 s.
  CircuitBreakerOptions handler_breaker{true, std::chrono::seconds(60), 20, 0.8, std::chrono::seconds(30)};
  // The jobs and stages of TaskContext::job()/stage(), shared by the slots: at most 256 of
  // each, each for at most 10 s (task_context.h says when sooner).
  ContextCacheOptions context_cache;
  // Where TaskContext::log() writes; null: spdlog's default logger.
  std::shared_ptr<spdlog::logger> logger;
};

class Worker {
 public:
  // A slot's client; called once per slot, on the slot's thread.
  using ClientFactory = std::function<std::unique_ptr<Client>(int slot)>;
  static ClientFactory ClientsFor(const ClientOptions& options);

  // `clock` must outlive the worker.
  Worker(WorkerOptions options, ClientFactory clients, TaskHandler handler, WorkerHooks hooks = {},
         Clock& clock = SystemClock());
  // A handler that gives a failure's reason.
  Worker(WorkerOptions options, ClientFactory clients, OutcomeHandler handler, WorkerHooks hooks = {},
         Clock& clock = SystemClock());
  ~Worker();  // Stop()
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the slots' threads (once).
  void Start();
  // Stops claiming; returns at once. Safe from hooks and handlers.
  void RequestStop() { stop_.request_stop(); }
  // Until every slot has ended (after a stop request, or each ended by a hook).
  void Wait();
  // RequestStop() and Wait(): returns once the running handlers finished and reported.
  void Stop() {
    RequestStop();
    Wait();
  }
  // A graceful stop with a deadline: RequestStop(), then `grace` (on the worker's clock) for
  // the running handlers to finish on their own; after it, each handler still running has
  // its `cancelled` token requested (cancel_cause() kShutdown) and, when it returns without
  // completing, its task is reported FAILED as called off, with a reason saying so. Returns
  // once every slot ended: a handler must honour `cancelled` (C++ cannot end a thread from
  // outside; a handler that runs a child process should kill it then).
  void Stop(Clock::Duration grace);
  bool stop_requested() const { return stop_.stop_requested(); }
  BreakerState breaker_state(BreakerKind k) const {
    return k == BreakerKind::kClaim ? claim_breaker_.state() : handler_breaker_.state();
  }
  // combine_requests: slots waiting for the shared claim (idle slots, while the queue is
  // empty), and completions queued behind the batch report in flight (for gauges and tests).
  int slots_waiting_for_claim();
  int reports_queued();
  // The handlers' job and stage cache: its hits, requests and size.
  ContextCache::Stats context_cache_stats() const { return context_cache_.stats(); }

 private:
  void RunSlot(int slot);
  void RunHeartbeats();
  // The long poll: one claim of one task over all the stage types, waiting up to
  // claim.wait_seconds (POST /v1/tasks/claim); on a server without it, the dequeue of `type`.
  domain::Result<std::optional<Client::Claimed>> ClaimWaiting(Client& client, const std::string& type);
  // combine_requests: a task from the slots' shared claim, or nothing, or the shared
  // claim's error. `sent`: this slot sent the request (the others waited for it).
  domain::Result<std::optional<Client::Claimed>> ClaimCombined(Client& client, const std::string& type, bool& sent);
  // The batch claim of up to `limit` tasks (the long poll with claim.wait_seconds).
  domain::Result<std::vector<Client::Claimed>> ClaimBatch(Client& client, int limit);
  // combine_requests: the completion `report` of `task_id`, in the slots' next batch report.
  domain::Status ReportCombined(Client& client, const std::string& task_id, const Client::ReportOptions& report);
  // The dequeue's options: without wait_seconds once the server proved not to know it.
  Client::ClaimOptions PollClaim() const;
  // The report of `status`, with the retries of a COMPLETED report.
  domain::Result<domain::Task> Report(Client& client, const domain::Task& task, const TaskOutcome& outcome,
                                      const std::string& claim_id, Clock::Duration& latency);

  WorkerOptions options_;
  ClientFactory clients_;
  OutcomeHandler handler_;
  WorkerHooks hooks_;
  Clock& clock_;
  CircuitBreaker claim_breaker_;
  CircuitBreaker handler_breaker_;
  ContextCache context_cache_;
  std::stop_source stop_;
  std::mutex mu_;  // threads_
  std::vector<std::thread> threads_;
  bool started_ = false;
  std::atomic<bool> long_poll_unsupported_{false};
  std::atomic<bool> batch_claim_unsupported_{false};
  std::atomic<bool> batch_report_unsupported_{false};
  // combine_requests: the shared claim. Tasks claimed for other slots wait in `ready`;
  // there are never more of them than slots in `wanting` (a claim asks for no more, and a
  // wanting slot leaves only with a task or with `ready` empty), so none is stranded.
  struct SharedClaim {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Client::Claimed> ready;
    int wanting = 0;            // slots in ClaimCombined
    bool in_flight = false;     // a slot's claim is out
    std::uint64_t ended = 0;    // claims ended so far
    domain::Status last_error;  // of the last claim ended: its error, or ok
    bool last_empty = false;    // of the last claim ended: it found nothing
  } shared_claim_;
  // combine_requests: completion reports waiting for, or in, the slots' batch report.
  struct PendingReport {
    const std::string* task_id;
    const Client::ReportOptions* options;
    domain::Status result;
    bool done = false;
  };
  struct SharedReports {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<PendingReport*> queue;
    bool in_flight = false;
  } shared_reports_;
  // The tasks being handled, by slot: for the heartbeat thread (those with a claim token)
  // and Stop(grace).
  // `task` may be used only under in_flight_mu_ while the entry is there (the slot's handler
  // may end at any moment otherwise); task_id is a copy for the heartbeat request.
  struct InFlight {
    const domain::Task* task;
    std::string task_id;
    std::string stage_id;
    std::string claim_id;
    std::stop_source* cancel;
    std::atomic<CancelCause>* cause;
    bool heartbeats;  // with a claim token and heartbeats on (else only Stop(grace) uses it)
  };
  std::mutex in_flight_mu_;
  std::map<int, InFlight> in_flight_;
  std::stop_source heartbeat_stop_;
  std::atomic<int> slots_running_{0};
  std::stop_source slots_done_;  // requested when the last slot ended
  std::thread heartbeat_thread_;
};

}  // namespace jobnik::client
