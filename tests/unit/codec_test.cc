// Unit tests of lib/domain/codec.h and lib/domain/error.h: the v1 wire JSON in both directions
// (SPEC A.1), error bodies and codes (SPEC A.5), and request parsing/validation.
//
// Encoded output is parsed back with nlohmann::json and asserted field by field; only a few
// golden strings pin the exact bytes.
#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/codec.h"
#include "domain/error.h"
#include "domain/model.h"
#include "domain/status.h"
#include "domain/time.h"
#include "matchers.h"

namespace jobnik::domain {
namespace {

using nlohmann::json;

// ---- Helpers ----

const std::string kJobId = "11111111-1111-4111-8111-111111111111";
const std::string kStageId = "22222222-2222-4222-8222-222222222222";
const std::string kTaskId = "33333333-3333-4333-8333-333333333333";
const std::string kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const std::string kTracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

Timestamp At(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0, long long us = 0) {
  using namespace std::chrono;
  return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s} + microseconds{us};
}

// A freshly created task: no start/end time, no tracestate.
Task MakeTask() {
  Task t;
  t.id = kTaskId;
  t.stage_id = kStageId;
  t.data = R"({"file":"a.csv"})";
  t.user_metadata = "{}";
  t.status = TaskStatus::kPending;
  t.attempts = 0;
  t.max_attempts = 3;
  t.creation_time = At(2026, 11, 29, 2, 8, 43, 123'000);
  t.update_time = At(2026, 11, 29, 2, 8, 44, 456'000);
  t.traceparent = kTraceparent;
  return t;
}

// A task that ran and finished: every optional field set.
Task MakeFinishedTask() {
  Task t = MakeTask();
  t.status = TaskStatus::kCompleted;
  t.attempts = 1;
  t.user_metadata = R"({"worker":"w-1"})";
  t.start_time = At(2026, 11, 29, 2, 9, 0, 1'000);
  t.end_time = At(2026, 11, 29, 2, 10, 30, 999'000);
  t.tracestate = std::string(kTracestate);
  return t;
}

Summary MakeSummary() {
  Summary s;
  s.pending = 1;
  s.in_progress = 2;
  s.completed = 3;
  s.failed = 4;
  s.created = 5;
  s.retried = 6;
  return s;
}

// A stage without tasks (tasks not asked for).
Stage MakeStage() {
  Stage s;
  s.id = kStageId;
  s.job_id = kJobId;
  s.type = "download";
  s.data = R"({"n":1})";
  s.user_metadata = R"({"owner":"me"})";
  s.order = 2;
  s.status = StageStatus::kInProgress;
  s.percentage = 14;
  s.summary = MakeSummary();
  s.traceparent = kTraceparent;
  return s;
}

// A job without stages (stages not asked for).
Job MakeJob() {
  Job j;
  j.id = kJobId;
  j.name = "ingest";
  j.data = R"({"input":"/data/raw"})";
  j.user_metadata = R"({"team":"maps"})";
  j.priority = Priority::kHigh;
  j.status = JobStatus::kInProgress;
  j.percentage = 50;
  j.creation_time = At(2026, 11, 29, 2, 8, 43, 123'000);
  j.update_time = At(2026, 11, 29, 3, 0, 0, 7'000);
  j.traceparent = kTraceparent;
  return j;
}

json Encode(const auto& value) {
  return json::parse(ToJson(value));
}

std::set<std::string> Keys(const json& j) {
  std::set<std::string> keys;
  for (const auto& item : j.items()) keys.insert(item.key());
  return keys;
}

// DecodeX(json::parse(ToJson(x))) == x.
template <typename T, typename Decode>
void ExpectRoundTrip(const T& original, Decode decode) {
  const std::string text = ToJson(original);
  const auto decoded = decode(json::parse(text));
  ASSERT_TRUE(IsOk(decoded)) << text;
  EXPECT_TRUE(decoded.value() == original) << "encoded:    " << text << "\nre-encoded: " << ToJson(decoded.value());
}

// =====================================================================================
// Encoding
// =====================================================================================

TEST(EncodeSummary, GoldenText) {
  EXPECT_EQ(ToJson(MakeSummary()),
            R"({"pending":1,"inProgress":2,"completed":3,"failed":4,"created":5,"retried":6,"total":21})");
}

TEST(EncodeSummary, TotalIsTheSumOfTheCounts) {
  Summary s;
  s.completed = 7;
  s.retried = 5;
  json j = Encode(s);
  EXPECT_EQ(j["total"], 12);
  EXPECT_EQ(j["completed"], 7);
  EXPECT_EQ(j["retried"], 5);
  EXPECT_EQ(j["pending"], 0);
}

TEST(EncodeSummary, HasExactlyTheSevenV1Fields) {
  EXPECT_EQ(Keys(Encode(Summary{})),
            (std::set<std::string>{"pending", "inProgress", "completed", "failed", "created", "retried", "total"}));
}

TEST(EncodeTask, GoldenTextOfAFreshTask) {
  EXPECT_EQ(ToJson(MakeTask()),
            R"({"id":"33333333-3333-4333-8333-333333333333","stageId":"22222222-2222-4222-8222-222222222222",)"
            R"("data":{"file":"a.csv"},"userMetadata":{},"status":"PENDING","attempts":0,"maxAttempts":3,)"
            R"("creationTime":"2026-11-29T02:08:43.123Z","updateTime":"2026-11-29T02:08:44.456Z",)"
            R"("traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})");
}

TEST(EncodeTask, OmitsStartEndTimeAndTracestateWhenUnset) {
  EXPECT_EQ(Keys(Encode(MakeTask())),
            (std::set<std::string>{"id", "stageId", "data", "userMetadata", "status", "attempts", "maxAttempts",
                                   "creationTime", "updateTime", "traceparent"}));
}

TEST(EncodeTask, IncludesStartEndTimeAndTracestateWhenSet) {
  json j = Encode(MakeFinishedTask());
  EXPECT_EQ(Keys(j),
            (std::set<std::string>{"id", "stageId", "data", "userMetadata", "status", "attempts", "maxAttempts",
                                   "creationTime", "updateTime", "startTime", "endTime", "traceparent", "tracestate"}));
  EXPECT_EQ(j["startTime"], "2026-11-29T02:09:00.001Z");
  EXPECT_EQ(j["endTime"], "2026-11-29T02:10:30.999Z");
  EXPECT_EQ(j["tracestate"], kTracestate);
}

TEST(EncodeTask, FieldValues) {
  json j = Encode(MakeFinishedTask());
  EXPECT_EQ(j["id"], kTaskId);
  EXPECT_EQ(j["stageId"], kStageId);
  EXPECT_EQ(j["data"], json({{"file", "a.csv"}}));
  EXPECT_EQ(j["userMetadata"], json({{"worker", "w-1"}}));
  EXPECT_EQ(j["status"], "COMPLETED");
  EXPECT_EQ(j["attempts"], 1);
  EXPECT_EQ(j["maxAttempts"], 3);
  EXPECT_EQ(j["creationTime"], "2026-11-29T02:08:43.123Z");
  EXPECT_EQ(j["updateTime"], "2026-11-29T02:08:44.456Z");
  EXPECT_EQ(j["traceparent"], kTraceparent);
}

TEST(EncodeTask, EveryStatusUsesItsWireName) {
  for (TaskStatus s : kAllTaskStatuses) {
    Task t = MakeTask();
    t.status = s;
    EXPECT_EQ(Encode(t)["status"], std::string(ToString(s)));
  }
}

TEST(EncodeTask, TimesAreTruncatedToMilliseconds) {
  Task t = MakeTask();
  t.creation_time = At(2026, 1, 2, 3, 4, 5, 678'999);
  EXPECT_EQ(Encode(t)["creationTime"], "2026-01-02T03:04:05.678Z");
}

TEST(EncodeStage, OmitsTracestateAndTasksWhenUnset) {
  EXPECT_EQ(Keys(Encode(MakeStage())), (std::set<std::string>{"id", "jobId", "type", "data", "userMetadata", "order",
                                                              "status", "percentage", "summary", "traceparent"}));
}

TEST(EncodeStage, IncludesTracestateAndTasksWhenSet) {
  Stage s = MakeStage();
  s.tracestate = "a=1";
  s.tasks = std::vector<Task>{MakeTask(), MakeFinishedTask()};
  json j = Encode(s);
  EXPECT_TRUE(j.contains("tracestate"));
  EXPECT_EQ(j["tracestate"], "a=1");
  ASSERT_TRUE(j["tasks"].is_array());
  ASSERT_EQ(j["tasks"].size(), 2u);
  EXPECT_EQ(j["tasks"][0]["status"], "PENDING");
  EXPECT_EQ(j["tasks"][1]["status"], "COMPLETED");
  EXPECT_FALSE(j["tasks"][0].contains("endTime"));
  EXPECT_TRUE(j["tasks"][1].contains("endTime"));
}

TEST(EncodeStage, EmptyTaskListIsAnEmptyArrayNotOmitted) {
  Stage s = MakeStage();
  s.tasks = std::vector<Task>{};
  json j = Encode(s);
  ASSERT_TRUE(j.contains("tasks"));
  EXPECT_EQ(j["tasks"], json::array());
}

TEST(EncodeStage, FieldValues) {
  json j = Encode(MakeStage());
  EXPECT_EQ(j["id"], kStageId);
  EXPECT_EQ(j["jobId"], kJobId);
  EXPECT_EQ(j["type"], "download");
  EXPECT_EQ(j["data"], json({{"n", 1}}));
  EXPECT_EQ(j["userMetadata"], json({{"owner", "me"}}));
  EXPECT_EQ(j["order"], 2);
  EXPECT_EQ(j["status"], "IN_PROGRESS");
  EXPECT_EQ(j["percentage"], 14);
  EXPECT_EQ(j["traceparent"], kTraceparent);
  EXPECT_EQ(j["summary"], json::parse(ToJson(MakeSummary())));
  EXPECT_EQ(j["summary"]["total"], 21);
}

TEST(EncodeStage, EveryStatusUsesItsWireName) {
  for (StageStatus st : kAllStageStatuses) {
    Stage s = MakeStage();
    s.status = st;
    EXPECT_EQ(Encode(s)["status"], std::string(ToString(st)));
  }
}

TEST(EncodeJob, OmitsTracestateAndStagesWhenUnset) {
  EXPECT_EQ(Keys(Encode(MakeJob())),
            (std::set<std::string>{"id", "name", "data", "userMetadata", "priority", "status", "percentage",
                                   "creationTime", "updateTime", "traceparent"}));
}

TEST(EncodeJob, IncludesTracestateAndStagesWhenSet) {
  Job job = MakeJob();
  job.tracestate = std::string(kTracestate);
  Stage with_tasks = MakeStage();
  with_tasks.tasks = std::vector<Task>{MakeTask()};
  job.stages = std::vector<Stage>{MakeStage(), with_tasks};
  json j = Encode(job);
  EXPECT_EQ(j["tracestate"], kTracestate);
  ASSERT_TRUE(j["stages"].is_array());
  ASSERT_EQ(j["stages"].size(), 2u);
  EXPECT_FALSE(j["stages"][0].contains("tasks"));
  ASSERT_TRUE(j["stages"][1].contains("tasks"));
  EXPECT_EQ(j["stages"][1]["tasks"][0]["id"], kTaskId);
}

TEST(EncodeJob, EmptyStageListIsAnEmptyArrayNotOmitted) {
  Job job = MakeJob();
  job.stages = std::vector<Stage>{};
  json j = Encode(job);
  ASSERT_TRUE(j.contains("stages"));
  EXPECT_EQ(j["stages"], json::array());
}

TEST(EncodeJob, TaskSummaryOnlyWhenSet) {
  Job job = MakeJob();
  EXPECT_FALSE(Encode(job).contains("taskSummary"));
  job.task_summary = Summary{3, 1, 5, 0, 0, 2};
  json j = Encode(job);
  EXPECT_EQ(j["taskSummary"], json({{"pending", 3},
                                    {"inProgress", 1},
                                    {"completed", 5},
                                    {"failed", 0},
                                    {"created", 0},
                                    {"retried", 2},
                                    {"total", 11}}));
}

TEST(EncodeJob, FieldValues) {
  json j = Encode(MakeJob());
  EXPECT_EQ(j["id"], kJobId);
  EXPECT_EQ(j["name"], "ingest");
  EXPECT_EQ(j["data"], json({{"input", "/data/raw"}}));
  EXPECT_EQ(j["userMetadata"], json({{"team", "maps"}}));
  EXPECT_EQ(j["priority"], "HIGH");
  EXPECT_EQ(j["status"], "IN_PROGRESS");
  EXPECT_EQ(j["percentage"], 50);
  EXPECT_EQ(j["creationTime"], "2026-11-29T02:08:43.123Z");
  EXPECT_EQ(j["updateTime"], "2026-11-29T03:00:00.007Z");
  EXPECT_EQ(j["traceparent"], kTraceparent);
}

TEST(EncodeJob, EveryPriorityAndStatusUsesItsWireName) {
  for (Priority p : kAllPriorities) {
    Job job = MakeJob();
    job.priority = p;
    EXPECT_EQ(Encode(job)["priority"], std::string(ToString(p)));
  }
  for (JobStatus s : kAllJobStatuses) {
    Job job = MakeJob();
    job.status = s;
    EXPECT_EQ(Encode(job)["status"], std::string(ToString(s)));
  }
}

TEST(EncodeJob, DataAndUserMetadataAreEmittedRawNotAsStrings) {
  Job job = MakeJob();
  job.data = R"({"list":[1,2.5,"x",null,true],"nested":{"deep":{}}})";
  job.user_metadata = "{}";
  const std::string text = ToJson(job);
  EXPECT_NE(text.find(R"("data":{"list":[1,2.5,"x",null,true],"nested":{"deep":{}}})"), std::string::npos) << text;
  json j = json::parse(text);
  ASSERT_TRUE(j["data"].is_object());
  EXPECT_EQ(j["data"]["list"][1], 2.5);
  EXPECT_EQ(j["data"]["nested"]["deep"], json::object());
  EXPECT_EQ(j["userMetadata"], json::object());
}

TEST(EncodeVector, EmptyAndNonEmptyArrays) {
  EXPECT_EQ(ToJson(std::vector<Task>{}), "[]");
  json j = json::parse(ToJson(std::vector<Job>{MakeJob(), MakeJob()}));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["name"], "ingest");
}

TEST(AppendJson, AppendsToExistingText) {
  std::string out = R"({"summary":)";
  AppendJson(out, Summary{});
  out += '}';
  json j = json::parse(out);
  EXPECT_EQ(j["summary"]["total"], 0);
}

// ---- String escaping ----

TEST(AppendJsonString, GoldenEscapes) {
  std::string out;
  AppendJsonString(out, "a\"b\\c\nd\re\tf\bg\fh");
  EXPECT_EQ(out, R"("a\"b\\c\nd\re\tf\bg\fh")");
}

TEST(AppendJsonString, OtherControlCharactersBecomeUnicodeEscapes) {
  std::string out;
  AppendJsonString(out, std::string("\x01", 1) + std::string(1, '\0') + "\x1f");
  EXPECT_EQ(out, R"("\u0001\u0000\u001f")");
}

TEST(AppendJsonString, Utf8AndSlashPassThroughUnescaped) {
  std::string out;
  AppendJsonString(out, "h\xC3\xA9llo/\xE6\x97\xA5\xF0\x9F\x98\x80");
  EXPECT_EQ(out, "\"h\xC3\xA9llo/\xE6\x97\xA5\xF0\x9F\x98\x80\"");
}

TEST(AppendJsonString, EmptyString) {
  std::string out;
  AppendJsonString(out, "");
  EXPECT_EQ(out, "\"\"");
}

TEST(EncodeJob, StringFieldsAreEscapedAndSurviveAJsonParser) {
  Job job = MakeJob();
  job.name = std::string("say \"hi\" \\ to\nall\t") + "\x01" + "\x1f" + " h\xC3\xA9llo \xE6\x97\xA5";
  const std::string text = ToJson(job);
  for (unsigned char c : text) EXPECT_GE(c, 0x20u) << "raw control character in " << text;
  EXPECT_NE(text.find(R"(say \"hi\" \\ to\nall\t\u0001\u001f)"), std::string::npos) << text;
  EXPECT_NE(text.find("h\xC3\xA9llo \xE6\x97\xA5"), std::string::npos) << "UTF-8 must pass through: " << text;
  EXPECT_EQ(text.find("\\u00e9"), std::string::npos) << text;
  EXPECT_EQ(json::parse(text)["name"], job.name);
}

// ---- Error and code bodies ----

TEST(ErrorBody, GoldenText) {
  EXPECT_EQ(ErrorBody(Status(ErrorCode::kJobNotFound, "Job not found")),
            R"({"message":"Job not found","code":"JOB_NOT_FOUND"})");
}

TEST(ErrorBody, HasExactlyMessageAndCode) {
  json j = json::parse(ErrorBody(ValidationError("request/body/name must be string")));
  EXPECT_EQ(Keys(j), (std::set<std::string>{"message", "code"}));
  EXPECT_EQ(j["message"], "request/body/name must be string");
  EXPECT_EQ(j["code"], "VALIDATION_ERROR");
}

TEST(ErrorBody, EscapesTheMessage) {
  const std::string message = "bad \"value\"\nat \\path";
  json j = json::parse(ErrorBody(Status(ErrorCode::kUnknown, message)));
  EXPECT_EQ(j["message"], message);
  EXPECT_EQ(j["code"], "UNKNOWN_ERROR");
}

TEST(CodeBody, GoldenText) {
  EXPECT_EQ(CodeBody("JOB_MODIFIED_SUCCESSFULLY"), R"({"code":"JOB_MODIFIED_SUCCESSFULLY"})");
  EXPECT_EQ(CodeBody("JOB_DELETED_SUCCESSFULLY"), R"({"code":"JOB_DELETED_SUCCESSFULLY"})");
}

const std::vector<std::pair<ErrorCode, std::string>>& SpecA5Codes() {
  static const std::vector<std::pair<ErrorCode, std::string>> kCodes = {
      {ErrorCode::kValidation, "VALIDATION_ERROR"},
      {ErrorCode::kJobNotFound, "JOB_NOT_FOUND"},
      {ErrorCode::kStageNotFound, "STAGE_NOT_FOUND"},
      {ErrorCode::kTaskNotFound, "TASK_NOT_FOUND"},
      {ErrorCode::kJobNotInFiniteState, "JOB_NOT_IN_FINITE_STATE"},
      {ErrorCode::kJobInFiniteState, "JOB_IN_FINITE_STATE"},
      {ErrorCode::kStageInFiniteState, "STAGE_IN_FINITE_STATE"},
      {ErrorCode::kNotAllowedToAddTasksToInProgressStage, "NOT_ALLOWED_TO_ADD_TASKS_TO_IN_PROGRESS_STAGE"},
      {ErrorCode::kIllegalJobStatusTransition, "ILLEGAL_JOB_STATUS_TRANSITION"},
      {ErrorCode::kIllegalStageStatusTransition, "ILLEGAL_STAGE_STATUS_TRANSITION"},
      {ErrorCode::kIllegalTaskStatusTransition, "ILLEGAL_TASK_STATUS_TRANSITION"},
      {ErrorCode::kTaskStatusUpdateFailed, "TASK_STATUS_UPDATE_FAILED"},
      {ErrorCode::kDatabase, "DATABASE_RELATED_ERROR"},
      {ErrorCode::kUnknown, "UNKNOWN_ERROR"},
  };
  return kCodes;
}

TEST(ErrorCodes, EverySpecA5CodeHasItsWireName) {
  for (const auto& [code, name] : SpecA5Codes()) EXPECT_EQ(ToString(code), name);
}

TEST(ErrorCodes, ErrorBodyCarriesEverySpecA5Code) {
  for (const auto& [code, name] : SpecA5Codes()) {
    json j = json::parse(ErrorBody(Status(code, "m")));
    EXPECT_EQ(j["code"], name);
    EXPECT_EQ(j["message"], "m");
  }
}

TEST(ErrorCodes, TheLeaseExtensionCodesHaveTheirWireNames) {
  EXPECT_EQ(ToString(ErrorCode::kTaskClaimMismatch), "TASK_CLAIM_MISMATCH");
  EXPECT_EQ(ToString(ErrorCode::kJobNotActive), "JOB_NOT_ACTIVE");
  EXPECT_EQ(ParseErrorCode("TASK_CLAIM_MISMATCH"), ErrorCode::kTaskClaimMismatch);
  EXPECT_EQ(ParseErrorCode("JOB_NOT_ACTIVE"), ErrorCode::kJobNotActive);
}

TEST(ErrorCodes, TransportCodesAreDistinctFromEntityCodes) {
  std::set<std::string> names;
  for (const auto& [code, name] : SpecA5Codes()) names.insert(std::string(ToString(code)));
  for (ErrorCode code : {ErrorCode::kRouteNotFound, ErrorCode::kMethodNotAllowed, ErrorCode::kPayloadTooLarge,
                         ErrorCode::kUnauthenticated, ErrorCode::kForbidden, ErrorCode::kUnavailable}) {
    EXPECT_TRUE(names.insert(std::string(ToString(code))).second) << ToString(code);
  }
  EXPECT_EQ(names.size(), 20u);
}

TEST(StatusType, DefaultIsOkAndValidationErrorHelperSetsTheCode) {
  EXPECT_TRUE(Status().ok());
  EXPECT_TRUE(Status::Ok().ok());
  const Status s = ValidationError("boom");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kValidation);
  EXPECT_EQ(s.message(), "boom");
}

TEST(ResultType, HoldsAValueOrAStatus) {
  const Result<int> value = 7;
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value.value(), 7);
  EXPECT_TRUE(value.status().ok());
  const Result<int> error = Status(ErrorCode::kJobNotFound, "nope");
  EXPECT_FALSE(error.ok());
  EXPECT_FALSE(static_cast<bool>(error));
  EXPECT_EQ(error.status().code(), ErrorCode::kJobNotFound);
  EXPECT_EQ(error.status().message(), "nope");
}

// =====================================================================================
// Decoding (round trips and errors)
// =====================================================================================

TEST(RoundTrip, Summary) {
  ExpectRoundTrip(MakeSummary(), DecodeSummary);
  ExpectRoundTrip(Summary{}, DecodeSummary);
}

TEST(RoundTrip, FreshTask) {
  ExpectRoundTrip(MakeTask(), DecodeTask);
}

TEST(RoundTrip, FinishedTaskWithEveryOptionalField) {
  ExpectRoundTrip(MakeFinishedTask(), DecodeTask);
}

TEST(RoundTrip, TaskWithEscapedStrings) {
  Task t = MakeTask();
  t.tracestate = "k=v \"q\"";
  t.data = R"({"s":"line\nbreak \"q\" h\u00e9"})";
  // nlohmann re-dumps the data with UTF-8 as-is, so use the already-dumped spelling.
  t.data = json::parse(t.data).dump();
  ExpectRoundTrip(t, DecodeTask);
}

TEST(RoundTrip, StageWithoutTasks) {
  ExpectRoundTrip(MakeStage(), DecodeStage);
}

TEST(RoundTrip, StageWithTasks) {
  Stage s = MakeStage();
  s.tracestate = "a=1";
  s.tasks = std::vector<Task>{MakeTask(), MakeFinishedTask()};
  ExpectRoundTrip(s, DecodeStage);
}

TEST(RoundTrip, StageWithEmptyTaskList) {
  Stage s = MakeStage();
  s.tasks = std::vector<Task>{};
  ExpectRoundTrip(s, DecodeStage);
}

TEST(RoundTrip, EveryStageStatus) {
  for (StageStatus st : kAllStageStatuses) {
    Stage s = MakeStage();
    s.status = st;
    ExpectRoundTrip(s, DecodeStage);
  }
}

TEST(RoundTrip, JobWithoutStages) {
  ExpectRoundTrip(MakeJob(), DecodeJob);
}

TEST(RoundTrip, JobWithStagesWithAndWithoutTasks) {
  Job job = MakeJob();
  job.tracestate = std::string(kTracestate);
  Stage first = MakeStage();
  first.order = 1;
  first.status = StageStatus::kCompleted;
  first.tasks = std::vector<Task>{MakeFinishedTask()};
  Stage second = MakeStage();
  second.id = "44444444-4444-4444-8444-444444444444";
  second.order = 2;
  second.status = StageStatus::kWaiting;
  job.stages = std::vector<Stage>{first, second};
  ExpectRoundTrip(job, DecodeJob);
}

TEST(RoundTrip, JobWithTaskSummary) {
  Job job = MakeJob();
  job.task_summary = Summary{3, 1, 5, 0, 0, 2};
  ExpectRoundTrip(job, DecodeJob);
}

TEST(RoundTrip, JobWithEmptyStageList) {
  Job job = MakeJob();
  job.stages = std::vector<Stage>{};
  ExpectRoundTrip(job, DecodeJob);
}

TEST(RoundTrip, EveryJobStatusAndPriority) {
  for (JobStatus s : kAllJobStatuses) {
    Job job = MakeJob();
    job.status = s;
    ExpectRoundTrip(job, DecodeJob);
  }
  for (Priority p : kAllPriorities) {
    Job job = MakeJob();
    job.priority = p;
    ExpectRoundTrip(job, DecodeJob);
  }
}

TEST(RoundTrip, EveryTaskStatus) {
  for (TaskStatus s : kAllTaskStatuses) {
    Task t = MakeTask();
    t.status = s;
    ExpectRoundTrip(t, DecodeTask);
  }
}

TEST(DecodeTask, AcceptsTimesWithOffsetsAndNullOptionals) {
  json j = Encode(MakeTask());
  j["creationTime"] = "2026-11-29T04:08:43.123+02:00";
  j["startTime"] = nullptr;
  j["endTime"] = nullptr;
  j["tracestate"] = nullptr;
  auto t = DecodeTask(j);
  ASSERT_TRUE(IsOk(t));
  EXPECT_TRUE(t->creation_time == At(2026, 11, 29, 2, 8, 43, 123'000)) << FormatTime(t->creation_time);
  EXPECT_FALSE(t->start_time.has_value());
  EXPECT_FALSE(t->end_time.has_value());
  EXPECT_FALSE(t->tracestate.has_value());
}

TEST(DecodeTask, UserMetadataDefaultsToEmptyObject) {
  json j = Encode(MakeTask());
  j["userMetadata"] = {{"x", 1}};
  ASSERT_TRUE(IsOk(DecodeTask(j)));
  EXPECT_EQ(DecodeTask(j)->user_metadata, R"({"x":1})");
  j.erase("userMetadata");
  auto t = DecodeTask(j);
  ASSERT_TRUE(IsOk(t));
  EXPECT_EQ(t->user_metadata, "{}");
}

TEST(DecodeTask, IgnoresUnknownFields) {
  json j = Encode(MakeTask());
  j["somethingNew"] = 1;
  auto t = DecodeTask(j);
  ASSERT_TRUE(IsOk(t));
  EXPECT_TRUE(*t == MakeTask());
}

TEST(DecodeStage, AbsentTasksStayUnset) {
  auto s = DecodeStage(Encode(MakeStage()));
  ASSERT_TRUE(IsOk(s));
  EXPECT_FALSE(s->tasks.has_value());
}

TEST(DecodeJob, AbsentStagesStayUnset) {
  auto j = DecodeJob(Encode(MakeJob()));
  ASSERT_TRUE(IsOk(j));
  EXPECT_FALSE(j->stages.has_value());
  EXPECT_FALSE(j->tracestate.has_value());
}

// ---- Decode errors name the field ----

struct DecodeFailure {
  std::string name;      // test name
  std::string field;     // key to break
  json replacement;      // null json = erase the key
  std::string expected;  // fragment of the message
};

void PrintTo(const DecodeFailure& f, std::ostream* os) {
  *os << f.field << (f.replacement.is_null() ? " removed" : " = " + f.replacement.dump());
}

std::string FailureName(const ::testing::TestParamInfo<DecodeFailure>& info) {
  return info.param.name;
}

json Broken(json j, const DecodeFailure& f) {
  if (f.replacement.is_null()) {
    j.erase(f.field);
  } else {
    j[f.field] = f.replacement;
  }
  return j;
}

class DecodeTaskFailure : public ::testing::TestWithParam<DecodeFailure> {};
TEST_P(DecodeTaskFailure, NamesTheField) {
  const json j = Broken(Encode(MakeFinishedTask()), GetParam());
  EXPECT_TRUE(IsBadResponse(DecodeTask(j), {GetParam().expected})) << j.dump();
}
INSTANTIATE_TEST_SUITE_P(
    Fields, DecodeTaskFailure,
    ::testing::Values(DecodeFailure{"MissingId", "id", nullptr, "task.id"},
                      DecodeFailure{"MissingStageId", "stageId", nullptr, "task.stageId"},
                      DecodeFailure{"MissingData", "data", nullptr, "task.data"},
                      DecodeFailure{"MissingStatus", "status", nullptr, "task.status"},
                      DecodeFailure{"UnknownStatus", "status", "DONE", "task.status"},
                      DecodeFailure{"LowerCaseStatus", "status", "pending", "task.status"},
                      DecodeFailure{"MissingAttempts", "attempts", nullptr, "task.attempts"},
                      DecodeFailure{"StringAttempts", "attempts", "0", "task.attempts"},
                      DecodeFailure{"MissingMaxAttempts", "maxAttempts", nullptr, "task.maxAttempts"},
                      DecodeFailure{"MissingCreationTime", "creationTime", nullptr, "task.creationTime"},
                      DecodeFailure{"BadCreationTime", "creationTime", "yesterday", "task.creationTime"},
                      DecodeFailure{"MissingUpdateTime", "updateTime", nullptr, "task.updateTime"},
                      DecodeFailure{"BadStartTime", "startTime", "2026-02-30T00:00:00Z", "task.startTime"},
                      DecodeFailure{"BadEndTime", "endTime", 5, "task.endTime"},
                      DecodeFailure{"MissingTraceparent", "traceparent", nullptr, "task.traceparent"},
                      DecodeFailure{"NumericTracestate", "tracestate", 5, "task.tracestate"}),
    FailureName);

class DecodeStageFailure : public ::testing::TestWithParam<DecodeFailure> {};
TEST_P(DecodeStageFailure, NamesTheField) {
  Stage s = MakeStage();
  s.tracestate = "a=1";
  s.tasks = std::vector<Task>{MakeTask()};
  const json j = Broken(Encode(s), GetParam());
  EXPECT_TRUE(IsBadResponse(DecodeStage(j), {GetParam().expected})) << j.dump();
}
INSTANTIATE_TEST_SUITE_P(
    Fields, DecodeStageFailure,
    ::testing::Values(DecodeFailure{"MissingId", "id", nullptr, "stage.id"},
                      DecodeFailure{"MissingJobId", "jobId", nullptr, "stage.jobId"},
                      DecodeFailure{"MissingType", "type", nullptr, "stage.type"},
                      DecodeFailure{"NumericType", "type", 1, "stage.type"},
                      DecodeFailure{"MissingData", "data", nullptr, "stage.data"},
                      DecodeFailure{"MissingOrder", "order", nullptr, "stage.order"},
                      DecodeFailure{"MissingStatus", "status", nullptr, "stage.status"},
                      DecodeFailure{"PausedIsNotAStageStatus", "status", "PAUSED", "stage.status"},
                      DecodeFailure{"MissingPercentage", "percentage", nullptr, "stage.percentage"},
                      DecodeFailure{"MissingSummary", "summary", nullptr, "stage.summary"},
                      DecodeFailure{"SummaryNotAnObject", "summary", "x", "summary"},
                      DecodeFailure{"SummaryLacksCounts", "summary", json::object(), "summary"},
                      DecodeFailure{"MissingTraceparent", "traceparent", nullptr, "stage.traceparent"},
                      DecodeFailure{"NumericTracestate", "tracestate", 1, "stage.tracestate"},
                      DecodeFailure{"TasksNotAnArray", "tasks", json::object(), "stage.tasks"},
                      DecodeFailure{"BrokenTaskInside", "tasks", json::array({json{{"id", "x"}}}), "task.stageId"}),
    FailureName);

class DecodeJobFailure : public ::testing::TestWithParam<DecodeFailure> {};
TEST_P(DecodeJobFailure, NamesTheField) {
  Job job = MakeJob();
  job.tracestate = "a=1";
  job.stages = std::vector<Stage>{MakeStage()};
  const json j = Broken(Encode(job), GetParam());
  EXPECT_TRUE(IsBadResponse(DecodeJob(j), {GetParam().expected})) << j.dump();
}
INSTANTIATE_TEST_SUITE_P(
    Fields, DecodeJobFailure,
    ::testing::Values(DecodeFailure{"MissingId", "id", nullptr, "job.id"},
                      DecodeFailure{"MissingName", "name", nullptr, "job.name"},
                      DecodeFailure{"MissingData", "data", nullptr, "job.data"},
                      DecodeFailure{"MissingPriority", "priority", nullptr, "job.priority"},
                      DecodeFailure{"LowerCasePriority", "priority", "high", "job.priority"},
                      DecodeFailure{"MissingStatus", "status", nullptr, "job.status"},
                      DecodeFailure{"WaitingIsNotAJobStatus", "status", "WAITING", "job.status"},
                      DecodeFailure{"MissingPercentage", "percentage", nullptr, "job.percentage"},
                      DecodeFailure{"FloatPercentage", "percentage", 1.5, "job.percentage"},
                      DecodeFailure{"MissingCreationTime", "creationTime", nullptr, "job.creationTime"},
                      DecodeFailure{"TimeWithoutOffset", "creationTime", "2026-11-29T02:08:43", "job.creationTime"},
                      DecodeFailure{"MissingUpdateTime", "updateTime", nullptr, "job.updateTime"},
                      DecodeFailure{"MissingTraceparent", "traceparent", nullptr, "job.traceparent"},
                      DecodeFailure{"ArrayTracestate", "tracestate", json::array(), "job.tracestate"},
                      DecodeFailure{"StagesNotAnArray", "stages", "x", "job.stages"},
                      DecodeFailure{"BrokenStageInside", "stages", json::array({json{{"id", "x"}, {"jobId", "y"}}}),
                                    "stage.type"}),
    FailureName);

TEST(DecodeErrors, NonObjectsAreRejected) {
  EXPECT_TRUE(IsBadResponse(DecodeSummary(json::array()), {"summary"}));
  EXPECT_TRUE(IsBadResponse(DecodeTask(json("x")), {"task"}));
  EXPECT_TRUE(IsBadResponse(DecodeStage(json(1)), {"stage"}));
  EXPECT_TRUE(IsBadResponse(DecodeJob(json(nullptr)), {"job"}));
}

TEST(DecodeErrors, SummaryMissingAnyCountIsRejected) {
  for (const char* key : {"pending", "inProgress", "completed", "failed", "created", "retried"}) {
    json j = Encode(MakeSummary());
    j.erase(key);
    EXPECT_TRUE(IsBadResponse(DecodeSummary(j), {"summary"})) << key;
  }
}

TEST(DecodeErrors, SummaryTotalIsNotRequiredOnInput) {
  json j = Encode(MakeSummary());
  j.erase("total");
  auto s = DecodeSummary(j);
  ASSERT_TRUE(IsOk(s));
  EXPECT_TRUE(*s == MakeSummary());
}

// =====================================================================================
// Request parsing
// =====================================================================================

json ValidJobBody() {
  return {{"name", "ingest"}, {"data", json::object()}};
}
json ValidStageBody() {
  return {{"type", "download"}, {"data", json::object()}};
}
json ValidTaskBody() {
  return {{"data", json::object()}};
}

json With(json j, const std::string& key, json value) {
  j[key] = std::move(value);
  return j;
}
json Without(json j, const std::string& key) {
  j.erase(key);
  return j;
}

std::string Utf8Repeat(std::string_view piece, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += piece;
  return s;
}

// ---- ParseJsonBody ----

TEST(ParseJsonBody, EmptyBodyIsRequired) {
  EXPECT_TRUE(IsValidationError(ParseJsonBody(""), {"request/body", "required"}));
}

TEST(ParseJsonBody, MalformedJsonSaysSo) {
  EXPECT_TRUE(IsValidationError(ParseJsonBody(R"({"name":)"), {"request/body", "not valid JSON"}));
  EXPECT_TRUE(IsValidationError(ParseJsonBody("{'a':1}"), {"not valid JSON"}));
  EXPECT_TRUE(IsValidationError(ParseJsonBody(R"({"a":1} trailing)"), {"not valid JSON"}));
  EXPECT_TRUE(IsValidationError(ParseJsonBody("   "), {"not valid JSON"}));
}

TEST(ParseJsonBody, ValidJsonIsReturned) {
  auto j = ParseJsonBody(R"( {"a":[1,2]} )");
  ASSERT_TRUE(IsOk(j));
  EXPECT_EQ(*j, json({{"a", {1, 2}}}));
}

// ---- ParseNewJob ----

TEST(ParseNewJob, MinimalJobGetsDefaults) {
  auto job = ParseNewJob(ValidJobBody().dump());
  ASSERT_TRUE(IsOk(job));
  EXPECT_EQ(job->name, "ingest");
  EXPECT_EQ(job->data, "{}");
  EXPECT_EQ(job->user_metadata, "{}");
  EXPECT_EQ(ToString(job->priority), "MEDIUM");
  EXPECT_FALSE(job->traceparent.has_value());
  EXPECT_FALSE(job->tracestate.has_value());
  EXPECT_FALSE(job->stages.has_value()) << "without `stages` the request is plain v1";
}

TEST(ParseNewJob, FullV1JobKeepsEveryField) {
  auto job = ParseNewJob(R"({
      "name": "critical_analysis",
      "data": { "input": "/data/x", "n": [1, 2] },
      "priority": "VERY_HIGH",
      "userMetadata": { "owner": "me" },
      "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "tracestate": "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    })");
  ASSERT_TRUE(IsOk(job));
  EXPECT_EQ(job->name, "critical_analysis");
  EXPECT_EQ(job->data, R"({"input":"/data/x","n":[1,2]})") << "data is kept as compact JSON text";
  EXPECT_EQ(job->user_metadata, R"({"owner":"me"})");
  EXPECT_EQ(ToString(job->priority), "VERY_HIGH");
  EXPECT_EQ(job->traceparent, std::optional<std::string>(kTraceparent));
  EXPECT_EQ(job->tracestate, std::optional<std::string>(kTracestate));
}

TEST(ParseNewJob, EveryPriorityIsAccepted) {
  for (Priority p : kAllPriorities) {
    auto job = ParseNewJob(With(ValidJobBody(), "priority", std::string(ToString(p))).dump());
    ASSERT_TRUE(IsOk(job)) << ToString(p);
    EXPECT_EQ(ToString(job->priority), ToString(p));
  }
}

TEST(ParseNewJob, NameIsRequired) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(Without(ValidJobBody(), "name").dump()),
                                {"request/body", "required property 'name'"}));
}

