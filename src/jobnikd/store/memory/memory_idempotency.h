// IdempotencyKeys (store/idempotency.h) in memory, for tests of the HTTP API without
// PostgreSQL. One mutex around a map; times from the steady clock, or from `now` when a
// test sets it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "store/idempotency.h"

namespace jobnik::store::memory {

class MemoryIdempotencyKeys final : public IdempotencyKeys {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit MemoryIdempotencyKeys(Clock now = std::chrono::steady_clock::now) : now_(std::move(now)) {}

  domain::Result<IdempotencyBegin> Begin(const IdempotentRequest& request, const IdempotencyTimes& times) override;
  domain::Status Finish(const IdempotentRequest& request, const StoredAnswer& answer) override;
  domain::Status Abandon(const IdempotentRequest& request) override;
  domain::Result<std::int64_t> DeleteExpired(std::chrono::seconds retention, int limit) override;

  std::size_t size() const;

 private:
  struct Entry {
    std::string fingerprint;
    std::chrono::steady_clock::time_point created_at, locked_until;
    bool done = false;
    StoredAnswer answer;
  };
  Clock now_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Entry> keys_;  // (scope, key)
};

}  // namespace jobnik::store::memory
