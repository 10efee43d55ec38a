// Text files compiled into the binaries (see cmake/embed.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace jobnik::embedded {

struct EmbeddedFile {
  std::string_view name;  // base name, e.g. "0001_init.sql"
  std::string_view content;
};

namespace migrations {
const std::vector<EmbeddedFile>& Files();  // schema/*.sql, sorted by name
}
namespace queries {
const std::vector<EmbeddedFile>& Files();  // src/jobnikd/store/pg/queries/*.sql
}
namespace docs {
const std::vector<EmbeddedFile>& Files();  // docs/openapi.yaml
}
namespace ui {
const std::vector<EmbeddedFile>& Files();  // src/jobnikd/ui/* (the web dashboard)
}

}  // namespace jobnik::embedded