TEST(ParseNewJob, NameMustBeAString) {
  EXPECT_TRUE(
      IsValidationError(ParseNewJob(With(ValidJobBody(), "name", 42).dump()), {"request/body/name", "must be string"}));
}

TEST(ParseNewJob, NameOfTwoToFiftyCharactersIsAccepted) {
  EXPECT_TRUE(IsOk(ParseNewJob(With(ValidJobBody(), "name", "ab").dump())));
  EXPECT_TRUE(IsOk(ParseNewJob(With(ValidJobBody(), "name", std::string(50, 'n')).dump())));
  // 50 characters of two bytes each.
  EXPECT_TRUE(IsOk(ParseNewJob(With(ValidJobBody(), "name", Utf8Repeat("\xC3\xA9", 50)).dump())));
}

TEST(ParseNewJob, NameShorterThanTwoCharactersIsRejected) {
  EXPECT_TRUE(
      IsValidationError(ParseNewJob(With(ValidJobBody(), "name", "a").dump()), {"request/body/name", "fewer than 2"}));
  EXPECT_TRUE(IsValidationError(ParseNewJob(With(ValidJobBody(), "name", "\xC3\xA9").dump()),
                                {"request/body/name", "fewer than 2"}));
}

TEST(ParseNewJob, NameLongerThanFiftyCharactersIsRejected) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(With(ValidJobBody(), "name", std::string(51, 'n')).dump()),
                                {"request/body/name", "more than 50"}));
}

