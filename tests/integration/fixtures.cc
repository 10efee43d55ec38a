#include "fixtures.h"

#include <fmt/format.h>

namespace jobnik::testing {

domain::NewJob AJob(const std::string& name, domain::Priority priority) {
  domain::NewJob j;
  j.name = name;
  j.data = R"({"source":"test"})";
  j.priority = priority;
  return j;
}

domain::NewStage AStage(const std::string& type, bool start_as_waiting) {
  domain::NewStage s;
  s.type = type;
  s.data = "{}";
  s.start_as_waiting = start_as_waiting;
  return s;
}

std::vector<domain::NewTask> SomeTasks(int n, int max_attempts) {
  std::vector<domain::NewTask> tasks;
  for (int i = 0; i < n; ++i) {
    domain::NewTask t;
    t.data = fmt::format(R"({{"i":{}}})", i);
    t.max_attempts = max_attempts;
    tasks.push_back(std::move(t));
  }
  return tasks;
}

store::TraceDefaults ATrace() {
  return {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", std::nullopt};
}

}  // namespace jobnik::testing
