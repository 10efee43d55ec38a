// Bearer-token authentication and role checks (docs/operations.md, "Security").
//
// A token is "jnk_" and 64 hex digits (256 random bits), made by
// `jobnikd token create` (NewToken) and shown once; the database keeps its SHA-256 only
// (store/tokens.h). Each jobnikd keeps a copy of the active tokens in memory, so that
// checking one costs a hash and a lookup, never a database round trip:
//  - it is loaded at start (a failure stops the start);
//  - it is reloaded when PostgreSQL notifies 'jobnik_tokens' (every create and revoke
//    does, in its transaction), so a revocation takes effect on every instance within
//    milliseconds of its commit;
//  - it is reloaded every `refresh` too, in case a notification was lost while the
//    listening connection was down;
//  - a token it does not know makes it reload once more before the request is refused,
//    so a token created a moment ago works before its notification has arrived. Such
//    reloads run one at a time and each serves every request that arrived before it
//    started: a flood of bad tokens keeps at most one small query running.
// Expiry is checked on every request against the clock, so an expired token is refused
// at its expiry time.
//
// Modes: kRequired refuses every request to a route that is not open without a valid
// token (401) and every request the token's role does not allow (403); kAuto does so only
// while at least one token is active (with none, as kOff); kOff refuses nothing. In every
// mode a valid token names its caller, in the access log and in the job events.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "domain/access.h"
#include "domain/error.h"
#include "metrics.h"
#include "store/tokens.h"

namespace jobnik::http {

enum class AuthMode { kAuto, kRequired, kOff };
std::optional<AuthMode> ParseAuthMode(std::string_view text);
std::string_view ToString(AuthMode mode);

// A new token: "jnk_" and 64 hex digits, 32 random bytes.
std::string NewToken();
// The SHA-256 of a token as the database keeps it (64 lower-case hex digits).
std::string TokenHash(std::string_view token);
// VALIDATION_ERROR naming the field unless `name` is 1-64 of [A-Za-z0-9._@-], starting
// with a letter or digit (what the api_token table accepts).
domain::Status ValidateTokenName(std::string_view name);

// Who made a request, when its token was valid.
struct Caller {
  std::string name;
  domain::Role role = domain::Role::kReader;
};

struct AuthOptions {
  AuthMode mode = AuthMode::kAuto;
  bool metrics_need_token = false;  // GET /metrics needs a token (any role) when enforced
  // The listener: the database and schema whose notifications count; empty URL: no
  // listener (reloads every `refresh` only).
  std::string database_url;
  std::string schema = "jobnik";
  std::chrono::milliseconds refresh{10000};
};

class Authenticator {
 public:
  // `tokens` and `metrics` (may be null) must outlive this.
  Authenticator(store::Tokens& tokens, AuthOptions options, Metrics* metrics);
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // Loads the active tokens, then keeps them current (listener and refresh thread).
  domain::Status Start();
  void Stop();

  // What Check decided: the caller when its token is valid (also when it is refused
  // 403), and whether the request may go on (else UNAUTHENTICATED (401) or FORBIDDEN
  // (403) with a message).
  struct Decision {
    std::optional<Caller> caller;
    domain::Status status;
  };
  // For a request to route `method` `route_template` (its access class `access`) with this
  // Authorization header value ("" when absent).
  Decision Check(std::string_view authorization, std::string_view method, std::string_view route_template,
                 domain::Access access);

  // Whether requests need a token now (kRequired, or kAuto with an active token).
  bool Enforced() const;
  // Loads the active tokens from the store now.
  domain::Status Reload();
  std::size_t ActiveTokens() const;

 private:
  using Snapshot = std::unordered_map<std::string, store::ActiveToken>;  // by hash
  std::shared_ptr<const Snapshot> Current() const;
  domain::Status ReloadLocked();  // with reload_mu_ held
  // For a token not in the copy: waits for a reload that started after now.
  void ReloadForMiss();
  void Loop();

  store::Tokens& tokens_;
  const AuthOptions options_;
  Metrics* metrics_;
  mutable std::mutex mu_;  // snapshot_, stopping_
  std::shared_ptr<const Snapshot> snapshot_;
  std::atomic<bool> has_tokens_{false};  // snapshot_ is not empty
  bool stopping_ = false;
  std::mutex reload_mu_;  // one reload at a time
  std::atomic<std::uint64_t> reloads_started_{0};
  std::uint64_t reloads_done_ = 0;  // with reload_mu_: the number of the last finished reload
  int wake_fd_ = -1;
  std::thread thread_;
};

}  // namespace jobnik::http
