#include "client/worker.h"

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>

#include "client/trace.h"

namespace jobnik::client {
namespace {

using domain::ErrorCode;
using domain::Result;
using domain::Status;
using domain::TaskStatus;

// No answer, or the server could not apply it: the report may be sent again.
bool Unanswered(const domain::Status& s) {
  return s.code() == ErrorCode::kUnavailable || s.code() == ErrorCode::kDatabase;
}

// The server has no such route (an older jobnikd, or Jobnik Manager v1).
bool NoRoute(const domain::Status& s) {
  return s.code() == ErrorCode::kRouteNotFound || s.code() == ErrorCode::kMethodNotAllowed ||
         s.message().find("HTTP 404") != std::string::npos || s.message().find("HTTP 405") != std::string::npos;
}

// The most a combined claim or report carries (the batch endpoints take 1,000).
constexpr int kMaxCombined = 100;

}  // namespace

std::string_view ToString(BreakerKind k) {
  return k == BreakerKind::kClaim ? "claim" : "handler";
}

std::string_view ToString(SharedRequest r) {
  return r == SharedRequest::kClaim ? "claim" : "report";
}

Worker::ClientFactory Worker::ClientsFor(const ClientOptions& options) {
  return [options](int /*slot*/) { return std::make_unique<Client>(options); };
}

Worker::Worker(WorkerOptions options, ClientFactory clients, TaskHandler handler, WorkerHooks hooks, Clock& clock)
    : Worker(std::move(options), std::move(clients), OutcomeHandler([handler = std::move(handler)](TaskContext& c) {
               return TaskOutcome{handler(c), "", false};
             }),
             std::move(hooks), clock) {}

Worker::Worker(WorkerOptions options, ClientFactory clients, OutcomeHandler handler, WorkerHooks hooks, Clock& clock)
    : options_(std::move(options)),
      clients_(std::move(clients)),
      handler_(std::move(handler)),
      hooks_(std::move(hooks)),
      clock_(clock),
      claim_breaker_(options_.claim_breaker, clock_,
                     [this](BreakerState from, BreakerState to) {
                       if (hooks_.on_breaker) hooks_.on_breaker(BreakerKind::kClaim, from, to);
                     }),
      handler_breaker_(options_.handler_breaker, clock_,
                       [this](BreakerState from, BreakerState to) {
                         if (hooks_.on_breaker) hooks_.on_breaker(BreakerKind::kHandler, from, to);
                       }),
      context_cache_(options_.context_cache, clock_) {
  if (options_.slots < 1) options_.slots = 1;
  if (options_.report_attempts < 1) options_.report_attempts = 1;
}

Worker::~Worker() {
  Stop();
}

void Worker::Start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  threads_.reserve(static_cast<std::size_t>(options_.slots));
  slots_running_ = options_.slots;
  for (int i = 0; i < options_.slots; ++i) threads_.emplace_back([this, i] { RunSlot(i); });
  if (options_.heartbeat_interval > Clock::Duration::zero())
    heartbeat_thread_ = std::thread([this] { RunHeartbeats(); });
}

void Worker::Wait() {
  std::lock_guard lock(mu_);
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  // Every handler has ended: no more heartbeats.
  heartbeat_stop_.request_stop();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
}

void Worker::Stop(Clock::Duration grace) {
  RequestStop();
  bool started = false;
  {
    std::lock_guard lock(mu_);
    started = started_;
  }
  // Cut short when the last slot ends (or already has).
  if (started && clock_.SleepFor(grace, slots_done_.get_token())) {
    std::lock_guard lock(in_flight_mu_);
    for (auto& [slot, t] : in_flight_) {
      CancelCause none = CancelCause::kNone;
      t.cause->compare_exchange_strong(none, CancelCause::kShutdown);
      t.cancel->request_stop();
    }
  }
  Wait();
}

