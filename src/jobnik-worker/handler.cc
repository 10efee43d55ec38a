#include "handler.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace jobnik::worker {
namespace {

using client::TaskOutcome;
using domain::TaskStatus;

constexpr std::size_t kReasonTail = 2048;  // of stderr, in a failure's reason

TaskOutcome Failed(std::string reason) {
  return {TaskStatus::kFailed, std::move(reason)};
}

std::string Now() {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms);
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// The last `n` bytes of `s`, trimmed, starting at a line when one starts within them.
std::string TailText(const std::string& s, std::size_t n) {
  std::string t = s.size() > n ? s.substr(s.size() - n) : s;
  if (s.size() > n) {
    if (auto nl = t.find('\n'); nl != std::string::npos && nl + 1 < t.size()) t = t.substr(nl + 1);
  }
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  return t;
}

// A private directory (mode 0700) under $TMPDIR or /tmp; its path, or an error.
domain::Result<std::string> MakePrivateDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/jobnik-task-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    return domain::Status(domain::ErrorCode::kUnknown, fmt::format("cannot create a task directory in {}: {}",
                                                                   base ? base : "/tmp", std::strerror(errno)));
  }
  return templ;
}

// The directory of a task's task and result files.
//
// A handler that runs its commands as the worker's own user keeps one directory per slot
// (thread) for all its tasks: the task file is rewritten in place and everything else is
// removed when a task ends. Making and removing a directory and a file for every task cost
// more than the spawn itself on ext4 (inode allocation). The directory is removed when the
// slot's thread ends. A handler with a `user` gets a fresh directory for each task, owned by
// that user and removed with the task, so that one task's command cannot prepare the next
// one's files.
class TaskDir {
 public:
  static domain::Result<TaskDir> Make(const std::optional<process::SpawnOptions::User>& owner) {
    TaskDir dir;
    if (!owner) {
      thread_local SlotDir slot;
      if (slot.path.empty()) {
        JOBNIK_ASSIGN_OR_RETURN(slot.path, MakePrivateDir());
      }
      dir.path_ = slot.path;
      return dir;
    }
    JOBNIK_ASSIGN_OR_RETURN(dir.path_, MakePrivateDir());
    dir.fresh_ = true;
    if (::chown(dir.path_.c_str(), owner->uid, owner->gid) != 0) {
      return domain::Status(domain::ErrorCode::kUnknown,
                            fmt::format("cannot give {} to the handler's user: {}", dir.path_, std::strerror(errno)));
    }
    return dir;
  }
  TaskDir() = default;
  TaskDir(TaskDir&& o) noexcept : path_(std::exchange(o.path_, {})), fresh_(o.fresh_) {}
  TaskDir& operator=(TaskDir&&) = delete;
  TaskDir(const TaskDir&) = delete;
  TaskDir& operator=(const TaskDir&) = delete;
  ~TaskDir() {
    if (path_.empty()) return;
    std::error_code ec;
    if (fresh_) {
      std::filesystem::remove_all(path_, ec);
      return;
    }
    // The slot's directory: everything but the task file goes (the result file included).
    for (const auto& entry : std::filesystem::directory_iterator(path_, ec)) {
      if (entry.path().filename() != kTaskFile) std::filesystem::remove_all(entry.path(), ec);
    }
  }
  const std::string& path() const { return path_; }

  static constexpr const char* kTaskFile = "task.json";

 private:
  struct SlotDir {
    std::string path;
    SlotDir() = default;
    SlotDir(const SlotDir&) = delete;
    SlotDir& operator=(const SlotDir&) = delete;
    ~SlotDir() {
      std::error_code ec;
      if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
  };

  std::string path_;
  bool fresh_ = false;
};

// Writes `text` to `path` (created 0600, or overwritten), never through a symlink.
//
// An existing file is overwritten from its start and then cut to the new length, not opened
// with O_TRUNC: on ext4 (the default auto_da_alloc), closing a file that was truncated to
// zero and written again starts writing it back to the disk at once, one disk write per
// task for a file that the next task replaces anyway.
// A file that the previous task's command made unwritable (its mode, a symlink, a
// directory in its place) is removed and made anew.
bool WriteFile(const std::string& path, std::string_view text) {
  constexpr int kFlags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
  int fd = ::open(path.c_str(), kFlags, 0600);
  if (fd < 0 && errno != ENOENT) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    fd = ::open(path.c_str(), kFlags, 0600);
  }
  if (fd < 0) return false;
  const auto size = static_cast<off_t>(text.size());
  bool ok = true;
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  if (ok && ::ftruncate(fd, size) != 0) ok = false;
  return ::close(fd) == 0 && ok;
}

}  // namespace

