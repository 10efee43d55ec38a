#include "store/pg/statements.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "common/embedded.h"

namespace jobnik::store::pg {
namespace {

// The query files whose statements run on a connection of their own, not on the pool's.
constexpr std::string_view kOwnConnectionFiles[] = {"leadership.sql", "migrator.sql"};

struct Parsed {
  std::map<std::string, std::string> statements;
  std::map<std::string, std::string> templates;
  std::set<std::string> own_connection;  // names of the statements of kOwnConnectionFiles
  std::map<std::string, std::string> fragments;
};

void ReplaceAll(std::string& s, std::string_view from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
}

// A fragment's text without the blank and comment lines that trail it (the header of the
// next statement).
std::string TrimTrailingComments(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  while (!lines.empty() && (lines.back().empty() || lines.back().rfind("--", 0) == 0)) lines.pop_back();
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

Parsed Parse() {
  Parsed out;
  constexpr std::string_view kName = "-- name: ";
  constexpr std::string_view kTemplate = "-- template: ";
  constexpr std::string_view kFragment = "-- fragment: ";
  for (const auto& file : embedded::queries::Files()) {
    std::istringstream in{std::string(file.content)};
    std::string line, name, text;
    std::map<std::string, std::string>* target = nullptr;
    const bool own_connection = std::find(std::begin(kOwnConnectionFiles), std::end(kOwnConnectionFiles), file.name) !=
                                std::end(kOwnConnectionFiles);
    auto flush = [&] {
      if (target && !name.empty()) {
        if (target == &out.fragments) text = TrimTrailingComments(text);
        if (out.statements.count(name) || out.templates.count(name) || out.fragments.count(name) ||
            !target->emplace(name, text).second) {
          throw std::logic_error("duplicate statement name " + name);
        }
        if (own_connection) out.own_connection.insert(name);
      }
      text.clear();
    };
    while (std::getline(in, line)) {
      const bool is_name = line.rfind(kName, 0) == 0;
      const bool is_template = line.rfind(kTemplate, 0) == 0;
      const bool is_fragment = line.rfind(kFragment, 0) == 0;
      if (is_name || is_template || is_fragment) {
        flush();
        name = line.substr(is_name ? kName.size() : is_template ? kTemplate.size() : kFragment.size());
        while (!name.empty() && (name.back() == ' ' || name.back() == '\r')) name.pop_back();
        target = is_name ? &out.statements : is_template ? &out.templates : &out.fragments;
        continue;
      }
      if (!name.empty()) text += line + "\n";
    }
    flush();
  }
  // A fragment may use others ("{X}" in its text): expand them into it first, two levels deep.
  for (int level = 0; level < 2; ++level) {
    for (auto& [fragment, text] : out.fragments) {
      for (const auto& [other, other_text] : out.fragments) {
        if (other != fragment) ReplaceAll(text, "{" + other + "}", other_text);
      }
    }
  }
  // "{Fragment}" in a statement or template stands for the fragment's text.
  for (auto* texts : {&out.statements, &out.templates}) {
    for (auto& [statement, sql] : *texts) {
      for (const auto& [fragment, text] : out.fragments) ReplaceAll(sql, "{" + fragment + "}", text);
    }
  }
  return out;
}

const Parsed& All() {
  static const Parsed parsed = Parse();
  return parsed;
}

}  // namespace

const std::map<std::string, std::string>& Statements() {
  return All().statements;
}

namespace {

// A claim template with its per-type section repeated for `types` types. TaskClaim
// (`many` false): branch i's type and limit are $(2i-1), $(2i); TaskClaimMany: its type
// is $i and the branches share one limit (TaskClaimManyOne for one type: its scan locks
// as it goes, cheaper than the merged scan of TaskClaimMany when there is nothing to merge).
std::string ExpandClaim(std::size_t types, bool many = false) {
  const std::string& tmpl = All().templates.at(!many ? "TaskClaim" : types == 1 ? "TaskClaimManyOne" : "TaskClaimMany");
  constexpr std::string_view kBegin = "-- per type: begin\n";
  constexpr std::string_view kEnd = "-- per type: end\n";
  const auto begin = tmpl.find(kBegin);
  const auto end = tmpl.find(kEnd);
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    throw std::logic_error("TaskClaim template: missing per-type section");
  }
  const std::string branch = tmpl.substr(begin + kBegin.size(), end - begin - kBegin.size());
  std::string branches, candidates, type_params;
  for (std::size_t i = 1; i <= types; ++i) {
    type_params += fmt::format("{}${}", i > 1 ? ", " : "", many ? i : 2 * i - 1);
    std::string b = branch;
    ReplaceAll(b, "{i}", std::to_string(i));
    ReplaceAll(b, "{type}", fmt::format("${}", many ? i : 2 * i - 1));
    ReplaceAll(b, "{limit}", fmt::format("${}", many ? types + 1 : 2 * i));
    branches += b;
    if (i > 1) candidates += " UNION ALL ";
    candidates += fmt::format("SELECT * FROM c{}", i);
  }
  std::string sql = tmpl.substr(0, begin) + branches + tmpl.substr(end + kEnd.size());
  ReplaceAll(sql, "{candidates}", candidates);
  ReplaceAll(sql, "{types}", type_params);  // ClaimSlots: every type parameter
  ReplaceAll(sql, "{options}", fmt::format("${}", 2 * types + 1));
  ReplaceAll(sql, "{limit}", fmt::format("${}", types + 1));
  ReplaceAll(sql, "{worker}", fmt::format("${}", types + 2));
  ReplaceAll(sql, "{lease}", fmt::format("${}", types + 3));
  return sql;
}

// Name and text of the claim statement for 1..kMaxClaimTypes types (index types - 1),
// expanded once.
struct Claim {
  std::string name, sql;
};
const std::vector<Claim>& Claims() {
  static const std::vector<Claim> claims = [] {
    std::vector<Claim> out;
    for (std::size_t k = 1; k <= kMaxClaimTypes; ++k) out.push_back({fmt::format("TaskClaim{}", k), ExpandClaim(k)});
    for (std::size_t k = 1; k <= kMaxClaimTypes; ++k) {
      out.push_back({fmt::format("TaskClaimMany{}", k), ExpandClaim(k, true)});
    }
    return out;
  }();
  return claims;
}

const Claim& ClaimFor(std::size_t types) {
  if (types < 1 || types > kMaxClaimTypes) throw std::out_of_range("claim statement: bad number of types");
  return Claims()[types - 1];
}

}  // namespace

const std::string& Statement(const std::string& name) {
  const auto& statements = All().statements;
  if (const auto it = statements.find(name); it != statements.end()) return it->second;
  for (const auto& claim : Claims()) {
    if (claim.name == name) return claim.sql;
  }
  throw std::logic_error("no SQL statement named " + name + " in store/pg/queries");
}

const std::string& ClaimStatementName(std::size_t types) {
  return ClaimFor(types).name;
}

const std::string& ClaimManyStatementName(std::size_t types) {
  ClaimFor(types);  // checks the bounds
  return Claims()[kMaxClaimTypes + types - 1].name;
}

void PrepareAll(pqxx::connection_base& conn) {
  for (const auto& [name, sql] : Statements()) {
    if (!All().own_connection.count(name)) conn.prepare(name, sql);
  }
  for (const auto& claim : Claims()) conn.prepare(claim.name, claim.sql);
}

}  // namespace jobnik::store::pg
