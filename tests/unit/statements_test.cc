// Unit tests of store/pg/statements.h: how the embedded query files become statements.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <string_view>

#include "common/embedded.h"
#include "store/pg/statements.h"

namespace jobnik::store::pg {
namespace {

TEST(Statements, AFragmentIsNotAStatement) {
  EXPECT_EQ(Statements().count("StageCountFinished"), 0U);
}

TEST(Statements, TheFinalReportPathsShareTheStageCountersFragment) {
  for (const char* name : {"TaskReportCounted", "TaskReportBatch"}) {
    const std::string& sql = Statements().at(name);
    EXPECT_NE(sql.find("counted AS (\n  UPDATE stage s"), std::string::npos) << name;
    EXPECT_NE(sql.find("task_failed = s.task_failed + c.failed"), std::string::npos) << name;
  }
}

TEST(Statements, NoStatementKeepsAFragmentPlaceholder) {
  for (const auto& [name, sql] : Statements()) {
    EXPECT_EQ(sql.find("{StageCountFinished}"), std::string::npos) << name;
  }
}

// Every expanded claim (fragments inside fragments included) is plain SQL: no "{Name}" left.
TEST(Statements, TheExpandedClaimsKeepNoPlaceholder) {
  const std::regex placeholder(R"(\{[A-Za-z_]+\})");
  for (std::size_t k = 1; k <= kMaxClaimTypes; ++k) {
    for (const auto& name : {ClaimStatementName(k), ClaimManyStatementName(k)}) {
      std::smatch m;
      const std::string& sql = Statement(name);
      EXPECT_FALSE(std::regex_search(sql, m, placeholder)) << name << ": " << m.str();
      EXPECT_NE(sql.find("OFFSET 0"), std::string::npos) << name << ": the stage and job check";
    }
  }
}

TEST(Statements, BothFailurePathsRecordTheFailureInErrors) {
  for (const char* name : {"TaskReport", "TaskReportCounted"}) {
    const std::string& sql = Statements().at(name);
    EXPECT_NE(sql.find("errors = CASE WHEN $3::text = 'COMPLETED' THEN t.errors ELSE"), std::string::npos) << name;
    EXPECT_EQ(sql.find("{TaskFailureRecorded}"), std::string::npos) << name;
  }
  // Completions write nothing there.
  EXPECT_EQ(Statements().at("TaskReportBatch").find("errors ="), std::string::npos);
}

TEST(Statements, TheClaimCompletionAndHeartbeatStatementsRecordNoEvent) {
  // The job event log (event.sql) is written beside other changes only: the hot paths
  // stay one statement each, as they were.
  // The claim template (task.sql, "-- template: TaskClaim" up to the next section).
  std::string_view claim;
  for (const auto& file : embedded::queries::Files()) {
    const auto at = file.content.find("-- template: TaskClaim\n");
    if (at != std::string_view::npos) claim = file.content.substr(at, file.content.find("\n-- fragment: ", at) - at);
  }
  ASSERT_NE(claim.find("UPDATE task t SET status = 'IN_PROGRESS'"), std::string_view::npos);
  EXPECT_EQ(claim.find("job_event"), std::string_view::npos);
  for (const char* name : {"TaskReportBatch", "TaskHeartbeat"}) {
    EXPECT_EQ(Statement(name).find("job_event"), std::string::npos) << name;
  }
  // The abort of a job's stages records each stage's change in the same statement.
  EXPECT_NE(Statement("StageAbortForJob").find("INSERT INTO job_event"), std::string::npos);
}

TEST(Statements, AFragmentLeavesBehindTheCommentsThatFollowIt) {
  // The header comment of the statement after the fragment is not part of the fragment.
  EXPECT_EQ(Statements().at("TaskReportBatch").find("A report that reaches a final status"), std::string::npos);
}

}  // namespace
}  // namespace jobnik::store::pg
