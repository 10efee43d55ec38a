#include "services/claim_waiter.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <pqxx/pqxx>
#include <stdexcept>
#include <utility>

namespace jobnik::services {

namespace {

constexpr const char* kChannel = "jobnik_claimable";

// Calls back the waiter registry with each notification's payload.
class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, ClaimWaiter& waiter)
      : pqxx::notification_receiver(conn, kChannel), w_(waiter) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override { w_.OnNotification(payload); }

 private:
  ClaimWaiter& w_;
};

}  // namespace

std::string ListenerName(const std::string& schema) {
  std::string name = "jobnikd claim wake-up ";
  name.append(schema, 0, 63 - name.size());  // PostgreSQL keeps 63 bytes of a name
  return name;
}

std::optional<WakeupMode> ParseWakeupMode(std::string_view text) {
  if (text == "notify") return WakeupMode::kNotify;
  if (text == "poll") return WakeupMode::kPoll;
  return std::nullopt;
}

struct ClaimWaiter::Waiter {
  std::vector<std::string> types;
  std::condition_variable cv;  // with mu_
  bool woken = false;          // a wake-up not yet used by a claim attempt
  bool cancelled = false;      // its WaitCancel was cancelled
};

void WaitCancel::Cancel() {
  const std::lock_guard lock(mu_);
  cancelled_ = true;
  if (wake_) wake_();
}

ClaimWaiter::ClaimWaiter(ClaimWaiterOptions options, ClaimableCounter counter, Metrics* metrics)
    : options_(std::move(options)), counter_(std::move(counter)), metrics_(metrics) {
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

ClaimWaiter::~ClaimWaiter() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void ClaimWaiter::Start() {
  const std::lock_guard lock(mu_);
  if (stopping_ || poller_.joinable()) return;
  if (options_.mode == WakeupMode::kNotify) listener_ = std::thread([this] { ListenLoop(); });
  poller_ = std::thread([this] { PollLoop(); });
}

void ClaimWaiter::Stop() {
  {
    const std::lock_guard lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      for (auto& [type, waiters] : by_type_) {
        for (auto& w : waiters) w->cv.notify_all();
      }
      if (waiting_ > 0) spdlog::info("releasing {} waiting claim request(s)", waiting_);
    }
  }
  cv_.notify_all();
  if (wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = write(wake_fd_, &one, sizeof one);
  }
  if (listener_.joinable()) listener_.join();
  if (poller_.joinable()) poller_.join();
}

std::size_t ClaimWaiter::Waiting() const {
  const std::lock_guard lock(mu_);
  return waiting_;
}

std::size_t ClaimWaiter::Sleeping() const {
  const std::lock_guard lock(mu_);
  return sleeping_;
}

std::shared_ptr<ClaimWaiter::Waiter> ClaimWaiter::Enter(const std::vector<std::string>& stage_types, bool& over_limit) {
  const std::lock_guard lock(mu_);
  over_limit = false;
  if (stopping_) return nullptr;
  if (options_.max_waiters > 0 && waiting_ >= options_.max_waiters) {
    over_limit = true;
    return nullptr;
  }
  auto w = std::make_shared<Waiter>();
  w->types = stage_types;
  std::sort(w->types.begin(), w->types.end());
  w->types.erase(std::unique(w->types.begin(), w->types.end()), w->types.end());
  for (const auto& type : w->types) by_type_[type].push_back(w);
  ++waiting_;
  if (metrics_) metrics_->claim_waiting.Increment();
  return w;
}

void ClaimWaiter::Leave(const std::shared_ptr<Waiter>& w) {
  const std::lock_guard lock(mu_);
  for (const auto& type : w->types) {
    auto it = by_type_.find(type);
    if (it == by_type_.end()) continue;
    it->second.remove(w);
    if (it->second.empty()) by_type_.erase(it);
  }
  --waiting_;
  if (metrics_) metrics_->claim_waiting.Decrement();
  // A wake-up that arrived during its last attempt may have been meant for another task:
  // pass it on so that none is lost.
  if (w->woken && !stopping_) {
    for (const auto& type : w->types) {
      if (WakeLocked(type, 1) > 0) break;
    }
  }
}

bool ClaimWaiter::Sleep(Waiter& w, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  ++sleeping_;
  w.cv.wait_until(lock, deadline, [&] { return w.woken || w.cancelled || stopping_; });
  --sleeping_;
  return w.woken && !w.cancelled && !stopping_;
}

ClaimWaiter::Outcome ClaimWaiter::ClaimOrWait(const std::vector<std::string>& stage_types,
                                              std::chrono::steady_clock::time_point deadline,
                                              const std::function<bool()>& attempt, WaitCancel* cancel) {
  bool over_limit = false;
  // Registered before the first attempt: work made claimable between that attempt and the
  // sleep wakes this waiter rather than passing it by.
  auto w = Enter(stage_types, over_limit);
  if (!w) {
    if (attempt()) return Outcome::kClaimed;
    return over_limit ? Outcome::kOverLimit : Outcome::kStopped;
  }
  // Lock order: the cancel's mutex, then mu_ (Cancel() wakes under its own mutex).
  if (cancel) {
    const std::lock_guard lock(cancel->mu_);
    cancel->wake_ = [this, w] {
      const std::lock_guard wl(mu_);
      w->cancelled = true;
      w->cv.notify_all();
    };
    if (cancel->cancelled_) cancel->wake_();
  }
  Outcome outcome = Outcome::kTimedOut;
  for (;;) {
    {
      const std::lock_guard lock(mu_);
      w->woken = false;  // this attempt uses any wake-up so far
    }
    if (attempt()) {
      outcome = Outcome::kClaimed;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline || !Sleep(*w, deadline)) {
      const std::lock_guard lock(mu_);
      outcome = stopping_ ? Outcome::kStopped : w->cancelled ? Outcome::kCancelled : Outcome::kTimedOut;
      break;
    }
  }
  if (cancel) {
    const std::lock_guard lock(cancel->mu_);
    cancel->wake_ = nullptr;
  }
  Leave(w);
  return outcome;
}

