#include "worker.h"

#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>
#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>

#include "client/worker.h"
#include "client/worker_metrics.h"
#include "common/version.h"
#include "handler.h"
#include "process/config.h"
#include "process/exit_code.h"
#include "process/runner.h"
#include "process/sd_notify.h"
#include "process/signals.h"
#include "status_server.h"

namespace jobnik::worker {
namespace {

using domain::Result;
using domain::Status;
using process::ExitCode;
using process::ToInt;

struct WorkerConfig {
  std::string url = "http://127.0.0.1:8080";
  std::string token;
  // https: the CA certificates to trust (empty: the system's), and a client certificate
  // and its key for a jobnikd that requires one (mutual TLS).
  std::string ca_file;
  std::string client_cert;
  std::string client_key;
  int shutdown_timeout_seconds = 30;
  std::string log_format = "text";
  int heartbeat_seconds = 10;
  int lease_seconds = 0;
  int wait_seconds = 0;            // > 0: claims long-poll jobnikd (one request per handler per wait while idle)
  bool idempotent_claims = false;  // claims carry an Idempotency-Key; a lost answer is asked for again
  bool combine_requests = true;    // a handler's slots share claims and completion reports
  std::string listen;              // HOST:PORT of /metrics, /healthz, /readyz; empty: none
  client::CircuitBreakerOptions claim_breaker = client::WorkerOptions().claim_breaker;
  client::CircuitBreakerOptions handler_breaker = client::WorkerOptions().handler_breaker;
  std::vector<HandlerConfig> handlers;
};

Status Invalid(const std::string& where, const std::string& problem) {
  return domain::ValidationError(where + ": " + problem);
}

Result<long long> IntOf(const YAML::Node& node, const std::string& where, long long min, long long max) {
  if (!node.IsScalar()) return Invalid(where, "must be an integer");
  long long v = 0;
  if (auto s = process::ParseInt(node.Scalar(), min, max, v); !s.ok()) return Invalid(where, s.message());
  return v;
}

Result<bool> BoolOf(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) return Invalid(where, "must be true or false");
  bool v = false;
  if (auto s = process::ParseBool(node.Scalar(), v); !s.ok()) return Invalid(where, s.message());
  return v;
}

Result<std::string> StringOf(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) return Invalid(where, "must be a string");
  return node.Scalar();
}

Status ParseHandler(const YAML::Node& node, const std::string& where, HandlerConfig& h) {
  if (!node.IsMap()) return Invalid(where, "must be a mapping (stage_type, command, ...)");
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    const std::string at = fmt::format("{}.{}", where, key);
    const YAML::Node& v = kv.second;
    if (key == "stage_type") {
      JOBNIK_ASSIGN_OR_RETURN(h.stage_type, StringOf(v, at));
    } else if (key == "command") {
      if (v.IsScalar()) {
        h.command = {v.Scalar()};
      } else if (v.IsSequence()) {
        h.command.clear();
        for (std::size_t i = 0; i < v.size(); ++i) {
          JOBNIK_ASSIGN_OR_RETURN(auto arg, StringOf(v[i], fmt::format("{}[{}]", at, i)));
          h.command.push_back(std::move(arg));
        }
      } else {
        return Invalid(at, "must be a list of arguments (or, with shell: true, one string)");
      }
    } else if (key == "shell") {
      JOBNIK_ASSIGN_OR_RETURN(h.shell, BoolOf(v, at));
    } else if (key == "concurrency") {
      JOBNIK_ASSIGN_OR_RETURN(auto n, IntOf(v, at, 1, 1024));
      h.concurrency = static_cast<int>(n);
    } else if (key == "timeout") {
      JOBNIK_ASSIGN_OR_RETURN(auto n, IntOf(v, at, 0, 7LL * 24 * 3600));
      h.timeout_seconds = static_cast<int>(n);
    } else if (key == "kill_grace") {
      JOBNIK_ASSIGN_OR_RETURN(auto n, IntOf(v, at, 0, 3600));
      h.kill_grace_seconds = static_cast<int>(n);
    } else if (key == "retry_after") {
      JOBNIK_ASSIGN_OR_RETURN(auto n, IntOf(v, at, 0, 7LL * 24 * 3600));
      h.retry_after_seconds = static_cast<int>(n);
    } else if (key == "retry_exit_code") {
      JOBNIK_ASSIGN_OR_RETURN(auto n, IntOf(v, at, 1, 255));
      h.retry_exit_code = static_cast<int>(n);
    } else if (key == "cwd") {
      JOBNIK_ASSIGN_OR_RETURN(h.cwd, StringOf(v, at));
    } else if (key == "user") {
      JOBNIK_ASSIGN_OR_RETURN(h.user, StringOf(v, at));
    } else if (key == "plugin") {
      JOBNIK_ASSIGN_OR_RETURN(h.plugin, StringOf(v, at));
    } else if (key == "plugin_config") {
      JOBNIK_ASSIGN_OR_RETURN(h.plugin_config, StringOf(v, at));
    } else if (key == "env") {
      if (!v.IsMap()) return Invalid(at, "must be a mapping of variable names to values");
      for (const auto& e : v) {
        const auto name = e.first.as<std::string>();
        JOBNIK_ASSIGN_OR_RETURN(h.env[name], StringOf(e.second, fmt::format("{}.{}", at, name)));
      }
    } else {
      return Invalid(where, fmt::format("unknown key '{}'", key));
    }
  }
  return Status::Ok();
}

