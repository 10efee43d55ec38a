// A fixed-size pool of libpqxx connections.
//
// Connections are opened lazily, up to `size`. Each gets `SET search_path` to the
// configured schema, UTC/ISO time output, JIT off (see Open), and every named statement of
// store/pg/queries prepared. A connection that reported broken_connection is
// destroyed, never reused (libpqxx 6.4 would otherwise silently reconnect and lose
// its prepared statements). Thread-safe.
//
// Plans: PostgreSQL picks a custom plan per execution of a prepared statement when it
// estimates that to be cheaper than its cached generic plan. For the batched hot paths
// (claims, completions), whose statements are keyed by ids and types, planning costs
// more than running, so they ask for Plans::kGeneric: the connection gets
// `plan_cache_mode = force_generic_plan` (one SET when a connection changes mode; the
// pool hands out a connection already in the wanted mode when one is idle).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "domain/error.h"

namespace jobnik::store::pg {

struct PoolOptions {
  std::string url;                                  // libpq URL or key=value string
  std::string schema = "jobnik";                    // search_path of every connection
  int size = 16;                                    // maximum open connections
  std::chrono::milliseconds acquire_timeout{5000};  // waiting for a free connection
  bool prepare_statements = true;
  // Every connection commits with synchronous_commit off: a commit does not wait for its
  // WAL to reach disk (PostgreSQL may lose the last ~0.6 s of such commits if it crashes;
  // a later synchronous commit on any connection makes them durable). For writes whose
  // loss is harmless or covered (the idempotency keys, docs/design.md).
  bool asynchronous_commit = false;
};

struct PoolStats {
  int size = 0;                // configured maximum
  int open = 0;                // connections currently open
  int in_use = 0;              // leased right now
  std::uint64_t waits = 0;     // acquisitions that had to wait
  std::uint64_t timeouts = 0;  // acquisitions that gave up
  std::uint64_t broken = 0;    // connections discarded as broken
};

enum class Plans { kDefault, kGeneric };

class Pool {
 public:
  explicit Pool(PoolOptions options);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& operator*() const { return *conn_; }
    pqxx::connection* operator->() const { return conn_.get(); }
    // The connection is dropped instead of returned.
    void MarkBroken() { broken_ = true; }
    // Puts the connection in `plans` mode (a SET, only when it is in the other one). Call
    // before opening a transaction on it; throws what libpqxx throws.
    void UsePlans(Plans plans);

   private:
    friend class Pool;
    Lease(Pool* pool, std::unique_ptr<pqxx::connection> conn, Plans plans)
        : pool_(pool), conn_(std::move(conn)), plans_(plans) {}
    Pool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
    Plans plans_;
    bool broken_ = false;
  };

  // A connection, opening one if none is idle and the pool is not full. Errors:
  // kUnavailable when none frees up within acquire_timeout or the database cannot
  // be reached (the message is safe for clients; details are logged).
  // `plans`: the mode wanted (see above); an idle connection already in it is preferred.
  domain::Result<Lease> Acquire(Plans plans = Plans::kDefault);

  PoolStats Stats() const;
  // Closes every idle connection (their server restarted: they are all dead). Leased
  // ones are dropped when they report broken.
  void DropIdle();
  const PoolOptions& options() const { return options_; }

 private:
  void Release(std::unique_ptr<pqxx::connection> conn, Plans plans, bool broken);
  std::unique_ptr<pqxx::connection> Open();

  const PoolOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Idle {
    std::unique_ptr<pqxx::connection> conn;
    Plans plans;
  };
  std::vector<Idle> idle_;  // the most recently returned last
  int open_ = 0;
  int in_use_ = 0;
  std::uint64_t waits_ = 0, timeouts_ = 0, broken_ = 0;
};

}  // namespace jobnik::store::pg
