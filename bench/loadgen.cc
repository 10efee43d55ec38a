// jobnik-loadgen: the end-to-end load generator of `make bench` (bench/run.sh).
//
//   submit        one atomic POST /v1/jobs per job (stages and tasks inline), timed
//   work          W worker threads claim (dequeue) and complete tasks until N are done,
//                 then verify every stage's summary through the API; with --batch B each
//                 thread claims up to B tasks per request (POST /v1/tasks/claim) and
//                 reports them in one request (POST /v1/tasks/status)
//   seed-history  bulk-load finished and pending tasks straight into jobnikd's schema
//                 (bench/seed-history.sql through psql: the API is far too slow for 2M rows)
//   longpoll      W workers wait in long-poll dequeues (wait_seconds); tasks are submitted one
//                 at a time; the latency from a submission's answer to its claim's answer
//   ready         wait until jobnikd answers GET /readiness with 200
//
// Every mode prints one JSON object on stdout (progress and errors go to stderr) and
// exits 0 only when everything it did succeeded; 1 on a failed request, a lost or
// double task, a failed verification or a timeout; CLI11's codes on a usage error.
//
// One jobnik::client::Client is one keep-alive connection: every thread has its own.
#include <CLI/CLI.hpp>

#include <fmt/format.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <latch>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/worker.h"
#include "domain/model.h"
#include "stats.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using jobnik::client::Client;
using jobnik::client::ClientOptions;
// Ordered: the printed objects keep the order written here.
using json = nlohmann::ordered_json;
using jobnik::bench::Round;

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

ClientOptions Options(const std::string& url, int read_timeout_s) {
  ClientOptions o;
  o.base_url = url;
  o.read_timeout_ms = read_timeout_s * 1000;
  return o;
}

// "T" or, with K types, "T-0" ... "T-(K-1)".
std::vector<std::string> TypeNames(const std::string& type, int types) {
  if (types <= 0) return {type};
  std::vector<std::string> out;
  for (int i = 0; i < types; ++i) out.push_back(fmt::format("{}-{}", type, i));
  return out;
}

std::string Snippet(const std::string& s) {
  return s.size() <= 300 ? s : s.substr(0, 300) + "...";
}

// CPU time (user + system) of this process so far.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

void Print(const json& j) {
  std::cout << j.dump(2) << std::endl;
}

// ------------------------------------------------------------------ submit

struct SubmitArgs {
  std::string url;
  long long tasks = 0;
  int stages = 1;
  std::string type = "bench";
  int types = 0;  // 0: one job of type `type`; K: K jobs, job k of type "type-k"
  int jobs = 1;   // jobs of each type (the tasks split evenly)
  int timeout_s = 600;
  bool idempotent = false;  // each submission with an Idempotency-Key of its own
};

int RunSubmit(const SubmitArgs& a) {
  const auto type_names = TypeNames(a.type, a.types);
  const long long jobs = static_cast<long long>(type_names.size()) * a.jobs;
  const long long per_stage = a.tasks / (jobs * a.stages);
  if (per_stage < 1 || per_stage * jobs * a.stages != a.tasks) {
    std::cerr << fmt::format("submit: --tasks {} must be a positive multiple of jobs ({}) x stages ({})\n", a.tasks,
                             jobs, a.stages);
    return 2;
  }
  // Build every body first: the client's JSON building is not what is measured.
  std::vector<std::string> bodies;
  std::size_t body_bytes = 0;
  long long i = 0;
  for (long long k = 0; k < jobs; ++k) {
    const std::string& type = type_names[static_cast<std::size_t>(k) % type_names.size()];
    jobnik::domain::NewJob job;
    job.name = a.jobs > 1 ? fmt::format("bench-{}-{}", type, k / static_cast<long long>(type_names.size()))
                          : fmt::format("bench-{}", type);
    job.data = R"({"bench":true})";
    job.stages.emplace();
    for (int s = 0; s < a.stages; ++s) {
      jobnik::domain::NewStage stage;
      stage.type = type;
      stage.data = fmt::format(R"({{"stage":{}}})", s);
      stage.tasks.reserve(static_cast<std::size_t>(per_stage));
      for (long long t = 0; t < per_stage; ++t) {
        jobnik::domain::NewTask task;
        task.data = fmt::format(R"({{"i":{}}})", i++);
        stage.tasks.push_back(std::move(task));
      }
      job.stages->push_back(std::move(stage));
    }
    bodies.push_back(jobnik::client::NewJobJson(job));
    body_bytes += bodies.back().size();
  }

  Client client(Options(a.url, a.timeout_s));
  json job_ids = json::array();
  std::vector<float> request_us;
  const auto start = Clock::now();
  for (const auto& body : bodies) {
    const auto t0 = Clock::now();
    auto raw = a.idempotent ? client.RequestIdempotent("POST", "/v1/jobs", body, {"", 1, std::chrono::milliseconds(0)})
                            : client.Request("POST", "/v1/jobs", body);
    request_us.push_back(static_cast<float>(std::chrono::duration<double, std::micro>(Clock::now() - t0).count()));
    if (!raw.ok() || raw->status != 201) {
      const std::string why =
          raw.ok() ? fmt::format("HTTP {}: {}", raw->status, Snippet(raw->body)) : raw.status().message();
      std::cerr << "submit: POST /v1/jobs failed: " << why << "\n";
      Print({{"mode", "submit"}, {"ok", false}, {"error", why}});
      return 1;
    }
    auto j = json::parse(raw->body, nullptr, false);
    if (j.is_object() && j.contains("id")) job_ids.push_back(j["id"]);
  }
  const double wall = Seconds(Clock::now() - start);
  Print({{"mode", "submit"},
         {"ok", true},
         {"idempotent", a.idempotent},
         {"jobs", jobs},
         {"stages_per_job", a.stages},
         {"tasks", a.tasks},
         {"body_bytes", body_bytes},
         {"wall_s", Round(wall, 4)},
         {"tasks_per_s", Round(static_cast<double>(a.tasks) / wall, 1)},
         {"request_ms", jobnik::bench::Percentiles<json>(request_us)},
         {"job_ids", job_ids}});
  return 0;
}

