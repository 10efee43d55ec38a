#include "domain/status.h"

#include <algorithm>
#include <initializer_list>
#include <utility>

namespace jobnik::domain {
namespace {

template <typename E>
struct Name {
  E value;
  std::string_view name;
};

constexpr Name<JobStatus> kJobNames[] = {{JobStatus::kCreated, "CREATED"},        {JobStatus::kPending, "PENDING"},
                                         {JobStatus::kInProgress, "IN_PROGRESS"}, {JobStatus::kCompleted, "COMPLETED"},
                                         {JobStatus::kFailed, "FAILED"},          {JobStatus::kAborted, "ABORTED"},
                                         {JobStatus::kPaused, "PAUSED"}};
constexpr Name<StageStatus> kStageNames[] = {
    {StageStatus::kCreated, "CREATED"},        {StageStatus::kPending, "PENDING"},
    {StageStatus::kInProgress, "IN_PROGRESS"}, {StageStatus::kCompleted, "COMPLETED"},
    {StageStatus::kFailed, "FAILED"},          {StageStatus::kAborted, "ABORTED"},
    {StageStatus::kWaiting, "WAITING"}};
constexpr Name<TaskStatus> kTaskNames[] = {
    {TaskStatus::kCreated, "CREATED"},     {TaskStatus::kPending, "PENDING"}, {TaskStatus::kInProgress, "IN_PROGRESS"},
    {TaskStatus::kCompleted, "COMPLETED"}, {TaskStatus::kFailed, "FAILED"},   {TaskStatus::kRetried, "RETRIED"}};
constexpr Name<Priority> kPriorityNames[] = {{Priority::kVeryHigh, "VERY_HIGH"},
                                             {Priority::kHigh, "HIGH"},
                                             {Priority::kMedium, "MEDIUM"},
                                             {Priority::kLow, "LOW"},
                                             {Priority::kVeryLow, "VERY_LOW"}};

template <typename E, std::size_t N>
std::string_view NameOf(const Name<E> (&names)[N], E value) {
  for (const auto& n : names) {
    if (n.value == value) return n.name;
  }
  return "UNKNOWN";
}

template <typename E, std::size_t N>
std::optional<E> Parse(const Name<E> (&names)[N], std::string_view s) {
  for (const auto& n : names) {
    if (n.name == s) return n.value;
  }
  return std::nullopt;
}

// A transition table: for each `from`, the set of allowed `to`.
template <typename E>
struct Edges {
  E from;
  std::initializer_list<E> to;
};

// SPEC A.2, verbatim, plus the internal job edges PENDING/PAUSED -> COMPLETED/FAILED (SPEC
// A.3.12: work that finishes while its job is paused, or resumed but not yet claimed from,
// still finishes the job). No client may request those: ClientMayRequest.
const Edges<JobStatus> kJobEdges[] = {
    {JobStatus::kCreated, {JobStatus::kPending, JobStatus::kPaused, JobStatus::kAborted}},
    {JobStatus::kPending,
     {JobStatus::kInProgress, JobStatus::kPaused, JobStatus::kAborted, JobStatus::kCompleted, JobStatus::kFailed}},
    {JobStatus::kInProgress, {JobStatus::kCompleted, JobStatus::kFailed, JobStatus::kPaused, JobStatus::kAborted}},
    {JobStatus::kPaused,
     {JobStatus::kPending, JobStatus::kInProgress, JobStatus::kAborted, JobStatus::kCompleted, JobStatus::kFailed}},
};
const Edges<StageStatus> kStageEdges[] = {
    {StageStatus::kCreated, {StageStatus::kPending, StageStatus::kWaiting, StageStatus::kAborted}},
    {StageStatus::kPending, {StageStatus::kInProgress, StageStatus::kWaiting, StageStatus::kAborted}},
    {StageStatus::kInProgress,
     {StageStatus::kCompleted, StageStatus::kFailed, StageStatus::kWaiting, StageStatus::kAborted}},
    {StageStatus::kWaiting, {StageStatus::kPending, StageStatus::kAborted}},
};
const Edges<TaskStatus> kTaskEdges[] = {
    {TaskStatus::kCreated, {TaskStatus::kPending}},
    {TaskStatus::kPending, {TaskStatus::kInProgress}},
    {TaskStatus::kInProgress, {TaskStatus::kCompleted, TaskStatus::kFailed, TaskStatus::kRetried}},
    {TaskStatus::kRetried, {TaskStatus::kInProgress}},
};

template <typename E, std::size_t N>
bool Allowed(const Edges<E> (&edges)[N], E from, E to) {
  for (const auto& e : edges) {
    if (e.from == from) return std::find(e.to.begin(), e.to.end(), to) != e.to.end();
  }
  return false;
}

template <typename E, std::size_t N>
bool HasNoEdges(const Edges<E> (&edges)[N], E from) {
  return std::none_of(std::begin(edges), std::end(edges), [from](const auto& e) { return e.from == from; });
}

}  // namespace

std::string_view ToString(JobStatus s) {
  return NameOf(kJobNames, s);
}
std::string_view ToString(StageStatus s) {
  return NameOf(kStageNames, s);
}
std::string_view ToString(TaskStatus s) {
  return NameOf(kTaskNames, s);
}
std::string_view ToString(Priority p) {
  return NameOf(kPriorityNames, p);
}

std::optional<JobStatus> ParseJobStatus(std::string_view s) {
  return Parse(kJobNames, s);
}
std::optional<StageStatus> ParseStageStatus(std::string_view s) {
  return Parse(kStageNames, s);
}
std::optional<TaskStatus> ParseTaskStatus(std::string_view s) {
  return Parse(kTaskNames, s);
}
std::optional<Priority> ParsePriority(std::string_view s) {
  return Parse(kPriorityNames, s);
}

bool CanTransition(JobStatus from, JobStatus to) {
  return Allowed(kJobEdges, from, to);
}
bool CanTransition(StageStatus from, StageStatus to) {
  return Allowed(kStageEdges, from, to);
}
bool CanTransition(TaskStatus from, TaskStatus to) {
  return Allowed(kTaskEdges, from, to);
}

bool CanReopen(JobStatus from, JobStatus to) {
  return from == JobStatus::kFailed && to == JobStatus::kInProgress;
}
bool CanReopen(StageStatus from, StageStatus to) {
  return from == StageStatus::kFailed && to == StageStatus::kInProgress;
}
bool CanReopen(TaskStatus from, TaskStatus to) {
  return from == TaskStatus::kFailed && to == TaskStatus::kPending;
}

bool ClientMayRequest(JobStatus to) {
  return to == JobStatus::kPending || to == JobStatus::kPaused || to == JobStatus::kAborted;
}

bool IsFinal(JobStatus s) {
  return HasNoEdges(kJobEdges, s);
}
bool IsFinal(StageStatus s) {
  return HasNoEdges(kStageEdges, s);
}
bool IsFinal(TaskStatus s) {
  return HasNoEdges(kTaskEdges, s);
}

}  // namespace jobnik::domain
