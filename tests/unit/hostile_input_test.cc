// Unit tests of what hostile request input does to the domain layer (issue #9, items 1-5):
// nesting depth, number overflow, NUL bytes, invalid UTF-8 in error bodies, extreme times.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "domain/codec.h"
#include "domain/error.h"
#include "domain/time.h"
#include "domain/validation.h"
#include "matchers.h"

namespace jobnik::domain {
namespace {

using nlohmann::json;

// {"name":"ab","data":{"x": [[[...]]] }} nesting `depth` levels in all (the body's own
// object and `data` count).
std::string JobNesting(std::size_t depth) {
  const std::size_t arrays = depth - 2;
  return R"({"name":"ab","data":{"x":)" + std::string(arrays, '[') + std::string(arrays, ']') + "}}";
}

// ---- Item 1: nesting depth ----

TEST(ParseJsonBody, AcceptsNestingAtTheLimit) {
  EXPECT_TRUE(IsOk(ParseNewJob(JobNesting(kMaxJsonDepth))));
  EXPECT_TRUE(IsOk(ParseJsonBody(std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']'))));
}

TEST(ParseJsonBody, RejectsNestingOneLevelPastTheLimitNamingIt) {
  EXPECT_TRUE(IsValidationError(ParseNewJob(JobNesting(kMaxJsonDepth + 1)),
                                {"request/body", "deeper than the limit of 512 levels"}));
}

TEST(ParseJsonBody, RejectsTheIssuesFiftyKilobyteBodyWithoutRecursing) {
  const std::size_t n = 25'000;
  const std::string body = R"({"name":"ab","data":{"x":)" + std::string(n, '[') + std::string(n, ']') + "}}";
  EXPECT_TRUE(IsValidationError(ParseNewJob(body), {"512"}));
  // Far deeper than any stack: still a clean error (objects too, and unclosed).
  std::string objects;
  for (int i = 0; i < 200'000; ++i) objects += R"({"a":)";
  EXPECT_TRUE(IsValidationError(ParseUserMetadata(objects), {"512"}));
}

TEST(ParseJsonBody, BracketsInsideStringsDoNotCount) {
  const std::string deep_text = std::string(2 * kMaxJsonDepth, '[') + "\\\"" + std::string(2 * kMaxJsonDepth, '{');
  EXPECT_TRUE(IsOk(ParseUserMetadata(R"({"s":")" + deep_text + R"("})")));
}

TEST(ParseJsonBody, EveryBodyRouteIsBounded) {
  const std::string deep = std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']');
  const std::string in_object = R"({"data":)" + deep + "}";
  EXPECT_TRUE(IsValidationError(ParseNewStage(in_object), {"512"}));
  EXPECT_TRUE(IsValidationError(ParseNewTasks("[" + in_object + "]"), {"512"}));
  EXPECT_TRUE(IsValidationError(ParseUserMetadata(in_object), {"512"}));
  EXPECT_TRUE(IsValidationError(ParseJobStatusChange(in_object), {"512"}));
  EXPECT_TRUE(IsValidationError(ParseStageStatusChange(in_object), {"512"}));
  EXPECT_TRUE(IsValidationError(ParseTaskStatusChange(in_object), {"512"}));
  EXPECT_TRUE(IsValidationError(ParsePriorityChange(in_object), {"512"}));
}

// ---- Item 2: numbers ----

TEST(ParseJsonBody, NumberOverflowIsAValidationError) {
  for (const char* n : {"1e400", "-1e400", "1e999999", "123456789e999"}) {
    EXPECT_TRUE(IsValidationError(ParseNewJob(std::string(R"({"name":"ab","data":{"x":)") + n + "}}"),
                                  {"request/body", "number out of range", n}))
        << n;
    EXPECT_TRUE(IsValidationError(ParseUserMetadata(std::string(R"({"x":)") + n + "}"), {"out of range"})) << n;
  }
}

TEST(ParseJsonBody, HugeIntegersBecomeFloatsThatStillSerialize) {
  auto md = ParseUserMetadata(R"({"big":123456789012345678901234567890,"neg":-123456789012345678901234567890})");
  ASSERT_TRUE(IsOk(md));
  const json back = json::parse(*md);
  EXPECT_TRUE(back["big"].is_number_float());
  EXPECT_DOUBLE_EQ(back["big"].get<double>(), 1.2345678901234568e29);
  EXPECT_TRUE(IsOk(ParseUserMetadata(R"({"tiny":1e-400,"max":1.7976931348623157e308})")));
}

TEST(ParseJsonBody, HugeMaxAttemptsIsAValidationErrorNotAnOverflow) {
  EXPECT_TRUE(IsValidationError(ParseNewTasks(R"([{"data":{},"maxAttempts":1e300}])"),
                                {"request/body/0/maxAttempts", "2147483647"}));
  EXPECT_TRUE(IsValidationError(ParseNewTasks(R"([{"data":{},"maxAttempts":1e400}])"), {"out of range"}));
}

// ---- Item 5: NUL bytes ----

TEST(ParseJsonBody, RejectsANulByteFollowedByGarbage) {
  const std::string body = std::string(R"({"name":"ab","data":{}})") + '\0' + "garbage";
  EXPECT_TRUE(IsValidationError(ParseNewJob(body), {"request/body", "NUL byte at offset 23"}));
  EXPECT_TRUE(IsValidationError(ParseUserMetadata(std::string("{}\0", 3)), {"NUL"}));
  EXPECT_TRUE(IsValidationError(ParseTaskStatusChange(std::string(R"({"status":"COMPLETED"})") + '\0'), {"NUL"}));
}

TEST(ParseJsonBody, RejectsANulByteInsideAStringEvenAfterABackslash) {
  EXPECT_TRUE(IsValidationError(ParseUserMetadata(std::string("{\"a\":\"x\0\"}", 10)), {"NUL"}));
  EXPECT_TRUE(IsValidationError(ParseUserMetadata(std::string("{\"a\":\"x\\\0\"}", 11)), {"NUL"}));
}

TEST(ParseJsonBody, LoneSurrogatesAreSyntaxErrors) {
  EXPECT_TRUE(IsValidationError(ParseUserMetadata(R"({"a":"\ud800"})"), {"not valid JSON", "surrogate"}));
  EXPECT_TRUE(IsValidationError(ParseUserMetadata(R"({"a":"\udc00x"})"), {"not valid JSON"}));
  EXPECT_TRUE(IsOk(ParseUserMetadata(R"({"a":"\ud83d\ude00 \uffff \ufffe"})")));
}

// ---- Item 4: invalid UTF-8 in error bodies ----

std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

TEST(AppendJsonString, ReplacesEachIllFormedSubsequenceWithOneReplacementCharacter) {
  const std::string r = "\xEF\xBF\xBD";  // U+FFFD
  EXPECT_EQ(Quote("a\xFF"
                  "b"),
            "\"a" + r + "b\"");
  EXPECT_EQ(Quote("\x80\x80"), "\"" + r + r + "\"");                  // two stray continuation bytes
  EXPECT_EQ(Quote("\xE6\x97"), "\"" + r + "\"");                      // truncated at the end
  EXPECT_EQ(Quote("\xE6\x97x"), "\"" + r + "x\"");                    // truncated before ASCII
  EXPECT_EQ(Quote("\xC0\xAF"), "\"" + r + r + "\"");                  // overlong '/'
  EXPECT_EQ(Quote("\xED\xA0\x80"), "\"" + r + r + r + "\"");          // surrogate U+D800
  EXPECT_EQ(Quote("\xF4\x90\x80\x80"), "\"" + r + r + r + r + "\"");  // past U+10FFFF
  EXPECT_EQ(Quote("\xF0\x9F\x98"), "\"" + r + "\"");                  // emoji missing its last byte
  EXPECT_EQ(Quote("ok \xF0\x9F\x98\x80 \xEF\xBF\xBF"), "\"ok \xF0\x9F\x98\x80 \xEF\xBF\xBF\"");  // valid passes
}

TEST(ErrorBody, IsValidJsonWhateverBytesTheMessageEchoes) {
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
  for (const std::string& message :
       {std::string("No route for GET /v1/\xFF\xFE"), std::string("Unknown query parameter '\xC3('"), every_byte,
        std::string("\xED\xA0\x80\xF8\x88\x80\x80\x80")}) {
    const std::string body = ErrorBody(ValidationError(message));
    const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << body;
    EXPECT_EQ(j["code"], "VALIDATION_ERROR");  // the parser accepts only valid UTF-8
  }
}

TEST(ErrorBody, ASyntaxErrorOnInvalidUtf8IsValidJson) {
  auto r = ParseNewJob("{\"name\":\"a\xFF\xFE\",\"data\":{}}");
  ASSERT_FALSE(r.ok());
  const json j = json::parse(ErrorBody(r.status()), nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << ErrorBody(r.status());
  EXPECT_NE(j["message"].get<std::string>().find("not valid JSON"), std::string::npos);
}

TEST(Utf8SequenceAt, ReportsLengthAndValidity) {
  bool valid = false;
  EXPECT_EQ(Utf8SequenceAt("a", 0, &valid), 1u);
  EXPECT_TRUE(valid);
  EXPECT_EQ(Utf8SequenceAt("\xC3\xA9", 0, &valid), 2u);
  EXPECT_TRUE(valid);
  EXPECT_EQ(Utf8SequenceAt("\xF0\x9F\x98\x80", 0, &valid), 4u);
  EXPECT_TRUE(valid);
  EXPECT_EQ(Utf8SequenceAt("\xE0\x80\x80", 0, &valid), 1u);  // overlong: E0 needs A0..BF next
  EXPECT_FALSE(valid);
  EXPECT_EQ(Utf8SequenceAt("\xF0\x9F\x98"
                           "a",
                           0, &valid),
            3u);
  EXPECT_FALSE(valid);
}

// ---- Item 3 (and 16): times in query parameters ----

TEST(ParseTime, RejectsInstantsOutsideYearsOneToNineThousandNineHundredNinetyNine) {
  EXPECT_FALSE(ParseTime("0000-06-01T00:00:00Z"));
  EXPECT_FALSE(ParseTime("0001-01-01T00:00:00+01:00"));  // 0000-12-31T23:00Z
  EXPECT_FALSE(ParseTime("9999-12-31T23:30:00-01:00"));  // 10000-01-01T00:30Z
  EXPECT_TRUE(ParseTime("0001-01-01T00:00:00Z"));
  EXPECT_TRUE(ParseTime("0001-01-01T00:00:00-01:00"));
  EXPECT_TRUE(ParseTime("9999-12-31T23:59:59.999999Z"));
  EXPECT_EQ(*ParseTime("0001-01-01T00:00:00Z"), kMinTime);
  EXPECT_EQ(*ParseTime("9999-12-31T23:59:59.999999Z"), kMaxTime);
}

TEST(ParseTimeParam, OutOfRangeNamesTheParameterAndTheRange) {
  for (const char* v :
       {"0000-06-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01", "0000-01-01"}) {
    EXPECT_TRUE(IsValidationError(ParseTimeParam(v, "request/query/from_date"),
                                  {"request/query/from_date", "0001-01-01T00:00:00Z", "9999-12-31"}))
        << v;
  }
}

TEST(ParseTimeParam, BadFormatNamesTheParameterAndTheFormats) {
  EXPECT_TRUE(IsValidationError(ParseTimeParam("yesterday", "request/query/end_date"),
                                {"request/query/end_date", "date-time", "date"}));
  EXPECT_TRUE(IsValidationError(ParseTimeParam("2026-02-30", "request/query/end_date"), {"end_date"}));
  EXPECT_TRUE(IsValidationError(ParseTimeParam("2026-11-30T", "request/query/end_date"), {"end_date"}));
}

TEST(ParseTimeParam, ADateAloneIsMidnightUtc) {
  auto t = ParseTimeParam("2026-11-30", "request/query/from_date");
  ASSERT_TRUE(IsOk(t));
  EXPECT_EQ(FormatTime(*t), "2026-11-30T00:00:00.000Z");
  EXPECT_EQ(ParseTimeParam("0001-01-01", "p").value(), kMinTime);
  EXPECT_TRUE(IsOk(ParseTimeParam("9999-12-31", "p")));
}

TEST(ParseTimeParam, ADateAloneAsARangesEndIsTheLastInstantOfThatDay) {
  auto t = ParseTimeParam("2026-11-30", "request/query/end_date", DateBound::kEndOfDay);
  ASSERT_TRUE(IsOk(t));
  EXPECT_TRUE(*t == std::chrono::sys_days{std::chrono::year{2026} / 12 / 1} - std::chrono::microseconds{1})
      << FormatTime(*t);
  EXPECT_EQ(ParseTimeParam("9999-12-31", "p", DateBound::kEndOfDay).value(), kMaxTime);
  // A full time is what it says, whichever end of a range it bounds.
  EXPECT_EQ(FormatTime(ParseTimeParam("2026-11-30T08:00:00Z", "p", DateBound::kEndOfDay).value()),
            "2026-11-30T08:00:00.000Z");
}

TEST(ParseTimeParam, AcceptsWhatParseTimeAccepts) {
  auto t = ParseTimeParam("2026-11-30T08:00:00+02:00", "request/query/from_date");
  ASSERT_TRUE(IsOk(t));
  EXPECT_EQ(FormatTime(*t), "2026-11-30T06:00:00.000Z");
}

}  // namespace
}  // namespace jobnik::domain
