// Live job streams: GET /v1/stream?job_id=... (docs/design.md, "Job streams").
//
// A stream is a server-sent event (text/event-stream) response that stays open. While it
// is open, jobnikd reads the job (with its stages) and its new events once per interval,
// on the connection's own thread, with two short read transactions; it holds no database
// connection between reads. It sends
//   event: job        the job with its stages (as GET /v1/jobs/{id}?should_return_stages=true),
//                     at the start and whenever any of it changed since the last one sent
//                     (status, percentage, a stage's counts, priority, metadata, ...);
//   event: jobEvent   one entry of the job's event log (as GET /v1/jobs/{id}/events), with
//                     `id:` set to the event's id, oldest first;
//   event: error      {"code", "message"} when the job is gone (deleted); the stream ends;
//   a comment         ": keep-alive" when nothing else was sent for `keepalive`.
// Only changes since the stream opened are sent as jobEvents, unless the request names a
// starting point: `after` (an event id; 0 for the whole log) or the Last-Event-ID header
// a reconnecting EventSource sends.
//
// Events are committed in the order of their transactions, not of their ids: an event with
// a smaller id can become visible after a larger one was sent. A stream therefore reads
// again, for `settle`, the range of what it sent recently and sends what it had missed (each
// event once). Streams polling at an interval is the cost of one jobnikd not knowing what
// another one changed; the interval bounds how stale a stream can be.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "domain/model.h"

namespace jobnik::http {

struct StreamOptions {
  int max_clients = 256;                       // open streams at most; more get 503
  std::chrono::milliseconds interval{1000};    // how often a stream reads its job
  std::chrono::milliseconds keepalive{15000};  // a comment after this long without a message
};

// The open streams of one jobnikd: their count, their interval, and Stop() at shutdown.
class Streams {
 public:
  explicit Streams(StreamOptions options) : options_(options) {}

  const StreamOptions& options() const { return options_; }

  // Takes a place for a new stream: false when max_clients are open or after Stop().
  bool TryOpen();
  void Close();
  int open() const;

  // Sleeps `d`; returns false at once (and from then on) once Stop() was called.
  bool Sleep(std::chrono::milliseconds d);
  // Ends every stream at its next wake-up (now, for those sleeping); no new ones open.
  void Stop();

 private:
  const StreamOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int open_ = 0;
  bool stopped_ = false;
};

// What one stream sends, from what it read: the logic of a stream without its I/O.
class JobFeed {
 public:
  using Clock = std::chrono::steady_clock;
  // How long sent events' range is read again (late commits), and how many at most.
  static constexpr std::chrono::seconds kSettle{3};
  static constexpr std::size_t kMaxRecent = 1000;
  // The most events one read asks for, beyond those read again.
  static constexpr int kPage = 500;

  // `after`: send the events with larger ids; unset: only those after `newest_now`, the
  // largest event id of the job when the stream opened (0: none).
  JobFeed(std::optional<std::int64_t> after, std::int64_t newest_now, std::chrono::milliseconds keepalive);

  // The next read: events with an id above floor(), at most limit() of them, oldest first.
  std::int64_t floor() const { return floor_; }
  int limit() const { return static_cast<int>(recent_.size()) + kPage; }

  // The stream's first message: the reconnection delay for EventSource.
  static std::string Preamble();
  // What to send after a read of the job (its JSON) and its events above floor() (oldest
  // first): the events not sent before, then the job when it changed, else a keep-alive
  // when due; may be empty.
  std::string Next(const std::string& job_json, const std::vector<domain::JobEvent>& events, Clock::time_point now);
  // The message that ends a stream whose job is gone.
  static std::string Error(const std::string& code, const std::string& message);
  // The job's JSON last sent ("" before the first).
  const std::string& last_job() const { return last_job_; }

 private:
  std::int64_t floor_;
  std::chrono::milliseconds keepalive_;
  std::deque<std::pair<std::int64_t, Clock::time_point>> recent_;  // sent, in the order sent
  std::unordered_set<std::int64_t> recent_ids_;
  std::string last_job_;
  std::optional<Clock::time_point> last_sent_;
};

}  // namespace jobnik::http