// ------------------------------------------------------------------ work

struct WorkArgs {
  std::string url;
  std::string type = "bench";
  int types = 0;
  int workers = 1;
  long long expect = 0;
  int timeout_s = 120;
  long long max_errors = 0;
  bool verify = true;
  int batch = 0;         // > 0: batch claims and reports of up to this many tasks
  bool combine = false;  // the slots share claims and reports (WorkerOptions::combine_requests)
};

struct Shared {
  long long expect = 0;
  std::atomic<long long> completed{0};
  std::atomic<long long> errors{0};
  std::atomic<bool> stop{false};
  explicit Shared(int workers) : ready(workers) {}
  std::latch ready;  // every worker connected
  std::latch go{1};  // the clock started
  Clock::time_point start;
  std::atomic<Clock::rep> end{0};  // steady_clock ticks when `completed` reached `expect`
  bool timed_out = false;
  double cpu = 0;                            // the workers' CPU seconds
  jobnik::client::Worker* worker = nullptr;  // once started
  std::mutex mu;
  std::vector<std::string> error_samples;
};

struct WorkerStats {
  std::vector<float> dequeue_us;   // 200 claims
  std::vector<float> miss_us;      // 404 TASK_NOT_FOUND
  std::vector<float> complete_us;  // 200 reports
  std::vector<std::string> ids;    // claimed task ids
  float connect_us = 0;            // the warm-up request (TCP connect included)
  long long claimed = 0;
  long long completed = 0;
  long long misses = 0;
  long long conflicts = 0;  // 409s (dequeue or report)
  long long errors = 0;
};

// No more claims (every slot stops at its next claim).
void Stop(Shared& sh) {
  sh.stop = true;
  if (sh.worker != nullptr) sh.worker->RequestStop();
}

void RecordError(Shared& sh, WorkerStats& st, long long max_errors, const std::string& what) {
  ++st.errors;
  const long long n = ++sh.errors;
  {
    std::lock_guard lock(sh.mu);
    if (sh.error_samples.size() < 10) sh.error_samples.push_back(what);
  }
  if (n == 1) std::cerr << "work: " << what << "\n";
  if (n > max_errors) Stop(sh);
}

void WaitUntilDone(const WorkArgs& a, Shared& sh);

