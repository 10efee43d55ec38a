#include "config.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <regex>

#include "common/logging.h"
#include "http/auth.h"
#include "services/claim_waiter.h"

namespace jobnik {
namespace {

using domain::Status;
using domain::ValidationError;

using process::BoolKey;
using process::DurationKey;
using process::IntKey;
using process::ParseInt;
using process::StringKey;
using KeyDef = process::Key<Config>;

// The longest retention: ten years.
constexpr long long kMaxRetention = 10LL * 365 * 86400;

Status CheckListen(const std::string& v) {
  const auto colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0) return ValidationError(fmt::format("must be HOST:PORT, not '{}'", v));
  long long port = 0;
  if (auto s = ParseInt(v.substr(colon + 1), 0, 65535, port); !s.ok()) {
    return ValidationError(fmt::format("must be HOST:PORT with a port from 0 to 65535, not '{}'", v));
  }
  return Status::Ok();
}

Status CheckSchema(const std::string& v) {
  static const std::regex kIdent("^[a-z_][a-z0-9_]{0,62}$");
  if (std::regex_match(v, kIdent)) return Status::Ok();
  return ValidationError(fmt::format("must be a lower-case SQL identifier ([a-z_][a-z0-9_]*), not '{}'", v));
}

Status CheckNotEmpty(const std::string& v) {
  return v.empty() ? ValidationError("must not be empty") : Status::Ok();
}

const std::vector<KeyDef>& Defs() {
  static const std::vector<KeyDef> defs = {
      StringKey({"listen", "JOBNIK_LISTEN", "--listen", "HOST:PORT to serve the API on (port 0: any free port)", false,
                 "HOST:PORT"},
                &Config::listen, CheckListen),
      StringKey({"database.url", "JOBNIK_DATABASE_URL", "--database-url",
                 "PostgreSQL URL; empty runs the embedded database under data_dir", true, "URL"},
                &Config::database_url),
      StringKey({"database.schema", "JOBNIK_DATABASE_SCHEMA", "--database-schema", "schema holding Jobnik's tables",
                 false, "NAME"},
                &Config::database_schema, CheckSchema),
      IntKey({"database.pool_size", "JOBNIK_DATABASE_POOL_SIZE", "--pool-size", "database connections at most"},
             &Config::database_pool_size, 1, 1000),
      IntKey({"database.batch_max", "JOBNIK_DATABASE_BATCH_MAX", "--batch-max",
              "group commit: dequeues or completions that arrive together share one transaction, up to this many"},
             &Config::database_batch_max, 1, 1000),
      IntKey({"database.batches_in_flight", "JOBNIK_DATABASE_BATCHES_IN_FLIGHT", "--batches-in-flight",
              "group commit: batches of dequeues (and of completions) committing at once; more means smaller "
              "batches and less waiting behind a slow one"},
             &Config::database_batches_in_flight, 1, 64),
      StringKey({"data_dir", "JOBNIK_DATA_DIR", "--data-dir", "state directory (the embedded database lives here)",
                 false, "DIR"},
                &Config::data_dir, CheckNotEmpty),
      StringKey({"postgres_bin_dir", "JOBNIK_POSTGRES_BIN_DIR", "--postgres-bin-dir",
                 "PostgreSQL server binaries for the embedded database (default: PostgreSQL 15's)", false, "DIR"},
                &Config::postgres_bin_dir),
      IntKey({"http.threads", "JOBNIK_HTTP_THREADS", "--http-threads",
              "HTTP threads started at once and kept; more start as connections need them, up to "
              "http.max_connections"},
             &Config::http_threads, 1, 4096),
      IntKey({"http.max_connections", "JOBNIK_HTTP_MAX_CONNECTIONS", "--max-connections",
              "connections served at once, each on a thread of its own (more wait for a free one)"},
             &Config::http_max_connections, 1, 65536),
      IntKey({"http.shed_idle_above", "JOBNIK_HTTP_SHED_IDLE_ABOVE", "--shed-idle-above",
              "while more connections than this are open, idle keep-alive ones (between requests) are closed, "
              "longest idle first, down to this many. 0: never"},
             &Config::http_shed_idle_above, 0, 65536),
      IntKey({"http.header_timeout", "JOBNIK_HTTP_HEADER_TIMEOUT", "--header-timeout",
              "seconds a request's head (request line and headers) may take to arrive once it has begun; a slower "
              "connection is closed. 0: no limit",
              false, "SECONDS"},
             &Config::http_header_timeout, 0, 3600),
      IntKey({"http.body_limit", "JOBNIK_HTTP_BODY_LIMIT", "--body-limit", "largest request body in bytes (413 above)",
              false, "BYTES"},
             &Config::http_body_limit, 1024, 1LL << 32),
      IntKey({"http.keep_alive_timeout", "JOBNIK_HTTP_KEEP_ALIVE_TIMEOUT", "--keep-alive-timeout",
              "seconds an idle keep-alive connection is kept", false, "SECONDS"},
             &Config::http_keep_alive_timeout, 1, 3600),
      StringKey({"http.allowed_hosts", "JOBNIK_HTTP_ALLOWED_HOSTS", "--allowed-hosts",
                 "Host header names answered, comma-separated (* any); default: the loopback names when listening "
                 "on loopback, else any",
                 false, "HOSTS"},
                &Config::http_allowed_hosts),
      StringKey({"http.allowed_origins", "JOBNIK_HTTP_ALLOWED_ORIGINS", "--allowed-origins",
                 "web page origins (scheme://host[:port], comma-separated) allowed to change state besides "
                 "jobnikd's own",
                 false, "ORIGINS"},
                &Config::http_allowed_origins),
      StringKey({"auth.mode", "JOBNIK_AUTH", "--auth",
                 "bearer tokens: required (every API request needs a token), off (none does) or auto (required "
                 "once a token exists; the default, allowed only when listening on loopback)",
                 false, "MODE"},
                &Config::auth_mode,
                [](const std::string& v) {
                  if (http::ParseAuthMode(v)) return Status::Ok();
                  return ValidationError(fmt::format("must be auto, required or off, not '{}'", v));
                }),
      StringKey(
          {"auth.metrics", "JOBNIK_AUTH_METRICS", "--metrics-auth",
           "GET /metrics: open (no token needed) or token (any role's, when tokens are enforced)", false, "open|token"},
          &Config::auth_metrics,
          [](const std::string& v) {
            if (v == "open" || v == "token") return Status::Ok();
            return ValidationError(fmt::format("must be open or token, not '{}'", v));
          }),
      StringKey({"tls.cert", "JOBNIK_TLS_CERT", "--tls-cert",
                 "PEM certificate (chain) to serve https with; needs tls.key. Unset: plain http", false, "FILE"},
                &Config::tls_cert),
      StringKey({"tls.key", "JOBNIK_TLS_KEY", "--tls-key", "PEM private key of tls.cert", false, "FILE"},
                &Config::tls_key),
      StringKey({"tls.client_ca", "JOBNIK_TLS_CLIENT_CA", "--tls-client-ca",
                 "PEM CA certificate(s): clients must present a certificate signed by one (mutual TLS)", false, "FILE"},
                &Config::tls_client_ca),
      StringKey({"claim.wakeup", "JOBNIK_CLAIM_WAKEUP", "--claim-wakeup",
                 "how waiting claims (dequeue's wait_seconds) learn of new work: notify (PostgreSQL LISTEN/NOTIFY) "
                 "or poll (every claim.poll_interval_ms; for PgBouncer in transaction mode)",
                 false, "MODE"},
                &Config::claim_wakeup,
                [](const std::string& v) {
                  if (services::ParseWakeupMode(v)) return Status::Ok();
                  return ValidationError(fmt::format("must be notify or poll, not '{}'", v));
                }),
      IntKey({"claim.poll_interval_ms", "JOBNIK_CLAIM_POLL_INTERVAL_MS", "--claim-poll-interval",
              "how often waiting claims' stage types are checked for work in poll mode (and in notify mode while "
              "the listening connection is down)",
              false, "MILLISECONDS"},
             &Config::claim_poll_interval_ms, 10, 60000),
      IntKey({"claim.max_waiters", "JOBNIK_CLAIM_MAX_WAITERS", "--claim-max-waiters",
              "waiting claims at most (each holds an HTTP connection and its thread); more get 503 at once. 0: a "
              "quarter of http.max_connections (at least 1)"},
             &Config::claim_max_waiters, 0, 100000),
      IntKey({"stream.max_clients", "JOBNIK_STREAM_MAX_CLIENTS", "--stream-max-clients",
              "job streams (GET /v1/stream) open at most (each holds an HTTP connection and its thread); more get "
              "503. 0: no streams"},
             &Config::stream_max_clients, 0, 100000),
      IntKey({"stream.interval_ms", "JOBNIK_STREAM_INTERVAL_MS", "--stream-interval",
              "how often each open job stream reads its job and new events (two short reads)", false, "MILLISECONDS"},
             &Config::stream_interval_ms, 100, 60000),
      IntKey({"shutdown_timeout", "JOBNIK_SHUTDOWN_TIMEOUT", "--shutdown-timeout",
              "seconds to finish in-flight requests on SIGTERM", false, "SECONDS"},
             &Config::shutdown_timeout, 0, 3600),
      StringKey({"log.level", "JOBNIK_LOG_LEVEL", "--log-level", "trace, debug, info, warn, error, critical or off",
                 false, "LEVEL"},
                &Config::log_level, [](const std::string& v) { return logging::CheckLevel(v); }),
      StringKey({"log.format", "JOBNIK_LOG_FORMAT", "--log-format", "text or json (JSON lines)", false, "FORMAT"},
                &Config::log_format, [](const std::string& v) { return logging::ParseFormat(v).status(); }),
      BoolKey({"log.access", "JOBNIK_LOG_ACCESS", "--access-log", "one log line per HTTP request"},
              &Config::log_access),
      BoolKey({"sweeper.enabled", "JOBNIK_SWEEPER_ENABLED", "--sweeper", "run the stale-task sweeper"},
              &Config::sweeper_enabled),
      IntKey({"sweeper.interval", "JOBNIK_SWEEPER_INTERVAL", "--sweeper-interval", "seconds between sweeps", false,
              "SECONDS"},
             &Config::sweeper_interval, 1, 86400),
      IntKey({"sweeper.stale_after", "JOBNIK_SWEEPER_STALE_AFTER", "--stale-after",
              "seconds a task may stay IN_PROGRESS before it is failed", false, "SECONDS"},
             &Config::sweeper_stale_after, 1, 30LL * 86400),
      IntKey({"sweeper.batch", "JOBNIK_SWEEPER_BATCH", "--sweeper-batch", "tasks failed per sweep at most"},
             &Config::sweeper_batch, 1, 100000),
      IntKey({"instance.heartbeat_interval", "JOBNIK_INSTANCE_HEARTBEAT_INTERVAL", "--instance-heartbeat-interval",
              "seconds between two refreshes of this instance's row (GET /v1/instances), each adding its completion "
              "counts to GET /v1/throughput",
              false, "SECONDS"},
             &Config::instance_heartbeat_interval, 1, 300),
      IntKey({"scheduler.interval_ms", "JOBNIK_SCHEDULER_INTERVAL_MS", "--scheduler-interval-ms",
              "longest wait of the retry scheduler between two looks for RETRIED tasks whose retry delay is over "
              "(it also wakes at the next due time)",
              false, "MILLISECONDS"},
             &Config::scheduler_interval_ms, 10, 60000),
      IntKey({"lease.min", "JOBNIK_LEASE_MIN", "--lease-min", "shortest lease a worker may ask for", false, "SECONDS"},
             &Config::lease_min, 1, 2592000),
      IntKey({"lease.max", "JOBNIK_LEASE_MAX", "--lease-max", "longest lease a worker may ask for", false, "SECONDS"},
             &Config::lease_max, 1, 2592000),
      IntKey({"lease.default", "JOBNIK_LEASE_DEFAULT", "--lease-default",
              "lease a heartbeat without leaseSeconds extends to", false, "SECONDS"},
             &Config::lease_default, 1, 2592000),
      IntKey({"idempotency.retention", "JOBNIK_IDEMPOTENCY_RETENTION", "--idempotency-retention",
              "how long the answer of a request with an Idempotency-Key is kept for its retries (then the key is "
              "deleted by the sweeper and may be used again)",
              false, "SECONDS"},
             &Config::idempotency_retention, 60, 30LL * 86400),
      DurationKey({"retention.completed", "JOBNIK_RETENTION_COMPLETED", "--retain-completed",
                   "delete COMPLETED jobs (with their stages, tasks and events) this long after they finished, e.g. "
                   "7d; 0 or off: keep them",
                   false, "DURATION"},
                  &Config::retention_completed, 0, kMaxRetention),
      DurationKey({"retention.failed", "JOBNIK_RETENTION_FAILED", "--retain-failed",
                   "delete FAILED jobs this long after they failed, e.g. 30d; 0 or off: keep them", false, "DURATION"},
                  &Config::retention_failed, 0, kMaxRetention),
      DurationKey(
          {"retention.aborted", "JOBNIK_RETENTION_ABORTED", "--retain-aborted",
           "delete ABORTED jobs this long after they were aborted, e.g. 30d; 0 or off: keep them", false, "DURATION"},
          &Config::retention_aborted, 0, kMaxRetention),
      IntKey({"retention.batch", "JOBNIK_RETENTION_BATCH", "--prune-batch",
              "finished jobs deleted per transaction at most"},
             &Config::retention_batch, 1, 100000),
      IntKey({"retention.batch_tasks", "JOBNIK_RETENTION_BATCH_TASKS", "--prune-batch-tasks",
              "tasks deleted per transaction at most (a larger job is deleted alone)"},
             &Config::retention_batch_tasks, 1, 10000000),
      StringKey({"tracing.otlp_endpoint", "JOBNIK_TRACING_OTLP_ENDPOINT", "--otlp-endpoint",
                 "OTLP/HTTP collector base URL (spans POSTed to /v1/traces); empty: tracing off", false, "URL"},
                &Config::tracing_endpoint,
                [](const std::string& v) {
                  if (v.empty() || v.rfind("http://", 0) == 0 || v.rfind("https://", 0) == 0) return Status::Ok();
                  return ValidationError(fmt::format("must be an http:// or https:// URL, not '{}'", v));
                }),
      StringKey({"tracing.service_name", "JOBNIK_TRACING_SERVICE_NAME", "--service-name",
                 "service.name of exported spans", false, "NAME"},
                &Config::tracing_service_name, CheckNotEmpty),
      IntKey({"tracing.queue_size", "JOBNIK_TRACING_QUEUE_SIZE", "--tracing-queue-size",
              "spans buffered for export at most (more are dropped and counted)"},
             &Config::tracing_queue_size, 16, 1000000),
      IntKey({"metrics.stage_types_max", "JOBNIK_METRICS_STAGE_TYPES_MAX", "",
              "stage types with jobnik_tasks series of their own at most; the rest are summed as __other__"},
             &Config::metrics_stage_types_max, 1, 100000),
      IntKey({"metrics.stage_type_idle_ttl", "JOBNIK_METRICS_STAGE_TYPE_IDLE_TTL", "",
              "seconds a stage type's jobnik_tasks series stay after its last unfinished task"},
             &Config::metrics_stage_type_idle_ttl, 1, 30LL * 86400),
      BoolKey({"ui.enabled", "JOBNIK_UI_ENABLED", "--ui", "serve the web dashboard at /ui/"}, &Config::ui_enabled),
  };
  return defs;
}

// ---- connection strings ----

// libpq's reading of a connection string (URL or key=value); null when libpq rejects it.
using Conninfo = std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)>;