domain::Status LoadPlugin(HandlerConfig& handler) {
  void* lib = ::dlopen(handler.plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return domain::ValidationError(fmt::format("cannot load '{}': {}", handler.plugin, ::dlerror()));
  auto* entry = reinterpret_cast<jobnik_worker_plugin_fn>(::dlsym(lib, JOBNIK_WORKER_PLUGIN_SYMBOL));
  if (entry == nullptr) {
    return domain::ValidationError(
        fmt::format("'{}' is not a jobnik-worker plugin: it has no {}()", handler.plugin, JOBNIK_WORKER_PLUGIN_SYMBOL));
  }
  const jobnik_worker_plugin* api = entry();
  if (api == nullptr || api->handle == nullptr) {
    return domain::ValidationError(fmt::format("'{}' gave no handle function", handler.plugin));
  }
  if (api->abi_version != JOBNIK_WORKER_PLUGIN_ABI) {
    return domain::ValidationError(fmt::format("'{}' was built for plugin ABI version {}; this worker loads version {}",
                                               handler.plugin, api->abi_version, JOBNIK_WORKER_PLUGIN_ABI));
  }
  if (api->init != nullptr) {
    const char* error = nullptr;
    handler.plugin_state = api->init(handler.plugin_config.c_str(), &error);
    if (handler.plugin_state == nullptr) {
      return domain::ValidationError(
          fmt::format("'{}' refused to start: {}", handler.plugin, error != nullptr ? error : "init returned NULL"));
    }
  }
  handler.plugin_api = api;
  return domain::Status::Ok();
}

void UnloadPlugin(HandlerConfig& handler) {
  if (handler.plugin_api != nullptr && handler.plugin_api->destroy != nullptr) {
    handler.plugin_api->destroy(handler.plugin_state);
  }
  handler.plugin_api = nullptr;
  handler.plugin_state = nullptr;
}

void Logger::Log(std::string_view level, std::string_view message, std::string_view task_id,
                 std::string_view stage_type) {
  std::string line;
  if (json_) {
    nlohmann::json j{{"time", Now()}, {"level", level}, {"message", message}};
    if (!task_id.empty()) j["taskId"] = task_id;
    if (!stage_type.empty()) j["stageType"] = stage_type;
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    line = fmt::format("{} {}", Now(), level);
    if (!stage_type.empty()) line += fmt::format(" stage_type={}", stage_type);
    if (!task_id.empty()) line += fmt::format(" task={}", task_id);
    line += fmt::format(" {}", message);
  }
  line += '\n';
  std::lock_guard lock(mu_);
  out_ << line << std::flush;
}

std::string StageCache::JobIdOf(client::Client& client, const std::string& stage_id) {
  {
    std::lock_guard lock(mu_);
    if (auto it = job_ids_.find(stage_id); it != job_ids_.end()) return it->second;
  }
  auto stage = client.GetStage(stage_id);
  if (!stage.ok()) return "";
  std::lock_guard lock(mu_);
  job_ids_[stage_id] = stage->job_id;
  return stage->job_id;
}

domain::Result<std::string> ExpandPlaceholders(const std::string& arg, const nlohmann::json& data, bool shell) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    const auto open = arg.find("{data", pos);
    if (open == std::string::npos) break;
    const auto after = open + 5;
    if (after < arg.size() && arg[after] != '.' && arg[after] != '}') {  // e.g. "{database}": not ours
      out += arg.substr(pos, after - pos);
      pos = after;
      continue;
    }
    const auto close = arg.find('}', open);
    if (close == std::string::npos) {
      return domain::ValidationError(fmt::format("placeholder '{}' has no closing brace", arg.substr(open)));
    }
    out += arg.substr(pos, open - pos);
    const std::string name = arg.substr(open + 1, close - open - 1);  // data.a.b
    const nlohmann::json* value = &data;
    std::size_t p = 4;  // after "data"
    while (p < name.size()) {
      const auto next = name.find('.', p + 1);
      const std::string field = name.substr(p + 1, next == std::string::npos ? std::string::npos : next - p - 1);
      if (field.empty() || !value->is_object() || !value->contains(field)) {
        return domain::ValidationError(fmt::format("placeholder {{{}}}: the task's data has no field '{}'", name,
                                                   name.substr(0, next == std::string::npos ? name.size() : next)));
      }
      value = &(*value)[field];
      p = next == std::string::npos ? name.size() : next;
    }
    std::string text = value->is_string() ? value->get<std::string>()
                                          : value->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out += shell ? ShellQuote(text) : text;
    pos = close + 1;
  }
  out += arg.substr(pos);
  return out;
}

