// Bearer tokens (extension; docs/operations.md, "Security"): created, listed and revoked
// by `jobnikd token`, read by every jobnikd into its copy of the active ones
// (http/auth.h). Only a token's SHA-256 is stored; the token itself is never kept.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "domain/access.h"
#include "domain/error.h"
#include "domain/time.h"

namespace jobnik::store {

// A token as `jobnikd token list` shows it.
struct TokenInfo {
  std::string name;
  domain::Role role = domain::Role::kReader;
  domain::Timestamp created_at{};
  std::optional<domain::Timestamp> expires_at;
  std::optional<domain::Timestamp> revoked_at;
};

// A token that may be used now, by the hash of its secret.
struct ActiveToken {
  std::string hash;  // SHA-256 of the token, 64 lower-case hex digits
  std::string name;
  domain::Role role = domain::Role::kReader;
  std::optional<domain::Timestamp> expires_at;
};

class Tokens {
 public:
  virtual ~Tokens() = default;
  // Records a token by the hash of its secret. VALIDATION_ERROR naming the name when an
  // unrevoked token already has it.
  virtual domain::Result<TokenInfo> Create(const std::string& name, domain::Role role, const std::string& hash,
                                           std::optional<domain::Timestamp> expires_at) = 0;
  // By name; the revoked and expired ones too when `all`.
  virtual domain::Result<std::vector<TokenInfo>> List(bool all) = 0;
  // Revokes the unrevoked token named `name`; false when there is none.
  virtual domain::Result<bool> Revoke(const std::string& name) = 0;
  // The tokens neither revoked nor expired.
  virtual domain::Result<std::vector<ActiveToken>> Active() = 0;
};

}  // namespace jobnik::store
