#include "store/pg/tokens.h"

#include <fmt/format.h>

#include "store/pg/rows.h"
#include "store/pg/transaction.h"

namespace jobnik::store::pg {
namespace {

std::optional<domain::Timestamp> OptTime(const pqxx::field& f) {
  return f.is_null() ? std::nullopt : std::optional<domain::Timestamp>(ParsePgTime(f.c_str()));
}

domain::Role RoleOf(const pqxx::field& f) {
  // The table's CHECK allows only the four names.
  return domain::ParseRole(f.c_str()).value();
}

TokenInfo ReadInfo(const pqxx::row& row) {
  return {row["name"].c_str(), RoleOf(row["role"]), ParsePgTime(row["created_at"].c_str()), OptTime(row["expires_at"]),
          OptTime(row["revoked_at"])};
}

}  // namespace

domain::Result<TokenInfo> PgTokens::Create(const std::string& name, domain::Role role, const std::string& hash,
                                           std::optional<domain::Timestamp> expires_at) {
  return RunTransaction<TokenInfo>(pool_, "TokenCreate", [&](pqxx::work& tx) -> domain::Result<TokenInfo> {
    std::optional<std::string> expires;
    if (expires_at) expires = domain::FormatTime(*expires_at);
    auto rows = tx.exec_prepared("TokenNameTaken", name);
    if (!rows.empty()) {
      return domain::ValidationError(
          fmt::format("name: a token named '{}' exists already; revoke it first or choose another name", name));
    }
    auto row = tx.exec_prepared1("TokenInsert", name, std::string(domain::ToString(role)), hash, expires);
    tx.exec_prepared("TokenNotify");
    return ReadInfo(row);
  });
}

domain::Result<std::vector<TokenInfo>> PgTokens::List(bool all) {
  return RunTransaction<std::vector<TokenInfo>, pqxx::nontransaction>(
      pool_, "TokenList", [&](pqxx::nontransaction& tx) -> domain::Result<std::vector<TokenInfo>> {
        std::vector<TokenInfo> out;
        for (const auto& row : tx.exec_prepared("TokenList", all)) out.push_back(ReadInfo(row));
        return out;
      });
}

domain::Result<bool> PgTokens::Revoke(const std::string& name) {
  return RunTransaction<bool>(pool_, "TokenRevoke", [&](pqxx::work& tx) -> domain::Result<bool> {
    if (tx.exec_prepared("TokenRevoke", name).empty()) return false;
    tx.exec_prepared("TokenNotify");
    return true;
  });
}

domain::Result<std::vector<ActiveToken>> PgTokens::Active() {
  return RunTransaction<std::vector<ActiveToken>, pqxx::nontransaction>(
      pool_, "TokenActive", [&](pqxx::nontransaction& tx) -> domain::Result<std::vector<ActiveToken>> {
        std::vector<ActiveToken> out;
        for (const auto& row : tx.exec_prepared("TokenActive")) {
          out.push_back({row["hash"].c_str(), row["name"].c_str(), RoleOf(row["role"]), OptTime(row["expires_at"])});
        }
        return out;
      });
}

}  // namespace jobnik::store::pg
