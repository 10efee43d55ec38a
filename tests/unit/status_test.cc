// Unit tests of lib/domain/status.h (the state machines of SPEC A.2, wire names, priorities)
// and of the summary/percentage math of lib/domain/model.h (SPEC A.1, A.3.5).
//
// The expected transition tables below are written out by hand from SPEC A.2, as wire-name
// pairs, independently of the tables in status.cc; every (from, to) pair of each machine is
// checked against them.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/model.h"
#include "domain/status.h"

namespace jobnik::domain {
namespace {

using Edge = std::pair<std::string, std::string>;
using EdgeSet = std::set<Edge>;
using NameSet = std::set<std::string>;

// ---- SPEC A.2, by hand ----

// SPEC A.2's 13 edges, then the internal ones of SPEC A.3.12 (taken by the lifecycle rules,
// never on request): PAUSED/PENDING -> COMPLETED/FAILED.
const EdgeSet& ExpectedJobEdges() {
  static const EdgeSet kEdges = {
      {"CREATED", "PENDING"},    {"CREATED", "PAUSED"},      {"CREATED", "ABORTED"},       {"PENDING", "IN_PROGRESS"},
      {"PENDING", "PAUSED"},     {"PENDING", "ABORTED"},     {"IN_PROGRESS", "COMPLETED"}, {"IN_PROGRESS", "FAILED"},
      {"IN_PROGRESS", "PAUSED"}, {"IN_PROGRESS", "ABORTED"}, {"PAUSED", "PENDING"},        {"PAUSED", "IN_PROGRESS"},
      {"PAUSED", "ABORTED"},     {"PAUSED", "COMPLETED"},    {"PAUSED", "FAILED"},         {"PENDING", "COMPLETED"},
      {"PENDING", "FAILED"},
  };
  return kEdges;
}

const EdgeSet& ExpectedStageEdges() {
  static const EdgeSet kEdges = {
      {"CREATED", "PENDING"},     {"CREATED", "WAITING"},     {"CREATED", "ABORTED"},       {"PENDING", "IN_PROGRESS"},
      {"PENDING", "WAITING"},     {"PENDING", "ABORTED"},     {"IN_PROGRESS", "COMPLETED"}, {"IN_PROGRESS", "FAILED"},
      {"IN_PROGRESS", "WAITING"}, {"IN_PROGRESS", "ABORTED"}, {"WAITING", "PENDING"},       {"WAITING", "ABORTED"},
  };
  return kEdges;
}

const EdgeSet& ExpectedTaskEdges() {
  static const EdgeSet kEdges = {
      {"CREATED", "PENDING"},    {"PENDING", "IN_PROGRESS"}, {"IN_PROGRESS", "COMPLETED"},
      {"IN_PROGRESS", "FAILED"}, {"IN_PROGRESS", "RETRIED"}, {"RETRIED", "IN_PROGRESS"},
  };
  return kEdges;
}

// Wire names in enum declaration order (status.h), as the v1 schema spells them.
const std::vector<std::string> kJobNames = {"CREATED", "PENDING", "IN_PROGRESS", "COMPLETED",
                                            "FAILED",  "ABORTED", "PAUSED"};
const std::vector<std::string> kStageNames = {"CREATED", "PENDING", "IN_PROGRESS", "COMPLETED",
                                              "FAILED",  "ABORTED", "WAITING"};
const std::vector<std::string> kTaskNames = {"CREATED", "PENDING", "IN_PROGRESS", "COMPLETED", "FAILED", "RETRIED"};
const std::vector<std::string> kPriorityNames = {"VERY_HIGH", "HIGH", "MEDIUM", "LOW", "VERY_LOW"};

template <typename E>
std::string Name(E e) {
  return std::string(ToString(e));
}

template <typename E>
bool Expected(const EdgeSet& edges, E from, E to) {
  return edges.count({Name(from), Name(to)}) == 1;
}

// One (from, to) pair of a machine, as a test parameter.
template <typename E>
struct Transition {
  E from;
  E to;
};

template <typename E>
void PrintTo(const Transition<E>& t, std::ostream* os) {
  *os << ToString(t.from) << " -> " << ToString(t.to);
}

template <typename E, std::size_t N>
std::vector<Transition<E>> EveryPair(const std::array<E, N>& all) {
  std::vector<Transition<E>> pairs;
  for (E from : all) {
    for (E to : all) pairs.push_back({from, to});
  }
  return pairs;
}

template <typename E>
std::string PairName(const ::testing::TestParamInfo<Transition<E>>& param_info) {
  return Name(param_info.param.from) + "_to_" + Name(param_info.param.to);
}

// ---- Every (from, to) pair of each machine ----

class JobTransitionPairs : public ::testing::TestWithParam<Transition<JobStatus>> {};
TEST_P(JobTransitionPairs, CanTransitionMatchesSpecTable) {
  const auto [from, to] = GetParam();
  EXPECT_EQ(CanTransition(from, to), Expected(ExpectedJobEdges(), from, to))
      << "job " << Name(from) << " -> " << Name(to);
}
INSTANTIATE_TEST_SUITE_P(AllPairs, JobTransitionPairs, ::testing::ValuesIn(EveryPair(kAllJobStatuses)),
                         PairName<JobStatus>);

class StageTransitionPairs : public ::testing::TestWithParam<Transition<StageStatus>> {};
TEST_P(StageTransitionPairs, CanTransitionMatchesSpecTable) {
  const auto [from, to] = GetParam();
  EXPECT_EQ(CanTransition(from, to), Expected(ExpectedStageEdges(), from, to))
      << "stage " << Name(from) << " -> " << Name(to);
}
INSTANTIATE_TEST_SUITE_P(AllPairs, StageTransitionPairs, ::testing::ValuesIn(EveryPair(kAllStageStatuses)),
                         PairName<StageStatus>);

class TaskTransitionPairs : public ::testing::TestWithParam<Transition<TaskStatus>> {};
TEST_P(TaskTransitionPairs, CanTransitionMatchesSpecTable) {
  const auto [from, to] = GetParam();
  EXPECT_EQ(CanTransition(from, to), Expected(ExpectedTaskEdges(), from, to))
      << "task " << Name(from) << " -> " << Name(to);
}
INSTANTIATE_TEST_SUITE_P(AllPairs, TaskTransitionPairs, ::testing::ValuesIn(EveryPair(kAllTaskStatuses)),
                         PairName<TaskStatus>);

// Guards against a typo in the hand-written tables above silently turning an edge into "illegal":
// every name in them must be a real wire name, and every edge must be reached by the pair loops.
template <typename E, std::size_t N>
void ExpectTableIsWellFormed(const EdgeSet& edges, const std::array<E, N>& all,
                             std::optional<E> (*parse)(std::string_view)) {
  for (const auto& [from, to] : edges) {
    EXPECT_TRUE(parse(from).has_value()) << from;
    EXPECT_TRUE(parse(to).has_value()) << to;
  }
  std::size_t allowed = 0;
  for (E from : all) {
    for (E to : all) allowed += CanTransition(from, to) ? 1 : 0;
  }
  EXPECT_EQ(allowed, edges.size());
}

TEST(TransitionTables, SpecTablesNameRealStatusesAndMatchTheEdgeCount) {
  ExpectTableIsWellFormed(ExpectedJobEdges(), kAllJobStatuses, ParseJobStatus);
  ExpectTableIsWellFormed(ExpectedStageEdges(), kAllStageStatuses, ParseStageStatus);
  ExpectTableIsWellFormed(ExpectedTaskEdges(), kAllTaskStatuses, ParseTaskStatus);
  EXPECT_EQ(ExpectedJobEdges().size(), 17u);  // 13 of SPEC A.2, 4 internal (A.3.12)
  EXPECT_EQ(ExpectedStageEdges().size(), 12u);
  EXPECT_EQ(ExpectedTaskEdges().size(), 6u);
}

TEST(TransitionTables, NoStatusTransitionsToItself) {
  for (JobStatus s : kAllJobStatuses) EXPECT_FALSE(CanTransition(s, s)) << Name(s);
  for (StageStatus s : kAllStageStatuses) EXPECT_FALSE(CanTransition(s, s)) << Name(s);
  for (TaskStatus s : kAllTaskStatuses) EXPECT_FALSE(CanTransition(s, s)) << Name(s);
}

// ---- Key rules, by name ----

TEST(JobTransitions, PendingJobMayBePausedAndResumed) {
  EXPECT_TRUE(CanTransition(JobStatus::kPending, JobStatus::kPaused));
  EXPECT_TRUE(CanTransition(JobStatus::kPaused, JobStatus::kPending));
}

TEST(JobTransitions, PausedJobMayBeAborted) {
  EXPECT_TRUE(CanTransition(JobStatus::kPaused, JobStatus::kAborted));
}

// SPEC A.3.12: a paused job (or one resumed but not yet claimed from) whose running work
// finishes completes or fails, through internal edges no client may request.
TEST(JobTransitions, PausedJobCompletesOrFailsOnlyThroughInternalEdges) {
  EXPECT_TRUE(CanTransition(JobStatus::kPaused, JobStatus::kCompleted));
  EXPECT_TRUE(CanTransition(JobStatus::kPaused, JobStatus::kFailed));
  EXPECT_FALSE(ClientMayRequest(JobStatus::kCompleted));
  EXPECT_FALSE(ClientMayRequest(JobStatus::kFailed));
}

TEST(JobTransitions, PendingJobCompletesWithoutGoingInProgressOnlyInternally) {
  EXPECT_TRUE(CanTransition(JobStatus::kPending, JobStatus::kCompleted));
  EXPECT_TRUE(CanTransition(JobStatus::kPending, JobStatus::kInProgress));
  EXPECT_TRUE(CanTransition(JobStatus::kInProgress, JobStatus::kCompleted));
}

TEST(JobTransitions, AbortedJobCannotBeResumed) {
  EXPECT_FALSE(CanTransition(JobStatus::kAborted, JobStatus::kPending));
  EXPECT_FALSE(CanTransition(JobStatus::kAborted, JobStatus::kPaused));
}

TEST(StageTransitions, WaitingStageIsReleasedToPending) {
  EXPECT_TRUE(CanTransition(StageStatus::kWaiting, StageStatus::kPending));
}

TEST(StageTransitions, WaitingStageCannotGoStraightToInProgress) {
  EXPECT_FALSE(CanTransition(StageStatus::kWaiting, StageStatus::kInProgress));
}

TEST(StageTransitions, CreatedStageBecomesPendingWhenItsPredecessorCompletes) {
  EXPECT_TRUE(CanTransition(StageStatus::kCreated, StageStatus::kPending));
}

TEST(StageTransitions, CompletedStageCannotBeReopened) {
  EXPECT_FALSE(CanTransition(StageStatus::kCompleted, StageStatus::kPending));
  EXPECT_FALSE(CanTransition(StageStatus::kCompleted, StageStatus::kWaiting));
}

TEST(TaskTransitions, InProgressMayBecomeRetried) {
  EXPECT_TRUE(CanTransition(TaskStatus::kInProgress, TaskStatus::kRetried));
}

TEST(TaskTransitions, RetriedTaskIsClaimedBackToInProgress) {
  EXPECT_TRUE(CanTransition(TaskStatus::kRetried, TaskStatus::kInProgress));
  EXPECT_FALSE(CanTransition(TaskStatus::kRetried, TaskStatus::kPending));
}

TEST(TaskTransitions, PendingTaskCannotBeReportedCompletedOrFailed) {
  EXPECT_FALSE(CanTransition(TaskStatus::kPending, TaskStatus::kCompleted));
  EXPECT_FALSE(CanTransition(TaskStatus::kPending, TaskStatus::kFailed));
}

TEST(TaskTransitions, TasksCannotBeAborted) {
  // Tasks have no ABORTED status at all: the wire enum does not know it.
  EXPECT_FALSE(ParseTaskStatus("ABORTED").has_value());
}

TEST(TaskTransitions, FailedTaskIsNeverRetried) {
  EXPECT_FALSE(CanTransition(TaskStatus::kFailed, TaskStatus::kRetried));
  EXPECT_FALSE(CanTransition(TaskStatus::kFailed, TaskStatus::kInProgress));
}

// ---- IsFinal / IsActive / IsClaimable ----

TEST(IsFinal, JobFinalStatusesAreCompletedFailedAborted) {
  const NameSet finals = {"COMPLETED", "FAILED", "ABORTED"};
  for (JobStatus s : kAllJobStatuses) EXPECT_EQ(IsFinal(s), finals.count(Name(s)) == 1) << Name(s);
}

TEST(IsFinal, StageFinalStatusesAreCompletedFailedAborted) {
  const NameSet finals = {"COMPLETED", "FAILED", "ABORTED"};
  for (StageStatus s : kAllStageStatuses) EXPECT_EQ(IsFinal(s), finals.count(Name(s)) == 1) << Name(s);
}

TEST(IsFinal, TaskFinalStatusesAreCompletedFailed) {
  const NameSet finals = {"COMPLETED", "FAILED"};
  for (TaskStatus s : kAllTaskStatuses) EXPECT_EQ(IsFinal(s), finals.count(Name(s)) == 1) << Name(s);
}

template <typename E, std::size_t N>
void ExpectFinalMeansNoOutgoingEdge(const std::array<E, N>& all) {
  for (E from : all) {
    const bool has_edge = std::any_of(all.begin(), all.end(), [from](E to) { return CanTransition(from, to); });
    EXPECT_EQ(IsFinal(from), !has_edge) << Name(from);
  }
}

TEST(IsFinal, FinalStatusesAreExactlyThoseWithoutOutgoingEdges) {
  ExpectFinalMeansNoOutgoingEdge(kAllJobStatuses);
  ExpectFinalMeansNoOutgoingEdge(kAllStageStatuses);
  ExpectFinalMeansNoOutgoingEdge(kAllTaskStatuses);
}

TEST(IsActive, OnlyPendingAndInProgressJobsAreActive) {
  const NameSet active = {"PENDING", "IN_PROGRESS"};
  for (JobStatus s : kAllJobStatuses) EXPECT_EQ(IsActive(s), active.count(Name(s)) == 1) << Name(s);
}

TEST(IsActive, OnlyPendingAndInProgressStagesAreActive) {
  const NameSet active = {"PENDING", "IN_PROGRESS"};
  for (StageStatus s : kAllStageStatuses) EXPECT_EQ(IsActive(s), active.count(Name(s)) == 1) << Name(s);
}

TEST(IsClaimable, OnlyPendingAndRetriedTasksAreClaimable) {
  const NameSet claimable = {"PENDING", "RETRIED"};
  for (TaskStatus s : kAllTaskStatuses) EXPECT_EQ(IsClaimable(s), claimable.count(Name(s)) == 1) << Name(s);
}

TEST(IsActive, PausedJobAndWaitingStageAreNotActive) {
  EXPECT_FALSE(IsActive(JobStatus::kPaused));
  EXPECT_FALSE(IsActive(StageStatus::kWaiting));
  EXPECT_FALSE(IsActive(StageStatus::kCreated));
}

// ---- Wire names ----

template <typename E, std::size_t N>
void ExpectNamesInOrder(const std::array<E, N>& all, const std::vector<std::string>& names) {
  ASSERT_EQ(all.size(), names.size());
  for (std::size_t i = 0; i < N; ++i) EXPECT_EQ(ToString(all[i]), names[i]) << "index " << i;
}

template <typename E, std::size_t N>
void ExpectRoundTrip(const std::array<E, N>& all, std::optional<E> (*parse)(std::string_view)) {
  for (E e : all) {
    const auto parsed = parse(ToString(e));
    ASSERT_TRUE(parsed.has_value()) << Name(e);
    EXPECT_TRUE(*parsed == e) << Name(e);
  }
}

TEST(WireNames, JobStatusNames) {
  ExpectNamesInOrder(kAllJobStatuses, kJobNames);
}
TEST(WireNames, StageStatusNames) {
  ExpectNamesInOrder(kAllStageStatuses, kStageNames);
}
TEST(WireNames, TaskStatusNames) {
  ExpectNamesInOrder(kAllTaskStatuses, kTaskNames);
}
TEST(WireNames, PriorityNames) {
  ExpectNamesInOrder(kAllPriorities, kPriorityNames);
}

TEST(WireNames, EveryJobStatusRoundTrips) {
  ExpectRoundTrip(kAllJobStatuses, ParseJobStatus);
}
TEST(WireNames, EveryStageStatusRoundTrips) {
  ExpectRoundTrip(kAllStageStatuses, ParseStageStatus);
}
TEST(WireNames, EveryTaskStatusRoundTrips) {
  ExpectRoundTrip(kAllTaskStatuses, ParseTaskStatus);
}
TEST(WireNames, EveryPriorityRoundTrips) {
  ExpectRoundTrip(kAllPriorities, ParsePriority);
}

TEST(WireNames, AllStatusListsAreComplete) {
  EXPECT_EQ(kAllJobStatuses.size(), 7u);
  EXPECT_EQ(kAllStageStatuses.size(), 7u);
  EXPECT_EQ(kAllTaskStatuses.size(), 6u);
  EXPECT_EQ(kAllPriorities.size(), 5u);
}

TEST(WireNames, ParseIsCaseSensitive) {
  EXPECT_FALSE(ParseJobStatus("pending").has_value());
  EXPECT_FALSE(ParseJobStatus("Pending").has_value());
  EXPECT_FALSE(ParseStageStatus("waiting").has_value());
  EXPECT_FALSE(ParseTaskStatus("retried").has_value());
  EXPECT_FALSE(ParsePriority("medium").has_value());
  EXPECT_FALSE(ParsePriority("Very_High").has_value());
}

TEST(WireNames, ParseRejectsEmptyAndUnknown) {
  for (std::string_view bad : {"", "UNKNOWN", "IN PROGRESS", "INPROGRESS", " PENDING", "PENDING ", "DONE"}) {
    EXPECT_FALSE(ParseJobStatus(bad).has_value()) << "'" << bad << "'";
    EXPECT_FALSE(ParseStageStatus(bad).has_value()) << "'" << bad << "'";
    EXPECT_FALSE(ParseTaskStatus(bad).has_value()) << "'" << bad << "'";
  }
  for (std::string_view bad : {"", "UNKNOWN", "URGENT", "VERYHIGH", "VERY HIGH", "3", " MEDIUM"}) {
    EXPECT_FALSE(ParsePriority(bad).has_value()) << "'" << bad << "'";
  }
}

TEST(WireNames, ParseRejectsStatusesOfOtherMachines) {
  EXPECT_FALSE(ParseJobStatus("WAITING").has_value());
  EXPECT_FALSE(ParseJobStatus("RETRIED").has_value());
  EXPECT_FALSE(ParseStageStatus("PAUSED").has_value());
  EXPECT_FALSE(ParseStageStatus("RETRIED").has_value());
  EXPECT_FALSE(ParseTaskStatus("PAUSED").has_value());
  EXPECT_FALSE(ParseTaskStatus("WAITING").has_value());
}

// ---- Priority order ----

TEST(PriorityOrder, NumericValuesRunFromVeryHighOneToVeryLowFive) {
  EXPECT_EQ(static_cast<int>(Priority::kVeryHigh), 1);
  EXPECT_EQ(static_cast<int>(Priority::kHigh), 2);
  EXPECT_EQ(static_cast<int>(Priority::kMedium), 3);
  EXPECT_EQ(static_cast<int>(Priority::kLow), 4);
  EXPECT_EQ(static_cast<int>(Priority::kVeryLow), 5);
}

TEST(PriorityOrder, SortingByNumericValueGivesVeryHighFirst) {
  std::vector<Priority> ps = {Priority::kLow, Priority::kVeryLow, Priority::kMedium, Priority::kVeryHigh,
                              Priority::kHigh};
  std::sort(ps.begin(), ps.end(), [](Priority a, Priority b) { return static_cast<int>(a) < static_cast<int>(b); });
  std::vector<std::string> names;
  for (Priority p : ps) names.push_back(Name(p));
  EXPECT_EQ(names, kPriorityNames);
}

TEST(PriorityOrder, AllPrioritiesListIsHighestFirst) {
  for (std::size_t i = 1; i < kAllPriorities.size(); ++i) {
    EXPECT_LT(static_cast<int>(kAllPriorities[i - 1]), static_cast<int>(kAllPriorities[i]));
  }
}

// ---- Summary and percentage (model.h) ----

TEST(Summary, TotalIsTheSumOfAllSixCounts) {
  Summary s;
  s.pending = 1;
  s.in_progress = 2;
  s.completed = 4;
  s.failed = 8;
  s.created = 16;
  s.retried = 32;
  EXPECT_EQ(s.total(), 63);
}

TEST(Summary, EmptySummaryTotalsZero) {
  EXPECT_EQ(Summary{}.total(), 0);
}

TEST(Summary, EachCountContributesToTotal) {
  std::int64_t Summary::*const fields[] = {&Summary::pending, &Summary::in_progress, &Summary::completed,
                                           &Summary::failed,  &Summary::created,     &Summary::retried};
  for (auto field : fields) {
    Summary s;
    s.*field = 7;
    EXPECT_EQ(s.total(), 7);
  }
}

TEST(Summary, EqualityComparesEveryCount) {
  Summary a;
  a.retried = 1;
  Summary b;
  EXPECT_FALSE(a == b);
  b.retried = 1;
  EXPECT_TRUE(a == b);
}

TEST(Percentage, IsZeroWhenTotalIsZero) {
  EXPECT_EQ(Percentage(0, 0), 0);
  EXPECT_EQ(Percentage(5, 0), 0);
}

TEST(Percentage, FloorsThirds) {
  EXPECT_EQ(Percentage(1, 3), 33);
  EXPECT_EQ(Percentage(2, 3), 66);
}

TEST(Percentage, FloorsJustBelowOneHundred) {
  EXPECT_EQ(Percentage(199, 200), 99);
  EXPECT_EQ(Percentage(999, 1000), 99);
}

TEST(Percentage, ExactValues) {
  EXPECT_EQ(Percentage(0, 7), 0);
  EXPECT_EQ(Percentage(1, 2), 50);
  EXPECT_EQ(Percentage(1, 4), 25);
  EXPECT_EQ(Percentage(1, 100), 1);
  EXPECT_EQ(Percentage(1, 101), 0);
  EXPECT_EQ(Percentage(3, 3), 100);
}

TEST(Percentage, IsClampedToZeroAndOneHundred) {
  EXPECT_EQ(Percentage(4, 3), 100);
  EXPECT_EQ(Percentage(1000, 1), 100);
  EXPECT_EQ(Percentage(-1, 3), 0);
}

TEST(Percentage, LargeCountsDoNotOverflow) {
  EXPECT_EQ(Percentage(1'000'000'000'000, 3'000'000'000'000), 33);
}

}  // namespace
}  // namespace jobnik::domain

