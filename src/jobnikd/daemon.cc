#include "daemon.h"

#include <arpa/inet.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <thread>

#include "common/logging.h"
#include "common/tracer.h"
#include "common/version.h"
#include "config.h"
#include "embedded_pg.h"
#include "http/api.h"
#include "http/connections.h"
#include "http/task_queue.h"
#include "metrics.h"
#include "process/config.h"
#include "process/exit_code.h"
#include "process/sd_notify.h"
#include "process/signals.h"
#include "services/claim_waiter.h"
#include "services/heartbeat.h"
#include "services/scheduler.h"
#include "services/sweeper.h"
#include "store/pg/idempotency.h"
#include "store/pg/instances.h"
#include "store/pg/leadership.h"
#include "store/pg/migrator.h"
#include "store/pg/pg_store.h"
#include "store/pg/pool.h"
#include "store/pg/retention.h"
#include "store/pg/tokens.h"
#include "tls.h"
#include "token_command.h"

namespace jobnik {
namespace {

struct Options {
  ConfigSources sources;
  bool print_config = false;
  bool migrate = false;     // serve: migrate before serving
  bool sweep_once = false;  // sweep: one sweep, then exit
  bool prune_once = false;  // prune: delete what retention allows, then exit
};

using process::ExitCode;

int Fail(std::ostream& err, ExitCode code, const std::string& message) {
  err << "jobnikd: " << message << "\n";
  return process::ToInt(code);
}

// cpp-httplib 0.11 listens with a compiled-in backlog of 5, so a burst of connects (many
// workers starting at once) overflows the accept queue and clients wait for SYN retries.
// Linux lets listen() be called again on the bound socket: find it and raise the backlog.
void RaiseListenBacklog(int port) {
  for (int fd = 3; fd < 1024; ++fd) {
    int accepting = 0;
    socklen_t len = sizeof accepting;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) continue;
    sockaddr_storage addr{};
    socklen_t addr_len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) bound = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) bound = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    if (bound == port && ::listen(fd, SOMAXCONN) != 0) {
      spdlog::warn("could not raise the listen backlog: {}", std::strerror(errno));
    }
  }
}

// The host of --listen resolves (cpp-httplib does not say why a bind fails, only errno).
domain::Status CheckListenHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (result) freeaddrinfo(result);
  if (rc != 0) return domain::ValidationError(fmt::format("cannot resolve host '{}': {}", host, gai_strerror(rc)));
  return domain::Status::Ok();
}

// The database the daemon uses: the configured URL, or the embedded one.
struct Database {
  std::optional<EmbeddedPostgres> embedded;
  std::string url;
};

domain::Status OpenDatabase(const Config& config, Database& db) {
  if (!config.database_url.empty()) {
    db.url = config.database_url;
    return domain::Status::Ok();
  }
  db.embedded.emplace(EmbeddedPgOptions{config.data_dir, config.postgres_bin_dir});
  JOBNIK_ASSIGN_OR_RETURN(db.url, db.embedded->Start());
  return domain::Status::Ok();
}

int RunMigrate(const Config& config, std::ostream& out, std::ostream& err) {
  Database db;
  if (auto s = OpenDatabase(config, db); !s.ok()) return Fail(err, ExitCode::kFailure, s.message());
  auto report = store::pg::Migrate(db.url, config.database_schema);
  if (!report.ok()) return Fail(err, ExitCode::kFailure, report.status().message());
  if (report->applied.empty()) {
    out << fmt::format("schema '{}' is up to date (version {})\n", config.database_schema, report->to_version);
  } else {
    for (const auto& name : report->applied) out << "applied " << name << "\n";
    out << fmt::format("schema '{}' migrated from version {} to {}\n", config.database_schema, report->from_version,
                       report->to_version);
  }
  return 0;
}

// How long the sweeper's leader keeps the row of an instance not seen, and the minute
// counts (docs/design.md, "Instances and throughput").
constexpr std::chrono::hours kInstanceKept{1};
constexpr std::chrono::hours kMinuteCountsKept{2};

// Connections of the idempotency keys' pool: two short statements per keyed request.
constexpr int kIdempotencyPoolSize = 8;

// Each HTTP thread's stack: address space, used as touched and given back after each
// request (ElasticTaskQueue::ReleaseUnusedStack). cpp-httplib's std::regex matching of a
// request target at its 8 KiB limit takes about 4.5 MB, so glibc's default 8 MiB stays.
constexpr std::size_t kHttpThreadStack = std::size_t{8} * 1024 * 1024;
// How often the connection guard looks, and how often it logs what it closed at most.
constexpr std::chrono::milliseconds kGuardInterval{250};
constexpr std::chrono::seconds kGuardLogEvery{10};

