// The HTTP server's threads (docs/operations.md, "Connections and limits").
//
// cpp-httplib serves each accepted connection on one task queue job for the connection's
// whole life: a connection idle between requests, or still sending its request head,
// holds a thread. With a fixed pool of N threads, N such connections starve every other
// client. This queue instead starts a thread for a connection as soon as no started
// thread is free, up to `max_threads`; only beyond that do connections wait in a FIFO
// queue. Threads above `min_threads` exit after `idle_exit` without work, so a burst of
// connections leaves no threads behind. Each thread gets a stack of `stack_size` bytes
// (address space only: memory is used as the stack is touched, and given back between
// requests by ReleaseUnusedStack and after each connection).
//
// Works for httplib::Server and its subclasses (SSLServer): it only runs the jobs it is
// given. Thread-safe; enqueue() is called by the accept loop, shutdown() once by it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

#include <httplib.h>

namespace jobnik::http {

struct TaskQueueOptions {
  std::size_t min_threads = 8;                            // started at once and kept
  std::size_t max_threads = 2048;                         // running at most; further jobs wait in the queue
  std::size_t stack_size = std::size_t{8} * 1024 * 1024;  // glibc's default
  std::chrono::milliseconds idle_exit{std::chrono::seconds(30)};
  // Called on the thread after each job (a connection, for cpp-httplib: closed by then).
  std::function<void()> after_job = nullptr;
};

// What the queue holds now.
struct TaskQueueStats {
  std::size_t threads = 0;         // started and not yet exited
  std::size_t busy = 0;            // running a job
  std::size_t queued = 0;          // jobs waiting for a thread (max_threads are busy)
  std::size_t peak_threads = 0;    // most threads at once so far
  std::size_t start_failures = 0;  // threads the system refused to start (the job waited)
};

class ElasticTaskQueue : public httplib::TaskQueue {
 public:
  // min_threads is raised to 1 and max_threads to min_threads.
  explicit ElasticTaskQueue(TaskQueueOptions options);
  // Shuts down if shutdown() was not called.
  ~ElasticTaskQueue() override;
  ElasticTaskQueue(const ElasticTaskQueue&) = delete;
  ElasticTaskQueue& operator=(const ElasticTaskQueue&) = delete;

  // Runs `fn` on a free thread, on a new one when none is free and fewer than
  // max_threads run, else as soon as one is free (FIFO). Jobs enqueued after shutdown()
  // run on the caller's thread.
  void enqueue(std::function<void()> fn) override;
  // Runs every queued job, then waits until every thread has exited. Safe to call twice.
  void shutdown() override;

  TaskQueueStats Stats() const;

  // On a thread of an ElasticTaskQueue: gives the stack pages below the caller's frame
  // (less a margin) back to the system; elsewhere nothing. cpp-httplib's std::regex use
  // recurses deeply on long input (an 8 KB request target takes about 4.5 MB of stack),
  // and pages once touched would stay resident for the thread's life, which a keep-alive
  // connection can make long. Call it between requests (jobnikd: from the server's
  // logger, once a response is written). Costs a few microseconds.
  static void ReleaseUnusedStack();

 private:
  // Starts one thread (mu_ held); false when the system refuses.
  bool StartThread();
  void Loop();

  const TaskQueueOptions options_;
  mutable std::mutex mu_;
  std::condition_variable work_;  // a job was queued, or shutdown
  std::condition_variable done_;  // a thread exited
  std::deque<std::function<void()>> jobs_;
  std::size_t threads_ = 0;
  std::size_t idle_ = 0;  // threads running no job (waiting, or about to take one)
  std::size_t peak_ = 0;
  std::size_t start_failures_ = 0;
  bool shutdown_ = false;
};

}  // namespace jobnik::http