TEST(ParseNewJob, DataIsRequired) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(Without(ValidJobBody(), "data").dump()),
                                {"request/body", "required property 'data'"}));
}

TEST(ParseNewJob, DataMustBeAnObject) {
  for (const json& bad : {json::array(), json("x"), json(1), json(nullptr)}) {
    EXPECT_TRUE(IsValidationError(ParseNewJob(With(ValidJobBody(), "data", bad).dump()),
                                  {"request/body/data", "must be object"}))
        << bad;
  }
}

TEST(ParseNewJob, UserMetadataMustBeAnObject) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(With(ValidJobBody(), "userMetadata", json::array()).dump()),
                                {"request/body/userMetadata", "must be object"}));
  auto ok = ParseNewJob(With(ValidJobBody(), "userMetadata", {{"k", "v"}}).dump());
  ASSERT_TRUE(IsOk(ok));
  EXPECT_EQ(ok->user_metadata, R"({"k":"v"})");
}

TEST(ParseNewJob, PriorityMustBeOneOfTheEnum) {
  for (const json& bad : {json("URGENT"), json("medium"), json(3), json(nullptr)}) {
    EXPECT_TRUE(
        IsValidationError(ParseNewJob(With(ValidJobBody(), "priority", bad).dump()),
                          {"request/body/priority", "allowed values", "VERY_HIGH, HIGH, MEDIUM, LOW, VERY_LOW"}))
        << bad;
  }
}

