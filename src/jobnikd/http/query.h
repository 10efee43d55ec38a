// Query and path parameters: the URL's query string parsed once (UrlQuery), the check
// that a route is given only the query parameters it takes (CheckQueryNames), the typed
// reader that records the first bad parameter (Query), and path UUIDs (UuidParam).
// Every error names its parameter as request/query/<name> or request/params/<name>.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>

#include "domain/error.h"
#include "domain/status.h"
#include "domain/time.h"

namespace jobnik::http {

// The URL's query parameters.
httplib::Params UrlQuery(const httplib::Request& req);

// Every route names the query parameters it takes; anything else is a 400.
domain::Status CheckQueryNames(const httplib::Params& query, const std::vector<std::string>& allowed);

class Query {
 public:
  // Only the URL's query string counts: httplib also merges a form-encoded body into
  // req.params, and a JSON body sent as curl's default form type must not show up here.
  explicit Query(const httplib::Params& params) : params_(params) {}

  // Text of min_len..max_len characters.
  std::optional<std::string> String(const char* name, std::size_t min_len, std::size_t max_len);
  std::optional<std::string> Uuid(const char* name);
  // Absent: false.
  bool Bool(const char* name);
  std::optional<domain::Timestamp> Time(const char* name, domain::DateBound bound);
  // One of `values` (the domain's kAll* lists), by wire name.
  template <typename E, std::size_t N>
  std::optional<E> Enum(const char* name, std::optional<E> (*parse)(std::string_view), const std::array<E, N>& values) {
    auto v = Get(name);
    if (!v) return std::nullopt;
    auto e = parse(*v);
    if (!e) {
      std::string names;
      for (E x : values) names += (names.empty() ? "" : ", ") + std::string(domain::ToString(x));
      Fail(domain::ValidationError(
          fmt::format("request/query/{} must be equal to one of the allowed values: {}", name, names)));
    }
    return e;
  }

  // An integer in [min, max].
  std::optional<std::int64_t> Int(const char* name, std::int64_t min, std::int64_t max);
  // The raw value, when given once (for values checked elsewhere).
  std::optional<std::string> Raw(const char* name) { return Get(name); }
  // Records an error found by the caller (the first one counts).
  void Reject(domain::Status s) { Fail(std::move(s)); }

  const domain::Status& status() const { return status_; }

 private:
  std::optional<std::string> Get(const char* name);
  void Fail(domain::Status s) {
    if (status_.ok() && !s.ok()) status_ = std::move(s);
  }
  const httplib::Params& params_;
  domain::Status status_;
};

// The path's first capture as the UUID parameter `name` (jobId, stageId, taskId), tagged
// on the request's span when valid.
domain::Status UuidParam(const httplib::Request& req, std::string_view name, std::string& out);

// Whether the request asks for no representation in the answer: a Prefer header (RFC 7240)
// with the preference return=minimal, in any of its Prefer headers and list items.
bool PrefersMinimalReturn(const httplib::Request& req);

}  // namespace jobnik::http