std::size_t ClaimWaiter::WakeLocked(const std::string& stage_type, std::int64_t count) {
  auto it = by_type_.find(stage_type);
  if (it == by_type_.end() || count <= 0) return 0;
  std::size_t woken = 0;
  for (auto& w : it->second) {
    if (w->woken) continue;
    w->woken = true;
    w->cv.notify_one();
    ++woken;
    if (static_cast<std::int64_t>(woken) >= count) break;
  }
  if (metrics_ && woken > 0) metrics_->claim_wakeups.Increment(static_cast<double>(woken));
  return woken;
}

std::size_t ClaimWaiter::Wake(const std::string& stage_type, std::int64_t count) {
  const std::lock_guard lock(mu_);
  return WakeLocked(stage_type, count);
}

void ClaimWaiter::OnNotification(const std::string& payload) {
  const auto first = payload.find('\t');
  const auto last = payload.rfind('\t');
  if (first == std::string::npos || last == first) return;
  if (std::string_view(payload).substr(0, first) != options_.schema) return;
  if (metrics_) metrics_->claim_notifications.Increment();
  const std::string type = payload.substr(first + 1, last - first - 1);
  std::int64_t count = 1;
  const char* begin = payload.data() + last + 1;
  const auto [end, ec] = std::from_chars(begin, payload.data() + payload.size(), count);
  if (ec != std::errc() || count < 1) count = 1;
  Wake(type, count);
}

bool ClaimWaiter::SleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_ || poll_now_.load(); });
  return !stopping_;
}

void ClaimWaiter::ListenLoop() {
  auto backoff = options_.reconnect_min;
  while (true) {
    {
      const std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    try {
      pqxx::connection conn(options_.database_url);
      // Named, so that operators (and tests) can tell it in pg_stat_activity.
      // (Quoted by hand: GCC 12 sees a false -Wrestrict in libpqxx's inline quote().)
      std::string name = "'";
      name.append(conn.esc(ListenerName(options_.schema))).push_back('\'');
      conn.set_variable("application_name", name);
      const Receiver receiver(conn, *this);
      listening_ = true;
      backoff = options_.reconnect_min;
      spdlog::info("claim wake-up: listening on channel {} (schema {})", kChannel, options_.schema);
      // Notifications sent while this connection was down are lost: look once.
      poll_now_ = true;
      cv_.notify_all();
      while (true) {
        pollfd fds[2] = {{conn.sock(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        const int rc = ::poll(fds, 2, 60000);
        if (rc < 0 && errno != EINTR) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        if (fds[1].revents != 0) break;  // Stop()
        conn.get_notifs();               // throws pqxx::broken_connection when the connection is lost
        if (!conn.is_open()) throw pqxx::broken_connection("the listening connection closed");
      }
      listening_ = false;
      return;
    } catch (const std::exception& e) {
      const bool was_listening = listening_.exchange(false);
      {
        const std::lock_guard lock(mu_);
        if (stopping_) return;
      }
      if (was_listening) {
        spdlog::warn("claim wake-up: the listening connection was lost ({}); polling every {} ms until it is back",
                     e.what(), options_.poll_interval.count());
      } else {
        spdlog::warn("claim wake-up: cannot listen ({}); polling every {} ms, retrying in {} ms", e.what(),
                     options_.poll_interval.count(), backoff.count());
      }
      poll_now_ = true;  // the poller takes over at once
      cv_.notify_all();
    }
    // Backoff, interrupted by Stop().
    pollfd fd{wake_fd_, POLLIN, 0};
    ::poll(&fd, 1, static_cast<int>(backoff.count()));
    backoff = std::min(backoff * 2, options_.reconnect_max);
  }
}

void ClaimWaiter::PollLoop() {
  while (SleepFor(options_.poll_interval)) {
    const bool catch_up = poll_now_.exchange(false);
    if (options_.mode == WakeupMode::kPoll || !listening_ || catch_up) PollOnce();
  }
}

void ClaimWaiter::PollOnce() {
  // Per waited-for type, how many of its waiters are not woken yet.
  std::vector<std::pair<std::string, std::int64_t>> wanted;
  {
    const std::lock_guard lock(mu_);
    for (const auto& [type, waiters] : by_type_) {
      const auto n = std::count_if(waiters.begin(), waiters.end(), [](const auto& w) { return !w->woken; });
      if (n > 0) wanted.emplace_back(type, n);
    }
  }
  for (const auto& [type, n] : wanted) {
    auto found = counter_(type, n);
    if (!found.ok()) {
      spdlog::warn("claim wake-up: polling stage type '{}' failed: {}", type, found.status().message());
      continue;
    }
    if (*found > 0) Wake(type, *found);
  }
}

}  // namespace jobnik::services
