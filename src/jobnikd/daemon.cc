#include "daemon.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <pthread.h>
#include <set>
#include <spdlog/spdlog.h>
#include <thread>

#include "common/logging.h"
#include "common/tracer.h"
#include "common/version.h"
#include "config.h"
#include "embedded_pg.h"
#include "http/api.h"
#include "metrics.h"
#include "sd_notify.h"
#include "services/sweeper.h"
#include "store/pg/leadership.h"
#include "store/pg/migrator.h"
#include "store/pg/pg_store.h"
#include "store/pg/pool.h"

namespace jobnik {
namespace {

struct Options {
  ConfigSources sources;
  bool print_config = false;
  bool migrate = false;      // serve: migrate before serving
  bool sweep_once = false;   // sweep: one sweep, then exit
};

int Fail(std::ostream& err, ExitCode code, const std::string& message) {
  err << "jobnikd: " << message << "\n";
  return static_cast<int>(code);
}

// Blocks SIGINT/SIGTERM in every thread (call before starting any); WaitForSignal()
// then receives them synchronously.
sigset_t BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
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
  auto url = db.embedded->Start();
  if (!url.ok()) return url.status();
  db.url = *url;
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

int RunSweepOnce(const Config& config, std::ostream& out, std::ostream& err) {
  Database db;
  if (auto s = OpenDatabase(config, db); !s.ok()) return Fail(err, ExitCode::kFailure, s.message());
  store::pg::Pool pool({db.url, config.database_schema, 2});
  store::pg::PgStore store(pool);
  services::Sweeper sweeper(store, /*leadership=*/nullptr, nullptr,
                            {std::chrono::seconds(config.sweeper_interval),
                             std::chrono::seconds(config.sweeper_stale_after), config.sweeper_batch});
  const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  auto total = sweeper.SweepAll(now);
  if (!total.ok()) return Fail(err, ExitCode::kFailure, total.status().message());
  out << fmt::format("failed {} stale task(s)\n", *total);
  return 0;
}

int RunServe(const Config& config, bool migrate, std::ostream& err) {
  const sigset_t signals = BlockShutdownSignals();
  Database db;
  if (auto s = OpenDatabase(config, db); !s.ok()) return Fail(err, ExitCode::kFailure, s.message());
  if (db.embedded) db.embedded->Supervise();  // restarts it if it dies; Failed() once it gives up

  // The embedded database is ours: keep it migrated. An external one is migrated on request.
  if (db.embedded || migrate) {
    auto report = store::pg::Migrate(db.url, config.database_schema);
    if (!report.ok()) return Fail(err, ExitCode::kFailure, report.status().message());
  } else {
    auto version = store::pg::CurrentVersion(db.url, config.database_schema);
    if (!version.ok()) return Fail(err, ExitCode::kFailure, version.status().message());
    if (*version < store::pg::LatestVersion()) {
      return Fail(err, ExitCode::kFailure,
                  fmt::format("database schema '{}' is at version {}, this jobnikd needs {}: run 'jobnikd migrate' "
                              "(or serve with --migrate)",
                              config.database_schema, *version, store::pg::LatestVersion()));
    }
    if (*version > store::pg::LatestVersion()) {
      return Fail(err, ExitCode::kFailure,
                  fmt::format("database schema '{}' is at version {}, newer than this jobnikd knows ({})",
                              config.database_schema, *version, store::pg::LatestVersion()));
    }
  }

  store::pg::Pool pool({db.url, config.database_schema, config.database_pool_size});
  // After a restart of the embedded database, its idle connections are dead: drop them
  // (the hook is cleared before the pool goes away).
  struct RestartHook {
    EmbeddedPostgres* embedded;
    ~RestartHook() {
      if (embedded) embedded->SetOnRestart(nullptr);
    }
  } restart_hook{db.embedded ? &*db.embedded : nullptr};
  if (db.embedded) db.embedded->SetOnRestart([&pool] { pool.DropIdle(); });
  store::pg::PgStore store(pool, {static_cast<std::size_t>(config.database_batch_max),
                                  config.database_batches_in_flight});
  Metrics metrics;
  tracing::Tracer tracer({config.tracing_endpoint, config.tracing_service_name,
                          static_cast<std::size_t>(config.tracing_queue_size)});
  // Pool gauges are read on every scrape; queue gauges at most every 5 s (one grouped
  // query over unfinished stages and jobs).
  metrics.SetStageTypeLimits({static_cast<std::size_t>(config.metrics_stage_types_max),
                              std::chrono::seconds(config.metrics_stage_type_idle_ttl)});
  std::chrono::steady_clock::time_point queue_refreshed{};
  metrics.SetCollectHook([&pool, &store, &queue_refreshed, &tracer](Metrics& m) {
    m.UpdateSpansDropped(tracer.Dropped());
    m.UpdatePool(pool.Stats());
    const auto now = std::chrono::steady_clock::now();
    if (now - queue_refreshed < std::chrono::seconds(5)) return;
    queue_refreshed = now;
    if (auto q = store.GetQueueStats(); q.ok()) m.UpdateQueue(*q, now);
  });
  http::ConnectionTracker connections;
  http::ApiOptions api_options{static_cast<std::size_t>(config.http_body_limit), config.log_access};
  api_options.connections = &connections;
  http::Api api(store, metrics, api_options, &tracer);
  httplib::Server server;
  // cpp-httplib's default sets SO_REUSEPORT, which lets a second jobnikd listen on the same
  // port and the kernel split connections between the two: SO_REUSEADDR only.
  server.set_socket_options([](int sock) {
    const int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  // Called once a response is written: its request is no longer in flight.
  server.set_logger(
      [&connections](const httplib::Request& req, const httplib::Response&) { connections.RequestFinished(req); });
  const int threads = config.http_threads;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  server.set_keep_alive_timeout(config.http_keep_alive_timeout);
  server.set_keep_alive_max_count(100000);
  server.set_tcp_nodelay(true);
  server.set_read_timeout(30, 0);
  server.set_write_timeout(30, 0);
  api.Register(server);
  if (db.embedded) api.SetLiveness([&db] { return db.embedded->Healthy(); });

  int port = config.ListenPort();
  const std::string host = config.ListenHost();
  if (auto s = CheckListenHost(host); !s.ok()) {
    return Fail(err, ExitCode::kFailure, fmt::format("cannot listen on {}: {}", config.listen, s.message()));
  }
  errno = 0;
  if (port == 0) {
    port = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    port = -1;
  }
  if (port < 0) {
    // cpp-httplib closes the socket after a failed bind or listen, which keeps errno.
    const int error = errno;
    return Fail(err, ExitCode::kFailure,
                fmt::format("cannot listen on {}: {}", config.listen, error ? std::strerror(error) : "unknown error"));
  }
  RaiseListenBacklog(port);

  store::pg::PgLeadership leadership({db.url, config.database_schema, "sweeper"});
  services::Sweeper sweeper(store, &leadership, &metrics,
                            {std::chrono::seconds(config.sweeper_interval),
                             std::chrono::seconds(config.sweeper_stale_after), config.sweeper_batch});
  if (config.sweeper_enabled) sweeper.Start();

  std::atomic<bool> http_returned{false};
  std::thread http_thread([&server, &http_returned] {
    server.listen_after_bind();
    http_returned = true;
  });
  // stop() only stops a server whose accept loop runs: a SIGTERM arriving before that would
  // otherwise leave the loop to start afterwards and shutdown to wait for its timeout.
  while (!server.is_running() && !http_returned) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  spdlog::info("jobnikd {} listening on http://{}:{} (database {}, schema {}, {} HTTP threads, pool {})", Version(),
               host, port, db.embedded ? "embedded" : MaskSecret(db.url), config.database_schema, threads,
               config.database_pool_size);
  SdNotify(fmt::format("READY=1\nSTATUS=listening on {}:{}\nMAINPID={}", host, port, getpid()));

  // Wait for SIGINT/SIGTERM; feed the systemd watchdog meanwhile if asked to, but only
  // while the embedded database is healthy. Checked every second: if it is lost for
  // good, shut down and exit 1 so the service manager restarts jobnikd.
  const long long watchdog_usec = SdWatchdogUsec();
  int signal = 0;
  bool database_lost = false;
  for (;;) {
    timespec timeout{};
    long long wait_usec = watchdog_usec > 0 ? watchdog_usec / 2 : 3600LL * 1000000;
    if (db.embedded) wait_usec = std::min(wait_usec, 1000000LL);
    timeout.tv_sec = static_cast<time_t>(wait_usec / 1000000);
    timeout.tv_nsec = static_cast<long>((wait_usec % 1000000) * 1000);
    signal = sigtimedwait(&signals, nullptr, &timeout);
    if (signal > 0) break;
    if (db.embedded && db.embedded->Failed()) {
      database_lost = true;
      break;
    }
    if (watchdog_usec > 0 && (!db.embedded || db.embedded->Healthy())) SdNotify("WATCHDOG=1");
  }
  if (database_lost) {
    spdlog::critical("the embedded database is lost; shutting down (exit status 1)");
  } else {
    spdlog::info("received {}, shutting down (finishing in-flight requests, up to {} s)", strsignal(signal),
                 config.shutdown_timeout);
  }
  SdNotify("STOPPING=1");
  api.SetDraining(true);

  // listen_after_bind() returns once in-flight requests are done; bound that wait.
  std::atomic<bool> drained{false};
  std::thread deadline([&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(config.shutdown_timeout);
    while (!drained && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!drained) {
      spdlog::error("in-flight requests did not finish within {} s; exiting", config.shutdown_timeout);
      if (db.embedded) db.embedded->Stop();
      std::_Exit(static_cast<int>(ExitCode::kFailure));
    }
  });
  server.stop();
  // Connections with no request in flight would hold a worker until their keep-alive or
  // read timeout: close them now; requests in flight finish.
  const int idle = connections.CloseIdle(port);
  if (idle > 0) spdlog::info("closed {} connection(s) with no request in flight", idle);
  http_thread.join();
  drained = true;
  deadline.join();
  sweeper.Stop();
  spdlog::info("stopped");
  return database_lost ? static_cast<int>(ExitCode::kFailure) : 0;
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
  std::map<std::string, std::string> flag_values;
  std::vector<std::pair<std::string, CLI::Option*>> key_options;
  for (const auto& key : ConfigKeys()) {
    if (key.flag.empty()) continue;
    // The value is checked (and its error names the key) when the layers are merged, so
    // the option takes text; its type name and built-in default are for --help.
    auto* o = app.add_option(key.flag, flag_values[key.name], key.help + " [" + key.name + ", " + key.env + "]")
                  ->type_name(key.type)
                  ->default_str(key.default_value)
                  ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a later flag wins
    key_options.emplace_back(key.name, o);
  }
  auto* serve = app.add_subcommand("serve", "serve the API (the default)");
  serve->add_flag("--migrate", opt.migrate, "apply pending migrations to the database before serving");
  auto* migrate = app.add_subcommand("migrate", "apply pending schema migrations and exit");
  auto* sweep = app.add_subcommand("sweep", "fail stale IN_PROGRESS tasks (for cron)");
  sweep->add_flag("--once", opt.sweep_once, "sweep once and exit (required)")->required();
  app.require_subcommand(0, 1);
  // Flags may come after the subcommand too.
  for (auto* sub : {serve, migrate, sweep}) sub->fallthrough();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; any real command-line error is a usage error.
    return app.exit(e, out, err) == 0 ? 0 : static_cast<int>(ExitCode::kUsage);
  }

  if (!config_file.empty()) opt.sources.file = config_file;
  opt.sources.env = JobnikEnvironment();
  for (const auto& [name, option] : key_options) {
    if (option->count() > 0) opt.sources.flags[name] = flag_values[name];
  }
  auto config = LoadConfig(opt.sources);
  if (!config.ok()) return Fail(err, ExitCode::kUsage, config.status().message());
  if (opt.print_config) {
    out << PrintConfig(*config);
    return 0;
  }
  logging::Setup("jobnikd", logging::ParseFormat(config->log_format).value(), config->log_level);

  try {
    if (*migrate) return RunMigrate(*config, out, err);
    if (*sweep) return RunSweepOnce(*config, out, err);
    return RunServe(*config, opt.migrate, err);
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    return Fail(err, ExitCode::kFailure, e.what());
  }
}

}  // namespace jobnik
