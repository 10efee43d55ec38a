#include "spec.h"

#include <fmt/format.h>
#include <glob.h>
#include <yaml-cpp/yaml.h>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>

#include "domain/status.h"
#include "domain/time.h"
#include "domain/validation.h"

namespace jobnik::ctl {
namespace {

using domain::Result;
using domain::Status;
using domain::ValidationError;
using nlohmann::json;

std::string Path(const std::string& base, std::string_view key) {
  return base.empty() ? std::string(key) : base + "." + std::string(key);
}

// Reads one spec: knows where it came from, to name the place of each error.
class Reader {
 public:
  Reader(std::string file, const SpecOptions& options) : file_(std::move(file)), options_(options) {}

  Result<domain::NewJob> Job(YAML::Node root);
  Status ApplySet(const YAML::Node& root, const std::string& set);

 private:
  // "FILE:LINE:COLUMN: PATH: PROBLEM", or "--set X=V: PATH: PROBLEM" for a value a --set put there.
  Status Error(const YAML::Node& node, const std::string& path, const std::string& problem) const {
    for (const auto& [set_path, set] : sets_) {
      if (path == set_path || path.starts_with(set_path + ".") || path.starts_with(set_path + "[")) {
        return ValidationError(fmt::format("--set {}: {}: {}", set, path, problem));
      }
    }
    const auto mark = node.Mark();
    if (mark.is_null()) return ValidationError(fmt::format("{}: {}: {}", file_, path, problem));
    return ValidationError(fmt::format("{}:{}:{}: {}: {}", file_, mark.line + 1, mark.column + 1, path, problem));
  }
  Status CheckKeys(const YAML::Node& map, const std::string& path, std::initializer_list<std::string_view> known) const;
  Result<std::string> String(const YAML::Node& node, const std::string& path) const;
  Result<json> Value(const YAML::Node& node, const std::string& path) const;
  Result<std::string> Object(const YAML::Node& map, const char* key, const std::string& path) const;
  Result<std::optional<domain::Timestamp>> Time(const YAML::Node& map, const char* key, const std::string& path) const;
  Result<std::string> Expand(const YAML::Node& node, const std::string& path) const;
  Result<domain::NewStage> Stage(const YAML::Node& node, const std::string& path) const;
  using FieldError = std::function<Status(const std::string& key, const std::string& problem)>;
  Result<domain::NewTask> Task(const json& j, const FieldError& error, const domain::NewTask& defaults) const;
  FieldError YamlError(const YAML::Node& node, const std::string& path) const {
    return [this, node, path](const std::string& key, const std::string& problem) {
      return key.empty() ? Error(node, path, problem) : Error(node[key], Path(path, key), problem);
    };
  }
  Status TasksFrom(const YAML::Node& node, const std::string& path, const domain::NewTask& defaults,
                   std::vector<domain::NewTask>& tasks) const;
  Status JsonLines(std::istream& in, const std::string& name, const domain::NewTask& defaults,
                   std::vector<domain::NewTask>& tasks) const;

