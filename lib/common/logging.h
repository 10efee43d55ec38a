// Logging setup shared by the programs: spdlog to stderr, as human text or as
// JSON lines (one object per line: ts, level, logger, msg).
#pragma once

#include <string>
#include <string_view>

#include "domain/error.h"

namespace jobnik::logging {

enum class Format { kText, kJson };

// Parses "text"/"json". The error ("must be ..., not 'x'") names the value; the caller
// prefixes what was being set, e.g. "flag --log-format: log.format must be ...".
domain::Result<Format> ParseFormat(std::string_view s);
// Checks "trace|debug|info|warn|error|critical|off"; the error reads like ParseFormat's.
domain::Status CheckLevel(std::string_view level);

// Replaces the default logger (thread-safe, stderr). Call once at start-up.
void Setup(std::string_view program, Format format, std::string_view level);

}  // namespace jobnik::logging
