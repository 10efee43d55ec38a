// gtest predicates over Status and Result that print the error when they fail.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "domain/error.h"

namespace jobnik::domain {

// Ok, or a failure naming the code and message.
template <typename R>
::testing::AssertionResult IsOk(const R& r) {
  const Status s = StatusOf(r);
  if (s.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << ToString(s.code()) << ": " << s.message();
}

// An error with this code whose message contains every fragment (e.g. the field's path).
template <typename R>
::testing::AssertionResult IsError(const R& r, ErrorCode code, std::initializer_list<std::string_view> fragments) {
  const Status s = StatusOf(r);
  if (s.code() != code) {
    return ::testing::AssertionFailure() << "expected " << ToString(code) << ", got " << ToString(s.code()) << ": "
                                         << s.message();
  }
  for (std::string_view f : fragments) {
    if (s.message().find(f) == std::string::npos) {
      return ::testing::AssertionFailure() << "message \"" << s.message() << "\" does not contain \"" << f << "\"";
    }
  }
  return ::testing::AssertionSuccess() << s.message();
}

// A VALIDATION_ERROR (a bad request) naming every fragment.
template <typename R>
::testing::AssertionResult IsValidationError(const R& r, std::initializer_list<std::string_view> fragments) {
  return IsError(r, ErrorCode::kValidation, fragments);
}

// A BAD_RESPONSE (a server answer that is not the API) naming every fragment.
template <typename R>
::testing::AssertionResult IsBadResponse(const R& r, std::initializer_list<std::string_view> fragments) {
  return IsError(r, ErrorCode::kBadResponse, fragments);
}

}  // namespace jobnik::domain
