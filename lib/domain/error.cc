#include "domain/error.h"

#include <fmt/format.h>
#include <array>
#include <utility>

namespace jobnik::domain {
namespace {

// Every code with its wire name: the one table ToString and ParseErrorCode read.
constexpr std::array<std::pair<ErrorCode, std::string_view>, 28> kCodeNames{{
    {ErrorCode::kOk, "OK"},
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
    {ErrorCode::kTaskClaimMismatch, "TASK_CLAIM_MISMATCH"},
    {ErrorCode::kJobNotActive, "JOB_NOT_ACTIVE"},
    {ErrorCode::kIdempotencyKeyReused, "IDEMPOTENCY_KEY_REUSED"},
    {ErrorCode::kIdempotencyKeyInUse, "IDEMPOTENCY_KEY_IN_USE"},
    {ErrorCode::kNotRetryable, "NOT_RETRYABLE"},
    {ErrorCode::kLimitNotFound, "LIMIT_NOT_FOUND"},
    {ErrorCode::kDatabase, "DATABASE_RELATED_ERROR"},
    {ErrorCode::kUnknown, "UNKNOWN_ERROR"},
    {ErrorCode::kRouteNotFound, "NOT_FOUND"},
    {ErrorCode::kMethodNotAllowed, "METHOD_NOT_ALLOWED"},
    {ErrorCode::kPayloadTooLarge, "PAYLOAD_TOO_LARGE"},
    {ErrorCode::kUnauthenticated, "UNAUTHENTICATED"},
    {ErrorCode::kForbidden, "FORBIDDEN"},
    {ErrorCode::kUnavailable, "SERVICE_UNAVAILABLE"},
    {ErrorCode::kBadResponse, "BAD_RESPONSE"},
}};

}  // namespace

std::string_view ToString(ErrorCode code) {
  for (const auto& [c, name] : kCodeNames) {
    if (c == code) return name;
  }
  return "UNKNOWN_ERROR";
}

std::optional<ErrorCode> ParseErrorCode(std::string_view name) {
  for (const auto& [c, n] : kCodeNames) {
    if (n == name) return c;
  }
  return std::nullopt;
}

Status JobNotFound(std::string_view id) {
  return {ErrorCode::kJobNotFound, fmt::format("Job {} not found", id)};
}
Status StageNotFound(std::string_view id) {
  return {ErrorCode::kStageNotFound, fmt::format("Stage {} not found", id)};
}
Status TaskNotFound(std::string_view id) {
  return {ErrorCode::kTaskNotFound, fmt::format("Task {} not found", id)};
}

}  // namespace jobnik::domain
