// How jobnikctl prints entities: -o table (aligned columns, for people), json (the API's
// wire JSON, pretty), yaml (the same as YAML) or name (ids, one a line, for scripts).
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "domain/model.h"

namespace jobnik::ctl {

enum class Format { kTable, kJson, kYaml, kName };

std::optional<Format> ParseFormat(std::string_view s);

void Print(std::ostream& out, Format f, const domain::Job& job);
void Print(std::ostream& out, Format f, const domain::Stage& stage);
void Print(std::ostream& out, Format f, const domain::Task& task);
void Print(std::ostream& out, Format f, const std::vector<domain::Job>& jobs);
void Print(std::ostream& out, Format f, const std::vector<domain::Stage>& stages);
void Print(std::ostream& out, Format f, const std::vector<domain::Task>& tasks);
// Events: -o name prints their ids.
void Print(std::ostream& out, Format f, const std::vector<domain::JobEvent>& events);

// JSON text (pretty) or its YAML rendering.
void PrintJsonText(std::ostream& out, Format f, const std::string& json_text);

// The job, its stages and their task counts on one screen (`tree`).
void PrintTree(std::ostream& out, const domain::Job& job, const std::vector<domain::Stage>& stages);

// "12/40 done, 2 running, 1 failed" of a summary.
std::string Counts(const domain::Summary& s);

}  // namespace jobnik::ctl