// The sweeper's options from the configuration; `keys`: the idempotency keys it expires;
// `retention`: where it deletes finished jobs.
services::SweeperOptions SweeperOptionsOf(const Config& config, store::IdempotencyKeys* keys,
                                          store::Retention* retention) {
  services::SweeperOptions o;
  o.interval = std::chrono::seconds(config.sweeper_interval);
  o.stale_after = std::chrono::seconds(config.sweeper_stale_after);
  o.batch = config.sweeper_batch;
  o.idempotency_keys = keys;
  o.idempotency_retention = std::chrono::seconds(config.idempotency_retention);
  o.retention = retention;
  o.retain_completed = std::chrono::seconds(config.retention_completed);
  o.retain_failed = std::chrono::seconds(config.retention_failed);
  o.retain_aborted = std::chrono::seconds(config.retention_aborted);
  o.prune_batch = {config.retention_batch, config.retention_batch_tasks};
  // Half of each interval at most, so a large backlog never holds up the next sweep.
  o.prune_budget = std::max(std::chrono::seconds(1), o.interval / 2);
  return o;
}

// What serve does with an external database's schema: check that it is this jobnikd's
// version, or migrate it first (serve --migrate).
enum class SchemaAction : std::uint8_t { kCheck, kMigrate };

// The embedded database is ours: keep it migrated. An external one is migrated on request
// (kMigrate), else its schema must be this jobnikd's version.
domain::Status MigrateOrCheckSchema(const Database& db, const Config& config, SchemaAction action) {
  if (db.embedded || action == SchemaAction::kMigrate)
    return store::pg::Migrate(db.url, config.database_schema).status();
  JOBNIK_ASSIGN_OR_RETURN(const int version, store::pg::CurrentVersion(db.url, config.database_schema));
  if (version < store::pg::LatestVersion()) {
    return domain::Status(domain::ErrorCode::kUnknown,
                          fmt::format("database schema '{}' is at version {}, this jobnikd needs {}: run 'jobnikd "
                                      "migrate' (or serve with --migrate)",
                                      config.database_schema, version, store::pg::LatestVersion()));
  }
  if (version > store::pg::LatestVersion()) {
    return domain::Status(domain::ErrorCode::kUnknown,
                          fmt::format("database schema '{}' is at version {}, newer than this jobnikd knows ({})",
                                      config.database_schema, version, store::pg::LatestVersion()));
  }
  return domain::Status::Ok();
}

// Whether serving with `config`'s auth.mode is allowed: listening beyond loopback with no
// authentication must be chosen (auth.mode off, warned about at every start), never the
// default.
domain::Status CheckAuthMode(const Config& config) {
  // A host that does not resolve: Listen() says so (the more useful message).
  if (http::IsLoopbackListen(config.ListenHost()) || !CheckListenHost(config.ListenHost()).ok()) {
    return domain::Status::Ok();
  }
  const auto mode = http::ParseAuthMode(config.auth_mode).value();
  if (mode == http::AuthMode::kAuto) {
    return domain::Status(
        domain::ErrorCode::kValidation,
        fmt::format("listen: {} is not a loopback address, and auth.mode is auto: set auth.mode (--auth) to required "
                    "and create tokens with 'jobnikd token create', or to off to let anyone who can reach {} do "
                    "anything (see jobnikd(8), Authentication)",
                    config.listen, config.listen));
  }
  if (mode == http::AuthMode::kOff) {
    spdlog::warn(
        "auth: off while listening on {}, not a loopback address: anyone who can reach it can create, "
        "change and delete jobs (set auth.mode to required)",
        config.listen);
  }
  return domain::Status::Ok();
}

// The database of a one-shot command (sweep, prune): opened (the embedded one started)
// and its schema migrated or checked as `serve` does without --migrate.
domain::Status OpenForCommand(const Config& config, Database& db) {
  JOBNIK_TRY(OpenDatabase(config, db));
  return MigrateOrCheckSchema(db, config, SchemaAction::kCheck);
}

int RunSweepOnce(const Config& config, std::ostream& out, std::ostream& err) {
  Database db;
  if (auto s = OpenForCommand(config, db); !s.ok()) return Fail(err, ExitCode::kFailure, s.message());
  store::pg::Pool pool({db.url, config.database_schema, 2});
  store::pg::PgStore store(pool);
  store::pg::PgIdempotencyKeys keys(pool);
  services::Sweeper sweeper(store, /*leadership=*/nullptr, nullptr, SweeperOptionsOf(config, &keys, nullptr));
  const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  auto total = sweeper.SweepAll(now);
  if (!total.ok()) return Fail(err, ExitCode::kFailure, total.status().message());
  out << fmt::format("failed {} stale task(s)\n", *total);
  auto expired = sweeper.ExpireIdempotencyKeys();
  if (!expired.ok()) return Fail(err, ExitCode::kFailure, expired.status().message());
  out << fmt::format("deleted {} expired idempotency key(s)\n", *expired);
  return 0;
}

