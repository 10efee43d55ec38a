// The commands that ask or change one thing: health, version, submit, get, list, tree,
// pause/resume/abort, priority, delete, metadata set, stage release, task claim/complete/fail.
// wait and watch are in follow.cc.
#include <fmt/format.h>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "commands.h"
#include "common/digest.h"
#include "common/version.h"
#include "domain/time.h"
#include "process/exit_code.h"

namespace jobnik::ctl {

using domain::ErrorCode;
using domain::Status;
using process::ExitCode;
using process::ToInt;

int ExitCodeOf(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kOk:
      return ToInt(ExitCode::kOk);
    case ErrorCode::kJobNotFound:
    case ErrorCode::kStageNotFound:
    case ErrorCode::kTaskNotFound:
    case ErrorCode::kLimitNotFound:
      return ToInt(ExitCode::kNotFound);
    case ErrorCode::kUnavailable:
      return ToInt(ExitCode::kUnavailable);
    default:
      return ToInt(ExitCode::kFailure);
  }
}

int Context::Fail(const Status& status) const {
  std::string line = "jobnikctl: " + status.message();
  if (status.code() == ErrorCode::kUnavailable) {
    line += fmt::format(" ({})", url);
  } else {
    line += fmt::format(" ({})", domain::ToString(status.code()));
  }
  err << line << '\n';
  const int code = ExitCodeOf(status);
  if (verbose)
    err << fmt::format("jobnikctl: jobnikd at {}; error {}; exit status {}\n", url, domain::ToString(status.code()),
                       code);
  return code;
}

int Context::Fail(const std::string& message, int code) const {
  err << "jobnikctl: " << message << '\n';
  if (verbose) err << fmt::format("jobnikctl: jobnikd at {}; exit status {}\n", url, code);
  return code;
}

std::optional<double> ParseDuration(const std::string& text) {
  static const std::regex kDuration(R"(([0-9]+(\.[0-9]+)?)(ms|s|m|h)?)");
  std::smatch m;
  if (!std::regex_match(text, m, kDuration)) return std::nullopt;
  double v = std::stod(m[1].str());
  const auto unit = m[3].str();
  if (unit == "ms") v /= 1000;
  if (unit == "m") v *= 60;
  if (unit == "h") v *= 3600;
  return v;
}

int Health(Context& c) {
  auto r = c.client.Request("GET", "/readiness");
  if (!r.ok()) return c.Fail(r.status());
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  const std::string status = j.is_object() && j.value("status", "").size() ? j.value("status", "") : r->body;
  if (c.format == Format::kJson || c.format == Format::kYaml) {
    PrintJsonText(c.out, c.format, j.is_discarded() ? nlohmann::json{{"status", status}}.dump() : r->body);
  } else {
    c.out << status << '\n';
  }
  if (r->status != 200) {
    return c.Fail(fmt::format("jobnikd at {} is not ready: {} (HTTP {})", c.url, status, r->status),
                  ToInt(ExitCode::kFailure));
  }
  return ToInt(ExitCode::kOk);
}