  std::string file_;
  const SpecOptions& options_;
  std::vector<std::pair<std::string, std::string>> sets_;  // field path, the --set as given
};

Status Reader::CheckKeys(const YAML::Node& map, const std::string& path,
                         std::initializer_list<std::string_view> known) const {
  for (const auto& kv : map) {
    const auto key = kv.first.Scalar();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return Error(kv.first, Path(path, key), "unknown field (expected one of: " + list + ")");
    }
  }
  return Status::Ok();
}

// ${NAME}, ${NAME:-default} and $$ in a scalar.
Result<std::string> Reader::Expand(const YAML::Node& node, const std::string& path) const {
  const std::string& in = node.Scalar();
  std::string out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '$' || i + 1 >= in.size()) {
      out += in[i];
      continue;
    }
    if (in[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (in[i + 1] != '{') {
      out += in[i];
      continue;
    }
    const auto end = in.find('}', i + 2);
    if (end == std::string::npos) return Error(node, path, "'${' without a closing '}'");
    const std::string expr = in.substr(i + 2, end - i - 2);
    const auto dash = expr.find(":-");
    const std::string name = expr.substr(0, dash);
    static const std::regex kName("[A-Za-z_][A-Za-z0-9_]*");
    if (!std::regex_match(name, kName)) return Error(node, path, "'${" + expr + "}' is not a variable name");
    std::optional<std::string> value;
    if (options_.getenv) {
      value = options_.getenv(name);
    } else if (const char* v = std::getenv(name.c_str())) {
      value = v;
    }
    if (!value || (value->empty() && dash != std::string::npos)) {
      if (dash == std::string::npos) {
        return Error(node, path,
                     fmt::format("environment variable {0} is not set (${{{0}:-default}} gives a default)", name));
      }
      value = expr.substr(dash + 2);
    }
    out += *value;
    i = end;
  }
  return out;
}

constexpr const char* kNotText = "is not text: it must be valid UTF-8 without NUL characters";
constexpr const char* kNotATime = "must be an RFC 3339 time with its offset, e.g. 2026-12-01T18:00:00Z";

Result<std::string> Reader::String(const YAML::Node& node, const std::string& path) const {
  if (!node.IsScalar()) return Error(node, path, "must be a string");
  JOBNIK_ASSIGN_OR_RETURN(auto s, Expand(node, path));
  if (!domain::IsStorableText(s)) return Error(node, path, kNotText);
  return s;
}

// A plain YAML scalar typed as YAML 1.2's core schema does: null, bool, number or string.
json TypedScalar(const std::string& s) {
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (std::regex_match(s, kInt) || std::regex_match(s, kFloat)) {
    std::string text = s;
    if (text[0] == '+') text.erase(0, 1);
    if (text[0] == '.') text.insert(0, "0");
    if (text.size() > 1 && text[0] == '-' && text[1] == '.') text.insert(1, "0");
    if (text.back() == '.') text += '0';
    auto j = json::parse(text, nullptr, false);
    if (!j.is_discarded()) return j;
  }
  return s;
}

Result<json> Reader::Value(const YAML::Node& node, const std::string& path) const {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return json(nullptr);
    case YAML::NodeType::Scalar: {
      JOBNIK_ASSIGN_OR_RETURN(auto s, Expand(node, path));
      if (!domain::IsStorableText(s)) return Error(node, path, kNotText);
      // A quoted scalar ("!" tag) or an explicit !!str is a string; a plain one is typed.
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return json(std::move(s));
      return TypedScalar(s);
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (std::size_t i = 0; i < node.size(); ++i) {
        JOBNIK_ASSIGN_OR_RETURN(auto v, Value(node[i], fmt::format("{}[{}]", path, i)));
        out.push_back(std::move(v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return Error(kv.first, path, "keys must be strings");
        if (!domain::IsStorableText(kv.first.Scalar())) return Error(kv.first, path, "a key " + std::string(kNotText));
        JOBNIK_ASSIGN_OR_RETURN(auto v, Value(kv.second, Path(path, kv.first.Scalar())));
        out[kv.first.Scalar()] = std::move(v);
      }
      return out;
    }
  }
  return json(nullptr);
}

// The JSON text of the object at map[key]; "{}" when absent.
Result<std::string> Reader::Object(const YAML::Node& map, const char* key, const std::string& path) const {
  const auto node = map[key];
  if (!node) return std::string("{}");
  JOBNIK_ASSIGN_OR_RETURN(const auto v, Value(node, Path(path, key)));
  if (!v.is_object()) return Error(node, Path(path, key), "must be a mapping (a JSON object)");
  return v.dump();
}

// The RFC 3339 time at map[key] (notBefore); none when absent.
Result<std::optional<domain::Timestamp>> Reader::Time(const YAML::Node& map, const char* key,
                                                      const std::string& path) const {
  const auto node = map[key];
  if (!node) return std::optional<domain::Timestamp>();
  JOBNIK_ASSIGN_OR_RETURN(const auto text, String(node, Path(path, key)));
  const auto at = domain::ParseTime(text);
  if (!at) return Error(node, Path(path, key), std::string(kNotATime) + ", not '" + text + "'");
  return std::optional<domain::Timestamp>(*at);
}

// A `retry` object (jobnik-spec(5)); `error(problem)` names where it is. The bounds are the
// server's (domain::kMaxRetryDelaySeconds, kMaxRetryBackoff).
Result<domain::RetryPolicy> Retry(const json& v, const std::function<Status(const std::string&)>& error) {
  if (!v.is_object()) return error("must be a mapping with delaySeconds (and backoff, maxDelaySeconds)");
  domain::RetryPolicy r;
  const auto number = [&](const char* key, double min, double max, double& out) -> Status {
    auto it = v.find(key);
    if (it == v.end()) return Status::Ok();
    if (!it->is_number() || it->get<double>() < min || it->get<double>() > max) {
      return error(fmt::format("{} must be a number from {} to {}, not {}", key, min, max, it->dump()));
    }
    out = it->get<double>();
    return Status::Ok();
  };
  for (const auto& [key, value] : v.items()) {
    if (key != "delaySeconds" && key != "backoff" && key != "maxDelaySeconds") {
      return error("unknown field " + key + " (expected one of: delaySeconds, backoff, maxDelaySeconds)");
    }
  }
  if (!v.contains("delaySeconds")) return error("needs delaySeconds");
  JOBNIK_TRY(number("delaySeconds", 0, domain::kMaxRetryDelaySeconds, r.delay_seconds));
  JOBNIK_TRY(number("backoff", 1, domain::kMaxRetryBackoff, r.backoff));
  JOBNIK_TRY(number("maxDelaySeconds", r.delay_seconds, domain::kMaxRetryDelaySeconds, r.max_delay_seconds));
  return r;
}

// A task object; `error(key, problem)` makes the error for a field (key "" for the task).
Result<domain::NewTask> Reader::Task(const json& j, const FieldError& error, const domain::NewTask& defaults) const {
  if (!j.is_object()) return error("", "a task must be an object with \"data\"");
  domain::NewTask t = defaults;
  for (const auto& [key, v] : j.items()) {
    if (key == "data") {
      if (!v.is_object()) return error(key, "must be an object");
      t.data = v.dump();
    } else if (key == "userMetadata") {
      if (!v.is_object()) return error(key, "must be an object");
      t.user_metadata = v.dump();
    } else if (key == "maxAttempts") {
      if (!v.is_number_integer() || v.get<long long>() < 1 || v.get<long long>() > 1000000) {
        return error(key, "must be an integer from 1 to 1000000, not " + v.dump());
      }
      t.max_attempts = v.get<int>();
    } else if (key == "retry") {
      const std::string field = key;  // clang before 16 cannot capture a structured binding
      JOBNIK_ASSIGN_OR_RETURN(t.retry, Retry(v, [&](const std::string& problem) { return error(field, problem); }));
    } else if (key == "notBefore") {
      const auto at = v.is_string() ? domain::ParseTime(v.get<std::string>()) : std::nullopt;
      if (!at) return error(key, std::string(kNotATime) + ", not " + v.dump());
      t.not_before = *at;
    } else {
      return error(key, "unknown field (expected one of: data, userMetadata, maxAttempts, retry, notBefore)");
    }
  }
  if (!j.contains("data") && defaults.data.empty()) return error("", "a task needs \"data\" (an object)");
  return t;
}

Status Reader::JsonLines(std::istream& in, const std::string& name, const domain::NewTask& defaults,
                         std::vector<domain::NewTask>& tasks) const {
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::parse_error& e) {
      return ValidationError(fmt::format("{}:{}:{}: invalid JSON: {}", name, n, e.byte, e.what()));
    }
    const std::string where = fmt::format("{}:{}", name, n);
    auto error = [&](const std::string& key, const std::string& problem) {
      return ValidationError(key.empty() ? fmt::format("{}: {}", where, problem)
                                         : fmt::format("{}: {}: {}", where, key, problem));
    };
    JOBNIK_ASSIGN_OR_RETURN(auto t, Task(j, error, defaults));
    tasks.push_back(std::move(t));
  }
  return Status::Ok();
}

