// wait and watch: follow jobs until they reach a final state (COMPLETED, FAILED, ABORTED)
// and exit with the code of the outcome. wait polls, backing off while nothing changes; watch
// reads the job's stream (GET /v1/stream) and polls only a jobnikd without one.
#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "commands.h"
#include "domain/time.h"
#include "process/exit_code.h"

namespace jobnik::ctl {
namespace {

using domain::JobStatus;
using process::ExitCode;
using process::ToInt;

// The exit code of a set of final statuses: any FAILED, else any ABORTED, else success.
int OutcomeOf(const std::vector<JobStatus>& statuses) {
  if (std::find(statuses.begin(), statuses.end(), JobStatus::kFailed) != statuses.end()) {
    return ToInt(ExitCode::kJobFailed);
  }
  if (std::find(statuses.begin(), statuses.end(), JobStatus::kAborted) != statuses.end()) {
    return ToInt(ExitCode::kJobAborted);
  }
  return ToInt(ExitCode::kOk);
}

// Poll interval: grows by half while nothing changes, back to the start on a change.
class Backoff {
 public:
  Backoff(double first, double max) : first_(first), max_(max), next_(first) {}
  void Reset() { next_ = first_; }
  // Sleeps the next interval (never past `deadline`); false when the deadline has passed.
  bool Sleep(const std::optional<Clock::time_point>& deadline) {
    auto d = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(next_));
    if (deadline) {
      const auto now = Clock::now();
      if (now >= *deadline) return false;
      d = std::min(d, *deadline - now);
    }
    std::this_thread::sleep_for(d);
    next_ = std::min(next_ * 1.5, max_);
    return true;
  }

 private:
  double first_, max_, next_;
};

// Fetches a job, tolerating a few consecutive failures to reach jobnikd (a restart).
class Poller {
 public:
  explicit Poller(Context& c) : c_(c) {}
  // The job; std::nullopt after printing the error (exit code in `code`).
  std::optional<domain::Job> Get(const std::string& id, bool with_stages, int& code) {
    for (;;) {
      auto r = c_.client.GetJob(id, with_stages);
      if (r.ok()) {
        failures_ = 0;
        return std::move(r).value();
      }
      if (r.status().code() != domain::ErrorCode::kUnavailable || ++failures_ >= 3) {
        code = c_.Fail(r.status());
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500 * failures_));
    }
  }

 private:
  Context& c_;
  int failures_ = 0;
};

int TimedOut(Context& c, const std::string& what) {
  return c.Fail("timed out waiting for " + what, ToInt(ExitCode::kTimeout));
}

}  // namespace

int Wait(Context& c, const FollowArgs& a) {
  std::map<std::string, JobStatus> last;
  std::vector<JobStatus> finals;
  std::vector<std::string> waiting = a.jobs;
  Backoff backoff(a.interval, a.max_interval);
  Poller poller(c);
  for (;;) {
    bool changed = false;
    std::vector<std::string> still;
    for (const auto& id : waiting) {
      int code = 0;
      auto job = poller.Get(id, false, code);
      if (!job) return code;
      if (auto it = last.find(id); it == last.end() || it->second != job->status) changed = true;
      last[id] = job->status;
      if (domain::IsFinal(job->status)) {
        finals.push_back(job->status);
        if (!c.quiet) c.out << id << ' ' << domain::ToString(job->status) << '\n' << std::flush;
      } else {
        still.push_back(id);
      }
    }
    waiting = std::move(still);
    if (waiting.empty()) return OutcomeOf(finals);
    if (changed) backoff.Reset();
    if (!backoff.Sleep(c.deadline)) {
      std::string what;
      for (const auto& id : waiting)
        what += fmt::format("{}{} ({})", what.empty() ? "" : ", ", id, domain::ToString(last[id]));
      return TimedOut(c, what);
    }
  }
}

namespace {

// Completed-task counts over time, for a stage's rate and ETA.
struct Progress {
  Clock::time_point first_time;
  std::int64_t first_done = -1;

  // "12.5/s ETA 40s", or "" while there is nothing to say.
  std::string RateAndEta(const domain::Summary& s, Clock::time_point now) {
    if (first_done < 0) {
      first_time = now;
      first_done = s.completed;
      return "";
    }
    const double seconds = std::chrono::duration<double>(now - first_time).count();
    if (seconds < 0.5 || s.completed <= first_done) return "";
    const double rate = static_cast<double>(s.completed - first_done) / seconds;
    const auto left = s.total() - s.completed;
    if (left <= 0) return fmt::format("{:.1f}/s", rate);
    return fmt::format("{:.1f}/s ETA {}s", rate, std::llround(static_cast<double>(left) / rate));
  }
};

std::string Bar(const domain::Summary& s, int width) {
  const auto total = s.total();
  const int done = total ? static_cast<int>(s.completed * width / total) : 0;
  return "[" + std::string(static_cast<std::size_t>(done), '#') +
         std::string(static_cast<std::size_t>(width - done), '.') + "]";
}

// One line: the job and each stage's status and counts (what a change is measured by).
std::string Line(const domain::Job& job) {
  std::string line = fmt::format("job {} {} {}%", job.id, domain::ToString(job.status), job.percentage);
  for (const auto& s : job.stages.value_or(std::vector<domain::Stage>{})) {
    line += fmt::format(" | {} {} {}", s.type, domain::ToString(s.status), Counts(s.summary));
  }
  return line;
}

}  // namespace

