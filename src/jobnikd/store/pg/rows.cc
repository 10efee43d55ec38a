#include "store/pg/rows.h"

#include <stdexcept>
#include <string>

#include "domain/time.h"

namespace jobnik::store::pg {
namespace {

std::optional<std::string> OptString(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return std::string(f.c_str(), f.size());
}
std::optional<domain::Timestamp> OptTime(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return ParsePgTime(std::string_view(f.c_str(), f.size()));
}
domain::Timestamp Time(const pqxx::field& f) { return ParsePgTime(std::string_view(f.c_str(), f.size())); }
std::string Str(const pqxx::field& f) { return std::string(f.c_str(), f.size()); }

}  // namespace

domain::Timestamp ParsePgTime(std::string_view text) {
  // The session runs with TimeZone=UTC, so the offset is always "+00".
  std::string s(text);
  if (s.size() >= 3 && (s[s.size() - 3] == '+' || s[s.size() - 3] == '-')) s += ":00";
  auto t = domain::ParseTime(s);
  if (!t) throw std::runtime_error("unexpected timestamp from the database: " + std::string(text));
  return *t;
}

domain::Job ReadJob(const pqxx::row& r) {
  domain::Job j;
  j.id = Str(r[0]);
  j.name = Str(r[1]);
  j.data = Str(r[2]);
  j.user_metadata = Str(r[3]);
  j.priority = static_cast<domain::Priority>(r[4].as<int>());
  j.status = domain::ParseJobStatus(r[5].c_str()).value();
  j.percentage = r[6].as<int>();
  j.creation_time = Time(r[7]);
  j.update_time = Time(r[8]);
  j.traceparent = Str(r[9]);
  j.tracestate = OptString(r[10]);
  return j;
}

domain::Stage ReadStage(const pqxx::row& r) {
  domain::Stage s;
  s.id = Str(r[0]);
  s.job_id = Str(r[1]);
  s.type = Str(r[2]);
  s.data = Str(r[3]);
  s.user_metadata = Str(r[4]);
  s.order = r[5].as<int>();
  s.status = domain::ParseStageStatus(r[6].c_str()).value();
  s.percentage = r[7].as<int>();
  s.summary.completed = r[9].as<std::int64_t>();
  s.summary.failed = r[10].as<std::int64_t>();
  s.summary.in_progress = r[11].as<std::int64_t>();
  s.summary.retried = r[12].as<std::int64_t>();
  s.summary.pending = r[8].as<std::int64_t>() - s.summary.completed - s.summary.failed - s.summary.in_progress -
                      s.summary.retried;
  s.traceparent = Str(r[14]);
  s.tracestate = OptString(r[15]);
  return s;
}

domain::Task ReadTask(const pqxx::row& r) {
  domain::Task t;
  t.id = Str(r[0]);
  t.stage_id = Str(r[1]);
  t.data = Str(r[2]);
  t.user_metadata = Str(r[3]);
  t.status = domain::ParseTaskStatus(r[4].c_str()).value();
  t.attempts = r[5].as<int>();
  t.max_attempts = r[6].as<int>();
  t.creation_time = Time(r[7]);
  t.update_time = Time(r[8]);
  t.start_time = OptTime(r[9]);
  t.end_time = OptTime(r[10]);
  t.traceparent = Str(r[11]);
  t.tracestate = OptString(r[12]);
  return t;
}

}  // namespace jobnik::store::pg
