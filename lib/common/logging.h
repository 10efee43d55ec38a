// Logging setup shared by the programs: spdlog to stderr, as human text or as
// JSON lines (one object per line: ts, level, logger, msg). In both formats one message is
// one line, whatever it quotes: text escapes control characters, JSON escapes everything.
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

// A message as the text format writes it: printable text unchanged; \n, \r, \t as those
// escapes; other C0 controls, DEL and bytes that are not UTF-8 as \xNN; C1 controls and the
// Unicode line and paragraph separators as \uNNNN. So a value quoted in a message (a job
// name with a newline, an ESC sequence) cannot forge a line or drive a terminal.
void AppendEscapedText(std::string& out, std::string_view message);

// Replaces the default logger (thread-safe, stderr). Call once at start-up.
void Setup(std::string_view program, Format format, std::string_view level);

}  // namespace jobnik::logging