void Worker::RunHeartbeats() {
  const std::stop_token stop = heartbeat_stop_.get_token();
  std::unique_ptr<Client> client;  // its own connection, made when first needed
  while (clock_.SleepFor(options_.heartbeat_interval, stop)) {
    std::vector<std::pair<int, InFlight>> due;
    {
      std::lock_guard lock(in_flight_mu_);
      due.assign(in_flight_.begin(), in_flight_.end());
    }
    for (const auto& [slot, t] : due) {
      if (stop.stop_requested()) return;
      if (!t.heartbeats) continue;
      if (!client) client = clients_(options_.slots);
      domain::Status error;
      // Not t.task: the slot may finish the task (and free it) meanwhile.
      const auto outcome = client->Heartbeat(t.task_id, t.claim_id, options_.claim.lease_seconds, &error);
      const bool cancel =
          outcome == Client::HeartbeatOutcome::kJobNotActive || outcome == Client::HeartbeatOutcome::kClaimLost;
      // The job was paused or aborted: what the handlers were told of it is out of date.
      if (outcome == Client::HeartbeatOutcome::kJobNotActive) context_cache_.DropJobOfStage(t.stage_id);
      std::lock_guard lock(in_flight_mu_);
      const auto it = in_flight_.find(slot);
      if (it == in_flight_.end() || it->second.claim_id != t.claim_id) continue;  // ended meanwhile
      if (cancel) {
        CancelCause none = CancelCause::kNone;
        it->second.cause->compare_exchange_strong(none, outcome == Client::HeartbeatOutcome::kJobNotActive
                                                            ? CancelCause::kJobNotActive
                                                            : CancelCause::kClaimLost);
        it->second.cancel->request_stop();
      }
      // Under the lock: the task (on its slot's stack) outlives the call.
      if (hooks_.on_heartbeat) hooks_.on_heartbeat(*t.task, outcome, error);
    }
  }
}

Result<domain::Task> Worker::Report(Client& client, const domain::Task& task, const TaskOutcome& outcome,
                                    const std::string& claim_id, Clock::Duration& latency) {
  const TaskStatus status = outcome.status;
  // The reason only to a server that takes it: one that gave the task a claim token.
  const bool extended = !claim_id.empty();
  const Client::ReportOptions report{claim_id, extended ? outcome.reason : std::string(),
                                     extended ? outcome.retry_after_seconds : std::nullopt};
  const int attempts = status == TaskStatus::kCompleted ? options_.report_attempts : 1;
  Backoff backoff(options_.report_backoff, options_.uniform01);
  Result<domain::Task> result = domain::Unavailable("not reported");
  for (int attempt = 1;; ++attempt) {
    const auto t0 = clock_.Now();
    if (status == TaskStatus::kCompleted) {
      // The task a completion leaves is known: no need to have it sent back.
      const auto applied = options_.combine_requests && !batch_report_unsupported_.load()
                               ? ReportCombined(client, task.id, report)
                               : client.ReportMinimal(task.id, status, report);
      if (applied.ok()) {
        domain::Task completed = task;
        completed.status = TaskStatus::kCompleted;
        result = std::move(completed);
      } else {
        result = applied;
      }
    } else {
      result = client.Report(task.id, status, report);
    }
    latency = clock_.Now() - t0;
    if (result.ok()) return result;
    if (attempt > 1 && (result.status().code() == ErrorCode::kIllegalTaskStatusTransition ||
                        result.status().code() == ErrorCode::kTaskStatusUpdateFailed)) {
      // An earlier try may have been applied, its answer lost: see what the task is now.
      auto now = client.GetTask(task.id);
      if (now.ok() && now->status == status) return now;
      return result;
    }
    if (!Unanswered(result.status()) || attempt >= attempts) return result;
    // Not cut short by a stop request: a running task's report is still sent.
    clock_.SleepFor(backoff.Next());
  }
}

Client::ClaimOptions Worker::PollClaim() const {
  Client::ClaimOptions options = options_.claim;
  if (long_poll_unsupported_.load()) options.wait_seconds = 0;  // it would refuse the parameter too
  return options;
}

