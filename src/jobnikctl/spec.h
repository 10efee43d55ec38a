// The job spec of `jobnikctl submit` (jobnik-spec(5)): a job with its stages and tasks in
// YAML or JSON, read into the request of one atomic job submission.
//
// A spec is the createJob request body written in YAML (JSON is YAML too), plus:
//  - a stage's `tasksFrom`: JSON Lines files (a path, a glob, or "-" for standard input),
//    one task object per line, appended to the stage's `tasks`;
//  - a stage's `taskDefaults` (maxAttempts, userMetadata) for tasks that do not set them;
//  - `${NAME}` and `${NAME:-default}` in values, replaced by the environment variable
//    (`$$` is a literal `$`); a plain value is typed after the replacement;
//  - `--set path=value` overrides, applied before anything else (value in YAML syntax).
// Errors name the place (FILE:LINE:COLUMN, or the --set that put the value there), the field
// path (stages[1].tasks[0].maxAttempts) and the problem; all are kValidation.
#pragma once

#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/error.h"
#include "domain/model.h"

namespace jobnik::ctl {

struct SpecOptions {
  std::vector<std::string> sets;  // "path=value", in order (a later one wins)
  // The environment for ${NAME}; unset: std::getenv.
  std::function<std::optional<std::string>(const std::string&)> getenv;
  std::string base_dir = ".";           // relative tasksFrom paths start here
  std::istream* stdin_tasks = nullptr;  // tasksFrom "-" reads this; null: not allowed
};

// `text` is the spec; `file_name` names it in errors ("-" for standard input).
domain::Result<domain::NewJob> ParseSpec(std::string_view text, const std::string& file_name,
                                         const SpecOptions& options);

}  // namespace jobnik::ctl