Conninfo ParseConninfo(const std::string& conninfo) {
  char* error = nullptr;
  Conninfo options(PQconninfoParse(conninfo.c_str(), &error), &PQconninfoFree);
  if (error) PQfreemem(error);
  return options;
}

constexpr const char* kMask = "****";

// libpq marks the options it hides (password, sslpassword) with dispchar "*".
bool IsSecretOption(const PQconninfoOption& o) {
  return o.dispchar && std::strchr(o.dispchar, '*');
}

bool IsSecretKeyword(const std::string& keyword) {
  static const std::vector<std::string> secrets = [] {
    std::vector<std::string> names;
    const Conninfo defaults(PQconndefaults(), &PQconninfoFree);
    for (const PQconninfoOption* o = defaults.get(); o && o->keyword; ++o) {
      if (IsSecretOption(*o)) names.emplace_back(o->keyword);
    }
    return names;
  }();
  return std::find(secrets.begin(), secrets.end(), keyword) != secrets.end();
}

// `masked` reads as the same options as `original`, each secret given replaced by kMask.
bool MasksExactly(const Conninfo& original, const Conninfo& masked) {
  if (!masked) return false;
  for (const PQconninfoOption* o = original.get(); o->keyword; ++o) {
    const PQconninfoOption* m = masked.get();
    while (m->keyword && std::strcmp(m->keyword, o->keyword) != 0) ++m;
    if (!m->keyword || !o->val != !m->val) return false;
    if (o->val && std::strcmp(m->val, IsSecretOption(*o) ? kMask : o->val) != 0) return false;
  }
  return true;
}

