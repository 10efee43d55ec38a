#include "cli.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "client/client.h"
#include "common/version.h"
#include "process/exit_code.h"

namespace jobnik::ctl {

using process::ExitCode;
using process::ToInt;

int Main(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"jobnikctl: submit, inspect and control Jobnik jobs", "jobnikctl"};
  app.set_version_flag("-V,--version", fmt::format("jobnikctl {}", Version()));
  std::string url = "http://127.0.0.1:8080";
  app.add_option("--url", url, "jobnikd base URL")->envname("JOBNIK_URL");
  auto* ping = app.add_subcommand("ping", "check that jobnikd is up and its database reachable");
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err) == 0 ? ToInt(ExitCode::kOk) : ToInt(ExitCode::kUsage);
  }
  if (*ping) {
    client::Client client({url});
    auto r = client.Request("GET", "/readiness");
    if (!r.ok()) {
      err << "jobnikctl: " << r.status().message() << "\n";
      return ToInt(ExitCode::kUnavailable);
    }
    out << r->body << "\n";
    return ToInt(r->status == 200 ? ExitCode::kOk : ExitCode::kFailure);
  }
  return ToInt(ExitCode::kOk);
}

}  // namespace jobnik::ctl
