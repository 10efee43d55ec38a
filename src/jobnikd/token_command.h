// `jobnikd token create|list|revoke`: bearer tokens in the database (store/tokens.h,
// http/auth.h), for operators on the database's host or with its URL.
#pragma once

#include <CLI/CLI.hpp>
#include <ostream>
#include <string>

#include "store/tokens.h"

namespace jobnik {

struct TokenCommand {
  CLI::App* app = nullptr;  // `token`
  CLI::App* create = nullptr;
  CLI::App* list = nullptr;
  CLI::App* revoke = nullptr;
  std::string name;
  std::string role;
  std::string expires;  // a duration from now (30d, 12h) or an RFC 3339 time; "" never
  bool all = false;     // list: revoked and expired ones too
  std::string output = "table";
};

// Adds `token` and its subcommands to `app`; their options go to `cmd`.
void AddTokenCommand(CLI::App& app, TokenCommand& cmd);

// Checks the arguments of the chosen subcommand (before the database is opened): exit code
// kUsage with a message naming the option, or 0.
int CheckTokenArguments(const TokenCommand& cmd, std::ostream& err);

// Runs the chosen subcommand on `tokens`. Returns an exit code of process::ExitCode.
int RunTokenCommand(const TokenCommand& cmd, store::Tokens& tokens, std::ostream& out, std::ostream& err);

}  // namespace jobnik
