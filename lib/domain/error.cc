#include "domain/error.h"

namespace jobnik::domain {

std::string_view ToString(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk: return "OK";
    case ErrorCode::kValidation: return "VALIDATION_ERROR";
    case ErrorCode::kJobNotFound: return "JOB_NOT_FOUND";
    case ErrorCode::kStageNotFound: return "STAGE_NOT_FOUND";
    case ErrorCode::kTaskNotFound: return "TASK_NOT_FOUND";
    case ErrorCode::kJobNotInFiniteState: return "JOB_NOT_IN_FINITE_STATE";
    case ErrorCode::kJobInFiniteState: return "JOB_IN_FINITE_STATE";
    case ErrorCode::kStageInFiniteState: return "STAGE_IN_FINITE_STATE";
    case ErrorCode::kNotAllowedToAddTasksToInProgressStage:
      return "NOT_ALLOWED_TO_ADD_TASKS_TO_IN_PROGRESS_STAGE";
    case ErrorCode::kIllegalJobStatusTransition: return "ILLEGAL_JOB_STATUS_TRANSITION";
    case ErrorCode::kIllegalStageStatusTransition: return "ILLEGAL_STAGE_STATUS_TRANSITION";
    case ErrorCode::kIllegalTaskStatusTransition: return "ILLEGAL_TASK_STATUS_TRANSITION";
    case ErrorCode::kTaskStatusUpdateFailed: return "TASK_STATUS_UPDATE_FAILED";
    case ErrorCode::kDatabase: return "DATABASE_RELATED_ERROR";
    case ErrorCode::kUnknown: return "UNKNOWN_ERROR";
    case ErrorCode::kRouteNotFound: return "NOT_FOUND";
    case ErrorCode::kMethodNotAllowed: return "METHOD_NOT_ALLOWED";
    case ErrorCode::kPayloadTooLarge: return "PAYLOAD_TOO_LARGE";
    case ErrorCode::kUnavailable: return "SERVICE_UNAVAILABLE";
  }
  return "UNKNOWN_ERROR";
}

}  // namespace jobnik::domain
