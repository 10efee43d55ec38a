// Typed payloads: declare once the C++ types of a job name's and a stage type's JSON, and
// the compiler checks every producer and handler against them (the counterpart of the
// TypeScript SDK's JobnikSDK<JobTypes, StageTypes>).
//
//   struct ResizeTask { std::string src; int width = 0; };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ResizeTask, src, width)
//
//   struct Resize {                                 // a stage type
//     static constexpr std::string_view kType = "resize";
//     using Data = nlohmann::json;                  // the stage's data
//     using TaskData = ResizeTask;                  // each task's data
//   };
//   struct Tiles {                                  // a job name
//     static constexpr std::string_view kName = "tiles";
//     using Data = TilesJob;
//   };
//
//   auto job = typed::CreateJob<Tiles>(client, TilesJob{...});
//   auto stage = typed::AddStage<Resize>(client, job->id, {});
//   typed::AddTasks<Resize>(client, stage->id, {ResizeTask{"a.png", 256}});
//   Worker worker(typed::ForStage<Resize>(), clients,
//                 typed::Handler<Resize>([](TaskContext& c, const ResizeTask& t) {
//                   auto tiles = typed::JobData<Tiles>(c);  // the job's TilesJob, cached per worker
//                   ...
//                 }));
//
// Passing a struct of another kind fails to compile. Data from the server that does not
// convert is an error naming the entity and the field (kBadResponse), and a task whose
// data does not convert is failed by Handler with that reason, never handed over.
// Conversions use nlohmann's to_json/from_json for the type; nlohmann::json itself works
// as "untyped".
#pragma once

#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/client.h"
#include "client/worker.h"
#include "domain/error.h"
#include "domain/model.h"

namespace jobnik::client::typed {

// A job name with the type of its data (and, optionally, of its userMetadata).
template <class J>
concept JobKind = requires {
  { J::kName } -> std::convertible_to<std::string_view>;
  typename J::Data;
};

// A stage type with the types of its data and of its tasks' data.
template <class S>
concept StageKind = requires {
  { S::kType } -> std::convertible_to<std::string_view>;
  typename S::Data;
  typename S::TaskData;
};

// T from the API's JSON text; `what` names it in the error ("task 1f2e... data").
template <class T>
domain::Result<T> Parse(std::string_view json, std::string_view what) {
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded()) return domain::BadResponse(std::string(what) + ": not valid JSON");
  try {
    return j.template get<T>();
  } catch (const nlohmann::json::exception& e) {
    return domain::BadResponse(std::string(what) + ": " + e.what());
  }
}

// The JSON text of `value` for the API; null (e.g. an untyped `{}`) is sent as {}.
template <class T>
std::string Dump(const T& value) {
  const nlohmann::json j(value);
  return j.is_null() ? "{}" : j.dump();
}

// ---- producing ----

template <JobKind J>
domain::NewJob NewJob(const typename J::Data& data, domain::Priority priority = domain::Priority::kMedium) {
  domain::NewJob job;
  job.name = std::string(J::kName);
  job.data = Dump(data);
  job.priority = priority;
  return job;
}

template <StageKind S>
domain::NewTask NewTask(const typename S::TaskData& data, int max_attempts = 1) {
  domain::NewTask task;
  task.data = Dump(data);
  task.max_attempts = max_attempts;
  return task;
}

// A stage of type S; with tasks, they are created with it (in a job tree or AddStage).
template <StageKind S>
domain::NewStage NewStage(const typename S::Data& data, const std::vector<typename S::TaskData>& tasks = {},
                          int max_attempts = 1) {
  domain::NewStage stage;
  stage.type = std::string(S::kType);
  stage.data = Dump(data);
  for (const auto& t : tasks) stage.tasks.push_back(NewTask<S>(t, max_attempts));
  return stage;
}

template <JobKind J>
domain::Result<domain::Job> CreateJob(Client& client, const typename J::Data& data,
                                      domain::Priority priority = domain::Priority::kMedium) {
  return client.CreateJob(NewJob<J>(data, priority));
}

template <StageKind S>
domain::Result<domain::Stage> AddStage(Client& client, const std::string& job_id, const typename S::Data& data) {
  return client.AddStage(job_id, NewStage<S>(data));
}

template <StageKind S>
domain::Result<std::vector<domain::Task>> AddTasks(Client& client, const std::string& stage_id,
                                                   const std::vector<typename S::TaskData>& tasks,
                                                   int max_attempts = 1) {
  std::vector<domain::NewTask> out;
  out.reserve(tasks.size());
  for (const auto& t : tasks) out.push_back(NewTask<S>(t, max_attempts));
  return client.AddTasks(stage_id, out);
}

// ---- reading ----

// The job's data as J::Data; an error when the job is not named J::kName.
template <JobKind J>
domain::Result<typename J::Data> DataOf(const domain::Job& job) {
  if (job.name != J::kName) {
    return domain::BadResponse("job " + job.id + " is named '" + job.name + "', not '" + std::string(J::kName) + "'");
  }
  return Parse<typename J::Data>(job.data, "job " + job.id + " data");
}

// The stage's data as S::Data; an error when the stage is not of type S::kType.
template <StageKind S>
domain::Result<typename S::Data> DataOf(const domain::Stage& stage) {
  if (stage.type != S::kType) {
    return domain::BadResponse("stage " + stage.id + " is of type '" + stage.type + "', not '" + std::string(S::kType) +
                               "'");
  }
  return Parse<typename S::Data>(stage.data, "stage " + stage.id + " data");
}

template <StageKind S>
domain::Result<typename S::TaskData> TaskDataOf(const domain::Task& task) {
  return Parse<typename S::TaskData>(task.data, "task " + task.id + " data");
}

// ---- working ----

// In a handler: the task's job's data as J::Data (TaskContext::job(), so cached per
// worker); its error, or DataOf's.
template <JobKind J>
domain::Result<typename J::Data> JobData(TaskContext& context) {
  JOBNIK_ASSIGN_OR_RETURN(const domain::Job job, context.job());
  return DataOf<J>(job);
}

// In a handler: the task's stage's data as S::Data (TaskContext::stage()).
template <StageKind S>
domain::Result<typename S::Data> StageData(TaskContext& context) {
  JOBNIK_ASSIGN_OR_RETURN(const domain::Stage stage, context.stage());
  return DataOf<S>(stage);
}

// Worker options claiming stage type S.
template <StageKind S>
WorkerOptions ForStage(WorkerOptions options = {}) {
  options.stage_types = {std::string(S::kType)};
  return options;
}

// A worker handler that receives the task's data as S::TaskData. `f(TaskContext&, const
// S::TaskData&)` returns a TaskOutcome or a TaskStatus. A task whose data does not
// convert is failed with the reason, without calling `f`.
template <StageKind S, class F>
requires std::invocable<F&, TaskContext&, const typename S::TaskData&> OutcomeHandler Handler(F f) {
  return [f = std::move(f)](TaskContext& context) mutable -> TaskOutcome {
    auto data = TaskDataOf<S>(context.task);
    if (!data.ok()) return {domain::TaskStatus::kFailed, data.status().message(), false};
    using R = std::invoke_result_t<F&, TaskContext&, const typename S::TaskData&>;
    if constexpr (std::is_same_v<R, TaskOutcome>) {
      return f(context, *data);
    } else {
      static_assert(std::is_same_v<R, domain::TaskStatus>, "a typed handler returns TaskOutcome or TaskStatus");
      return {f(context, *data), "", false};
    }
  };
}

}  // namespace jobnik::client::typed
