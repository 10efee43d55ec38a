// HttpStatusOf: the HTTP status code of each domain::ErrorCode (see errors.h).
#include "http/errors.h"

namespace jobnik::http {

using domain::ErrorCode;
using domain::Status;

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kOk:
      return 200;
    case ErrorCode::kValidation:
    case ErrorCode::kJobNotInFiniteState:
    case ErrorCode::kJobInFiniteState:
    case ErrorCode::kStageInFiniteState:
    case ErrorCode::kNotAllowedToAddTasksToInProgressStage:
    case ErrorCode::kIllegalJobStatusTransition:
    case ErrorCode::kIllegalStageStatusTransition:
    case ErrorCode::kIllegalTaskStatusTransition:
      return 400;
    case ErrorCode::kJobNotFound:
    case ErrorCode::kStageNotFound:
    case ErrorCode::kTaskNotFound:
    case ErrorCode::kLimitNotFound:
    case ErrorCode::kRouteNotFound:
      return 404;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kForbidden:
      return 403;
    case ErrorCode::kMethodNotAllowed:
      return 405;
    case ErrorCode::kTaskStatusUpdateFailed:
    case ErrorCode::kTaskClaimMismatch:
    case ErrorCode::kJobNotActive:
    case ErrorCode::kIdempotencyKeyInUse:
    case ErrorCode::kNotRetryable:
      return 409;
    case ErrorCode::kIdempotencyKeyReused:
      return 422;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kBadResponse:  // a client-side code; jobnikd never answers with it
      return 502;
    case ErrorCode::kDatabase:
    case ErrorCode::kUnknown:
      return 500;
  }
  return 500;
}

}  // namespace jobnik::http