Result<std::vector<Client::Claimed>> Worker::ClaimBatch(Client& client, int limit) {
  Client::ClaimTasksRequest request;
  request.stage_types = options_.stage_types;
  request.limit = limit;
  request.wait_seconds = long_poll_unsupported_.load() ? 0 : options_.claim.wait_seconds;
  request.lease_seconds = options_.claim.lease_seconds;
  request.worker_id = options_.claim.worker_id;
  request.idempotent = options_.claim.idempotent;
  request.cancel = stop_.get_token();  // a stop need not wait for the long poll to end
  auto claimed = client.ClaimTasks(request);
  if (!claimed.ok() && NoRoute(claimed.status())) {
    // A server without the batch claim (jobnikd before it, or Jobnik Manager v1): every
    // slot claims with the dequeue from now on.
    batch_claim_unsupported_ = true;
    if (options_.claim.wait_seconds > 0 && !long_poll_unsupported_.exchange(true) && hooks_.on_long_poll_unsupported) {
      hooks_.on_long_poll_unsupported(claimed.status());
    }
  }
  return claimed;
}

Result<std::optional<Client::Claimed>> Worker::ClaimWaiting(Client& client, const std::string& type) {
  auto claimed = ClaimBatch(client, 1);
  if (claimed.ok()) {
    if (claimed->empty()) return std::optional<Client::Claimed>{};
    return std::optional<Client::Claimed>(std::move(claimed->front()));
  }
  if (!NoRoute(claimed.status())) return claimed.status();
  return client.Claim(type, PollClaim());
}

Result<std::optional<Client::Claimed>> Worker::ClaimCombined(Client& client, const std::string& type, bool& sent) {
  sent = false;
  auto& shared = shared_claim_;
  std::unique_lock lock(shared.mu);
  ++shared.wanting;
  std::optional<std::uint64_t> joined;  // the claim this slot waits for: it ends as ended + 1
  for (;;) {
    if (!shared.ready.empty()) {
      Client::Claimed mine = std::move(shared.ready.front());
      shared.ready.pop_front();
      --shared.wanting;
      return std::optional<Client::Claimed>(std::move(mine));
    }
    if (joined && shared.ended > *joined) {
      // The claim waited for ended and left nothing for this slot: its error, its empty
      // answer, or (its tasks went to the other slots) another claim.
      if (batch_claim_unsupported_.load()) {  // the server turned out to have no batch claim
        --shared.wanting;
        lock.unlock();
        sent = true;
        return client.Claim(type, PollClaim());
      }
      if (!shared.last_error.ok() || shared.last_empty) {
        --shared.wanting;
        if (!shared.last_error.ok()) return shared.last_error;
        return std::optional<Client::Claimed>{};
      }
      joined.reset();
    }
    if (shared.in_flight) {
      joined = shared.ended;
      shared.cv.wait(lock, [&] { return !shared.ready.empty() || shared.ended > *joined; });
      continue;
    }
    if (stop_.stop_requested()) {
      --shared.wanting;
      return domain::Unavailable("the worker stopped");
    }
    // This slot sends the claim, for every slot that wants a task by now.
    const int limit = std::min(shared.wanting, kMaxCombined);
    shared.in_flight = true;
    lock.unlock();
    sent = true;
    auto claimed = ClaimBatch(client, limit);
    lock.lock();
    shared.in_flight = false;
    ++shared.ended;
    shared.last_error = claimed.ok() ? domain::Status::Ok() : claimed.status();
    shared.last_empty = claimed.ok() && claimed->empty();
    --shared.wanting;
    std::optional<Client::Claimed> mine;
    if (claimed.ok() && !claimed->empty()) {
      mine = std::move(claimed->front());
      for (std::size_t i = 1; i < claimed->size(); ++i) shared.ready.push_back(std::move((*claimed)[i]));
    }
    shared.cv.notify_all();
    lock.unlock();
    if (claimed.ok() && hooks_.on_shared_request) hooks_.on_shared_request(SharedRequest::kClaim, claimed->size());
    if (claimed.ok()) return mine;
    if (!NoRoute(claimed.status())) return claimed.status();
    return client.Claim(type, PollClaim());
  }
}

int Worker::slots_waiting_for_claim() {
  std::lock_guard lock(shared_claim_.mu);
  return shared_claim_.wanting;
}

int Worker::reports_queued() {
  std::lock_guard lock(shared_reports_.mu);
  return static_cast<int>(shared_reports_.queue.size());
}

