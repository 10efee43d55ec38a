// jobnikd's configuration: defaults < YAML file < JOBNIK_* environment < flags.
//
// Every key is declared once in the table of config.cc (name, environment
// variable, flag, parser, whether it is a secret); loading, validation,
// --print-config and the man page's key list all follow that table. The layering
// itself is lib/process/config.h's.
#pragma once

#include <string>
#include <vector>

#include "domain/error.h"
#include "process/config.h"

namespace jobnik {

struct Config {
  std::string listen = "127.0.0.1:8080";  // HOST:PORT
  std::string database_url;               // empty: run the embedded database
  std::string database_schema = "jobnik";
  int database_pool_size = 16;
  int database_batch_max = 64;         // group commit: requests per transaction at most
  int database_batches_in_flight = 1;  // group commit: batches of a kind committing at once
  std::string data_dir = "./var/jobnik";
  std::string postgres_bin_dir;     // empty: find PostgreSQL 15's binaries
  int http_threads = 64;            // started at once and kept
  int http_max_connections = 2048;  // served at once, a thread each (http/task_queue.h)
  int http_header_timeout = 10;     // seconds for a request head once begun (0: none)
  int http_shed_idle_above = 1536;  // open connections above which idle ones are closed (0: never)
  long long http_body_limit = 1024LL * 1024;
  int http_keep_alive_timeout = 5;  // seconds
  // Cross-site and DNS-rebinding defenses (http/site_guard.h): comma-separated lists; empty
  // allowed_hosts: the loopback names when listening on loopback, else any Host.
  std::string http_allowed_hosts;
  std::string http_allowed_origins;
  // Bearer tokens and roles (http/auth.h): auto, required or off; and whether GET
  // /metrics needs a token ("token") or not ("open").
  std::string auth_mode = "auto";
  std::string auth_metrics = "open";
  // TLS (tls.h): with a certificate and its key, jobnikd serves https only; with a client
  // CA too, clients must present a certificate signed by it. Reloaded on SIGHUP.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  int shutdown_timeout = 10;  // seconds to finish in-flight requests
  // Long-poll claims (services/claim_waiter.h): wake-up by notify or poll, the poll
  // interval, and the waiting requests at most (0: MaxWaiters()'s default).
  std::string claim_wakeup = "notify";
  int claim_poll_interval_ms = 1000;
  int claim_max_waiters = 0;
  int stream_max_clients = 256;
  int stream_interval_ms = 1000;
  std::string log_level = "info";
  std::string log_format = "text";
  bool log_access = true;
  bool sweeper_enabled = true;
  int sweeper_interval = 60;       // seconds
  int sweeper_stale_after = 1800;  // seconds IN_PROGRESS before a task is failed
  int sweeper_batch = 100;
  // The instance heartbeat (extension; docs/design.md, "Instances and throughput"), seconds.
  int instance_heartbeat_interval = 10;
  // The retry scheduler (extension): the longest sleep between its steps, in milliseconds.
  int scheduler_interval_ms = 1000;
  // Leases (extension): the bounds of dequeue's lease_seconds and a heartbeat's
  // leaseSeconds, and what a heartbeat without leaseSeconds extends a lease by. Seconds.
  int lease_min = 5;
  int lease_max = 86400;
  int lease_default = 300;
  // Idempotency keys (extension): how long a key's answer is kept, seconds.
  int idempotency_retention = 86400;
  // Retention (extension): finished jobs are deleted, with their stages, tasks and events,
  // once they have been COMPLETED, FAILED or ABORTED for this many seconds (0: kept
  // forever, the default), by the sweeper's leader or `jobnikd prune --once`, at most
  // retention_batch jobs and retention_batch_tasks tasks per transaction.
  long long retention_completed = 0;
  long long retention_failed = 0;
  long long retention_aborted = 0;
  int retention_batch = 100;
  int retention_batch_tasks = 10000;
  std::string tracing_endpoint;  // OTLP/HTTP collector; empty: tracing off
  std::string tracing_service_name = "jobnikd";
  int tracing_queue_size = 4096;
  int metrics_stage_types_max = 200;      // stage types with queue gauges of their own
  int metrics_stage_type_idle_ttl = 300;  // seconds a type's gauges outlive its unfinished work
  bool ui_enabled = true;                 // the web dashboard under /ui/

  // claim_max_waiters, or by default a quarter of http_max_connections (at least 1): each
  // waiter holds a connection and its thread, and the rest stay for other requests.
  int MaxWaiters() const;
  // tls.cert and tls.key are set: jobnikd serves https.
  bool TlsEnabled() const { return !tls_cert.empty(); }
  // "https" with TLS, else "http".
  std::string Scheme() const { return TlsEnabled() ? "https" : "http"; }
  // Host and port of `listen`.
  std::string ListenHost() const;
  int ListenPort() const;
};

using process::ConfigKey;

// All keys, in documentation order, each with its built-in default.
const std::vector<ConfigKey>& ConfigKeys();

// Where each layer comes from; the default file is /etc/jobnik/jobnikd.yaml.
struct ConfigSources : process::ConfigSources {
  ConfigSources() { default_file = "/etc/jobnik/jobnikd.yaml"; }
};

// Errors name the key (and the file or variable it came from).
domain::Result<Config> LoadConfig(const ConfigSources& sources);

// The effective configuration as YAML, the database URL's secrets masked (MaskSecret).
std::string PrintConfig(const Config& config);

// A connection string (URL or key=value, as libpq reads it) with its secrets (password,
// sslpassword) replaced by ****: postgresql://user:s3cret@host/db ->
// postgresql://user:****@host/db, "password = 'a b' host=h" -> "password = **** host=h".
// The rest stays as written; a string libpq rejects comes back as **** whole.
std::string MaskSecret(const std::string& conninfo);

}  // namespace jobnik
