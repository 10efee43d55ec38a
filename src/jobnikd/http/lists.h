// Lists: streamed whole (v1), or in pages (extension; docs/design.md "Lists").
//  - WithPaging: a list route's query names plus the paging parameters.
//  - EncodeCursor/DecodeCursor: the opaque cursor of X-Next-Cursor, per list kind.
//  - ReadPaging: limit/cursor or page/page_size from the query, checked.
//  - ListReply: one page with its X-Next-Cursor and Link headers, or the whole list
//    read and streamed a batch (one short transaction) at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/error.h"
#include "domain/model.h"
#include "http/envelope.h"
#include "http/query.h"
#include "store/store.h"

namespace jobnik::http {

// `names` and the paging parameters every list route takes besides its filters.
std::vector<std::string> WithPaging(std::vector<std::string> names);

// Which list a cursor belongs to: a job cursor is no cursor of /v1/tasks.
enum class ListKind : char { kJobs = 'j', kStages = 's', kTasks = 't', kEvents = 'e' };

// The opaque cursor: base64url of "<kind>1:<time or seq>[:<id>[:<order>]]" (events: the
// last event id seen).
std::string EncodeCursor(ListKind kind, const store::ListKey& key);
// The key of a cursor of list `kind`; nullopt when `cursor` is not one.
std::optional<store::ListKey> DecodeCursor(ListKind kind, std::string_view cursor);

// Rows per page when a paged list is asked for without `limit` (or `page_size`).
inline constexpr std::int64_t kDefaultPageSize = 100;

// How the client asked for a list: everything (v1), or one page.
struct Paging {
  bool paged = false;
  std::int64_t size = 0;             // rows per page when paged
  std::optional<std::int64_t> page;  // page/page_size: 1-based page number
  store::ListRange range;            // after (cursor) and offset (page)
};

// Reads limit/cursor or page/page_size; errors go into `q` (naming the parameter).
Paging ReadPaging(Query& q, ListKind kind);

// Answers a list request; `fetch` reads one page of the list (one transaction). Defined
// (and instantiated for Job, Stage and Task) in lists.cc, which describes both ways.
template <typename T>
Reply ListReply(const Call& c, const Paging& p, ListKind kind,
                std::function<domain::Result<store::ListPage<T>>(const store::ListRange&)> fetch);

extern template Reply ListReply<domain::Job>(
    const Call&, const Paging&, ListKind,
    std::function<domain::Result<store::ListPage<domain::Job>>(const store::ListRange&)>);
extern template Reply ListReply<domain::Stage>(
    const Call&, const Paging&, ListKind,
    std::function<domain::Result<store::ListPage<domain::Stage>>(const store::ListRange&)>);
extern template Reply ListReply<domain::Task>(
    const Call&, const Paging&, ListKind,
    std::function<domain::Result<store::ListPage<domain::Task>>(const store::ListRange&)>);
extern template Reply ListReply<domain::JobEvent>(
    const Call&, const Paging&, ListKind,
    std::function<domain::Result<store::ListPage<domain::JobEvent>>(const store::ListRange&)>);

}  // namespace jobnik::http
