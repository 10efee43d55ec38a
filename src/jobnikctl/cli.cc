// jobnikctl's command line: the global options (flags > JOBNIK_* environment >
// ~/.config/jobnik/jobnikctl.yaml > defaults), one CLI11 subcommand per command, and the
// shell completion scripts generated from that same tree.
#include "cli.h"

#include <fmt/format.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>

#include "client/client.h"
#include "commands.h"
#include "common/version.h"
#include "domain/status.h"
#include "process/config.h"
#include "process/exit_code.h"

namespace jobnik::ctl {
namespace {

using process::ExitCode;
using process::ToInt;

struct Config {
  std::string url = "http://127.0.0.1:8080";
  std::string token;
  std::string ca_file;
  std::string client_cert;
  std::string client_key;
  std::string timeout;
  std::string output;
};

domain::Status CheckDuration(const std::string& v) {
  if (v.empty() || ParseDuration(v)) return domain::Status::Ok();
  return domain::ValidationError("must be a duration such as 30s, 500ms, 5m or 1h, not '" + v + "'");
}

// A file given for TLS must be readable now (its contents are read at the first request).
domain::Status CheckReadable(const std::string& v) {
  if (v.empty() || ::access(v.c_str(), R_OK) == 0) return domain::Status::Ok();
  return domain::ValidationError(fmt::format("cannot read '{}': {}", v, std::strerror(errno)));
}

domain::Status CheckFormat(const std::string& v) {
  if (v.empty() || ParseFormat(v)) return domain::Status::Ok();
  return domain::ValidationError("must be table, json, yaml or name, not '" + v + "'");
}

std::vector<process::Key<Config>> ConfigTable() {
  using process::StringKey;
  return {
      StringKey<Config>({"url", "JOBNIK_URL", "--url", "jobnikd's base URL (a trailing /v1 is accepted)", false, "URL"},
                        &Config::url),
      StringKey<Config>(
          {"token", "JOBNIK_TOKEN", "--token", "bearer token sent in the Authorization header", true, "TOKEN"},
          &Config::token),
      StringKey<Config>(
          {"ca_file", "JOBNIK_CA_FILE", "--ca-file",
           "https: PEM CA certificate(s) to trust jobnikd's certificate with (default: the system's)", false, "FILE"},
          &Config::ca_file, CheckReadable),
      StringKey<Config>({"client_cert", "JOBNIK_CLIENT_CERT", "--client-cert",
                         "https: PEM client certificate, for a jobnikd that requires one (mutual TLS); needs "
                         "--client-key",
                         false, "FILE"},
                        &Config::client_cert, CheckReadable),
      StringKey<Config>(
          {"client_key", "JOBNIK_CLIENT_KEY", "--client-key", "https: PEM private key of --client-cert", false, "FILE"},
          &Config::client_key, CheckReadable),
      StringKey<Config>({"timeout", "JOBNIK_TIMEOUT", "--timeout",
                         "give up after this long: waiting for jobs, and each request", false, "DURATION"},
                        &Config::timeout, CheckDuration),
      StringKey<Config>(
          {"output", "JOBNIK_OUTPUT", "-o,--output",
           "output format: table, json, yaml or name (default: table on a terminal, json otherwise)", false, "FORMAT"},
          &Config::output, CheckFormat),
  };
}

std::string DefaultConfigFile() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) return std::string(xdg) + "/jobnik/jobnikctl.yaml";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.config/jobnik/jobnikctl.yaml";
  return "";
}

