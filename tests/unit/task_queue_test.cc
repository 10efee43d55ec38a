// Unit tests of http::ElasticTaskQueue (src/jobnikd/http/task_queue.h): a thread per job
// up to the maximum, a FIFO queue beyond it, idle threads above the minimum exit.
#include "http/task_queue.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

namespace jobnik::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Jobs that wait until released; counts how many run at once.
class Gate {
 public:
  std::function<void()> Job() {
    return [this] {
      std::unique_lock lock(mu_);
      ++running_;
      ++started_;
      changed_.notify_all();
      changed_.wait(lock, [this] { return open_; });
      --running_;
      changed_.notify_all();
    };
  }
  // Waits (at most 5 s) until `n` jobs have started; false on timeout.
  bool WaitStarted(int n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, 5s, [&] { return started_ >= n; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    changed_.notify_all();
  }
  int Started() {
    std::lock_guard lock(mu_);
    return started_;
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int running_ = 0;
  int started_ = 0;
  bool open_ = false;
};

// Polls `stats` until `pred` holds (at most 5 s).
template <typename Pred>
bool Eventually(ElasticTaskQueue& q, Pred pred) {
  const auto deadline = Clock::now() + 5s;
  while (Clock::now() < deadline) {
    if (pred(q.Stats())) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred(q.Stats());
}

TEST(ElasticTaskQueue, EveryJobRunsAtOnceUpToTheMaximumThenWaitsForAFreeThread) {
  ElasticTaskQueue q({/*min_threads=*/1, /*max_threads=*/4, 256 * 1024, 30s});
  Gate gate;
  for (int i = 0; i < 4; ++i) q.enqueue(gate.Job());
  ASSERT_TRUE(gate.WaitStarted(4));  // four blocking jobs run together on one initial thread + 3 new
  EXPECT_EQ(q.Stats().threads, 4u);
  EXPECT_EQ(q.Stats().busy, 4u);

  std::atomic<bool> fifth{false};
  q.enqueue([&] { fifth = true; });
  EXPECT_EQ(q.Stats().queued, 1u);
  EXPECT_EQ(q.Stats().threads, 4u);  // the maximum
  EXPECT_FALSE(fifth);
  gate.Open();
  EXPECT_TRUE(Eventually(q, [&](const TaskQueueStats& s) { return fifth && s.queued == 0; }));
  EXPECT_EQ(q.Stats().peak_threads, 4u);
  q.shutdown();
}

TEST(ElasticTaskQueue, AFreeThreadIsReusedBeforeANewOneStarts) {
  ElasticTaskQueue q({/*min_threads=*/2, /*max_threads=*/100, 256 * 1024, 30s});
  for (int i = 0; i < 20; ++i) {
    std::atomic<bool> done{false};
    q.enqueue([&] { done = true; });
    ASSERT_TRUE(Eventually(q, [&](const TaskQueueStats& s) { return done && s.busy == 0; }));
  }
  EXPECT_EQ(q.Stats().peak_threads, 2u);
  q.shutdown();
}

TEST(ElasticTaskQueue, ThreadsAboveTheMinimumExitWhenIdle) {
  ElasticTaskQueue q({/*min_threads=*/1, /*max_threads=*/8, 256 * 1024, 50ms});
  Gate gate;
  for (int i = 0; i < 6; ++i) q.enqueue(gate.Job());
  ASSERT_TRUE(gate.WaitStarted(6));
  EXPECT_EQ(q.Stats().threads, 6u);
  gate.Open();
  EXPECT_TRUE(Eventually(q, [](const TaskQueueStats& s) { return s.threads == 1; }));
  // The one left still serves.
  std::atomic<bool> done{false};
  q.enqueue([&] { done = true; });
  EXPECT_TRUE(Eventually(q, [&](const TaskQueueStats&) { return done.load(); }));
  q.shutdown();
}

TEST(ElasticTaskQueue, ShutdownRunsQueuedJobsThenEveryThreadHasExited) {
  ElasticTaskQueue q({/*min_threads=*/1, /*max_threads=*/1, 256 * 1024, 30s});
  Gate gate;
  std::atomic<int> ran{0};
  q.enqueue(gate.Job());
  ASSERT_TRUE(gate.WaitStarted(1));
  for (int i = 0; i < 3; ++i) q.enqueue([&] { ++ran; });
  EXPECT_EQ(q.Stats().queued, 3u);
  std::thread opener([&] { gate.Open(); });
  q.shutdown();
  opener.join();
  EXPECT_EQ(ran, 3);
  EXPECT_EQ(q.Stats().threads, 0u);
  // After shutdown a job runs on the caller's thread.
  q.enqueue([&] { ++ran; });
  EXPECT_EQ(ran, 4);
  q.shutdown();  // twice is fine
}

// Resident memory of this process, in bytes.
long long Resident() {
  std::ifstream statm("/proc/self/statm");
  long long pages = 0;
  long long resident = 0;
  statm >> pages >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// Touches `bytes` of stack below the caller, as deep recursion would.
[[gnu::noinline]] void TouchStack(std::size_t bytes) {
  char block[64 * 1024];
  std::memset(block, 1, sizeof block);
  asm volatile("" : : "r"(block) : "memory");
  if (bytes > sizeof block) TouchStack(bytes - sizeof block);
}

TEST(ElasticTaskQueue, StackTouchedByAJobIsGivenBackAfterIt) {
  ElasticTaskQueue q({/*min_threads=*/1, /*max_threads=*/1, 8 * 1024 * 1024, 30s});
  constexpr long long kTouched = 4 * 1024 * 1024;
  long long during = 0;
  long long after = 0;
  std::atomic<bool> done{false};
  q.enqueue([&] {
    TouchStack(kTouched);
    during = Resident();
    ElasticTaskQueue::ReleaseUnusedStack();
    after = Resident();
    done = true;
  });
  ASSERT_TRUE(Eventually(q, [&](const TaskQueueStats&) { return done.load(); }));
  EXPECT_LT(after, during - kTouched * 3 / 4) << "during " << during << ", after " << after;
  // Elsewhere it does nothing (and does not crash).
  ElasticTaskQueue::ReleaseUnusedStack();
  q.shutdown();
}

}  // namespace
}  // namespace jobnik::http
