// Small builders for test data.
#pragma once

#include <string>
#include <vector>

#include "domain/model.h"
#include "store/store.h"

namespace jobnik::testing {

domain::NewJob AJob(const std::string& name = "test-job", domain::Priority priority = domain::Priority::kMedium);
domain::NewStage AStage(const std::string& type, bool start_as_waiting = false);
std::vector<domain::NewTask> SomeTasks(int n, int max_attempts = 1);
store::TraceDefaults ATrace();

}  // namespace jobnik::testing