// "http://h:8080/v1/" -> "http://h:8080": the client adds /v1 to every path itself.
std::string BaseUrl(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.ends_with("/v1")) url.resize(url.size() - 3);
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// Before parsing: the first word that is not an option must name a command of the command
// it follows. Returns the error line for the first one that does not.
std::optional<std::string> UnknownCommand(CLI::App& root, const std::vector<std::string>& args) {
  CLI::App* cur = &root;
  std::string where = "jobnikctl";
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--") break;
    if (a.size() > 1 && a[0] == '-') {
      if (a.find('=') != std::string::npos) continue;
      const CLI::Option* opt = nullptr;
      for (CLI::App* app = cur; app && !opt; app = app->get_parent()) opt = app->get_option_no_throw(a);
      if (opt && opt->get_expected_min() > 0) ++i;  // its value
      continue;
    }
    auto subs = cur->get_subcommands({});
    if (subs.empty()) return std::nullopt;  // a command's arguments from here
    CLI::App* next = nullptr;
    std::string names;
    for (auto* s : subs) {
      if (s->check_name(a)) next = s;
      names += (names.empty() ? "" : ", ") + s->get_name();
    }
    if (!next) {
      return cur == &root ? fmt::format("unknown command '{}' (commands: {}; see jobnikctl --help)", a, names)
                          : fmt::format("unknown {} command '{}' (expected one of: {})", where, a, names);
    }
    cur = next;
    where = cur->get_name();
  }
  return std::nullopt;
}

// ---- completion scripts, generated from the command tree ----

struct Completion {
  std::map<const CLI::Option*, std::vector<std::string>> choices;  // an option's (or positional's) values
  std::vector<const CLI::Option*> files;                           // options and positionals naming files
};

struct Node {
  std::string path;  // "get job"
  const CLI::App* app;
};

void Walk(const CLI::App* app, const std::string& path, std::vector<Node>& out) {
  out.push_back({path, app});
  for (const auto* s : app->get_subcommands({})) {
    Walk(s, path.empty() ? s->get_name() : path + " " + s->get_name(), out);
  }
}

std::vector<std::string> Flags(const CLI::Option* o) {
  std::vector<std::string> out;
  for (const auto& s : o->get_snames()) out.push_back("-" + s);
  for (const auto& l : o->get_lnames()) out.push_back("--" + l);
  return out;
}

