#include "http/streams.h"

#include <algorithm>
#include <string_view>

#include <nlohmann/json.hpp>

#include "domain/codec.h"

namespace jobnik::http {

bool Streams::TryOpen() {
  std::lock_guard lock(mu_);
  if (stopped_ || open_ >= options_.max_clients) return false;
  ++open_;
  return true;
}

void Streams::Close() {
  std::lock_guard lock(mu_);
  --open_;
}

int Streams::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

bool Streams::Sleep(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopped_; });
}

void Streams::Stop() {
  {
    std::lock_guard lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
}

namespace {

// One server-sent event. A data field cannot hold a line break: each line of `data` is a
// field of its own, which the receiver joins with "\n" again.
void AppendEvent(std::string& out, std::string_view event, std::optional<std::int64_t> id, std::string_view data) {
  if (id) out += "id: " + std::to_string(*id) + "\n";
  out += "event: ";
  out += event;
  out += '\n';
  for (;;) {
    const auto nl = data.find('\n');
    out += "data: ";
    out += data.substr(0, nl);
    out += '\n';
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
  }
  out += '\n';
}

}  // namespace

JobFeed::JobFeed(std::optional<std::int64_t> after, std::int64_t newest_now, std::chrono::milliseconds keepalive)
    : floor_(after.value_or(newest_now)), keepalive_(keepalive) {}

std::string JobFeed::Preamble() {
  return "retry: 3000\n\n";
}

std::string JobFeed::Next(const std::string& job_json, const std::vector<domain::JobEvent>& events,
                          Clock::time_point now) {
  std::string out;
  for (const auto& e : events) {
    if (e.id <= floor_ || !recent_ids_.insert(e.id).second) continue;  // sent already
    recent_.emplace_back(e.id, now);
    AppendEvent(out, "jobEvent", e.id, domain::ToJson(e));
  }
  // What was sent long enough ago is not read again: the floor passes it.
  while (!recent_.empty() && (recent_.size() > kMaxRecent || now - recent_.front().second >= kSettle)) {
    floor_ = std::max(floor_, recent_.front().first);
    recent_ids_.erase(recent_.front().first);
    recent_.pop_front();
  }
  if (job_json != last_job_) {
    AppendEvent(out, "job", std::nullopt, job_json);
    last_job_ = job_json;
  }
  if (out.empty() && last_sent_ && now - *last_sent_ >= keepalive_) out = ": keep-alive\n\n";
  if (!out.empty() || !last_sent_) last_sent_ = now;
  return out;
}

std::string JobFeed::Error(const std::string& code, const std::string& message) {
  std::string out;
  AppendEvent(out, "error", std::nullopt,
              nlohmann::json{{"code", code}, {"message", message}}.dump(-1, ' ', false,
                                                                        nlohmann::json::error_handler_t::replace));
  return out;
}

}  // namespace jobnik::http