Status Reader::TasksFrom(const YAML::Node& node, const std::string& path, const domain::NewTask& defaults,
                         std::vector<domain::NewTask>& tasks) const {
  std::vector<std::pair<YAML::Node, std::string>> sources;
  if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) sources.emplace_back(node[i], fmt::format("{}[{}]", path, i));
  } else {
    sources.emplace_back(node, path);
  }
  for (const auto& [source, source_path] : sources) {
    JOBNIK_ASSIGN_OR_RETURN(const auto pattern, String(source, source_path));
    if (pattern == "-") {
      if (!options_.stdin_tasks) {
        return Error(source, source_path, "tasks from standard input (\"-\") need the spec in a file, not on stdin");
      }
      JOBNIK_TRY(JsonLines(*options_.stdin_tasks, "<stdin>", defaults, tasks));
      continue;
    }
    const std::filesystem::path full = std::filesystem::path(pattern).is_absolute()
                                           ? std::filesystem::path(pattern)
                                           : std::filesystem::path(options_.base_dir) / pattern;
    glob_t g{};
    const int rc = ::glob(full.c_str(), 0, nullptr, &g);
    std::vector<std::string> files(g.gl_pathv, g.gl_pathv + (rc == 0 ? g.gl_pathc : 0));
    ::globfree(&g);
    if (files.empty()) return Error(source, source_path, "no file matches '" + full.string() + "'");
    for (const auto& f : files) {
      std::ifstream in(f);
      if (!in) return Error(source, source_path, "cannot read " + f);
      JOBNIK_TRY(JsonLines(in, f, defaults, tasks));
    }
  }
  return Status::Ok();
}

