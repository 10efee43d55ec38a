#include "store/pg/retention.h"

#include <string>
#include <vector>

#include "store/pg/rows.h"
#include "store/pg/transaction.h"

namespace jobnik::store::pg {

namespace {
// Before every job: the smallest (update_time, id) there is.
constexpr const char* kStartTime = "-infinity";
constexpr const char* kStartId = "00000000-0000-0000-0000-000000000000";
}  // namespace

domain::Result<Pruned> PgRetention::PruneFinishedJobs(domain::JobStatus status, domain::Timestamp finished_before,
                                                      const PruneBatch& batch, PruneCursor& cursor) {
  PruneCursor next = cursor;
  auto pruned = RunTransaction<Pruned>(pool_, "RetentionPrune", [&](pqxx::work& tx) -> domain::Result<Pruned> {
    next = cursor;  // a retried transaction starts again where this call did
    const auto candidates = tx.exec_prepared("RetentionCandidates", std::string(domain::ToString(status)),
                                             domain::FormatTime(finished_before), batch.max_jobs,
                                             cursor.update_time.empty() ? std::string(kStartTime) : cursor.update_time,
                                             cursor.update_time.empty() ? std::string(kStartId) : cursor.id);
    // The oldest first, as long as their tasks fit the budget (the first always does).
    std::vector<std::string> ids;
    std::int64_t tasks = 0;
    for (const auto& row : candidates) {
      const auto n = row["tasks"].as<std::int64_t>();
      if (!ids.empty() && tasks + n > batch.max_tasks) break;
      ids.push_back(row["id"].as<std::string>());
      tasks += n;
      next.update_time = row["update_time"].as<std::string>();  // PostgreSQL's text: exact
      next.id = ids.back();
    }
    if (ids.empty()) return Pruned{};
    const auto row = tx.exec_prepared1("RetentionDelete", UuidArray(ids));
    return Pruned{row["jobs"].as<std::int64_t>(), row["stages"].as<std::int64_t>(), row["tasks"].as<std::int64_t>(),
                  row["events"].as<std::int64_t>()};
  });
  if (pruned.ok()) cursor = next;
  return pruned;
}

}  // namespace jobnik::store::pg
