// jobnik-worker: runs executables as task handlers for a stage type.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"jobnik-worker: run an executable for every task of a stage type", "jobnik-worker"};
  app.set_version_flag("-V,--version", fmt::format("jobnik-worker {}", jobnik::Version()));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // usage error
  }
  return 0;
}
