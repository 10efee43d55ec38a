// Spawning a child process: a new process (clone with CLONE_VFORK, then exec) running an argv (no shell), in a session
// (and process group) of its own, stdin from /dev/null (or a descriptor), stdout/stderr captured through pipes (the
// last `tail_bytes` of each kept) or appended to a file, optional environment, working directory, privilege drop and
// parent-death signal; waiting with a timeout and killing the whole group (SIGTERM, then SIGKILL after a grace period).
//
// Used by the embedded PostgreSQL of jobnikd and by jobnik-worker for task commands.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/error.h"

namespace jobnik::process {

// on_line's longest piece: a longer line is passed on in pieces of this size.
inline constexpr std::size_t kMaxLineBytes = std::size_t{64} * 1024;

struct SpawnOptions {
  // argv[0] is the program: a path, or a name looked up in $PATH. Not run by a shell.
  std::vector<std::string> argv;
  // The child's whole environment; nullopt: this process's environment.
  std::optional<std::map<std::string, std::string>> env;
  std::string cwd;  // empty: this process's working directory
  // A descriptor the child reads as its stdin (the caller keeps it and closes it); -1:
  // /dev/null.
  int stdin_fd = -1;
  // Where stdout and stderr go: captured through pipes (the default), or appended to this
  // file (created 0600, never through a symlink).
  std::string output_file;
  std::size_t tail_bytes = std::size_t{64} * 1024;  // of each captured stream, the last this many bytes are kept
  // Captured output line by line as it arrives (stream 1: stdout, 2: stderr), on the thread
  // that waits for the child; a last line without a newline comes when the child is reaped,
  // and a line longer than kMaxLineBytes comes in pieces. Empty: only the tails.
  std::function<void(int stream, std::string_view line)> on_line;
  // Run as this user and group (the process must be root): setgroups, setgid, setuid.
  struct User {
    uid_t uid = 0;
    gid_t gid = 0;
  };
  std::optional<User> run_as;
  // Signal the child receives when the thread that spawned it ends (PR_SET_PDEATHSIG,
  // set after the privilege drop); 0: none. If the parent is already gone, the child exits.
  int death_signal = 0;
};

// How a child ended (a waitpid status).
struct ExitStatus {
  int raw = 0;
  // A status as waitpid reports it (for fakes and tests).
  static ExitStatus OfCode(int code) { return {(code & 0xff) << 8}; }
  static ExitStatus OfSignal(int signal) { return {signal & 0x7f}; }
  bool Exited() const;
  int Code() const;    // the exit code when Exited(), else -1
  int Signal() const;  // the terminating signal, else 0
  bool Success() const { return Exited() && Code() == 0; }
  // "exited with status 1", "was killed by signal 9 (Killed)".
  std::string Describe() const;
};

// A captured stream: its last bytes, and how much there was in all.
struct Tail {
  std::string text;
  std::size_t total_bytes = 0;
  bool Truncated() const { return total_bytes > text.size(); }
};

// A running child. Move-only; a Child that still owns an unreaped process when it is
// destroyed kills its group and reaps it.
class Child {
 public:
  // Starts the child. Errors: the pipes or the new process could not be made, or the child could not be set up
  // (working directory, output file, privilege drop) or could not exec its program: the
  // message names the step, the program and the reason ("cannot run 'x': No such file or
  // directory"); such a child has been reaped.
  static domain::Result<Child> Spawn(const SpawnOptions& options);

  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }

  // Waits for the child to exit while collecting its output, at most `timeout` (nullopt:
  // no limit); nullopt when it is still running. Output written afterwards by processes
  // of its group that outlive it is not waited for.
  std::optional<ExitStatus> Wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  // SIGTERM to the whole group, SIGKILL to the group after `grace` (or at once once the
  // child has exited: no member of its group survives), then reaps the child.
  ExitStatus Kill(std::chrono::milliseconds grace);

  // Gives up ownership: the caller waits for (and signals) the pid itself. Output is no
  // longer collected.
  pid_t Release();

  const Tail& Stdout() const { return out_; }
  const Tail& Stderr() const { return err_; }

 private:
  Child() = default;
  void Close();
  // Reads what the pipes hold now (non-blocking).
  void Drain();
  // Polls the pipes and the child for up to `ms` (-1: no limit); true once the child exited.
  bool PollOnce(int ms);
  bool ExitedNoReap();
  ExitStatus Reap();

  // Passes the complete lines of what stream (1 or 2) just gave to on_line_; `end`: the
  // rest too.
  void Lines(int stream, std::string_view data, bool end);

  pid_t pid_ = -1;
  int pidfd_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::size_t tail_bytes_ = 0;
  Tail out_, err_;
  std::function<void(int, std::string_view)> on_line_;
  std::string partial_[2];  // the unfinished line of stdout and of stderr
  std::optional<ExitStatus> status_;
};

// Runs a child to its end: spawn, wait up to `timeout`, and on timeout Kill(grace).
struct RunResult {
  ExitStatus status;
  bool timed_out = false;
  bool cancelled = false;  // killed on a stop request (ProcessRunner)
  Tail out, err;
};
domain::Result<RunResult> Run(const SpawnOptions& options, std::optional<std::chrono::milliseconds> timeout,
                              std::chrono::milliseconds grace = std::chrono::seconds(5));

}  // namespace jobnik::process
