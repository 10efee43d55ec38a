#include "store/pg/pool.h"

#include <spdlog/spdlog.h>

#include "store/pg/statements.h"

namespace jobnik::store::pg {

Pool::Pool(PoolOptions options) : options_(std::move(options)) {}

Pool::~Pool() = default;

Pool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)), broken_(other.broken_) {
  other.pool_ = nullptr;
}

Pool::Lease::~Lease() {
  if (pool_ && conn_) pool_->Release(std::move(conn_), broken_);
}

std::unique_ptr<pqxx::connection> Pool::Open() {
  auto conn = std::make_unique<pqxx::connection>(options_.url);
  pqxx::nontransaction setup(*conn);
  setup.exec0("SET search_path TO " + setup.quote_name(options_.schema) +
              "; SET TimeZone TO 'UTC'; SET DateStyle TO 'ISO'; SET application_name TO 'jobnikd'");
  setup.commit();
  if (options_.prepare_statements) PrepareAll(*conn);
  return conn;
}

domain::Result<Pool::Lease> Pool::Acquire() {
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
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(conn));
  }
  ++open_;
  lock.unlock();
  try {
    return Lease(this, Open());
  } catch (const std::exception& e) {
    spdlog::error("database connection failed: {}", e.what());
    lock.lock();
    --open_;
    --in_use_;
    cv_.notify_one();
    return domain::Status(domain::ErrorCode::kUnavailable, "The database is not reachable");
  }
}

void Pool::Release(std::unique_ptr<pqxx::connection> conn, bool broken) {
  std::unique_ptr<pqxx::connection> doomed;
  {
    std::lock_guard lock(mu_);
    --in_use_;
    if (broken || !conn->is_open()) {
      ++broken_;
      --open_;
      doomed = std::move(conn);
    } else {
      idle_.push_back(std::move(conn));
    }
  }
  cv_.notify_one();
  // A broken connection is closed outside the lock.
}

PoolStats Pool::Stats() const {
  std::lock_guard lock(mu_);
  return {options_.size, open_, in_use_, waits_, timeouts_, broken_};
}

}  // namespace jobnik::store::pg
