// Reading result rows into domain entities, by column name: the statements of
// queries/*.sql name their columns as the top of each file lists them (the order there
// is the usual one, not a contract).
#pragma once

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "domain/model.h"

namespace jobnik::store::pg {

using Column = pqxx::row::size_type;

// "{a,b,c}" for a $n::uuid[] parameter (ids are validated uuids or come from the database).
std::string UuidArray(const std::vector<std::string>& ids);

// The number of column `name` in a result (or a row's result): first looked for at
// `usual` (one name comparison), else searched by name. Throws pqxx::argument_error when
// there is no such column; with two of that name, the first is taken.
Column FindColumn(const pqxx::result& r, Column usual, const char* name);
Column FindColumn(const pqxx::row& r, Column usual, const char* name);

// An entity's column numbers in one result, found by name once: loops over many rows
// read each row with them. Built from a result or from one of its rows.
struct JobColumns {
  template <typename ResultOrRow>
  explicit JobColumns(const ResultOrRow& r);
  Column id, name, data, user_metadata, priority, status, percentage, creation_time, update_time, traceparent,
      tracestate;
  std::optional<Column> not_before;  // 0007
};
struct StageColumns {
  template <typename ResultOrRow>
  explicit StageColumns(const ResultOrRow& r);
  Column id, job_id, type, data, user_metadata, order, status, percentage, task_total, task_completed, task_failed,
      in_progress, retried, traceparent, tracestate;
  std::optional<Column> retry;       // 0005
  std::optional<Column> not_before;  // 0007
};
struct TaskColumns {
  template <typename ResultOrRow>
  explicit TaskColumns(const ResultOrRow& r);
  Column id, stage_id, data, user_metadata, status, attempts, max_attempts, creation_time, update_time, start_time,
      end_time, traceparent, tracestate;
  // Columns of 0003 that only some statements return (the claim, the reads, the report).
  std::optional<Column> claim_id, lease_expires_at, worker_id, errors;
  // Columns of 0005, likewise (not the claim's: a claimed task has no not_before).
  std::optional<Column> retry, not_before;
};

// PostgreSQL's ISO output in UTC: "2026-11-29 02:08:43.123456+00".
domain::Timestamp ParsePgTime(std::string_view text);

domain::Job ReadJob(const pqxx::row& r, const JobColumns& c);
domain::Stage ReadStage(const pqxx::row& r, const StageColumns& c);
domain::Task ReadTask(const pqxx::row& r, const TaskColumns& c);
// One row alone (finds its columns first).
domain::Job ReadJob(const pqxx::row& r);
domain::Stage ReadStage(const pqxx::row& r);
domain::Task ReadTask(const pqxx::row& r);

}  // namespace jobnik::store::pg