Result<domain::NewStage> Reader::Stage(const YAML::Node& node, const std::string& path) const {
  if (!node.IsMap()) return Error(node, path, "a stage must be a mapping with a type");
  JOBNIK_TRY(CheckKeys(
      node, path,
      {"type", "data", "userMetadata", "startAsWaiting", "notBefore", "tasks", "tasksFrom", "taskDefaults", "retry"}));
  domain::NewStage st;
  if (!node["type"]) return Error(node, path, "a stage needs a type");
  JOBNIK_ASSIGN_OR_RETURN(st.type, String(node["type"], Path(path, "type")));
  if (st.type.empty()) return Error(node["type"], Path(path, "type"), "must not be empty");
  JOBNIK_ASSIGN_OR_RETURN(st.data, Object(node, "data", path));
  JOBNIK_ASSIGN_OR_RETURN(st.user_metadata, Object(node, "userMetadata", path));
  JOBNIK_ASSIGN_OR_RETURN(st.not_before, Time(node, "notBefore", path));
  if (const auto w = node["startAsWaiting"]) {
    JOBNIK_ASSIGN_OR_RETURN(const auto v, Value(w, Path(path, "startAsWaiting")));
    if (!v.is_boolean()) return Error(w, Path(path, "startAsWaiting"), "must be true or false");
    st.start_as_waiting = v.get<bool>();
  }
  if (const auto r = node["retry"]) {
    JOBNIK_ASSIGN_OR_RETURN(const auto v, Value(r, Path(path, "retry")));
    JOBNIK_ASSIGN_OR_RETURN(
        st.retry, Retry(v, [&](const std::string& problem) { return Error(r, Path(path, "retry"), problem); }));
  }
  domain::NewTask defaults;
  defaults.data = "";  // a task must have its own
  if (const auto d = node["taskDefaults"]) {
    const std::string dpath = Path(path, "taskDefaults");
    if (!d.IsMap()) return Error(d, dpath, "must be a mapping");
    JOBNIK_TRY(CheckKeys(d, dpath, {"maxAttempts", "userMetadata"}));
    JOBNIK_ASSIGN_OR_RETURN(const auto v, Value(d, dpath));
    domain::NewTask base;
    base.data = "{}";  // taskDefaults has no data of its own
    JOBNIK_ASSIGN_OR_RETURN(defaults, Task(v, YamlError(d, dpath), base));
    defaults.data = "";
  }
  if (const auto tasks = node["tasks"]) {
    if (!tasks.IsSequence()) return Error(tasks, Path(path, "tasks"), "must be a list of tasks");
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      const std::string tpath = fmt::format("{}.tasks[{}]", path, i);
      if (!tasks[i].IsMap()) return Error(tasks[i], tpath, "a task must be a mapping with data");
      JOBNIK_TRY(CheckKeys(tasks[i], tpath, {"data", "userMetadata", "maxAttempts", "retry", "notBefore"}));
      JOBNIK_ASSIGN_OR_RETURN(const auto v, Value(tasks[i], tpath));
      JOBNIK_ASSIGN_OR_RETURN(auto t, Task(v, YamlError(tasks[i], tpath), defaults));
      st.tasks.push_back(std::move(t));
    }
  }
  if (const auto from = node["tasksFrom"]) JOBNIK_TRY(TasksFrom(from, Path(path, "tasksFrom"), defaults, st.tasks));
  return st;
}