TEST(ParseNewJob, UnknownTopLevelKeyIsRejectedByName) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(With(ValidJobBody(), "colour", "red").dump()),
                                {"request/body", "additional properties", "'colour'"}));
}

TEST(ParseNewJob, TraceparentMustMatchThePattern) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(With(ValidJobBody(), "traceparent", "00-xyz").dump()),
                                {"request/body/traceparent", "pattern"}));
  EXPECT_TRUE(IsValidationError(ParseNewJob(With(ValidJobBody(), "traceparent", 7).dump()),
                                {"request/body/traceparent", "must be string"}));
}

TEST(ParseNewJob, TracestateMustMatchThePattern) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(With(ValidJobBody(), "tracestate", "Upper=1").dump()),
                                {"request/body/tracestate", "pattern"}));
}

TEST(ParseNewJob, MalformedJsonIsAValidationError) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(R"({"name":"ab","data":{})"), {"not valid JSON"}));
}

TEST(ParseNewJob, BodyMustBeAnObject) {
  EXPECT_TRUE(IsValidationError(ParseNewJob("[]"), {"request/body", "must be object"}));
  EXPECT_TRUE(IsValidationError(ParseNewJob(R"("job")"), {"request/body", "must be object"}));
  EXPECT_TRUE(IsValidationError(ParseNewJob("null"), {"request/body", "must be object"}));
}

