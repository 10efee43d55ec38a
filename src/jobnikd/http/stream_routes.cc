// GET /v1/stream?job_id=...: a job's changes as server-sent events (http/streams.h).
#include <charconv>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "domain/codec.h"
#include "http/query.h"
#include "http/routes.h"
#include "http/streams.h"

namespace jobnik::http {
namespace {

using domain::ErrorCode;

// One open stream: what it sends next, and its place among the open streams (given back
// when the response, and with it this, goes away).
struct OpenStream {
  OpenStream(Streams& s, Metrics& metrics, store::Store& store, std::string id, JobFeed f)
      : streams(s), m(metrics), st(store), job_id(std::move(id)), feed(std::move(f)) {
    m.streams_open.Increment();
  }
  ~OpenStream() {
    streams.Close();
    m.streams_open.Decrement();
  }
  OpenStream(const OpenStream&) = delete;
  OpenStream& operator=(const OpenStream&) = delete;

  // What to send after one read of the job and its events; `ended` when the job is gone.
  std::string Read(bool& ended) {
    const auto now = JobFeed::Clock::now();
    auto job = st.GetJob(job_id, store::StageDetail::kStages);
    if (!job.ok()) {
      if (job.status().code() == ErrorCode::kJobNotFound) {
        ended = true;
        return JobFeed::Error(std::string(domain::ToString(job.status().code())), job.status().message());
      }
      // The database did not answer: keep the stream (and its keep-alives), read again later.
      spdlog::debug("stream of job {}: {}", job_id, job.status().message());
      return feed.Next(feed.last_job(), {}, now);
    }
    auto events = st.JobEventsAfter(job_id, feed.floor(), feed.limit());
    if (!events.ok()) spdlog::debug("stream of job {}: {}", job_id, events.status().message());
    return feed.Next(domain::ToJson(*job), events.ok() ? *events : std::vector<domain::JobEvent>{}, now);
  }

  Streams& streams;
  Metrics& m;
  store::Store& st;
  const std::string job_id;
  JobFeed feed;
  bool started = false;
};

// Where a stream's events start: `after`, else the Last-Event-ID header (an EventSource
// reconnecting), else std::nullopt (from now on).
domain::Result<std::optional<std::int64_t>> StartOf(const httplib::Request& req, Query& q) {
  auto after = q.Int("after", 0, std::numeric_limits<std::int64_t>::max());
  if (!q.status().ok()) return q.status();
  if (after || !req.has_header("Last-Event-ID")) return after;
  const std::string text = req.get_header_value("Last-Event-ID");
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id < 0) {
    return domain::ValidationError("request/header/Last-Event-ID must be an event id (an integer >= 0)");
  }
  return std::optional<std::int64_t>(id);
}

}  // namespace

void AddStreamRoutes(std::vector<Route>& routes, store::Store& st, Metrics& m, Streams& streams) {
  const RouteAdder add{routes};
  add("GET", "/v1/stream", "/v1/stream", {"job_id", "after"}, [&st, &m, &streams](Call& c) -> Reply {
    Query q(c.query);
    const auto job_id = q.Uuid("job_id");
    auto start = StartOf(c.req, q);
    if (!start.ok()) return ErrorReply(start.status());
    if (!job_id) return ErrorReply(domain::ValidationError("request/query must have required property 'job_id'"));
    Tag("jobnik.job.id", *job_id);
    // The newest event now (from then on, without a start), and JOB_NOT_FOUND before the
    // stream opens.
    auto newest = st.ListJobEvents(*job_id, {std::nullopt, 0, 1});
    if (!newest.ok()) return ErrorReply(newest.status());
    if (!streams.TryOpen()) {
      m.streams_refused.Increment();
      const int max = streams.options().max_clients;
      Reply busy = ErrorReply(domain::Unavailable(
          max == 0 ? fmt::format("job streams are off (stream.max_clients 0): poll GET /v1/jobs/{}", *job_id)
                   : fmt::format("too many job streams are open (stream.max_clients {}): retry later, or poll "
                                 "GET /v1/jobs/{}",
                                 max, *job_id)));
      busy.headers.emplace_back("Retry-After", "5");
      return busy;
    }
    auto open = std::make_shared<OpenStream>(
        streams, m, st, *job_id,
        JobFeed(*start, newest->items.empty() ? 0 : newest->items.front().id, streams.options().keepalive));
    Reply reply;
    reply.stream_type = "text/event-stream";
    reply.headers = {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}};
    reply.stream = [open, interval = streams.options().interval](std::size_t, httplib::DataSink& sink) {
      std::string out;
      if (!open->started) {
        open->started = true;
        out = JobFeed::Preamble();
      } else if (!open->streams.Sleep(interval)) {
        sink.done();  // jobnikd stops
        return true;
      }
      bool ended = false;
      out += open->Read(ended);
      if (!out.empty() && !sink.write(out.data(), out.size())) return false;  // the client went away
      if (ended) sink.done();
      return true;
    };
    return reply;
  });
}

}  // namespace jobnik::http
