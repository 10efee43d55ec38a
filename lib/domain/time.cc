#include "domain/time.h"

#include <fmt/format.h>
#include <cctype>

namespace jobnik::domain {
namespace {

using std::chrono::days;
using std::chrono::microseconds;

bool Digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

bool InRange(Timestamp t) {
  return t >= kMinTime && t <= kMaxTime;
}

// ParseTime without the range check (the year is 0000..9999, the offset at most a day).
std::optional<Timestamp> ParseTimeUnbounded(std::string_view s);

// YYYY-MM-DD alone: midnight UTC.
std::optional<Timestamp> ParseDate(std::string_view s) {
  int y = 0, mo = 0, d = 0;
  if (s.size() != 10 || !Digits(s, 0, 4, y) || s[4] != '-' || !Digits(s, 5, 2, mo) || s[7] != '-' ||
      !Digits(s, 8, 2, d)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return Timestamp{std::chrono::sys_days{ymd}};
}

}  // namespace

void AppendTime(std::string& out, Timestamp t) {
  const auto day = std::chrono::floor<days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{std::chrono::floor<std::chrono::milliseconds>(t - day)};
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) {  // not a time jobnik stores (kMinTime..kMaxTime); still printed
    out += fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", year, static_cast<unsigned>(ymd.month()),
                       static_cast<unsigned>(ymd.day()), hms.hours().count(), hms.minutes().count(),
                       hms.seconds().count(), hms.subseconds().count());
    return;
  }
  // On every task, stage and job of every answer: digits by hand (snprintf cost more than
  // the rest of a task's JSON).
  char buf[] = "0000-00-00T00:00:00.000Z";
  const auto put = [&buf](std::size_t at, std::size_t width, long long v) {
    for (std::size_t i = at + width; i-- > at; v /= 10) buf[i] = static_cast<char>('0' + v % 10);
  };
  put(0, 4, year);
  put(5, 2, static_cast<unsigned>(ymd.month()));
  put(8, 2, static_cast<unsigned>(ymd.day()));
  put(11, 2, hms.hours().count());
  put(14, 2, hms.minutes().count());
  put(17, 2, hms.seconds().count());
  put(20, 3, hms.subseconds().count());
  out.append(buf, sizeof buf - 1);
}

std::string FormatTime(Timestamp t) {
  std::string s;
  AppendTime(s, t);
  return s;
}

std::optional<Timestamp> ParseTime(std::string_view s) {
  auto t = ParseTimeUnbounded(s);
  if (!t || !InRange(*t)) return std::nullopt;
  return t;
}

Result<Timestamp> ParseTimeParam(std::string_view value, std::string_view path, DateBound bound) {
  auto t = ParseDate(value);
  if (t && bound == DateBound::kEndOfDay) *t += std::chrono::days{1} - std::chrono::microseconds{1};
  if (!t) t = ParseTimeUnbounded(value);
  if (!t) {
    return ValidationError(fmt::format(
        R"({} must match format "date-time" (RFC 3339, e.g. 2026-11-30T08:00:00Z) or "date" (2026-11-30))", path));
  }
  if (!InRange(*t)) {
    return ValidationError(
        fmt::format("{} must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z", path));
  }
  return *t;
}

namespace {

std::optional<Timestamp> ParseTimeUnbounded(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!Digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, mo) || s[7] != '-' ||
      !Digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !Digits(s, 11, 2, h) || s[13] != ':' ||
      !Digits(s, 14, 2, mi) || s[16] != ':' || !Digits(s, 17, 2, sec)) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;  // 60: leap second, folded below
  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      if (digits < 6) micros = micros * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0 || digits > 9) return std::nullopt;
    for (std::size_t i = digits; i < 6; ++i) micros *= 10;
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !Digits(s, pos + 4, 2, om) ||
        oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  if (sec == 60) sec = 59;
  const auto t = std::chrono::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi} +
                 std::chrono::seconds{sec} + microseconds{micros} - std::chrono::minutes{offset_minutes};
  return std::chrono::time_point_cast<microseconds>(t);
}

}  // namespace

}  // namespace jobnik::domain
