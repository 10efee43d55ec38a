// Query and path parameters (see query.h).
#include "http/query.h"

#include <algorithm>
#include <charconv>
#include <iterator>

#include "common/ascii.h"
#include "domain/validation.h"
#include "http/envelope.h"

namespace jobnik::http {

using domain::Status;

httplib::Params UrlQuery(const httplib::Request& req) {
  httplib::Params params;
  if (const auto q = req.target.find('?'); q != std::string::npos) {
    httplib::detail::parse_query_text(req.target.substr(q + 1), params);
  }
  return params;
}

// Every route names the query parameters it takes; anything else is a 400.
Status CheckQueryNames(const httplib::Params& query, const std::vector<std::string>& allowed) {
  for (const auto& [name, value] : query) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return domain::ValidationError(fmt::format("Unknown query parameter '{}'", name));
    }
  }
  return Status::Ok();
}

std::optional<std::string> Query::String(const char* name, std::size_t min_len, std::size_t max_len) {
  auto v = Get(name);
  if (!v) return std::nullopt;
  if (auto s = domain::CheckTextParam(*v, fmt::format("request/query/{}", name), max_len); !s.ok()) {
    Fail(s);
    return v;
  }
  const auto len = domain::Utf8Length(*v);
  if (len < min_len) {
    Fail(
        domain::ValidationError(fmt::format("request/query/{} must NOT have fewer than {} characters", name, min_len)));
  } else if (len > max_len) {
    Fail(domain::ValidationError(fmt::format("request/query/{} must NOT have more than {} characters", name, max_len)));
  }
  return v;
}

std::optional<std::string> Query::Uuid(const char* name) {
  auto v = Get(name);
  if (v) Fail(domain::CheckUuidParam(*v, fmt::format("request/query/{}", name)));
  return v;
}

bool Query::Bool(const char* name) {
  auto v = Get(name);
  if (!v) return false;
  Status error;
  auto b = domain::ParseBoolParam(*v, fmt::format("request/query/{}", name), &error);
  Fail(error);
  return b.value_or(false);
}

std::optional<domain::Timestamp> Query::Time(const char* name, domain::DateBound bound) {
  auto v = Get(name);
  if (!v) return std::nullopt;
  auto t = domain::ParseTimeParam(*v, fmt::format("request/query/{}", name), bound);
  if (!t.ok()) {
    Fail(t.status());
    return std::nullopt;
  }
  return *t;
}

std::optional<std::int64_t> Query::Int(const char* name, std::int64_t min, std::int64_t max) {
  auto v = Get(name);
  if (!v) return std::nullopt;
  std::int64_t n = 0;
  const char* end = v->data() + v->size();
  const auto [ptr, ec] = std::from_chars(v->data(), end, n);
  if (v->empty() || ec != std::errc() || ptr != end || n < min || n > max) {
    Fail(domain::ValidationError(fmt::format("request/query/{} must be an integer from {} to {}", name, min, max)));
    return std::nullopt;
  }
  return n;
}

std::optional<std::string> Query::Get(const char* name) {
  const auto [first, last] = params_.equal_range(name);
  if (first == last) return std::nullopt;
  if (std::next(first) != last) {
    Fail(domain::ValidationError(fmt::format("request/query/{} must be given once", name)));
  }
  return first->second;
}

Status UuidParam(const httplib::Request& req, std::string_view name, std::string& out) {
  out = req.matches[1].str();
  auto s = domain::CheckUuidParam(out, fmt::format("request/params/{}", name));
  if (s.ok()) {
    if (name == "jobId")
      Tag("jobnik.job.id", out);
    else if (name == "stageId")
      Tag("jobnik.stage.id", out);
    else if (name == "taskId")
      Tag("jobnik.task.id", out);
  }
  return s;
}

bool PrefersMinimalReturn(const httplib::Request& req) {
  const std::size_t headers = req.get_header_value_count("Prefer");
  for (std::size_t h = 0; h < headers; ++h) {
    const std::string value = req.get_header_value("Prefer", h);
    std::string_view rest(value);
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      item = ascii::TrimSpaces(item.substr(0, item.find(';')));  // parameters after ';' do not matter here
      const auto eq = item.find('=');
      if (eq == std::string_view::npos || !ascii::EqualsIgnoreCase(ascii::TrimSpaces(item.substr(0, eq)), "return"))
        continue;
      std::string_view token = ascii::TrimSpaces(item.substr(eq + 1));
      if (token.size() >= 2 && token.front() == '"' && token.back() == '"') token = token.substr(1, token.size() - 2);
      if (ascii::EqualsIgnoreCase(token, "minimal")) return true;
    }
  }
  return false;
}

}  // namespace jobnik::http
