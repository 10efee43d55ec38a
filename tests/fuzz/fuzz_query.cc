// libFuzzer target: query strings as jobnikd reads them: cpp-httplib's parser, then the
// checks every query and path parameter goes through (lib/domain: text, UUIDs, booleans,
// dates, statuses and priorities by wire name). The input is the query string.
#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "domain/status.h"
#include "domain/time.h"
#include "domain/validation.h"

using namespace jobnik::domain;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string query(reinterpret_cast<const char*>(data), size);
  httplib::Params params;
  httplib::detail::parse_query_text(query, params);
  for (const auto& [name, value] : params) {
    (void)CheckTextParam(name, "request/query", 256);
    (void)CheckTextParam(value, "request/query/x", 256);
    (void)CheckUuidParam(value, "request/query/x");
    Status error;
    (void)ParseBoolParam(value, "request/query/x", &error);
    (void)ParseTimeParam(value, "request/query/from_date", DateBound::kStartOfDay);
    (void)ParseTimeParam(value, "request/query/till_date", DateBound::kEndOfDay);
    if (const auto t = ParseTime(value)) {
      if (!ParseTime(FormatTime(*t))) __builtin_trap();  // what is written reads back
    }
    if (const auto s = ParseJobStatus(value); s && ParseJobStatus(ToString(*s)) != s) __builtin_trap();
    (void)ParseStageStatus(value);
    (void)ParseTaskStatus(value);
    (void)ParsePriority(value);
  }
  return 0;
}
