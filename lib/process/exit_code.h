// The exit codes of every Jobnik program (jobnikd, jobnikctl, jobnik-worker), one table.
// Documented to users in the EXIT STATUS sections of jobnikd(8), jobnikctl(1) and
// jobnik-worker(1); a service manager reads them too (jobnikd.service does not restart
// after kUsage).
#pragma once

namespace jobnik::process {

enum class ExitCode : int {
  // Success, including --help, --version and --print-config. jobnikctl ping: jobnikd is ready.
  kOk = 0,
  // A runtime failure. jobnikd: the database cannot be reached or the embedded one cannot
  // start, a migration failed, the address cannot be bound, the embedded database was lost,
  // requests outlived shutdown_timeout. jobnikctl ping: jobnikd answered but is not ready.
  kFailure = 1,
  // A usage or configuration error: bad command line, unknown key, value out of range, a
  // configuration file that cannot be read. Restarting will not help.
  kUsage = 2,
  // jobnikctl: jobnikd cannot be reached at all (nothing listens, the connection failed),
  // or answers 503 (draining, its database unreachable).
  kUnavailable = 3,
  // jobnikctl: the job, stage or task does not exist (or `task claim` found nothing).
  kNotFound = 4,
  // jobnikctl wait/watch/submit --wait: a job ended FAILED.
  kJobFailed = 5,
  // jobnikctl wait/watch/submit --wait: a job ended ABORTED (and none FAILED).
  kJobAborted = 6,
  // jobnikctl: --timeout passed before the jobs reached a final state.
  kTimeout = 7,
};

constexpr int ToInt(ExitCode code) {
  return static_cast<int>(code);
}

}  // namespace jobnik::process
