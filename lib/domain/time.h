// RFC 3339 times on the wire: UTC with milliseconds, e.g. 2026-11-29T02:08:43.123Z.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "domain/model.h"

namespace jobnik::domain {

// "YYYY-MM-DDTHH:MM:SS.mmmZ" (milliseconds, truncated).
std::string FormatTime(Timestamp t);
void AppendTime(std::string& out, Timestamp t);

// Accepts RFC 3339 date-time: a date, 'T' or 't' or ' ', a time with optional
// fraction (up to 9 digits, kept to microseconds), and 'Z' or a ±HH:MM offset.
// std::nullopt for anything else, including impossible dates (2026-02-30).
std::optional<Timestamp> ParseTime(std::string_view s);

}  // namespace jobnik::domain
