// Request validation primitives. Each check returns a Status whose message
// names the offending field by its path (request/body/name, request/query/priority,
// request/params/jobId), in the style of the v1 server's validator.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "domain/error.h"

namespace jobnik::domain {

// Canonical 8-4-4-4-12 hex UUID (either case).
bool IsUuid(std::string_view s);

// W3C trace-context traceparent: the v1 schema pattern
// ^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$ plus the W3C rules that the
// version is not ff and neither id is all zeros.
bool IsTraceparent(std::string_view s);

// W3C tracestate as the v1 schema constrains it: comma-separated key=value
// members, keys [a-z0-9][a-z0-9_\-*/]*, values without ',' and '=', at most 32
// members and 512 characters.
bool IsTracestate(std::string_view s);

// Text PostgreSQL can store: valid UTF-8 without U+0000.
bool IsStorableText(std::string_view s);
// The same for every string and key inside a JSON value (jsonb rejects U+0000).
bool IsStorableJson(const nlohmann::json& v);

// The UTF-8 sequence starting at s[i] (i < s.size()): returns its length in bytes and sets
// *valid. For an ill-formed sequence the length is that of its maximal subpart, at least 1:
// the bytes one U+FFFD replaces (Unicode 15, section 3.9, "substitution of maximal subparts").
// Overlong forms, surrogates and values past U+10FFFF are ill-formed.
std::size_t Utf8SequenceAt(std::string_view s, std::size_t i, bool* valid);

// Length in Unicode code points of valid UTF-8 (what a JSON schema's maxLength counts).
std::size_t Utf8Length(std::string_view s);

inline constexpr std::string_view kTraceparentPattern = R"(^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$)";
inline constexpr std::string_view kTracestatePattern =
    R"(^[a-z0-9][a-z0-9_\-*/]*=[^,=]+(?:,[a-z0-9][a-z0-9_\-*/]*=[^,=]+)*$)";

// ---- Checks over parsed JSON (path is e.g. "request/body") ----

Status CheckObject(const nlohmann::json& v, std::string_view path);
// Rejects any key of `obj` not in `allowed`, naming the first such key.
Status CheckAllowedKeys(const nlohmann::json& obj, std::initializer_list<std::string_view> allowed,
                        std::string_view path);
Status CheckRequired(const nlohmann::json& obj, std::string_view key, std::string_view path);
Status CheckString(const nlohmann::json& v, std::string_view path, std::size_t min_len, std::size_t max_len);
Status CheckTraceparent(const nlohmann::json& v, std::string_view path);
Status CheckTracestate(const nlohmann::json& v, std::string_view path);
Status CheckIntegerAtLeast(const nlohmann::json& v, std::string_view path, long long minimum);

// ---- Path and query parameters ----

Status CheckUuidParam(std::string_view value, std::string_view path);
// A path or query string: valid UTF-8, no U+0000, at most max_len code points.
Status CheckTextParam(std::string_view value, std::string_view path, std::size_t max_len);
// "true"/"false" only. std::nullopt with *error set on anything else.
std::optional<bool> ParseBoolParam(std::string_view value, std::string_view path, Status* error);

}  // namespace jobnik::domain