Status Worker::ReportCombined(Client& client, const std::string& task_id, const Client::ReportOptions& report) {
  auto& shared = shared_reports_;
  PendingReport mine{&task_id, &report, Status::Ok(), false};
  std::unique_lock lock(shared.mu);
  shared.queue.push_back(&mine);
  while (!mine.done) {
    if (shared.in_flight) {
      shared.cv.wait(lock);
      continue;
    }
    // This slot sends the report, of every completion waiting by now.
    shared.in_flight = true;
    const auto n = std::min(shared.queue.size(), static_cast<std::size_t>(kMaxCombined));
    std::vector<PendingReport*> batch(shared.queue.begin(), shared.queue.begin() + static_cast<std::ptrdiff_t>(n));
    shared.queue.erase(shared.queue.begin(), shared.queue.begin() + static_cast<std::ptrdiff_t>(n));
    lock.unlock();
    Result<std::vector<Status>> results = std::vector<Status>{};
    if (batch.size() > 1 && !batch_report_unsupported_.load()) {
      std::vector<Client::TaskUpdate> updates;
      updates.reserve(batch.size());
      for (const auto* p : batch) updates.push_back({*p->task_id, TaskStatus::kCompleted, *p->options});
      results = client.ReportTasks(updates);
      if (!results.ok() && NoRoute(results.status())) batch_report_unsupported_ = true;
      if (results.ok() && hooks_.on_shared_request) hooks_.on_shared_request(SharedRequest::kReport, batch.size());
    }
    if (batch.size() == 1 || batch_report_unsupported_.load()) {
      // One completion (or a server without the batch report): the single report.
      results = std::vector<Status>{};
      for (const auto* p : batch) {
        results->push_back(client.ReportMinimal(*p->task_id, TaskStatus::kCompleted, *p->options));
        if (hooks_.on_shared_request) hooks_.on_shared_request(SharedRequest::kReport, 1);
      }
    }
    lock.lock();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      // A batch without an answer: none is known to be applied (each is retried).
      batch[i]->result = results.ok() ? (*results)[i] : results.status();
      batch[i]->done = true;
    }
    shared.in_flight = false;
    shared.cv.notify_all();
  }
  return mine.result;
}

