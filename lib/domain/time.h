// RFC 3339 times on the wire: UTC with milliseconds, e.g. 2026-11-29T02:08:43.123Z.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "domain/error.h"
#include "domain/model.h"

namespace jobnik::domain {

// "YYYY-MM-DDTHH:MM:SS.mmmZ" (milliseconds, truncated).
std::string FormatTime(Timestamp t);
void AppendTime(std::string& out, Timestamp t);

// The instants jobnik accepts: years 0001 to 9999 in UTC, what RFC 3339's four-digit year
// spells and PostgreSQL's timestamp range holds (PostgreSQL has no year 0).
inline constexpr Timestamp kMinTime{std::chrono::sys_days{std::chrono::year{1} / 1 / 1}};
inline constexpr Timestamp kMaxTime{std::chrono::sys_days{std::chrono::year{10000} / 1 / 1} -
                                    std::chrono::microseconds{1}};

// Accepts RFC 3339 date-time: a date, 'T' or 't' or ' ', a time with optional
// fraction (up to 9 digits, kept to microseconds), and 'Z' or a ±HH:MM offset.
// std::nullopt for anything else, including impossible dates (2026-02-30) and instants
// outside [kMinTime, kMaxTime] (0001-01-01T00:00:00+01:00 is in year 0 in UTC).
std::optional<Timestamp> ParseTime(std::string_view s);

// Which end of its day a date alone stands for: a range's start is the day's first
// instant (from_date=2026-11-30 is 2026-11-30T00:00:00Z), a range's end its last
// (end_date=2026-11-30 is 2026-11-30T23:59:59.999999Z), so both bounds include the day.
enum class DateBound { kStartOfDay, kEndOfDay };

// A time in a query parameter (from_date, end_date): what ParseTime accepts, or a date
// alone (2026-11-30), read as `bound` says. VALIDATION_ERROR naming `path`
// (request/query/from_date) and whether the format or the range is wrong.
Result<Timestamp> ParseTimeParam(std::string_view value, std::string_view path,
                                 DateBound bound = DateBound::kStartOfDay);

}  // namespace jobnik::domain
