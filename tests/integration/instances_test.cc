// Instances and their minute counts (store/instances.h, services/heartbeat.h) on a real
// PostgreSQL: several instances' rows, the sweeper's leader and its last sweep, a stale
// instance, counts summed across instances, and what the sweeper's leader deletes
// (docs/design.md, "Instances and throughput").
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "fixtures.h"
#include "pg_test_env.h"
#include "services/heartbeat.h"
#include "store/pg/instances.h"
#include "throughput.h"

namespace jobnik::testing {
namespace {

using namespace std::chrono_literals;

domain::Timestamp Now() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

class InstancesTest : public DbTest {
 protected:
  void SetUp() override {
    DbTest::SetUp();
    instances_ = std::make_unique<store::pg::PgInstances>(*pool_);
  }

  std::string Register(const std::string& host, int pid) {
    auto id = instances_->RegisterInstance({host, pid, host + ":8080", "test"});
    EXPECT_TRUE(id.ok()) << Describe(id.status());
    return id.ok() ? *id : "";
  }

  std::vector<store::Instance> List() {
    auto list = instances_->ListInstances(60s);
    EXPECT_TRUE(list.ok()) << Describe(list.status());
    return list.ok() ? *list : std::vector<store::Instance>{};
  }

  void Beat(const std::string& id, bool leader, const std::vector<store::MinuteCount>& counts = {}) {
    auto seen = instances_->Heartbeat(id, leader, counts);
    ASSERT_TRUE(seen.ok()) << Describe(seen.status());
    EXPECT_TRUE(*seen);
  }

