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
    std::vector<std::string> inputs;
    inputs.push_back(std::move(input));
    return std::move(SubmitMany(key, std::move(inputs)).front());
  }

  // The same for several inputs at once (queued together, in order, so that they go into
  // the same batch when they fit): blocks until all have been run; a result per input.
  std::vector<Result> SubmitMany(const std::string& key, std::vector<std::string> inputs) {
    Waiter me;
    std::vector<Pending> mine(inputs.size());
    std::unique_lock lock(mu_);
    Lane& lane = lanes_[key];
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      mine[i].input = std::move(inputs[i]);
      mine[i].waiter = &me;
      lane.queue.push_back(&mine[i]);
    }
    std::size_t done = 0;  // mine[0..done) have their results
    while (done < mine.size()) {
      if (mine[done].result) {
        ++done;
        continue;
      }
      if (lane.in_flight >= max_in_flight_ || lane.queue.empty()) {
        // Woken when a batch of ours is done, or to lead the next one.
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
      std::vector<std::string> batch_inputs;
      batch_inputs.reserve(batch.size());
      for (const auto* p : batch) batch_inputs.push_back(p->input);
      std::vector<Result> results = run_(key, batch_inputs);
      lock.lock();
      me.leading = false;
      --lane.in_flight;
      // Only the batch's requests wake up, and the oldest waiting one (if any) to lead
      // the next batch: no thundering herd on a shared condition variable.
      for (std::size_t i = 0; i < batch.size(); ++i) {
        batch[i]->result.emplace(std::move(results[i]));
        if (batch[i]->waiter != &me) batch[i]->waiter->wake.notify_one();
      }
      for (auto* next : lane.queue) {
        if (next->waiter == &me) break;  // we lead it ourselves on the next turn of the loop
        if (!next->waiter->leading) {
          next->waiter->wake.notify_one();
          break;
        }
      }
    }
    std::vector<Result> out;
    out.reserve(mine.size());
    for (auto& p : mine) out.push_back(std::move(*p.result));
    return out;
  }

 private:
  // A submitting thread.
  struct Waiter {
    std::condition_variable wake;  // notified under mu_
    bool leading = false;          // the thread is running a batch (not waiting)
  };
  struct Pending {
    std::string input;
    std::optional<Result> result;
    Waiter* waiter = nullptr;
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