TEST(ParseNewJob, EmptyBodyIsRejected) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(""), {"request/body"}));
}

// ---- ParseNewJob, extension: the whole tree in one request ----

json JobWithStages(json stages) {
  return With(ValidJobBody(), "stages", std::move(stages));
}

TEST(ParseNewJobStages, FullTreeIsParsed) {
  auto job = ParseNewJob(R"({
      "name": "tree", "data": {"k": "v"},
      "stages": [
        {"type": "download", "data": {}, "startAsWaiting": true, "tracestate": "a=1",
         "tasks": [{"data": {"n": 1}, "maxAttempts": 3, "userMetadata": {"u": 2}},
                   {"data": {"n": 2}, "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}]},
        {"type": "upload", "data": {"x": null}}
      ]})");
  ASSERT_TRUE(IsOk(job));
  ASSERT_TRUE(job->stages.has_value());
  ASSERT_EQ(job->stages->size(), 2u);
  const NewStage& download = (*job->stages)[0];
  EXPECT_EQ(download.type, "download");
  EXPECT_EQ(download.data, "{}");
  EXPECT_TRUE(download.start_as_waiting);
  EXPECT_EQ(download.tracestate, std::optional<std::string>("a=1"));
  ASSERT_EQ(download.tasks.size(), 2u);
  EXPECT_EQ(download.tasks[0].data, R"({"n":1})");
  EXPECT_EQ(download.tasks[0].max_attempts, 3);
  EXPECT_EQ(download.tasks[0].user_metadata, R"({"u":2})");
  EXPECT_FALSE(download.tasks[0].traceparent.has_value());
  EXPECT_EQ(download.tasks[1].max_attempts, 1);
  EXPECT_EQ(download.tasks[1].traceparent, std::optional<std::string>(kTraceparent));
  const NewStage& upload = (*job->stages)[1];
  EXPECT_EQ(upload.type, "upload");
  EXPECT_EQ(upload.data, R"({"x":null})");
  EXPECT_FALSE(upload.start_as_waiting);
  EXPECT_TRUE(upload.tasks.empty());
}

TEST(ParseNewJobStages, EmptyStagesArrayIsPresentButEmpty) {
  auto job = ParseNewJob(JobWithStages(json::array()).dump());
  ASSERT_TRUE(IsOk(job));
  ASSERT_TRUE(job->stages.has_value());
  EXPECT_TRUE(job->stages->empty());
}

TEST(ParseNewJobStages, StagesMustBeAnArray) {
  EXPECT_TRUE(
      IsValidationError(ParseNewJob(JobWithStages(ValidStageBody()).dump()), {"request/body/stages", "must be array"}));
}

TEST(ParseNewJobStages, EachStageMustBeAnObject) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(JobWithStages({ValidStageBody(), "x"}).dump()),
                                {"request/body/stages/1", "must be object"}));
}

TEST(ParseNewJobStages, StageTypeIsRequiredAtItsIndexPath) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(JobWithStages({Without(ValidStageBody(), "type")}).dump()),
                                {"request/body/stages/0", "required property 'type'"}));
}

TEST(ParseNewJobStages, StageTypeLengthIsCheckedAtItsIndexPath) {
  EXPECT_TRUE(
      IsValidationError(ParseNewJob(JobWithStages({With(ValidStageBody(), "type", std::string(51, 't'))}).dump()),
                        {"request/body/stages/0/type", "more than 50"}));
}

TEST(ParseNewJobStages, StageDataIsRequiredAndMustBeAnObject) {
  EXPECT_TRUE(
      IsValidationError(ParseNewJob(JobWithStages({ValidStageBody(), Without(ValidStageBody(), "data")}).dump()),
                        {"request/body/stages/1", "required property 'data'"}));
  EXPECT_TRUE(IsValidationError(ParseNewJob(JobWithStages({With(ValidStageBody(), "data", "x")}).dump()),
                                {"request/body/stages/0/data", "must be object"}));
}

TEST(ParseNewJobStages, StartAsWaitingMustBeABoolean) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(JobWithStages({With(ValidStageBody(), "startAsWaiting", "yes")}).dump()),
                                {"request/body/stages/0/startAsWaiting", "must be boolean"}));
}

TEST(ParseNewJobStages, StageTraceparentIsCheckedAtItsIndexPath) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(JobWithStages({With(ValidStageBody(), "traceparent", "bad")}).dump()),
                                {"request/body/stages/0/traceparent", "pattern"}));
}

TEST(ParseNewJobStages, StageTasksMustBeAnArray) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(JobWithStages({With(ValidStageBody(), "tasks", ValidTaskBody())}).dump()),
                                {"request/body/stages/0/tasks", "must be array"}));
}

TEST(ParseNewJobStages, TaskMaxAttemptsIsCheckedAtItsFullIndexPath) {
  const json stage = With(ValidStageBody(), "tasks", {ValidTaskBody(), With(ValidTaskBody(), "maxAttempts", 0)});
  EXPECT_TRUE(IsValidationError(ParseNewJob(JobWithStages({stage}).dump()),
                                {"request/body/stages/0/tasks/1/maxAttempts", ">= 1"}));
}

TEST(ParseNewJobStages, TaskDataIsRequiredAtItsFullIndexPath) {
  const json stage = With(ValidStageBody(), "tasks", {json::object()});
  EXPECT_TRUE(IsValidationError(ParseNewJob(JobWithStages({ValidStageBody(), stage}).dump()),
                                {"request/body/stages/1/tasks/0", "required property 'data'"}));
}

TEST(ParseNewJobStages, UnknownTaskKeyIsRejectedByName) {
  const json stage = With(ValidStageBody(), "tasks", {With(ValidTaskBody(), "priority", "HIGH")});
  EXPECT_TRUE(IsValidationError(ParseNewJob(JobWithStages({stage}).dump()),
                                {"request/body/stages/0/tasks/0", "additional properties", "'priority'"}));
}

TEST(ParseNewJobStages, UnknownStageKeysAreToleratedLikeV1) {
  auto job = ParseNewJob(JobWithStages({With(ValidStageBody(), "comment", "anything")}).dump());
  ASSERT_TRUE(IsOk(job));
  ASSERT_EQ(job->stages->size(), 1u);
}

// ---- ParseNewStage ----

TEST(ParseNewStage, MinimalStageGetsDefaults) {
  auto st = ParseNewStage(ValidStageBody().dump());
  ASSERT_TRUE(IsOk(st));
  EXPECT_EQ(st->type, "download");
  EXPECT_EQ(st->data, "{}");
  EXPECT_EQ(st->user_metadata, "{}");
  EXPECT_FALSE(st->start_as_waiting);
  EXPECT_FALSE(st->traceparent.has_value());
  EXPECT_FALSE(st->tracestate.has_value());
  EXPECT_TRUE(st->tasks.empty());
}

