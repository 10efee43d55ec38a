#include "http/api.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "common/embedded.h"
#include "common/trace_context.h"
#include "domain/codec.h"
#include "domain/time.h"
#include "domain/validation.h"

namespace jobnik::http {
namespace {

using domain::ErrorCode;
using domain::Result;
using domain::Status;

constexpr const char* kJson = "application/json";

// What a handler produces.
struct Reply {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is this JSON instead, sent chunked as it is produced (lists).
  httplib::ContentProviderWithoutLength stream = nullptr;
};

Reply ErrorReply(const Status& s) {
  return {HttpStatusOf(s), domain::ErrorBody(s), {}};
}

template <typename T>
Reply JsonReply(int status, const T& value) {
  return {status, domain::ToJson(value), {}};
}

Reply CodeReply(std::string_view code) {
  return {200, domain::CodeBody(code), {}};
}

// Per-request context handed to handlers.
struct Call {
  const httplib::Request& req;
  httplib::Params query;       // the URL's query parameters, parsed once
  tracing::TraceContext span;  // this request's server span
  store::TraceDefaults trace;  // for entities created without their own context
};

// ---- query parameters ----

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

class Query {
 public:
  // Only the URL's query string counts: httplib also merges a form-encoded body into
  // req.params, and a JSON body sent as curl's default form type must not show up here.
  explicit Query(const httplib::Params& params) : params_(params) {}

