// Lists (see lists.h): paging parameters, cursors, and the paged or streamed list reply.
#include "http/lists.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <charconv>
#include <climits>
#include <cstring>
#include <memory>
#include <utility>

#include "domain/codec.h"
#include "domain/validation.h"

namespace jobnik::http {

using domain::Result;

namespace {

// The paging parameters every list route takes besides its filters.
const std::vector<std::string> kPagingParams = {"limit", "cursor", "page", "page_size"};

constexpr std::int64_t kMaxPageSize = 1000;  // limit, page_size
constexpr std::int64_t kMaxPage = 10'000'000;
// Rows per database round trip when a whole list is streamed: the daemon holds one batch
// (and one pooled connection, only while reading it) at a time.
constexpr int kStreamBatch = 1000;

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

bool ParseInt64(std::string_view s, std::int64_t& out) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
}

// The URL of the next page: this request's with the cursor (or page) moved on.
std::string NextLink(const Call& c, const std::string& param, const std::string& value) {
  httplib::Params params = c.query;
  params.erase(param);
  params.emplace(param, value);
  return fmt::format("<{}?{}>; rel=\"next\"", c.req.path, httplib::detail::params_to_query_str(params));
}

}  // namespace

std::vector<std::string> WithPaging(std::vector<std::string> names) {
  names.insert(names.end(), kPagingParams.begin(), kPagingParams.end());
  return names;
}

std::string EncodeCursor(ListKind kind, const store::ListKey& key) {
  std::string text = fmt::format("{}1:{}", static_cast<char>(kind), key.time_or_seq);
  const bool by_number = kind == ListKind::kTasks || kind == ListKind::kEvents;  // seq or event id alone
  if (!by_number) text += ":" + key.id;
  if (kind == ListKind::kStages) text += fmt::format(":{}", key.order);
  return Base64UrlEncode(text);
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
  const bool by_number = kind == ListKind::kTasks || kind == ListKind::kEvents;  // seq or event id alone
  const std::size_t want = by_number ? 2 : kind == ListKind::kJobs ? 3 : 4;
  if (parts.size() != want || parts[0] != std::string{static_cast<char>(kind), '1'}) return std::nullopt;
  store::ListKey key;
  if (!ParseInt64(parts[1], key.time_or_seq)) return std::nullopt;
  // Creation times from year 1 to 9999 (µs since 1970); seqs and event ids are positive.
  if (by_number ? key.time_or_seq < 0
                : (key.time_or_seq < -62'135'596'800'000'000LL || key.time_or_seq > 253'402'300'799'999'999LL)) {
    return std::nullopt;
  }
  if (!by_number) {
    if (!domain::IsUuid(parts[2])) return std::nullopt;
    key.id = std::string(parts[2]);
  }
  if (kind == ListKind::kStages && (!ParseInt64(parts[3], key.order) || key.order < 0 || key.order > INT32_MAX)) {
    return std::nullopt;
  }
  return key;
}

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

template Reply ListReply<domain::Job>(const Call&, const Paging&, ListKind,
                                      std::function<Result<store::ListPage<domain::Job>>(const store::ListRange&)>);
template Reply ListReply<domain::Stage>(const Call&, const Paging&, ListKind,
                                        std::function<Result<store::ListPage<domain::Stage>>(const store::ListRange&)>);
template Reply ListReply<domain::Task>(const Call&, const Paging&, ListKind,
                                       std::function<Result<store::ListPage<domain::Task>>(const store::ListRange&)>);
template Reply ListReply<domain::JobEvent>(
    const Call&, const Paging&, ListKind,
    std::function<Result<store::ListPage<domain::JobEvent>>(const store::ListRange&)>);

}  // namespace jobnik::http