TEST(ParseNewStage, FullStageKeepsEveryField) {
  auto st = ParseNewStage(R"({"type":"approve","data":{"b":2,"a":1},"userMetadata":{"m":true},
      "startAsWaiting":true,"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "tracestate":"a=1"})");
  ASSERT_TRUE(IsOk(st));
  EXPECT_EQ(st->type, "approve");
  EXPECT_EQ(st->data, R"({"a":1,"b":2})");
  EXPECT_EQ(st->user_metadata, R"({"m":true})");
  EXPECT_TRUE(st->start_as_waiting);
  EXPECT_EQ(st->traceparent, std::optional<std::string>(kTraceparent));
  EXPECT_EQ(st->tracestate, std::optional<std::string>("a=1"));
}

TEST(ParseNewStage, TypeIsRequired) {
  EXPECT_TRUE(IsValidationError(ParseNewStage(Without(ValidStageBody(), "type").dump()),
                                {"request/body", "required property 'type'"}));
}

TEST(ParseNewStage, TypeMustBeAString) {
  EXPECT_TRUE(IsValidationError(ParseNewStage(With(ValidStageBody(), "type", 5).dump()),
                                {"request/body/type", "must be string"}));
}

TEST(ParseNewStage, TypeOfUpToFiftyCharactersIsAccepted) {
  EXPECT_TRUE(IsOk(ParseNewStage(With(ValidStageBody(), "type", std::string(50, 't')).dump())));
  EXPECT_TRUE(IsOk(ParseNewStage(With(ValidStageBody(), "type", Utf8Repeat("\xE6\x97\xA5", 50)).dump())));
  // The v1 stageType has a maxLength but no minLength.
  EXPECT_TRUE(IsOk(ParseNewStage(With(ValidStageBody(), "type", "").dump())));
}

TEST(ParseNewStage, TypeLongerThanFiftyCharactersIsRejected) {
  EXPECT_TRUE(IsValidationError(ParseNewStage(With(ValidStageBody(), "type", std::string(51, 't')).dump()),
                                {"request/body/type", "more than 50"}));
}

TEST(ParseNewStage, DataIsRequiredAndMustBeAnObject) {
  EXPECT_TRUE(IsValidationError(ParseNewStage(Without(ValidStageBody(), "data").dump()),
                                {"request/body", "required property 'data'"}));
  EXPECT_TRUE(IsValidationError(ParseNewStage(With(ValidStageBody(), "data", json::array()).dump()),
                                {"request/body/data", "must be object"}));
}

TEST(ParseNewStage, UserMetadataMustBeAnObject) {
  EXPECT_TRUE(IsValidationError(ParseNewStage(With(ValidStageBody(), "userMetadata", "x").dump()),
                                {"request/body/userMetadata", "must be object"}));
}

TEST(ParseNewStage, StartAsWaitingMustBeABoolean) {
  EXPECT_TRUE(IsValidationError(ParseNewStage(With(ValidStageBody(), "startAsWaiting", "true").dump()),
                                {"request/body/startAsWaiting", "must be boolean"}));
  EXPECT_TRUE(IsValidationError(ParseNewStage(With(ValidStageBody(), "startAsWaiting", 1).dump()),
                                {"request/body/startAsWaiting", "must be boolean"}));
  auto st = ParseNewStage(With(ValidStageBody(), "startAsWaiting", false).dump());
  ASSERT_TRUE(IsOk(st));
  EXPECT_FALSE(st->start_as_waiting);
}

TEST(ParseNewStage, TraceFieldsMustMatchTheirPatterns) {
  EXPECT_TRUE(IsValidationError(ParseNewStage(With(ValidStageBody(), "traceparent", "nope").dump()),
                                {"request/body/traceparent"}));
  EXPECT_TRUE(IsValidationError(ParseNewStage(With(ValidStageBody(), "tracestate", "a=b=c").dump()),
                                {"request/body/tracestate"}));
}

TEST(ParseNewStage, UnknownKeysAreToleratedBecauseTheV1StageSchemaAllowsThem) {
  auto st = ParseNewStage(With(ValidStageBody(), "colour", "red").dump());
  ASSERT_TRUE(IsOk(st));
  EXPECT_EQ(st->type, "download");
}

TEST(ParseNewStage, TasksAreOnlyReadInsideAJobSubmission) {
  auto st = ParseNewStage(With(ValidStageBody(), "tasks", {ValidTaskBody()}).dump());
  ASSERT_TRUE(IsOk(st));
  EXPECT_TRUE(st->tasks.empty());
}

TEST(ParseNewStage, BodyMustBeAnObject) {
  EXPECT_TRUE(IsValidationError(ParseNewStage("[]"), {"request/body", "must be object"}));
  EXPECT_TRUE(IsValidationError(ParseNewStage("{"), {"not valid JSON"}));
  EXPECT_TRUE(IsValidationError(ParseNewStage(""), {"request/body"}));
}

// ---- ParseNewTasks ----

TEST(ParseNewTasks, TasksGetDefaults) {
  auto tasks = ParseNewTasks(json::array({ValidTaskBody(), With(ValidTaskBody(), "data", {{"f", "x"}})}).dump());
  ASSERT_TRUE(IsOk(tasks));
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[0].data, "{}");
  EXPECT_EQ((*tasks)[0].user_metadata, "{}");
  EXPECT_EQ((*tasks)[0].max_attempts, 1);
  EXPECT_FALSE((*tasks)[0].traceparent.has_value());
  EXPECT_FALSE((*tasks)[0].tracestate.has_value());
  EXPECT_EQ((*tasks)[1].data, R"({"f":"x"})");
}

TEST(ParseNewTasks, FullTaskKeepsEveryField) {
  auto tasks = ParseNewTasks(R"([{"data":{"a":1},"userMetadata":{"m":1},"maxAttempts":5,
      "traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"a=1"}])");
  ASSERT_TRUE(IsOk(tasks));
  ASSERT_EQ(tasks->size(), 1u);
  const NewTask& t = (*tasks)[0];
  EXPECT_EQ(t.data, R"({"a":1})");
  EXPECT_EQ(t.user_metadata, R"({"m":1})");
  EXPECT_EQ(t.max_attempts, 5);
  EXPECT_EQ(t.traceparent, std::optional<std::string>(kTraceparent));
  EXPECT_EQ(t.tracestate, std::optional<std::string>("a=1"));
}

TEST(ParseNewTasks, EmptyArrayIsAccepted) {
  auto tasks = ParseNewTasks("[]");
  ASSERT_TRUE(IsOk(tasks));
  EXPECT_TRUE(tasks->empty());
}

TEST(ParseNewTasks, BodyMustBeAnArray) {
  EXPECT_TRUE(IsValidationError(ParseNewTasks(ValidTaskBody().dump()), {"request/body", "must be array"}));
  EXPECT_TRUE(IsValidationError(ParseNewTasks("[{"), {"not valid JSON"}));
  EXPECT_TRUE(IsValidationError(ParseNewTasks(""), {"request/body"}));
}

TEST(ParseNewTasks, EachElementMustBeAnObject) {
  EXPECT_TRUE(
      IsValidationError(ParseNewTasks(json::array({ValidTaskBody(), 3}).dump()), {"request/body/1", "must be object"}));
}

TEST(ParseNewTasks, DataIsRequiredAtTheIndexPath) {
  EXPECT_TRUE(IsValidationError(ParseNewTasks(json::array({ValidTaskBody(), json::object()}).dump()),
                                {"request/body/1", "required property 'data'"}));
}

TEST(ParseNewTasks, DataMustBeAnObject) {
  EXPECT_TRUE(IsValidationError(ParseNewTasks(json::array({With(ValidTaskBody(), "data", json::array())}).dump()),
                                {"request/body/0/data", "must be object"}));
}

TEST(ParseNewTasks, UserMetadataMustBeAnObject) {
  EXPECT_TRUE(IsValidationError(ParseNewTasks(json::array({With(ValidTaskBody(), "userMetadata", 1)}).dump()),
                                {"request/body/0/userMetadata", "must be object"}));
}

TEST(ParseNewTasks, UnknownKeyIsRejectedNamingItAndItsIndex) {
  EXPECT_TRUE(
      IsValidationError(ParseNewTasks(json::array({ValidTaskBody(), With(ValidTaskBody(), "retries", 3)}).dump()),
                        {"request/body/1", "additional properties", "'retries'"}));
}

TEST(ParseNewTasks, MaxAttemptsAcceptsIntegersAndIntegralFloats) {
  auto tasks = ParseNewTasks(R"([{"data":{},"maxAttempts":3},{"data":{},"maxAttempts":3.0},
                                       {"data":{},"maxAttempts":2147483647}])");
  ASSERT_TRUE(IsOk(tasks));
  ASSERT_EQ(tasks->size(), 3u);
  EXPECT_EQ((*tasks)[0].max_attempts, 3);
  EXPECT_EQ((*tasks)[1].max_attempts, 3);
  EXPECT_EQ((*tasks)[2].max_attempts, 2147483647);
}

TEST(ParseNewTasks, MaxAttemptsBelowOneIsRejected) {
  EXPECT_TRUE(
      IsValidationError(ParseNewTasks(R"([{"data":{},"maxAttempts":0}])"), {"request/body/0/maxAttempts", ">= 1"}));
  EXPECT_TRUE(
      IsValidationError(ParseNewTasks(R"([{"data":{},"maxAttempts":-2}])"), {"request/body/0/maxAttempts", ">= 1"}));
}

TEST(ParseNewTasks, MaxAttemptsMustBeAnInteger) {
  EXPECT_TRUE(IsValidationError(ParseNewTasks(R"([{"data":{},"maxAttempts":"3"}])"),
                                {"request/body/0/maxAttempts", "must be integer"}));
  EXPECT_TRUE(IsValidationError(ParseNewTasks(R"([{"data":{},"maxAttempts":3.5}])"),
                                {"request/body/0/maxAttempts", "must be integer"}));
}

TEST(ParseNewTasks, MaxAttemptsMustFitAnInt) {
  EXPECT_TRUE(IsValidationError(ParseNewTasks(R"([{"data":{},"maxAttempts":2147483648}])"),
                                {"request/body/0/maxAttempts", "<= 2147483647"}));
}

