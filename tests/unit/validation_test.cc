// Unit tests of lib/domain/validation.h: the request validation primitives. Every failing check
// must be a VALIDATION_ERROR whose message names the offending field by its path (SPEC A.5).
#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "domain/codec.h"
#include "domain/error.h"
#include "domain/validation.h"
#include "matchers.h"

namespace jobnik::domain {
namespace {

using nlohmann::json;

constexpr std::string_view kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr std::string_view kUuid = "123e4567-e89b-12d3-a456-426614174000";

// ---- IsUuid ----

TEST(IsUuid, AcceptsCanonicalLowerUpperAndMixedCase) {
  EXPECT_TRUE(IsUuid(kUuid));
  EXPECT_TRUE(IsUuid("123E4567-E89B-12D3-A456-426614174000"));
  EXPECT_TRUE(IsUuid("123e4567-E89B-12d3-A456-426614174abc"));
  EXPECT_TRUE(IsUuid("00000000-0000-0000-0000-000000000000"));
  EXPECT_TRUE(IsUuid("ffffffff-ffff-ffff-ffff-ffffffffffff"));
}

TEST(IsUuid, RejectsDashesInTheWrongPlaces) {
  EXPECT_FALSE(IsUuid("123e4567e-89b-12d3-a456-426614174000"));  // 36 chars, first dash at 9
  EXPECT_FALSE(IsUuid("123e4567-e89b12d3--a456-426614174000"));
  EXPECT_FALSE(IsUuid("123e-4567-e89b-12d3-a456426614174000"));
  EXPECT_FALSE(IsUuid("123e4567_e89b_12d3_a456_426614174000"));
}

TEST(IsUuid, RejectsWrongLength) {
  EXPECT_FALSE(IsUuid(""));
  EXPECT_FALSE(IsUuid("123e4567e89b12d3a456426614174000"));        // no dashes
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400"));     // 35
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-4266141740000"));   // 37
  EXPECT_FALSE(IsUuid("{123e4567-e89b-12d3-a456-426614174000}"));  // braces
  EXPECT_FALSE(IsUuid(" 123e4567-e89b-12d3-a456-426614174000"));
}

TEST(IsUuid, RejectsNonHexDigits) {
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400g"));
  EXPECT_FALSE(IsUuid("g23e4567-e89b-12d3-a456-426614174000"));
  EXPECT_FALSE(IsUuid("123e4567-e89b-12d3-a456-42661417400 "));
  EXPECT_FALSE(IsUuid("not-a-uuid-at-all-but-36-characters!"));
}

// ---- IsTraceparent ----

TEST(IsTraceparent, AcceptsTheW3CExample) {
  EXPECT_TRUE(IsTraceparent(kTraceparent));
}

TEST(IsTraceparent, AcceptsOtherVersionsAndFlags) {
  EXPECT_TRUE(IsTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
  EXPECT_TRUE(IsTraceparent("fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff"));
}

TEST(IsTraceparent, RejectsUpperCaseHex) {
  EXPECT_FALSE(IsTraceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(IsTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"));
  EXPECT_FALSE(IsTraceparent("0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(IsTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A"));
}

TEST(IsTraceparent, RejectsVersionFF) {
  EXPECT_FALSE(IsTraceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST(IsTraceparent, RejectsAllZeroTraceId) {
  EXPECT_FALSE(IsTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
}

TEST(IsTraceparent, RejectsAllZeroSpanId) {
  EXPECT_FALSE(IsTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
}

TEST(IsTraceparent, RejectsWrongLengths) {
  EXPECT_FALSE(IsTraceparent(""));
  EXPECT_FALSE(IsTraceparent("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"));    // trace id 31
  EXPECT_FALSE(IsTraceparent("00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01"));  // trace id 33
  EXPECT_FALSE(IsTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01"));    // span id 15
  EXPECT_FALSE(IsTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"));    // flags 1
  EXPECT_FALSE(IsTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011"));  // flags 3
  EXPECT_FALSE(IsTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"));      // no flags
  EXPECT_FALSE(IsTraceparent("000-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));  // version 3
}

TEST(IsTraceparent, RejectsWrongSeparatorsAndNonHex) {
  EXPECT_FALSE(IsTraceparent("00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01"));
  EXPECT_FALSE(IsTraceparent("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
  EXPECT_FALSE(IsTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01"));
}

// ---- IsTracestate ----

TEST(IsTracestate, AcceptsSingleMember) {
  EXPECT_TRUE(IsTracestate("rojo=00f067aa0ba902b7"));
}

TEST(IsTracestate, AcceptsMultipleMembers) {
  EXPECT_TRUE(IsTracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
  EXPECT_TRUE(IsTracestate("a=1,b=2,c=3"));
}

TEST(IsTracestate, KeysMayUseLowerCaseDigitsAndUnderscoreDashStarSlash) {
  EXPECT_TRUE(IsTracestate("a_b-c*d/e=1"));
  EXPECT_TRUE(IsTracestate("0vendor=1"));
  EXPECT_TRUE(IsTracestate("z9=1"));
}

TEST(IsTracestate, RejectsKeysOutsideTheCharset) {
  EXPECT_FALSE(IsTracestate("Rojo=1"));
  EXPECT_FALSE(IsTracestate("_a=1"));
  EXPECT_FALSE(IsTracestate("-a=1"));
  EXPECT_FALSE(IsTracestate("*a=1"));
  EXPECT_FALSE(IsTracestate("a.b=1"));
  EXPECT_FALSE(IsTracestate("a@b=1"));
  EXPECT_FALSE(IsTracestate("a b=1"));
  EXPECT_FALSE(IsTracestate("a=1,B=2"));
}

TEST(IsTracestate, ValuesMayHoldAnythingButCommaAndEquals) {
  EXPECT_TRUE(IsTracestate("a=hello world"));
  EXPECT_TRUE(IsTracestate("a=!#$%&()*+-./:;<>?@[]^_{|}~"));
  EXPECT_FALSE(IsTracestate("a=b=c"));
  EXPECT_FALSE(IsTracestate("a=1,b=2=3"));
}

TEST(IsTracestate, RejectsEmptyKeysValuesAndMembers) {
  EXPECT_FALSE(IsTracestate(""));
  EXPECT_FALSE(IsTracestate("a"));
  EXPECT_FALSE(IsTracestate("a="));
  EXPECT_FALSE(IsTracestate("=1"));
  EXPECT_FALSE(IsTracestate("a=1,"));
  EXPECT_FALSE(IsTracestate(",a=1"));
  EXPECT_FALSE(IsTracestate("a=1,,b=2"));
  EXPECT_FALSE(IsTracestate("a=1,b"));
}

std::string Members(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i) s += ',';
    s += "k" + std::to_string(i) + "=v";
  }
  return s;
}

TEST(IsTracestate, AcceptsThirtyTwoMembersButNotThirtyThree) {
  EXPECT_TRUE(IsTracestate(Members(32)));
  EXPECT_FALSE(IsTracestate(Members(33)));
}

TEST(IsTracestate, AcceptsFiveHundredTwelveCharactersButNotMore) {
  const std::string at_limit = "k=" + std::string(510, 'v');
  ASSERT_EQ(at_limit.size(), 512u);
  EXPECT_TRUE(IsTracestate(at_limit));
  EXPECT_FALSE(IsTracestate(at_limit + "v"));
}

// ---- Utf8Length ----

TEST(Utf8Length, CountsCodePointsNotBytes) {
  EXPECT_EQ(Utf8Length(""), 0u);
  EXPECT_EQ(Utf8Length("hello"), 5u);
  EXPECT_EQ(Utf8Length("h\xC3\xA9llo"), 5u);              // héllo: é is 2 bytes
  EXPECT_EQ(Utf8Length("\xE6\x97\xA5\xE6\x9C\xAC"), 2u);  // 日本: 3 bytes each
  EXPECT_EQ(Utf8Length("\xF0\x9F\x98\x80!"), 2u);         // 😀!: 4 bytes + 1
}

// ---- CheckObject ----

TEST(CheckObject, AcceptsObjects) {
  EXPECT_TRUE(IsOk(CheckObject(json::object(), "request/body/data")));
  EXPECT_TRUE(IsOk(CheckObject(json{{"a", 1}}, "request/body/data")));
}

TEST(CheckObject, RejectsEverythingElseNamingThePath) {
  for (const json& v : {json::array(), json("x"), json(1), json(nullptr), json(true)}) {
    EXPECT_TRUE(IsValidationError(CheckObject(v, "request/body/data"), {"request/body/data", "object"})) << v;
  }
}

// ---- CheckAllowedKeys ----

TEST(CheckAllowedKeys, AcceptsOnlyAllowedKeys) {
  EXPECT_TRUE(IsOk(CheckAllowedKeys(json{{"name", "x"}, {"data", 1}}, {"name", "data", "priority"}, "request/body")));
  EXPECT_TRUE(IsOk(CheckAllowedKeys(json::object(), {"name"}, "request/body")));
}

TEST(CheckAllowedKeys, NamesTheUnknownKeyAndThePath) {
  EXPECT_TRUE(IsValidationError(CheckAllowedKeys(json{{"name", "x"}, {"colour", 1}}, {"name"}, "request/body"),
                                {"request/body", "'colour'", "additional properties"}));
}

TEST(CheckAllowedKeys, KeysAreCaseSensitive) {
  EXPECT_TRUE(IsValidationError(CheckAllowedKeys(json{{"Name", "x"}}, {"name"}, "request/body/0"),
                                {"request/body/0", "'Name'"}));
}

// ---- CheckRequired ----

TEST(CheckRequired, AcceptsPresentKeyEvenWhenNull) {
  EXPECT_TRUE(IsOk(CheckRequired(json{{"name", "x"}}, "name", "request/body")));
  EXPECT_TRUE(IsOk(CheckRequired(json{{"name", nullptr}}, "name", "request/body")));
}

TEST(CheckRequired, NamesTheMissingKeyAndThePath) {
  EXPECT_TRUE(IsValidationError(CheckRequired(json{{"data", 1}}, "name", "request/body"),
                                {"request/body", "required", "'name'"}));
}

// ---- CheckString ----

TEST(CheckString, AcceptsLengthsWithinBounds) {
  EXPECT_TRUE(IsOk(CheckString("ab", "request/body/name", 2, 50)));
  EXPECT_TRUE(IsOk(CheckString(std::string(50, 'a'), "request/body/name", 2, 50)));
  EXPECT_TRUE(IsOk(CheckString("", "request/body/type", 0, 50)));
}

TEST(CheckString, RejectsTooShortNamingThePath) {
  EXPECT_TRUE(IsValidationError(CheckString("a", "request/body/name", 2, 50),
                                {"request/body/name", "fewer than 2 characters"}));
}

TEST(CheckString, RejectsTooLongNamingThePath) {
  EXPECT_TRUE(IsValidationError(CheckString(std::string(51, 'a'), "request/body/name", 2, 50),
                                {"request/body/name", "more than 50 characters"}));
}

TEST(CheckString, CountsCodePointsForTheMinimum) {
  // "é" is two bytes but one character.
  EXPECT_TRUE(IsValidationError(CheckString("\xC3\xA9", "request/body/name", 2, 50), {"fewer than 2"}));
}

TEST(CheckString, CountsCodePointsForTheMaximum) {
  std::string fifty, fifty_one;
  for (int i = 0; i < 50; ++i) fifty += "\xC3\xA9";
  fifty_one = fifty + "\xC3\xA9";
  EXPECT_TRUE(IsOk(CheckString(fifty, "request/body/name", 2, 50)));  // 100 bytes, 50 characters
  EXPECT_TRUE(IsValidationError(CheckString(fifty_one, "request/body/name", 2, 50), {"more than 50"}));
}

TEST(CheckString, RejectsNonStringsNamingTheType) {
  EXPECT_TRUE(IsValidationError(CheckString(42, "request/body/name", 2, 50),
                                {"request/body/name", "must be string", "integer"}));
  EXPECT_TRUE(IsValidationError(CheckString(nullptr, "request/body/name", 2, 50), {"must be string", "null"}));
  EXPECT_TRUE(IsValidationError(CheckString(json::array(), "request/body/name", 2, 50), {"must be string"}));
}

// ---- CheckTraceparent / CheckTracestate ----

TEST(CheckTraceparent, AcceptsValid) {
  EXPECT_TRUE(IsOk(CheckTraceparent(std::string(kTraceparent), "request/body/traceparent")));
}

TEST(CheckTraceparent, RejectsPatternMismatchNamingThePath) {
  EXPECT_TRUE(IsValidationError(CheckTraceparent("00-abc", "request/body/traceparent"),
                                {"request/body/traceparent", "pattern"}));
}

TEST(CheckTraceparent, RejectsNonString) {
  EXPECT_TRUE(IsValidationError(CheckTraceparent(1, "request/body/traceparent"),
                                {"request/body/traceparent", "must be string"}));
}

TEST(CheckTracestate, AcceptsValid) {
  EXPECT_TRUE(IsOk(CheckTracestate("rojo=00f067aa0ba902b7", "request/body/tracestate")));
}

TEST(CheckTracestate, RejectsPatternMismatchNamingThePath) {
  EXPECT_TRUE(
      IsValidationError(CheckTracestate("Rojo=1", "request/body/tracestate"), {"request/body/tracestate", "pattern"}));
}

TEST(CheckTracestate, RejectsNonString) {
  EXPECT_TRUE(IsValidationError(CheckTracestate(json::object(), "request/body/tracestate"),
                                {"request/body/tracestate", "must be string"}));
}

// ---- CheckIntegerAtLeast ----

constexpr std::string_view kMaxAttempts = "request/body/0/maxAttempts";

TEST(CheckIntegerAtLeast, AcceptsIntegersAtOrAboveTheMinimum) {
  EXPECT_TRUE(IsOk(CheckIntegerAtLeast(1, kMaxAttempts, 1)));
  EXPECT_TRUE(IsOk(CheckIntegerAtLeast(3, kMaxAttempts, 1)));
  EXPECT_TRUE(IsOk(CheckIntegerAtLeast(2147483647, kMaxAttempts, 1)));
  EXPECT_TRUE(IsOk(CheckIntegerAtLeast(0, "request/query/x", 0)));
}

TEST(CheckIntegerAtLeast, AcceptsIntegralFloatsLikeAJsonSchemaValidator) {
  EXPECT_TRUE(IsOk(CheckIntegerAtLeast(3.0, kMaxAttempts, 1)));
  EXPECT_TRUE(IsOk(CheckIntegerAtLeast(1.0, kMaxAttempts, 1)));
  EXPECT_TRUE(IsOk(CheckIntegerAtLeast(json::parse("1e2"), kMaxAttempts, 1)));
}

TEST(CheckIntegerAtLeast, AcceptsUnsignedJsonNumbers) {
  // nlohmann parses non-negative literals as unsigned.
  const json three = json::parse("3");
  ASSERT_TRUE(three.is_number_unsigned());
  EXPECT_TRUE(IsOk(CheckIntegerAtLeast(three, kMaxAttempts, 1)));
}

TEST(CheckIntegerAtLeast, RejectsBelowTheMinimumNamingIt) {
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(0, kMaxAttempts, 1), {kMaxAttempts, ">= 1"}));
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(-5, kMaxAttempts, 1), {kMaxAttempts, ">= 1"}));
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(0.0, kMaxAttempts, 1), {kMaxAttempts, ">= 1"}));
}

TEST(CheckIntegerAtLeast, RejectsNumericStrings) {
  EXPECT_TRUE(
      IsValidationError(CheckIntegerAtLeast("3", kMaxAttempts, 1), {kMaxAttempts, "must be integer", "string"}));
}

TEST(CheckIntegerAtLeast, RejectsFractions) {
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(3.5, kMaxAttempts, 1), {kMaxAttempts, "must be integer"}));
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(0.5, kMaxAttempts, 1), {kMaxAttempts, "must be integer"}));
}

TEST(CheckIntegerAtLeast, RejectsOtherTypes) {
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(true, kMaxAttempts, 1), {kMaxAttempts, "must be integer"}));
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(nullptr, kMaxAttempts, 1), {kMaxAttempts, "must be integer"}));
  EXPECT_TRUE(
      IsValidationError(CheckIntegerAtLeast(json::array(), kMaxAttempts, 1), {kMaxAttempts, "must be integer"}));
}

TEST(CheckIntegerAtLeast, RejectsValuesThatDoNotFitA32BitInteger) {
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(2147483648LL, kMaxAttempts, 1), {kMaxAttempts, "<= 2147483647"}));
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(json::parse("2147483648"), kMaxAttempts, 1),
                                {kMaxAttempts, "<= 2147483647"}));
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(2147483648.0, kMaxAttempts, 1), {kMaxAttempts, "<= 2147483647"}));
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(json::parse("18446744073709551615"), kMaxAttempts, 1),
                                {kMaxAttempts, "<= 2147483647"}));
}