int Version(Context& c) {
  std::optional<std::string> server;
  if (auto r = c.client.Request("GET", "/metrics"); r.ok() && r->status == 200) {
    static const std::regex kBuild(R"re(jobnik_build_info\{[^}]*version="([^"]+)")re");
    std::smatch m;
    if (std::regex_search(r->body, m, kBuild)) server = m[1].str();
  }
  if (c.format == Format::kJson || c.format == Format::kYaml) {
    nlohmann::json j{{"client", std::string(jobnik::Version())}};
    if (server) j["server"] = *server;
    PrintJsonText(c.out, c.format, j.dump());
  } else {
    c.out << "jobnikctl " << jobnik::Version() << '\n';
    if (server) c.out << "jobnikd " << *server << " at " << c.url << '\n';
  }
  if (!server && !c.quiet) c.err << "jobnikctl: the version of jobnikd at " << c.url << " is unknown (not reachable)\n";
  return ToInt(ExitCode::kOk);
}

std::string DedupeKey(const std::string& job_json, double window_seconds, double unix_seconds) {
  const auto window = static_cast<long long>(unix_seconds / window_seconds);
  return "jobnikctl-" +
         digest::Sha256().Update(job_json).Update("\n").Update(fmt::format("{}/{}", window_seconds, window)).Hex();
}

int Submit(Context& c, const SubmitArgs& a, std::istream& in) {
  if (!a.idempotency_key.empty() && !a.dedupe_window.empty()) {
    return c.Fail("--idempotency-key and --dedupe-window cannot be used together", ToInt(ExitCode::kUsage));
  }
  if (!a.idempotency_key.empty() &&
      (a.idempotency_key.size() > 255 || !std::all_of(a.idempotency_key.begin(), a.idempotency_key.end(),
                                                      [](char ch) { return ch >= ' ' && ch <= '~'; }))) {
    return c.Fail("--idempotency-key: must be 1 to 255 printable ASCII characters", ToInt(ExitCode::kUsage));
  }
  std::optional<double> window;
  if (!a.dedupe_window.empty() && a.in) {
    return c.Fail(
        "--dedupe-window and --in cannot be used together (--in makes each run's spec different; use "
        "--not-before)",
        ToInt(ExitCode::kUsage));
  }
  if (!a.dedupe_window.empty()) {
    window = ParseDuration(a.dedupe_window);
    if (!window || *window < 1) {
      return c.Fail("--dedupe-window: '" + a.dedupe_window + "' is not a duration of at least 1s (e.g. 10m, 1h)",
                    ToInt(ExitCode::kUsage));
    }
  }
  std::string text;
  SpecOptions options;
  options.sets = a.sets;
  if (a.file == "-") {
    std::ostringstream s;
    s << in.rdbuf();
    text = s.str();
  } else {
    std::ifstream f(a.file);
    if (!f) return c.Fail("cannot read " + a.file + ": " + std::strerror(errno), ToInt(ExitCode::kUsage));
    std::ostringstream s;
    s << f.rdbuf();
    text = s.str();
    options.base_dir = std::filesystem::path(a.file).parent_path().string();
    if (options.base_dir.empty()) options.base_dir = ".";
    options.stdin_tasks = &in;
  }
  auto job = ParseSpec(text, a.file == "-" ? "<stdin>" : a.file, options);
  if (!job.ok()) return c.Fail(job.status().message(), ToInt(ExitCode::kUsage));
  if (a.not_before && a.in) return c.Fail("--not-before and --in cannot be used together", ToInt(ExitCode::kUsage));
  if (a.not_before) {
    auto t = domain::ParseTime(*a.not_before);
    if (!t) {
      return c.Fail("--not-before: '" + *a.not_before + "' is not an RFC 3339 time (e.g. 2026-11-30T18:00:00Z)",
                    ToInt(ExitCode::kUsage));
    }
    job->not_before = *t;
  }
  if (a.in) {
    auto d = ParseDuration(*a.in);
    if (!d) return c.Fail("--in: '" + *a.in + "' is not a duration (e.g. 90s, 10m, 2h)", ToInt(ExitCode::kUsage));
    job->not_before = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now()) +
                      std::chrono::microseconds(static_cast<std::int64_t>(*d * 1e6));
  }
  client::Idempotency idempotency;  // retried with its key when the answer is lost
  idempotency.key = a.idempotency_key;
  if (window) {
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    idempotency.key = DedupeKey(client::NewJobJson(*job), *window, now);
  }
  auto created = c.client.CreateJob(*job, idempotency);
  if (!created.ok()) return c.Fail(created.status());
  if (c.format_given && c.format != Format::kName) {
    Print(c.out, c.format, *created);
  } else {
    c.out << created->id << '\n';
  }
  c.out.flush();
  if (!a.wait) return ToInt(ExitCode::kOk);
  FollowArgs f;
  f.jobs = {created->id};
  Context quiet = c;
  quiet.quiet = true;  // the id is the output
  return Wait(quiet, f);
}

int Get(Context& c, const std::string& kind, const std::string& id) {
  if (kind == "job") {
    auto r = c.client.GetJob(id);
    if (!r.ok()) return c.Fail(r.status());
    Print(c.out, c.format, *r);
  } else if (kind == "stage") {
    auto r = c.client.GetStage(id);
    if (!r.ok()) return c.Fail(r.status());
    Print(c.out, c.format, *r);
  } else {
    auto r = c.client.GetTask(id);
    if (!r.ok()) return c.Fail(r.status());
    Print(c.out, c.format, *r);
  }
  return ToInt(ExitCode::kOk);
}

namespace {

template <typename E, typename All>
std::optional<int> ParseEnumArg(Context& c, const std::optional<std::string>& text, std::optional<E>& out,
                                std::optional<E> (*parse)(std::string_view), const char* flag, const All& all) {
  if (!text) return std::nullopt;
  std::string upper = *text;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  out = parse(upper);
  if (out) return std::nullopt;
  std::string names;
  for (auto e : all) names += (names.empty() ? "" : ", ") + std::string(domain::ToString(e));
  return c.Fail(fmt::format("{} must be one of {}, not '{}'", flag, names, *text), ToInt(ExitCode::kUsage));
}

std::optional<int> ParseTimeArg(Context& c, const std::optional<std::string>& text,
                                std::optional<domain::Timestamp>& out, const char* flag) {
  if (!text) return std::nullopt;
  out = domain::ParseTime(*text);
  if (out) return std::nullopt;
  return c.Fail(fmt::format("{} must be an RFC 3339 time such as 2026-03-01T09:15:00Z, not '{}'", flag, *text),
                ToInt(ExitCode::kUsage));
}

template <typename T, typename Fetch>
int ListAll(Context& c, const ListArgs& a, Fetch fetch) {
  client::Client::Paging paging;
  paging.cursor = a.cursor;
  if (!a.all || a.limit) paging.limit = a.limit.value_or(100);
  std::vector<T> items;
  std::optional<std::string> next;
  do {
    auto page = fetch(paging);
    if (!page.ok()) return c.Fail(page.status());
    for (auto& i : page->items) items.push_back(std::move(i));
    next = page->next_cursor;
    paging.cursor = next;
  } while (a.all && next);
  Print(c.out, c.format, items);
  if (next && !c.quiet) c.err << "jobnikctl: more " << a.kind << " follow: --cursor " << *next << " (or --all)\n";
  return ToInt(ExitCode::kOk);
}

constexpr const auto& kPriorities = domain::kAllPriorities;

}  // namespace

int List(Context& c, const ListArgs& a) {
  if (a.limit && *a.limit < 1) return c.Fail("--limit must be at least 1", ToInt(ExitCode::kUsage));
  if (a.kind == "jobs") {
    domain::JobFilter f;
    f.name = a.name;
    if (a.name_contains && a.name_contains->empty()) {
      return c.Fail("--name-contains must not be empty", ToInt(ExitCode::kUsage));
    }
    f.name_contains = a.name_contains;
    if (auto r = ParseEnumArg(c, a.priority, f.priority, domain::ParsePriority, "--priority", kPriorities)) return *r;
    if (auto r = ParseEnumArg(c, a.status, f.status, domain::ParseJobStatus, "--status", domain::kAllJobStatuses)) {
      return *r;
    }
    if (auto r = ParseTimeArg(c, a.from, f.from_date, "--from")) return *r;
    if (auto r = ParseTimeArg(c, a.to, f.end_date, "--to")) return *r;
    return ListAll<domain::Job>(c, a, [&](const auto& p) { return c.client.FindJobs(f, p); });
  }
  if (a.kind == "stages") {
    domain::StageFilter f;
    f.job_id = a.job;
    f.type = a.type;
    if (auto r = ParseEnumArg(c, a.status, f.status, domain::ParseStageStatus, "--status", domain::kAllStageStatuses)) {
      return *r;
    }
    return ListAll<domain::Stage>(c, a, [&](const auto& p) { return c.client.FindStages(f, p); });
  }
  domain::TaskFilter f;
  f.stage_id = a.stage;
  f.stage_type = a.type;
  if (auto r = ParseEnumArg(c, a.status, f.status, domain::ParseTaskStatus, "--status", domain::kAllTaskStatuses)) {
    return *r;
  }
  if (auto r = ParseTimeArg(c, a.from, f.from_date, "--from")) return *r;
  if (auto r = ParseTimeArg(c, a.to, f.end_date, "--to")) return *r;
  return ListAll<domain::Task>(c, a, [&](const auto& p) { return c.client.FindTasks(f, p); });
}

int Events(Context& c, const std::string& job, const ListArgs& a) {
  if (a.limit && *a.limit < 1) return c.Fail("--limit must be at least 1", ToInt(ExitCode::kUsage));
  return ListAll<domain::JobEvent>(c, a, [&](const auto& p) { return c.client.GetJobEvents(job, p); });
}

int Tree(Context& c, const std::string& job_id) {
  auto job = c.client.GetJob(job_id, true);
  if (!job.ok()) return c.Fail(job.status());
  if (c.format == Format::kTable) {
    PrintTree(c.out, *job, job->stages.value_or(std::vector<domain::Stage>{}));
  } else if (c.format == Format::kName) {
    c.out << job->id << '\n';
    for (const auto& s : job->stages.value_or(std::vector<domain::Stage>{})) c.out << s.id << '\n';
  } else {
    Print(c.out, c.format, *job);
  }
  return ToInt(ExitCode::kOk);
}

int SetStatus(Context& c, const std::string& verb, const std::string& job) {
  const auto status = verb == "pause"    ? domain::JobStatus::kPaused
                      : verb == "resume" ? domain::JobStatus::kPending
                                         : domain::JobStatus::kAborted;
  if (auto s = c.client.SetJobStatus(job, status); !s.ok()) return c.Fail(s);
  if (!c.quiet) {
    c.err << "jobnikctl: job " << job
          << (verb == "pause"    ? " paused"
              : verb == "resume" ? " resumed"
                                 : " aborted")
          << '\n';
  }
  return ToInt(ExitCode::kOk);
}

int Priority(Context& c, const std::string& job, const std::string& level) {
  std::optional<domain::Priority> p;
  if (auto r = ParseEnumArg(c, std::optional<std::string>(level), p, domain::ParsePriority, "LEVEL", kPriorities)) {
    return *r;
  }
  if (auto s = c.client.SetJobPriority(job, *p); !s.ok()) return c.Fail(s);
  if (!c.quiet) c.err << "jobnikctl: job " << job << " priority " << domain::ToString(*p) << '\n';
  return ToInt(ExitCode::kOk);
}

int Delete(Context& c, const std::string& job) {
  if (auto s = c.client.DeleteJob(job); !s.ok()) return c.Fail(s);
  if (!c.quiet) c.err << "jobnikctl: job " << job << " deleted\n";
  return ToInt(ExitCode::kOk);
}

int MetadataSet(Context& c, const std::string& kind, const std::string& id, const std::string& json) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return c.Fail(fmt::format(R"(JSON must be a JSON object, such as '{{"owner":"ops"}}', not '{}')", json),
                  ToInt(ExitCode::kUsage));
  }
  const auto entity = kind == "job"     ? client::Client::Entity::kJob
                      : kind == "stage" ? client::Client::Entity::kStage
                                        : client::Client::Entity::kTask;
  if (auto s = c.client.SetUserMetadata(entity, id, j.dump()); !s.ok()) return c.Fail(s);
  if (!c.quiet) c.err << "jobnikctl: " << kind << ' ' << id << " userMetadata set\n";
  return ToInt(ExitCode::kOk);
}