// `jobnikd token ...`: on the configured database, or on the embedded one that a running
// jobnikd serves from the same data dir.
int RunToken(const Config& config, const TokenCommand& token, std::ostream& out, std::ostream& err) {
  if (int rc = CheckTokenArguments(token, err); rc != 0) return rc;
  Database db;
  if (auto s = OpenForCommand(config, db); !s.ok()) {
    auto running = config.database_url.empty() ? EmbeddedPostgres::RunningUrl(config.data_dir) : std::nullopt;
    if (s.code() != domain::ErrorCode::kUnavailable || !running) return Fail(err, ExitCode::kFailure, s.message());
    db.embedded.reset();
    db.url = *running;
    if (auto checked = MigrateOrCheckSchema(db, config, SchemaAction::kCheck); !checked.ok()) {
      return Fail(err, ExitCode::kFailure, checked.message());
    }
  }
  store::pg::Pool pool({db.url, config.database_schema, 1});
  store::pg::PgTokens tokens(pool);
  return RunTokenCommand(token, tokens, out, err);
}

// `jobnikd prune --once`: deletes every finished job past its retention, then exits.
int RunPruneOnce(const Config& config, std::ostream& out, std::ostream& err) {
  if (config.retention_completed == 0 && config.retention_failed == 0 && config.retention_aborted == 0) {
    return Fail(err, ExitCode::kUsage,
                "prune: retention is off for every status: set retention.completed, retention.failed or "
                "retention.aborted (--retain-completed, --retain-failed, --retain-aborted)");
  }
  Database db;
  if (auto s = OpenForCommand(config, db); !s.ok()) return Fail(err, ExitCode::kFailure, s.message());
  store::pg::Pool pool({db.url, config.database_schema, 2});
  store::pg::PgStore store(pool);
  store::pg::PgRetention retention(pool);
  services::Sweeper sweeper(store, /*leadership=*/nullptr, nullptr, SweeperOptionsOf(config, nullptr, &retention));
  const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  auto pruned = sweeper.Prune(now);
  if (!pruned.ok()) return Fail(err, ExitCode::kFailure, pruned.status().message());
  out << fmt::format("deleted {} finished job(s): {} stage(s), {} task(s), {} event(s)\n", pruned->jobs, pruned->stages,
                     pruned->tasks, pruned->events);
  return 0;
}