Result<double> RatioOf(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) return Invalid(where, "must be a number between 0 and 1");
  try {
    std::size_t used = 0;
    const double v = std::stod(node.Scalar(), &used);
    if (used == node.Scalar().size() && v > 0 && v <= 1) return v;
  } catch (const std::exception&) {
  }
  return Invalid(where, fmt::format("must be a number greater than 0 and at most 1, not '{}'", node.Scalar()));
}

Status ParseBreaker(const YAML::Node& node, const std::string& where, client::CircuitBreakerOptions& b) {
  if (!node.IsMap())
    return Invalid(where, "must be a mapping (enabled, window, min_calls, failure_ratio, reset_timeout)");
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    const std::string at = fmt::format("{}.{}", where, key);
    const YAML::Node& v = kv.second;
    if (key == "enabled") {
      JOBNIK_ASSIGN_OR_RETURN(b.enabled, BoolOf(v, at));
    } else if (key == "window") {
      JOBNIK_ASSIGN_OR_RETURN(auto n, IntOf(v, at, 1, 24LL * 3600));
      b.window = std::chrono::seconds(n);
    } else if (key == "min_calls") {
      JOBNIK_ASSIGN_OR_RETURN(auto n, IntOf(v, at, 1, 1000000));
      b.min_calls = static_cast<int>(n);
    } else if (key == "failure_ratio") {
      JOBNIK_ASSIGN_OR_RETURN(b.failure_ratio, RatioOf(v, at));
    } else if (key == "reset_timeout") {
      JOBNIK_ASSIGN_OR_RETURN(auto n, IntOf(v, at, 1, 24LL * 3600));
      b.reset_timeout = std::chrono::seconds(n);
    } else {
      return Invalid(where, fmt::format("unknown key '{}'", key));
    }
  }
  return Status::Ok();
}

