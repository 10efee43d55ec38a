#include "store/pg/statements.h"

#include <sstream>
#include <stdexcept>

#include "common/embedded.h"

namespace jobnik::store::pg {
namespace {

std::map<std::string, std::string> Parse() {
  std::map<std::string, std::string> out;
  constexpr std::string_view kMarker = "-- name: ";
  for (const auto& file : embedded::queries::Files()) {
    std::istringstream in{std::string(file.content)};
    std::string line, name, text;
    auto flush = [&] {
      if (!name.empty()) {
        if (!out.emplace(name, text).second) throw std::logic_error("duplicate statement name " + name);
      }
      text.clear();
    };
    while (std::getline(in, line)) {
      if (line.rfind(kMarker, 0) == 0) {
        flush();
        name = line.substr(kMarker.size());
        while (!name.empty() && (name.back() == ' ' || name.back() == '\r')) name.pop_back();
        continue;
      }
      if (!name.empty()) text += line + "\n";
    }
    flush();
  }
  return out;
}

}  // namespace

const std::map<std::string, std::string>& Statements() {
  static const std::map<std::string, std::string> statements = Parse();
  return statements;
}

void PrepareAll(pqxx::connection_base& conn) {
  for (const auto& [name, sql] : Statements()) conn.prepare(name, sql);
}

}  // namespace jobnik::store::pg