TEST(CheckIntegerAtLeast, HugeIntegralFloatIsRejectedAsTooLarge) {
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(1e20, kMaxAttempts, 1), {kMaxAttempts, "<= 2147483647"}));
  EXPECT_TRUE(
      IsValidationError(CheckIntegerAtLeast(json::parse("1e20"), kMaxAttempts, 1), {kMaxAttempts, "<= 2147483647"}));
  EXPECT_TRUE(IsValidationError(CheckIntegerAtLeast(-1e20, kMaxAttempts, 1), {kMaxAttempts, ">= 1"}));
}

// ---- CheckUuidParam ----

TEST(CheckUuidParam, AcceptsUuid) {
  EXPECT_TRUE(IsOk(CheckUuidParam(kUuid, "request/params/jobId")));
}

TEST(CheckUuidParam, RejectsNonUuidNamingTheParameter) {
  EXPECT_TRUE(
      IsValidationError(CheckUuidParam("not-a-uuid", "request/params/jobId"), {"request/params/jobId", "uuid"}));
  EXPECT_TRUE(IsValidationError(CheckUuidParam("", "request/params/taskId"), {"request/params/taskId", "uuid"}));
}

// ---- ParseBoolParam ----

TEST(ParseBoolParam, AcceptsTrueAndFalseLeavingTheErrorAlone) {
  Status error;
  EXPECT_EQ(ParseBoolParam("true", "request/query/should_return_stages", &error), std::optional<bool>(true));
  EXPECT_EQ(ParseBoolParam("false", "request/query/should_return_stages", &error), std::optional<bool>(false));
  EXPECT_TRUE(error.ok());
}

