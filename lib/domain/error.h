// The one error type of Jobnik: a code from SPEC A.5 plus a human message.
//
// Errors are translated at the edges only: SQLSTATE -> Status in src/jobnikd/store/pg,
// Status -> HTTP in src/jobnikd/http, HTTP -> Status in lib/client. The wire names of the
// codes live in one table (error.cc), read by ToString and ParseErrorCode alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace jobnik::domain {

enum class ErrorCode : std::uint8_t {
  kOk,
  // SPEC A.5 (wire names in ToString)
  kValidation,
  kJobNotFound,
  kStageNotFound,
  kTaskNotFound,
  kJobNotInFiniteState,
  kJobInFiniteState,
  kStageInFiniteState,
  kNotAllowedToAddTasksToInProgressStage,
  kIllegalJobStatusTransition,
  kIllegalStageStatusTransition,
  kIllegalTaskStatusTransition,
  kTaskStatusUpdateFailed,
  // Extensions (409): a report or heartbeat naming a claim that is not the task's current
  // one; a heartbeat on a task whose job is no longer active (paused or aborted).
  kTaskClaimMismatch,
  kJobNotActive,
  // Extensions, idempotency keys: the key was used for a different request (422); the
  // first request with the key is still running (409).
  kIdempotencyKeyReused,
  kIdempotencyKeyInUse,
  // Extension (409): a retry (POST /v1/jobs/{id}/retry, /v1/tasks/{id}/retry) of a job or
  // task that is not FAILED, or of a task whose stage or job cannot be re-opened.
  kNotRetryable,
  // Extension (404): GET /v1/stage-types/{type}/limits of a type that has no limit.
  kLimitNotFound,
  kDatabase,
  kUnknown,
  // Transport-level errors of jobnikd itself (not entity errors).
  kRouteNotFound,     // 404 for an unknown path
  kMethodNotAllowed,  // 405
  kPayloadTooLarge,   // 413
  kUnauthenticated,   // 401: no valid bearer token where one is required (docs/operations.md, "Security")
  kForbidden,         // 403: the token's role may not do this, or a cross-site or rebinding defense refused
  kUnavailable,       // 503: shutting down, database unreachable, pool exhausted
  // Client side: the server answered something that is not the API (not its JSON, a
  // missing field). Never sent by jobnikd.
  kBadResponse,
};

// Wire code, e.g. "JOB_NOT_FOUND".
std::string_view ToString(ErrorCode code);
// The code of a wire name; std::nullopt for a name no ErrorCode has.
std::optional<ErrorCode> ParseErrorCode(std::string_view name);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

// Named constructors, so that one kind of error reads the same wherever it is made.
inline Status ValidationError(std::string message) {
  return {ErrorCode::kValidation, std::move(message)};
}
Status JobNotFound(std::string_view id);
Status StageNotFound(std::string_view id);
Status TaskNotFound(std::string_view id);
inline Status Unavailable(std::string message) {
  return {ErrorCode::kUnavailable, std::move(message)};
}
inline Status BadResponse(std::string message) {
  return {ErrorCode::kBadResponse, std::move(message)};
}

// A value or an error. `Result<T> r = value;` or `Result<T> r = status;`.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  // Precondition: ok().
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  // The error; Status::Ok() when ok().
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

// The Status of a Status or a Result (for JOBNIK_TRY).
inline Status StatusOf(Status s) {
  return s;
}
template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}

}  // namespace jobnik::domain

// Early return of an error: `JOBNIK_TRY(expr);` returns the Status of `expr` (a Status or
// a Result) from the enclosing function when it is not ok.
#define JOBNIK_TRY(expr)                                                                        \
  do {                                                                                          \
    if (auto jobnik_try_status_ = ::jobnik::domain::StatusOf(expr); !jobnik_try_status_.ok()) { \
      return jobnik_try_status_;                                                                \
    }                                                                                           \
  } while (false)

// `JOBNIK_ASSIGN_OR_RETURN(auto x, ResultOfT());` declares (or assigns) x from the value of
// a Result, or returns its Status from the enclosing function.
#define JOBNIK_ASSIGN_OR_RETURN(lhs, expr) \
  JOBNIK_ASSIGN_OR_RETURN_IMPL_(JOBNIK_CONCAT_(jobnik_result_, __LINE__), lhs, expr)
// tmp is a name and lhs a declaration or an lvalue: neither can take parentheses.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define JOBNIK_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
#define JOBNIK_CONCAT_(a, b) JOBNIK_CONCAT_IMPL_(a, b)
#define JOBNIK_CONCAT_IMPL_(a, b) a##b
