// The error primitives: wire names of the codes, named constructors, early returns.
#include <gtest/gtest.h>

#include <optional>

#include "domain/error.h"
#include "matchers.h"

namespace jobnik::domain {

TEST(ErrorCodes, EveryCodeReadsBackFromItsWireName) {
  for (int i = 0; i <= static_cast<int>(ErrorCode::kBadResponse); ++i) {
    const auto code = static_cast<ErrorCode>(i);
    const auto name = ToString(code);
    ASSERT_NE(name, "") << i;
    EXPECT_EQ(ParseErrorCode(name), code) << name;
  }
  EXPECT_EQ(ParseErrorCode("NO_SUCH_CODE"), std::nullopt);
  EXPECT_EQ(ParseErrorCode("job_not_found"), std::nullopt);  // wire names are exact
}

TEST(ErrorCodes, NotFoundFactoriesNameTheEntity) {
  EXPECT_TRUE(IsError(JobNotFound("j1"), ErrorCode::kJobNotFound, {"Job j1 not found"}));
  EXPECT_TRUE(IsError(StageNotFound("s1"), ErrorCode::kStageNotFound, {"Stage s1 not found"}));
  EXPECT_TRUE(IsError(TaskNotFound("t1"), ErrorCode::kTaskNotFound, {"Task t1 not found"}));
}

namespace {
Result<int> Half(int n) {
  if (n % 2) return ValidationError("odd");
  return n / 2;
}
Result<int> Quarter(int n) {
  JOBNIK_ASSIGN_OR_RETURN(const int half, Half(n));
  JOBNIK_ASSIGN_OR_RETURN(auto quarter, Half(half));
  return quarter;
}
Status BothEven(int a, int b) {
  JOBNIK_TRY(Half(a));
  JOBNIK_TRY(Half(b).status());
  return Status::Ok();
}
}  // namespace

TEST(EarlyReturn, AssignOrReturnPassesValuesOnAndStopsAtTheFirstError) {
  ASSERT_TRUE(IsOk(Quarter(8)));
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_TRUE(IsValidationError(Quarter(6), {"odd"}));  // 6 -> 3 -> odd
  EXPECT_TRUE(IsValidationError(Quarter(5), {"odd"}));
}

TEST(EarlyReturn, TryReturnsTheFirstErrorOfAStatusOrAResult) {
  EXPECT_TRUE(IsOk(BothEven(2, 4)));
  EXPECT_TRUE(IsValidationError(BothEven(1, 4), {"odd"}));
  EXPECT_TRUE(IsValidationError(BothEven(2, 3), {"odd"}));
}

}  // namespace jobnik::domain