// The worker loop of lib/client with W slots, tuned to the benchmark: a slot starts on
// its home type and moves on when it is empty; after a full round of misses it pauses
// 2 ms (no jitter: tasks may still be in flight, or a next stage starting); a claim that
// returns work never waits; reports are not retried (a failure must show).
void Work(const WorkArgs& a, const std::vector<std::string>& types, Shared& sh, std::vector<WorkerStats>& stats) {
  using jobnik::client::Next;
  using Duration = jobnik::client::Clock::Duration;
  auto micros = [](Duration d) { return static_cast<float>(std::chrono::duration<double, std::micro>(d).count()); };
  jobnik::client::WorkerOptions options;
  options.stage_types = types;
  options.slots = a.workers;
  options.backoff = {std::chrono::milliseconds(2), 1.0, std::chrono::milliseconds(2), jobnik::client::Jitter::kNone};
  options.report_attempts = 1;
  options.combine_requests = a.combine;

  jobnik::client::WorkerHooks hooks;
  // Open the connection before the clock starts (workers are long-lived): connection
  // set-up is recorded on its own, as connect_ms.
  hooks.on_slot_started = [&](int slot, Client& client) {
    WorkerStats& st = stats[static_cast<std::size_t>(slot)];
    const auto reserve = static_cast<std::size_t>(a.expect / a.workers + a.expect / 10 + 16);
    st.dequeue_us.reserve(reserve);
    st.complete_us.reserve(reserve);
    st.ids.reserve(reserve);
    const auto t0 = Clock::now();
    auto r = client.Request("GET", "/liveness");
    st.connect_us = static_cast<float>(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (!r.ok() || r->status != 200) {
      RecordError(sh, st, a.max_errors,
                  "GET /liveness: " + (r.ok() ? fmt::format("HTTP {}", r->status) : r.status().message()));
    }
    sh.ready.count_down();
    sh.go.wait();
  };
  hooks.on_claim_error = [&](int slot, const std::string& type, const jobnik::domain::Status& s) {
    WorkerStats& st = stats[static_cast<std::size_t>(slot)];
    if (s.code() == jobnik::domain::ErrorCode::kTaskStatusUpdateFailed) ++st.conflicts;
    RecordError(sh, st, a.max_errors, "dequeue " + type + ": " + s.message());
    return Next::kContinue;
  };
  hooks.on_empty = [&](int slot, const std::string&, Duration latency) {
    WorkerStats& st = stats[static_cast<std::size_t>(slot)];
    ++st.misses;
    st.miss_us.push_back(micros(latency));
  };
  hooks.on_claimed = [&](int slot, const jobnik::domain::Task& task, Duration latency) {
    WorkerStats& st = stats[static_cast<std::size_t>(slot)];
    st.dequeue_us.push_back(micros(latency));
    ++st.claimed;
    st.ids.push_back(task.id);
    return Next::kContinue;
  };
  hooks.on_reported = [&](int slot, const jobnik::domain::Task& task, jobnik::domain::TaskStatus,
                          const jobnik::domain::Result<jobnik::domain::Task>& r, Duration latency) {
    WorkerStats& st = stats[static_cast<std::size_t>(slot)];
    if (!r.ok()) {
      if (r.status().code() == jobnik::domain::ErrorCode::kTaskStatusUpdateFailed) ++st.conflicts;
      RecordError(sh, st, a.max_errors, "complete " + task.id + ": " + r.status().message());
      return Next::kContinue;
    }
    st.complete_us.push_back(micros(latency));
    ++st.completed;
    if (sh.completed.fetch_add(1) + 1 == sh.expect) {
      sh.end.store(Clock::now().time_since_epoch().count());
      Stop(sh);
    }
    return Next::kContinue;
  };
  // Every task is completed, or too many errors: no more claims.
  hooks.on_queue_empty = [&](int, int) { return sh.stop.load() ? Next::kStopSlot : Next::kContinue; };

  jobnik::client::Worker worker(
      options, jobnik::client::Worker::ClientsFor(Options(a.url, 60)),
      [](jobnik::client::TaskContext&) { return jobnik::domain::TaskStatus::kCompleted; }, hooks);
  sh.worker = &worker;
  worker.Start();
  sh.ready.wait();
  const double cpu_start = CpuSeconds();
  sh.start = Clock::now();
  sh.go.count_down();

  WaitUntilDone(a, sh);
  worker.Stop();
  sh.cpu = CpuSeconds() - cpu_start;
}

// Waits for the workers to complete every task, the deadline, or a fatal error.
void WaitUntilDone(const WorkArgs& a, Shared& sh) {
  const auto deadline = sh.start + std::chrono::seconds(a.timeout_s);
  auto last_report = sh.start;
  while (sh.completed.load() < a.expect && !sh.stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const auto now = Clock::now();
    if (now >= deadline) {
      sh.timed_out = true;
      Stop(sh);
      std::cerr << fmt::format("work: timed out after {} s with {} of {} tasks completed\n", a.timeout_s,
                               sh.completed.load(), a.expect);
      break;
    }
    if (now - last_report >= std::chrono::seconds(10)) {
      last_report = now;
      std::cerr << fmt::format("work: {} of {} completed after {:.0f} s\n", sh.completed.load(), a.expect,
                               Seconds(now - sh.start));
    }
  }
}

// Batch mode: each of W threads claims up to a.batch tasks of all the types in one
// request and completes them (under their claims) in one request, until all are done.
// After an empty claim a thread pauses 2 ms, as the worker loop does.
void WorkBatch(const WorkArgs& a, const std::vector<std::string>& types, Shared& sh, std::vector<WorkerStats>& stats) {
  auto micros = [](Clock::duration d) {
    return static_cast<float>(std::chrono::duration<double, std::micro>(d).count());
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < a.workers; ++w) {
    threads.emplace_back([&, w] {
      WorkerStats& st = stats[static_cast<std::size_t>(w)];
      Client client(Options(a.url, 60));
      const auto reserve = static_cast<std::size_t>(a.expect / a.workers + a.expect / 10 + 16);
      st.ids.reserve(reserve);
      const auto c0 = Clock::now();
      auto r = client.Request("GET", "/liveness");
      st.connect_us = micros(Clock::now() - c0);
      if (!r.ok() || r->status != 200) {
        RecordError(sh, st, a.max_errors,
                    "GET /liveness: " + (r.ok() ? fmt::format("HTTP {}", r->status) : r.status().message()));
      }
      sh.ready.count_down();
      sh.go.wait();
      Client::ClaimTasksRequest request;
      request.stage_types = types;
      request.limit = a.batch;
      std::vector<Client::TaskUpdate> updates;
      while (!sh.stop.load()) {
        const auto t0 = Clock::now();
        auto claimed = client.ClaimTasks(request);
        const auto t1 = Clock::now();
        if (!claimed.ok()) {
          RecordError(sh, st, a.max_errors, "claim: " + claimed.status().message());
          continue;
        }
        if (claimed->empty()) {
          ++st.misses;
          st.miss_us.push_back(micros(t1 - t0));
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          continue;
        }
        st.dequeue_us.push_back(micros(t1 - t0));
        st.claimed += static_cast<long long>(claimed->size());
        updates.clear();
        for (auto& c : *claimed) {
          st.ids.push_back(c.task.id);
          Client::ReportOptions options;
          options.claim_id = c.claim_id;
          updates.push_back({c.task.id, jobnik::domain::TaskStatus::kCompleted, std::move(options)});
        }
        const auto t2 = Clock::now();
        auto results = client.ReportTasks(updates);
        const auto t3 = Clock::now();
        if (!results.ok()) {
          RecordError(sh, st, a.max_errors, "report: " + results.status().message());
          continue;
        }
        st.complete_us.push_back(micros(t3 - t2));
        long long done = 0;
        for (std::size_t i = 0; i < results->size(); ++i) {
          if ((*results)[i].ok()) {
            ++done;
          } else {
            if ((*results)[i].code() == jobnik::domain::ErrorCode::kTaskStatusUpdateFailed) ++st.conflicts;
            RecordError(sh, st, a.max_errors, "complete " + updates[i].task_id + ": " + (*results)[i].message());
          }
        }
        st.completed += done;
        const long long before = sh.completed.fetch_add(done);
        if (before < sh.expect && before + done >= sh.expect) {
          sh.end.store(Clock::now().time_since_epoch().count());
          Stop(sh);
        }
      }
    });
  }
  sh.ready.wait();
  const double cpu_start = CpuSeconds();
  sh.start = Clock::now();
  sh.go.count_down();
  WaitUntilDone(a, sh);
  Stop(sh);
  for (auto& t : threads) t.join();
  sh.cpu = CpuSeconds() - cpu_start;
}

// Checks through the API that every stage of the types is fully completed and that the
// totals add up; returns the verification report.
json Verify(const WorkArgs& a, const std::vector<std::string>& types, long long duplicates, bool& ok) {
  Client client(Options(a.url, 60));
  json problems = json::array();
  long long total = 0, completed = 0, stages = 0, seeded = 0;
  std::set<std::string> job_ids;
  // Jobs bench/run.sh seeded by SQL (named "seed-..."; scenario e's waiting tasks are of the
  // benchmark's own type) are not the benchmark's work: their stages are skipped.
  std::map<std::string, bool> is_seed;
  auto seeded_job = [&client, &is_seed](const std::string& id) {
    auto it = is_seed.find(id);
    if (it != is_seed.end()) return it->second;
    auto raw = client.Request("GET", "/v1/jobs/" + id);
    auto j = raw.ok() && raw->status == 200 ? json::parse(raw->body, nullptr, false) : json();
    const bool seed = j.is_object() && j.value("name", "").rfind("seed-", 0) == 0;
    is_seed.emplace(id, seed);
    return seed;
  };
  auto problem = [&problems, &ok](std::string p) {
    ok = false;
    if (problems.size() < 20) problems.push_back(std::move(p));
  };
  for (const auto& type : types) {
    auto raw = client.Request("GET", "/v1/stages?stage_type=" + type);
    if (!raw.ok() || raw->status != 200) {
      problem(fmt::format("GET /v1/stages?stage_type={}: {}", type,
                          raw.ok() ? fmt::format("HTTP {}", raw->status) : raw.status().message()));
      continue;
    }
    auto list = json::parse(raw->body, nullptr, false);
    if (!list.is_array()) {
      problem("GET /v1/stages: not an array");
      continue;
    }
    for (const auto& s : list) {
      const std::string id = s.value("id", "");
      if (seeded_job(s.value("jobId", ""))) {
        ++seeded;
        continue;
      }
      job_ids.insert(s.value("jobId", ""));
      ++stages;
      auto sum = client.Request("GET", "/v1/stages/" + id + "/summary");
      if (!sum.ok() || sum->status != 200) {
        problem(fmt::format("GET /v1/stages/{}/summary: {}", id,
                            sum.ok() ? fmt::format("HTTP {}", sum->status) : sum.status().message()));
        continue;
      }
      auto j = json::parse(sum->body, nullptr, false);
      const long long t = j.value("total", -1LL), c = j.value("completed", -1LL);
      total += t;
      completed += c;
      if (t != c) problem(fmt::format("stage {} ({}): completed {} of {}: {}", id, type, c, t, sum->body));
    }
  }
  for (const auto& id : job_ids) {
    auto raw = client.Request("GET", "/v1/jobs/" + id);
    if (!raw.ok() || raw->status != 200) {
      problem(fmt::format("GET /v1/jobs/{}: {}", id,
                          raw.ok() ? fmt::format("HTTP {}", raw->status) : raw.status().message()));
      continue;
    }
    auto j = json::parse(raw->body, nullptr, false);
    const std::string status = j.is_object() ? j.value("status", "") : "";
    if (status != "COMPLETED") problem(fmt::format("job {} is {}, not COMPLETED", id, status));
  }
  if (total != a.expect) problem(fmt::format("the stages hold {} tasks, expected {}", total, a.expect));
  if (completed != a.expect) problem(fmt::format("the summaries count {} completed, expected {}", completed, a.expect));
  if (duplicates != 0) problem(fmt::format("{} task(s) were handed out more than once", duplicates));
  return {{"ok", ok},       {"stages", stages},       {"seeded_stages_skipped", seeded}, {"jobs", job_ids.size()},
          {"total", total}, {"completed", completed}, {"duplicates", duplicates},        {"problems", problems}};
}

int RunWork(const WorkArgs& a) {
  const auto types = TypeNames(a.type, a.types);
  Shared sh(a.workers);
  sh.expect = a.expect;
  std::vector<WorkerStats> stats(static_cast<std::size_t>(a.workers));
  if (a.batch > 0) {
    WorkBatch(a, types, sh, stats);
  } else {
    Work(a, types, sh, stats);
  }
  const bool timed_out = sh.timed_out;
  const double cpu = sh.cpu;
  const auto end_ticks = sh.end.load();
  const auto end = end_ticks != 0 ? Clock::time_point(Clock::duration(end_ticks)) : Clock::now();
  const double wall = Seconds(end - sh.start);

  WorkerStats all;
  std::vector<std::string> ids;
  std::vector<float> connect_us;
  for (auto& s : stats) {
    connect_us.push_back(s.connect_us);
    all.dequeue_us.insert(all.dequeue_us.end(), s.dequeue_us.begin(), s.dequeue_us.end());
    all.miss_us.insert(all.miss_us.end(), s.miss_us.begin(), s.miss_us.end());
    all.complete_us.insert(all.complete_us.end(), s.complete_us.begin(), s.complete_us.end());
    ids.insert(ids.end(), std::make_move_iterator(s.ids.begin()), std::make_move_iterator(s.ids.end()));
    all.claimed += s.claimed;
    all.completed += s.completed;
    all.misses += s.misses;
    all.conflicts += s.conflicts;
    all.errors += s.errors;
  }
  std::sort(ids.begin(), ids.end());
  const auto unique = static_cast<long long>(std::unique(ids.begin(), ids.end()) - ids.begin());
  const long long duplicates = static_cast<long long>(ids.size()) - unique;

  bool ok = all.errors == 0 && !timed_out && all.completed == a.expect;
  json verify = nullptr;
  if (a.verify)
    verify = Verify(a, types, duplicates, ok);
  else if (duplicates != 0)
    ok = false;

  json out = {{"mode", "work"},
              {"ok", ok},
              {"type", a.type},
              {"types", types.size()},
              {"workers", a.workers},
              {"batch", a.batch},
              {"expected", a.expect},
              {"claimed", all.claimed},
              {"completed", all.completed},
              {"wall_s", Round(wall, 4)},
              {"tasks_per_s", wall > 0 ? Round(static_cast<double>(all.completed) / wall, 1) : 0.0},
              {"dequeue_ms", jobnik::bench::Percentiles<json>(all.dequeue_us)},
              {"complete_ms", jobnik::bench::Percentiles<json>(all.complete_us)},
              {"dequeue_miss_ms", jobnik::bench::Percentiles<json>(all.miss_us)},
              {"connect_ms", jobnik::bench::Percentiles<json>(connect_us)},
              {"loadgen_cpu_s", Round(cpu, 3)},
              {"dequeue_misses", all.misses},
              {"conflicts_409", all.conflicts},
              {"errors", all.errors},
              {"error_samples", sh.error_samples},
              {"timed_out", timed_out},
              {"verify", verify}};
  Print(out);
  if (!ok) {
    std::cerr << fmt::format("work: FAILED: {} of {} completed, {} error(s), {} 409(s){}{}\n", all.completed, a.expect,
                             all.errors, all.conflicts, timed_out ? ", timed out" : "",
                             verify.is_object() && !verify["ok"].get<bool>() ? ", verification failed" : "");
    if (verify.is_object()) {
      for (const auto& p : verify["problems"]) std::cerr << "  " << p.get<std::string>() << "\n";
    }
  }
  return ok ? 0 : 1;
}

// ------------------------------------------------------------------ seed-history

struct SeedArgs {
  std::string database_url;
  std::string schema = "jobnik";
  long long completed = 1000000;
  long long pending = 1000000;
  long long tasks_per_stage = 1000;
  int history_types = 16;
  int pending_types = 16;
  std::string sql = std::string(JOBNIK_BENCH_DIR) + "/seed-history.sql";
  std::string psql = "psql";
};

int RunSeed(const SeedArgs& a) {
  std::vector<std::string> args = {a.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", a.database_url};
  auto var = [&args](const std::string& name, const std::string& value) {
    args.push_back("-v");
    args.push_back(name + "=" + value);
  };
  var("schema", a.schema);
  var("completed", std::to_string(a.completed));
  var("pending", std::to_string(a.pending));
  var("per_stage", std::to_string(a.tasks_per_stage));
  var("history_types", std::to_string(a.history_types));
  var("pending_types", std::to_string(a.pending_types));
  args.push_back("-f");
  args.push_back(a.sql);
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  // psql's notices go to stderr; its stdout (query results, none expected) too.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);
  const auto start = Clock::now();
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, a.psql.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    std::cerr << "seed-history: cannot run " << a.psql << ": " << std::strerror(rc) << "\n";
    return 1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      std::cerr << "seed-history: waitpid: " << std::strerror(errno) << "\n";
      return 1;
    }
  }
  const double wall = Seconds(Clock::now() - start);
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  const long long rows = a.completed + a.pending;
  Print({{"mode", "seed-history"},
         {"ok", ok},
         {"completed_tasks", a.completed},
         {"pending_tasks", a.pending},
         {"tasks_per_stage", a.tasks_per_stage},
         {"wall_s", Round(wall, 3)},
         {"tasks_per_s", wall > 0 ? Round(static_cast<double>(rows) / wall, 1) : 0.0}});
  if (!ok) std::cerr << "seed-history: psql failed (status " << status << ")\n";
  return ok ? 0 : 1;
}