  std::unique_ptr<store::pg::PgInstances> instances_;
};

TEST_F(InstancesTest, TwoInstancesAreListedWithWhatTheySaidOfThemselves) {
  const auto a = Register("host-a", 101);
  const auto b = Register("host-b", 202);
  const auto list = List();
  ASSERT_EQ(list.size(), 2U);
  EXPECT_EQ(list[0].id, a);
  EXPECT_EQ(list[0].info.host, "host-a");
  EXPECT_EQ(list[0].info.pid, 101);
  EXPECT_EQ(list[0].info.listen, "host-a:8080");
  EXPECT_EQ(list[1].id, b);
  for (const auto& i : list) {
    EXPECT_FALSE(i.gone);
    EXPECT_FALSE(i.sweeper_leader);
    EXPECT_FALSE(i.last_sweep);
  }
}

TEST_F(InstancesTest, OnlyTheLatestLeaderIsMarked) {
  const auto a = Register("host-a", 1);
  const auto b = Register("host-b", 2);
  Beat(a, true);
  auto list = List();
  EXPECT_TRUE(list[0].sweeper_leader);
  EXPECT_FALSE(list[1].sweeper_leader);
  // Leadership moved to b: a's mark goes with b's first beat as the leader.
  Beat(b, true);
  list = List();
  EXPECT_FALSE(list[0].sweeper_leader);
  EXPECT_TRUE(list[1].sweeper_leader);
}

TEST_F(InstancesTest, ASweepIsRecordedOnTheLeadersRow) {
  const auto a = Register("host-a", 1);
  const auto b = Register("host-b", 2);
  Beat(a, true);
  const auto at = Now();
  ASSERT_TRUE(instances_->RecordSweep(b, {at, 1234ms, 5, 6, 7}).ok());
  const auto list = List();
  EXPECT_FALSE(list[0].sweeper_leader);
  EXPECT_FALSE(list[0].last_sweep);
  ASSERT_TRUE(list[1].sweeper_leader);
  ASSERT_TRUE(list[1].last_sweep);
  EXPECT_EQ(list[1].last_sweep->at, std::chrono::floor<std::chrono::milliseconds>(at));  // times are stored to the ms
  EXPECT_EQ(list[1].last_sweep->duration, 1234ms);
  EXPECT_EQ(list[1].last_sweep->tasks_failed, 5);
  EXPECT_EQ(list[1].last_sweep->keys_expired, 6);
  EXPECT_EQ(list[1].last_sweep->jobs_pruned, 7);
}

TEST_F(InstancesTest, AnInstanceNotSeenForAMinuteIsGoneAndLeadsNoMore) {
  const auto a = Register("host-a", 1);
  const auto b = Register("host-b", 2);
  Beat(a, true);
  Exec("UPDATE instance SET seen_at = now() - interval '61 seconds' WHERE id = '" + a + "'");
  const auto list = List();
  EXPECT_TRUE(list[0].gone);
  EXPECT_FALSE(list[0].sweeper_leader);
  EXPECT_FALSE(list[1].gone);
  // A beat brings it back.
  Beat(a, false);
  EXPECT_FALSE(List()[0].gone);
  (void)b;
}

TEST_F(InstancesTest, MinuteCountsAreSummedAcrossInstancesAndBeats) {
  const auto a = Register("host-a", 1);
  const auto b = Register("host-b", 2);
  const auto minute = MinuteOf(Now());
  const auto before = minute - 1min;
  Beat(a, false, {{before, "resize", 3, 1}, {minute, "resize", 2, 0}});
  Beat(b, false, {{minute, "resize", 4, 2}, {minute, "encode", 1, 0}});
  Beat(a, false, {{minute, "resize", 1, 1}});
  auto counts = instances_->Throughput(before);
  ASSERT_TRUE(counts.ok()) << Describe(counts.status());
  ASSERT_EQ(counts->size(), 3U);
  EXPECT_EQ((*counts)[0].stage_type, "encode");
  EXPECT_EQ((*counts)[0].completed, 1);
  EXPECT_EQ((*counts)[1].stage_type, "resize");
  EXPECT_EQ((*counts)[1].minute, before);
  EXPECT_EQ((*counts)[1].completed, 3);
  EXPECT_EQ((*counts)[1].failed, 1);
  EXPECT_EQ((*counts)[2].minute, minute);
  EXPECT_EQ((*counts)[2].completed, 7);
  EXPECT_EQ((*counts)[2].failed, 3);
  // From this minute on only.
  counts = instances_->Throughput(minute);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->size(), 2U);
}

TEST_F(InstancesTest, TheCountsOfAStoppedInstanceStillCount) {
  const auto a = Register("host-a", 1);
  const auto minute = MinuteOf(Now());
  Beat(a, false, {{minute, "resize", 3, 0}});
  ASSERT_TRUE(instances_->RemoveInstance(a).ok());
  EXPECT_TRUE(List().empty());
  auto counts = instances_->Throughput(minute);
  ASSERT_TRUE(counts.ok());
  ASSERT_EQ(counts->size(), 1U);
  EXPECT_EQ((*counts)[0].completed, 3);
  // A beat of a removed instance says so and adds nothing.
  auto seen = instances_->Heartbeat(a, false, {{minute, "resize", 5, 0}});
  ASSERT_TRUE(seen.ok());
  EXPECT_FALSE(*seen);
  EXPECT_EQ((*instances_->Throughput(minute))[0].completed, 3);
}

TEST_F(InstancesTest, DeleteOldRemovesLongGoneInstancesAndOldMinutes) {
  const auto a = Register("host-a", 1);
  const auto b = Register("host-b", 2);
  const auto now = MinuteOf(Now());
  Beat(a, false, {{now - 3h, "resize", 1, 0}, {now - 30min, "resize", 2, 0}});
  Exec("UPDATE instance SET seen_at = now() - interval '2 hours' WHERE id = '" + b + "'");
  auto deleted = instances_->DeleteOld(Now() - 1h, Now() - 2h);
  ASSERT_TRUE(deleted.ok()) << Describe(deleted.status());
  EXPECT_EQ(*deleted, 2);  // b's row and the minute of 3 h ago
  const auto list = List();
  ASSERT_EQ(list.size(), 1U);
  EXPECT_EQ(list[0].id, a);
  auto counts = instances_->Throughput(now - 3h);
  ASSERT_TRUE(counts.ok());
  ASSERT_EQ(counts->size(), 1U);
  EXPECT_EQ((*counts)[0].minute, now - 30min);
}

TEST_F(InstancesTest, AReportSaysItsStageType) {
  // Each path of a report: a failure retried, a completion in a batch, a single completion.
  auto job = store_->CreateJob(AJob(), ATrace());
  ASSERT_TRUE(job.ok());
  auto stage = store_->AddStage(job->id, AStage("typed-report"), ATrace());
  ASSERT_TRUE(stage.ok());
  ASSERT_TRUE(store_->AddTasks(stage->id, SomeTasks(3, /*max_attempts=*/2), ATrace()).ok());
  auto one = store_->ClaimTask("typed-report");
  ASSERT_TRUE(one.ok()) << Describe(one.status());
  auto r =
      store_->ReportTask(one->task.id, domain::TaskStatus::kFailed, {one->task.claim_id, std::nullopt, std::nullopt});
  ASSERT_TRUE(r.ok()) << Describe(r.status());
  EXPECT_EQ(r->task.status, domain::TaskStatus::kRetried);
  EXPECT_EQ(r->stage_type, "typed-report");
  auto two = store_->ClaimTask("typed-report");
  ASSERT_TRUE(two.ok()) << Describe(two.status());
  auto batch = store_->ReportTasks(
      {{two->task.id, domain::TaskStatus::kCompleted, {two->task.claim_id, std::nullopt, std::nullopt}}});
  ASSERT_EQ(batch.size(), 1U);
  ASSERT_TRUE(batch[0].ok()) << Describe(batch[0].status());
  EXPECT_EQ(batch[0]->stage_type, "typed-report");
  auto three = store_->ClaimTask("typed-report");
  ASSERT_TRUE(three.ok()) << Describe(three.status());
  r = store_->ReportTask(three->task.id, domain::TaskStatus::kCompleted,
                         {three->task.claim_id, std::nullopt, std::nullopt});
  ASSERT_TRUE(r.ok()) << Describe(r.status());
  EXPECT_EQ(r->task.status, domain::TaskStatus::kCompleted);
  EXPECT_EQ(r->stage_type, "typed-report");
}

TEST_F(InstancesTest, TheHeartbeatStoresTheCountsAndRegistersAgainWhenItsRowIsGone) {
  Throughput throughput;
  bool leader = true;
  services::InstanceHeartbeat heartbeat(*instances_, throughput, [&leader] { return leader; },
                                        {1h, {"host-h", 7, "host-h:1", "test"}});
  heartbeat.Register();
  const auto first = heartbeat.Id();
  ASSERT_FALSE(first.empty());
  const auto now = Now();
  throughput.Count("resize", domain::TaskStatus::kCompleted, now);
  throughput.Count("resize", domain::TaskStatus::kCompleted, now);
  throughput.Count("resize", domain::TaskStatus::kFailed, now);
  throughput.Count("resize", domain::TaskStatus::kRetried, now);  // not counted
  ASSERT_TRUE(heartbeat.Beat().ok());
  EXPECT_TRUE(List()[0].sweeper_leader);
  auto counts = instances_->Throughput(MinuteOf(now));
  ASSERT_TRUE(counts.ok());
  ASSERT_EQ(counts->size(), 1U);
  EXPECT_EQ((*counts)[0].completed, 2);
  EXPECT_EQ((*counts)[0].failed, 1);
  // Its row deleted (long gone): the next beat registers again, and keeps the counts.
  Exec("DELETE FROM instance");
  throughput.Count("resize", domain::TaskStatus::kCompleted, now);
  ASSERT_TRUE(heartbeat.Beat().ok());
  ASSERT_EQ(List().size(), 1U);
  EXPECT_NE(heartbeat.Id(), first);
  EXPECT_EQ((*instances_->Throughput(MinuteOf(now)))[0].completed, 3);
}

}  // namespace
}  // namespace jobnik::testing
