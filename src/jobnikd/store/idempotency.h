// Idempotency keys (extension; docs/design.md, "Idempotency keys"): the stored answers of
// requests sent with an `Idempotency-Key` header, so that a retry of such a request gets the
// first answer back instead of doing the work again.
//
// A key lives in a scope (the caller: its token's name once authentication exists, "" until
// then), so callers never see each other's answers. Its life:
//  1. Begin: the first request with a key records it as running (with the fingerprint of
//     the request: method, path, query and body) and does the work; any other request with
//     the key learns whether to replay the stored answer, refuse a different request under
//     a used key, or wait because the first one is still running.
//  2. Finish stores the first request's answer; Abandon forgets the key instead (the work
//     failed on the server's side, so a retry may do it).
//  3. Keys older than the retention are deleted by DeleteExpired (the sweeper's leader) and
//     are as good as absent before then.
// A request whose server died between Begin and Finish leaves its key running; once
// `hold` has passed since its Begin, the next request with the key takes it over and does
// the work (which the first request may or may not have committed: design.md says more).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "domain/error.h"

namespace jobnik::store {

struct IdempotentRequest {
  std::string scope;        // the caller; "" without authentication
  std::string key;          // the Idempotency-Key header, 1..255 characters
  std::string fingerprint;  // of what was asked: equal for the same request (a digest, any bytes)
};

struct StoredAnswer {
  int status = 0;    // HTTP status
  std::string body;  // JSON
};

struct IdempotencyBegin {
  enum class Outcome : std::uint8_t {
    kStarted,     // the caller owns the key: do the work, then Finish or Abandon
    kReplay,      // answered before: `answer` is that answer
    kReused,      // the key was used for a different request (another fingerprint)
    kInProgress,  // the first request with the key is still running
  };
  Outcome outcome = Outcome::kStarted;
  StoredAnswer answer;      // kReplay only
  bool taken_over = false;  // kStarted: from a request that never finished (see above)
};

struct IdempotencyTimes {
  std::chrono::seconds retention{86400};  // a key is forgotten this long after its Begin
  std::chrono::seconds hold{180};         // an unfinished request owns its key this long
};

class IdempotencyKeys {
 public:
  virtual ~IdempotencyKeys() = default;
  virtual domain::Result<IdempotencyBegin> Begin(const IdempotentRequest& request, const IdempotencyTimes& times) = 0;
  virtual domain::Status Finish(const IdempotentRequest& request, const StoredAnswer& answer) = 0;
  virtual domain::Status Abandon(const IdempotentRequest& request) = 0;
  // Deletes up to `limit` keys older than `retention`; returns how many it deleted.
  virtual domain::Result<std::int64_t> DeleteExpired(std::chrono::seconds retention, int limit) = 0;
};

}  // namespace jobnik::store
