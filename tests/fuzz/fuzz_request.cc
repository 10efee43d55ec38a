// libFuzzer target: the request body parsers and their validation (lib/domain/codec.h),
// as every route of jobnikd runs them. The first byte picks the parser; the rest is the
// body. Any input must give a value or a clear error: never a crash, a leak or undefined
// behaviour (the sanitizers check), and an accepted value must encode to valid JSON.
// The streaming parsers (ParseNewJob, ParseNewTasks) must also agree with the same rules
// over the whole tree (ParseJsonBody + ParseNewJobTree / ParseNewTasksTree): the same
// value or the same error message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "domain/codec.h"

using namespace jobnik::domain;

namespace {

// Traps unless `streamed` is exactly what `by_tree` gives for the same body.
template <typename T, typename ByTree>
void ExpectSameAsTree(std::string_view body, const Result<T>& streamed, ByTree by_tree) {
  auto tree = ParseJsonBody(body);
  const Result<T> reference = tree.ok() ? by_tree(*tree) : Result<T>(tree.status());
  if (streamed.ok() != reference.ok()) __builtin_trap();
  if (!streamed.ok()) {
    if (streamed.status().code() != reference.status().code() ||
        streamed.status().message() != reference.status().message()) {
      __builtin_trap();
    }
  } else if (!(*streamed == *reference)) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 10) {
    case 0: {
      const auto job = ParseNewJob(body);
      ExpectSameAsTree(body, job, [](const nlohmann::json& j) { return ParseNewJobTree(j); });
      if (job.ok()) {
        const auto json = nlohmann::json::parse(ToJson(*job), nullptr, false);
        if (json.is_discarded()) __builtin_trap();  // an accepted job must encode to JSON
      }
      break;
    }
    case 1:
      if (auto stage = ParseNewStage(body); stage.ok()) {
        std::string out;
        AppendJson(out, *stage, StageTasks::kInclude);
        if (nlohmann::json::parse(out, nullptr, false).is_discarded()) __builtin_trap();
      }
      break;
    case 2: {
      const auto tasks = ParseNewTasks(body);
      ExpectSameAsTree(body, tasks, [](const nlohmann::json& j) { return ParseNewTasksTree(j); });
      if (tasks.ok() && nlohmann::json::parse(ToJson(*tasks), nullptr, false).is_discarded()) __builtin_trap();
      break;
    }
    case 3:
      (void)ParseJobStatusChange(body);
      break;
    case 4:
      (void)ParseStageStatusChange(body);
      break;
    case 5:
      (void)ParseTaskStatusChange(body);
      break;
    case 6:
      if (auto report = ParseTaskReport(body);
          report.ok() && report->reason && report->reason->size() > kMaxFailureReasonBytes) {
        __builtin_trap();  // a reason is cut, never longer
      }
      break;
    case 7:
      (void)ParseHeartbeat(body);
      break;
    case 8:
      (void)ParsePriorityChange(body);
      break;
    default:
      (void)ParseUserMetadata(body);
      break;
  }
  return 0;
}
