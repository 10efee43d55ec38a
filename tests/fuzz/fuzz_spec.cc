// libFuzzer target: jobnikctl's job spec parser (src/jobnikctl/spec.h): YAML or JSON with
// ${NAME} expansion and the spec's own keys. The input is the spec; tasksFrom files are not
// read (no base directory with files, no standard input).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  jobnik::ctl::SpecOptions options;
  options.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name == "SET") return "value";
    return std::nullopt;
  };
  options.base_dir = "/nonexistent-jobnik-fuzz";
  (void)jobnik::ctl::ParseSpec(text, "fuzz.yaml", options);
  return 0;
}