  std::optional<std::string> String(const char* name, std::size_t min_len, std::size_t max_len) {
    auto v = Get(name);
    if (!v) return std::nullopt;
    if (auto s = domain::CheckTextParam(*v, fmt::format("request/query/{}", name), max_len); !s.ok()) {
      Fail(s);
      return v;
    }
    const auto len = domain::Utf8Length(*v);
    if (len < min_len) {
      Fail(domain::ValidationError(
          fmt::format("request/query/{} must NOT have fewer than {} characters", name, min_len)));
    } else if (len > max_len) {
      Fail(domain::ValidationError(
          fmt::format("request/query/{} must NOT have more than {} characters", name, max_len)));
    }
    return v;
  }
  std::optional<std::string> Uuid(const char* name) {
    auto v = Get(name);
    if (v) Fail(domain::CheckUuidParam(*v, fmt::format("request/query/{}", name)));
    return v;
  }
  bool Bool(const char* name) {
    auto v = Get(name);
    if (!v) return false;
    Status error;
    auto b = domain::ParseBoolParam(*v, fmt::format("request/query/{}", name), &error);
    Fail(error);
    return b.value_or(false);
  }
  std::optional<domain::Timestamp> Time(const char* name, domain::DateBound bound) {
    auto v = Get(name);
    if (!v) return std::nullopt;
    auto t = domain::ParseTimeParam(*v, fmt::format("request/query/{}", name), bound);
    if (!t.ok()) {
      Fail(t.status());
      return std::nullopt;
    }
    return *t;
  }
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
  std::optional<std::int64_t> Int(const char* name, std::int64_t min, std::int64_t max) {
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
  // The raw value, when given once (for values checked elsewhere).
  std::optional<std::string> Raw(const char* name) { return Get(name); }
  // Records an error found by the caller (the first one counts).
  void Reject(Status s) { Fail(std::move(s)); }

  const Status& status() const { return status_; }

 private:
  std::optional<std::string> Get(const char* name) {
    const auto [first, last] = params_.equal_range(name);
    if (first == last) return std::nullopt;
    if (std::next(first) != last) {
      Fail(domain::ValidationError(fmt::format("request/query/{} must be given once", name)));
    }
    return first->second;
  }
  void Fail(Status s) {
    if (status_.ok() && !s.ok()) status_ = std::move(s);
  }
  const httplib::Params& params_;
  Status status_;
};

// ---- lists: streamed whole (v1), or in pages (extension; docs/design.md "Lists") ----

// The paging parameters every list route takes besides its filters.
const std::vector<std::string> kPagingParams = {"limit", "cursor", "page", "page_size"};
std::vector<std::string> WithPaging(std::vector<std::string> names) {
  names.insert(names.end(), kPagingParams.begin(), kPagingParams.end());
  return names;
}

constexpr std::int64_t kMaxPageSize = 1000;     // limit, page_size
constexpr std::int64_t kDefaultPageSize = 100;  // page without page_size, cursor without limit
constexpr std::int64_t kMaxPage = 10'000'000;
// Rows per database round trip when a whole list is streamed: the daemon holds one batch
// (and one pooled connection, only while reading it) at a time.
constexpr int kStreamBatch = 1000;

// Which list a cursor belongs to: a job cursor is no cursor of /v1/tasks.
enum class ListKind : char { kJobs = 'j', kStages = 's', kTasks = 't' };

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64UrlEncode(std::string_view in) {
  std::string out;
  std::uint32_t bits = 0;
  int n = 0;
  for (unsigned char ch : in) {
    bits = (bits << 8) | ch;
    n += 8;
    while (n >= 6) {
      n -= 6;
      out += kBase64Url[(bits >> n) & 0x3F];
    }
  }
  if (n > 0) out += kBase64Url[(bits << (6 - n)) & 0x3F];
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view in) {
  std::string out;
  std::uint32_t bits = 0;
  int n = 0;
  for (char ch : in) {
    const char* at = std::strchr(kBase64Url, ch);
    if (ch == '\0' || at == nullptr) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(at - kBase64Url);
    n += 6;
    if (n >= 8) {
      n -= 8;
      out += static_cast<char>((bits >> n) & 0xFF);
    }
  }
  return out;
}

// The opaque cursor: base64url of "<kind>1:<time or seq>[:<id>[:<order>]]".
std::string EncodeCursor(ListKind kind, const store::ListKey& key) {
  std::string text = fmt::format("{}1:{}", static_cast<char>(kind), key.time_or_seq);
  if (kind != ListKind::kTasks) text += ":" + key.id;
  if (kind == ListKind::kStages) text += fmt::format(":{}", key.order);
  return Base64UrlEncode(text);
}

bool ParseInt64(std::string_view s, std::int64_t& out) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
}

std::optional<store::ListKey> DecodeCursor(ListKind kind, std::string_view cursor) {
  if (cursor.size() > 200) return std::nullopt;
  auto text = Base64UrlDecode(cursor);
  if (!text) return std::nullopt;
  std::vector<std::string_view> parts;
  std::string_view rest = *text;
  for (auto colon = rest.find(':'); colon != std::string_view::npos; colon = rest.find(':')) {
    parts.push_back(rest.substr(0, colon));
    rest.remove_prefix(colon + 1);
  }
  parts.push_back(rest);
  const std::size_t want = kind == ListKind::kTasks ? 2 : kind == ListKind::kJobs ? 3 : 4;
  if (parts.size() != want || parts[0] != std::string{static_cast<char>(kind), '1'}) return std::nullopt;
  store::ListKey key;
  if (!ParseInt64(parts[1], key.time_or_seq)) return std::nullopt;
  // Creation times from year 1 to 9999 (µs since 1970); seqs are positive.
  if (kind == ListKind::kTasks
          ? key.time_or_seq < 0
          : (key.time_or_seq < -62'135'596'800'000'000LL || key.time_or_seq > 253'402'300'799'999'999LL)) {
    return std::nullopt;
  }
  if (kind != ListKind::kTasks) {
    if (!domain::IsUuid(parts[2])) return std::nullopt;
    key.id = std::string(parts[2]);
  }
  if (kind == ListKind::kStages && (!ParseInt64(parts[3], key.order) || key.order < 0 || key.order > INT32_MAX)) {
    return std::nullopt;
  }
  return key;
}

// How the client asked for a list: everything (v1), or one page.
struct Paging {
  bool paged = false;
  std::int64_t size = 0;             // rows per page when paged
  std::optional<std::int64_t> page;  // page/page_size: 1-based page number
  store::ListRange range;            // after (cursor) and offset (page)
};

// Reads limit/cursor or page/page_size; errors go into `q` (naming the parameter).
Paging ReadPaging(Query& q, ListKind kind) {
  Paging p;
  const auto limit = q.Int("limit", 1, kMaxPageSize);
  const auto cursor = q.Raw("cursor");
  const auto page = q.Int("page", 1, kMaxPage);
  const auto page_size = q.Int("page_size", 1, kMaxPageSize);
  if ((limit || cursor) && (page || page_size)) {
    q.Reject(domain::ValidationError(
        "request/query/cursor and limit cannot be combined with page and page_size: use one way of paging"));
    return p;
  }
  if (cursor) {
    auto key = DecodeCursor(kind, *cursor);
    if (!key) {
      q.Reject(domain::ValidationError(
          "request/query/cursor is not a cursor of this list: pass the X-Next-Cursor value of a previous page as is"));
      return p;
    }
    p.range.after = std::move(key);
  }
  if (limit || cursor) {
    p.paged = true;
    p.size = limit.value_or(kDefaultPageSize);
  } else if (page || page_size) {
    p.paged = true;
    p.size = page_size.value_or(kDefaultPageSize);
    p.page = page.value_or(1);
    p.range.offset = (*p.page - 1) * p.size;
  }
  return p;
}

// The URL of the next page: this request's with the cursor (or page) moved on.
std::string NextLink(const Call& c, const std::string& param, const std::string& value) {
  httplib::Params params = c.query;
  params.erase(param);
  params.emplace(param, value);
  return fmt::format("<{}?{}>; rel=\"next\"", c.req.path, httplib::detail::params_to_query_str(params));
}

// Answers a list request. `fetch` reads one page of the list (one transaction).
//  - paged: one page of p.size rows as a plain JSON array; when more rows follow, the
//    next page's cursor in X-Next-Cursor and its URL in Link (rel="next").
//  - v1 (no paging parameter): the whole list. The first batch is read before answering,
//    so an error then is an ordinary JSON error; a list shorter than one batch is sent
//    as before (Content-Length). A longer one is streamed (chunked), a batch at a time,
//    each batch its own short transaction continuing after the previous one's last row:
//    no row appears twice, and every row that exists for the whole response appears.
//    A database error after the first byte can only cut the response short: it is
//    logged and the connection closed without the final chunk, so clients see an
//    incomplete body, never a truncated array that parses.
template <typename T>
Reply ListReply(const Call& c, const Paging& p, ListKind kind,
                std::function<Result<store::ListPage<T>>(const store::ListRange&)> fetch) {
  store::ListRange range = p.range;
  if (p.paged) {
    range.limit = static_cast<int>(p.size + 1);  // one more: is there a next page?
    auto page = fetch(range);
    if (!page.ok()) return ErrorReply(page.status());
    Reply reply;
    if (page->items.size() > static_cast<std::size_t>(p.size)) {
      page->items.resize(static_cast<std::size_t>(p.size));
      const std::string next = EncodeCursor(kind, page->keys[static_cast<std::size_t>(p.size) - 1]);
      reply.headers.emplace_back("X-Next-Cursor", next);
      if (p.page) {
        reply.headers.emplace_back("Link", NextLink(c, "page", std::to_string(*p.page + 1)));
      } else {
        reply.headers.emplace_back("Link", NextLink(c, "cursor", next));
      }
    }
    reply.body = domain::ToJson(page->items);
    return reply;
  }
  range.limit = kStreamBatch;
  auto first = fetch(range);
  if (!first.ok()) return ErrorReply(first.status());
  if (first->items.size() < static_cast<std::size_t>(kStreamBatch)) return JsonReply(200, first->items);

  struct State {
    std::function<Result<store::ListPage<T>>(const store::ListRange&)> fetch;
    store::ListRange range;
    std::string chunk;  // the next bytes to send
    bool last = false;  // `chunk` ends the array
    std::string route;
  };
  auto state = std::make_shared<State>();
  state->fetch = std::move(fetch);
  state->range = range;
  state->range.after = first->keys.back();
  state->chunk = "[";
  for (std::size_t i = 0; i < first->items.size(); ++i) {
    if (i) state->chunk += ',';
    domain::AppendJson(state->chunk, first->items[i]);
  }
  state->route = c.req.path;
  Reply reply;
  reply.stream = [state](std::size_t, httplib::DataSink& sink) -> bool {
    if (state->chunk.empty()) {
      if (state->last) {
        sink.done();
        return true;
      }
      auto batch = state->fetch(state->range);
      if (!batch.ok()) {
        spdlog::error("GET {}: list cut short after a database error: {}", state->route, batch.status().message());
        return false;
      }
      for (auto& item : batch->items) {
        state->chunk += ',';
        domain::AppendJson(state->chunk, item);
      }
      if (!batch->keys.empty()) state->range.after = batch->keys.back();
      if (batch->items.size() < static_cast<std::size_t>(state->range.limit)) {
        state->chunk += ']';
        state->last = true;
      }
      if (state->chunk.empty()) return true;
    }
    const bool ok = sink.write(state->chunk.data(), state->chunk.size());
    state->chunk.clear();
    state->chunk.shrink_to_fit();  // hold no batch's worth of memory between batches
    return ok;
  };
  return reply;
}

// Adds an attribute to the current request's span (entity ids, stage type).
void Tag(std::string key, std::string value) {
  if (auto* span = tracing::CurrentSpan().span) span->attributes.emplace_back(std::move(key), std::move(value));
}

// ---- path parameters ----

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

}  // namespace

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case ErrorCode::kOk:
      return 200;
    case ErrorCode::kValidation:
    case ErrorCode::kJobNotInFiniteState:
    case ErrorCode::kJobInFiniteState:
    case ErrorCode::kStageInFiniteState:
    case ErrorCode::kNotAllowedToAddTasksToInProgressStage:
    case ErrorCode::kIllegalJobStatusTransition:
    case ErrorCode::kIllegalStageStatusTransition:
    case ErrorCode::kIllegalTaskStatusTransition:
      return 400;
    case ErrorCode::kJobNotFound:
    case ErrorCode::kStageNotFound:
    case ErrorCode::kTaskNotFound:
    case ErrorCode::kRouteNotFound:
      return 404;
    case ErrorCode::kMethodNotAllowed:
      return 405;
    case ErrorCode::kTaskStatusUpdateFailed:
      return 409;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kBadResponse:  // a client-side code; jobnikd never answers with it
      return 502;
    case ErrorCode::kDatabase:
    case ErrorCode::kUnknown:
      return 500;
  }
  return 500;
}