bool IsUri(const std::string& s) {
  return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 && HexDigit(s[i + 2]) >= 0) {
      out += static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// postgresql://user:SECRET@host/db?sslpassword=SECRET&... as libpq splits it: the user
// part ends at the first '@' before any '/', the password follows the user's first ':'.
std::string MaskUri(std::string s) {
  std::size_t start = s.find("://") + 3;
  const std::size_t end = s.find_first_of("@/", start);
  if (end != std::string::npos && s[end] == '@') {
    const std::size_t colon = s.find(':', start);
    if (colon < end) s.replace(colon + 1, end - colon - 1, kMask);
    start = s.find('@', start) + 1;
  }
  std::size_t q = s.find('?', start);
  if (q == std::string::npos) return s;
  for (std::size_t pos = q + 1; pos <= s.size();) {
    std::size_t amp = s.find('&', pos);
    if (amp == std::string::npos) amp = s.size();
    const std::size_t eq = s.find('=', pos);
    if (eq < amp && IsSecretKeyword(PercentDecode(std::string_view(s).substr(pos, eq - pos)))) {
      s.replace(eq + 1, amp - eq - 1, kMask);
      amp = eq + 1 + std::strlen(kMask);
    }
    pos = amp + 1;
  }
  return s;
}

bool IsSpace(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

// key = value pairs as libpq reads them: a value is 'quoted' or runs to the next blank,
// and a backslash escapes the next character in both forms.
std::string MaskKeywords(const std::string& s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t key_start = i;
    while (i < s.size() && IsSpace(s[i])) ++i;
    const std::size_t name_start = i;
    while (i < s.size() && s[i] != '=' && !IsSpace(s[i])) ++i;
    const std::string key = s.substr(name_start, i - name_start);
    while (i < s.size() && s[i] != '=') ++i;
    if (i < s.size()) ++i;  // '='
    while (i < s.size() && IsSpace(s[i])) ++i;
    out.append(s, key_start, i - key_start);
    const std::size_t value_start = i;
    if (i < s.size() && s[i] == '\'') {
      for (++i; i < s.size() && s[i] != '\''; ++i) {
        if (s[i] == '\\') ++i;
      }
      if (i < s.size()) ++i;  // closing quote
    } else {
      for (; i < s.size() && !IsSpace(s[i]); ++i) {
        if (s[i] == '\\') ++i;
      }
    }
    i = std::min(i, s.size());
    out += IsSecretKeyword(key) ? std::string(kMask) : s.substr(value_start, i - value_start);
  }
  return out;
}

// Every option given, as key='value', secrets masked.
std::string Rebuild(const Conninfo& options) {
  std::string out;
  for (const PQconninfoOption* o = options.get(); o->keyword; ++o) {
    if (!o->val) continue;
    std::string value = IsSecretOption(*o) ? kMask : o->val;
    std::string quoted;
    for (char c : value) {
      if (c == '\'' || c == '\\') quoted += '\\';
      quoted += c;
    }
    out += fmt::format("{}{}='{}'", out.empty() ? "" : " ", o->keyword, quoted);
  }
  return out;
}

}  // namespace

