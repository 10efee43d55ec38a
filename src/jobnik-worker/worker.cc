#include "worker.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "common/version.h"
#include "process/exit_code.h"

namespace jobnik::worker {

using process::ExitCode;
using process::ToInt;

int Main(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"jobnik-worker: run an executable for every task of a stage type", "jobnik-worker"};
  app.set_version_flag("-V,--version", fmt::format("jobnik-worker {}", Version()));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e, out, err) == 0 ? ToInt(ExitCode::kOk) : ToInt(ExitCode::kUsage);
  }
  return ToInt(ExitCode::kOk);
}

}  // namespace jobnik::worker