TEST(ParseNewTasks, TraceFieldsAreCheckedAtTheIndexPath) {
  EXPECT_TRUE(IsValidationError(ParseNewTasks(json::array({With(ValidTaskBody(), "traceparent", "x")}).dump()),
                                {"request/body/0/traceparent"}));
  EXPECT_TRUE(IsValidationError(ParseNewTasks(json::array({With(ValidTaskBody(), "tracestate", "")}).dump()),
                                {"request/body/0/tracestate"}));
}

// ---- Request bodies: the one encoder of NewJob/NewStage/NewTask, checked against the parser ----

NewTask FullNewTask() {
  NewTask t;
  t.data = R"({"file":"a.csv","n":[1,2]})";
  t.user_metadata = R"({"owner":"q\"a"})";
  t.max_attempts = 5;
  t.traceparent = kTraceparent;
  t.tracestate = kTracestate;
  return t;
}

NewTask MinimalNewTask(std::optional<std::string> traceparent = std::nullopt,
                       std::optional<std::string> tracestate = std::nullopt) {
  NewTask t;
  t.data = "{}";
  t.traceparent = std::move(traceparent);
  t.tracestate = std::move(tracestate);
  return t;
}

NewStage FullNewStage() {
  NewStage s;
  s.type = "tile \"render\" \xC3\xA9";
  s.data = R"({"zoom":3})";
  s.user_metadata = R"({"k":"v"})";
  s.start_as_waiting = true;
  s.traceparent = kTraceparent;
  s.tracestate = kTracestate;
  return s;
}

NewJob FullNewJob() {
  NewJob j;
  j.name = "nightly \"import\" \xE2\x9C\x93";
  j.data = R"({"a":{"b":null}})";
  j.user_metadata = R"({"team":"geo"})";
  j.priority = Priority::kVeryHigh;
  j.traceparent = kTraceparent;
  j.tracestate = kTracestate;
  NewStage first = FullNewStage();
  first.tasks = {FullNewTask(), MinimalNewTask()};
  NewStage second;
  second.type = "b";
  second.data = "{}";
  j.stages = std::vector<NewStage>{first, second};
  return j;
}

TEST(EncodeNewTask, RoundTripsEveryFieldSetOrUnset) {
  const std::vector<NewTask> tasks = {FullNewTask(), MinimalNewTask(), MinimalNewTask(std::nullopt, kTracestate)};
  const std::string body = ToJson(tasks);
  auto parsed = ParseNewTasks(body);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message() << "\n" << body;
  EXPECT_TRUE(*parsed == tasks) << body;
}

TEST(EncodeNewTask, OmitsUnsetTraceFields) {
  NewTask task;
  task.data = R"({"x":1})";
  EXPECT_EQ(ToJson(task), R"({"data":{"x":1},"userMetadata":{},"maxAttempts":1})");
}

TEST(EncodeNewTask, WithDefaultsTakesTheRequestTraceOnlyWhenTheTaskHasNone) {
  const std::string other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const TraceDefaults defaults{other, "d=1"};
  const std::vector<NewTask> tasks = {MinimalNewTask(), FullNewTask(), MinimalNewTask(kTraceparent),
                                      MinimalNewTask(std::nullopt, kTracestate)};
  std::string body;
  AppendJson(body, tasks, defaults);
  auto parsed = ParseNewTasks(body);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message() << "\n" << body;
  ASSERT_EQ(parsed->size(), 4U);
  EXPECT_EQ((*parsed)[0].traceparent, other);  // none of its own: the request's
  EXPECT_EQ((*parsed)[0].tracestate, "d=1");
  EXPECT_TRUE((*parsed)[1] == FullNewTask());  // its own
  EXPECT_EQ((*parsed)[2].traceparent, kTraceparent);
  EXPECT_EQ((*parsed)[2].tracestate, std::nullopt);  // its own traceparent, no state: none
  EXPECT_EQ((*parsed)[3].traceparent, other);
  EXPECT_EQ((*parsed)[3].tracestate, kTracestate);  // its own state
}

TEST(EncodeNewStage, RoundTripsEveryFieldSetOrUnset) {
  NewStage minimal;
  minimal.type = "ab";
  minimal.data = "{}";
  for (const NewStage& stage : {FullNewStage(), minimal}) {
    const std::string body = ToJson(stage);
    auto parsed = ParseNewStage(body);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message() << "\n" << body;
    EXPECT_TRUE(*parsed == stage) << body;
  }
  EXPECT_EQ(ToJson(minimal), R"({"type":"ab","data":{},"userMetadata":{}})");
}

TEST(EncodeNewStage, TasksOnlyWhenAskedFor) {
  NewStage stage = FullNewStage();
  stage.tasks = {FullNewTask()};
  std::string omitted;
  AppendJson(omitted, stage, StageTasks::kOmit);
  EXPECT_FALSE(json::parse(omitted).contains("tasks")) << omitted;
  EXPECT_EQ(json::parse(ToJson(stage))["tasks"].size(), 1U);
}

TEST(EncodeNewJob, RoundTripsEveryFieldSetOrUnset) {
  NewJob minimal;
  minimal.name = "ab";
  minimal.data = "{}";
  NewJob no_stages = minimal;
  no_stages.stages.emplace();  // an empty tree is not an absent one
  std::vector<NewJob> jobs = {FullNewJob(), minimal, no_stages};
  for (Priority p : {Priority::kHigh, Priority::kMedium, Priority::kLow, Priority::kVeryLow}) {
    jobs.push_back(minimal);
    jobs.back().priority = p;
  }
  for (const NewJob& job : jobs) {
    const std::string body = ToJson(job);
    auto parsed = ParseNewJob(body);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message() << "\n" << body;
    EXPECT_TRUE(*parsed == job) << body;
  }
  EXPECT_EQ(ToJson(minimal), R"({"name":"ab","data":{},"userMetadata":{},"priority":"MEDIUM"})");
}

// ---- Status changes ----

std::string StatusBody(std::string_view status) {
  return json{{"status", std::string(status)}}.dump();
}

TEST(ParseJobStatusChange, AcceptsPendingAbortedPaused) {
  for (std::string_view s : {"PENDING", "ABORTED", "PAUSED"}) {
    auto r = ParseJobStatusChange(StatusBody(s));
    ASSERT_TRUE(IsOk(r)) << s;
    EXPECT_EQ(ToString(*r), s);
  }
}

TEST(ParseJobStatusChange, RejectsSystemManagedStatusesListingTheAllowedOnes) {
  for (std::string_view s : {"COMPLETED", "FAILED", "IN_PROGRESS", "CREATED", "pending", "WAITING", ""}) {
    EXPECT_TRUE(IsValidationError(ParseJobStatusChange(StatusBody(s)),
                                  {"request/body/status", "allowed values", "PENDING, ABORTED, PAUSED"}))
        << s;
  }
}

TEST(ParseJobStatusChange, StatusIsRequiredAndMustBeAString) {
  EXPECT_TRUE(IsValidationError(ParseJobStatusChange("{}"), {"request/body", "required property 'status'"}));
  EXPECT_TRUE(IsValidationError(ParseJobStatusChange(R"({"status":1})"), {"request/body/status"}));
  EXPECT_TRUE(IsValidationError(ParseJobStatusChange(R"(["PENDING"])"), {"request/body", "must be object"}));
  EXPECT_TRUE(IsValidationError(ParseJobStatusChange(R"({"status":)"), {"not valid JSON"}));
}

TEST(ParseStageStatusChange, AcceptsOnlyPending) {
  auto r = ParseStageStatusChange(StatusBody("PENDING"));
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(ToString(*r), "PENDING");
  for (std::string_view s : {"WAITING", "IN_PROGRESS", "COMPLETED", "ABORTED", "CREATED", "FAILED"}) {
    EXPECT_TRUE(
        IsValidationError(ParseStageStatusChange(StatusBody(s)), {"request/body/status", "allowed values: PENDING"}))
        << s;
  }
}

TEST(ParseTaskStatusChange, AcceptsCompletedAndFailed) {
  for (std::string_view s : {"COMPLETED", "FAILED"}) {
    auto r = ParseTaskStatusChange(StatusBody(s));
    ASSERT_TRUE(IsOk(r)) << s;
    EXPECT_EQ(ToString(*r), s);
  }
}

TEST(ParseTaskStatusChange, RejectsEveryOtherStatus) {
  for (std::string_view s : {"RETRIED", "IN_PROGRESS", "PENDING", "CREATED", "completed"}) {
    EXPECT_TRUE(IsValidationError(ParseTaskStatusChange(StatusBody(s)),
                                  {"request/body/status", "allowed values", "COMPLETED, FAILED"}))
        << s;
  }
  EXPECT_TRUE(IsValidationError(ParseTaskStatusChange("{}"), {"required property 'status'"}));
}

// ---- Report extensions: claimId, reason; heartbeats ----

