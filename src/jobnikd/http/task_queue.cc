#include "http/task_queue.h"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace jobnik::http {
namespace {

// The lowest usable address of this thread's stack when it is a queue thread, else null.
thread_local char* stack_low = nullptr;
// Pages this close below the caller's frame are kept (the next calls use them).
constexpr std::uintptr_t kStackKept = std::uintptr_t{64} * 1024;

}  // namespace

void ElasticTaskQueue::ReleaseUnusedStack() {
  if (stack_low == nullptr) return;
  const int here = 0;
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto frame = reinterpret_cast<std::uintptr_t>(&here);
  const auto low = reinterpret_cast<std::uintptr_t>(stack_low);
  const std::uintptr_t begin = (low + page - 1) / page * page;
  if (frame < begin + kStackKept + page) return;
  const std::uintptr_t end = (frame - kStackKept) / page * page;
  if (end > begin) madvise(stack_low + (begin - low), end - begin, MADV_DONTNEED);
}

ElasticTaskQueue::ElasticTaskQueue(TaskQueueOptions options)
    : options_([&] {
        options.min_threads = std::max<std::size_t>(1, options.min_threads);
        options.max_threads = std::max(options.max_threads, options.min_threads);
        options.stack_size = std::max(options.stack_size, static_cast<std::size_t>(PTHREAD_STACK_MIN));
        return options;
      }()) {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < options_.min_threads; ++i) {
    if (!StartThread()) break;
  }
}

ElasticTaskQueue::~ElasticTaskQueue() {
  shutdown();
}

void ElasticTaskQueue::enqueue(std::function<void()> fn) {
  {
    std::unique_lock lock(mu_);
    if (!shutdown_) {
      jobs_.push_back(std::move(fn));
      // A thread stays counted in idle_ until it takes a job (a new one from its start),
      // so idle_ >= jobs_ means every queued job has a thread on its way.
      if (idle_ >= jobs_.size()) {
        work_.notify_one();
      } else if (threads_ < options_.max_threads && !StartThread() && threads_ == 0) {
        // No thread at all and none can start: run it here rather than never.
        fn = std::move(jobs_.back());
        jobs_.pop_back();
        lock.unlock();
        fn();
      }
      return;
    }
  }
  fn();
}

void ElasticTaskQueue::shutdown() {
  std::unique_lock lock(mu_);
  shutdown_ = true;
  work_.notify_all();
  done_.wait(lock, [this] { return threads_ == 0; });
}

TaskQueueStats ElasticTaskQueue::Stats() const {
  std::lock_guard lock(mu_);
  return {threads_, threads_ - idle_, jobs_.size(), peak_, start_failures_};
}

bool ElasticTaskQueue::StartThread() {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, options_.stack_size);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t id{};
  const int rc = pthread_create(
      &id, &attr,
      [](void* self) -> void* {
        static_cast<ElasticTaskQueue*>(self)->Loop();
        return nullptr;
      },
      this);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    // Logged once per 100 failures: under this pressure every accept would log.
    if (start_failures_++ % 100 == 0) {
      spdlog::warn("http: cannot start another thread ({} running): {}; connections wait for a free one", threads_,
                   std::strerror(rc));
    }
    return false;
  }
  ++threads_;
  ++idle_;  // until it takes a job
  peak_ = std::max(peak_, threads_);
  return true;
}

void ElasticTaskQueue::Loop() {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* low = nullptr;
    std::size_t size = 0;
    // Above the guard page, which glibc places at the low end.
    if (pthread_attr_getstack(&attr, &low, &size) == 0) {
      std::size_t guard = 0;
      pthread_attr_getguardsize(&attr, &guard);
      stack_low = static_cast<char*>(low) + guard;
    }
    pthread_attr_destroy(&attr);
  }
  // Counted in idle_ from its start (StartThread) whenever it runs no job.
  std::unique_lock lock(mu_);
  for (;;) {
    if (!jobs_.empty()) {
      auto fn = std::move(jobs_.front());
      jobs_.pop_front();
      --idle_;
      lock.unlock();
      fn();
      fn = nullptr;  // the job's captures go before the lock is taken again
      if (options_.after_job) options_.after_job();
      ReleaseUnusedStack();
      lock.lock();
      ++idle_;
      continue;
    }
    if (shutdown_) break;
    const bool woken = work_.wait_for(lock, options_.idle_exit, [this] { return !jobs_.empty() || shutdown_; });
    if (!woken && threads_ > options_.min_threads) break;
  }
  --idle_;
  --threads_;
  // Notified under the lock: shutdown() (and the destructor after it) cannot go on
  // before this thread has released mu_, its last use of this object.
  done_.notify_all();
}

}  // namespace jobnik::http
