// gtest predicates over Status and Result that print the error when they fail.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "domain/error.h"

namespace jobnik::domain {

inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}

// Ok, or a failure naming the code and message.
template <typename R>
::testing::AssertionResult IsOk(const R& r) {
  const Status s = StatusOf(r);
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << ToString(s.code()) << ": " << s.message();
}

// A VALIDATION_ERROR whose message contains every fragment (e.g. the field's path).
template <typename R>
::testing::AssertionResult IsValidationError(const R& r, std::initializer_list<std::string_view> fragments) {
  const Status s = StatusOf(r);
  if (s.ok()) return ::testing::AssertionFailure() << "expected VALIDATION_ERROR, got OK";
  if (s.code() != ErrorCode::kValidation) {
    return ::testing::AssertionFailure() << "expected VALIDATION_ERROR, got " << ToString(s.code()) << ": "
                                         << s.message();
  }
  for (std::string_view f : fragments) {
    if (s.message().find(f) == std::string::npos) {
      return ::testing::AssertionFailure() << "message \"" << s.message() << "\" does not contain \"" << f << "\"";
    }
  }
  return ::testing::AssertionSuccess() << s.message();
}

}  // namespace jobnik::domain
