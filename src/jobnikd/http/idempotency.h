// Idempotency-Key on the API (extension; docs/design.md, "Idempotency keys"): a request
// sent again with the key of an earlier one gets the earlier answer, with
// `Idempotent-Replayed: true`, instead of doing the work twice.
//
// Which requests: every POST, and the v1 dequeue (PATCH .../tasks/dequeue), so that a
// claim whose answer was lost, sent again with its key, gets the same task back. Other
// methods ignore the header (GET, PUT, PATCH and DELETE are repeatable as they are).
//
// The answer stored is the first request's, whatever it was, except a 5xx (the key is
// then forgotten, so that a retry does the work). The key must be 1..255 printable ASCII
// characters (400 otherwise); the same key with another method, path, query or body is
// refused 422 IDEMPOTENCY_KEY_REUSED; while the first request runs, the others get 409
// IDEMPOTENCY_KEY_IN_USE with Retry-After.
#pragma once

#include <string>
#include <string_view>

#include "http/envelope.h"
#include "metrics.h"
#include "store/idempotency.h"

namespace jobnik::http {

inline constexpr const char* kIdempotencyKeyHeader = "Idempotency-Key";
inline constexpr std::size_t kMaxIdempotencyKeyLength = 255;

struct IdempotencyOptions {
  store::IdempotencyKeys* keys = nullptr;  // null: the header is ignored
  store::IdempotencyTimes times{};
};

// Whether requests to `route` honour the header (see above).
bool TakesIdempotencyKey(const Route& route);

// VALIDATION_ERROR naming the header unless `key` is 1..255 printable ASCII characters.
domain::Status CheckIdempotencyKey(std::string_view key);

// The fingerprint of a request: SHA-256 over its method, path, query parameters (in key
// order) and body.
std::string RequestFingerprint(const httplib::Request& req, const httplib::Params& query);

// Runs `handler` for `call` under the request's Idempotency-Key (when it has one and
// `options.keys` is set): replays, refuses, or runs it and stores its answer.
Reply RunIdempotent(const IdempotencyOptions& options, Metrics& metrics, Call& call, const Handler& handler);

}  // namespace jobnik::http
