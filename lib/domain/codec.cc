#include "domain/codec.h"

#include <fmt/format.h>
#include <algorithm>
#include <charconv>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>

#include "domain/time.h"
#include "domain/validation.h"

namespace jobnik::domain {
namespace {

using nlohmann::json;

constexpr std::size_t kNameMin = 2, kNameMax = 50, kTypeMax = 50;

void AppendInt(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// Appends `,"key":` (or `"key":` for the first field of an object).
void Key(std::string& out, std::string_view key) {
  if (out.back() != '{') out += ',';
  out += '"';
  out += key;
  out += "\":";
}

void Field(std::string& out, std::string_view key, std::string_view value) {
  Key(out, key);
  AppendJsonString(out, value);
}
void FieldRaw(std::string& out, std::string_view key, std::string_view raw_json) {
  Key(out, key);
  out += raw_json;
}
void FieldInt(std::string& out, std::string_view key, std::int64_t v) {
  Key(out, key);
  AppendInt(out, v);
}
void FieldTime(std::string& out, std::string_view key, Timestamp t) {
  Key(out, key);
  out += '"';
  AppendTime(out, t);
  out += '"';
}

void AppendNumber(std::string& out, double v) {
  out += fmt::format("{}", v);  // shortest form that reads back the same
}

void FieldRetry(std::string& out, const RetryPolicy& r) {
  Key(out, "retry");
  AppendJson(out, r);
}

template <typename... Keys>
Status RequireAll(const json& j, std::string_view path, Keys... keys) {
  for (std::string_view k : {std::string_view(keys)...}) {
    JOBNIK_TRY(CheckRequired(j, k, path));
  }
  return Status::Ok();
}

std::string Path(std::string_view base, std::string_view key) {
  return fmt::format("{}/{}", base, key);
}

// ---- decoding helpers ----

Status DecodeError(std::string_view what) {
  return BadResponse(fmt::format("malformed response: {}", what));
}

bool GetString(const json& j, const char* key, std::string& out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}
bool GetOptString(const json& j, const char* key, std::optional<std::string>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}
bool GetRaw(const json& j, const char* key, std::string& out, bool required) {
  auto it = j.find(key);
  if (it == j.end()) return !required;
  out = it->dump();
  return true;
}
template <typename Int>
bool GetInt(const json& j, const char* key, Int& out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return false;
  out = it->get<Int>();
  return true;
}
bool GetTime(const json& j, const char* key, Timestamp& out) {
  std::string s;
  if (!GetString(j, key, s)) return false;
  auto t = ParseTime(s);
  if (!t) return false;
  out = *t;
  return true;
}
bool GetOptTime(const json& j, const char* key, std::optional<Timestamp>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  Timestamp t;
  if (!GetTime(j, key, t)) return false;
  out = t;
  return true;
}
template <typename E>
bool GetEnum(const json& j, const char* key, E& out, std::optional<E> (*parse)(std::string_view)) {
  std::string s;
  if (!GetString(j, key, s)) return false;
  auto v = parse(s);
  if (!v) return false;
  out = *v;
  return true;
}

// ---- request helpers ----

Status CheckTraceFields(const json& j, std::string_view path, std::optional<std::string>& traceparent,
                        std::optional<std::string>& tracestate) {
  if (auto it = j.find("traceparent"); it != j.end()) {
    JOBNIK_TRY(CheckTraceparent(*it, Path(path, "traceparent")));
    traceparent = it->get<std::string>();
  }
  if (auto it = j.find("tracestate"); it != j.end()) {
    JOBNIK_TRY(CheckTracestate(*it, Path(path, "tracestate")));
    tracestate = it->get<std::string>();
  }
  return Status::Ok();
}

Status CheckStorable(const json& v, std::string_view path) {
  if (IsStorableJson(v)) return Status::Ok();
  return ValidationError(fmt::format("{} must not contain the character U+0000", path));
}

Status ReadObjectField(const json& j, const char* key, std::string_view path, std::string& out) {
  auto it = j.find(key);
  if (it == j.end()) return Status::Ok();
  JOBNIK_TRY(CheckObject(*it, Path(path, key)));
  JOBNIK_TRY(CheckStorable(*it, Path(path, key)));
  out = it->dump();
  return Status::Ok();
}

// A number from `min` to `max`, or the message naming `path` and the bounds.
Status CheckNumberIn(const json& v, const std::string& path, double min, double max, std::string_view min_text = {}) {
  if (v.is_number() && v.get<double>() >= min && v.get<double>() <= max) return Status::Ok();
  return ValidationError(fmt::format("{} must be a number from {} to {}", path,
                                     min_text.empty() ? fmt::format("{}", min) : std::string(min_text), max));
}

// The optional `retry` object of a task or stage (docs/design.md, "Retry backoff").
Status ReadRetry(const json& j, std::string_view path, std::optional<RetryPolicy>& out) {
  auto it = j.find("retry");
  if (it == j.end() || it->is_null()) return Status::Ok();
  const std::string at = Path(path, "retry");
  JOBNIK_TRY(CheckObject(*it, at));
  JOBNIK_TRY(CheckAllowedKeys(*it, {"delaySeconds", "backoff", "maxDelaySeconds"}, at));
  JOBNIK_TRY(CheckRequired(*it, "delaySeconds", at));
  RetryPolicy r;
  JOBNIK_TRY(CheckNumberIn((*it)["delaySeconds"], Path(at, "delaySeconds"), 0, kMaxRetryDelaySeconds));
  r.delay_seconds = (*it)["delaySeconds"].get<double>();
  if (auto b = it->find("backoff"); b != it->end()) {
    JOBNIK_TRY(CheckNumberIn(*b, Path(at, "backoff"), 1, kMaxRetryBackoff));
    r.backoff = b->get<double>();
  }
  if (auto m = it->find("maxDelaySeconds"); m != it->end()) {
    JOBNIK_TRY(CheckNumberIn(*m, Path(at, "maxDelaySeconds"), r.delay_seconds, kMaxRetryDelaySeconds,
                             fmt::format("delaySeconds ({})", r.delay_seconds)));
    r.max_delay_seconds = m->get<double>();
  }
  out = r;
  return Status::Ok();
}

// The optional `notBefore` of a job, stage or task (docs/design.md, "Delayed start"): an
// RFC 3339 date-time (domain/time.h), or null for none.
Status ReadNotBefore(const json& j, std::string_view path, std::optional<Timestamp>& out) {
  auto it = j.find("notBefore");
  if (it == j.end() || it->is_null()) return Status::Ok();
  const std::string at = Path(path, "notBefore");
  if (!it->is_string()) return ValidationError(fmt::format("{} must be an RFC 3339 date-time string", at));
  auto t = ParseTime(it->get_ref<const std::string&>());
  if (!t) {
    return ValidationError(
        fmt::format("{} must be an RFC 3339 date-time (e.g. 2026-11-30T18:00:00Z) in years 0001 to 9999", at));
  }
  out = *t;
  return Status::Ok();
}

Result<NewTask> ReadNewTask(const json& j, std::string_view path) {
  JOBNIK_TRY(CheckObject(j, path));
  JOBNIK_TRY(CheckAllowedKeys(
      j, {"data", "userMetadata", "maxAttempts", "traceparent", "tracestate", "retry", "notBefore"}, path));
  JOBNIK_TRY(CheckRequired(j, "data", path));
  NewTask t;
  JOBNIK_TRY(ReadObjectField(j, "data", path, t.data));
  JOBNIK_TRY(ReadObjectField(j, "userMetadata", path, t.user_metadata));
  if (auto it = j.find("maxAttempts"); it != j.end()) {
    JOBNIK_TRY(CheckIntegerAtLeast(*it, Path(path, "maxAttempts"), 1));
    t.max_attempts = static_cast<int>(it->get<double>());
  }
  JOBNIK_TRY(CheckTraceFields(j, path, t.traceparent, t.tracestate));
  JOBNIK_TRY(ReadRetry(j, path, t.retry));
  JOBNIK_TRY(ReadNotBefore(j, path, t.not_before));
  return t;
}

// Every field of a stage but its tasks.
Status ReadNewStageFields(const json& j, std::string_view path, NewStage& st) {
  JOBNIK_TRY(CheckObject(j, path));
  // The v1 stage payload does not forbid additional properties: unknown keys are ignored.
  // `tasks` is read only inside an atomic job submission (StageTasks::kInclude); on the v1
  // add-stage call it is just another ignored key.
  JOBNIK_TRY(RequireAll(j, path, "type", "data"));
  JOBNIK_TRY(CheckString(j["type"], Path(path, "type"), 0, kTypeMax));
  st.type = j["type"].get<std::string>();
  JOBNIK_TRY(ReadObjectField(j, "data", path, st.data));
  JOBNIK_TRY(ReadObjectField(j, "userMetadata", path, st.user_metadata));
  if (auto it = j.find("startAsWaiting"); it != j.end()) {
    if (!it->is_boolean()) return ValidationError(fmt::format("{}/startAsWaiting must be boolean", path));
    st.start_as_waiting = it->get<bool>();
  }
  JOBNIK_TRY(CheckTraceFields(j, path, st.traceparent, st.tracestate));
  JOBNIK_TRY(ReadRetry(j, path, st.retry));
  JOBNIK_TRY(ReadNotBefore(j, path, st.not_before));
  return Status::Ok();
}

Status CheckStageTasksArray(const json& tasks, std::string_view path) {
  if (tasks.is_array()) return Status::Ok();
  return ValidationError(fmt::format("{}/tasks must be array", path));
}

Result<NewStage> ReadNewStage(const json& j, std::string_view path, StageTasks tasks) {
  NewStage st;
  JOBNIK_TRY(ReadNewStageFields(j, path, st));
  if (auto it = j.find("tasks"); it != j.end() && tasks == StageTasks::kInclude) {
    JOBNIK_TRY(CheckStageTasksArray(*it, path));
    st.tasks.reserve(it->size());
    for (std::size_t i = 0; i < it->size(); ++i) {
      JOBNIK_ASSIGN_OR_RETURN(auto t, ReadNewTask((*it)[i], fmt::format("{}/tasks/{}", path, i)));
      st.tasks.push_back(std::move(t));
    }
  }
  return st;
}

template <typename E>
Result<E> ParseStatusBody(std::string_view body, std::initializer_list<E> allowed) {
  JOBNIK_ASSIGN_OR_RETURN(json j, ParseJsonBody(body));
  const std::string_view path = "request/body";
  JOBNIK_TRY(CheckObject(j, path));
  JOBNIK_TRY(CheckRequired(j, "status", path));
  const json& v = j["status"];
  std::string names;
  for (E e : allowed) {
    if (!names.empty()) names += ", ";
    names += ToString(e);
    if (v.is_string() && v.get_ref<const std::string&>() == ToString(e)) return e;
  }
  return ValidationError(fmt::format("request/body/status must be equal to one of the allowed values: {}", names));
}

// One pass over the raw body before the parser runs. A NUL byte is never valid JSON, but
// nlohmann's lexer takes it for the end of input and would ignore what follows. Nesting is
// bounded here because everything after the parse (validation, dump, PostgreSQL) recurses.
// Brackets are counted outside strings only; on text that is not JSON the count may be off,
// but such text is rejected either way.
Status CheckBodyBytes(std::string_view body) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '\0') {
      return ValidationError(fmt::format("request/body is not valid JSON: NUL byte at offset {}", i));
    }
    if (in_string) {
      if (c == '"') {
        in_string = false;
      } else if (c == '\\' && i + 1 < body.size() && body[i + 1] != '\0') {
        ++i;  // the escaped character cannot end the string
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return ValidationError(
            fmt::format("request/body nests arrays and objects deeper than the limit of {} levels (at offset {})",
                        kMaxJsonDepth, i));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return Status::Ok();
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    // A run of printable ASCII that needs no escape, appended at once.
    std::size_t plain = i;
    while (plain < s.size()) {
      const auto p = static_cast<unsigned char>(s[plain]);
      if (p < 0x20 || p >= 0x80 || p == '"' || p == '\\') break;
      ++plain;
    }
    if (plain > i) {
      out.append(s.data() + i, plain - i);
      i = plain;
      continue;
    }
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      bool valid = false;
      const std::size_t n = Utf8SequenceAt(s, i, &valid);
      if (valid) {
        out.append(s.data() + i, n);
      } else {
        out += kReplacement;
      }
      i += n;
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out += kHex[(u >> 4) & 0xF];
          out += kHex[u & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

void AppendJson(std::string& out, const Summary& s) {
  out += '{';
  FieldInt(out, "pending", s.pending);
  FieldInt(out, "inProgress", s.in_progress);
  FieldInt(out, "completed", s.completed);
  FieldInt(out, "failed", s.failed);
  FieldInt(out, "created", s.created);
  FieldInt(out, "retried", s.retried);
  FieldInt(out, "total", s.total());
  out += '}';
}

void AppendJson(std::string& out, const Task& t) {
  out += '{';
  Field(out, "id", t.id);
  Field(out, "stageId", t.stage_id);
  FieldRaw(out, "data", t.data);
  FieldRaw(out, "userMetadata", t.user_metadata);
  Field(out, "status", ToString(t.status));
  FieldInt(out, "attempts", t.attempts);
  FieldInt(out, "maxAttempts", t.max_attempts);
  FieldTime(out, "creationTime", t.creation_time);
  FieldTime(out, "updateTime", t.update_time);
  if (t.start_time) FieldTime(out, "startTime", *t.start_time);
  if (t.end_time) FieldTime(out, "endTime", *t.end_time);
  Field(out, "traceparent", t.traceparent);
  if (t.tracestate) Field(out, "tracestate", *t.tracestate);
  if (t.status == TaskStatus::kInProgress) {
    if (t.claim_id) Field(out, "claimId", *t.claim_id);
    if (t.lease_expires_at) FieldTime(out, "leaseExpiresAt", *t.lease_expires_at);
  }
  if (t.worker_id) Field(out, "workerId", *t.worker_id);
  if (t.errors) FieldRaw(out, "errors", *t.errors);
  if (t.retry) FieldRetry(out, *t.retry);
  // While it waits: for its retry delay (RETRIED) or its delayed start (PENDING).
  if (t.not_before && IsClaimable(t.status)) FieldTime(out, "notBefore", *t.not_before);
  out += '}';
}

void AppendJson(std::string& out, const Stage& s) {
  out += '{';
  Field(out, "id", s.id);
  Field(out, "jobId", s.job_id);
  Field(out, "type", s.type);
  FieldRaw(out, "data", s.data);
  FieldRaw(out, "userMetadata", s.user_metadata);
  FieldInt(out, "order", s.order);
  Field(out, "status", ToString(s.status));
  FieldInt(out, "percentage", s.percentage);
  Key(out, "summary");
  AppendJson(out, s.summary);
  Field(out, "traceparent", s.traceparent);
  if (s.tracestate) Field(out, "tracestate", *s.tracestate);
  if (s.tasks) {
    Key(out, "tasks");
    AppendJson(out, *s.tasks);
  }
  if (s.retry) FieldRetry(out, *s.retry);
  if (s.not_before) FieldTime(out, "notBefore", *s.not_before);
  out += '}';
}

void AppendJson(std::string& out, const RetryPolicy& r) {
  out += "{\"delaySeconds\":";
  AppendNumber(out, r.delay_seconds);
  out += ",\"backoff\":";
  AppendNumber(out, r.backoff);
  out += ",\"maxDelaySeconds\":";
  AppendNumber(out, r.max_delay_seconds);
  out += '}';
}

void AppendJson(std::string& out, const Job& j) {
  out += '{';
  Field(out, "id", j.id);
  Field(out, "name", j.name);
  FieldRaw(out, "data", j.data);
  FieldRaw(out, "userMetadata", j.user_metadata);
  Field(out, "priority", ToString(j.priority));
  Field(out, "status", ToString(j.status));
  FieldInt(out, "percentage", j.percentage);
  FieldTime(out, "creationTime", j.creation_time);
  FieldTime(out, "updateTime", j.update_time);
  Field(out, "traceparent", j.traceparent);
  if (j.tracestate) Field(out, "tracestate", *j.tracestate);
  if (j.stages) {
    Key(out, "stages");
    AppendJson(out, *j.stages);
  }
  if (j.task_summary) {
    Key(out, "taskSummary");
    AppendJson(out, *j.task_summary);
  }
  if (j.not_before) FieldTime(out, "notBefore", *j.not_before);
  out += '}';
}

void AppendJson(std::string& out, const JobEvent& e) {
  out += '{';
  FieldInt(out, "id", e.id);
  FieldTime(out, "time", e.time);
  Field(out, "jobId", e.job_id);
  Field(out, "entity", e.entity);
  Field(out, "entityId", e.entity_id);
  Field(out, "kind", e.kind);
  if (e.old_value) Field(out, "oldValue", *e.old_value);
  Field(out, "newValue", e.new_value);
  if (e.reason) Field(out, "reason", *e.reason);
  if (e.worker_id) Field(out, "workerId", *e.worker_id);
  if (e.actor) {
    Field(out, "actor", *e.actor);
  } else {
    Key(out, "actor");
    out += "null";
  }
  out += '}';
}

namespace {

void AppendTrace(std::string& out, const std::optional<std::string>& traceparent,
                 const std::optional<std::string>& tracestate) {
  if (traceparent) Field(out, "traceparent", *traceparent);
  if (tracestate) Field(out, "tracestate", *tracestate);
}

// data, userMetadata, maxAttempts: the fields of a NewTask before its trace context.
void AppendTaskFields(std::string& out, const NewTask& t) {
  out += '{';
  FieldRaw(out, "data", t.data);
  FieldRaw(out, "userMetadata", t.user_metadata);
  FieldInt(out, "maxAttempts", t.max_attempts);
  if (t.retry) FieldRetry(out, *t.retry);
  if (t.not_before) FieldTime(out, "notBefore", *t.not_before);
}

}  // namespace

void AppendJson(std::string& out, const NewTask& t) {
  AppendTaskFields(out, t);
  AppendTrace(out, t.traceparent, t.tracestate);
  out += '}';
}

void AppendJson(std::string& out, const NewTask& t, const TraceDefaults& defaults) {
  AppendTaskFields(out, t);
  Field(out, "traceparent", t.traceparent ? *t.traceparent : defaults.traceparent);
  const auto& state = (t.traceparent || t.tracestate) ? t.tracestate : defaults.tracestate;
  if (state) Field(out, "tracestate", *state);
  out += '}';
}

void AppendJson(std::string& out, const std::vector<NewTask>& tasks, const TraceDefaults& defaults) {
  out += '[';
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    if (i) out += ',';
    AppendJson(out, tasks[i], defaults);
  }
  out += ']';
}

void AppendJson(std::string& out, const NewStage& s, StageTasks tasks) {
  out += '{';
  Field(out, "type", s.type);
  FieldRaw(out, "data", s.data);
  FieldRaw(out, "userMetadata", s.user_metadata);
  if (s.start_as_waiting) FieldRaw(out, "startAsWaiting", "true");
  AppendTrace(out, s.traceparent, s.tracestate);
  if (s.retry) FieldRetry(out, *s.retry);
  if (s.not_before) FieldTime(out, "notBefore", *s.not_before);
  if (tasks == StageTasks::kInclude && !s.tasks.empty()) {
    Key(out, "tasks");
    AppendJson(out, s.tasks);
  }
  out += '}';
}

void AppendJson(std::string& out, const NewJob& j) {
  out += '{';
  Field(out, "name", j.name);
  FieldRaw(out, "data", j.data);
  FieldRaw(out, "userMetadata", j.user_metadata);
  Field(out, "priority", ToString(j.priority));
  AppendTrace(out, j.traceparent, j.tracestate);
  if (j.not_before) FieldTime(out, "notBefore", *j.not_before);
  if (j.stages) {
    Key(out, "stages");
    AppendJson(out, *j.stages);
  }
  out += '}';
}

std::string ErrorBody(const Status& status) {
  std::string out = "{";
  Field(out, "message", status.message());
  Field(out, "code", ToString(status.code()));
  out += '}';
  return out;
}

std::string CodeBody(std::string_view code) {
  std::string out = "{";
  Field(out, "code", code);
  out += '}';
  return out;
}

// ---- Decoding ----

Result<Summary> DecodeSummary(const json& j) {
  if (!j.is_object()) return DecodeError("summary is not an object");
  Summary s;
  if (!GetInt(j, "pending", s.pending) || !GetInt(j, "inProgress", s.in_progress) ||
      !GetInt(j, "completed", s.completed) || !GetInt(j, "failed", s.failed) || !GetInt(j, "created", s.created) ||
      !GetInt(j, "retried", s.retried)) {
    return DecodeError("summary lacks a count");
  }
  return s;
}

Result<Task> DecodeTask(const json& j) {
  if (!j.is_object()) return DecodeError("task is not an object");
  Task t;
  if (!GetString(j, "id", t.id)) return DecodeError("task.id");
  if (!GetString(j, "stageId", t.stage_id)) return DecodeError("task.stageId");
  if (!GetRaw(j, "data", t.data, true)) return DecodeError("task.data");
  if (!GetRaw(j, "userMetadata", t.user_metadata, false)) return DecodeError("task.userMetadata");
  if (!GetEnum(j, "status", t.status, ParseTaskStatus)) return DecodeError("task.status");
  if (!GetInt(j, "attempts", t.attempts)) return DecodeError("task.attempts");
  if (!GetInt(j, "maxAttempts", t.max_attempts)) return DecodeError("task.maxAttempts");
  if (!GetTime(j, "creationTime", t.creation_time)) return DecodeError("task.creationTime");
  if (!GetTime(j, "updateTime", t.update_time)) return DecodeError("task.updateTime");
  if (!GetOptTime(j, "startTime", t.start_time)) return DecodeError("task.startTime");
  if (!GetOptTime(j, "endTime", t.end_time)) return DecodeError("task.endTime");
  if (!GetString(j, "traceparent", t.traceparent)) return DecodeError("task.traceparent");
  if (!GetOptString(j, "tracestate", t.tracestate)) return DecodeError("task.tracestate");
  if (!GetOptString(j, "claimId", t.claim_id)) return DecodeError("task.claimId");
  if (!GetOptTime(j, "leaseExpiresAt", t.lease_expires_at)) return DecodeError("task.leaseExpiresAt");
  if (!GetOptString(j, "workerId", t.worker_id)) return DecodeError("task.workerId");
  if (auto it = j.find("errors"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return DecodeError("task.errors");
    t.errors = it->dump();
  }
  if (auto it = j.find("retry"); it != j.end() && !it->is_null()) {
    JOBNIK_ASSIGN_OR_RETURN(t.retry, DecodeRetryPolicy(*it));
  }
  if (!GetOptTime(j, "notBefore", t.not_before)) return DecodeError("task.notBefore");
  return t;
}

Result<RetryPolicy> DecodeRetryPolicy(const json& j) {
  RetryPolicy r;
  if (!j.is_object()) return DecodeError("retry is not an object");
  auto number = [&j](const char* key, double& out) {
    auto it = j.find(key);
    if (it == j.end()) return true;
    if (!it->is_number()) return false;
    out = it->get<double>();
    return true;
  };
  if (!number("delaySeconds", r.delay_seconds)) return DecodeError("retry.delaySeconds");
  if (!number("backoff", r.backoff)) return DecodeError("retry.backoff");
  if (!number("maxDelaySeconds", r.max_delay_seconds)) return DecodeError("retry.maxDelaySeconds");
  return r;
}

Result<Stage> DecodeStage(const json& j) {
  if (!j.is_object()) return DecodeError("stage is not an object");
  Stage s;
  if (!GetString(j, "id", s.id)) return DecodeError("stage.id");
  if (!GetString(j, "jobId", s.job_id)) return DecodeError("stage.jobId");
  if (!GetString(j, "type", s.type)) return DecodeError("stage.type");
  if (!GetRaw(j, "data", s.data, true)) return DecodeError("stage.data");
  if (!GetRaw(j, "userMetadata", s.user_metadata, false)) return DecodeError("stage.userMetadata");
  if (!GetInt(j, "order", s.order)) return DecodeError("stage.order");
  if (!GetEnum(j, "status", s.status, ParseStageStatus)) return DecodeError("stage.status");
  if (!GetInt(j, "percentage", s.percentage)) return DecodeError("stage.percentage");
  auto it = j.find("summary");
  if (it == j.end()) return DecodeError("stage.summary");
  JOBNIK_ASSIGN_OR_RETURN(s.summary, DecodeSummary(*it));
  if (!GetString(j, "traceparent", s.traceparent)) return DecodeError("stage.traceparent");
  if (!GetOptString(j, "tracestate", s.tracestate)) return DecodeError("stage.tracestate");
  if (auto retry = j.find("retry"); retry != j.end() && !retry->is_null()) {
    JOBNIK_ASSIGN_OR_RETURN(s.retry, DecodeRetryPolicy(*retry));
  }
  if (!GetOptTime(j, "notBefore", s.not_before)) return DecodeError("stage.notBefore");
  if (auto tasks = j.find("tasks"); tasks != j.end()) {
    if (!tasks->is_array()) return DecodeError("stage.tasks");
    s.tasks.emplace();
    for (const auto& tj : *tasks) {
      JOBNIK_ASSIGN_OR_RETURN(auto t, DecodeTask(tj));
      s.tasks->push_back(std::move(t));
    }
  }
  return s;
}

Result<Job> DecodeJob(const json& j) {
  if (!j.is_object()) return DecodeError("job is not an object");
  Job job;
  if (!GetString(j, "id", job.id)) return DecodeError("job.id");
  if (!GetString(j, "name", job.name)) return DecodeError("job.name");
  if (!GetRaw(j, "data", job.data, true)) return DecodeError("job.data");
  if (!GetRaw(j, "userMetadata", job.user_metadata, false)) return DecodeError("job.userMetadata");
  if (!GetEnum(j, "priority", job.priority, ParsePriority)) return DecodeError("job.priority");
  if (!GetEnum(j, "status", job.status, ParseJobStatus)) return DecodeError("job.status");
  if (!GetInt(j, "percentage", job.percentage)) return DecodeError("job.percentage");
  if (!GetTime(j, "creationTime", job.creation_time)) return DecodeError("job.creationTime");
  if (!GetTime(j, "updateTime", job.update_time)) return DecodeError("job.updateTime");
  if (!GetString(j, "traceparent", job.traceparent)) return DecodeError("job.traceparent");
  if (!GetOptString(j, "tracestate", job.tracestate)) return DecodeError("job.tracestate");
  if (!GetOptTime(j, "notBefore", job.not_before)) return DecodeError("job.notBefore");
  if (auto stages = j.find("stages"); stages != j.end()) {
    if (!stages->is_array()) return DecodeError("job.stages");
    job.stages.emplace();
    for (const auto& sj : *stages) {
      JOBNIK_ASSIGN_OR_RETURN(auto s, DecodeStage(sj));
      job.stages->push_back(std::move(s));
    }
  }
  if (auto summary = j.find("taskSummary"); summary != j.end()) {
    auto s = DecodeSummary(*summary);
    if (!s.ok()) return DecodeError("job.taskSummary");
    job.task_summary = *s;
  }
  return job;
}

Result<JobEvent> DecodeJobEvent(const json& j) {
  if (!j.is_object()) return DecodeError("event is not an object");
  JobEvent e;
  if (!GetInt(j, "id", e.id)) return DecodeError("event.id");
  if (!GetTime(j, "time", e.time)) return DecodeError("event.time");
  if (!GetString(j, "jobId", e.job_id)) return DecodeError("event.jobId");
  if (!GetString(j, "entity", e.entity)) return DecodeError("event.entity");
  if (!GetString(j, "entityId", e.entity_id)) return DecodeError("event.entityId");
  if (!GetString(j, "kind", e.kind)) return DecodeError("event.kind");
  if (!GetOptString(j, "oldValue", e.old_value)) return DecodeError("event.oldValue");
  if (!GetString(j, "newValue", e.new_value)) return DecodeError("event.newValue");
  if (!GetOptString(j, "reason", e.reason)) return DecodeError("event.reason");
  if (!GetOptString(j, "workerId", e.worker_id)) return DecodeError("event.workerId");
  if (!GetOptString(j, "actor", e.actor)) return DecodeError("event.actor");
  return e;
}

// ---- Requests ----

namespace {

// Checks run on the raw body before any parser.
Status CheckBodyText(std::string_view body) {
  if (body.empty()) return ValidationError("request/body is required: the request has no JSON body");
  return CheckBodyBytes(body);
}

// The error for a body nlohmann's parser rejected (`e` is what it reported).
Status JsonSyntaxError(const nlohmann::detail::exception& e) {
  std::string what = e.what();
  if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
  if (e.id == 406) {  // out_of_range: "number overflow parsing '1e400'"
    return ValidationError(
        fmt::format("request/body has a number out of range ({}): numbers must fit in a 64-bit float", what));
  }
  return ValidationError(fmt::format("request/body is not valid JSON: {}", what));
}

// A SAX handler (nlohmann::json::sax_parse) that builds the body's JSON tree the way
// nlohmann's own parser does (a repeated key keeps its last value), except for the arrays
// Decoder::StreamAt selects: those stay empty in the tree, and each of their elements is
// built on its own, handed to Decoder::Element and dropped. A large submission is thus
// never held as one tree: only its top-level fields, one stage's fields and one task.
//
// Decoder: int StreamAt(std::size_t depth, int parent_stream, std::string_view key) -> the
// id (> 0) of the stream an array starting there begins, or 0 (depth: of the array's parent
// value, 0 for the root; parent_stream: the stream the parent is an element of, or 0; key:
// the array's key in the parent object, empty in an array); void StreamStart(int id) (again
// for a repeated key: the later array replaces the earlier); void Element(int id,
// std::size_t index, json&& element).
template <typename Decoder>
class StreamingTree {
 public:
  explicit StreamingTree(Decoder& decoder) : decoder_(decoder) {}

  // The tree (streamed arrays empty), once sax_parse returned true.
  json& root() { return root_; }
  // What the parser reported, when sax_parse returned false.
  const std::optional<Status>& syntax_error() const { return syntax_error_; }

  bool null() { return Value(json(nullptr)); }
  bool boolean(bool v) { return Value(json(v)); }
  bool number_integer(json::number_integer_t v) { return Value(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return Value(json(v)); }
  bool number_float(json::number_float_t v, const std::string& /*text*/) { return Value(json(v)); }
  bool string(std::string& v) { return Value(json(std::move(v))); }
  bool binary(json::binary_t& v) { return Value(json::binary(std::move(v))); }
  bool start_object(std::size_t /*elements*/) { return Open(json::value_t::object, 0); }
  bool start_array(std::size_t /*elements*/) {
    const int parent_stream = levels_.size() >= 2 ? levels_[levels_.size() - 2].stream : 0;
    const bool in_object = !levels_.empty() && levels_.back().stream == 0 && levels_.back().value->is_object();
    const int stream =
        decoder_.StreamAt(levels_.size(), parent_stream, in_object ? std::string_view(key_) : std::string_view());
    return Open(json::value_t::array, stream);
  }
  bool key(std::string& k) {
    slot_ = &(*levels_.back().value)[k];
    key_ = std::move(k);
    return true;
  }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/, const nlohmann::detail::exception& e) {
    syntax_error_ = JsonSyntaxError(e);
    return false;
  }

 private:
  struct Level {
    json* value;             // the container being built (a streamed array: its empty stand-in)
    int stream = 0;          // > 0: a streamed array, whose elements are built in `element`
    std::size_t index = 0;   // of a streamed array: its next element's
    json element = nullptr;  // of a streamed array: the element being built
  };

  // Where a new value goes: the root, an array's end, the slot of the last key, or the
  // element of a streamed array.
  json* Slot() {
    if (levels_.empty()) return &root_;
    Level& top = levels_.back();
    if (top.stream != 0) return &top.element;
    if (top.value->is_array()) return &top.value->emplace_back();
    return slot_;
  }

  bool Value(json&& v) {
    json* slot = Slot();
    *slot = std::move(v);
    if (!levels_.empty() && levels_.back().stream != 0) Deliver(levels_.back());
    return true;
  }

  bool Open(json::value_t type, int stream) {
    json* slot = Slot();
    *slot = json(type);
    levels_.push_back({slot, stream});
    if (stream != 0) decoder_.StreamStart(stream);
    return true;
  }

  bool Close() {
    levels_.pop_back();
    if (!levels_.empty() && levels_.back().stream != 0) Deliver(levels_.back());
    return true;
  }

  void Deliver(Level& streamed) {
    decoder_.Element(streamed.stream, streamed.index++, std::move(streamed.element));
    streamed.element = nullptr;
  }

  Decoder& decoder_;
  json root_;
  std::deque<Level> levels_;  // a deque: `element`s stay put while levels are pushed
  json* slot_ = nullptr;
  std::string key_;
  std::optional<Status> syntax_error_;
};

// Runs `decoder` over `body` (checked with CheckBodyText). Returns the tree without the
// streamed arrays' elements, or the body's syntax error.
template <typename Decoder>
Result<json> ParseStreaming(std::string_view body, Decoder& decoder) {
  StreamingTree<Decoder> tree(decoder);
  if (!json::sax_parse(body.begin(), body.end(), &tree)) {
    return tree.syntax_error() ? *tree.syntax_error() : ValidationError("request/body is not valid JSON");
  }
  return std::move(tree.root());
}

// The tasks of a task array (the body of POST /v1/stages/{id}/tasks, or a stage's `tasks`),
// read one element at a time: `error` is the first bad task's, and no task is read after it.
struct TaskCollector {
  std::vector<NewTask> tasks;
  Status error = Status::Ok();

  void Reset() {
    tasks.clear();
    error = Status::Ok();
  }
  void Add(const json& element, const std::string& path) {
    if (!error.ok()) return;
    auto t = ReadNewTask(element, path);
    if (!t.ok()) {
      error = t.status();
      tasks.clear();
      tasks.shrink_to_fit();
      return;
    }
    tasks.push_back(std::move(*t));
  }
};

// POST /v1/stages/{id}/tasks: the root array is streamed.
struct NewTasksDecoder {
  TaskCollector collector;

  int StreamAt(std::size_t depth, int /*parent_stream*/, std::string_view /*key*/) const { return depth == 0 ? 1 : 0; }
  void StreamStart(int /*id*/) { collector.Reset(); }
  void Element(int /*id*/, std::size_t index, json&& element) {
    collector.Add(element, fmt::format("request/body/{}", index));
  }
};

// POST /v1/jobs: the root's `stages`, and each stage's `tasks`, are streamed. Stages are
// read as they end; `error` is the first bad stage's (its own fields first, then its first
// bad task, as ReadNewStage checks them), and nothing is read after it.
struct NewJobDecoder {
  static constexpr int kStages = 1, kTasks = 2;

  std::vector<NewStage> stages;
  Status error = Status::Ok();
  std::size_t stage_index = 0;  // of the stage being read
  TaskCollector stage_tasks;    // its tasks

  static int StreamAt(std::size_t depth, int parent_stream, std::string_view key) {
    if (depth == 1 && key == "stages") return kStages;
    if (depth == 3 && parent_stream == kStages && key == "tasks") return kTasks;
    return 0;
  }
  void StreamStart(int id) {
    if (id == kStages) {
      stages.clear();
      error = Status::Ok();
      stage_index = 0;
    }
    stage_tasks.Reset();
  }
  void Element(int id, std::size_t index, json&& element) {
    if (id == kTasks) {
      if (error.ok()) stage_tasks.Add(element, fmt::format("request/body/stages/{}/tasks/{}", stage_index, index));
      return;
    }
    if (error.ok()) {
      error = ReadStage(element, fmt::format("request/body/stages/{}", index));
      if (!error.ok()) {
        stages.clear();
        stages.shrink_to_fit();
      }
    }
    stage_index = index + 1;
    stage_tasks.Reset();
  }

 private:
  Status ReadStage(const json& j, const std::string& path) {
    NewStage st;
    JOBNIK_TRY(ReadNewStageFields(j, path, st));
    if (auto it = j.find("tasks"); it != j.end()) {
      JOBNIK_TRY(CheckStageTasksArray(*it, path));  // an array was streamed into stage_tasks
      JOBNIK_TRY(stage_tasks.error);
      st.tasks = std::move(stage_tasks.tasks);
    }
    stages.push_back(std::move(st));
    return Status::Ok();
  }
};

// Every field of a job submission but its stages.
Status ReadNewJobFields(const json& j, NewJob& job) {
  const std::string_view path = "request/body";
  JOBNIK_TRY(CheckObject(j, path));
  JOBNIK_TRY(CheckAllowedKeys(
      j, {"name", "data", "priority", "userMetadata", "traceparent", "tracestate", "stages", "notBefore"}, path));
  JOBNIK_TRY(RequireAll(j, path, "name", "data"));
  JOBNIK_TRY(CheckString(j["name"], Path(path, "name"), kNameMin, kNameMax));
  job.name = j["name"].get<std::string>();
  JOBNIK_TRY(ReadObjectField(j, "data", path, job.data));
  JOBNIK_TRY(ReadObjectField(j, "userMetadata", path, job.user_metadata));
  if (auto it = j.find("priority"); it != j.end()) {
    auto p = it->is_string() ? ParsePriority(it->get_ref<const std::string&>()) : std::nullopt;
    if (!p) {
      return ValidationError(
          "request/body/priority must be equal to one of the allowed values: VERY_HIGH, HIGH, MEDIUM, LOW, VERY_LOW");
    }
    job.priority = *p;
  }
  JOBNIK_TRY(CheckTraceFields(j, path, job.traceparent, job.tracestate));
  JOBNIK_TRY(ReadNotBefore(j, path, job.not_before));
  return Status::Ok();
}

Status CheckStagesArray(const json& stages) {
  if (stages.is_array()) return Status::Ok();
  return ValidationError("request/body/stages must be array");
}

}  // namespace

Result<json> ParseJsonBody(std::string_view body) {
  JOBNIK_TRY(CheckBodyText(body));
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Re-parse with exceptions only on the error path, to report the position.
    try {
      const json ignored = json::parse(body.begin(), body.end());
      (void)ignored;
    } catch (const json::exception& e) {
      return JsonSyntaxError(e);
    }
    return ValidationError("request/body is not valid JSON");
  }
  return j;
}

Result<NewJob> ParseNewJob(std::string_view body) {
  JOBNIK_TRY(CheckBodyText(body));
  NewJobDecoder decoder;
  JOBNIK_ASSIGN_OR_RETURN(const json j, ParseStreaming(body, decoder));
  NewJob job;
  JOBNIK_TRY(ReadNewJobFields(j, job));
  if (auto it = j.find("stages"); it != j.end()) {
    JOBNIK_TRY(CheckStagesArray(*it));  // an array was streamed into the decoder
    JOBNIK_TRY(decoder.error);
    job.stages = std::move(decoder.stages);
  }
  return job;
}

Result<NewJob> ParseNewJobTree(const json& j) {
  NewJob job;
  JOBNIK_TRY(ReadNewJobFields(j, job));
  if (auto it = j.find("stages"); it != j.end()) {
    JOBNIK_TRY(CheckStagesArray(*it));
    job.stages.emplace();
    job.stages->reserve(it->size());
    for (std::size_t i = 0; i < it->size(); ++i) {
      JOBNIK_ASSIGN_OR_RETURN(auto st,
                              ReadNewStage((*it)[i], fmt::format("request/body/stages/{}", i), StageTasks::kInclude));
      job.stages->push_back(std::move(st));
    }
  }
  return job;
}

Result<NewStage> ParseNewStage(std::string_view body) {
  JOBNIK_ASSIGN_OR_RETURN(const json j, ParseJsonBody(body));
  return ReadNewStage(j, "request/body", StageTasks::kOmit);
}

Result<std::vector<NewTask>> ParseNewTasks(std::string_view body) {
  JOBNIK_TRY(CheckBodyText(body));
  NewTasksDecoder decoder;
  JOBNIK_ASSIGN_OR_RETURN(const json j, ParseStreaming(body, decoder));
  if (!j.is_array()) return ValidationError("request/body must be array");
  JOBNIK_TRY(decoder.collector.error);
  return std::move(decoder.collector.tasks);
}

Result<std::vector<NewTask>> ParseNewTasksTree(const json& j) {
  if (!j.is_array()) return ValidationError("request/body must be array");
  std::vector<NewTask> tasks;
  tasks.reserve(j.size());
  for (std::size_t i = 0; i < j.size(); ++i) {
    JOBNIK_ASSIGN_OR_RETURN(auto t, ReadNewTask(j[i], fmt::format("request/body/{}", i)));
    tasks.push_back(std::move(t));
  }
  return tasks;
}

Result<JobStatus> ParseJobStatusChange(std::string_view body) {
  return ParseStatusBody<JobStatus>(body, {JobStatus::kPending, JobStatus::kAborted, JobStatus::kPaused});
}
Result<StageStatus> ParseStageStatusChange(std::string_view body) {
  return ParseStatusBody<StageStatus>(body, {StageStatus::kPending});
}
Result<TaskStatus> ParseTaskStatusChange(std::string_view body) {
  return ParseStatusBody<TaskStatus>(body, {TaskStatus::kCompleted, TaskStatus::kFailed});
}

namespace {

// The optional uuid `key` of the object `j`.
Status OptionalClaimId(const json& j, std::optional<std::string>& out) {
  auto it = j.find("claimId");
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_string() || !IsUuid(it->get_ref<const std::string&>())) {
    return ValidationError("request/body/claimId must be a uuid");
  }
  out = it->get<std::string>();
  return Status::Ok();
}

}  // namespace

std::string CutUtf8(std::string s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  std::size_t end = max_bytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the sequence that would be cut.
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0U) == 0x80U) --end;
  s.resize(end);
  return s;
}

Result<TaskReportRequest> ParseTaskReport(std::string_view body) {
  TaskReportRequest out;
  auto status = ParseTaskStatusChange(body);
  if (!status.ok()) return status.status();
  out.status = *status;
  auto parsed = ParseJsonBody(body);  // valid: ParseTaskStatusChange parsed it
  if (!parsed.ok()) return parsed.status();
  const json& j = *parsed;
  if (auto s = OptionalClaimId(j, out.claim_id); !s.ok()) return s;
  if (auto it = j.find("reason"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return ValidationError("request/body/reason must be a string");
    if (out.status == TaskStatus::kFailed) out.reason = CutUtf8(it->get<std::string>(), kMaxFailureReasonBytes);
  }
  if (auto it = j.find("retryAfterSeconds"); it != j.end() && !it->is_null()) {
    JOBNIK_TRY(CheckNumberIn(*it, "request/body/retryAfterSeconds", 0, kMaxRetryDelaySeconds));
    if (out.status == TaskStatus::kFailed) out.retry_after_seconds = it->get<double>();
  }
  return out;
}

namespace {

// An optional integer `key` of `j` from `min` to `max`.
Status OptionalIntIn(const json& j, std::string_view key, std::string_view path, int min, int max,
                     std::optional<int>& out) {
  auto it = j.find(std::string(key));
  if (it == j.end() || it->is_null()) return Status::Ok();
  if (!it->is_number_integer() || it->get<std::int64_t>() < min || it->get<std::int64_t>() > max) {
    return ValidationError(fmt::format("{} must be an integer from {} to {}", Path(path, key), min, max));
  }
  out = static_cast<int>(it->get<std::int64_t>());
  return Status::Ok();
}

// One report of a batch (path: request/body/updates/N).
Status ReadTaskReportItem(const json& j, const std::string& path, TaskReportBatchItem& out) {
  JOBNIK_TRY(CheckObject(j, path));
  JOBNIK_TRY(CheckRequired(j, "id", path));
  if (!j["id"].is_string() || !IsUuid(j["id"].get_ref<const std::string&>())) {
    return ValidationError(fmt::format("{}/id must be a uuid", path));
  }
  out.id = j["id"].get<std::string>();
  JOBNIK_TRY(CheckRequired(j, "status", path));
  const json& v = j["status"];
  if (v.is_string() && v.get_ref<const std::string&>() == ToString(TaskStatus::kCompleted)) {
    out.report.status = TaskStatus::kCompleted;
  } else if (v.is_string() && v.get_ref<const std::string&>() == ToString(TaskStatus::kFailed)) {
    out.report.status = TaskStatus::kFailed;
  } else {
    return ValidationError(
        fmt::format("{}/status must be equal to one of the allowed values: COMPLETED, FAILED", path));
  }
  if (auto it = j.find("claimId"); it != j.end() && !it->is_null()) {
    if (!it->is_string() || !IsUuid(it->get_ref<const std::string&>())) {
      return ValidationError(fmt::format("{}/claimId must be a uuid", path));
    }
    out.report.claim_id = it->get<std::string>();
  }
  if (auto it = j.find("reason"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) return ValidationError(fmt::format("{}/reason must be a string", path));
    if (out.report.status == TaskStatus::kFailed) {
      out.report.reason = CutUtf8(it->get<std::string>(), kMaxFailureReasonBytes);
    }
  }
  if (auto it = j.find("retryAfterSeconds"); it != j.end() && !it->is_null()) {
    JOBNIK_TRY(CheckNumberIn(*it, path + "/retryAfterSeconds", 0, kMaxRetryDelaySeconds));
    if (out.report.status == TaskStatus::kFailed) out.report.retry_after_seconds = it->get<double>();
  }
  return Status::Ok();
}

}  // namespace

Result<ClaimBatchRequest> ParseClaimBatch(std::string_view body) {
  JOBNIK_ASSIGN_OR_RETURN(const json j, ParseJsonBody(body));
  const std::string_view path = "request/body";
  JOBNIK_TRY(CheckObject(j, path));
  JOBNIK_TRY(RequireAll(j, path, "stageTypes", "limit"));
  ClaimBatchRequest out;
  const json& types = j["stageTypes"];
  if (!types.is_array() || types.empty() || types.size() > 16) {
    return ValidationError("request/body/stageTypes must be an array of 1 to 16 stage types");
  }
  for (std::size_t i = 0; i < types.size(); ++i) {
    const std::string at = fmt::format("request/body/stageTypes/{}", i);
    JOBNIK_TRY(CheckString(types[i], at, 1, 50));
    std::string type = types[i].get<std::string>();
    if (std::find(out.stage_types.begin(), out.stage_types.end(), type) != out.stage_types.end()) {
      return ValidationError(fmt::format("{} repeats the stage type '{}' (the types must be distinct)", at, type));
    }
    out.stage_types.push_back(std::move(type));
  }
  std::optional<int> limit, wait;
  JOBNIK_TRY(OptionalIntIn(j, "limit", path, 1, 1000, limit));
  if (!limit) return ValidationError("request/body/limit must be an integer from 1 to 1000");
  out.limit = *limit;
  JOBNIK_TRY(OptionalIntIn(j, "waitSeconds", path, 0, 60, wait));
  out.wait_seconds = wait.value_or(0);
  JOBNIK_TRY(OptionalIntIn(j, "leaseSeconds", path, 0, 100000000, out.lease_seconds));
  if (auto it = j.find("workerId"); it != j.end() && !it->is_null()) {
    JOBNIK_TRY(CheckString(*it, "request/body/workerId", 1, 200));
    out.worker_id = it->get<std::string>();
  }
  return out;
}

Result<std::vector<TaskReportBatchItem>> ParseTaskReportBatch(std::string_view body) {
  JOBNIK_ASSIGN_OR_RETURN(const json j, ParseJsonBody(body));
  JOBNIK_TRY(CheckObject(j, "request/body"));
  JOBNIK_TRY(CheckRequired(j, "updates", "request/body"));
  const json& updates = j["updates"];
  if (!updates.is_array() || updates.empty() || updates.size() > 1000) {
    return ValidationError("request/body/updates must be an array of 1 to 1000 task reports");
  }
  std::vector<TaskReportBatchItem> out(updates.size());
  for (std::size_t i = 0; i < updates.size(); ++i) {
    const json& item = updates[i];
    out[i].error = ReadTaskReportItem(item, fmt::format("request/body/updates/{}", i), out[i]);
    if (!out[i].error.ok() && out[i].id.empty() && item.is_object()) {
      // Echo the item's id in its result when it is a string at all.
      if (auto it = item.find("id"); it != item.end() && it->is_string() && IsStorableText(it->get<std::string>())) {
        out[i].id = it->get<std::string>();
      }
    }
  }
  return out;
}

Result<HeartbeatRequest> ParseHeartbeat(std::string_view body) {
  HeartbeatRequest out;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return out;
  auto j = ParseJsonBody(body);
  if (!j.ok()) return j.status();
  if (auto s = CheckObject(*j, "request/body"); !s.ok()) return s;
  if (auto s = OptionalClaimId(*j, out.claim_id); !s.ok()) return s;
  if (auto it = j->find("leaseSeconds"); it != j->end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0 || it->get<std::int64_t>() > 100000000) {
      return ValidationError("request/body/leaseSeconds must be a positive integer");
    }
    out.lease_seconds = static_cast<int>(it->get<std::int64_t>());
  }
  return out;
}

Result<Priority> ParsePriorityChange(std::string_view body) {
  JOBNIK_ASSIGN_OR_RETURN(json j, ParseJsonBody(body));
  JOBNIK_TRY(CheckObject(j, "request/body"));
  JOBNIK_TRY(CheckRequired(j, "priority", "request/body"));
  const json& v = j["priority"];
  auto p = v.is_string() ? ParsePriority(v.get_ref<const std::string&>()) : std::nullopt;
  if (!p) {
    return ValidationError(
        "request/body/priority must be equal to one of the allowed values: VERY_HIGH, HIGH, MEDIUM, LOW, VERY_LOW");
  }
  return *p;
}

Result<std::string> ParseUserMetadata(std::string_view body) {
  JOBNIK_ASSIGN_OR_RETURN(json j, ParseJsonBody(body));
  JOBNIK_TRY(CheckObject(j, "request/body"));
  JOBNIK_TRY(CheckStorable(j, "request/body"));
  return j.dump();
}

}  // namespace jobnik::domain
