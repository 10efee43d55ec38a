#include "store/pg/retention.h"

#include <string>
#include <vector>

#include "store/pg/rows.h"
#include "store/pg/transaction.h"

namespace jobnik::store::pg {

domain::Result<Pruned> PgRetention::PruneFinishedJobs(domain::JobStatus status, domain::Timestamp finished_before,
                                                      const PruneBatch& batch) {
  return RunTransaction<Pruned>(pool_, "RetentionPrune", [&](pqxx::work& tx) -> domain::Result<Pruned> {
    const auto candidates = tx.exec_prepared("RetentionCandidates", std::string(domain::ToString(status)),
                                             domain::FormatTime(finished_before), batch.max_jobs);
    // The oldest first, as long as their tasks fit the budget (the first always does).
    std::vector<std::string> ids;
    std::int64_t tasks = 0;
    for (const auto& row : candidates) {
      const auto n = row["tasks"].as<std::int64_t>();
      if (!ids.empty() && tasks + n > batch.max_tasks) break;
      ids.push_back(row["id"].as<std::string>());
      tasks += n;
    }
    if (ids.empty()) return Pruned{};
    const auto row = tx.exec_prepared1("RetentionDelete", UuidArray(ids));
    return Pruned{row["jobs"].as<std::int64_t>(), row["stages"].as<std::int64_t>(), row["tasks"].as<std::int64_t>(),
                  row["events"].as<std::int64_t>()};
  });
}

}  // namespace jobnik::store::pg
