// race_worker: a test tool that drains one stage type as fast as it can with many
// concurrent workers, to check that every task is claimed exactly once.
//
//   race_worker --url URL --type TYPE --threads N [--fail-every K] [--claims FILE]
//
// Each of the N threads (slots of lib/client's worker loop) has its own client (one
// keep-alive connection) and loops dequeue -> report COMPLETED until its dequeue finds
// nothing twice in a row.
// With --fail-every K, every K-th claim of a task on its first attempt whose
// maxAttempts is at least 2 is reported FAILED instead (the task must come back
// RETRIED, to be claimed again later, by any worker).
//
// Prints one JSON line:
//   {"claims":n,"completed":n,"failed_reports":n,"conflicts":n,"errors":n,"claimed_ids_file":"FILE"}
// and, with --claims, writes one line per claim: "TASK_ID ATTEMPT" (ATTEMPT counts
// from 1: the task's attempts before the claim, plus one).
//
// conflicts: reports answered 409 TASK_STATUS_UPDATE_FAILED (another report won).
// errors: transport failures and any other unexpected answer; a thread stops at its
// first error. Exit status: 0, or 1 if there was any error, 2 on a usage error.
#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/worker.h"
#include "domain/error.h"

namespace {

using jobnik::domain::ErrorCode;
using jobnik::domain::TaskStatus;

struct Totals {
  std::atomic<long> claims{0};
  std::atomic<long> completed{0};
  std::atomic<long> failed_reports{0};
  std::atomic<long> conflicts{0};
  std::atomic<long> errors{0};
  std::atomic<long> eligible{0};  // first-attempt claims of retryable tasks
};

struct Options {
  std::string url;
  std::string type;
  int threads = 1;
  int fail_every = 0;
  std::string claims_file;
};

void Error(Totals& totals, const std::string& what) {
  ++totals.errors;
  std::fprintf(stderr, "race_worker: %s\n", what.c_str());
}

// The worker loop of lib/client, one slot per thread, tuned to the test: no pause on an
// empty claim, a slot ends after two empty claims in a row or at its first error, and
// reports are not retried (a failure must show).
void Work(const Options& opt, Totals& totals, std::vector<std::vector<std::string>>& claims) {
  using jobnik::client::Next;
  jobnik::client::WorkerOptions options;
  options.stage_types = {opt.type};
  options.slots = opt.threads;
  options.backoff = {std::chrono::milliseconds(0), 1.0, std::chrono::milliseconds(0), jobnik::client::Jitter::kNone};
  options.report_attempts = 1;
  jobnik::client::ClientOptions client;
  client.base_url = opt.url;

  jobnik::client::WorkerHooks hooks;
  hooks.on_claim_error = [&totals](int, const std::string&, const jobnik::domain::Status& s) {
    Error(totals, "dequeue: " + s.message());
    return Next::kStopSlot;
  };
  hooks.on_queue_empty = [](int, int rounds) { return rounds >= 2 ? Next::kStopSlot : Next::kContinue; };
  hooks.on_claimed = [&totals, &claims](int slot, const jobnik::domain::Task& task, auto) {
    ++totals.claims;
    claims[static_cast<std::size_t>(slot)].push_back(task.id + " " + std::to_string(task.attempts + 1));
    if (task.status != TaskStatus::kInProgress) {
      Error(totals,
            "dequeue returned task " + task.id + " in status " + std::string(jobnik::domain::ToString(task.status)));
      return Next::kStopSlot;
    }
    return Next::kContinue;
  };
  hooks.on_reported = [&totals](int, const jobnik::domain::Task& task, TaskStatus report,
                                const jobnik::domain::Result<jobnik::domain::Task>& r, auto) {
    if (!r.ok()) {
      if (r.status().code() == ErrorCode::kTaskStatusUpdateFailed) {
        ++totals.conflicts;
        std::fprintf(stderr, "race_worker: report on task %s: conflict: %s\n", task.id.c_str(),
                     r.status().message().c_str());
        return Next::kContinue;
      }
      Error(totals, "report " + std::string(jobnik::domain::ToString(report)) + " on task " + task.id + ": " +
                        r.status().message());
      return Next::kStopSlot;
    }
    const bool fail = report == TaskStatus::kFailed;
    const TaskStatus expected = fail ? TaskStatus::kRetried : TaskStatus::kCompleted;
    if (r->status != expected) {
      Error(totals, "report on task " + task.id + " left it " + std::string(jobnik::domain::ToString(r->status)) +
                        ", expected " + std::string(jobnik::domain::ToString(expected)));
      return Next::kStopSlot;
    }
    if (fail) {
      ++totals.failed_reports;
    } else {
      ++totals.completed;
    }
    return Next::kContinue;
  };
  // With --fail-every K, every K-th first-attempt claim of a retryable task fails.
  auto handler = [&opt, &totals](jobnik::client::TaskContext& c) {
    const auto& task = c.task;
    bool fail = false;
    if (opt.fail_every > 0 && task.attempts == 0 && task.max_attempts >= 2) {
      fail = (++totals.eligible % opt.fail_every) == 0;
    }
    return fail ? TaskStatus::kFailed : TaskStatus::kCompleted;
  };
  jobnik::client::Worker worker(options, jobnik::client::Worker::ClientsFor(client), handler, hooks);
  worker.Start();
  worker.Wait();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"race_worker: drain a stage type with N concurrent workers (test tool)", "race_worker"};
  Options opt;
  app.add_option("--url", opt.url, "jobnikd base URL (http://HOST:PORT)")->required();
  app.add_option("--type", opt.type, "stage type to dequeue")->required();
  app.add_option("--threads", opt.threads, "concurrent workers, each with its own connection")
      ->check(CLI::Range(1, 1024));
  app.add_option("--fail-every", opt.fail_every,
                 "report every K-th first-attempt claim of a task with maxAttempts >= 2 as FAILED (0: never)")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--claims", opt.claims_file, "write one line \"TASK_ID ATTEMPT\" per claim to this file");
  CLI11_PARSE(app, argc, argv);

  Totals totals;
  std::vector<std::vector<std::string>> claims(static_cast<std::size_t>(opt.threads));
  Work(opt, totals, claims);

  if (!opt.claims_file.empty()) {
    std::ofstream out(opt.claims_file, std::ios::trunc);
    for (const auto& c : claims) {
      for (const auto& line : c) out << line << '\n';
    }
    out.flush();
    if (!out) Error(totals, "cannot write " + opt.claims_file);
  }

  nlohmann::json j = {{"claims", totals.claims.load()},
                      {"completed", totals.completed.load()},
                      {"failed_reports", totals.failed_reports.load()},
                      {"conflicts", totals.conflicts.load()},
                      {"errors", totals.errors.load()},
                      {"claimed_ids_file", opt.claims_file}};
  std::cout << j.dump() << std::endl;
  return totals.errors.load() > 0 ? 1 : 0;
}