namespace jobnik::domain {
namespace {

TEST(ClientRequests, OnlyResumePauseAndAbortMayBeRequested) {
  for (const auto to : kAllJobStatuses) {
    const bool expected = to == JobStatus::kPending || to == JobStatus::kPaused || to == JobStatus::kAborted;
    EXPECT_EQ(ClientMayRequest(to), expected) << ToString(to);
  }
}

// ---- Re-opening failed work (CanReopen) ----

TEST(Reopen, OnlyFailedJobsAndStagesReopenAndOnlyToInProgress) {
  for (auto from : kAllJobStatuses) {
    for (auto to : kAllJobStatuses) {
      EXPECT_EQ(CanReopen(from, to), from == JobStatus::kFailed && to == JobStatus::kInProgress)
          << ToString(from) << " -> " << ToString(to);
    }
  }
  for (auto from : kAllStageStatuses) {
    for (auto to : kAllStageStatuses) {
      EXPECT_EQ(CanReopen(from, to), from == StageStatus::kFailed && to == StageStatus::kInProgress)
          << ToString(from) << " -> " << ToString(to);
    }
  }
}

TEST(Reopen, OnlyAFailedTaskReopensAndBecomesPending) {
  for (auto from : kAllTaskStatuses) {
    for (auto to : kAllTaskStatuses) {
      EXPECT_EQ(CanReopen(from, to), from == TaskStatus::kFailed && to == TaskStatus::kPending)
          << ToString(from) << " -> " << ToString(to);
    }
  }
}

TEST(Reopen, ReopenEdgesAreNotStateMachineEdgesAndFailedStaysFinal) {
  EXPECT_FALSE(CanTransition(JobStatus::kFailed, JobStatus::kInProgress));
  EXPECT_FALSE(CanTransition(StageStatus::kFailed, StageStatus::kInProgress));
  EXPECT_FALSE(CanTransition(TaskStatus::kFailed, TaskStatus::kPending));
  EXPECT_TRUE(IsFinal(JobStatus::kFailed));
  EXPECT_TRUE(IsFinal(StageStatus::kFailed));
  EXPECT_TRUE(IsFinal(TaskStatus::kFailed));
}

}  // namespace
}  // namespace jobnik::domain