TEST(ParseTaskReport, AV1BodyHasNoClaimAndNoReason) {
  auto r = ParseTaskReport(R"({"status":"FAILED"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, TaskStatus::kFailed);
  EXPECT_FALSE(r->claim_id.has_value());
  EXPECT_FALSE(r->reason.has_value());
}

TEST(ParseTaskReport, TakesAClaimIdAndAFailureReason) {
  auto r = ParseTaskReport(R"({"status":"FAILED","claimId":"33333333-3333-4333-8333-333333333333","reason":"oom"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->claim_id, "33333333-3333-4333-8333-333333333333");
  EXPECT_EQ(r->reason, "oom");
}

TEST(ParseTaskReport, AReasonOfACompletionIsIgnored) {
  auto r = ParseTaskReport(R"({"status":"COMPLETED","reason":"fine"})");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->reason.has_value());
}

TEST(ParseTaskReport, RejectsAClaimIdThatIsNotAUuidAndAReasonThatIsNotAString) {
  EXPECT_TRUE(IsValidationError(ParseTaskReport(R"({"status":"FAILED","claimId":"x"})"), {"request/body/claimId"}));
  EXPECT_TRUE(IsValidationError(ParseTaskReport(R"({"status":"FAILED","claimId":7})"), {"request/body/claimId"}));
  EXPECT_TRUE(IsValidationError(ParseTaskReport(R"({"status":"FAILED","reason":{}})"), {"request/body/reason"}));
}

TEST(ParseTaskReport, ALongReasonIsCutTo8KiBNeverRejected) {
  const std::string body = R"({"status":"FAILED","reason":")" + std::string(20000, 'x') + R"("})";
  auto r = ParseTaskReport(body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->reason->size(), kMaxFailureReasonBytes);
}

TEST(CutUtf8, NeverCutsInsideACharacter) {
  const std::string e_acute = "\xC3\xA9";
  EXPECT_EQ(CutUtf8("ab" + e_acute, 3), "ab");
  EXPECT_EQ(CutUtf8("ab" + e_acute, 4), "ab" + e_acute);
  EXPECT_EQ(CutUtf8("abc", 8), "abc");
  EXPECT_EQ(CutUtf8("\xF0\x9F\x98\x80z", 3), "");
}

TEST(ParseHeartbeat, AnEmptyBodyIsAHeartbeatWithNothingSaid) {
  for (std::string_view body : {"", " ", "{}"}) {
    auto h = ParseHeartbeat(body);
    ASSERT_TRUE(h.ok()) << body;
    EXPECT_FALSE(h->claim_id.has_value());
    EXPECT_FALSE(h->lease_seconds.has_value());
  }
}

TEST(ParseHeartbeat, TakesAClaimIdAndALeaseAndRejectsBadOnes) {
  auto h = ParseHeartbeat(R"({"claimId":"33333333-3333-4333-8333-333333333333","leaseSeconds":60})");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->lease_seconds, 60);
  EXPECT_TRUE(IsValidationError(ParseHeartbeat(R"({"leaseSeconds":"60"})"), {"request/body/leaseSeconds"}));
  EXPECT_TRUE(IsValidationError(ParseHeartbeat(R"({"leaseSeconds":1.5})"), {"request/body/leaseSeconds"}));
  EXPECT_TRUE(IsValidationError(ParseHeartbeat(R"({"claimId":"nope"})"), {"request/body/claimId"}));
  EXPECT_TRUE(IsValidationError(ParseHeartbeat("[]"), {"request/body"}));
}

TEST(EncodeTask, AClaimedTaskShowsItsClaimLeaseAndWorker) {
  Task t = MakeTask();
  t.status = TaskStatus::kInProgress;
  t.claim_id = kTaskId;
  t.lease_expires_at = At(2026, 11, 29, 3, 0, 0, 0);
  t.worker_id = "w-1";
  json j = Encode(t);
  EXPECT_EQ(j["claimId"], kTaskId);
  EXPECT_EQ(j["leaseExpiresAt"], "2026-11-29T03:00:00.000Z");
  EXPECT_EQ(j["workerId"], "w-1");
  auto back = DecodeTask(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, t);
}

TEST(EncodeTask, ClaimAndLeaseAreShownOnlyWhileInProgress) {
  Task t = MakeFinishedTask();
  t.claim_id = kTaskId;
  t.lease_expires_at = At(2026, 11, 29, 3, 0, 0, 0);
  t.errors = R"([{"attempt":1,"reason":"x"}])";
  json j = Encode(t);
  EXPECT_FALSE(j.contains("claimId"));
  EXPECT_FALSE(j.contains("leaseExpiresAt"));
  EXPECT_EQ(j["errors"][0]["reason"], "x");
}

// ---- Priority change ----

TEST(ParsePriorityChange, AcceptsEveryPriority) {
  for (Priority p : kAllPriorities) {
    auto r = ParsePriorityChange(json{{"priority", std::string(ToString(p))}}.dump());
    ASSERT_TRUE(IsOk(r)) << ToString(p);
    EXPECT_EQ(ToString(*r), ToString(p));
  }
}

TEST(ParsePriorityChange, RejectsUnknownPriorities) {
  for (const json& bad : {json("URGENT"), json("high"), json(1), json(nullptr)}) {
    EXPECT_TRUE(IsValidationError(ParsePriorityChange(json{{"priority", bad}}.dump()),
                                  {"request/body/priority", "allowed values"}))
        << bad;
  }
}

TEST(ParsePriorityChange, PriorityIsRequired) {
  EXPECT_TRUE(IsValidationError(ParsePriorityChange("{}"), {"request/body", "required property 'priority'"}));
  EXPECT_TRUE(IsValidationError(ParsePriorityChange(R"("HIGH")"), {"request/body", "must be object"}));
  EXPECT_TRUE(IsValidationError(ParsePriorityChange(""), {"request/body"}));
}

// ---- User metadata ----

TEST(ParseUserMetadata, AnyObjectIsReturnedAsCompactJson) {
  auto r = ParseUserMetadata(R"( { "owner" : "me", "tags" : [ 1, 2 ] } )");
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ(*r, R"({"owner":"me","tags":[1,2]})");
  auto empty = ParseUserMetadata("{}");
  ASSERT_TRUE(IsOk(empty));
  EXPECT_EQ(*empty, "{}");
}

TEST(ParseUserMetadata, NonObjectsAreRejected) {
  for (std::string_view bad : {"[]", R"("text")", "1", "null", "true"}) {
    EXPECT_TRUE(IsValidationError(ParseUserMetadata(bad), {"request/body", "must be object"})) << bad;
  }
}

TEST(ParseUserMetadata, MalformedOrEmptyBodyIsRejected) {
  EXPECT_TRUE(IsValidationError(ParseUserMetadata("{"), {"not valid JSON"}));
  EXPECT_TRUE(IsValidationError(ParseUserMetadata(""), {"request/body"}));
}

// ---- notBefore (delayed start) ----

TEST(NotBefore, IsReadOnJobStageAndTaskOfASubmission) {
  json body = ValidJobBody();
  body["notBefore"] = "2030-01-02T03:04:05Z";
  json stage = ValidStageBody();
  stage["notBefore"] = "2030-01-02T04:04:05+01:00";
  json task = ValidTaskBody();
  task["notBefore"] = "2030-01-03T00:00:00.5Z";
  stage["tasks"] = json::array({task, ValidTaskBody()});
  body["stages"] = json::array({stage});
  auto job = ParseNewJob(body.dump());
  ASSERT_TRUE(IsOk(job));
  ASSERT_TRUE(job->not_before.has_value());
  EXPECT_EQ(FormatTime(*job->not_before), "2030-01-02T03:04:05.000Z");
  EXPECT_EQ(FormatTime(*(*job->stages)[0].not_before), "2030-01-02T03:04:05.000Z");
  EXPECT_EQ(FormatTime(*(*job->stages)[0].tasks[0].not_before), "2030-01-03T00:00:00.500Z");
  EXPECT_FALSE((*job->stages)[0].tasks[1].not_before.has_value());
}

TEST(NotBefore, IsReadOnAddStageAndAddTasksAndNullMeansNone) {
  json stage = ValidStageBody();
  stage["notBefore"] = "2030-01-02T03:04:05Z";
  auto s = ParseNewStage(stage.dump());
  ASSERT_TRUE(IsOk(s));
  EXPECT_TRUE(s->not_before.has_value());
  json task = ValidTaskBody();
  task["notBefore"] = nullptr;
  auto t = ParseNewTasks(json::array({task}).dump());
  ASSERT_TRUE(IsOk(t));
  EXPECT_FALSE((*t)[0].not_before.has_value());
}

TEST(NotBefore, ABadValueIsRejectedNamingTheField) {
  for (const json& bad : {json("tomorrow"), json(42), json("2030-02-30T00:00:00Z"), json::object()}) {
    EXPECT_TRUE(IsValidationError(ParseNewJob(With(ValidJobBody(), "notBefore", bad).dump()),
                                  {"request/body/notBefore", "RFC 3339"}))
        << bad.dump();
  }
  json stage = With(ValidStageBody(), "notBefore", "soon");
  EXPECT_TRUE(IsValidationError(ParseNewJob(With(ValidJobBody(), "stages", json::array({stage})).dump()),
                                {"request/body/stages/0/notBefore"}));
  EXPECT_TRUE(IsValidationError(ParseNewTasks(json::array({With(ValidTaskBody(), "notBefore", "x")}).dump()),
                                {"request/body/0/notBefore"}));
}

TEST(NotBefore, NewJobRoundTripsThroughItsEncoderAndParser) {
  NewJob job;
  job.name = "later";
  job.data = "{}";
  job.not_before = *ParseTime("2030-01-02T03:04:05.123Z");
  NewStage stage;
  stage.type = "t";
  stage.data = "{}";
  stage.not_before = *ParseTime("2030-01-02T03:04:06Z");
  NewTask task;
  task.data = "{}";
  task.not_before = *ParseTime("2030-01-02T03:04:07Z");
  stage.tasks.push_back(task);
  job.stages = std::vector<NewStage>{stage};
  auto parsed = ParseNewJob(ToJson(job));
  ASSERT_TRUE(IsOk(parsed));
  EXPECT_EQ(*parsed, job);
}

TEST(NotBefore, IsShownOnJobAndStageAndOnAWaitingTask) {
  Job job = MakeJob();
  job.not_before = *ParseTime("2030-01-02T03:04:05Z");
  EXPECT_NE(ToJson(job).find(R"("notBefore":"2030-01-02T03:04:05.000Z")"), std::string::npos);
  ExpectRoundTrip(job, DecodeJob);
  Stage stage = MakeStage();
  stage.not_before = job.not_before;
  EXPECT_NE(ToJson(stage).find(R"("notBefore")"), std::string::npos);
  ExpectRoundTrip(stage, DecodeStage);
  Task task = MakeTask();
  task.status = TaskStatus::kPending;
  task.not_before = job.not_before;
  EXPECT_NE(ToJson(task).find(R"("notBefore")"), std::string::npos);
  task.status = TaskStatus::kCompleted;
  EXPECT_EQ(ToJson(task).find(R"("notBefore")"), std::string::npos);
  EXPECT_EQ(ToJson(MakeJob()).find("notBefore"), std::string::npos);
}

}  // namespace
}  // namespace jobnik::domain