Status ParseFile(const std::string& path, WorkerConfig& c) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return domain::ValidationError(fmt::format("{}: cannot read the file: {}", path, std::strerror(errno)));
  } catch (const YAML::Exception& e) {
    return domain::ValidationError(fmt::format("{}: line {}: not valid YAML: {}", path, e.mark.line + 1, e.msg));
  }
  if (!root.IsMap()) return domain::ValidationError(path + ": must be a YAML mapping (url, handlers, ...)");
  try {
    for (const auto& kv : root) {
      const auto key = kv.first.as<std::string>();
      const std::string at = fmt::format("{}: {}", path, key);
      const YAML::Node& v = kv.second;
      if (key == "url") {
        JOBNIK_ASSIGN_OR_RETURN(c.url, StringOf(v, at));
      } else if (key == "token") {
        JOBNIK_ASSIGN_OR_RETURN(c.token, StringOf(v, at));
      } else if (key == "ca_file") {
        JOBNIK_ASSIGN_OR_RETURN(c.ca_file, StringOf(v, at));
      } else if (key == "client_cert") {
        JOBNIK_ASSIGN_OR_RETURN(c.client_cert, StringOf(v, at));
      } else if (key == "client_key") {
        JOBNIK_ASSIGN_OR_RETURN(c.client_key, StringOf(v, at));
      } else if (key == "shutdown_timeout") {
        JOBNIK_ASSIGN_OR_RETURN(auto n, IntOf(v, at, 0, 24LL * 3600));
        c.shutdown_timeout_seconds = static_cast<int>(n);
      } else if (key == "log_format") {
        JOBNIK_ASSIGN_OR_RETURN(c.log_format, StringOf(v, at));
      } else if (key == "heartbeat_interval") {
        JOBNIK_ASSIGN_OR_RETURN(auto n, IntOf(v, at, 1, 3600));
        c.heartbeat_seconds = static_cast<int>(n);
      } else if (key == "lease_seconds") {
        JOBNIK_ASSIGN_OR_RETURN(auto n, IntOf(v, at, 0, 24LL * 3600));
        c.lease_seconds = static_cast<int>(n);
      } else if (key == "wait_seconds") {
        JOBNIK_ASSIGN_OR_RETURN(auto n, IntOf(v, at, 0, 60));
        c.wait_seconds = static_cast<int>(n);
      } else if (key == "idempotent_claims") {
        JOBNIK_ASSIGN_OR_RETURN(c.idempotent_claims, BoolOf(v, at));
      } else if (key == "combine_requests") {
        JOBNIK_ASSIGN_OR_RETURN(c.combine_requests, BoolOf(v, at));
      } else if (key == "listen") {
        JOBNIK_ASSIGN_OR_RETURN(c.listen, StringOf(v, at));
      } else if (key == "claim_breaker") {
        JOBNIK_TRY(ParseBreaker(v, at, c.claim_breaker));
      } else if (key == "handler_breaker") {
        JOBNIK_TRY(ParseBreaker(v, at, c.handler_breaker));
      } else if (key == "handlers") {
        if (!v.IsSequence() || v.size() == 0) return Invalid(at, "must be a non-empty list of handlers");
        for (std::size_t i = 0; i < v.size(); ++i) {
          HandlerConfig h;
          JOBNIK_TRY(ParseHandler(v[i], fmt::format("{}: handlers[{}]", path, i), h));
          c.handlers.push_back(std::move(h));
        }
      } else {
        return domain::ValidationError(fmt::format("{}: unknown key '{}'", path, key));
      }
    }
  } catch (const YAML::Exception& e) {
    return domain::ValidationError(fmt::format("{}: line {}: {}", path, e.mark.line + 1, e.msg));
  }
  return Status::Ok();
}