void Worker::RunSlot(int slot) {
  const std::stop_token stop = stop_.get_token();
  std::unique_ptr<Client> client = clients_(slot);
  if (hooks_.on_slot_started) hooks_.on_slot_started(slot, *client);
  const auto& types = options_.stage_types;
  const std::size_t k = types.size();
  std::size_t cur = k == 0 ? 0 : static_cast<std::size_t>(slot) % k;  // the slot's home type first
  std::size_t empty_in_a_row = 0;                                     // empty claims since the last task
  int empty_rounds = 0;                                               // full rounds of them
  Backoff idle(options_.backoff, options_.uniform01);

  while (k > 0 && !stop.stop_requested()) {
    // Both breakers must let the claim go out; a refused slot waits without a request.
    const Permit handling = handler_breaker_.Allow();
    if (handling == Permit::kRefused) {
      clock_.SleepFor(handler_breaker_.RetryIn(), stop);
      continue;
    }
    const Permit claiming = claim_breaker_.Allow();
    if (claiming == Permit::kRefused) {
      handler_breaker_.Cancel(handling);
      clock_.SleepFor(claim_breaker_.RetryIn(), stop);
      continue;
    }
    auto t0 = clock_.Now();
    const bool long_poll = options_.claim.wait_seconds > 0 && !long_poll_unsupported_.load();
    const bool combined = options_.combine_requests && !batch_claim_unsupported_.load();
    bool sent = true;
    auto claimed = combined    ? ClaimCombined(*client, types[cur], sent)
                   : long_poll ? ClaimWaiting(*client, types[cur])
                               : client->Claim(types[cur], PollClaim());
    const auto claim_latency = clock_.Now() - t0;
    if (sent) {
      claim_breaker_.Record(claiming, claimed.ok());
    } else {  // another slot's claim: counted once, by that slot
      claim_breaker_.Cancel(claiming);
    }
    if (!claimed.ok() || !claimed->has_value()) handler_breaker_.Cancel(handling);
    if (!claimed.ok()) {
      if (stop.stop_requested()) break;  // a long poll cut by the stop: not an error
      if (hooks_.on_claim_error && hooks_.on_claim_error(slot, types[cur], claimed.status()) == Next::kStopSlot) break;
      clock_.SleepFor(idle.Next(), stop);
      continue;
    }
    if (!claimed->has_value()) {
      if (hooks_.on_empty) hooks_.on_empty(slot, types[cur], claim_latency);
      cur = (cur + 1) % k;
      if (long_poll || combined) {
        // The server looked at (or waited on) every type: a round. An empty answer long
        // before the wait was up (no wait asked, or a server that does not hold the
        // claim) backs off as a poll would.
        ++empty_rounds;
        if (hooks_.on_queue_empty && hooks_.on_queue_empty(slot, empty_rounds) == Next::kStopSlot) break;
        if (!long_poll || claim_latency < std::chrono::seconds(options_.claim.wait_seconds) / 2) {
          clock_.SleepFor(idle.Next(), stop);
        }
        continue;
      }
      if (++empty_in_a_row >= k) {
        empty_in_a_row = 0;
        ++empty_rounds;
        if (hooks_.on_queue_empty && hooks_.on_queue_empty(slot, empty_rounds) == Next::kStopSlot) break;
        const auto wait = idle.Next();
        if (wait.count() > 0) clock_.SleepFor(wait, stop);
      }
      continue;
    }
    empty_in_a_row = 0;
    empty_rounds = 0;
    idle.Reset();
    const Client::Claimed claim = std::move(**claimed);
    const domain::Task& task = claim.task;
    if (hooks_.on_claimed && hooks_.on_claimed(slot, task, claim_latency) == Next::kStopSlot) {
      handler_breaker_.Cancel(handling);
      break;
    }

    // The handler's requests and the report continue the task's trace.
    const TraceScope trace(task.traceparent, task.tracestate);
    std::stop_source cancel;
    std::atomic<CancelCause> cause{CancelCause::kNone};
    const bool heartbeats = options_.heartbeat_interval > Clock::Duration::zero() && !claim.claim_id.empty();
    {
      std::lock_guard lock(in_flight_mu_);
      in_flight_[slot] = {&task, task.id, task.stage_id, claim.claim_id, &cancel, &cause, heartbeats};
    }
    TaskOutcome outcome;
    const auto handle_start = clock_.Now();
    try {
      TaskContext context{task,
                          slot,
                          *client,
                          stop,
                          claim.json,
                          claim.claim_id,
                          cancel.get_token(),
                          &cause,
                          &context_cache_,
                          options_.logger,
                          CurrentTrace()};
      outcome = handler_(context);
    } catch (const std::exception& e) {  // a handler that throws failed its task
      outcome = {TaskStatus::kFailed, std::string("the handler threw: ") + e.what()};
    } catch (...) {
      outcome = {TaskStatus::kFailed, "the handler threw"};
    }
    {
      std::lock_guard lock(in_flight_mu_);
      in_flight_.erase(slot);
    }
    if (outcome.status != TaskStatus::kCompleted) outcome.status = TaskStatus::kFailed;
    if (outcome.status == TaskStatus::kFailed && cause.load() == CancelCause::kShutdown) {
      outcome.cancelled = true;
      if (outcome.reason.empty()) outcome.reason = "the worker stopped: its handler was called off after the grace";
    }
    if (outcome.cancelled && outcome.status != TaskStatus::kCompleted) {
      handler_breaker_.Cancel(handling);
    } else {
      handler_breaker_.Record(handling, outcome.status == TaskStatus::kCompleted);
    }
    if (hooks_.on_handled) hooks_.on_handled(slot, task, outcome, clock_.Now() - handle_start);

    Clock::Duration report_latency{};
    const auto reported = Report(*client, task, outcome, claim.claim_id, report_latency);
    if (hooks_.on_reported &&
        hooks_.on_reported(slot, task, outcome.status, reported, report_latency) == Next::kStopSlot) {
      break;
    }
  }
  if (hooks_.on_slot_stopped) hooks_.on_slot_stopped(slot);
  if (--slots_running_ == 0) slots_done_.request_stop();
}

}  // namespace jobnik::client
