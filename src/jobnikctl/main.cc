// jobnikctl: the command-line client of jobnikd.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <iostream>

#include "client/client.h"
#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"jobnikctl: submit, inspect and control Jobnik jobs", "jobnikctl"};
  app.set_version_flag("-V,--version", fmt::format("jobnikctl {}", jobnik::Version()));
  std::string url = "http://127.0.0.1:8080";
  app.add_option("--url", url, "jobnikd base URL")->envname("JOBNIK_URL");
  auto* ping = app.add_subcommand("ping", "check that jobnikd is up and its database reachable");
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // usage error
  }
  if (*ping) {
    jobnik::client::Client client({url});
    auto r = client.Request("GET", "/readiness");
    if (!r.ok()) {
      std::cerr << "jobnikctl: " << r.status().message() << "\n";
      return 3;
    }
    std::cout << r->body << "\n";
    return r->status == 200 ? 0 : 1;
  }
  return 0;
}