int StageRelease(Context& c, const std::string& stage) {
  if (auto s = c.client.ReleaseStage(stage); !s.ok()) return c.Fail(s);
  if (!c.quiet) c.err << "jobnikctl: stage " << stage << " released\n";
  return ToInt(ExitCode::kOk);
}

int Retry(Context& c, const std::string& id, bool task) {
  if (task) {
    auto r = c.client.RetryTask(id);
    if (!r.ok()) return c.Fail(r.status());
    if (c.format_given) Print(c.out, c.format, *r);
  } else {
    auto r = c.client.RetryJob(id);
    if (!r.ok()) return c.Fail(r.status());
    if (c.format_given) Print(c.out, c.format, *r);
  }
  if (!c.quiet)
    c.err << "jobnikctl: " << (task ? "task " : "job ") << id << " retried: its failed work is claimable again\n";
  return ToInt(ExitCode::kOk);
}

namespace {

nlohmann::json LimitJson(const client::Client::StageTypeLimit& l, bool with_counts) {
  nlohmann::json j = {{"stageType", l.stage_type}};
  j["maxInProgress"] = l.max_in_progress ? nlohmann::json(*l.max_in_progress) : nlohmann::json(nullptr);
  if (l.update_time) j["updateTime"] = *l.update_time;
  if (with_counts) {
    j["pending"] = l.pending;
    j["inProgress"] = l.in_progress;
    j["retried"] = l.retried;
  }
  return j;
}

void PrintLimits(Context& c, const std::vector<client::Client::StageTypeLimit>& limits, bool with_counts) {
  if (c.format == Format::kJson || c.format == Format::kYaml) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& l : limits) out.push_back(LimitJson(l, with_counts));
    PrintJsonText(c.out, c.format, with_counts ? out.dump() : out[0].dump());
    return;
  }
  if (c.format == Format::kName) {
    for (const auto& l : limits) c.out << l.stage_type << '\n';
    return;
  }
  c.out << fmt::format("{:<30} {:>15}", "STAGE TYPE", "MAX IN PROGRESS");
  if (with_counts) c.out << fmt::format(" {:>11} {:>11} {:>8}", "PENDING", "IN PROGRESS", "RETRIED");
  c.out << '\n';
  for (const auto& l : limits) {
    c.out << fmt::format("{:<30} {:>15}", l.stage_type,
                         l.max_in_progress ? std::to_string(*l.max_in_progress) : std::string("-"));
    if (with_counts) c.out << fmt::format(" {:>11} {:>11} {:>8}", l.pending, l.in_progress, l.retried);
    c.out << '\n';
  }
}

}  // namespace