int Config::MaxWaiters() const {
  if (claim_max_waiters > 0) return claim_max_waiters;
  return std::max(1, http_max_connections / 4);
}

std::string Config::ListenHost() const {
  return listen.substr(0, listen.rfind(':'));
}
int Config::ListenPort() const {
  return std::stoi(listen.substr(listen.rfind(':') + 1));
}

const std::vector<ConfigKey>& ConfigKeys() {
  static const std::vector<ConfigKey> keys = process::KeysOf(Defs());
  return keys;
}

domain::Result<Config> LoadConfig(const ConfigSources& sources) {
  auto config = process::LoadConfig(Defs(), sources);
  if (config.ok() && config->tls_cert.empty() != config->tls_key.empty()) {
    return ValidationError(config->tls_cert.empty() ? "tls.key is set but tls.cert is not: give both or neither"
                                                    : "tls.cert is set but tls.key is not: give both or neither");
  }
  if (config.ok() && !config->tls_client_ca.empty() && !config->TlsEnabled()) {
    return ValidationError("tls.client_ca is set but tls.cert and tls.key are not: mutual TLS needs https");
  }
  if (config.ok() && config->http_max_connections < config->http_threads) {
    return ValidationError(fmt::format("http.max_connections ({}) must be at least http.threads ({})",
                                       config->http_max_connections, config->http_threads));
  }
  if (config.ok() && !(config->lease_min <= config->lease_default && config->lease_default <= config->lease_max)) {
    return ValidationError(fmt::format("lease.min ({}) <= lease.default ({}) <= lease.max ({}) does not hold",
                                       config->lease_min, config->lease_default, config->lease_max));
  }
  return config;
}

std::string MaskSecret(const std::string& conninfo) {
  if (conninfo.empty()) return conninfo;
  const Conninfo parsed = ParseConninfo(conninfo);
  // Not a connection string libpq accepts: there is no telling which part is secret.
  if (!parsed) return kMask;
  bool secret = false;
  for (const PQconninfoOption* o = parsed.get(); o->keyword; ++o) secret |= IsSecretOption(*o) && o->val;
  if (!secret) return conninfo;
  // Keep the text as written, secrets replaced; should that ever differ from libpq's own
  // reading, show libpq's reading instead (every value quoted, secrets masked).
  std::string masked = IsUri(conninfo) ? MaskUri(conninfo) : MaskKeywords(conninfo);
  if (MasksExactly(parsed, ParseConninfo(masked))) return masked;
  return Rebuild(parsed);
}

std::string PrintConfig(const Config& config) {
  return process::PrintConfig(Defs(), config, MaskSecret);
}

}  // namespace jobnik
