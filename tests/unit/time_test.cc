// Unit tests of lib/domain/time.h: RFC 3339 times on the wire (SPEC A.1: UTC, milliseconds, 'Z').
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "domain/model.h"
#include "domain/time.h"

namespace jobnik::domain {
namespace {

// A UTC instant from its calendar fields; `us` is microseconds within the second.
Timestamp At(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0, long long us = 0) {
  using namespace std::chrono;
  return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s} + microseconds{us};
}

// Readable failure output for timestamps (gtest would print raw bytes).
std::string Show(std::optional<Timestamp> t) {
  if (!t) return "nullopt";
  return FormatTime(*t) + " (" + std::to_string(t->time_since_epoch().count()) + "us)";
}

// ---- FormatTime ----

TEST(FormatTime, WritesIsoUtcWithMillisecondsAndZ) {
  EXPECT_EQ(FormatTime(At(2026, 11, 29, 2, 8, 43, 123'000)), "2026-11-29T02:08:43.123Z");
}

TEST(FormatTime, EpochIsAllZeros) {
  EXPECT_EQ(FormatTime(Timestamp{}), "1970-01-01T00:00:00.000Z");
}

TEST(FormatTime, PadsEveryFieldWithZeros) {
  EXPECT_EQ(FormatTime(At(2026, 1, 2, 3, 4, 5, 6'000)), "2026-01-02T03:04:05.006Z");
  EXPECT_EQ(FormatTime(At(2026, 1, 2, 3, 4, 5, 60'000)), "2026-01-02T03:04:05.060Z");
}

TEST(FormatTime, TruncatesMicrosecondsRatherThanRounding) {
  EXPECT_EQ(FormatTime(At(2026, 11, 29, 2, 8, 43, 123'999)), "2026-11-29T02:08:43.123Z");
  EXPECT_EQ(FormatTime(At(2026, 11, 29, 2, 8, 43, 999)), "2026-11-29T02:08:43.000Z");
}

TEST(FormatTime, TruncationNeverCarriesIntoTheNextYear) {
  EXPECT_EQ(FormatTime(At(2026, 12, 31, 23, 59, 59, 999'999)), "2026-12-31T23:59:59.999Z");
}

TEST(FormatTime, InstantsBeforeTheEpochAreFlooredNotNegative) {
  EXPECT_EQ(FormatTime(Timestamp{} - std::chrono::microseconds{1}), "1969-12-31T23:59:59.999Z");
}

TEST(FormatTime, LeapDay) {
  EXPECT_EQ(FormatTime(At(2024, 2, 29, 12)), "2024-02-29T12:00:00.000Z");
}

TEST(FormatTime, IsAlwaysTwentyFourCharacters) {
  for (Timestamp t : {Timestamp{}, At(2000, 1, 1), At(2026, 11, 29, 23, 59, 59, 999'999), At(9999, 12, 31)}) {
    EXPECT_EQ(FormatTime(t).size(), 24u) << FormatTime(t);
  }
}

TEST(FormatTime, TheLimitsOfStoredTimes) {
  EXPECT_EQ(FormatTime(kMinTime), "0001-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTime(kMaxTime), "9999-12-31T23:59:59.999Z");
}

TEST(FormatTime, YearsOutsideFourDigitsAreStillPrinted) {
  EXPECT_EQ(FormatTime(At(10000, 1, 2, 3, 4, 5, 6'000)), "10000-01-02T03:04:05.006Z");
  EXPECT_EQ(FormatTime(At(-1, 1, 1)), "-001-01-01T00:00:00.000Z");
}

TEST(AppendTime, AppendsToExistingText) {
  std::string out = "at ";
  AppendTime(out, At(2026, 11, 29, 2, 8, 43, 123'000));
  EXPECT_EQ(out, "at 2026-11-29T02:08:43.123Z");
}

// ---- ParseTime: accepted ----

struct Accepted {
  std::string name;
  std::string input;
  Timestamp expected;
};

void PrintTo(const Accepted& c, std::ostream* os) {
  *os << '"' << c.input << '"';
}

class ParseTimeAccepts : public ::testing::TestWithParam<Accepted> {};

TEST_P(ParseTimeAccepts, ToTheRightInstant) {
  const auto t = ParseTime(GetParam().input);
  ASSERT_TRUE(t.has_value()) << GetParam().input;
  EXPECT_TRUE(*t == GetParam().expected) << GetParam().input << " parsed as " << Show(t) << ", expected "
                                         << Show(GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3339, ParseTimeAccepts,
    ::testing::Values(
        Accepted{"Canonical", "2026-11-29T02:08:43.123Z", At(2026, 11, 29, 2, 8, 43, 123'000)},
        Accepted{"NoFraction", "2026-11-29T02:08:43Z", At(2026, 11, 29, 2, 8, 43)},
        Accepted{"LowerCaseTAndZ", "2026-11-29t02:08:43.123z", At(2026, 11, 29, 2, 8, 43, 123'000)},
        Accepted{"SpaceSeparator", "2026-11-29 02:08:43.123Z", At(2026, 11, 29, 2, 8, 43, 123'000)},
        Accepted{"PlusTwoHoursShiftsBack", "2026-11-29T04:08:43.123+02:00", At(2026, 11, 29, 2, 8, 43, 123'000)},
        Accepted{"MinusHalfHourShiftsForward", "2026-11-29T01:38:43.123-00:30", At(2026, 11, 29, 2, 8, 43, 123'000)},
        Accepted{"ZeroOffset", "2026-11-29T02:08:43+00:00", At(2026, 11, 29, 2, 8, 43)},
        Accepted{"OffsetCrossesBackIntoFebruary", "2026-03-01T01:00:00+02:00", At(2026, 2, 28, 23)},
        Accepted{"OffsetCrossesForwardIntoNewYear", "2025-12-31T23:00:00-01:00", At(2026, 1, 1)},
        Accepted{"LargestOffset", "2026-01-02T00:00:00+23:59", At(2026, 1, 1, 0, 1)},
        Accepted{"OneDigitFraction", "2026-01-01T00:00:00.1Z", At(2026, 1, 1, 0, 0, 0, 100'000)},
        Accepted{"TwoDigitFraction", "2026-01-01T00:00:00.12Z", At(2026, 1, 1, 0, 0, 0, 120'000)},
        Accepted{"SixDigitFraction", "2026-01-01T00:00:00.123456Z", At(2026, 1, 1, 0, 0, 0, 123'456)},
        Accepted{"SevenDigitFractionKeptToMicros", "2026-01-01T00:00:00.1234567Z", At(2026, 1, 1, 0, 0, 0, 123'456)},
        Accepted{"NineDigitFractionKeptToMicros", "2026-01-01T00:00:00.999999999Z", At(2026, 1, 1, 0, 0, 0, 999'999)},
        Accepted{"FractionWithOffset", "2026-01-01T02:00:00.5+02:00", At(2026, 1, 1, 0, 0, 0, 500'000)},
        Accepted{"LeapDay", "2024-02-29T00:00:00Z", At(2024, 2, 29)},
        Accepted{"LeapDayOfYear2000", "2000-02-29T00:00:00Z", At(2000, 2, 29)},
        Accepted{"EndOfDay", "2026-12-31T23:59:59.999Z", At(2026, 12, 31, 23, 59, 59, 999'000)},
        Accepted{"Epoch", "1970-01-01T00:00:00Z", Timestamp{}}),
    [](const ::testing::TestParamInfo<Accepted>& p) { return p.param.name; });

TEST(ParseTime, LeapSecondIsFoldedIntoTheLastSecond) {
  const auto t = ParseTime("2026-12-31T23:59:60Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(FormatTime(*t), "2026-12-31T23:59:59.000Z");
}

// ---- ParseTime: rejected ----

struct Rejected {
  std::string name;
  std::string input;
};

void PrintTo(const Rejected& c, std::ostream* os) {
  *os << '"' << c.input << '"';
}

class ParseTimeRejects : public ::testing::TestWithParam<Rejected> {};

TEST_P(ParseTimeRejects, WithNullopt) {
  const auto t = ParseTime(GetParam().input);
  EXPECT_FALSE(t.has_value()) << "'" << GetParam().input << "' parsed as " << Show(t);
}

INSTANTIATE_TEST_SUITE_P(
    Invalid, ParseTimeRejects,
    ::testing::Values(
        Rejected{"Empty", ""}, Rejected{"NotATime", "now"}, Rejected{"DateOnly", "2026-01-01"},
        Rejected{"February30", "2026-02-30T00:00:00Z"}, Rejected{"February29InCommonYear", "2026-02-29T00:00:00Z"},
        Rejected{"February29In2100", "2100-02-29T00:00:00Z"}, Rejected{"April31", "2026-04-31T00:00:00Z"},
        Rejected{"Month13", "2026-13-01T00:00:00Z"}, Rejected{"Month0", "2026-00-10T00:00:00Z"},
        Rejected{"Day0", "2026-01-00T00:00:00Z"}, Rejected{"Day32", "2026-01-32T00:00:00Z"},
        Rejected{"Hour24", "2026-01-01T24:00:00Z"}, Rejected{"Minute60", "2026-01-01T23:60:00Z"},
        Rejected{"Second61", "2026-01-01T23:59:61Z"}, Rejected{"MissingOffset", "2026-01-01T00:00:00"},
        Rejected{"MissingOffsetAfterFraction", "2026-01-01T00:00:00.123"},
        Rejected{"TrailingGarbageAfterZ", "2026-01-01T00:00:00Zjunk"},
        Rejected{"TrailingSpace", "2026-01-01T00:00:00Z "}, Rejected{"LeadingSpace", " 2026-01-01T00:00:00Z"},
        Rejected{"TrailingGarbageAfterOffset", "2026-01-01T00:00:00+02:00x"},
        Rejected{"TenDigitFraction", "2026-01-01T00:00:00.1234567890Z"},
        Rejected{"EmptyFraction", "2026-01-01T00:00:00.Z"}, Rejected{"CommaFraction", "2026-01-01T00:00:00,123Z"},
        Rejected{"OffsetWithoutColon", "2026-01-01T00:00:00+0200"},
        Rejected{"OffsetHoursOnly", "2026-01-01T00:00:00+02"}, Rejected{"OffsetTruncated", "2026-01-01T00:00:00+02:0"},
        Rejected{"OffsetHour24", "2026-01-01T00:00:00+24:00"}, Rejected{"OffsetMinute60", "2026-01-01T00:00:00+02:60"},
        Rejected{"OffsetLetters", "2026-01-01T00:00:00+ab:cd"}, Rejected{"UtcName", "2026-01-01T00:00:00UTC"},
        Rejected{"WrongSeparator", "2026-01-01X00:00:00Z"}, Rejected{"SlashDate", "2026/01/01T00:00:00Z"},
        Rejected{"TwoDigitYear", "26-01-01T00:00:00Z"}, Rejected{"OneDigitMonth", "2026-1-01T00:00:00Z"},
        Rejected{"NoSeconds", "2026-01-01T00:00Z"}, Rejected{"LetterInHour", "2026-01-01T0a:00:00Z"},
        Rejected{"NegativeYear", "-026-01-01T00:00:00Z"}),
    [](const ::testing::TestParamInfo<Rejected>& p) { return p.param.name; });

// ---- Round trips ----

TEST(TimeRoundTrip, CanonicalTextSurvivesParseThenFormat) {
  for (const std::string s : {"2026-11-29T02:08:43.123Z", "1970-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z",
                              "1999-12-31T00:00:00.001Z", "2038-01-19T03:14:08.000Z"}) {
    const auto t = ParseTime(s);
    ASSERT_TRUE(t.has_value()) << s;
    EXPECT_EQ(FormatTime(*t), s);
  }
}

TEST(TimeRoundTrip, OtherSpellingsFormatToTheCanonicalUtcText) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"2026-11-29T04:08:43.123+02:00", "2026-11-29T02:08:43.123Z"},
      {"2026-11-29t02:08:43z", "2026-11-29T02:08:43.000Z"},
      {"2026-11-29 02:08:43.1234567Z", "2026-11-29T02:08:43.123Z"},
      {"2026-11-28T23:08:43.9-03:00", "2026-11-29T02:08:43.900Z"},
  };
  for (const auto& [in, out] : cases) {
    const auto t = ParseTime(in);
    ASSERT_TRUE(t.has_value()) << in;
    EXPECT_EQ(FormatTime(*t), out) << in;
  }
}

TEST(TimeRoundTrip, MillisecondInstantsSurviveFormatThenParse) {
  for (Timestamp t : {Timestamp{}, At(2026, 11, 29, 2, 8, 43, 123'000), At(2000, 2, 29, 12, 0, 0, 1'000),
                      At(2099, 12, 31, 23, 59, 59, 999'000)}) {
    const auto back = ParseTime(FormatTime(t));
    ASSERT_TRUE(back.has_value()) << FormatTime(t);
    EXPECT_TRUE(*back == t) << Show(back) << " vs " << Show(t);
  }
}

TEST(TimeRoundTrip, SubMillisecondPartIsLostByFormatting) {
  const Timestamp t = At(2026, 11, 29, 2, 8, 43, 123'456);
  const auto back = ParseTime(FormatTime(t));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(*back == At(2026, 11, 29, 2, 8, 43, 123'000)) << Show(back);
}

}  // namespace
}  // namespace jobnik::domain