TEST(ParseBoolParam, RejectsAnythingElseNamingTheParameter) {
  for (std::string_view bad : {"TRUE", "True", "1", "0", "yes", "", "true ", "falsey"}) {
    Status error;
    EXPECT_FALSE(ParseBoolParam(bad, "request/query/should_return_stages", &error).has_value()) << "'" << bad << "'";
    EXPECT_TRUE(IsValidationError(error, {"request/query/should_return_stages", "boolean"})) << "'" << bad << "'";
  }
}

// ---- Pattern constants ----

TEST(Patterns, TraceparentPatternIsTheV1SchemaPattern) {
  EXPECT_EQ(kTraceparentPattern, R"(^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$)");
}

}  // namespace
}  // namespace jobnik::domain

namespace jobnik::domain {
namespace {

TEST(IsStorableText, AcceptsUtf8AndRejectsNulAndMalformedSequences) {
  EXPECT_TRUE(IsStorableText(""));
  EXPECT_TRUE(IsStorableText("plain"));
  EXPECT_TRUE(IsStorableText("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));  // é € 😀
  EXPECT_FALSE(IsStorableText(std::string("a\0b", 3)));
  EXPECT_FALSE(IsStorableText("\xC3"));              // truncated
  EXPECT_FALSE(IsStorableText("\xFF"));              // not a lead byte
  EXPECT_FALSE(IsStorableText("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsStorableText("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsStorableText("\xF4\x90\x80\x80"));  // past U+10FFFF
}

TEST(IsStorableJson, LooksIntoNestedStringsAndKeys) {
  EXPECT_TRUE(IsStorableJson(json::parse(R"({"a":[1,"x",{"b":"y"}]})")));
  EXPECT_FALSE(IsStorableJson(json::parse(R"({"a":[1,"x\u0000",{"b":"y"}]})")));
  EXPECT_FALSE(IsStorableJson(json::parse(R"({"k\u0000":1})")));
}

TEST(CheckTextParam, NamesTheParameter) {
  EXPECT_TRUE(IsOk(CheckTextParam("resize", "request/params/stageType", 50)));
  EXPECT_TRUE(IsValidationError(CheckTextParam(std::string("a\0", 2), "request/params/stageType", 50),
                                {"request/params/stageType", "U+0000"}));
  EXPECT_TRUE(IsValidationError(CheckTextParam("\xFF", "request/query/job_name", 50), {"request/query/job_name"}));
  EXPECT_TRUE(IsValidationError(CheckTextParam(std::string(51, 'x'), "request/params/stageType", 50),
                                {"request/params/stageType", "50"}));
}

TEST(ParseNewJob, RejectsNulInsideDataNamingTheField) {
  EXPECT_TRUE(
      IsValidationError(ParseNewJob(R"({"name":"ok","data":{"a":"x\u0000y"}})"), {"request/body/data", "U+0000"}));
  EXPECT_TRUE(IsValidationError(ParseNewJob(R"({"name":"o\u0000k","data":{}})"), {"request/body/name", "U+0000"}));
}

}  // namespace
}  // namespace jobnik::domain
