// Leadership on PostgreSQL (store/pg/leadership.h) and the sweeper's use of it
// (services/sweeper.h): one leader at a time, hand-over on release and on a lost
// connection, reconnection, and sweeping only while leading.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "fixtures.h"
#include "pg_test_env.h"
#include "services/sweeper.h"
#include "store/pg/leadership.h"

namespace jobnik::testing {
namespace {

using namespace std::chrono_literals;

// Polls `condition` every 10 ms for up to `limit`; true once it holds.
bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

bool Leads(store::Leadership& l) {
  auto r = l.TryLead();
  return r.ok() && *r;
}

class LeadershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = DatabaseUrl();
    ASSERT_FALSE(url_.empty());
    schema_ = UniqueSchema();  // the lock's key only: no schema is created
  }
  std::string url_, schema_;
};

TEST_F(LeadershipTest, OneLeaderAtATimeUntilItReleases) {
  store::pg::PgLeadership a({url_, schema_, "sweeper"}), b({url_, schema_, "sweeper"});
  auto first = a.TryLead();
  JOBNIK_ASSERT_OK(first);
  EXPECT_TRUE(*first);
  auto second = b.TryLead();
  JOBNIK_ASSERT_OK(second);
  EXPECT_FALSE(*second);
  EXPECT_TRUE(Leads(a)) << "the leader confirms it still leads";
  EXPECT_FALSE(Leads(b));

  a.Release();  // its session ends soon after
  EXPECT_TRUE(Eventually([&] { return Leads(b); }));
  EXPECT_FALSE(Leads(a));
}

TEST_F(LeadershipTest, EachSchemaAndRoleHasItsOwnLeader) {
  store::pg::PgLeadership a({url_, schema_, "sweeper"});
  store::pg::PgLeadership other_role({url_, schema_, "janitor"});
  store::pg::PgLeadership other_schema({url_, schema_ + "_other", "sweeper"});
  EXPECT_TRUE(Leads(a));
  EXPECT_TRUE(Leads(other_role));
  EXPECT_TRUE(Leads(other_schema));
}

TEST_F(LeadershipTest, LeadershipMovesWhenTheLeadersConnectionIsLostAndTheOldLeaderReconnects) {
  store::pg::PgLeadership a({url_, schema_, "sweeper"}), b({url_, schema_, "sweeper"});
  ASSERT_TRUE(Leads(a));
  ASSERT_FALSE(Leads(b));
  // The leader's session ends, as when its instance dies or the database restarts: end
  // the session that holds an advisory lock under this test's key.
  Exec(url_, "public",
       "SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
       "AND l.objid::integer = hashtext('jobnik.sweeper." +
           schema_ + "')");
  EXPECT_TRUE(Eventually([&] { return Leads(b); })) << "the other instance never took over";

  // The old leader finds its connection gone: not the leader any more, and says why.
  auto lost = a.TryLead();
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), domain::ErrorCode::kUnavailable);
  EXPECT_NE(lost.status().message().find("sweeper leadership"), std::string::npos) << lost.status().message();
  // It reconnects on its next try, and leads again once the other lets go.
  auto follower = a.TryLead();
  JOBNIK_ASSERT_OK(follower);
  EXPECT_FALSE(*follower);
  b.Release();
  EXPECT_TRUE(Eventually([&] { return Leads(a); }));
}

TEST_F(LeadershipTest, AnUnreachableDatabaseIsUnavailableNotACrash) {
  store::pg::PgLeadership nowhere({"postgresql://127.0.0.1:1/none?connect_timeout=2", schema_, "sweeper"});
  for (int i = 0; i < 2; ++i) {
    auto r = nowhere.TryLead();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), domain::ErrorCode::kUnavailable);
  }
}

// A Leadership whose answer the test sets; counts the calls.
class FakeLeadership final : public store::Leadership {
 public:
  domain::Result<bool> TryLead() override {
    ++tries;
    return lead.load();
  }
  void Release() override { ++releases; }
  std::atomic<bool> lead{false};
  std::atomic<int> tries{0}, releases{0};
};

class SweeperTest : public DbTest {
 protected:
  // `n` tasks claimed and back-dated an hour (stale after 30 minutes).
  std::vector<std::string> StaleTasks(const std::string& type, int n) {
    auto job = store_->CreateJob(AJob(), ATrace());
    EXPECT_TRUE(job.ok());
    auto stage = store_->AddStage(job->id, AStage(type), ATrace());
    EXPECT_TRUE(stage.ok());
    EXPECT_TRUE(store_->AddTasks(stage->id, SomeTasks(n, /*max_attempts=*/2), ATrace()).ok());
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      auto d = store_->ClaimTask(type);
      EXPECT_TRUE(d.ok());
      if (d.ok()) ids.push_back(d->task.id);
    }
    Exec("UPDATE task SET start_time = now() - interval '1 hour' WHERE stage_id = '" + stage->id + "'");
    return ids;
  }
  domain::TaskStatus StatusOf(const std::string& id) { return store_->GetTask(id).value().status; }
  services::SweeperOptions Options(int batch = 100) { return {1s, std::chrono::seconds(1800), batch}; }
};

TEST_F(SweeperTest, SweepsOnlyWhileItLeadsAndReleasesLeadershipOnStop) {
  const auto ids = StaleTasks("stale", 1);
  FakeLeadership leadership;
  {
    services::Sweeper sweeper(*store_, &leadership, nullptr, Options());
    sweeper.Start();
    ASSERT_TRUE(Eventually([&] { return leadership.tries >= 1; }));
    sweeper.Stop();
    EXPECT_FALSE(sweeper.IsLeader());
  }
  EXPECT_EQ(StatusOf(ids[0]), domain::TaskStatus::kInProgress) << "a follower swept";

  leadership.lead = true;
  services::Sweeper sweeper(*store_, &leadership, nullptr, Options());
  sweeper.Start();
  EXPECT_TRUE(Eventually([&] { return StatusOf(ids[0]) != domain::TaskStatus::kInProgress; }));
  EXPECT_EQ(StatusOf(ids[0]), domain::TaskStatus::kRetried);
  EXPECT_TRUE(sweeper.IsLeader());
  const int releases = leadership.releases;
  sweeper.Stop();
  EXPECT_EQ(leadership.releases, releases + 1);
  EXPECT_FALSE(sweeper.IsLeader());
}

TEST_F(SweeperTest, SweepAllClearsABacklogLargerThanABatch) {
  const auto ids = StaleTasks("backlog", 5);
  services::Sweeper sweeper(*store_, /*leadership=*/nullptr, nullptr, Options(/*batch=*/2));
  const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  auto swept = sweeper.SweepAll(now);
  JOBNIK_ASSERT_OK(swept);
  EXPECT_EQ(*swept, 5);
  for (const auto& id : ids) EXPECT_EQ(StatusOf(id), domain::TaskStatus::kRetried);
  auto again = sweeper.SweepAll(now);
  JOBNIK_ASSERT_OK(again);
  EXPECT_EQ(*again, 0);
}

}  // namespace
}  // namespace jobnik::testing
