// Reading result rows into domain entities. The column orders are documented at
// the top of each queries/*.sql file.
#pragma once

#include <pqxx/pqxx>
#include <string_view>

#include "domain/model.h"

namespace jobnik::store::pg {

// PostgreSQL's ISO output in UTC: "2026-11-29 02:08:43.123456+00".
domain::Timestamp ParsePgTime(std::string_view text);

domain::Job ReadJob(const pqxx::row& r);
domain::Stage ReadStage(const pqxx::row& r);
domain::Task ReadTask(const pqxx::row& r);

}  // namespace jobnik::store::pg