std::string Join(const std::vector<std::string>& v, const std::string& sep = " ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

std::string BashScript(const CLI::App& root, const Completion& comp) {
  std::vector<Node> nodes;
  Walk(&root, "", nodes);
  std::vector<std::string> value_flags, paths;
  for (const auto& n : nodes) {
    if (!n.path.empty()) paths.push_back("\"" + n.path + "\"");
    for (const auto* o : n.app->get_options()) {
      if (!o->get_positional() && o->get_expected_min() > 0) {
        for (const auto& f : Flags(o)) {
          if (std::find(value_flags.begin(), value_flags.end(), f) == value_flags.end()) value_flags.push_back(f);
        }
      }
    }
  }
  std::string s =
      "# bash completion for jobnikctl. Generated by `jobnikctl completion bash`; do not edit.\n"
      "# Also sourced by zsh through bashcompinit (`jobnikctl completion zsh`).\n"
      "_jobnikctl() {\n"
      "  local cur prev cmd='' w i words=''\n"
      "  cur=${COMP_WORDS[COMP_CWORD]}\n"
      "  prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    w=${COMP_WORDS[i]}\n"
      "    case $w in\n"
      "      " +
      Join(value_flags, "|") +
      ") ((i++)) ;;\n"
      "      -*) ;;\n"
      "      *)\n"
      "        case \"$cmd${cmd:+ }$w\" in\n"
      "          " +
      Join(paths, "|") +
      ") cmd=\"$cmd${cmd:+ }$w\" ;;\n"
      "        esac\n"
      "        ;;\n"
      "    esac\n"
      "  done\n"
      "  case \"$cmd:$prev\" in\n";
  // Values of options.
  for (const auto& n : nodes) {
    for (const auto* o : n.app->get_options()) {
      if (o->get_positional() || o->get_expected_min() == 0) continue;
      // An option of the root is valid after any command.
      const std::string cmd = n.path.empty() ? "*" : "\"" + n.path + "\"";
      std::vector<std::string> pats;
      for (const auto& f : Flags(o)) pats.push_back(fmt::format("{}:{}", cmd, f));
      s += "    " + Join(pats, "|") + ")\n";
      if (auto it = comp.choices.find(o); it != comp.choices.end()) {
        s += "      words=\"" + Join(it->second) + "\" ;;\n";
      } else if (std::find(comp.files.begin(), comp.files.end(), o) != comp.files.end()) {
        s += "      compopt -o filenames 2>/dev/null\n"
             "      COMPREPLY=($(compgen -f -- \"$cur\"))\n"
             "      return 0 ;;\n";
      } else {
        s += "      return 0 ;;\n";
      }
    }
  }
  s += "  esac\n"
       "  if [[ -z $words ]]; then\n"
       "    case $cmd in\n";
  std::string globals;
  for (const auto* o : root.get_options()) {
    if (!o->get_positional()) globals += (globals.empty() ? "" : " ") + Join(Flags(o));
  }
  for (const auto& n : nodes) {
    std::vector<std::string> words;
    for (const auto* sub : n.app->get_subcommands({})) words.push_back(sub->get_name());
    bool files = false;
    std::vector<std::string> positional;
    for (const auto* o : n.app->get_options()) {
      if (o->get_positional()) {
        if (auto it = comp.choices.find(o); it != comp.choices.end()) {
          positional.insert(positional.end(), it->second.begin(), it->second.end());
        }
        if (std::find(comp.files.begin(), comp.files.end(), o) != comp.files.end()) files = true;
      }
    }
    std::string options;
    if (!n.path.empty()) {
      for (const auto* o : n.app->get_options()) {
        if (!o->get_positional()) options += " " + Join(Flags(o));
      }
    }
    s += "      \"" + n.path + "\")\n";
    s += "        if [[ $cur == -* ]]; then\n";
    s += fmt::format("          words=\"{}{}\"\n", globals, options);
    if (files) {
      s += "        else\n"
           "          compopt -o filenames 2>/dev/null\n"
           "          COMPREPLY=($(compgen -f -- \"$cur\"))\n"
           "          return 0\n";
    } else {
      words.insert(words.end(), positional.begin(), positional.end());
      s += "        else\n          words=\"" + Join(words) + "\"\n";
    }
    s += "        fi ;;\n";
  }
  s += "    esac\n"
       "  fi\n"
       "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
       "}\n"
       "complete -F _jobnikctl jobnikctl\n";
  // One directive for the whole file: the word splitting of compgen's output is intended.
  return "# shellcheck disable=SC2207\n" + s;
}

std::string ZshScript(const CLI::App& root, const Completion& comp) {
  return "# zsh completion for jobnikctl. Generated by `jobnikctl completion zsh`; do not edit.\n"
         "# Load it from ~/.zshrc, after compinit:  source <(jobnikctl completion zsh)\n"
         "autoload -U +X bashcompinit && bashcompinit\n" +
         BashScript(root, comp);
}

std::string FishQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string FishScript(const CLI::App& root, const Completion& comp) {
  std::vector<Node> nodes;
  Walk(&root, "", nodes);
  std::string s =
      "# fish completion for jobnikctl. Generated by `jobnikctl completion fish`; do not edit.\n"
      "complete -c jobnikctl -f\n";
  for (const auto& n : nodes) {
    std::string cond;
    if (n.path.empty()) {
      cond = "__fish_use_subcommand";
    } else {
      std::vector<std::string> subs;
      for (const auto* sub : n.app->get_subcommands({})) subs.push_back(sub->get_name());
      const auto last = n.path.substr(n.path.rfind(' ') == std::string::npos ? 0 : n.path.rfind(' ') + 1);
      cond = "__fish_seen_subcommand_from " + last;
      if (!subs.empty()) cond += "; and not __fish_seen_subcommand_from " + Join(subs);
    }
    for (const auto* sub : n.app->get_subcommands({})) {
      s += "complete -c jobnikctl -n " + FishQuote(cond) + " -a " + sub->get_name() + " -d " +
           FishQuote(sub->get_description()) + "\n";
    }
    for (const auto* o : n.app->get_options()) {
      std::string line = "complete -c jobnikctl";
      if (!n.path.empty()) line += " -n " + FishQuote("__fish_seen_subcommand_from " + n.app->get_name());
      if (o->get_positional()) {
        if (auto it = comp.choices.find(o); it != comp.choices.end()) {
          s += line + " -a " + FishQuote(Join(it->second)) + "\n";
        } else if (std::find(comp.files.begin(), comp.files.end(), o) != comp.files.end()) {
          s += line + " -F\n";
        }
        continue;
      }
      for (const auto& sn : o->get_snames()) line += " -s " + sn;
      for (const auto& ln : o->get_lnames()) line += " -l " + ln;
      if (o->get_expected_min() > 0) {
        if (auto it = comp.choices.find(o); it != comp.choices.end()) {
          line += " -x -a " + FishQuote(Join(it->second));
        } else if (std::find(comp.files.begin(), comp.files.end(), o) != comp.files.end()) {
          line += " -r -F";
        } else {
          line += " -x";
        }
      }
      s += line + " -d " + FishQuote(o->get_description()) + "\n";
    }
  }
  return s;
}

std::vector<std::string> Names(auto all) {
  std::vector<std::string> out;
  out.reserve(all.size());
  for (auto v : all) out.emplace_back(domain::ToString(v));
  return out;
}

}  // namespace

