#include "token_command.h"

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>

#include "domain/time.h"
#include "http/auth.h"
#include "process/config.h"
#include "process/exit_code.h"

namespace jobnik {
namespace {

using process::ExitCode;

int Fail(std::ostream& err, ExitCode code, const std::string& message) {
  err << "jobnikd: token: " << message << "\n";
  return process::ToInt(code);
}

constexpr long long kMaxExpirySeconds = 100LL * 365 * 86400;

// --expires: a duration from now or a time; nullopt for "" (never). Errors name the option.
domain::Result<std::optional<domain::Timestamp>> ParseExpires(const std::string& text) {
  if (text.empty()) return std::optional<domain::Timestamp>();
  long long seconds = 0;
  if (process::ParseDurationSeconds(text, 1, kMaxExpirySeconds, seconds).ok()) {
    const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
    return std::optional<domain::Timestamp>(now + std::chrono::seconds(seconds));
  }
  if (auto at = domain::ParseTime(text)) {
    if (*at <= std::chrono::system_clock::now()) {
      return domain::ValidationError(fmt::format("--expires: {} is in the past", text));
    }
    return std::optional<domain::Timestamp>(*at);
  }
  return domain::ValidationError(fmt::format(
      "--expires: '{}' is neither a duration (such as 90d, 12h, 30m) nor a time (such as 2027-01-31T00:00:00Z)", text));
}

std::string StatusOf(const store::TokenInfo& t) {
  if (t.revoked_at) return "revoked";
  if (t.expires_at && *t.expires_at <= std::chrono::system_clock::now()) return "expired";
  return "active";
}

nlohmann::json ToJson(const store::TokenInfo& t) {
  const auto opt_time = [](const std::optional<domain::Timestamp>& at) {
    return at ? nlohmann::json(domain::FormatTime(*at)) : nlohmann::json(nullptr);
  };
  return {{"name", t.name},
          {"role", std::string(domain::ToString(t.role))},
          {"status", StatusOf(t)},
          {"createdAt", domain::FormatTime(t.created_at)},
          {"expiresAt", opt_time(t.expires_at)},
          {"revokedAt", opt_time(t.revoked_at)}};
}

}  // namespace

void AddTokenCommand(CLI::App& app, TokenCommand& cmd) {
  cmd.app = app.add_subcommand("token", "create, list and revoke bearer tokens (see jobnikd(8), Authentication)");
  cmd.app->require_subcommand(1);
  cmd.create = cmd.app->add_subcommand("create", "create a token and print it (shown this once only)");
  cmd.create->add_option("--name", cmd.name, "the token's name, as logs and job events show the caller")
      ->required()
      ->type_name("NAME");
  cmd.create->add_option("--role", cmd.role, "admin, producer, worker or reader")->required()->type_name("ROLE");
  cmd.create->add_option("--expires", cmd.expires, "expiry: a duration from now (90d, 12h) or a time (RFC 3339)")
      ->type_name("WHEN");
  cmd.list = cmd.app->add_subcommand("list", "list the active tokens (never their secrets)");
  cmd.list->add_flag("--all", cmd.all, "the revoked and expired ones too");
  cmd.list->add_option("-o,--output", cmd.output, "table or json")->type_name("FORMAT");
  cmd.revoke = cmd.app->add_subcommand("revoke", "revoke the active token named NAME, on every instance at once");
  cmd.revoke->add_option("name", cmd.name, "the token's name")->required()->type_name("NAME");
  for (auto* sub : {cmd.app, cmd.create, cmd.list, cmd.revoke}) sub->fallthrough();
}

int CheckTokenArguments(const TokenCommand& cmd, std::ostream& err) {
  if (*cmd.create) {
    if (auto s = http::ValidateTokenName(cmd.name); !s.ok()) return Fail(err, ExitCode::kUsage, "--" + s.message());
    if (auto r = domain::ParseRole(cmd.role, "--role"); !r.ok())
      return Fail(err, ExitCode::kUsage, r.status().message());
    if (auto e = ParseExpires(cmd.expires); !e.ok()) return Fail(err, ExitCode::kUsage, e.status().message());
  }
  if (*cmd.list && cmd.output != "table" && cmd.output != "json") {
    return Fail(err, ExitCode::kUsage, fmt::format("--output must be table or json, not '{}'", cmd.output));
  }
  if (*cmd.revoke) {
    if (auto s = http::ValidateTokenName(cmd.name); !s.ok()) return Fail(err, ExitCode::kUsage, s.message());
  }
  return 0;
}

int RunTokenCommand(const TokenCommand& cmd, store::Tokens& tokens, std::ostream& out, std::ostream& err) {
  if (int rc = CheckTokenArguments(cmd, err); rc != 0) return rc;
  if (*cmd.create) {
    const auto role = domain::ParseRole(cmd.role).value();
    const auto expires = ParseExpires(cmd.expires).value();
    const std::string token = http::NewToken();
    auto created = tokens.Create(cmd.name, role, http::TokenHash(token), expires);
    if (!created.ok()) {
      return Fail(err,
                  created.status().code() == domain::ErrorCode::kValidation ? ExitCode::kUsage : ExitCode::kFailure,
                  created.status().message());
    }
    out << token << "\n";
    err << fmt::format("jobnikd: token '{}' (role {}, {}) created; it is shown only now: keep it secret\n", cmd.name,
                       cmd.role, expires ? "expires " + domain::FormatTime(*expires) : std::string("does not expire"));
    return 0;
  }
  if (*cmd.list) {
    auto listed = tokens.List(cmd.all);
    if (!listed.ok()) return Fail(err, ExitCode::kFailure, listed.status().message());
    if (cmd.output == "json") {
      nlohmann::json rows = nlohmann::json::array();
      for (const auto& t : *listed) rows.push_back(ToJson(t));
      out << rows.dump(2) << "\n";
      return 0;
    }
    out << fmt::format("{:<24} {:<9} {:<8} {:<24} {}\n", "NAME", "ROLE", "STATUS", "CREATED", "EXPIRES");
    for (const auto& t : *listed) {
      out << fmt::format("{:<24} {:<9} {:<8} {:<24} {}\n", t.name, domain::ToString(t.role), StatusOf(t),
                         domain::FormatTime(t.created_at), t.expires_at ? domain::FormatTime(*t.expires_at) : "never");
    }
    return 0;
  }
  auto revoked = tokens.Revoke(cmd.name);
  if (!revoked.ok()) return Fail(err, ExitCode::kFailure, revoked.status().message());
  if (!*revoked) return Fail(err, ExitCode::kNotFound, fmt::format("no active token is named '{}'", cmd.name));
  err << fmt::format("jobnikd: token '{}' revoked\n", cmd.name);
  return 0;
}

}  // namespace jobnik
