#include "http/idempotency.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/digest.h"

namespace jobnik::http {

using domain::ErrorCode;
using domain::Status;
using Outcome = store::IdempotencyBegin::Outcome;

bool TakesIdempotencyKey(const Route& route) {
  constexpr std::string_view kDequeue = "/dequeue";
  const std::string_view tmpl = route.template_;
  return route.method == "POST" || (route.method == "PATCH" && tmpl.size() >= kDequeue.size() &&
                                    tmpl.substr(tmpl.size() - kDequeue.size()) == kDequeue);
}

Status CheckIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxIdempotencyKeyLength) {
    return domain::ValidationError(fmt::format("Header {}: must be 1 to {} characters long, not {}",
                                               kIdempotencyKeyHeader, kMaxIdempotencyKeyLength, key.size()));
  }
  if (!std::all_of(key.begin(), key.end(), [](char c) { return c >= ' ' && c <= '~'; })) {
    return domain::ValidationError(
        fmt::format("Header {}: must be printable ASCII characters only", kIdempotencyKeyHeader));
  }
  return Status::Ok();
}

std::string RequestFingerprint(const httplib::Request& req, const httplib::Params& query) {
  digest::Sha256 sha;
  // Each part is followed by a separator no part contains, so parts cannot run together.
  sha.Update(req.method).Update("\n").Update(req.path).Update("\n");
  for (const auto& [k, v] : query) sha.Update(k).Update("=").Update(v).Update("&");
  sha.Update("\n").Update(std::to_string(req.body.size())).Update("\n").Update(req.body);
  return sha.Hex();
}

Reply RunIdempotent(const IdempotencyOptions& options, Metrics& metrics, Call& call, const Handler& handler) {
  const httplib::Request& req = call.req;
  if (!options.keys || !req.has_header(kIdempotencyKeyHeader)) return handler(call);
  const std::string key = req.get_header_value(kIdempotencyKeyHeader);
  if (Status bad = CheckIdempotencyKey(key); !bad.ok()) return ErrorReply(bad);
  const store::IdempotentRequest request{"", key, RequestFingerprint(req, call.query)};
  Tag("idempotency.key", key);

  auto begun = options.keys->Begin(request, options.times);
  if (!begun.ok()) return ErrorReply(begun.status());
  switch (begun->outcome) {
    case Outcome::kReplay: {
      metrics.idempotency_replayed.Increment();
      Tag("idempotency.outcome", "replayed");
      spdlog::debug("{} {}: replayed the answer of Idempotency-Key {}", req.method, req.path, key);
      return {begun->answer.status, std::move(begun->answer.body), {{"Idempotent-Replayed", "true"}}};
    }
    case Outcome::kReused:
      metrics.idempotency_reused.Increment();
      Tag("idempotency.outcome", "reused");
      return ErrorReply({ErrorCode::kIdempotencyKeyReused,
                         fmt::format("Idempotency-Key '{}' was already used for a different request (another method, "
                                     "path, query or body); use a new key for a new request",
                                     key)});
    case Outcome::kInProgress: {
      metrics.idempotency_in_use.Increment();
      Tag("idempotency.outcome", "in_use");
      Reply reply = ErrorReply({ErrorCode::kIdempotencyKeyInUse,
                                fmt::format("A request with Idempotency-Key '{}' is still running; retry later to get "
                                            "its answer",
                                            key)});
      reply.headers.emplace_back("Retry-After", "1");
      return reply;
    }
    case Outcome::kStarted:
      break;
  }
  metrics.idempotency_started.Increment();
  if (begun->taken_over) {
    metrics.idempotency_taken_over.Increment();
    spdlog::warn(
        "{} {}: Idempotency-Key {} was held by a request that never finished (its jobnikd stopped?); "
        "doing the work again",
        req.method, req.path, key);
  }
  Tag("idempotency.outcome", begun->taken_over ? "taken_over" : "started");

  Reply reply;
  try {
    reply = handler(call);
  } catch (...) {
    (void)options.keys->Abandon(request);
    throw;
  }
  if (reply.status >= 500 || reply.stream) {
    if (Status s = options.keys->Abandon(request); !s.ok()) {
      spdlog::warn("{} {}: could not release Idempotency-Key {} after a failure: {}", req.method, req.path, key,
                   s.message());
    }
  } else if (Status s = options.keys->Finish(request, {reply.status, reply.body}); !s.ok()) {
    // The work is done but its answer is not stored: a retry gets 409 until the key's hold
    // ends, then does the work again.
    spdlog::error("{} {}: could not store the answer for Idempotency-Key {}: {}", req.method, req.path, key,
                  s.message());
  }
  return reply;
}

}  // namespace jobnik::http
