// The one error type of Jobnik: a code from SPEC A.5 plus a human message.
//
// Errors are translated in exactly two places: SQLSTATE -> Status in
// src/jobnikd/store/pg, and Status -> HTTP in src/jobnikd/http.
#pragma once

#include <cstdint>
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
  kDatabase,
  kUnknown,
  // Transport-level errors of jobnikd itself (not entity errors).
  kRouteNotFound,      // 404 for an unknown path
  kMethodNotAllowed,   // 405
  kPayloadTooLarge,    // 413
  kUnavailable,        // 503: shutting down, database unreachable, pool exhausted
};

// Wire code, e.g. "JOB_NOT_FOUND".
std::string_view ToString(ErrorCode code);

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

// Convenience constructors used across the code base.
inline Status ValidationError(std::string message) { return {ErrorCode::kValidation, std::move(message)}; }

// A value or an error. `Result<T> r = value;` or `Result<T> r = status;`.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
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
  // The error; Status::Ok() when ok().
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace jobnik::domain
