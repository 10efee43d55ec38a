// Group commit: requests that arrive while a batch for the same key is being committed
// wait and go into the next batch, and a batch is one call of `run` (one transaction).
// A request that arrives when fewer than `max_in_flight` batches of its key are running
// starts one at once, so grouping adds no latency at low load; under load, a hot row or
// a commit (WAL flush) is paid once per batch instead of once per request.
//
// The thread that starts a batch runs it (no background thread); results are handed to
// the waiting threads in the order of their inputs, and each waiting thread has its own
// condition variable, so a finished batch wakes its own requests and the next leader
// only. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace jobnik::store::pg {

template <typename Result>
class GroupCommit {
 public:
  // `run` gets the inputs of one batch and returns one result per input, in order.
  using RunBatch = std::function<std::vector<Result>(const std::string& key, const std::vector<std::string>& inputs)>;

  GroupCommit(std::size_t max_batch, int max_in_flight, RunBatch run)
      : max_batch_(max_batch), max_in_flight_(max_in_flight), run_(std::move(run)) {}

  // Blocks until the batch holding `input` has been run; returns its result.
  Result Submit(const std::string& key, std::string input) {
    Pending me{std::move(input), std::nullopt, {}, false};
    std::unique_lock lock(mu_);
    Lane& lane = lanes_[key];
    lane.queue.push_back(&me);
    while (!me.result) {
      if (lane.in_flight >= max_in_flight_ || lane.queue.empty()) {
        // Woken when our batch is done, or to lead the next one.
        me.wake.wait(lock);
        continue;
      }
      // Lead a batch: whatever is queued, oldest first (not necessarily including our own).
      std::vector<Pending*> batch;
      while (!lane.queue.empty() && batch.size() < max_batch_) {
        batch.push_back(lane.queue.front());
        lane.queue.pop_front();
      }
      ++lane.in_flight;
      me.leading = true;
      lock.unlock();
      std::vector<std::string> inputs;
      inputs.reserve(batch.size());
      for (const auto* p : batch) inputs.push_back(p->input);
      std::vector<Result> results = run_(key, inputs);
      lock.lock();
      me.leading = false;
      --lane.in_flight;
      // Only the batch's requests wake up, and the oldest waiting one (if any) to lead
      // the next batch: no thundering herd on a shared condition variable.
      for (std::size_t i = 0; i < batch.size(); ++i) {
        batch[i]->result.emplace(std::move(results[i]));
        if (batch[i] != &me) batch[i]->wake.notify_one();
      }
      for (auto* next : lane.queue) {
        if (next == &me) break;  // we lead it ourselves on the next turn of the loop
        if (!next->leading) {
          next->wake.notify_one();
          break;
        }
      }
    }
    return std::move(*me.result);
  }

 private:
  struct Pending {
    std::string input;
    std::optional<Result> result;
    std::condition_variable wake;  // notified under mu_
    bool leading = false;          // its thread is running a batch (not waiting)
  };
  struct Lane {
    std::deque<Pending*> queue;
    int in_flight = 0;
  };

  const std::size_t max_batch_;
  const int max_in_flight_;
  const RunBatch run_;
  std::mutex mu_;
  std::map<std::string, Lane> lanes_;  // one per key; a key's lane lives as long as the store
};

}  // namespace jobnik::store::pg