Result<domain::NewJob> Reader::Job(YAML::Node root) {
  if (!root.IsMap()) return Error(root, "(spec)", "a spec must be a mapping with a name and stages");
  JOBNIK_TRY(CheckKeys(root, "", {"name", "priority", "data", "userMetadata", "notBefore", "stages"}));
  domain::NewJob job;
  if (!root["name"]) return Error(root, "name", "a job needs a name");
  JOBNIK_ASSIGN_OR_RETURN(job.name, String(root["name"], "name"));
  if (job.name.empty()) return Error(root["name"], "name", "must not be empty");
  if (const auto p = root["priority"]) {
    JOBNIK_ASSIGN_OR_RETURN(const auto text, String(p, "priority"));
    const auto priority = domain::ParsePriority(text);
    if (!priority)
      return Error(p, "priority", "must be one of VERY_HIGH, HIGH, MEDIUM, LOW, VERY_LOW, not '" + text + "'");
    job.priority = *priority;
  }
  JOBNIK_ASSIGN_OR_RETURN(job.data, Object(root, "data", ""));
  JOBNIK_ASSIGN_OR_RETURN(job.user_metadata, Object(root, "userMetadata", ""));
  JOBNIK_ASSIGN_OR_RETURN(job.not_before, Time(root, "notBefore", ""));
  job.stages.emplace();
  if (const auto stages = root["stages"]) {
    if (!stages.IsSequence()) return Error(stages, "stages", "must be a list of stages");
    for (std::size_t i = 0; i < stages.size(); ++i) {
      JOBNIK_ASSIGN_OR_RETURN(auto st, Stage(stages[i], fmt::format("stages[{}]", i)));
      job.stages->push_back(std::move(st));
    }
  }
  return job;
}

// "a.b[2].c" or "a.b.2.c" -> {"a", "b", "2", "c"}.
std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : path) {
    if (c == '.' || c == '[' || c == ']') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

Status Reader::ApplySet(const YAML::Node& root, const std::string& set) {
  const auto eq = set.find('=');
  if (eq == std::string::npos || eq == 0) return ValidationError("--set " + set + ": expected PATH=VALUE");
  const auto segments = SplitPath(set.substr(0, eq));
  if (segments.empty()) return ValidationError("--set " + set + ": expected PATH=VALUE");
  YAML::Node value;
  try {
    value = YAML::Load(set.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    return ValidationError("--set " + set + ": the value is not valid YAML: " + e.msg);
  }
  YAML::Node cur;
  cur.reset(root);
  std::string path;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& seg = segments[i];
    const bool last = i + 1 == segments.size();
    if (cur.IsSequence()) {
      if (seg.find_first_not_of("0123456789") != std::string::npos) {
        return ValidationError(fmt::format("--set {}: {} is a list: expected an index, not '{}'", set, path, seg));
      }
      const std::size_t index = std::stoul(seg);
      if (index > cur.size()) {
        return ValidationError(fmt::format("--set {}: {} has {} items: no index {}", set, path, cur.size(), index));
      }
      path += fmt::format("[{}]", index);
      if (index == cur.size()) cur.push_back(YAML::Node(YAML::NodeType::Map));
      if (last) {
        cur[index] = value;
      } else {
        YAML::Node next = cur[index];
        cur.reset(next);
      }
      continue;
    }
    if (cur.IsDefined() && !cur.IsMap() && !cur.IsNull()) {
      return ValidationError(fmt::format("--set {}: {} is a value, not a mapping", set, path));
    }
    path = Path(path, seg);
    if (last) {
      cur[seg] = value;
    } else {
      YAML::Node next = cur[seg];
      cur.reset(next);
    }
  }
  sets_.emplace_back(path, set);
  return Status::Ok();
}

}  // namespace

Result<domain::NewJob> ParseSpec(std::string_view text, const std::string& file_name, const SpecOptions& options) {
  Reader reader(file_name, options);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    if (e.mark.is_null()) return ValidationError(fmt::format("{}: {}", file_name, e.msg));
    return ValidationError(fmt::format("{}:{}:{}: {}", file_name, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (root.IsNull() || !root.IsDefined()) return ValidationError(file_name + ": the spec is empty");
  for (const auto& set : options.sets) JOBNIK_TRY(reader.ApplySet(root, set));
  return reader.Job(root);
}

}  // namespace jobnik::ctl
