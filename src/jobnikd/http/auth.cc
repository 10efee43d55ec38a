#include "http/auth.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <pqxx/pqxx>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/ascii.h"
#include "common/digest.h"
#include "store/pg/tokens.h"

namespace jobnik::http {

using domain::ErrorCode;
using domain::Status;

namespace {

constexpr std::string_view kTokenPrefix = "jnk_";
constexpr auto kReconnectMax = std::chrono::milliseconds(10000);

Status Unauthenticated(std::string message) {
  return {ErrorCode::kUnauthenticated, std::move(message)};
}

// The roles that may use routes of class `access` (domain::Allows), least powerful first,
// for a 403's message: "worker or admin" (admin, last, may do everything).
std::string RolesFor(domain::Access access) {
  std::string out;
  for (auto r = domain::kRoles.rbegin(); r != domain::kRoles.rend(); ++r) {
    if (!domain::Allows(*r, access)) continue;
    if (!out.empty()) out += r + 1 == domain::kRoles.rend() ? " or " : ", ";
    out += domain::ToString(*r);
  }
  return out;
}

// Calls back with each notification of the tokens' channel for `schema`.
class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, std::string schema, bool& notified)
      : pqxx::notification_receiver(conn, store::pg::kTokensChannel), schema_(std::move(schema)), notified_(notified) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    if (payload == schema_) notified_ = true;
  }

 private:
  std::string schema_;
  bool& notified_;
};

}  // namespace

std::optional<AuthMode> ParseAuthMode(std::string_view text) {
  if (text == "auto") return AuthMode::kAuto;
  if (text == "required") return AuthMode::kRequired;
  if (text == "off") return AuthMode::kOff;
  return std::nullopt;
}

std::string_view ToString(AuthMode mode) {
  switch (mode) {
    case AuthMode::kAuto:
      return "auto";
    case AuthMode::kRequired:
      return "required";
    case AuthMode::kOff:
      return "off";
  }
  return "auto";
}

std::string NewToken() {
  return std::string(kTokenPrefix) + digest::RandomHex(32);
}

std::string TokenHash(std::string_view token) {
  return digest::Sha256Hex(token);
}

Status ValidateTokenName(std::string_view name) {
  const auto ok_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '@' || c == '-';
  };
  if (name.empty() || name.size() > 64 || std::isalnum(static_cast<unsigned char>(name.front())) == 0 ||
      !std::all_of(name.begin(), name.end(), ok_char)) {
    return domain::ValidationError(
        fmt::format("name: '{}' is not a token name: 1 to 64 letters, digits and . _ @ -, starting with a letter or "
                    "digit",
                    name));
  }
  return Status::Ok();
}

Authenticator::Authenticator(store::Tokens& tokens, AuthOptions options, Metrics* metrics)
    : tokens_(tokens), options_(std::move(options)), metrics_(metrics), snapshot_(std::make_shared<const Snapshot>()) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Authenticator::~Authenticator() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