// Checks what can be checked before starting; fills in run_as.
Status Validate(WorkerConfig& c, const std::string& source) {
  if (auto url = client::ParseBaseUrl(c.url); !url.ok())
    return domain::ValidationError("url: " + url.status().message());
  for (const auto& [key, path] : {std::pair{"ca_file", &c.ca_file}, std::pair{"client_cert", &c.client_cert},
                                  std::pair{"client_key", &c.client_key}}) {
    if (!path->empty() && ::access(path->c_str(), R_OK) != 0) {
      return domain::ValidationError(fmt::format("{}: cannot read '{}': {}", key, *path, std::strerror(errno)));
    }
  }
  if (c.client_cert.empty() != c.client_key.empty()) {
    return domain::ValidationError(c.client_cert.empty() ? "client_key: needs client_cert (--client-cert)"
                                                         : "client_cert: needs client_key (--client-key)");
  }
  if (c.log_format != "text" && c.log_format != "json") {
    return domain::ValidationError(fmt::format("log_format: must be text or json, not '{}'", c.log_format));
  }
  if (!c.listen.empty()) {
    if (auto s = CheckListen(c.listen); !s.ok()) return domain::ValidationError("listen: " + s.message());
  }
  if (c.handlers.empty()) {
    return domain::ValidationError(
        "no handler: give --stage-type TYPE -- COMMAND [ARGS...], or --config FILE with handlers");
  }
  std::set<std::string> types;
  for (std::size_t i = 0; i < c.handlers.size(); ++i) {
    auto& h = c.handlers[i];
    const std::string at = source.empty() ? "" : fmt::format("{}: handlers[{}]", source, i);
    auto err = [&](const std::string& key, const std::string& problem) {
      return domain::ValidationError(at.empty() ? fmt::format("{}: {}", key, problem)
                                                : fmt::format("{}.{}: {}", at, key, problem));
    };
    if (h.stage_type.empty()) return err("stage_type", "is missing (the stage type whose tasks this handler runs)");
    if (!types.insert(h.stage_type).second)
      return err("stage_type", fmt::format("'{}' has two handlers", h.stage_type));
    if (!h.plugin.empty()) {
      if (!h.command.empty()) return err("plugin", "and command: give one");
      if (auto s = LoadPlugin(h); !s.ok()) return err("plugin", s.message());
      continue;
    }
    if (h.command.empty() || h.command[0].empty()) return err("command", "is missing (the program and its arguments)");
    if (h.shell && h.command.size() != 1) return err("command", "with shell: true must be one string (the script)");
    if (!h.cwd.empty()) {
      struct stat st {};
      if (::stat(h.cwd.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        return err("cwd", fmt::format("'{}' is not a directory", h.cwd));
      }
    }
    if (!h.user.empty()) {
      const passwd* pw = ::getpwnam(h.user.c_str());
      if (pw == nullptr) return err("user", fmt::format("no such user '{}'", h.user));
      if (::geteuid() != 0 && pw->pw_uid != ::geteuid()) {
        return err("user", fmt::format("running as '{}' needs the worker to run as root", h.user));
      }
      h.run_as = process::SpawnOptions::User{pw->pw_uid, pw->pw_gid};
    }
  }
  return Status::Ok();
}

std::string ConfigYaml(const WorkerConfig& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "url" << YAML::Value << c.url;
  out << YAML::Key << "token" << YAML::Value << (c.token.empty() ? "" : "****");
  if (!c.ca_file.empty()) out << YAML::Key << "ca_file" << YAML::Value << c.ca_file;
  if (!c.client_cert.empty()) out << YAML::Key << "client_cert" << YAML::Value << c.client_cert;
  if (!c.client_key.empty()) out << YAML::Key << "client_key" << YAML::Value << c.client_key;
  out << YAML::Key << "shutdown_timeout" << YAML::Value << c.shutdown_timeout_seconds;
  out << YAML::Key << "log_format" << YAML::Value << c.log_format;
  out << YAML::Key << "heartbeat_interval" << YAML::Value << c.heartbeat_seconds;
  out << YAML::Key << "lease_seconds" << YAML::Value << c.lease_seconds;
  out << YAML::Key << "wait_seconds" << YAML::Value << c.wait_seconds;
  out << YAML::Key << "idempotent_claims" << YAML::Value << c.idempotent_claims;
  out << YAML::Key << "combine_requests" << YAML::Value << c.combine_requests;
  if (!c.listen.empty()) out << YAML::Key << "listen" << YAML::Value << c.listen;
  for (const auto& [name, b] :
       {std::pair{"claim_breaker", &c.claim_breaker}, std::pair{"handler_breaker", &c.handler_breaker}}) {
    using std::chrono::duration_cast;
    using std::chrono::seconds;
    out << YAML::Key << name << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "enabled" << YAML::Value << b->enabled;
    out << YAML::Key << "window" << YAML::Value << duration_cast<seconds>(b->window).count();
    out << YAML::Key << "min_calls" << YAML::Value << b->min_calls;
    out << YAML::Key << "failure_ratio" << YAML::Value << fmt::format("{}", b->failure_ratio);
    out << YAML::Key << "reset_timeout" << YAML::Value << duration_cast<seconds>(b->reset_timeout).count();
    out << YAML::EndMap;
  }
  out << YAML::Key << "handlers" << YAML::Value << YAML::BeginSeq;
  for (const auto& h : c.handlers) {
    out << YAML::BeginMap;
    out << YAML::Key << "stage_type" << YAML::Value << h.stage_type;
    if (!h.plugin.empty()) out << YAML::Key << "plugin" << YAML::Value << h.plugin;
    if (!h.command.empty()) out << YAML::Key << "command" << YAML::Value << YAML::Flow << h.command;
    out << YAML::Key << "shell" << YAML::Value << h.shell;
    out << YAML::Key << "concurrency" << YAML::Value << h.concurrency;
    out << YAML::Key << "timeout" << YAML::Value << h.timeout_seconds;
    out << YAML::Key << "kill_grace" << YAML::Value << h.kill_grace_seconds;
    if (h.retry_exit_code) {
      out << YAML::Key << "retry_exit_code" << YAML::Value << *h.retry_exit_code;
      out << YAML::Key << "retry_after" << YAML::Value << h.retry_after_seconds;
    }
    if (!h.cwd.empty()) out << YAML::Key << "cwd" << YAML::Value << h.cwd;
    if (!h.user.empty()) out << YAML::Key << "user" << YAML::Value << h.user;
    if (!h.env.empty()) out << YAML::Key << "env" << YAML::Value << h.env;
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace

int Main(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"jobnik-worker: run an executable for every task of a stage type", "jobnik-worker"};
  app.set_version_flag("-V,--version", fmt::format("jobnik-worker {}", Version()));
  std::string config_file, url, token, ca_file, client_cert, client_key, stage_type, log_format, cwd, user, plugin,
      plugin_config, listen;
  int concurrency = 1, timeout = 0, kill_grace = 5, retry_exit_code = 0, retry_after = 60, shutdown_timeout = -1,
      heartbeat = 0;
  int lease = -1;
  int wait = -1;
  bool idempotent_claims = false;
  bool separate_requests = false;
  bool shell = false, print_config = false;
  std::vector<std::string> env_flags, command;
  app.add_option("-c,--config", config_file, "YAML file with the server and the handlers (jobnik-worker(1))");
  app.add_option("--url", url, "jobnikd's base URL [env JOBNIK_URL; default http://127.0.0.1:8080]");
  app.add_option("--token", token, "bearer token [env JOBNIK_TOKEN]");
  app.add_option("--ca-file", ca_file,
                 "https: PEM CA certificate(s) to trust jobnikd's certificate with [env JOBNIK_CA_FILE; default: the "
                 "system's]")
      ->type_name("FILE");
  app.add_option("--client-cert", client_cert,
                 "https: PEM client certificate, for a jobnikd that requires one (mutual TLS) [env JOBNIK_CLIENT_CERT]")
      ->type_name("FILE");
  app.add_option("--client-key", client_key, "https: PEM private key of --client-cert [env JOBNIK_CLIENT_KEY]")
      ->type_name("FILE");
  app.add_option("-t,--stage-type", stage_type, "the stage type whose tasks COMMAND runs");
  app.add_option("-n,--concurrency", concurrency, "tasks run at once")->check(CLI::Range(1, 1024));
  app.add_option("--timeout", timeout, "seconds a command may run (0: no limit)")->check(CLI::Range(0, 604800));
  app.add_option("--kill-grace", kill_grace, "seconds between SIGTERM and SIGKILL")->check(CLI::Range(0, 3600));
  app.add_option("--retry-after", retry_after, "seconds before a 'retry later' task is retried [default 60]")
      ->check(CLI::Range(0, 604800));
  app.add_option("--retry-exit-code", retry_exit_code, "the exit code meaning 'retry later'")
      ->check(CLI::Range(1, 255));
  app.add_option("--plugin", plugin, "a plugin (shared library) handles the tasks instead of a command");
  app.add_option("--plugin-config", plugin_config, "text given to the plugin's init()");
  app.add_flag("--shell", shell, "run COMMAND (one string) with /bin/sh -c");
  app.add_option("--env", env_flags, "NAME=VALUE for the command (repeatable)");
  app.add_option("--cwd", cwd, "the command's working directory");
  app.add_option("--user", user, "run the command as this user (the worker must be root)");
  app.add_option("--shutdown-timeout", shutdown_timeout,
                 "seconds running commands get to finish after SIGTERM/SIGINT [default 30]")
      ->check(CLI::Range(0, 86400));
  app.add_option("--log-format", log_format, "text or json");
  app.add_option("--heartbeat-interval", heartbeat, "seconds between heartbeats while a command runs [default 10]")
      ->check(CLI::Range(1, 3600));
  app.add_option("--lease-seconds", lease,
                 "the lease asked for with each claim and heartbeat (0: the server's default) [default 0]")
      ->check(CLI::Range(0, 86400));
  app.add_option("--wait-seconds", wait,
                 "long poll: an idle slot's claim waits up to this long in jobnikd for a task of its types "
                 "(0: poll with backoff) [default 0]")
      ->check(CLI::Range(0, 60));
  app.add_flag("--idempotent-claims", idempotent_claims,
               "send each claim with an Idempotency-Key and ask again once with it when the answer is lost, so the "
               "claimed task comes back (jobnikd only; two more statements per claim)");
  app.add_flag("--no-combine-requests", separate_requests,
               "every slot sends its own claims and reports (by default the slots of a handler share them: "
               "claims and completions that meet go in one batch request)");
  app.add_option("--listen", listen, "HOST:PORT to serve /metrics, /healthz and /readyz on (port 0: any free port)");
  app.add_flag("--print-config", print_config, "print the configuration (token masked) and exit");
  app.add_option("command", command, "the command and its arguments (after --)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err) == 0 ? ToInt(ExitCode::kOk) : ToInt(ExitCode::kUsage);
  }
  auto usage = [&err](const std::string& message) {
    err << "jobnik-worker: " << message << "\n";
    return ToInt(ExitCode::kUsage);
  };

  WorkerConfig config;
  if (!config_file.empty()) {
    if (!stage_type.empty() || !command.empty()) {
      return usage("give either --config FILE or --stage-type TYPE -- COMMAND, not both");
    }
    if (auto s = ParseFile(config_file, config); !s.ok()) return usage(s.message());
  }
  if (const char* v = std::getenv("JOBNIK_URL"); v && *v) config.url = v;
  if (const char* v = std::getenv("JOBNIK_TOKEN"); v && *v) config.token = v;
  if (const char* v = std::getenv("JOBNIK_CA_FILE"); v && *v) config.ca_file = v;
  if (const char* v = std::getenv("JOBNIK_CLIENT_CERT"); v && *v) config.client_cert = v;
  if (const char* v = std::getenv("JOBNIK_CLIENT_KEY"); v && *v) config.client_key = v;
  if (!url.empty()) config.url = url;
  if (!token.empty()) config.token = token;
  if (!ca_file.empty()) config.ca_file = ca_file;
  if (!client_cert.empty()) config.client_cert = client_cert;
  if (!client_key.empty()) config.client_key = client_key;
  if (shutdown_timeout >= 0) config.shutdown_timeout_seconds = shutdown_timeout;
  if (!log_format.empty()) config.log_format = log_format;
  if (heartbeat > 0) config.heartbeat_seconds = heartbeat;
  if (lease >= 0) config.lease_seconds = lease;
  if (wait >= 0) config.wait_seconds = wait;
  if (idempotent_claims) config.idempotent_claims = true;
  if (separate_requests) config.combine_requests = false;
  if (!listen.empty()) config.listen = listen;
  if (config_file.empty()) {
    if (stage_type.empty() && !command.empty()) return usage("--stage-type: missing (the stage type COMMAND handles)");
    if (!stage_type.empty()) {
      if (command.empty() && plugin.empty())
        return usage("no command: give it after --, e.g. --stage-type resize -- /bin/resize {data.src}");
      HandlerConfig h;
      h.stage_type = stage_type;
      h.command = command;
      h.plugin = plugin;
      h.plugin_config = plugin_config;
      h.shell = shell;
      h.concurrency = concurrency;
      h.timeout_seconds = timeout;
      h.kill_grace_seconds = kill_grace;
      if (retry_exit_code > 0) h.retry_exit_code = retry_exit_code;
      h.retry_after_seconds = retry_after;
      h.cwd = cwd;
      h.user = user;
      for (const auto& e : env_flags) {
        const auto eq = e.find('=');
        if (eq == std::string::npos || eq == 0) return usage(fmt::format("--env: '{}' is not NAME=VALUE", e));
        h.env[e.substr(0, eq)] = e.substr(eq + 1);
      }
      config.handlers.push_back(std::move(h));
    }
  }
  if (auto s = Validate(config, config_file); !s.ok()) return usage(s.message());
  if (print_config) {
    out << ConfigYaml(config);
    return ToInt(ExitCode::kOk);
  }

  // Blocks SIGINT/SIGTERM before any thread starts.
  process::ShutdownSignals signals;
  Logger log(err, config.log_format == "json");
  client::ClientOptions client_options;
  client_options.base_url = config.url;
  client_options.bearer_token = config.token;
  client_options.ca_file = config.ca_file;
  client_options.client_cert = config.client_cert;
  client_options.client_key = config.client_key;

  prometheus::Registry registry;
  client::WorkerMetrics metrics(registry);

  process::SpawnRunner runner;
  std::stop_source shutdown;  // requested when running commands must end
  RunEnvironment env{{},
                     runner,
                     log,
                     config.url,
                     shutdown.get_token(),
                     [&metrics](const std::string& type) { metrics.CountTimeout(type); }};

  std::atomic<int> running_slots{0};
  std::atomic<int> busy{0};
  std::vector<std::unique_ptr<client::Worker>> workers;
  for (const auto& h : config.handlers) {
    client::WorkerOptions options;
    options.stage_types = {h.stage_type};
    options.slots = h.concurrency;
    options.claim.lease_seconds = config.lease_seconds;
    options.claim.wait_seconds = config.wait_seconds;
    options.claim.idempotent = config.idempotent_claims;
    options.combine_requests = config.combine_requests;
    options.heartbeat_interval = std::chrono::seconds(config.heartbeat_seconds);
    options.claim_breaker = config.claim_breaker;
    options.handler_breaker = config.handler_breaker;
    client::WorkerHooks hooks;
    const std::string type = h.stage_type;
    hooks.on_claim_error = [&log, type](int, const std::string&, const domain::Status& e) {
      log.Log("warn", "claim failed: " + e.message(), "", type);
      return client::Next::kContinue;
    };
    hooks.on_claimed = [&busy](int, const domain::Task&, client::Clock::Duration) {
      ++busy;
      return client::Next::kContinue;
    };
    hooks.on_reported = [&log, &busy, type](int, const domain::Task& task, domain::TaskStatus requested,
                                            const domain::Result<domain::Task>& result, client::Clock::Duration) {
      --busy;
      if (!result.ok()) {
        log.Log("error", fmt::format("report {} failed: {}", domain::ToString(requested), result.status().message()),
                task.id, type);
      }
      return client::Next::kContinue;
    };
    hooks.on_slot_stopped = [&running_slots](int) { --running_slots; };
    hooks.on_long_poll_unsupported = [&log, type](const domain::Status& e) {
      log.Log("warn", "the server has no long poll (" + e.message() + "): polling with backoff instead", "", type);
    };
    hooks.on_heartbeat = [&log, type](const domain::Task& task, client::Client::HeartbeatOutcome outcome,
                                      const domain::Status& error) {
      if (outcome == client::Client::HeartbeatOutcome::kError) {
        log.Log("warn", "heartbeat failed: " + error.message(), task.id, type);
      }
    };
    hooks.on_breaker = [&log, type](client::BreakerKind kind, client::BreakerState from, client::BreakerState to) {
      const bool bad = to == client::BreakerState::kOpen;
      log.Log(
          bad ? "warn" : "info",
          fmt::format("{} breaker {} (was {}){}", client::ToString(kind), client::ToString(to), client::ToString(from),
                      !bad ? ""
                      : kind == client::BreakerKind::kClaim
                          ? ": claims keep failing; no claims until a probe succeeds"
                          : ": the handler keeps failing; no claims until a probe succeeds"),
          "", type);
    };
    running_slots += h.concurrency;
    const HandlerConfig* handler = &h;
    workers.push_back(std::make_unique<client::Worker>(
        options, client::Worker::ClientsFor(client_options),
        client::OutcomeHandler([handler, &env](client::TaskContext& c) { return RunTask(*handler, env, c); }),
        metrics.Wrap(h.stage_type, std::move(hooks))));
  }
  std::atomic<bool> stopping{false};
  std::unique_ptr<StatusServer> status;
  if (!config.listen.empty()) {
    auto started = StatusServer::Start(config.listen, registry, [&]() -> std::string {
      if (stopping) return "stopping";
      for (std::size_t i = 0; i < workers.size(); ++i) {
        if (workers[i]->breaker_state(client::BreakerKind::kClaim) == client::BreakerState::kOpen) {
          return fmt::format("claims of {} keep failing (claim breaker open)", config.handlers[i].stage_type);
        }
        if (workers[i]->breaker_state(client::BreakerKind::kHandler) == client::BreakerState::kOpen) {
          return fmt::format("handler of {} keeps failing (handler breaker open)", config.handlers[i].stage_type);
        }
      }
      return "";
    });
    if (!started.ok()) {
      log.Log("error", started.status().message());
      workers.clear();
      for (auto& h : config.handlers) UnloadPlugin(h);
      return ToInt(ExitCode::kFailure);
    }
    status = std::move(*started);
    log.Log("info", fmt::format("status on http://{} (/metrics, /healthz, /readyz)", status->address()));
  }
  for (auto& w : workers) w->Start();
  for (const auto& h : config.handlers) {
    log.Log("info", fmt::format("started: {} slot(s) on {} claiming from {}", h.concurrency, h.stage_type, config.url),
            "", h.stage_type);
  }
  process::SdNotify("READY=1");

  const auto tick = std::chrono::milliseconds(100);
  auto first = signals.Wait(tick, [&] { return running_slots.load() > 0; });
  process::SdNotify("STOPPING=1");
  stopping = true;
  for (auto& w : workers) w->RequestStop();
  if (first.signal != 0) {
    log.Log("info", fmt::format("signal {}: no more claims; {} running task(s) get {} s to finish (a second signal "
                                "ends them now)",
                                first.signal, busy.load(), config.shutdown_timeout_seconds));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(config.shutdown_timeout_seconds);
    auto second =
        signals.Wait(tick, [&] { return running_slots.load() > 0 && std::chrono::steady_clock::now() < deadline; });
    if (running_slots.load() > 0) {
      log.Log("warn", second.signal != 0 ? "second signal: stopping the running commands"
                                         : "shutdown timeout: stopping the running commands");
    }
  }
  shutdown.request_stop();
  for (auto& w : workers) w->Wait();
  status.reset();  // reads the workers
  workers.clear();
  for (auto& h : config.handlers) UnloadPlugin(h);
  log.Log("info", "stopped");
  return first.signal != 0 ? ToInt(ExitCode::kOk) : ToInt(ExitCode::kFailure);
}

}  // namespace jobnik::worker
