#include "store/pg/rows.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "domain/codec.h"
#include "domain/time.h"

namespace jobnik::store::pg {

std::string UuidArray(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += ids[i];
  }
  out += '}';
  return out;
}

namespace {

std::optional<std::string> OptString(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return std::string(f.c_str(), f.size());
}
std::optional<domain::Timestamp> OptTime(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return ParsePgTime(std::string_view(f.c_str(), f.size()));
}
domain::Timestamp Time(const pqxx::field& f) {
  return ParsePgTime(std::string_view(f.c_str(), f.size()));
}
std::string Str(const pqxx::field& f) {
  return std::string(f.c_str(), f.size());
}
// A retry policy as the codec stored it (jsonb text); NULL for none.
std::optional<domain::RetryPolicy> OptRetry(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  auto r = domain::DecodeRetryPolicy(nlohmann::json::parse(std::string_view(f.c_str(), f.size())));
  if (!r.ok()) throw std::runtime_error("unexpected retry policy from the database: " + Str(f));
  return *r;
}

}  // namespace

Column FindColumn(const pqxx::result& r, Column usual, const char* name) {
  if (usual < r.columns() && std::strcmp(r.column_name(usual), name) == 0) return usual;
  return r.column_number(name);
}

Column FindColumn(const pqxx::row& r, Column usual, const char* name) {
  if (usual < r.size() && std::strcmp(r[usual].name(), name) == 0) return usual;
  return r.column_number(name);
}

namespace {

// A column the statement may not return.
std::optional<Column> FindOptionalColumn(const pqxx::result& r, const char* name) {
  for (Column i = 0; i < r.columns(); ++i) {
    if (std::strcmp(r.column_name(i), name) == 0) return i;
  }
  return std::nullopt;
}

std::optional<Column> FindOptionalColumn(const pqxx::row& r, const char* name) {
  for (Column i = 0; i < r.size(); ++i) {
    if (std::strcmp(r[i].name(), name) == 0) return i;
  }
  return std::nullopt;
}

}  // namespace

// The usual positions are those of the column lists at the top of queries/*.sql.
template <typename ResultOrRow>
JobColumns::JobColumns(const ResultOrRow& r)
    : id(FindColumn(r, 0, "id")),
      name(FindColumn(r, 1, "name")),
      data(FindColumn(r, 2, "data")),
      user_metadata(FindColumn(r, 3, "user_metadata")),
      priority(FindColumn(r, 4, "priority")),
      status(FindColumn(r, 5, "status")),
      percentage(FindColumn(r, 6, "percentage")),
      creation_time(FindColumn(r, 7, "creation_time")),
      update_time(FindColumn(r, 8, "update_time")),
      traceparent(FindColumn(r, 9, "traceparent")),
      tracestate(FindColumn(r, 10, "tracestate")),
      not_before(FindOptionalColumn(r, "not_before")) {}

template <typename ResultOrRow>
StageColumns::StageColumns(const ResultOrRow& r)
    : id(FindColumn(r, 0, "id")),
      job_id(FindColumn(r, 1, "job_id")),
      type(FindColumn(r, 2, "type")),
      data(FindColumn(r, 3, "data")),
      user_metadata(FindColumn(r, 4, "user_metadata")),
      order(FindColumn(r, 5, "order")),
      status(FindColumn(r, 6, "status")),
      percentage(FindColumn(r, 7, "percentage")),
      task_total(FindColumn(r, 8, "task_total")),
      task_completed(FindColumn(r, 9, "task_completed")),
      task_failed(FindColumn(r, 10, "task_failed")),
      in_progress(FindColumn(r, 11, "in_progress")),
      retried(FindColumn(r, 12, "retried")),
      traceparent(FindColumn(r, 14, "traceparent")),
      tracestate(FindColumn(r, 15, "tracestate")),
      retry(FindOptionalColumn(r, "retry")),
      not_before(FindOptionalColumn(r, "not_before")) {}

template <typename ResultOrRow>
TaskColumns::TaskColumns(const ResultOrRow& r)
    : id(FindColumn(r, 0, "id")),
      stage_id(FindColumn(r, 1, "stage_id")),
      data(FindColumn(r, 2, "data")),
      user_metadata(FindColumn(r, 3, "user_metadata")),
      status(FindColumn(r, 4, "status")),
      attempts(FindColumn(r, 5, "attempts")),
      max_attempts(FindColumn(r, 6, "max_attempts")),
      creation_time(FindColumn(r, 7, "creation_time")),
      update_time(FindColumn(r, 8, "update_time")),
      start_time(FindColumn(r, 9, "start_time")),
      end_time(FindColumn(r, 10, "end_time")),
      traceparent(FindColumn(r, 11, "traceparent")),
      tracestate(FindColumn(r, 12, "tracestate")),
      claim_id(FindOptionalColumn(r, "claim_id")),
      lease_expires_at(FindOptionalColumn(r, "lease_expires_at")),
      worker_id(FindOptionalColumn(r, "worker_id")),
      errors(FindOptionalColumn(r, "errors")),
      retry(FindOptionalColumn(r, "retry")),
      not_before(FindOptionalColumn(r, "not_before")) {}

