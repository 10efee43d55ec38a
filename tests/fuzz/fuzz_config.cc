// libFuzzer target: the layered configuration (lib/process/config.h) reading a YAML file:
// the input is the file's content, read through a table with a key of each kind (text,
// integer, boolean, nested), as jobnikd's and the tools' configurations are.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "process/config.h"

namespace {

struct Settings {
  std::string listen;
  std::string url;
  int pool = 0;
  bool sweeper = false;
  long long big = 0;
};

const std::vector<jobnik::process::Key<Settings>>& Table() {
  using namespace jobnik::process;
  static const std::vector<Key<Settings>> table = {
      StringKey<Settings>({"listen", "JOBNIK_LISTEN", "--listen", "address"}, &Settings::listen),
      StringKey<Settings>({"database.url", "JOBNIK_DATABASE_URL", "--database-url", "url", true}, &Settings::url),
      IntKey<Settings>({"database.pool_size", "JOBNIK_POOL_SIZE", "--pool-size", "pool"}, &Settings::pool, 1, 1000),
      BoolKey<Settings>({"sweeper.enabled", "JOBNIK_SWEEPER", "--sweeper", "sweeper"}, &Settings::sweeper),
      IntKey<Settings>({"limits.big", "JOBNIK_BIG", "--big", "big"}, &Settings::big, -(1LL << 62), 1LL << 62),
  };
  return table;
}

// One file per process, rewritten for every input.
const std::string& FilePath() {
  static const std::string path = "/tmp/jobnik-fuzz-config." + std::to_string(::getpid()) + ".yaml";
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(FilePath().c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  jobnik::process::ConfigSources sources;
  sources.file = FilePath();
  auto config = jobnik::process::LoadConfig(Table(), sources);
  if (config.ok()) (void)jobnik::process::PrintConfig(Table(), *config);
  return 0;
}
