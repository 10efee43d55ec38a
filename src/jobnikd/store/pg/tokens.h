// Tokens (store/tokens.h) on PostgreSQL: the api_token table (schema/0011), statements in
// queries/token.sql. Every change notifies 'jobnik_tokens' in its transaction.
#pragma once

#include "store/pg/pool.h"
#include "store/tokens.h"

namespace jobnik::store::pg {

// The channel every change of api_token is notified on; the payload is the schema.
inline constexpr const char* kTokensChannel = "jobnik_tokens";

class PgTokens final : public Tokens {
 public:
  // `pool` must outlive this.
  explicit PgTokens(Pool& pool) : pool_(pool) {}

  domain::Result<TokenInfo> Create(const std::string& name, domain::Role role, const std::string& hash,
                                   std::optional<domain::Timestamp> expires_at) override;
  domain::Result<std::vector<TokenInfo>> List(bool all) override;
  domain::Result<bool> Revoke(const std::string& name) override;
  domain::Result<std::vector<ActiveToken>> Active() override;

 private:
  Pool& pool_;
};

}  // namespace jobnik::store::pg
