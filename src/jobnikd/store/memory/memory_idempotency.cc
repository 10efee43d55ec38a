#include "store/memory/memory_idempotency.h"

namespace jobnik::store::memory {

using Outcome = IdempotencyBegin::Outcome;

domain::Result<IdempotencyBegin> MemoryIdempotencyKeys::Begin(const IdempotentRequest& request,
                                                              const IdempotencyTimes& times) {
  std::lock_guard lock(mu_);
  const auto now = now_();
  auto [it, inserted] = keys_.try_emplace({request.scope, request.key});
  Entry& e = it->second;
  bool taken_over = false;
  if (!inserted) {
    const bool expired = e.created_at < now - times.retention;
    const bool abandoned = !e.done && e.locked_until < now;
    if (!expired && !abandoned) {
      if (e.fingerprint != request.fingerprint) return IdempotencyBegin{Outcome::kReused, {}, false};
      if (!e.done) return IdempotencyBegin{Outcome::kInProgress, {}, false};
      return IdempotencyBegin{Outcome::kReplay, e.answer, false};
    }
    taken_over = abandoned && !expired;
  }
  e = Entry{request.fingerprint, now, now + times.hold, false, {}};
  return IdempotencyBegin{Outcome::kStarted, {}, taken_over};
}

domain::Status MemoryIdempotencyKeys::Finish(const IdempotentRequest& request, const StoredAnswer& answer) {
  std::lock_guard lock(mu_);
  auto it = keys_.find({request.scope, request.key});
  if (it != keys_.end() && !it->second.done) {
    it->second.done = true;
    it->second.answer = answer;
  }
  return domain::Status::Ok();
}

domain::Status MemoryIdempotencyKeys::Abandon(const IdempotentRequest& request) {
  std::lock_guard lock(mu_);
  auto it = keys_.find({request.scope, request.key});
  if (it != keys_.end() && !it->second.done) keys_.erase(it);
  return domain::Status::Ok();
}

domain::Result<std::int64_t> MemoryIdempotencyKeys::DeleteExpired(std::chrono::seconds retention, int limit) {
  std::lock_guard lock(mu_);
  const auto cutoff = now_() - retention;
  std::int64_t deleted = 0;
  for (auto it = keys_.begin(); it != keys_.end() && deleted < limit;) {
    if (it->second.created_at < cutoff) {
      it = keys_.erase(it);
      ++deleted;
    } else {
      ++it;
    }
  }
  return deleted;
}

std::size_t MemoryIdempotencyKeys::size() const {
  std::lock_guard lock(mu_);
  return keys_.size();
}

}  // namespace jobnik::store::memory