namespace {

// Merges a result object into the task's userMetadata: COMPLETED, or FAILED saying why not.
TaskOutcome MergeResult(client::TaskContext& context, const std::string& text, const std::string& what) {
  auto result = nlohmann::json::parse(text, nullptr, false);
  if (result.is_discarded() || !result.is_object()) return Failed(what + " does not hold a JSON object");
  if (result.empty()) return {TaskStatus::kCompleted, ""};
  auto meta = nlohmann::json::parse(context.task.user_metadata, nullptr, false);
  if (meta.is_discarded() || !meta.is_object()) meta = nlohmann::json::object();
  meta.update(result);
  auto stored = context.client.SetUserMetadata(client::Client::Entity::kTask, context.task.id, meta.dump());
  if (!stored.ok()) return Failed("cannot store the result in the task's userMetadata: " + stored.message());
  return {TaskStatus::kCompleted, ""};
}

TaskOutcome RunPlugin(const HandlerConfig& handler, RunEnvironment& env, client::TaskContext& context) {
  const domain::Task& task = context.task;
  auto data = nlohmann::json::parse(task.data, nullptr, false);
  const std::string data_json = data.is_discarded() ? "{}" : data.dump();
  const std::string json(context.json);
  const std::string job_id = env.stages.JobIdOf(context.client, task.stage_id);
  const jobnik_task t{
      task.id.c_str(),   task.stage_id.c_str(), job_id.c_str(),    handler.stage_type.c_str(), json.c_str(),
      data_json.c_str(), task.attempts + 1,     task.max_attempts, task.traceparent.c_str()};
  jobnik_result result{nullptr, nullptr};
  const int rc = handler.plugin_api->handle(handler.plugin_state, &t, &result);
  if (rc != 0) {
    return Failed(result.reason != nullptr && *result.reason != '\0'
                      ? std::string(result.reason)
                      : fmt::format("the plugin {} returned {}", handler.plugin_api->name, rc));
  }
  if (result.result_json == nullptr) return {TaskStatus::kCompleted, ""};
  return MergeResult(context, result.result_json, fmt::format("the plugin {}'s result", handler.plugin_api->name));
}

TaskOutcome Run(const HandlerConfig& handler, RunEnvironment& env, client::TaskContext& context) {
  if (handler.plugin_api != nullptr) return RunPlugin(handler, env, context);
  const domain::Task& task = context.task;
  const std::string& type = handler.stage_type;
  auto data = nlohmann::json::parse(task.data, nullptr, false);
  if (data.is_discarded()) data = nlohmann::json::object();

  process::RunRequest request;
  for (std::size_t i = 0; i < handler.command.size(); ++i) {
    auto arg = ExpandPlaceholders(handler.command[i], data, handler.shell);
    if (!arg.ok()) return Failed(fmt::format("argument {}: {}", i, arg.status().message()));
    request.spawn.argv.push_back(std::move(arg).value());
  }
  if (handler.shell) request.spawn.argv.insert(request.spawn.argv.begin(), {"/bin/sh", "-c"});

  auto dir = TaskDir::Make(handler.run_as);
  if (!dir.ok()) return Failed(dir.status().message());
  const std::string task_file = dir->path() + "/" + TaskDir::kTaskFile;
  const std::string result_file = dir->path() + "/result.json";
  if (!WriteFile(task_file, context.json)) {
    return Failed(fmt::format("cannot write the task file {}: {}", task_file, std::strerror(errno)));
  }
  if (handler.run_as) {
    (void)::chown(task_file.c_str(), handler.run_as->uid, handler.run_as->gid);
  }

  std::map<std::string, std::string> vars;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    std::string key(kv.substr(0, eq));
    if (key == "JOBNIK_TOKEN") continue;  // the worker's secret stays with the worker
    vars[key] = std::string(kv.substr(eq + 1));
  }
  for (const auto& [k, v] : handler.env) vars[k] = v;
  vars["JOBNIK_TASK_ID"] = task.id;
  vars["JOBNIK_STAGE_ID"] = task.stage_id;
  vars["JOBNIK_JOB_ID"] = env.stages.JobIdOf(context.client, task.stage_id);
  vars["JOBNIK_STAGE_TYPE"] = type;
  vars["JOBNIK_ATTEMPT"] = std::to_string(task.attempts + 1);
  vars["JOBNIK_MAX_ATTEMPTS"] = std::to_string(task.max_attempts);
  vars["JOBNIK_URL"] = env.url;
  vars["JOBNIK_TASK_FILE"] = task_file;
  vars["JOBNIK_RESULT_FILE"] = result_file;
  if (!task.traceparent.empty()) vars["TRACEPARENT"] = task.traceparent;
  if (task.tracestate) vars["TRACESTATE"] = *task.tracestate;
  request.spawn.env = std::move(vars);
  request.spawn.cwd = handler.cwd;
  request.spawn.run_as = handler.run_as;
  request.spawn.death_signal = SIGKILL;
  request.stdin_data = std::string(context.json);
  if (request.stdin_data.empty()) request.stdin_data = "{}";
  if (handler.timeout_seconds > 0) request.timeout = std::chrono::seconds(handler.timeout_seconds);
  request.grace = std::chrono::seconds(handler.kill_grace_seconds);
  // Each line of output goes to the log as it comes, with the task id.
  request.spawn.on_line = [&env, &task, &type](int stream, std::string_view line) {
    env.log.Log("info", fmt::format("{}: {}", stream == 1 ? "stdout" : "stderr", line), task.id, type);
  };

