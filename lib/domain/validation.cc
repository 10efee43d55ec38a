#include "domain/validation.h"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace jobnik::domain {
namespace {

bool IsLowerHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}
bool IsHex(char c) {
  return IsLowerHex(c) || (c >= 'A' && c <= 'F');
}

bool AllLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), IsLowerHex);
}
bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

bool IsKeyStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool IsKeyChar(char c) {
  return IsKeyStart(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

std::string TypeName(const nlohmann::json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  return v.type_name();
}

}  // namespace

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

bool IsTraceparent(std::string_view s) {
  if (s.size() != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-') return false;
  const auto version = s.substr(0, 2), trace_id = s.substr(3, 32), parent_id = s.substr(36, 16),
             flags = s.substr(53, 2);
  if (!AllLowerHex(version) || !AllLowerHex(trace_id) || !AllLowerHex(parent_id) || !AllLowerHex(flags)) {
    return false;
  }
  return version != "ff" && !AllZero(trace_id) && !AllZero(parent_id);
}

bool IsTracestate(std::string_view s) {
  if (s.empty() || s.size() > 512) return false;
  std::size_t members = 0;
  std::size_t pos = 0;
  while (true) {
    const std::size_t end = std::min(s.find(',', pos), s.size());
    const std::string_view member = s.substr(pos, end - pos);
    const std::size_t eq = member.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == member.size()) return false;
    const auto key = member.substr(0, eq), value = member.substr(eq + 1);
    if (!IsKeyStart(key[0]) || !std::all_of(key.begin(), key.end(), IsKeyChar)) return false;
    if (value.find('=') != std::string_view::npos) return false;
    if (++members > 32) return false;
    if (end == s.size()) break;
    pos = end + 1;
  }
  return true;
}

std::size_t Utf8SequenceAt(std::string_view s, std::size_t i, bool* valid) {
  const auto lead = static_cast<unsigned char>(s[i]);
  *valid = true;
  if (lead < 0x80) return 1;
  // Unicode table 3-7: the number of continuation bytes and the range of the first one.
  std::size_t extra = 0;
  unsigned char lo = 0x80, hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    extra = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    extra = 2;
    if (lead == 0xE0) lo = 0xA0;  // no overlong forms
    if (lead == 0xED) hi = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    extra = 3;
    if (lead == 0xF0) lo = 0x90;  // no overlong forms
    if (lead == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    *valid = false;  // a continuation byte, C0, C1 or F5..FF
    return 1;
  }
  std::size_t n = 1;
  for (; n <= extra; ++n) {
    if (i + n >= s.size()) break;
    const auto c = static_cast<unsigned char>(s[i + n]);
    if (c < lo || c > hi) break;
    lo = 0x80, hi = 0xBF;
  }
  *valid = n == extra + 1;
  return n;
}

bool IsStorableText(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

bool IsStorableJson(const nlohmann::json& v) {
  if (v.is_string()) return IsStorableText(v.get_ref<const std::string&>());
  if (v.is_object()) {
    for (const auto& item : v.items()) {
      if (!IsStorableText(item.key()) || !IsStorableJson(item.value())) return false;
    }
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (!IsStorableJson(e)) return false;
    }
  }
  return true;
}

std::size_t Utf8Length(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

Status CheckObject(const nlohmann::json& v, std::string_view path) {
  if (v.is_object()) return Status::Ok();
  return ValidationError(fmt::format("{} must be object", path));
}

Status CheckAllowedKeys(const nlohmann::json& obj, std::initializer_list<std::string_view> allowed,
                        std::string_view path) {
  for (const auto& item : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), item.key()) == allowed.end()) {
      return ValidationError(fmt::format("{} must NOT have additional properties: '{}'", path, item.key()));
    }
  }
  return Status::Ok();
}

Status CheckRequired(const nlohmann::json& obj, std::string_view key, std::string_view path) {
  if (obj.contains(key)) return Status::Ok();
  return ValidationError(fmt::format("{} must have required property '{}'", path, key));
}

Status CheckString(const nlohmann::json& v, std::string_view path, std::size_t min_len, std::size_t max_len) {
  if (!v.is_string()) return ValidationError(fmt::format("{} must be string, not {}", path, TypeName(v)));
  if (!IsStorableText(v.get_ref<const std::string&>())) {
    return ValidationError(fmt::format("{} must not contain the character U+0000", path));
  }
  const std::size_t len = Utf8Length(v.get_ref<const std::string&>());
  if (len < min_len) {
    return ValidationError(fmt::format("{} must NOT have fewer than {} characters", path, min_len));
  }
  if (len > max_len) {
    return ValidationError(fmt::format("{} must NOT have more than {} characters", path, max_len));
  }
  return Status::Ok();
}

Status CheckTraceparent(const nlohmann::json& v, std::string_view path) {
  if (!v.is_string()) return ValidationError(fmt::format("{} must be string, not {}", path, TypeName(v)));
  if (IsTraceparent(v.get_ref<const std::string&>())) return Status::Ok();
  return ValidationError(fmt::format("{} must match pattern \"{}\" (a W3C traceparent)", path, kTraceparentPattern));
}

Status CheckTracestate(const nlohmann::json& v, std::string_view path) {
  if (!v.is_string()) return ValidationError(fmt::format("{} must be string, not {}", path, TypeName(v)));
  if (IsTracestate(v.get_ref<const std::string&>())) return Status::Ok();
  return ValidationError(fmt::format("{} must match pattern \"{}\" (a W3C tracestate)", path, kTracestatePattern));
}

Status CheckIntegerAtLeast(const nlohmann::json& v, std::string_view path, long long minimum) {
  constexpr double kMax = 2147483647.0;  // stored as a PostgreSQL integer
  if (!v.is_number()) return ValidationError(fmt::format("{} must be integer, not {}", path, TypeName(v)));
  // Compare as doubles first: casting an out-of-range double to an integer is undefined.
  // 3.0 is an integer to a JSON schema validator; 3.5 is not.
  const double d = v.get<double>();
  if (v.is_number_float() && std::trunc(d) != d) {
    return ValidationError(fmt::format("{} must be integer, not number", path));
  }
  if (d > kMax) return ValidationError(fmt::format("{} must be <= 2147483647", path));
  if (d < static_cast<double>(minimum)) return ValidationError(fmt::format("{} must be >= {}", path, minimum));
  return Status::Ok();
}

Status CheckUuidParam(std::string_view value, std::string_view path) {
  if (IsUuid(value)) return Status::Ok();
  return ValidationError(fmt::format("{} must match format \"uuid\"", path));
}

Status CheckTextParam(std::string_view value, std::string_view path, std::size_t max_len) {
  if (!IsStorableText(value)) {
    return ValidationError(fmt::format("{} must be UTF-8 text without the character U+0000", path));
  }
  if (Utf8Length(value) > max_len) {
    return ValidationError(fmt::format("{} must NOT have more than {} characters", path, max_len));
  }
  return Status::Ok();
}

std::optional<bool> ParseBoolParam(std::string_view value, std::string_view path, Status* error) {
  if (value == "true") return true;
  if (value == "false") return false;
  *error = ValidationError(fmt::format("{} must be boolean", path));
  return std::nullopt;
}

}  // namespace jobnik::domain
