// jobnikctl's commands, each a function of the parsed command line. cli.cc parses and
// dispatches; the commands talk to jobnikd through lib/client and print through output.h.
// Every command returns an exit code of process::ExitCode (jobnikctl(1), EXIT STATUS).
#pragma once

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "client/client.h"
#include "domain/error.h"
#include "output.h"
#include "spec.h"

namespace jobnik::ctl {

using Clock = std::chrono::steady_clock;

// What every command gets: the streams, the global options and the client.
struct Context {
  std::ostream& out;
  std::ostream& err;
  client::Client& client;
  std::string url;  // the base URL as given (for messages)
  Format format = Format::kJson;
  bool format_given = false;  // -o was given (flag, environment or file)
  bool quiet = false;
  bool verbose = false;
  bool tty = false;                           // `out` is a terminal
  std::optional<Clock::time_point> deadline;  // --timeout

  // Prints "jobnikctl: MESSAGE (CODE)" and returns the exit code of the Status.
  int Fail(const domain::Status& status) const;
  // Prints "jobnikctl: MESSAGE" and returns `code`.
  int Fail(const std::string& message, int code) const;
};

// The exit code of an error Status: not found -> kNotFound, cannot reach -> kUnavailable,
// anything else -> kFailure.
int ExitCodeOf(const domain::Status& status);

// Command arguments.
struct ListArgs {
  std::string kind;  // jobs, stages, tasks (events: `events`)
  std::optional<std::string> name, name_contains, priority, status, job, type, stage, from, to;
  std::optional<int> limit;
  std::optional<std::string> cursor;
  bool all = false;
};
struct SubmitArgs {
  std::string file;  // "-" for standard input
  std::vector<std::string> sets;
  bool wait = false;
  // The create's Idempotency-Key: this one, or derived from the job and the current
  // --dedupe-window (a duration), or else a fresh one (which still makes the retries of this
  // one submission safe).
  std::string idempotency_key;
  std::string dedupe_window;
  // Delayed start (at most one): no task of the job is claimable before this RFC 3339
  // time (--not-before), or before now plus this duration (--in, as ParseDuration reads).
  std::optional<std::string> not_before;
  std::optional<std::string> in;
};

// The Idempotency-Key of a submission of `job_json` deduplicated over windows of
// `window_seconds`, at `unix_seconds`: equal for the same job within one window (windows
// are aligned to the Unix epoch, so an hour's window is a clock hour, UTC).
std::string DedupeKey(const std::string& job_json, double window_seconds, double unix_seconds);
struct FollowArgs {
  std::vector<std::string> jobs;
  double interval = 0.2;  // first poll interval, seconds (backs off to max_interval)
  double max_interval = 5.0;
};

int Health(Context& c);
int Version(Context& c);
int Submit(Context& c, const SubmitArgs& a, std::istream& in);
int Get(Context& c, const std::string& kind, const std::string& id);
int List(Context& c, const ListArgs& a);
int Tree(Context& c, const std::string& job);
// A job's event log, newest first (a.limit, a.cursor, a.all as for List).
int Events(Context& c, const std::string& job, const ListArgs& a);
int Wait(Context& c, const FollowArgs& a);
int Watch(Context& c, const FollowArgs& a);
int SetStatus(Context& c, const std::string& verb, const std::string& job);  // pause, resume, abort
int Priority(Context& c, const std::string& job, const std::string& level);
int Delete(Context& c, const std::string& job);
int MetadataSet(Context& c, const std::string& kind, const std::string& id, const std::string& json);
int StageRelease(Context& c, const std::string& stage);
// Re-runs failed work: the FAILED job `id` (task = false) or the FAILED task `id`.
int Retry(Context& c, const std::string& id, bool task);
// Concurrency limits of stage types: `action` list (every type with its limit and
// unfinished work), get TYPE, set TYPE MAX, clear TYPE.
int Limits(Context& c, const std::string& action, const std::string& type, int max_in_progress);
int TaskReport(Context& c, const std::string& id, bool completed, const std::optional<std::string>& reason,
               std::optional<double> retry_after_seconds = std::nullopt);
int TaskClaim(Context& c, const std::string& type);

// "30", "30s", "500ms", "5m", "1h" -> seconds.
std::optional<double> ParseDuration(const std::string& text);

}  // namespace jobnik::ctl
