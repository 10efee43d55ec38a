// jobnik-worker: runs executables as task handlers for a stage type.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/version.h"

int main(int argc, char** argv) {
  CLI::App app{"jobnik-worker: run an executable for every task of a stage type", "jobnik-worker"};
  app.set_version_flag("-V,--version", fmt::format("jobnik-worker {}", jobnik::Version()));
  CLI11_PARSE(app, argc, argv);
  return 0;
}