  // Killed on shutdown, or when a heartbeat (the worker loop's) says the job or the claim
  // is gone.
  std::stop_source kill;
  std::atomic<KillCause> cause{KillCause::kNone};
  std::stop_callback on_shutdown(env.shutdown, [&kill, &cause] {
    KillCause none = KillCause::kNone;
    cause.compare_exchange_strong(none, KillCause::kShutdown);
    kill.request_stop();
  });
  std::stop_callback on_cancel(context.cancelled, [&] {
    const bool inactive = context.cancel_cause() == client::CancelCause::kJobNotActive;
    env.log.Log("warn",
                inactive ? "the job is no longer active: stopping the command"
                         : "the claim on the task is gone: stopping the command",
                task.id, type);
    KillCause none = KillCause::kNone;
    cause.compare_exchange_strong(none, inactive ? KillCause::kJobNotActive : KillCause::kClaimLost);
    kill.request_stop();
  });

  env.log.Log("info", fmt::format("running {}", request.spawn.argv.empty() ? "" : request.spawn.argv[0]), task.id,
              type);
  domain::Result<process::RunResult> ran = domain::Unavailable("not run");
  ran = env.runner.Run(request, kill.get_token());
  if (!ran.ok()) return Failed(ran.status().message());
  const std::string err_tail = TailText(ran->err.text, kReasonTail);
  auto with_stderr = [&err_tail](std::string reason) {
    if (!err_tail.empty()) reason += ": " + err_tail;
    return reason;
  };

  TaskOutcome outcome;
  if (ran->timed_out) {
    if (env.on_timeout) env.on_timeout(type);
    outcome =
        Failed(fmt::format("timed out after {} s (the command's process group was killed)", handler.timeout_seconds));
  } else if (ran->cancelled) {
    switch (cause.load()) {
      case KillCause::kJobNotActive:
        outcome = Failed("the job is no longer active (the command was killed)");
        break;
      case KillCause::kClaimLost:
        outcome = Failed("the claim on the task was lost (the command was killed)");
        break;
      default:
        outcome = Failed("worker shutdown");
        break;
    }
    outcome.cancelled = true;
  } else if (ran->status.Success()) {
    outcome = {TaskStatus::kCompleted, ""};
    std::ifstream in(result_file);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      outcome = MergeResult(context, text.str(), "the result file (JOBNIK_RESULT_FILE)");
    }
  } else if (handler.retry_exit_code && ran->status.Exited() && ran->status.Code() == *handler.retry_exit_code) {
    outcome = Failed(with_stderr(fmt::format("retry later: the command {}", ran->status.Describe())));
    outcome.retry_after_seconds = handler.retry_after_seconds;
  } else {
    outcome = Failed(with_stderr(fmt::format("the command {}", ran->status.Describe())));
  }
  return outcome;
}

}  // namespace

TaskOutcome RunTask(const HandlerConfig& handler, RunEnvironment& env, client::TaskContext& context) {
  const auto t0 = std::chrono::steady_clock::now();
  TaskOutcome outcome = Run(handler, env, context);
  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (outcome.status == TaskStatus::kCompleted) {
    env.log.Log("info", fmt::format("completed in {:.3f} s", secs), context.task.id, handler.stage_type);
  } else {
    env.log.Log("warn", fmt::format("failed after {:.3f} s: {}", secs, outcome.reason), context.task.id,
                handler.stage_type);
  }
  return outcome;
}

}  // namespace jobnik::worker