// `jobnikd serve`: the daemon's life as steps. Start() opens the database (the embedded
// one is started and supervised), migrates or checks the schema, builds the store,
// metrics, tracer, API and HTTP server (https with `tls`), binds and starts serving; Run()
// waits for SIGINT/SIGTERM (feeding the systemd watchdog while the embedded database is
// healthy; reloading TLS on SIGHUP) or the loss of the embedded database; Stop() drains
// in-flight requests within shutdown_timeout and stops everything. Members are declared
// in the order they are built, so they are destroyed in reverse.
class Daemon {
 public:
  // `tls`: the loaded TLS files (null: plain http); must outlive the Daemon.
  Daemon(const Config& config, SchemaAction schema, TlsContext* tls)
      : config_(config),
        schema_(schema),
        tls_(tls),
        server_owner_(tls ? tls->MakeServer() : std::make_unique<httplib::Server>()),
        server_(*server_owner_) {}
  ~Daemon() {
    if (guard_) guard_->Stop();     // it reads the accept loop's task queue
    if (http_thread_.joinable()) {  // Start() failed after the server started
      server_.stop();
      http_thread_.join();
    }
    if (db_.embedded) db_.embedded->SetOnRestart(nullptr);  // before the pool goes away
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Errors are the message to print (exit status 1).
  domain::Status Start() {
    JOBNIK_TRY(OpenDatabase(config_, db_));
    if (db_.embedded) db_.embedded->Supervise();  // restarts it if it dies; Failed() once it gives up
    JOBNIK_TRY(MigrateOrCheckSchema(db_, config_, schema_));
    JOBNIK_TRY(CheckAuthMode(config_));
    Build();
    JOBNIK_TRY(auth_->Start());
    spdlog::info("auth: {} ({} active token(s){})", config_.auth_mode, auth_->ActiveTokens(),
                 auth_->Enforced() ? ", tokens required" : ", no token required");
    JOBNIK_TRY(Listen());
    StartHeartbeat();
    if (config_.sweeper_enabled) sweeper_->Start();
    scheduler_->Start();
    claim_waiter_->Start();
    Serve();
    StartConnectionGuard();
    return domain::Status::Ok();
  }

  // Waits for SIGINT/SIGTERM; feeds the systemd watchdog meanwhile if asked to, but only
  // while the embedded database is healthy. Checked every second: if it is lost for good,
  // Run() returns and Stop() exits 1, so the service manager restarts jobnikd.
  void Run() {
    const long long watchdog_usec = process::SdWatchdogUsec();
    long long tick_usec = watchdog_usec > 0 ? watchdog_usec / 2 : 3600LL * 1000000;
    if (db_.embedded) tick_usec = std::min(tick_usec, 1000000LL);
    const auto tick = [this, watchdog_usec] {
      if (db_.embedded && db_.embedded->Failed()) {
        database_lost_ = true;
        return false;
      }
      if (watchdog_usec > 0 && (!db_.embedded || db_.embedded->Healthy())) process::SdNotify("WATCHDOG=1");
      return true;
    };
    for (;;) {
      signal_ = signals_.Wait(std::chrono::microseconds(tick_usec), tick).signal;
      if (signal_ != SIGHUP) break;
      ReloadTls();
    }
  }

  // SIGHUP: the TLS files again, from the same paths. New handshakes use them; established
  // connections keep theirs. Bad files: the current ones stay, and the error is logged.
  void ReloadTls() {
    if (!tls_) {
      spdlog::info("received SIGHUP: nothing to reload (TLS is off)");
      return;
    }
    if (auto s = tls_->Reload(); !s.ok()) {
      metrics_.tls_reloads.Add({{"result", "failure"}}).Increment();
      spdlog::error("TLS reload failed, still serving the previous certificate: {}", s.message());
      return;
    }
    metrics_.tls_reloads.Add({{"result", "success"}}).Increment();
    LogCertificate("TLS reloaded");
  }

  // Logs the certificate served now and sets its expiry gauge.
  void LogCertificate(std::string_view what) {
    const CertificateInfo cert = tls_->Certificate();
    const auto expiry = std::chrono::system_clock::to_time_t(cert.not_after);
    metrics_.tls_certificate_expiry.Add({}).Set(static_cast<double>(expiry));
    spdlog::info("{}: certificate {} (serial {}, expires {:%Y-%m-%dT%H:%M:%SZ}) from {}, key {}{}", what, cert.subject,
                 cert.serial, fmt::gmtime(expiry), tls_->files().cert, tls_->files().key,
                 tls_->mutual() ? ", client certificates required (CA " + tls_->files().client_ca + ")" : "");
  }

  // Graceful shutdown: stop accepting, finish in-flight requests (at most
  // shutdown_timeout, else exit 1 at once), stop the sweeper.
  process::ExitCode Stop() {
    if (database_lost_) {
      spdlog::critical("the embedded database is lost; shutting down (exit status 1)");
    } else {
      spdlog::info("received {}, shutting down (finishing in-flight requests, up to {} s)", strsignal(signal_),
                   config_.shutdown_timeout);
    }
    process::SdNotify("STOPPING=1");
    api_->SetDraining(true);
    // Waiting claims answer now (404, as at the end of their wait) instead of holding the
    // drain up to their deadline; claims arriving from now on do not wait.
    claim_waiter_->Stop();
    streams_->Stop();  // open job streams end now rather than hold the drain up

    // listen_after_bind() returns once in-flight requests are done; bound that wait.
    std::atomic<bool> drained{false};
    std::thread deadline([&] {
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(config_.shutdown_timeout);
      while (!drained && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (!drained) {
        spdlog::error("in-flight requests did not finish within {} s; exiting", config_.shutdown_timeout);
        if (db_.embedded) db_.embedded->Stop();
        std::_Exit(process::ToInt(process::ExitCode::kFailure));
      }
    });
    // First: it reads the task queue, which goes away with the accept loop.
    if (guard_) guard_->Stop();
    server_.stop();
    // Connections with no request in flight would hold a worker until their keep-alive or
    // read timeout: close them now; requests in flight finish.
    const int idle = connections_.CloseIdle(port_);
    if (idle > 0) spdlog::info("closed {} connection(s) with no request in flight", idle);
    http_thread_.join();
    drained = true;
    deadline.join();
    sweeper_->Stop();
    scheduler_->Stop();
    heartbeat_->Stop();  // the last counts; removes this instance's row
    auth_->Stop();
    spdlog::info("stopped");
    return database_lost_ ? process::ExitCode::kFailure : process::ExitCode::kOk;
  }

 private:
  // Store, metrics, tracer, API, HTTP server and sweeper.
  void Build() {
    pool_ = std::make_unique<store::pg::Pool>(
        store::pg::PoolOptions{db_.url, config_.database_schema, config_.database_pool_size});
    // After a restart of the embedded database, its idle connections are dead: drop them
    // (the hook is cleared before the pool goes away).
    if (db_.embedded) db_.embedded->SetOnRestart([pool = pool_.get()] { pool->DropIdle(); });
    store_ = std::make_unique<store::pg::PgStore>(
        *pool_, store::pg::PgStoreOptions{
                    static_cast<std::size_t>(config_.database_batch_max), config_.database_batches_in_flight,
                    [this](const std::string& stage_type, int refused) {
                      metrics_.claims_limited.Add({{"stage_type", stage_type}}).Increment(refused);
                    }});
    tracer_ = std::make_unique<tracing::Tracer>(tracing::TracerOptions{
        config_.tracing_endpoint, config_.tracing_service_name, static_cast<std::size_t>(config_.tracing_queue_size)});
    metrics_.SetStageTypeLimits({static_cast<std::size_t>(config_.metrics_stage_types_max),
                                 std::chrono::seconds(config_.metrics_stage_type_idle_ttl)});
    metrics_.CollectFrom({pool_.get(), store_.get(), tracer_.get()});
    claim_waiter_ = std::make_unique<services::ClaimWaiter>(
        services::ClaimWaiterOptions{services::ParseWakeupMode(config_.claim_wakeup).value(),
                                     std::chrono::milliseconds(config_.claim_poll_interval_ms),
                                     static_cast<std::size_t>(config_.MaxWaiters()), db_.url, config_.database_schema},
        [store = store_.get()](const std::string& type, std::int64_t limit) {
          return store->CountClaimable(type, limit);
        },
        &metrics_);
    http::ApiOptions api_options{static_cast<std::size_t>(config_.http_body_limit), config_.log_access};
    api_options.connections = &connections_;
    api_options.lease = {config_.lease_min, config_.lease_max, config_.lease_default};
    site_guard_ = std::make_unique<http::SiteGuard>(config_.ListenHost(), config_.http_allowed_hosts,
                                                    config_.http_allowed_origins);
    api_options.site_guard = site_guard_.get();
    api_options.claim_waiter = claim_waiter_.get();
    streams_ = std::make_unique<http::Streams>(
        http::StreamOptions{config_.stream_max_clients, std::chrono::milliseconds(config_.stream_interval_ms)});
    api_options.streams = streams_.get();
    api_options.ui = config_.ui_enabled;
    instances_ = std::make_unique<store::pg::PgInstances>(*pool_);
    api_options.instances = instances_.get();
    tokens_ = std::make_unique<store::pg::PgTokens>(*pool_);
    auth_ = std::make_unique<http::Authenticator>(
        *tokens_,
        http::AuthOptions{http::ParseAuthMode(config_.auth_mode).value(), config_.auth_metrics == "token", db_.url,
                          config_.database_schema},
        &metrics_);
    api_options.auth = auth_.get();
    // The keys' statements commit asynchronously (docs/design.md, "Idempotency keys"), on a
    // small pool of their own.
    store::pg::PoolOptions key_pool{db_.url, config_.database_schema, kIdempotencyPoolSize};
    key_pool.asynchronous_commit = true;
    idempotency_pool_ = std::make_unique<store::pg::Pool>(key_pool);
    idempotency_keys_ = std::make_unique<store::pg::PgIdempotencyKeys>(*idempotency_pool_);
    api_options.idempotency = {idempotency_keys_.get(),
                               store::IdempotencyTimes{std::chrono::seconds(config_.idempotency_retention)}};
    api_ = std::make_unique<http::Api>(*store_, metrics_, api_options, tracer_.get());
    // cpp-httplib's default sets SO_REUSEPORT, which lets a second jobnikd listen on the same
    // port and the kernel split connections between the two: SO_REUSEADDR only.
    server_.set_socket_options([](int sock) {
      const int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    // Called once a response is written: its request is no longer in flight.
    server_.set_logger([connections = &connections_](const httplib::Request& req, const httplib::Response&) {
      connections->RequestFinished(req);
      http::ConnectionTracker::UncorkResponse();  // the response goes out (CorkResponse)
      // The stack a request touched is not held while its connection stays open.
      http::ElasticTaskQueue::ReleaseUnusedStack();
    });
    // A thread for each connection as it comes, up to http.max_connections
    // (http/task_queue.h); the accept loop owns the queue until listen_after_bind() returns.
    http::TaskQueueOptions queue_options;
    queue_options.min_threads = static_cast<std::size_t>(config_.http_threads);
    queue_options.max_threads = static_cast<std::size_t>(config_.http_max_connections);
    queue_options.stack_size = kHttpThreadStack;
    queue_options.after_job = [] { http::ConnectionTracker::ConnectionEnded(); };
    server_.new_task_queue = [this, queue_options] {
      auto* queue = new http::ElasticTaskQueue(queue_options);
      task_queue_ = queue;
      return queue;
    };
    server_.set_keep_alive_timeout(config_.http_keep_alive_timeout);
    server_.set_keep_alive_max_count(100000);
    server_.set_tcp_nodelay(true);
    server_.set_read_timeout(30, 0);
    server_.set_write_timeout(30, 0);
    api_->Register(server_);
    if (db_.embedded) api_->SetLiveness([embedded = &*db_.embedded] { return embedded->Healthy(); });
    leadership_ = std::make_unique<store::pg::PgLeadership>(
        store::pg::PgLeadershipOptions{db_.url, config_.database_schema, "sweeper"});
    retention_ = std::make_unique<store::pg::PgRetention>(*pool_);
    auto sweeper_options = SweeperOptionsOf(config_, idempotency_keys_.get(), retention_.get());
    // The leader records each sweep on its instance's row, and deletes instances gone for
    // long and minute counts past their keeping.
    sweeper_options.on_sweep = [this](const store::SweepRecord& sweep) {
      if (heartbeat_) heartbeat_->RecordSweep(sweep);
      auto deleted = instances_->DeleteOld(sweep.at - kInstanceKept, sweep.at - kMinuteCountsKept);
      if (!deleted.ok()) spdlog::warn("sweeper: old instances and minute counts: {}", deleted.status().message());
    };
    sweeper_ = std::make_unique<services::Sweeper>(*store_, leadership_.get(), &metrics_, std::move(sweeper_options));
    scheduler_ = std::make_unique<services::Scheduler>(
        *store_, &metrics_, services::SchedulerOptions{std::chrono::milliseconds(config_.scheduler_interval_ms)});
  }

  // Registers this instance (docs/design.md, "Instances and throughput") and starts its
  // heartbeat, once the address it serves on is known.
  void StartHeartbeat() {
    std::array<char, 256> host{};
    if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
    services::HeartbeatOptions options;
    options.interval = std::chrono::seconds(config_.instance_heartbeat_interval);
    options.info.host = host.data();
    options.info.pid = static_cast<int>(getpid());
    // With TLS the address says so (scheme://host:port); without, host:port as ever.
    options.info.listen = fmt::format("{}{}:{}", tls_ ? "https://" : "", config_.ListenHost(), port_);
    options.info.version = Version();
    heartbeat_ = std::make_unique<services::InstanceHeartbeat>(
        *instances_, metrics_.throughput, [this] { return sweeper_->IsLeader(); }, std::move(options));
    heartbeat_->Register();
    heartbeat_->Start();
  }

  // The connection guard (http/connections.h): head deadline and adaptive keep-alive; after
  // each look it updates the connection and thread gauges and, at most every
  // kGuardLogEvery, logs a warning with what it closed since the last one.
  void StartConnectionGuard() {
    http::ConnectionGuardOptions options;
    options.port = port_;
    options.interval = kGuardInterval;
    options.header_timeout = std::chrono::seconds(config_.http_header_timeout);
    options.shed_above = static_cast<std::size_t>(config_.http_shed_idle_above);
    guard_ = std::make_unique<http::ConnectionGuard>(options, connections_, [this](const http::GuardSweep& sweep) {
      metrics_.http_connections.Add({{"state", "in_flight"}}).Set(static_cast<double>(sweep.in_flight));
      metrics_.http_connections.Add({{"state", "receiving"}}).Set(static_cast<double>(sweep.receiving));
      metrics_.http_connections.Add({{"state", "idle"}}).Set(static_cast<double>(sweep.idle));
      metrics_.http_closed_header_timeout.Increment(static_cast<double>(sweep.closed_header_timeout));
      metrics_.http_closed_idle.Increment(static_cast<double>(sweep.closed_idle));
      if (const http::ElasticTaskQueue* queue = task_queue_) {
        const auto stats = queue->Stats();
        metrics_.http_threads.Add({{"state", "busy"}}).Set(static_cast<double>(stats.busy));
        metrics_.http_threads.Add({{"state", "idle"}}).Set(static_cast<double>(stats.threads - stats.busy));
        metrics_.http_connections_queued.Set(static_cast<double>(stats.queued));
      }
      unlogged_header_timeouts_ += sweep.closed_header_timeout;
      unlogged_idle_closes_ += sweep.closed_idle;
      const auto now = std::chrono::steady_clock::now();
      if (unlogged_header_timeouts_ + unlogged_idle_closes_ > 0 && now - last_guard_log_ >= kGuardLogEvery) {
        spdlog::warn(
            "http: closed {} connection(s) whose request head took longer than {} s (http.header_timeout) and {} "
            "idle connection(s) while more than {} were open (http.shed_idle_above); open now: "
            "{} ({} in flight, {} receiving a head, {} idle)",
            unlogged_header_timeouts_, config_.http_header_timeout, unlogged_idle_closes_, config_.http_shed_idle_above,
            sweep.open, sweep.in_flight, sweep.receiving, sweep.idle);
        unlogged_header_timeouts_ = 0;
        unlogged_idle_closes_ = 0;
        last_guard_log_ = now;
      }
    });
    guard_->Start();
  }

  // Binds --listen (port 0: any free port), with the reason when it cannot.
  domain::Status Listen() {
    port_ = config_.ListenPort();
    const std::string host = config_.ListenHost();
    if (auto s = CheckListenHost(host); !s.ok()) {
      return domain::Status(domain::ErrorCode::kUnknown,
                            fmt::format("cannot listen on {}: {}", config_.listen, s.message()));
    }
    errno = 0;
    if (port_ == 0) {
      port_ = server_.bind_to_any_port(host);
    } else if (!server_.bind_to_port(host, port_)) {
      port_ = -1;
    }
    if (port_ < 0) {
      // cpp-httplib closes the socket after a failed bind or listen, which keeps errno.
      const int error = errno;
      return domain::Status(domain::ErrorCode::kUnknown, fmt::format("cannot listen on {}: {}", config_.listen,
                                                                     error ? std::strerror(error) : "unknown error"));
    }
    RaiseListenBacklog(port_);
    return domain::Status::Ok();
  }

  // Runs the accept loop on its own thread and says READY once it runs.
  void Serve() {
    http_thread_ = std::thread([this] {
      server_.listen_after_bind();
      http_returned_ = true;
    });
    // stop() only stops a server whose accept loop runs: a SIGTERM arriving before that would
    // otherwise leave the loop to start afterwards and shutdown to wait for its timeout.
    while (!server_.is_running() && !http_returned_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    const std::string host = config_.ListenHost();
    spdlog::info(
        "jobnikd {} listening on {}://{}:{} (database {}, schema {}, {} HTTP connections at most, {} threads kept, "
        "pool {}, claim wake-up {}, {} waiting claims at most)",
        Version(), config_.Scheme(), host, port_, db_.embedded ? "embedded" : MaskSecret(db_.url),
        config_.database_schema, config_.http_max_connections, config_.http_threads, config_.database_pool_size,
        config_.claim_wakeup, config_.MaxWaiters());
    if (tls_) {
      metrics_.tls_reloads.Add({{"result", "success"}});
      metrics_.tls_reloads.Add({{"result", "failure"}});
      LogCertificate("TLS");
    }
    process::SdNotify(fmt::format("READY=1\nSTATUS=listening on {}:{}\nMAINPID={}", host, port_, getpid()));
  }

  const Config& config_;
  const SchemaAction schema_;
  TlsContext* const tls_;
  // First: SIGINT/SIGTERM/SIGHUP are blocked before any thread starts (the embedded
  // database's supervisor, the pool, the HTTP threads), so only Run() receives them.
  process::ShutdownSignals signals_{process::Hangup::kReceive};
  Database db_;
  std::unique_ptr<store::pg::Pool> pool_;
  std::unique_ptr<store::pg::PgStore> store_;
  Metrics metrics_;
  std::unique_ptr<tracing::Tracer> tracer_;
  std::unique_ptr<services::ClaimWaiter> claim_waiter_;
  std::unique_ptr<http::Streams> streams_;  // before the server: outlives the streams' responses
  http::ConnectionTracker connections_;
  std::unique_ptr<http::SiteGuard> site_guard_;
  std::unique_ptr<store::pg::Pool> idempotency_pool_;
  std::unique_ptr<store::pg::PgIdempotencyKeys> idempotency_keys_;
  std::unique_ptr<store::pg::PgInstances> instances_;
  std::unique_ptr<store::pg::PgTokens> tokens_;
  std::unique_ptr<http::Authenticator> auth_;
  std::unique_ptr<http::Api> api_;
  // An httplib::SSLServer with TLS.
  std::unique_ptr<httplib::Server> server_owner_;
  httplib::Server& server_;
  std::unique_ptr<store::pg::PgLeadership> leadership_;
  std::unique_ptr<store::pg::PgRetention> retention_;
  std::unique_ptr<services::Sweeper> sweeper_;
  std::unique_ptr<services::Scheduler> scheduler_;
  std::unique_ptr<services::InstanceHeartbeat> heartbeat_;
  std::thread http_thread_;
  std::atomic<bool> http_returned_{false};
  // The accept loop's task queue while it runs (set by server_.new_task_queue).
  std::atomic<const http::ElasticTaskQueue*> task_queue_{nullptr};
  // Declared after server_: stopped (and destroyed) before the server goes.
  std::unique_ptr<http::ConnectionGuard> guard_;
  std::size_t unlogged_header_timeouts_ = 0;  // the guard's thread only
  std::size_t unlogged_idle_closes_ = 0;
  std::chrono::steady_clock::time_point last_guard_log_{};
  int port_ = -1;
  int signal_ = 0;
  bool database_lost_ = false;
};

int RunServe(const Config& config, bool migrate, std::ostream& err) {
  // The TLS files are checked before anything starts: a bad one is a configuration error.
  std::unique_ptr<TlsContext> tls;
  if (config.TlsEnabled()) {
    auto loaded = TlsContext::Load({config.tls_cert, config.tls_key, config.tls_client_ca});
    if (!loaded.ok()) return Fail(err, ExitCode::kUsage, loaded.status().message());
    tls = std::move(*loaded);
  }
  Daemon daemon(config, migrate ? SchemaAction::kMigrate : SchemaAction::kCheck, tls.get());
  if (auto s = daemon.Start(); !s.ok()) return Fail(err, process::ExitCode::kFailure, s.message());
  daemon.Run();
  return process::ToInt(daemon.Stop());
}

}  // namespace

int Main(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"jobnikd: the Jobnik job-management daemon (REST API v1 on PostgreSQL)", "jobnikd"};
  app.set_version_flag("-V,--version", fmt::format("jobnikd {}", Version()));
  app.footer(
      "Configuration precedence: flags > JOBNIK_* environment > YAML file > defaults.\n"
      "Without a database URL, jobnikd runs its own PostgreSQL under --data-dir.\n"
      "See jobnikd(8) and jobnikd.yaml(5).");

  Options opt;
  std::string config_file;
  app.add_option("-c,--config", config_file, "YAML configuration file (default: /etc/jobnik/jobnikd.yaml if present)")
      ->type_name("FILE");
  app.add_flag("--print-config", opt.print_config, "print the effective configuration (secrets masked) and exit");

  // One flag per configuration key, from the key table.
  process::ConfigFlags key_flags;
  key_flags.AddTo(app, ConfigKeys());
  auto* serve = app.add_subcommand("serve", "serve the API (the default)");
  serve->add_flag("--migrate", opt.migrate, "apply pending migrations to the database before serving");
  auto* migrate = app.add_subcommand("migrate", "apply pending schema migrations and exit");
  auto* sweep = app.add_subcommand("sweep", "fail stale IN_PROGRESS tasks (for cron)");
  sweep->add_flag("--once", opt.sweep_once, "sweep once and exit (required)")->required();
  auto* prune = app.add_subcommand("prune", "delete finished jobs past their retention (for cron)");
  prune->add_flag("--once", opt.prune_once, "prune once and exit (required)")->required();
  TokenCommand token;
  AddTokenCommand(app, token);
  app.require_subcommand(0, 1);
  // Flags may come after the subcommand too.
  for (auto* sub : {serve, migrate, sweep, prune}) sub->fallthrough();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; any real command-line error is a usage error.
    return app.exit(e, out, err) == 0 ? 0 : process::ToInt(ExitCode::kUsage);
  }

  if (!config_file.empty()) opt.sources.file = config_file;
  opt.sources.env = process::Environment();
  opt.sources.flags = key_flags.Given();
  auto config = LoadConfig(opt.sources);
  if (!config.ok()) return Fail(err, ExitCode::kUsage, config.status().message());
  if (opt.print_config) {
    out << PrintConfig(*config);
    return process::ToInt(ExitCode::kOk);
  }
  logging::Setup("jobnikd", logging::ParseFormat(config->log_format).value(), config->log_level);

  try {
    if (*migrate) return RunMigrate(*config, out, err);
    if (*sweep) return RunSweepOnce(*config, out, err);
    if (*prune) return RunPruneOnce(*config, out, err);
    if (*token.app) return RunToken(*config, token, out, err);
    return RunServe(*config, opt.migrate, err);
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    return Fail(err, ExitCode::kFailure, e.what());
  }
}

}  // namespace jobnik