// ------------------------------------------------------------------ longpoll

struct LongPollArgs {
  std::string url;         // the waiters' jobnikd
  std::string submit_url;  // where tasks are submitted (empty: url)
  std::string type = "bench-lp";
  int workers = 64;
  int tasks = 200;
  int wait_s = 30;  // each dequeue's wait_seconds
  int hold_s = 0;   // with --tasks 0: keep the workers waiting this long (to measure an idle jobnikd)
  int timeout_s = 120;
};

// The value of an unlabelled series in /metrics; -1 when absent.
double MetricValue(Client& client, const std::string& name) {
  auto r = client.Request("GET", "/metrics");
  if (!r.ok() || r->status != 200) return -1;
  const std::string key = "\n" + name + " ";
  const auto at = r->body.find(key);
  if (at == std::string::npos) return -1;
  return std::strtod(r->body.c_str() + at + key.size(), nullptr);
}

// Polls until the jobnikd at `client` has `n` claims waiting, or `timeout` passes.
bool WaitForWaiters(Client& client, int n, Clock::duration timeout) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (MetricValue(client, "jobnik_claim_waiting_requests") == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

int RunLongPoll(const LongPollArgs& a) {
  const std::string submit_url = a.submit_url.empty() ? a.url : a.submit_url;
  std::mutex mu;
  std::map<long long, Clock::time_point> claimed_at;  // task "i" -> when its claim returned
  std::atomic<bool> stop{false};
  std::atomic<long long> errors{0}, claims{0}, timeouts{0};
  std::vector<std::thread> workers;
  const std::string path = fmt::format("/v1/stages/{}/tasks/dequeue?wait_seconds={}", a.type, a.wait_s);
  workers.reserve(static_cast<std::size_t>(a.workers));
  for (int w = 0; w < a.workers; ++w) {
    workers.emplace_back([&] {
      Client client(Options(a.url, a.wait_s + 30));
      while (!stop) {
        auto r = client.Request("PATCH", path);
        const auto now = Clock::now();
        if (!r.ok() || (r->status != 200 && r->status != 404)) {
          if (!stop && errors.fetch_add(1) == 0) {
            std::cerr << "longpoll: dequeue: " << (r.ok() ? Snippet(r->body) : r.status().message()) << "\n";
          }
          if (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
          continue;
        }
        if (r->status == 404) {
          ++timeouts;
          continue;
        }
        ++claims;
        auto task = json::parse(r->body, nullptr, false);
        const long long i = task.is_object() ? task["data"].value("i", -1LL) : -1;
        {
          const std::lock_guard lock(mu);
          claimed_at[i] = now;
        }
        const std::string id = task.is_object() ? task.value("id", "") : "";
        auto done = client.Request("PUT", "/v1/tasks/" + id + "/status", R"({"status":"COMPLETED"})");
        if (!done.ok() || done->status != 200) ++errors;
      }
    });
  }
  Client watch(Options(a.url, 10));
  Client submitter(Options(submit_url, a.timeout_s));
  const auto give_up = Clock::now() + std::chrono::seconds(a.timeout_s);
  auto finish = [&](bool ok, const std::string& why, json extra) {
    stop = true;
    // The waiters return at their wait_seconds at the latest; a SIGTERM of jobnikd sooner.
    for (auto& t : workers) t.join();
    json out = {{"mode", "longpoll"}, {"ok", ok}, {"workers", a.workers}, {"wait_s", a.wait_s}};
    if (!why.empty()) out["error"] = why;
    for (auto& [k, v] : extra.items()) out[k] = v;
    out["claims"] = claims.load();
    out["empty_answers"] = timeouts.load();
    out["errors"] = errors.load();
    Print(out);
    return ok ? 0 : 1;
  };
  if (!WaitForWaiters(watch, a.workers, std::chrono::seconds(30))) {
    return finish(false, "the workers never all waited (is this jobnikd long-poll capable?)", json::object());
  }
  if (a.tasks == 0) {
    std::this_thread::sleep_for(std::chrono::seconds(a.hold_s));
    return finish(true, "", {{"held_s", a.hold_s}});
  }
  std::vector<float> latency_us;
  long long early = 0;  // claims that returned before their submission did
  for (long long i = 0; i < a.tasks; ++i) {
    const std::string body = fmt::format(
        R"({{"name":"lp-{}","data":{{}},"stages":[{{"type":"{}","data":{{}},"tasks":[{{"data":{{"i":{}}}}}]}}]}})", i,
        a.type, i);
    auto r = submitter.Request("POST", "/v1/jobs", body);
    const auto submitted = Clock::now();
    if (!r.ok() || r->status != 201) {
      return finish(false, "POST /v1/jobs: " + (r.ok() ? Snippet(r->body) : r.status().message()), json::object());
    }
    // Wait for its claim, then for every worker to wait again, so each task meets W idle waiters.
    std::optional<Clock::time_point> at;
    while (!at && Clock::now() < give_up) {
      {
        const std::lock_guard lock(mu);
        if (auto it = claimed_at.find(i); it != claimed_at.end()) at = it->second;
      }
      if (!at) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (!at) return finish(false, fmt::format("task {} was never claimed", i), json::object());
    if (*at < submitted) ++early;
    latency_us.push_back(
        static_cast<float>(std::max(0.0, std::chrono::duration<double, std::micro>(*at - submitted).count())));
    if (!WaitForWaiters(watch, a.workers, give_up - Clock::now())) {
      return finish(false, "the workers did not all wait again", json::object());
    }
  }
  return finish(true, "",
                {{"tasks", a.tasks},
                 {"across_instances", submit_url != a.url},
                 {"claimed_before_submit_returned", early},
                 {"submit_to_claim_ms", jobnik::bench::Percentiles<json>(latency_us)}});
}

// ------------------------------------------------------------------ ready

int RunReady(const std::string& url, int timeout_s) {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  std::string last = "no answer";
  for (;;) {
    {
      ClientOptions o = Options(url, 5);
      o.connect_timeout_ms = 500;
      Client client(o);
      auto raw = client.Request("GET", "/readiness");
      if (raw.ok() && raw->status == 200) return 0;
      last = raw.ok() ? fmt::format("HTTP {}: {}", raw->status, Snippet(raw->body)) : raw.status().message();
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cerr << fmt::format("ready: {} not ready after {} s ({})\n", url, timeout_s, last);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jobnik-loadgen: end-to-end load generator for jobnikd (see bench/README.md)", "jobnik-loadgen"};
  app.require_subcommand(1);

  SubmitArgs submit;
  auto* sub = app.add_subcommand("submit", "submit tasks through atomic job submissions (POST /v1/jobs), timed");
  sub->add_option("--url", submit.url, "jobnikd base URL, e.g. http://127.0.0.1:8080")->required();
  sub->add_option("--tasks", submit.tasks, "tasks in total")->required()->check(CLI::PositiveNumber);
  sub->add_option("--stages", submit.stages, "stages per job (the tasks are split evenly)")->check(CLI::PositiveNumber);
  sub->add_option("--type", submit.type, "stage type")->capture_default_str();
  sub->add_option("--types", submit.types, "K > 0: K jobs, job k's stages of type TYPE-k")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--jobs", submit.jobs, "J jobs of each type, the tasks split evenly")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--timeout-s", submit.timeout_s, "read timeout of a submission")->capture_default_str();
  sub->add_flag("--idempotent", submit.idempotent, "send each submission with an Idempotency-Key of its own");

  WorkArgs work;
  auto* wrk = app.add_subcommand("work", "claim and complete tasks with W threads until N are done, then verify");
  wrk->add_option("--url", work.url, "jobnikd base URL")->required();
  wrk->add_option("--type", work.type, "stage type")->capture_default_str();
  wrk->add_option("--types", work.types,
                  "K > 0: types TYPE-0..TYPE-(K-1); thread i starts on TYPE-(i%K) and moves on when it is empty")
      ->check(CLI::NonNegativeNumber);
  wrk->add_option("--workers", work.workers, "worker threads (one connection each)")->check(CLI::PositiveNumber);
  wrk->add_option("--expect", work.expect, "tasks to complete")->required()->check(CLI::PositiveNumber);
  wrk->add_option("--timeout-s", work.timeout_s, "give up after this many seconds")->capture_default_str();
  wrk->add_option("--max-errors", work.max_errors, "stop after more failed requests than this")->capture_default_str();
  wrk->add_option("--batch", work.batch,
                  "B > 0: claim up to B tasks of all the types per request and report them in one (batch routes)")
      ->check(CLI::Range(0, 1000));
  wrk->add_flag("--combine", work.combine,
                "the slots share their claims and reports, as jobnik-worker's do (WorkerOptions::combine_requests)");
  bool no_verify = false;
  wrk->add_flag("--no-verify", no_verify, "skip the verification of the stage summaries");

  SeedArgs seed;
  auto* sd = app.add_subcommand("seed-history",
                                "bulk-load COMPLETED history and PENDING tasks of other stage types (psql + SQL file)");
  sd->add_option("--database-url", seed.database_url, "libpq URL of jobnikd's database")->required();
  sd->add_option("--schema", seed.schema, "jobnikd's schema (already migrated)")->capture_default_str();
  sd->add_option("--completed", seed.completed, "COMPLETED tasks (types history-*)")->capture_default_str();
  sd->add_option("--pending", seed.pending, "PENDING tasks (types other-*)")->capture_default_str();
  sd->add_option("--tasks-per-stage", seed.tasks_per_stage, "tasks per seeded stage (one stage per job)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sd->add_option("--history-types", seed.history_types, "stage types of the history")->capture_default_str();
  sd->add_option("--pending-types", seed.pending_types, "stage types of the pending tasks")->capture_default_str();
  sd->add_option("--sql", seed.sql, "the seeding SQL")->capture_default_str();
  sd->add_option("--psql", seed.psql, "psql binary")->capture_default_str();

  LongPollArgs lp;
  auto* lpc = app.add_subcommand("longpoll",
                                 "W workers wait in long-poll dequeues; tasks submitted one at a time; submit -> claim "
                                 "latency");
  lpc->add_option("--url", lp.url, "the waiters' jobnikd")->required();
  lpc->add_option("--submit-url", lp.submit_url, "submit through this jobnikd (default: --url)");
  lpc->add_option("--type", lp.type, "stage type")->capture_default_str();
  lpc->add_option("--workers", lp.workers, "waiting workers (one connection each)")->capture_default_str();
  lpc->add_option("--tasks", lp.tasks, "tasks, submitted one at a time (0: only hold the waiters, --hold-s)")
      ->capture_default_str();
  lpc->add_option("--wait-s", lp.wait_s, "each dequeue's wait_seconds")->capture_default_str();
  lpc->add_option("--hold-s", lp.hold_s, "with --tasks 0: seconds to keep the workers waiting")->capture_default_str();
  lpc->add_option("--timeout-s", lp.timeout_s, "give up after this many seconds")->capture_default_str();

  std::string ready_url;
  int ready_timeout = 30;
  auto* rdy = app.add_subcommand("ready", "wait until GET /readiness answers 200");
  rdy->add_option("--url", ready_url, "jobnikd base URL")->required();
  rdy->add_option("--timeout-s", ready_timeout, "give up after this many seconds")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*sub) return RunSubmit(submit);
  if (*wrk) {
    work.verify = !no_verify;
    return RunWork(work);
  }
  if (*sd) return RunSeed(seed);
  if (*lpc) return RunLongPoll(lp);
  return RunReady(ready_url, ready_timeout);
}
