#include "store/pg/pool.h"

#include <algorithm>
#include <iterator>

#include <spdlog/spdlog.h>

#include "store/pg/statements.h"

namespace jobnik::store::pg {

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}

Pool::~Pool() = default;

Pool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)), plans_(other.plans_), broken_(other.broken_) {
  other.pool_ = nullptr;
}

Pool::Lease::~Lease() {
  if (pool_ && conn_) pool_->Release(std::move(conn_), plans_, broken_);
}

void Pool::Lease::UsePlans(Plans plans) {
  if (plans == plans_) return;
  pqxx::nontransaction tx(*conn_);
  tx.exec0(plans == Plans::kGeneric ? "SET plan_cache_mode TO force_generic_plan" : "RESET plan_cache_mode");
  tx.commit();
  plans_ = plans;
}

std::unique_ptr<pqxx::connection> Pool::Open() {
  auto conn = std::make_unique<pqxx::connection>(options_.url);
  pqxx::nontransaction setup(*conn);
  setup.exec0("SET search_path TO " + setup.quote_name(options_.schema) +
              "; SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO'; SET application_name TO 'jobnikd'"
              // JIT compiles a plan whose estimated cost passes jit_above_cost on every
              // execution: ~0.2 s for a claim of many stage types once the table holds
              // millions of rows, for statements that run in well under a millisecond.
              "; SET jit TO off");
  if (options_.asynchronous_commit) setup.exec0("SET synchronous_commit TO off");
  setup.commit();
  if (options_.prepare_statements) PrepareAll(*conn);
  return conn;
}

domain::Result<Pool::Lease> Pool::Acquire(Plans plans) {
  std::unique_lock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
  bool waited = false;
  while (idle_.empty() && open_ >= options_.size) {
    if (!waited) {
      ++waits_;
      waited = true;
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() && open_ >= options_.size) {
      ++timeouts_;
      return domain::Status(domain::ErrorCode::kUnavailable, "No database connection became free in time");
    }
  }
  ++in_use_;
  if (!idle_.empty()) {
    auto it = std::find_if(idle_.rbegin(), idle_.rend(), [&](const Idle& i) { return i.plans == plans; });
    auto pick = it == idle_.rend() ? std::prev(idle_.end()) : std::prev(it.base());
    Lease lease(this, std::move(pick->conn), pick->plans);
    idle_.erase(pick);
    return lease;
  }
  ++open_;
  lock.unlock();
  try {
    return Lease(this, Open(), Plans::kDefault);
  } catch (const std::exception& e) {
    spdlog::error("database connection failed: {}", e.what());
    lock.lock();
    --open_;
    --in_use_;
    cv_.notify_one();
    return domain::Status(domain::ErrorCode::kUnavailable, "The database is not reachable");
  }
}

void Pool::Release(std::unique_ptr<pqxx::connection> conn, Plans plans, bool broken) {
  std::unique_ptr<pqxx::connection> doomed;
  {
    std::lock_guard lock(mu_);
    --in_use_;
    if (broken || !conn->is_open()) {
      ++broken_;
      --open_;
      doomed = std::move(conn);
    } else {
      idle_.push_back({std::move(conn), plans});
    }
  }
  cv_.notify_one();
  // A broken connection is closed outside the lock.
}

void Pool::DropIdle() {
  std::vector<Idle> doomed;
  {
    std::lock_guard lock(mu_);
    doomed.swap(idle_);
    open_ -= static_cast<int>(doomed.size());
  }
  cv_.notify_all();
  // Closed outside the lock.
}

PoolStats Pool::Stats() const {
  std::lock_guard lock(mu_);
  return {options_.size, open_, in_use_, waits_, timeouts_, broken_};
}

}  // namespace jobnik::store::pg