Api::Api(store::Store& store, Metrics& metrics, ApiOptions options, tracing::Tracer* tracer)
    : store_(store), metrics_(metrics), options_(options), tracer_(tracer) {}

void Api::Register(httplib::Server& server) {
  using Handler = std::function<Reply(Call&)>;
  struct Route {
    std::string method;
    std::string pattern;             // regex on the decoded path
    std::string template_;           // for logs and metrics
    std::vector<std::string> query;  // the query parameters it takes; others are a 400
    Handler handler;
  };
  auto& st = store_;
  auto& m = metrics_;
  std::vector<Route> routes;
  auto add = [&](const char* method, const char* pattern, const char* tmpl, std::vector<std::string> query, Handler h) {
    routes.push_back({method, pattern, tmpl, std::move(query), std::move(h)});
  };

  // ------------------------------------------------------------------ jobs
  add("GET", "/v1/jobs", "/v1/jobs",
      WithPaging({"job_name", "priority", "status", "from_date", "end_date", "should_return_stages",
                  "should_return_task_summary"}),
      [&st](Call& c) -> Reply {
        Query q(c.query);
        domain::JobFilter f;
        f.name = q.String("job_name", 2, 50);
        f.priority = q.Enum("priority", domain::ParsePriority, domain::kAllPriorities);
        f.status = q.Enum("status", domain::ParseJobStatus, domain::kAllJobStatuses);
        f.from_date = q.Time("from_date", domain::DateBound::kStartOfDay);
        f.end_date = q.Time("end_date", domain::DateBound::kEndOfDay);
        f.with_stages = q.Bool("should_return_stages");
        f.with_task_summary = q.Bool("should_return_task_summary");
        const Paging paging = ReadPaging(q, ListKind::kJobs);
        if (!q.status().ok()) return ErrorReply(q.status());
        return ListReply<domain::Job>(c, paging, ListKind::kJobs,
                                      [&st, f](const store::ListRange& r) { return st.ListJobs(f, r); });
      });
  add("POST", "/v1/jobs", "/v1/jobs", {}, [&st, &m](Call& c) -> Reply {
    auto job = domain::ParseNewJob(c.req.body);
    if (!job.ok()) return ErrorReply(job.status());
    auto created = st.CreateJob(*job, c.trace);
    if (!created.ok()) return ErrorReply(created.status());
    m.jobs_created.Increment();
    Tag("jobnik.job.id", created->id);
    if (job->stages) {
      for (const auto& s : *job->stages) {
        m.stages_created.Increment();
        m.tasks_created.Increment(static_cast<double>(s.tasks.size()));
      }
    }
    spdlog::info("job {} created (name {}, {} stages)", created->id, created->name,
                 created->stages ? created->stages->size() : 0);
    return JsonReply(201, *created);
  });
  add("GET", "/v1/jobs/([^/]+)", "/v1/jobs/{jobId}", {"should_return_stages", "should_return_task_summary"},
      [&st](Call& c) -> Reply {
        std::string id;
        if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
        Query q(c.query);
        const bool with_stages = q.Bool("should_return_stages");
        const bool with_task_summary = q.Bool("should_return_task_summary");
        if (!q.status().ok()) return ErrorReply(q.status());
        auto job = st.GetJob(id, with_stages, with_task_summary);
        return job.ok() ? JsonReply(200, *job) : ErrorReply(job.status());
      });
  add("DELETE", "/v1/jobs/([^/]+)", "/v1/jobs/{jobId}", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    if (auto s = st.DeleteJob(id); !s.ok()) return ErrorReply(s);
    spdlog::info("job {} deleted", id);
    return CodeReply("JOB_DELETED_SUCCESSFULLY");
  });
  add("PATCH", "/v1/jobs/([^/]+)/user-metadata", "/v1/jobs/{jobId}/user-metadata", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    auto md = domain::ParseUserMetadata(c.req.body);
    if (!md.ok()) return ErrorReply(md.status());
    if (auto s = st.SetJobUserMetadata(id, *md); !s.ok()) return ErrorReply(s);
    return CodeReply("JOB_MODIFIED_SUCCESSFULLY");
  });
  add("PATCH", "/v1/jobs/([^/]+)/priority", "/v1/jobs/{jobId}/priority", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    auto p = domain::ParsePriorityChange(c.req.body);
    if (!p.ok()) return ErrorReply(p.status());
    auto changed = st.SetJobPriority(id, *p);
    if (!changed.ok()) return ErrorReply(changed.status());
    if (!*changed) return {204, "", {{"Reason", "Priority cannot be updated to the same value."}}};
    spdlog::info("job {} priority set to {}", id, domain::ToString(*p));
    return CodeReply("JOB_MODIFIED_SUCCESSFULLY");
  });
  add("PUT", "/v1/jobs/([^/]+)/status", "/v1/jobs/{jobId}/status", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    auto status = domain::ParseJobStatusChange(c.req.body);
    if (!status.ok()) return ErrorReply(status.status());
    if (auto s = st.SetJobStatus(id, *status); !s.ok()) return ErrorReply(s);
    spdlog::info("job {} status set to {}", id, domain::ToString(*status));
    return CodeReply("JOB_MODIFIED_SUCCESSFULLY");
  });
  add("GET", "/v1/jobs/([^/]+)/stages", "/v1/jobs/{jobId}/stages", {"should_return_tasks"}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    Query q(c.query);
    const bool with_tasks = q.Bool("should_return_tasks");
    if (!q.status().ok()) return ErrorReply(q.status());
    auto stages = st.GetStagesOfJob(id, with_tasks);
    return stages.ok() ? JsonReply(200, *stages) : ErrorReply(stages.status());
  });
  add("POST", "/v1/jobs/([^/]+)/stage", "/v1/jobs/{jobId}/stage", {}, [&st, &m](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "jobId", id); !s.ok()) return ErrorReply(s);
    auto stage = domain::ParseNewStage(c.req.body);
    if (!stage.ok()) return ErrorReply(stage.status());
    auto created = st.AddStage(id, *stage, c.trace);
    if (!created.ok()) return ErrorReply(created.status());
    m.stages_created.Increment();
    Tag("jobnik.stage.id", created->id);
    Tag("jobnik.stage.type", created->type);
    spdlog::info("stage {} added to job {} (type {}, order {}, {})", created->id, id, created->type, created->order,
                 domain::ToString(created->status));
    return JsonReply(201, *created);
  });

  // ------------------------------------------------------------------ stages
  add("GET", "/v1/stages", "/v1/stages",
      WithPaging({"job_id", "stage_type", "stage_operation_status", "should_return_tasks"}), [&st](Call& c) -> Reply {
        Query q(c.query);
        domain::StageFilter f;
        f.job_id = q.Uuid("job_id");
        f.type = q.String("stage_type", 0, 50);
        f.status = q.Enum("stage_operation_status", domain::ParseStageStatus, domain::kAllStageStatuses);
        f.with_tasks = q.Bool("should_return_tasks");
        const Paging paging = ReadPaging(q, ListKind::kStages);
        if (!q.status().ok()) return ErrorReply(q.status());
        return ListReply<domain::Stage>(c, paging, ListKind::kStages,
                                        [&st, f](const store::ListRange& r) { return st.ListStages(f, r); });
      });
  add("GET", "/v1/stages/([^/]+)", "/v1/stages/{stageId}", {"should_return_tasks"}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "stageId", id); !s.ok()) return ErrorReply(s);
    Query q(c.query);
    const bool with_tasks = q.Bool("should_return_tasks");
    if (!q.status().ok()) return ErrorReply(q.status());
    auto stage = st.GetStage(id, with_tasks);
    return stage.ok() ? JsonReply(200, *stage) : ErrorReply(stage.status());
  });
  add("GET", "/v1/stages/([^/]+)/summary", "/v1/stages/{stageId}/summary", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "stageId", id); !s.ok()) return ErrorReply(s);
    auto summary = st.GetStageSummary(id);
    return summary.ok() ? JsonReply(200, *summary) : ErrorReply(summary.status());
  });
  add("PATCH", "/v1/stages/([^/]+)/user-metadata", "/v1/stages/{stageId}/user-metadata", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "stageId", id); !s.ok()) return ErrorReply(s);
    auto md = domain::ParseUserMetadata(c.req.body);
    if (!md.ok()) return ErrorReply(md.status());
    if (auto s = st.SetStageUserMetadata(id, *md); !s.ok()) return ErrorReply(s);
    return CodeReply("STAGE_MODIFIED_SUCCESSFULLY");
  });
  add("PUT", "/v1/stages/([^/]+)/status", "/v1/stages/{stageId}/status", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "stageId", id); !s.ok()) return ErrorReply(s);
    auto status = domain::ParseStageStatusChange(c.req.body);
    if (!status.ok()) return ErrorReply(status.status());
    if (auto s = st.SetStageStatus(id, *status); !s.ok()) return ErrorReply(s);
    spdlog::info("stage {} status set to {}", id, domain::ToString(*status));
    return CodeReply("STAGE_MODIFIED_SUCCESSFULLY");
  });
  add("GET", "/v1/stages/([^/]+)/tasks", "/v1/stages/{stageId}/tasks", WithPaging({}), [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "stageId", id); !s.ok()) return ErrorReply(s);
    Query q(c.query);
    const Paging paging = ReadPaging(q, ListKind::kTasks);
    if (!q.status().ok()) return ErrorReply(q.status());
    if (auto stage = st.GetStage(id, false); !stage.ok()) return ErrorReply(stage.status());
    domain::TaskFilter f;
    f.stage_id = id;
    return ListReply<domain::Task>(c, paging, ListKind::kTasks,
                                   [&st, f](const store::ListRange& r) { return st.ListTasks(f, r); });
  });
  add("POST", "/v1/stages/([^/]+)/tasks", "/v1/stages/{stageId}/tasks", {}, [&st, &m](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "stageId", id); !s.ok()) return ErrorReply(s);
    auto tasks = domain::ParseNewTasks(c.req.body);
    if (!tasks.ok()) return ErrorReply(tasks.status());
    auto created = st.AddTasks(id, *tasks, c.trace);
    if (!created.ok()) return ErrorReply(created.status());
    m.tasks_created.Increment(static_cast<double>(created->size()));
    spdlog::info("{} tasks added to stage {}", created->size(), id);
    return JsonReply(201, *created);
  });
  add("PATCH", "/v1/stages/([^/]+)/tasks/dequeue", "/v1/stages/{stageType}/tasks/dequeue", {},
      [&st, &m](Call& c) -> Reply {
        const std::string type = c.req.matches[1].str();
        Tag("jobnik.stage.type", type);
        if (auto s = domain::CheckTextParam(type, "request/params/stageType", 50); !s.ok()) return ErrorReply(s);
        auto d = st.Dequeue(type);
        if (!d.ok()) {
          if (d.status().code() == ErrorCode::kTaskNotFound) m.dequeue_misses.Increment();
          return ErrorReply(d.status());
        }
        m.tasks_dequeued.Increment();
        Tag("jobnik.task.id", d->task.id);
        Tag("jobnik.stage.id", d->task.stage_id);
        Tag("jobnik.job.id", d->job_id);
        spdlog::debug("task {} of stage {} (job {}) dequeued", d->task.id, d->task.stage_id, d->job_id);
        return JsonReply(200, d->task);
      });

  // ------------------------------------------------------------------ tasks
  add("GET", "/v1/tasks", "/v1/tasks", WithPaging({"stage_id", "stage_type", "status", "from_date", "end_date"}),
      [&st](Call& c) -> Reply {
        Query q(c.query);
        domain::TaskFilter f;
        f.stage_id = q.Uuid("stage_id");
        f.stage_type = q.String("stage_type", 0, 50);
        f.status = q.Enum("status", domain::ParseTaskStatus, domain::kAllTaskStatuses);
        f.from_date = q.Time("from_date", domain::DateBound::kStartOfDay);
        f.end_date = q.Time("end_date", domain::DateBound::kEndOfDay);
        const Paging paging = ReadPaging(q, ListKind::kTasks);
        if (!q.status().ok()) return ErrorReply(q.status());
        return ListReply<domain::Task>(c, paging, ListKind::kTasks,
                                       [&st, f](const store::ListRange& r) { return st.ListTasks(f, r); });
      });
  add("GET", "/v1/tasks/([^/]+)", "/v1/tasks/{taskId}", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "taskId", id); !s.ok()) return ErrorReply(s);
    auto task = st.GetTask(id);
    return task.ok() ? JsonReply(200, *task) : ErrorReply(task.status());
  });
  add("PATCH", "/v1/tasks/([^/]+)/user-metadata", "/v1/tasks/{taskId}/user-metadata", {}, [&st](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "taskId", id); !s.ok()) return ErrorReply(s);
    auto md = domain::ParseUserMetadata(c.req.body);
    if (!md.ok()) return ErrorReply(md.status());
    if (auto s = st.SetTaskUserMetadata(id, *md); !s.ok()) return ErrorReply(s);
    return CodeReply("TASK_MODIFIED_SUCCESSFULLY");
  });
  add("PUT", "/v1/tasks/([^/]+)/status", "/v1/tasks/{taskId}/status", {}, [&st, &m](Call& c) -> Reply {
    std::string id;
    if (auto s = UuidParam(c.req, "taskId", id); !s.ok()) return ErrorReply(s);
    auto status = domain::ParseTaskStatusChange(c.req.body);
    if (!status.ok()) return ErrorReply(status.status());
    auto r = st.ReportTask(id, *status);
    if (!r.ok()) return ErrorReply(r.status());
    Tag("jobnik.stage.id", r->task.stage_id);
    Tag("jobnik.job.id", r->job_id);
    switch (r->task.status) {
      case domain::TaskStatus::kCompleted:
        m.tasks_completed.Increment();
        break;
      case domain::TaskStatus::kFailed:
        m.tasks_failed.Increment();
        break;
      case domain::TaskStatus::kRetried:
        m.tasks_retried.Increment();
        break;
      default:
        break;
    }
    if (r->task.status != domain::TaskStatus::kCompleted) {
      spdlog::info("task {} of stage {} (job {}) reported FAILED -> {} (attempt {}/{})", id, r->task.stage_id,
                   r->job_id, domain::ToString(r->task.status), r->task.attempts, r->task.max_attempts);
    }
    if (r->stage_completed) spdlog::info("stage {} of job {} completed", r->task.stage_id, r->job_id);
    if (r->stage_failed) spdlog::warn("stage {} of job {} failed (task {})", r->task.stage_id, r->job_id, id);
    if (r->next_stage_started) spdlog::info("stage {} of job {} started", *r->next_stage_started, r->job_id);
    if (r->job_completed) spdlog::info("job {} completed", r->job_id);
    if (r->job_failed) spdlog::warn("job {} failed", r->job_id);
    return JsonReply(200, r->task);
  });

  // ------------------------------------------------------------------ operational
  add("GET", "/liveness", "/liveness", {}, [this](Call&) -> Reply {
    if (liveness_ && !liveness_()) return {503, R"({"status":"embedded database down"})", {}};
    return {200, R"({"status":"ok"})", {}};
  });
  add("GET", "/readiness", "/readiness", {}, [this, &st](Call&) -> Reply {
    if (draining_) return {503, R"({"status":"draining"})", {}};
    if (auto s = st.Ping(); !s.ok()) return {503, R"({"status":"database unavailable"})", {}};
    return {200, R"({"status":"ok"})", {}};
  });
  add("GET", "/metrics", "/metrics", {}, [&m](Call&) -> Reply {
    return {200, m.Expose(), {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}}};
  });
  add("GET", "/openapi.yaml", "/openapi.yaml", {}, [](Call&) -> Reply {
    for (const auto& f : embedded::docs::Files()) {
      if (f.name == "openapi.yaml") return {200, std::string(f.content), {{"Content-Type", "application/yaml"}}};
    }
    return ErrorReply({ErrorCode::kRouteNotFound, "No API description is built in"});
  });

  // ---- wire each route with the common envelope ----
  // Path patterns with their allowed methods, for 405 answers.
  std::vector<std::pair<std::string, std::string>> allowed;  // pattern -> "GET, POST"
  for (const auto& r : routes) {
    auto it = std::find_if(allowed.begin(), allowed.end(), [&](const auto& a) { return a.first == r.pattern; });
    if (it == allowed.end()) {
      allowed.emplace_back(r.pattern, r.method);
    } else {
      it->second += ", " + r.method;
    }
  }

  for (const auto& r : routes) {
    auto envelope = [this, handler = r.handler, tmpl = r.template_, query_names = r.query](const httplib::Request& req,
                                                                                           httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      std::optional<tracing::TraceContext> parent;
      if (req.has_header("traceparent")) parent = tracing::ParseTraceparent(req.get_header_value("traceparent"));
      Call call{req, UrlQuery(req), tracing::ChildOf(parent), {}};
      call.trace.traceparent = call.span.Traceparent();
      if (parent && req.has_header("tracestate") && domain::IsTracestate(req.get_header_value("tracestate"))) {
        call.trace.tracestate = req.get_header_value("tracestate");
      }
      // The server span is built only when spans are exported (no work per request otherwise).
      std::optional<tracing::ScopedSpan> scoped;
      if (tracer_ && tracer_->enabled()) {
        tracing::Span server_span;
        server_span.trace_id = call.span.trace_id;
        server_span.span_id = call.span.span_id;
        if (parent) server_span.parent_span_id = parent->span_id;
        server_span.name = req.method + " " + tmpl;
        server_span.kind = tracing::SpanKind::kServer;
        server_span.attributes = {{"http.request.method", req.method}, {"http.route", tmpl}, {"url.path", req.path}};
        scoped.emplace(tracer_, std::move(server_span));
      }
      Reply reply;
      try {
        const Status query = CheckQueryNames(call.query, query_names);
        reply = query.ok() ? handler(call) : ErrorReply(query);
      } catch (const std::exception& e) {
        spdlog::error("{} {}: unexpected error: {}", req.method, tmpl, e.what());
        reply = ErrorReply({ErrorCode::kUnknown, "An unexpected error occurred"});
      }
      if (scoped) {
        scoped->span().int_attributes.emplace_back("http.response.status_code", reply.status);
        scoped->span().error = reply.status >= 500;
      }
      res.status = reply.status;
      const bool streamed = static_cast<bool>(reply.stream);
      if (streamed) res.set_chunked_content_provider(kJson, std::move(reply.stream));
      bool content_type_set = false;
      for (auto& [k, v] : reply.headers) {
        if (k == "Content-Type") {
          res.set_content(std::move(reply.body), v.c_str());
          content_type_set = true;
        } else {
          res.set_header(k.c_str(), v);
        }
      }
      if (!content_type_set && reply.status != 204 && !streamed) {
        res.set_content(std::move(reply.body), kJson);
      }
      res.set_header("traceparent", call.trace.traceparent);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      metrics_.ObserveRequest(tmpl, req.method, res.status, seconds);
      // The request id: the caller's X-Request-Id when it sent a sane one, else this span's id.
      std::string request_id = req.get_header_value("X-Request-Id");
      if (request_id.empty() || request_id.size() > 128 ||
          !std::all_of(request_id.begin(), request_id.end(), [](char ch) { return ch > ' ' && ch < 127; })) {
        request_id = call.span.span_id;
      }
      res.set_header("X-Request-Id", request_id);
      if (options_.access_log) {
        spdlog::info("access method={} route={} status={} duration_ms={:.2f} request_id={} trace_id={} remote={}",
                     req.method, tmpl, res.status, seconds * 1000, request_id, call.span.trace_id, req.remote_addr);
      }
    };
    if (r.method == "GET")
      server.Get(r.pattern, envelope);
    else if (r.method == "POST")
      server.Post(r.pattern, envelope);
    else if (r.method == "PUT")
      server.Put(r.pattern, envelope);
    else if (r.method == "PATCH")
      server.Patch(r.pattern, envelope);
    else if (r.method == "DELETE")
      server.Delete(r.pattern, envelope);
  }

  // A known path with another method: 405 with Allow.
  for (const auto& [pattern, methods] : allowed) {
    auto not_allowed = [methods = methods](const httplib::Request& req, httplib::Response& res) {
      res.status = 405;
      res.set_header("Allow", methods);
      res.set_header("traceparent", tracing::ChildOf(std::nullopt).Traceparent());
      res.set_content(
          domain::ErrorBody({ErrorCode::kMethodNotAllowed, fmt::format("Method {} is not allowed on {}; allowed: {}",
                                                                       req.method, req.path, methods)}),
          kJson);
    };
    for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
      if (methods.find(method) != std::string::npos) continue;
      // No method name is a substring of another, so find() is an exact test here.
      if (std::string_view(method) == "GET")
        server.Get(pattern, not_allowed);
      else if (std::string_view(method) == "POST")
        server.Post(pattern, not_allowed);
      else if (std::string_view(method) == "PUT")
        server.Put(pattern, not_allowed);
      else if (std::string_view(method) == "PATCH")
        server.Patch(pattern, not_allowed);
      else
        server.Delete(pattern, not_allowed);
    }
    server.Options(pattern, not_allowed);
  }

  server.set_payload_max_length(options_.body_limit);
  // HTTP/1.1 (RFC 9112 6.3): a request with neither Content-Length nor Transfer-Encoding
  // has no body. httplib would instead read a PATCH/POST/PUT/DELETE body until the
  // connection closes, so `curl -X PATCH .../dequeue` would hang until the read timeout.
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // Shutdown closed this connection as idle just as its request arrived: don't run it.
    if (options_.connections && !options_.connections->RequestStarted(req)) {
      res.status = 503;
      res.set_content(domain::ErrorBody({ErrorCode::kUnavailable, "jobnikd is shutting down"}), kJson);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      const_cast<httplib::Request&>(req).headers.emplace("Content-Length", "0");
    }
    // A body is JSON whatever its Content-Type says (v1 clients, and `curl -d`, send other
    // types), but httplib would split a multipart/form-data body into parts (leaving no
    // body) and refuse a form-urlencoded one over 8 KB with 413: it reads both as is.
    for (auto [it, end] = const_cast<httplib::Request&>(req).headers.equal_range("Content-Type"); it != end; ++it) {
      if (it->second.rfind("multipart/form-data", 0) == 0 ||
          it->second.rfind("application/x-www-form-urlencoded", 0) == 0) {
        it->second = kJson;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Anything httplib answers on its own (unknown route, oversized body, bad request line)
  // still gets a JSON error body.
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [limit = options_.body_limit](const httplib::Request& req, httplib::Response& res) {
        if (!res.has_header("traceparent")) res.set_header("traceparent", tracing::ChildOf(std::nullopt).Traceparent());
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        Status s;
        switch (res.status) {
          case 404:
            s = {ErrorCode::kRouteNotFound, fmt::format("No route for {} {}", req.method, req.path)};
            break;
          case 413:
            s = {ErrorCode::kPayloadTooLarge,
                 fmt::format("Request body is larger than the limit of {} bytes set by jobnikd --body-limit", limit)};
            break;
          case 400:
            s = domain::ValidationError("Malformed HTTP request");
            break;
          case 414:
            s = domain::ValidationError(fmt::format("Request target (path and query) is longer than {} bytes",
                                                    CPPHTTPLIB_REQUEST_URI_MAX_LENGTH));
            break;
          default:
            s = {ErrorCode::kUnknown, fmt::format("HTTP error {}", res.status)};
            break;
        }
        res.set_content(domain::ErrorBody(s), kJson);
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: unhandled error: {}", req.method, req.path, e.what());
    } catch (...) {
      spdlog::error("{} {}: unhandled error", req.method, req.path);
    }
    res.status = 500;
    res.set_content(domain::ErrorBody({ErrorCode::kUnknown, "An unexpected error occurred"}), kJson);
  });
}

}  // namespace jobnik::http
