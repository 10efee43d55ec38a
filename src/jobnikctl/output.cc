#include "output.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "domain/codec.h"
#include "domain/time.h"

namespace jobnik::ctl {
namespace {

using nlohmann::json;

void EmitYaml(YAML::Emitter& e, const json& j) {
  switch (j.type()) {
    case json::value_t::object:
      e << YAML::BeginMap;
      for (const auto& [k, v] : j.items()) {
        e << YAML::Key << k << YAML::Value;
        EmitYaml(e, v);
      }
      e << YAML::EndMap;
      break;
    case json::value_t::array:
      e << YAML::BeginSeq;
      for (const auto& v : j) EmitYaml(e, v);
      e << YAML::EndSeq;
      break;
    case json::value_t::string:
      e << YAML::DoubleQuoted << j.get<std::string>();
      break;
    case json::value_t::null:
      e << YAML::Null;
      break;
    default:
      e << j.dump();  // numbers and booleans as JSON spells them
  }
}

// Columns aligned to their widest cell, two spaces apart.
void Table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out << line << '\n';
  }
}

std::string Time(domain::Timestamp t) {
  auto s = domain::FormatTime(t);  // 2026-03-01T09:15:00.250Z
  return s.substr(0, 19) + "Z";
}

std::vector<std::string> Row(const domain::Job& j) {
  return {j.id,
          j.name,
          std::string(domain::ToString(j.status)),
          std::string(domain::ToString(j.priority)),
          std::to_string(j.percentage) + "%",
          Time(j.creation_time)};
}
std::vector<std::string> Row(const domain::Stage& s) {
  return {s.id,
          s.job_id,
          std::to_string(s.order),
          s.type,
          std::string(domain::ToString(s.status)),
          std::to_string(s.percentage) + "%",
          fmt::format("{}/{}", s.summary.completed, s.summary.total())};
}
std::vector<std::string> Row(const domain::Task& t) {
  return {t.id, t.stage_id, std::string(domain::ToString(t.status)), fmt::format("{}/{}", t.attempts, t.max_attempts),
          Time(t.creation_time)};
}
// A failure reason in a table cell: its first line, at most 60 bytes (cut at a UTF-8 boundary).
std::string Cell(const std::optional<std::string>& reason) {
  if (!reason) return "";
  std::string s = reason->substr(0, reason->find('\n'));
  if (s.size() <= 60) return s;
  return domain::CutUtf8(std::move(s), 57) + "...";
}

std::vector<std::string> Row(const domain::JobEvent& e) {
  return {std::to_string(e.id), Time(e.time),   e.entity,
          e.entity_id,          e.kind,         e.old_value.value_or("-"),
          e.new_value,          Cell(e.reason), e.worker_id.value_or("")};
}
std::vector<std::string> Header(const domain::Job*) {
  return {"ID", "NAME", "STATUS", "PRIORITY", "DONE", "CREATED"};
}
std::vector<std::string> Header(const domain::Stage*) {
  return {"ID", "JOB", "ORDER", "TYPE", "STATUS", "DONE", "TASKS"};
}
std::vector<std::string> Header(const domain::Task*) {
  return {"ID", "STAGE", "STATUS", "ATTEMPTS", "CREATED"};
}
std::vector<std::string> Header(const domain::JobEvent*) {
  return {"ID", "TIME", "ENTITY", "ENTITY_ID", "KIND", "OLD", "NEW", "REASON", "WORKER"};
}

template <typename T>
void PrintList(std::ostream& out, Format f, const std::vector<T>& items) {
  switch (f) {
    case Format::kName:
      for (const auto& i : items) out << i.id << '\n';
      return;
    case Format::kTable: {
      std::vector<std::vector<std::string>> rows{Header(static_cast<const T*>(nullptr))};
      for (const auto& i : items) rows.push_back(Row(i));
      Table(out, rows);
      return;
    }
    default:
      PrintJsonText(out, f, domain::ToJson(items));
  }
}

template <typename T>
void PrintOne(std::ostream& out, Format f, const T& item) {
  if (f == Format::kJson || f == Format::kYaml) {
    PrintJsonText(out, f, domain::ToJson(item));
  } else {
    PrintList(out, f, std::vector<T>{item});
  }
}

}  // namespace

std::optional<Format> ParseFormat(std::string_view s) {
  if (s == "table") return Format::kTable;
  if (s == "json") return Format::kJson;
  if (s == "yaml") return Format::kYaml;
  if (s == "name") return Format::kName;
  return std::nullopt;
}

void PrintJsonText(std::ostream& out, Format f, const std::string& json_text) {
  const auto j = json::parse(json_text, nullptr, false);
  if (f == Format::kYaml) {
    YAML::Emitter e;
    EmitYaml(e, j);
    out << e.c_str() << '\n';
  } else {
    out << j.dump(2) << '\n';
  }
}

void Print(std::ostream& out, Format f, const domain::Job& job) {
  PrintOne(out, f, job);
}
void Print(std::ostream& out, Format f, const domain::Stage& stage) {
  PrintOne(out, f, stage);
}
void Print(std::ostream& out, Format f, const domain::Task& task) {
  PrintOne(out, f, task);
}
void Print(std::ostream& out, Format f, const std::vector<domain::Job>& jobs) {
  PrintList(out, f, jobs);
}
void Print(std::ostream& out, Format f, const std::vector<domain::Stage>& stages) {
  PrintList(out, f, stages);
}
void Print(std::ostream& out, Format f, const std::vector<domain::Task>& tasks) {
  PrintList(out, f, tasks);
}
void Print(std::ostream& out, Format f, const std::vector<domain::JobEvent>& events) {
  PrintList(out, f, events);
}

std::string Counts(const domain::Summary& s) {
  std::string out = fmt::format("{}/{} done", s.completed, s.total());
  if (s.in_progress) out += fmt::format(", {} running", s.in_progress);
  if (s.retried) out += fmt::format(", {} retrying", s.retried);
  if (s.failed) out += fmt::format(", {} failed", s.failed);
  return out;
}

void PrintTree(std::ostream& out, const domain::Job& job, const std::vector<domain::Stage>& stages) {
  out << fmt::format("job {} {} {} {}% ({})\n", job.id, job.name, domain::ToString(job.status), job.percentage,
                     domain::ToString(job.priority));
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& s = stages[i];
    out << fmt::format("{} {}. {} {} {} {}%: {}\n", i + 1 == stages.size() ? "└─" : "├─", s.order, s.type, s.id,
                       domain::ToString(s.status), s.percentage, Counts(s.summary));
  }
}

}  // namespace jobnik::ctl