Status Authenticator::Start() {
  JOBNIK_TRY(Reload());
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void Authenticator::Stop() {
  {
    const std::lock_guard lock(mu_);
    stopping_ = true;
  }
  if (wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const Authenticator::Snapshot> Authenticator::Current() const {
  const std::lock_guard lock(mu_);
  return snapshot_;
}

std::size_t Authenticator::ActiveTokens() const {
  return Current()->size();
}

bool Authenticator::Enforced() const {
  switch (options_.mode) {
    case AuthMode::kRequired:
      return true;
    case AuthMode::kOff:
      return false;
    case AuthMode::kAuto:
      return has_tokens_.load(std::memory_order_relaxed);
  }
  return true;
}

Status Authenticator::Reload() {
  const std::lock_guard reload(reload_mu_);
  return ReloadLocked();
}

Status Authenticator::ReloadLocked() {
  const std::uint64_t seq = ++reloads_started_;
  JOBNIK_ASSIGN_OR_RETURN(auto active, tokens_.Active());
  auto next = std::make_shared<Snapshot>();
  for (auto& t : active) {
    std::string hash = t.hash;
    next->emplace(std::move(hash), std::move(t));
  }
  const auto size = next->size();
  std::size_t before = 0;
  {
    const std::lock_guard lock(mu_);
    before = snapshot_->size();
    snapshot_ = std::move(next);
  }
  has_tokens_.store(size > 0, std::memory_order_relaxed);
  reloads_done_ = seq;
  if (metrics_) metrics_->auth_tokens.Set(static_cast<double>(size));
  if (size != before) spdlog::info("auth: {} active token(s)", size);
  return Status::Ok();
}

void Authenticator::ReloadForMiss() {
  const std::uint64_t arrived = reloads_started_.load();
  const std::lock_guard reload(reload_mu_);
  // A load that started after this request arrived has finished meanwhile: it saw
  // everything committed before the request, so a token it lacks is not valid.
  if (reloads_done_ > arrived) return;
  if (auto s = ReloadLocked(); !s.ok()) spdlog::warn("auth: reloading the tokens failed: {}", s.message());
}

Authenticator::Decision Authenticator::Check(std::string_view authorization, std::string_view method,
                                             std::string_view route_template, domain::Access access) {
  if (access == domain::Access::kOpen) return {};
  if (access == domain::Access::kMetrics && !options_.metrics_need_token) return {};
  const bool enforced = Enforced();
  if (!enforced && authorization.empty()) return {};  // the common open case: nothing to look up

  // "Bearer <token>", the scheme in any case (RFC 9110 11.1).
  std::string_view token;
  bool well_formed = false;
  if (const auto space = authorization.find(' '); space != std::string_view::npos) {
    token = authorization.substr(space + 1);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    well_formed = ascii::EqualsIgnoreCase(authorization.substr(0, space), "Bearer") && !token.empty();
  }
  const auto refuse = [&](std::string message) -> Decision {
    if (!enforced) return {};  // auto without tokens, or off: anyone, unnamed
    if (metrics_) metrics_->auth_unauthenticated.Increment();
    return {std::nullopt, Unauthenticated(std::move(message))};
  };
  if (authorization.empty()) {
    return refuse(fmt::format("{} {} needs a bearer token (Authorization: Bearer <token>; see jobnikd token create)",
                              method, route_template));
  }
  if (!well_formed) return refuse("The Authorization header is not 'Bearer <token>'");

  const std::string hash = TokenHash(token);
  auto snapshot = Current();
  auto it = snapshot->find(hash);
  if (it == snapshot->end() && enforced) {  // (not enforced: an unknown token only goes unnamed)
    ReloadForMiss();
    snapshot = Current();
    it = snapshot->find(hash);
  }
  if (it == snapshot->end()) return refuse("The bearer token is not valid: unknown, revoked or expired");
  const store::ActiveToken& t = it->second;
  if (t.expires_at && *t.expires_at <= std::chrono::system_clock::now()) {
    return refuse(fmt::format("The bearer token '{}' expired at {}", t.name, domain::FormatTime(*t.expires_at)));
  }
  Decision decision{Caller{t.name, t.role}, Status::Ok()};
  if (enforced && !domain::Allows(t.role, access)) {
    if (metrics_) metrics_->auth_forbidden.Increment();
    decision.status = {ErrorCode::kForbidden,
                       fmt::format("Forbidden: token '{}' has role {}; {} {} needs {}", t.name,
                                   domain::ToString(t.role), method, route_template, RolesFor(access))};
  }
  return decision;
}

void Authenticator::Loop() {
  auto backoff = std::chrono::milliseconds(100);
  const auto stopping = [this] {
    const std::lock_guard lock(mu_);
    return stopping_;
  };
  // Waits up to `timeout` for Stop() (true) or for the connection `sock` (when >= 0) to
  // have input.
  const auto wait = [this](int sock, std::chrono::milliseconds timeout) {
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {sock, POLLIN, 0}};
    const int rc = ::poll(fds, sock >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
    if (rc < 0 && errno != EINTR) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    return fds[0].revents != 0;
  };
  while (!stopping()) {
    if (options_.database_url.empty()) {
      if (wait(-1, options_.refresh)) return;
      if (auto s = Reload(); !s.ok()) spdlog::warn("auth: reloading the tokens failed: {}", s.message());
      continue;
    }
    try {
      pqxx::connection conn(options_.database_url);
      conn.set_variable("application_name", conn.quote(("jobnikd tokens " + options_.schema).substr(0, 63)));
      bool notified = false;
      const Receiver receiver(conn, options_.schema, notified);
      backoff = std::chrono::milliseconds(100);
      // Changes made while this connection was down were not notified: load once.
      if (auto s = Reload(); !s.ok()) spdlog::warn("auth: reloading the tokens failed: {}", s.message());
      auto next_refresh = std::chrono::steady_clock::now() + options_.refresh;
      while (true) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(next_refresh - std::chrono::steady_clock::now());
        if (wait(conn.sock(), std::max(left, std::chrono::milliseconds(0)))) return;
        conn.get_notifs();  // throws pqxx::broken_connection when the connection is lost
        if (!conn.is_open()) throw pqxx::broken_connection("the listening connection closed");
        if (notified || std::chrono::steady_clock::now() >= next_refresh) {
          notified = false;
          if (auto s = Reload(); !s.ok()) spdlog::warn("auth: reloading the tokens failed: {}", s.message());
          next_refresh = std::chrono::steady_clock::now() + options_.refresh;
        }
      }
    } catch (const std::exception& e) {
      if (stopping()) return;
      spdlog::warn("auth: cannot listen for token changes ({}); retrying in {} ms", e.what(), backoff.count());
    }
    if (wait(-1, backoff)) return;
    // Reload meanwhile, so that a revocation still takes effect within the backoff.
    if (auto s = Reload(); !s.ok()) spdlog::debug("auth: reloading the tokens failed: {}", s.message());
    backoff = std::min(backoff * 2, kReconnectMax);
  }
}

}  // namespace jobnik::http