int Main(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"jobnikctl: submit, inspect and control Jobnik jobs", "jobnikctl"};
  app.set_version_flag("-V,--version", fmt::format("jobnikctl {}", jobnik::Version()));
  app.fallthrough();  // global options after the command too (inherited by every subcommand)
  app.footer(
      "Global options go before or after the command. Configuration: flags > JOBNIK_* environment >\n"
      "~/.config/jobnik/jobnikctl.yaml (--config) > defaults. Exit status: see jobnikctl(1).");
  const auto table = ConfigTable();
  process::ConfigFlags config_flags;
  config_flags.AddTo(app, process::KeysOf(table));
  std::optional<std::string> config_file;
  Completion comp;
  auto* config_opt =
      app.add_option("--config", config_file, "configuration file (default: " + DefaultConfigFile() + ")")
          ->type_name("FILE");
  comp.files.push_back(config_opt);
  if (auto* o = app.get_option_no_throw("--output")) comp.choices[o] = {"table", "json", "yaml", "name"};
  for (const char* name : {"--ca-file", "--client-cert", "--client-key"}) {
    if (auto* o = app.get_option_no_throw(name)) comp.files.push_back(o);
  }
  bool quiet = false;
  bool verbose = false;
  app.add_flag("-q,--quiet", quiet, "print only what was asked for (no progress or confirmations)");
  app.add_flag("-v,--verbose", verbose, "more detail in errors");

  std::map<CLI::App*, std::function<int(Context&)>> run;
  auto command = [&](CLI::App& parent, const std::string& name, const std::string& help) {
    return parent.add_subcommand(name, help);
  };
  const auto job_statuses = Names(domain::kAllJobStatuses);
  const auto stage_statuses = Names(domain::kAllStageStatuses);
  const auto task_statuses = Names(domain::kAllTaskStatuses);
  const auto priorities = Names(domain::kAllPriorities);

  auto* health = command(app, "health", "check that jobnikd is up and its database reachable");
  run[health] = [](Context& c) { return Health(c); };
  auto* ping = command(app, "ping", "the same as health");
  run[ping] = [](Context& c) { return Health(c); };
  auto* version = command(app, "version", "print the versions of jobnikctl and of jobnikd");
  run[version] = [](Context& c) { return Version(c); };

  SubmitArgs submit_args;
  auto* submit =
      command(app, "submit", "submit a job spec (YAML or JSON, see jobnik-spec(5)) as one job; print its id");
  comp.files.push_back(submit->add_option("FILE", submit_args.file, "the spec, or - for standard input")->required());
  submit->add_option("--set", submit_args.sets, "override a field of the spec: PATH=VALUE (VALUE in YAML)")
      ->type_name("PATH=VALUE")
      ->allow_extra_args(false);  // one PATH=VALUE per --set: FILE is not a value
  submit->add_flag("--wait", submit_args.wait, "wait until the job is final; exit as `wait` does");
  submit->add_option("--idempotency-key", submit_args.idempotency_key,
                     "submit with this Idempotency-Key: submitting again with it (within jobnikd's retention, 24h by "
                     "default) prints the first job's id instead of creating another");
  submit
      ->add_option("--dedupe-window", submit_args.dedupe_window,
                   "the same spec submitted again within the same window (e.g. 1h: the same clock hour, UTC) prints "
                   "the first job's id instead of creating another")
      ->type_name("DURATION");
  auto* not_before =
      submit->add_option("--not-before", submit_args.not_before, "no task of the job is claimable before this time")
          ->type_name("RFC3339");
  submit->add_option("--in", submit_args.in, "no task of the job is claimable before this long from now (10m, 2h)")
      ->type_name("DURATION")
      ->excludes(not_before);
  run[submit] = [&](Context& c) { return Submit(c, submit_args, std::cin); };

  auto* get = command(app, "get", "print one job, stage or task");
  get->require_subcommand(1);
  std::string get_id;
  for (const char* kind : {"job", "stage", "task"}) {
    auto* sub = command(*get, kind, fmt::format("print the {} with this id", kind));
    sub->add_option("ID", get_id, fmt::format("the {}'s id", kind))->required();
    run[sub] = [kind, &get_id](Context& c) { return Get(c, kind, get_id); };
  }

  ListArgs list_args;
  auto* list = command(app, "list", "list jobs, stages or tasks matching filters");
  list->require_subcommand(1);
  auto paging = [&](CLI::App* sub) {
    sub->add_option("--limit", list_args.limit,
                    "at most this many (default 100); the next page's cursor goes to stderr")
        ->type_name("N");
    sub->add_option("--cursor", list_args.cursor, "continue after the page that gave this cursor");
    sub->add_flag("--all", list_args.all, "every match, however many");
  };
  {
    auto* sub = command(*list, "jobs", "list jobs, oldest first");
    sub->add_option("--name", list_args.name, "jobs of exactly this name");
    sub->add_option("--name-contains", list_args.name_contains, "jobs whose name contains this, ignoring case")
        ->type_name("TEXT");
    comp.choices[sub->add_option("--priority", list_args.priority, "jobs of this priority")] = priorities;
    comp.choices[sub->add_option("--status", list_args.status, "jobs in this status")] = job_statuses;
    sub->add_option("--from", list_args.from, "created at or after this time (RFC 3339)")->type_name("TIME");
    sub->add_option("--to", list_args.to, "created at or before this time (RFC 3339)")->type_name("TIME");
    paging(sub);
    run[sub] = [&](Context& c) {
      list_args.kind = "jobs";
      return List(c, list_args);
    };
  }
  {
    auto* sub = command(*list, "stages", "list stages");
    sub->add_option("--job", list_args.job, "stages of this job")->type_name("JOB");
    sub->add_option("--type", list_args.type, "stages of this type");
    comp.choices[sub->add_option("--status", list_args.status, "stages in this status")] = stage_statuses;
    paging(sub);
    run[sub] = [&](Context& c) {
      list_args.kind = "stages";
      return List(c, list_args);
    };
  }
  {
    auto* sub = command(*list, "tasks", "list tasks, in the order they were added");
    sub->add_option("--stage", list_args.stage, "tasks of this stage")->type_name("STAGE");
    sub->add_option("--type", list_args.type, "tasks of stages of this type");
    comp.choices[sub->add_option("--status", list_args.status, "tasks in this status")] = task_statuses;
    sub->add_option("--from", list_args.from, "created at or after this time (RFC 3339)")->type_name("TIME");
    sub->add_option("--to", list_args.to, "created at or before this time (RFC 3339)")->type_name("TIME");
    paging(sub);
    run[sub] = [&](Context& c) {
      list_args.kind = "tasks";
      return List(c, list_args);
    };
  }

  std::string job_id;
  auto* events = command(app, "events", "list a job's events (pause, abort, retries, failures, ...), newest first");
  events->add_option("JOB", job_id, "the job's id")->required();
  paging(events);
  run[events] = [&](Context& c) {
    list_args.kind = "events";
    return Events(c, job_id, list_args);
  };

  auto* tree = command(app, "tree", "print a job, its stages and their task counts");
  tree->add_option("JOB", job_id, "the job's id")->required();
  run[tree] = [&](Context& c) { return Tree(c, job_id); };

  FollowArgs follow;
  auto* wait = command(app, "wait", "wait until every job is final; the exit status tells how they ended");
  wait->add_option("JOB", follow.jobs, "the jobs' ids")->required();
  run[wait] = [&](Context& c) { return Wait(c, follow); };
  auto* watch = command(
      app, "watch", "show a job's progress as jobnikd pushes it (its stream) until it is final; exit as `wait` does");
  watch->add_option("JOB", job_id, "the job's id")->required();
  run[watch] = [&](Context& c) {
    follow.jobs = {job_id};
    return Watch(c, follow);
  };

  for (const char* verb : {"pause", "resume", "abort"}) {
    auto* sub = command(app, verb, fmt::format("{} a job", verb));
    sub->add_option("JOB", job_id, "the job's id")->required();
    run[sub] = [verb, &job_id](Context& c) { return SetStatus(c, verb, job_id); };
  }
  std::string level;
  auto* priority = command(app, "priority", "change a job's priority");
  priority->add_option("JOB", job_id, "the job's id")->required();
  comp.choices[priority->add_option("LEVEL", level, "VERY_HIGH, HIGH, MEDIUM, LOW or VERY_LOW")->required()] =
      priorities;
  run[priority] = [&](Context& c) { return Priority(c, job_id, level); };
  auto* del = command(app, "delete", "delete a finished job with its stages and tasks");
  del->add_option("JOB", job_id, "the job's id")->required();
  run[del] = [&](Context& c) { return Delete(c, job_id); };

  auto* metadata = command(app, "metadata", "change userMetadata");
  metadata->require_subcommand(1);
  auto* metadata_set = command(*metadata, "set", "replace the userMetadata of a job, stage or task");
  std::string kind, id, json;
  comp.choices[metadata_set->add_option("KIND", kind, "job, stage or task")
                   ->required()
                   ->check(CLI::IsMember({"job", "stage", "task"}))] = {"job", "stage", "task"};
  metadata_set->add_option("ID", id, "its id")->required();
  metadata_set->add_option("JSON", json, "the new userMetadata: a JSON object")->required();
  run[metadata_set] = [&](Context& c) { return MetadataSet(c, kind, id, json); };

  auto* stage = command(app, "stage", "act on a stage");
  stage->require_subcommand(1);
  auto* release = command(*stage, "release", "release a WAITING stage: its tasks become claimable");
  release->add_option("STAGE", id, "the stage's id")->required();
  run[release] = [&](Context& c) { return StageRelease(c, id); };

  bool retry_task = false;
  auto* retry = command(app, "retry", "re-run a FAILED job's failed tasks (or, with --task, one FAILED task)");
  retry->add_option("ID", id, "the job's id (with --task: the task's id)")->required();
  retry->add_flag("--task", retry_task, "ID is a FAILED task: re-run only it");
  run[retry] = [&](Context& c) { return Retry(c, id, retry_task); };

  auto* limits = command(app, "limits", "per-stage-type concurrency limits: list, get, set, clear");
  limits->require_subcommand(1);
  std::string limit_type;
  int limit_max = 0;
  auto* limits_list = command(*limits, "list", "every stage type with its limit and unfinished work");
  run[limits_list] = [&](Context& c) { return Limits(c, "list", "", 0); };
  auto* limits_get = command(*limits, "get", "the limit of a stage type (exit 4 when it has none)");
  limits_get->add_option("TYPE", limit_type, "the stage type")->required();
  run[limits_get] = [&](Context& c) { return Limits(c, "get", limit_type, 0); };
  auto* limits_set = command(*limits, "set", "at most MAX tasks of TYPE in progress at once (0 pauses it)");
  limits_set->add_option("TYPE", limit_type, "the stage type")->required();
  limits_set->add_option("MAX", limit_max, "tasks in progress at most, 0 or more")
      ->required()
      ->check(CLI::Range(0, 1000000000));
  run[limits_set] = [&](Context& c) { return Limits(c, "set", limit_type, limit_max); };
  auto* limits_clear = command(*limits, "clear", "remove the limit of a stage type");
  limits_clear->add_option("TYPE", limit_type, "the stage type")->required();
  run[limits_clear] = [&](Context& c) { return Limits(c, "clear", limit_type, 0); };

  auto* task = command(app, "task", "act on tasks by hand (debugging a queue)");
  task->require_subcommand(1);
  std::optional<std::string> reason;
  double retry_after = -1;  // < 0: not given
  for (const char* verb : {"complete", "fail"}) {
    auto* sub = command(
        *task, verb, fmt::format("report a claimed task {}", verb == std::string("complete") ? "COMPLETED" : "FAILED"));
    sub->add_option("ID", id, "the task's id")->required();
    sub->add_option("--reason", reason, "why; kept in the task's userMetadata");
    if (verb == std::string("fail")) {
      sub->add_option("--retry-after", retry_after,
                      "seconds before the task may be claimed again, if it has attempts left (instead of its retry "
                      "policy's delay)")
          ->check(CLI::Range(0.0, 604800.0));
    }
    run[sub] = [verb, &id, &reason, &retry_after](Context& c) {
      return TaskReport(c, id, verb == std::string("complete"), reason,
                        retry_after >= 0 ? std::optional<double>(retry_after) : std::nullopt);
    };
  }
  std::string type;
  auto* claim = command(*task, "claim", "claim the next task of a stage type; print its id");
  claim->add_option("TYPE", type, "the stage type")->required();
  run[claim] = [&](Context& c) { return TaskClaim(c, type); };

  std::string shell;
  auto* completion = command(app, "completion", "print the shell completion script for bash, zsh or fish");
  comp.choices[completion->add_option("SHELL", shell, "bash, zsh or fish")
                   ->required()
                   ->check(CLI::IsMember({"bash", "zsh", "fish"}))] = {"bash", "zsh", "fish"};
  app.require_subcommand(1);

  std::vector<std::string> args(argv + 1, argv + argc);
  if (auto unknown = UnknownCommand(app, args)) {
    err << "jobnikctl: " << *unknown << '\n';
    return ToInt(ExitCode::kUsage);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e, out, err) == 0 ? ToInt(ExitCode::kOk) : ToInt(ExitCode::kUsage);
    err << "jobnikctl: " << e.what() << " (see jobnikctl --help)\n";
    return ToInt(ExitCode::kUsage);
  }

  if (*completion) {
    out << (shell == "bash" ? BashScript(app, comp) : shell == "zsh" ? ZshScript(app, comp) : FishScript(app, comp));
    return ToInt(ExitCode::kOk);
  }

  process::ConfigSources sources;
  sources.file = config_file;
  sources.default_file = DefaultConfigFile();
  sources.env = process::Environment();
  sources.flags = config_flags.Given();
  auto config = process::LoadConfig(table, sources);
  if (!config.ok()) {
    err << "jobnikctl: " << config.status().message() << '\n';
    return ToInt(ExitCode::kUsage);
  }

  if (config->client_cert.empty() != config->client_key.empty()) {
    err << "jobnikctl: "
        << (config->client_cert.empty() ? "--client-key needs --client-cert" : "--client-cert needs --client-key")
        << " (client_cert and client_key go together)\n";
    return ToInt(ExitCode::kUsage);
  }
  client::ClientOptions options;
  options.base_url = BaseUrl(config->url);
  options.bearer_token = config->token;
  options.ca_file = config->ca_file;
  options.client_cert = config->client_cert;
  options.client_key = config->client_key;
  std::optional<Clock::time_point> deadline;
  if (!config->timeout.empty()) {
    const double seconds = *ParseDuration(config->timeout);
    deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    const int ms = static_cast<int>(seconds * 1000);
    options.read_timeout_ms = std::max(1, std::min(options.read_timeout_ms, ms));
    options.connect_timeout_ms = std::max(1, std::min(options.connect_timeout_ms, ms));
  }
  client::Client client(options);
  const bool tty = &out == &std::cout && ::isatty(STDOUT_FILENO) != 0;
  const bool format_given = !config->output.empty();
  const Format format = format_given ? *ParseFormat(config->output) : (tty ? Format::kTable : Format::kJson);
  Context c{out, err, client, config->url, format, format_given, quiet, verbose, tty, deadline};

  // The deepest command given.
  CLI::App* leaf = &app;
  while (!leaf->get_subcommands().empty()) leaf = leaf->get_subcommands().front();
  if (auto it = run.find(leaf); it != run.end()) return it->second(c);
  err << "jobnikctl: no command given (see jobnikctl --help)\n";
  return ToInt(ExitCode::kUsage);
}

}  // namespace jobnik::ctl