template JobColumns::JobColumns(const pqxx::result&);
template JobColumns::JobColumns(const pqxx::row&);
template StageColumns::StageColumns(const pqxx::result&);
template StageColumns::StageColumns(const pqxx::row&);
template TaskColumns::TaskColumns(const pqxx::result&);
template TaskColumns::TaskColumns(const pqxx::row&);

domain::Timestamp ParsePgTime(std::string_view text) {
  // The session runs with TimeZone=UTC, so the offset is always "+00".
  std::string s(text);
  if (s.size() >= 3 && (s[s.size() - 3] == '+' || s[s.size() - 3] == '-')) s += ":00";
  auto t = domain::ParseTime(s);
  if (!t) throw std::runtime_error("unexpected timestamp from the database: " + std::string(text));
  return *t;
}

domain::Job ReadJob(const pqxx::row& r, const JobColumns& c) {
  domain::Job j;
  j.id = Str(r[c.id]);
  j.name = Str(r[c.name]);
  j.data = Str(r[c.data]);
  j.user_metadata = Str(r[c.user_metadata]);
  j.priority = static_cast<domain::Priority>(r[c.priority].as<int>());
  j.status = domain::ParseJobStatus(r[c.status].c_str()).value();
  j.percentage = r[c.percentage].as<int>();
  j.creation_time = Time(r[c.creation_time]);
  j.update_time = Time(r[c.update_time]);
  j.traceparent = Str(r[c.traceparent]);
  j.tracestate = OptString(r[c.tracestate]);
  if (c.not_before) j.not_before = OptTime(r[*c.not_before]);
  return j;
}

domain::Stage ReadStage(const pqxx::row& r, const StageColumns& c) {
  domain::Stage s;
  s.id = Str(r[c.id]);
  s.job_id = Str(r[c.job_id]);
  s.type = Str(r[c.type]);
  s.data = Str(r[c.data]);
  s.user_metadata = Str(r[c.user_metadata]);
  s.order = r[c.order].as<int>();
  s.status = domain::ParseStageStatus(r[c.status].c_str()).value();
  s.percentage = r[c.percentage].as<int>();
  s.summary.completed = r[c.task_completed].as<std::int64_t>();
  s.summary.failed = r[c.task_failed].as<std::int64_t>();
  s.summary.in_progress = r[c.in_progress].as<std::int64_t>();
  s.summary.retried = r[c.retried].as<std::int64_t>();
  s.summary.pending = r[c.task_total].as<std::int64_t>() - s.summary.completed - s.summary.failed -
                      s.summary.in_progress - s.summary.retried;
  s.traceparent = Str(r[c.traceparent]);
  s.tracestate = OptString(r[c.tracestate]);
  if (c.retry) s.retry = OptRetry(r[*c.retry]);
  if (c.not_before) s.not_before = OptTime(r[*c.not_before]);
  return s;
}

domain::Task ReadTask(const pqxx::row& r, const TaskColumns& c) {
  domain::Task t;
  t.id = Str(r[c.id]);
  t.stage_id = Str(r[c.stage_id]);
  t.data = Str(r[c.data]);
  t.user_metadata = Str(r[c.user_metadata]);
  t.status = domain::ParseTaskStatus(r[c.status].c_str()).value();
  t.attempts = r[c.attempts].as<int>();
  t.max_attempts = r[c.max_attempts].as<int>();
  t.creation_time = Time(r[c.creation_time]);
  t.update_time = Time(r[c.update_time]);
  t.start_time = OptTime(r[c.start_time]);
  t.end_time = OptTime(r[c.end_time]);
  t.traceparent = Str(r[c.traceparent]);
  t.tracestate = OptString(r[c.tracestate]);
  if (c.claim_id) t.claim_id = OptString(r[*c.claim_id]);
  if (c.lease_expires_at) t.lease_expires_at = OptTime(r[*c.lease_expires_at]);
  if (c.worker_id) t.worker_id = OptString(r[*c.worker_id]);
  if (c.errors) t.errors = OptString(r[*c.errors]);
  if (c.retry) t.retry = OptRetry(r[*c.retry]);
  if (c.not_before) t.not_before = OptTime(r[*c.not_before]);
  return t;
}

domain::Job ReadJob(const pqxx::row& r) {
  return ReadJob(r, JobColumns(r));
}
domain::Stage ReadStage(const pqxx::row& r) {
  return ReadStage(r, StageColumns(r));
}
domain::Task ReadTask(const pqxx::row& r) {
  return ReadTask(r, TaskColumns(r));
}

}  // namespace jobnik::store::pg
