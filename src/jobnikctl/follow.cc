// wait and watch: poll jobs until they reach a final state (COMPLETED, FAILED, ABORTED),
// backing off while nothing changes, and exit with the code of the outcome.
#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <map>
#include <thread>

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

int Watch(Context& c, const FollowArgs& a) {
  const std::string& id = a.jobs.front();
  Backoff backoff(a.interval, a.max_interval);
  Poller poller(c);
  std::string previous;
  std::map<std::string, Progress> progress;
  int drawn = 0;  // lines of the last frame (terminal)
  for (;;) {
    int code = 0;
    auto job = poller.Get(id, true, code);
    if (!job) return code;
    const auto now = Clock::now();
    const std::string line = Line(*job);
    const bool changed = line != previous;
    if (c.tty) {
      // Redraw every poll on a terminal (rate and ETA move on even without a change).
      std::string frame = drawn ? fmt::format("\x1b[{}A\x1b[J", drawn) : "";
      frame += fmt::format("job {} {}  {}  {}%\n", job->id, job->name, domain::ToString(job->status), job->percentage);
      drawn = 1;
      for (const auto& s : job->stages.value_or(std::vector<domain::Stage>{})) {
        frame += fmt::format("  {:<12} {} {:>4}% {:<11} {}  {}\n", s.type, Bar(s.summary, 30), s.percentage,
                             domain::ToString(s.status), Counts(s.summary), progress[s.id].RateAndEta(s.summary, now));
        ++drawn;
      }
      c.out << frame << std::flush;
    } else if (changed) {
      c.out << domain::FormatTime(domain::Timestamp(std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())))
            << ' ' << line << '\n'
            << std::flush;
    }
    previous = line;
    if (domain::IsFinal(job->status)) return OutcomeOf({job->status});
    if (changed) backoff.Reset();
    if (!backoff.Sleep(c.deadline)) {
      return TimedOut(c, fmt::format("{} ({})", id, domain::ToString(job->status)));
    }
  }
}

}  // namespace jobnik::ctl
