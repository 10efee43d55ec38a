// Long-poll wake-up (jobnikd(8), "Long-poll dequeue"): claims that wait for work.
//
// A waiting claim holds no database connection and runs no SQL while it waits. It tries
// the claim once; when that finds nothing it sleeps on this registry until work of one of
// its stage types may be there, then tries again, until it claims something, its deadline
// passes, or jobnikd shuts down.
//
// Wake-ups come from PostgreSQL: every transaction that makes tasks claimable runs
// pg_notify('jobnik_claimable', '<schema>\t<stage type>\t<count>') (queries/task.sql,
// TaskNotifyClaimable), so a task created through any jobnikd on the database wakes a
// request waiting on this one. One connection per jobnikd LISTENs, on a thread of its own;
// a notification for `count` tasks wakes at most `count` waiters of that type, oldest
// first — a burst of one task wakes one waiter, not all. A woken waiter that finds
// nothing (another worker was faster) waits again; one that claims something while a
// wake-up meant for it is still unused passes that wake-up on to the next waiter, so no
// wake-up is lost.
//
// Poll fallback: with WakeupMode::kPoll (NOTIFY unavailable, e.g. PgBouncer in
// transaction mode), and in notify mode while the listening connection is down (it
// reconnects with backoff), a poller counts the claimable tasks of each waited-for type
// once per interval — one read per waiting type per interval for the whole jobnikd, not
// per waiter — and wakes that many waiters.
//
// Stop() releases every waiter at once (they answer as after a timeout: nothing claimed)
// and later waits return at once. A WaitCancel ends one waiter early (its client hung up:
// http/connections.h), so that nothing is claimed for a client that is gone.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "domain/error.h"
#include "metrics.h"

namespace jobnik::services {

enum class WakeupMode : std::uint8_t { kNotify, kPoll };

// "notify" or "poll"; std::nullopt otherwise.
std::optional<WakeupMode> ParseWakeupMode(std::string_view text);

// The application_name of the listening connection (in pg_stat_activity).
std::string ListenerName(const std::string& schema);

struct ClaimWaiterOptions {
  WakeupMode mode = WakeupMode::kNotify;
  // How often the poller looks (poll mode, or notify mode while the listener is down).
  std::chrono::milliseconds poll_interval{1000};
  // Waiting requests at most (0: no limit); beyond it Wait answers kOverLimit.
  std::size_t max_waiters = 0;
  // The database the listener connects to, and the schema whose notifications count.
  std::string database_url;
  std::string schema = "jobnik";
  // The listener's reconnect backoff: from `reconnect_min`, doubling, up to `reconnect_max`.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000};
};

// Ends one waiting claim early, from any thread: the claim makes no further attempt and
// answers kCancelled. Cancel() before the wait begins ends it after its first attempt.
// Must outlive the ClaimOrWait it is passed to.
class WaitCancel {
 public:
  void Cancel();

 private:
  friend class ClaimWaiter;
  std::mutex mu_;
  bool cancelled_ = false;
  std::function<void()> wake_;  // set by ClaimOrWait while it may sleep
};

// How many tasks of `stage_type` a claim would find now, at most `limit` (the poll
// fallback; PgStore::CountClaimable).
using ClaimableCounter = std::function<domain::Result<std::int64_t>(const std::string& stage_type, std::int64_t limit)>;

class ClaimWaiter {
 public:
  enum class Outcome : std::uint8_t {
    kClaimed,    // `attempt` returned true
    kTimedOut,   // the deadline passed
    kStopped,    // jobnikd is shutting down
    kOverLimit,  // max_waiters requests wait already (the one attempt found nothing)
    kCancelled,  // its WaitCancel was cancelled (after at least one attempt)
  };

  // `counter` serves the poll fallback; `metrics` may be null. Both must outlive this.
  ClaimWaiter(ClaimWaiterOptions options, ClaimableCounter counter, Metrics* metrics);
  ~ClaimWaiter();
  ClaimWaiter(const ClaimWaiter&) = delete;
  ClaimWaiter& operator=(const ClaimWaiter&) = delete;

  // Starts the listener (notify mode) and the poller threads.
  void Start();
  // Releases every waiter and stops the threads; safe to call twice.
  void Stop();

  // The one call a claim makes: runs `attempt` (one claim; true when it claimed something
  // or failed for good — the caller keeps its result) now, and again each time work of
  // one of `stage_types` may have become claimable, until it returns true or `deadline`
  // passes, or `cancel` (may be null) is cancelled. Between attempts no SQL runs.
  Outcome ClaimOrWait(const std::vector<std::string>& stage_types, std::chrono::steady_clock::time_point deadline,
                      const std::function<bool()>& attempt, WaitCancel* cancel = nullptr);

  // Wakes up to `count` waiters of `stage_type`, oldest first (what a notification does;
  // public for tests). Returns how many it woke.
  std::size_t Wake(const std::string& stage_type, std::int64_t count);
  // A notification's payload ("<schema>\t<stage type>\t<count>"); others' schemas are ignored.
  void OnNotification(const std::string& payload);

  // Waiting requests now (from their registration, before their first attempt, to their
  // last), and those of them asleep between attempts.
  std::size_t Waiting() const;
  std::size_t Sleeping() const;
  // The listener's connection is up and listening (always false in poll mode).
  bool Listening() const { return listening_; }

 private:
  struct Waiter;
  // Registers a waiter; nullptr when stopping or over the limit (`over_limit` says which).
  std::shared_ptr<Waiter> Enter(const std::vector<std::string>& stage_types, bool& over_limit);
  void Leave(const std::shared_ptr<Waiter>& w);
  // Sleeps until woken (true), or the deadline, Stop() or a cancel (false).
  bool Sleep(Waiter& w, std::chrono::steady_clock::time_point deadline);
  std::size_t WakeLocked(const std::string& stage_type, std::int64_t count);
  void ListenLoop();
  void PollLoop();
  void PollOnce();
  bool SleepFor(std::chrono::milliseconds d);  // false once stopping

  const ClaimWaiterOptions options_;
  ClaimableCounter counter_;
  Metrics* metrics_;
  mutable std::mutex mu_;
  std::condition_variable cv_;  // the threads' sleep
  bool stopping_ = false;
  std::size_t waiting_ = 0;
  std::size_t sleeping_ = 0;
  // Per stage type, its waiters in arrival order (a waiter of several types is in each list).
  std::map<std::string, std::list<std::shared_ptr<Waiter>>> by_type_;
  std::atomic<bool> listening_{false};
  std::atomic<bool> poll_now_{false};  // the listener (re)connected: notifications may have been missed
  int wake_fd_ = -1;                   // eventfd: interrupts the listener's poll() on Stop()
  std::thread listener_;
  std::thread poller_;
};

}  // namespace jobnik::services