int Limits(Context& c, const std::string& action, const std::string& type, int max_in_progress) {
  if (action == "list") {
    auto types = c.client.ListStageTypes();
    if (!types.ok()) return c.Fail(types.status());
    PrintLimits(c, *types, true);
    return ToInt(ExitCode::kOk);
  }
  if (action == "clear") {
    if (auto s = c.client.ClearStageTypeLimit(type); !s.ok()) return c.Fail(s);
    if (!c.quiet) c.err << "jobnikctl: stage type " << type << " has no concurrency limit now\n";
    return ToInt(ExitCode::kOk);
  }
  auto limit = action == "set" ? c.client.SetStageTypeLimit(type, max_in_progress) : c.client.GetStageTypeLimit(type);
  if (!limit.ok()) return c.Fail(limit.status());
  if (action == "get" || c.format_given) PrintLimits(c, {*limit}, false);
  if (action == "set" && !c.quiet) {
    c.err << "jobnikctl: stage type " << type << ": at most " << max_in_progress << " tasks in progress"
          << (max_in_progress == 0 ? " (paused)" : "") << '\n';
  }
  return ToInt(ExitCode::kOk);
}

int TaskReport(Context& c, const std::string& id, bool completed, const std::optional<std::string>& reason,
               std::optional<double> retry_after_seconds) {
  if (reason && completed) {
    // A completion has no reason on the wire: keep the note in the task's userMetadata.
    auto task = c.client.GetTask(id);
    if (!task.ok()) return c.Fail(task.status());
    auto meta = nlohmann::json::parse(task->user_metadata, nullptr, false);
    if (!meta.is_object()) meta = nlohmann::json::object();
    meta[completed ? "completionNote" : "failureReason"] = *reason;
    if (auto s = c.client.SetUserMetadata(client::Client::Entity::kTask, id, meta.dump()); !s.ok()) return c.Fail(s);
  }
  // A failure's reason goes with the report: the task keeps it in its `errors`.
  auto r = completed ? c.client.ReportTask(id, domain::TaskStatus::kCompleted)
                     : c.client.Report(id, domain::TaskStatus::kFailed, {"", reason.value_or(""), retry_after_seconds});
  if (!r.ok()) return c.Fail(r.status());
  if (c.format_given) {
    Print(c.out, c.format, *r);
  } else if (!c.quiet) {
    c.err << "jobnikctl: task " << id << ' ' << domain::ToString(r->status) << '\n';
  }
  return ToInt(ExitCode::kOk);
}

int TaskClaim(Context& c, const std::string& type) {
  auto r = c.client.Dequeue(type);
  if (!r.ok()) return c.Fail(r.status());
  if (!*r) return c.Fail("no task of stage type '" + type + "' is waiting", ToInt(ExitCode::kNotFound));
  if (c.format_given) {
    Print(c.out, c.format, **r);
  } else {
    c.out << (*r)->id << '\n';
  }
  return ToInt(ExitCode::kOk);
}

}  // namespace jobnik::ctl