namespace {

// What watch prints: on a terminal a frame redrawn in place (bars, rate, ETA), otherwise a
// timestamped line whenever the job's line changes.
class WatchView {
 public:
  explicit WatchView(Context& c) : c_(c) {}

  // Shows `job`; its exit code once it is final.
  std::optional<int> Show(const domain::Job& job) {
    const auto now = Clock::now();
    const std::string line = Line(job);
    changed_ = line != previous_;
    if (c_.tty) {
      // Redrawn at each look (rate and ETA move on even without a change).
      std::string frame = drawn_ ? fmt::format("\x1b[{}A\x1b[J", drawn_) : "";
      frame += fmt::format("job {} {}  {}  {}%\n", job.id, job.name, domain::ToString(job.status), job.percentage);
      drawn_ = 1;
      for (const auto& s : job.stages.value_or(std::vector<domain::Stage>{})) {
        frame += fmt::format("  {:<12} {} {:>4}% {:<11} {}  {}\n", s.type, Bar(s.summary, 30), s.percentage,
                             domain::ToString(s.status), Counts(s.summary), progress_[s.id].RateAndEta(s.summary, now));
        ++drawn_;
      }
      c_.out << frame << std::flush;
    } else if (changed_) {
      c_.out << domain::FormatTime(domain::Timestamp(std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())))
             << ' ' << line << '\n'
             << std::flush;
    }
    previous_ = line;
    status_ = job.status;
    if (domain::IsFinal(job.status)) return OutcomeOf({job.status});
    return std::nullopt;
  }
  bool changed() const { return changed_; }
  domain::JobStatus status() const { return status_; }

 private:
  Context& c_;
  std::string previous_;
  std::map<std::string, Progress> progress_;
  int drawn_ = 0;  // lines of the last frame (terminal)
  bool changed_ = false;
  domain::JobStatus status_ = domain::JobStatus::kPending;
};

// The longest a stream may stay silent (jobnikd keeps it alive every 15 s).
constexpr auto kStreamSilence = std::chrono::seconds(45);

}  // namespace

int Watch(Context& c, const FollowArgs& a) {
  const std::string& id = a.jobs.front();
  WatchView view(c);
  // Pushed by jobnikd (GET /v1/stream) while it can; a stream that broke after working is
  // opened again (3 failures in a row end the watch). A jobnikd without streams, or one
  // that refuses another (stream.max_clients), is polled instead.
  bool streamed = false;
  for (int failures = 0;;) {
    std::optional<int> outcome;
    bool timed_out = false;
    client::Client::JobStreamOptions options;
    options.silence = kStreamSilence;
    if (c.deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*c.deadline - Clock::now());
      if (left <= std::chrono::milliseconds(0))
        return TimedOut(c, fmt::format("{} ({})", id, domain::ToString(view.status())));
      options.silence = std::min<std::chrono::milliseconds>(options.silence, left);
    }
    const auto s = c.client.StreamJob(id, options, [&](const client::Client::JobStreamMessage& m) {
      streamed = true;
      failures = 0;
      if (m.kind == client::Client::JobStreamMessage::Kind::kJob) outcome = view.Show(m.job);
      if (!outcome && c.deadline && Clock::now() >= *c.deadline) timed_out = true;
      return !outcome && !timed_out;
    });
    if (outcome) return *outcome;
    if (timed_out || (c.deadline && Clock::now() >= *c.deadline)) {
      return TimedOut(c, fmt::format("{} ({})", id, domain::ToString(view.status())));
    }
    if (s.code() == domain::ErrorCode::kJobNotFound || s.code() == domain::ErrorCode::kValidation ||
        s.code() == domain::ErrorCode::kUnauthenticated || s.code() == domain::ErrorCode::kForbidden) {
      return c.Fail(s);
    }
    if (!streamed) break;  // no stream here: poll
    if (s.code() != domain::ErrorCode::kUnavailable || ++failures >= 3) return c.Fail(s);
    std::this_thread::sleep_for(std::chrono::milliseconds(500 * failures));
  }

  Backoff backoff(a.interval, a.max_interval);
  Poller poller(c);
  for (;;) {
    int code = 0;
    auto job = poller.Get(id, true, code);
    if (!job) return code;
    if (auto outcome = view.Show(*job)) return *outcome;
    if (view.changed()) backoff.Reset();
    if (!backoff.Sleep(c.deadline)) {
      return TimedOut(c, fmt::format("{} ({})", id, domain::ToString(job->status)));
    }
  }
}

}  // namespace jobnik::ctl
