#include "client/task_context.h"

#include <spdlog/logger.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <exception>
#include <functional>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace jobnik::client {
namespace {

using domain::Result;
using domain::Status;

// One kind of entry (jobs or stages): an LRU of fetched values and the fetches under way.
// Used under ContextCache::Impl::mu.
template <class T>
struct Table {
  struct Entry {
    T value;
    Clock::TimePoint fetched;                 // when its fetch began
    std::list<std::string>::iterator recent;  // its place in `lru`
  };
  struct Flight {
    bool done = false;
    bool stale = false;  // dropped or changed while under way: not cached, waiters look again
    std::optional<Result<T>> result;
  };
  std::unordered_map<std::string, Entry> entries;
  std::list<std::string> lru;  // most recently used first
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights;

  void Erase(typename std::unordered_map<std::string, Entry>::iterator it) {
    lru.erase(it->second.recent);
    entries.erase(it);
  }
  void Drop(const std::string& key) {
    if (auto it = entries.find(key); it != entries.end()) Erase(it);
    if (auto f = flights.find(key); f != flights.end()) f->second->stale = true;
  }
  void Insert(const std::string& key, T value, Clock::TimePoint fetched, std::size_t capacity) {
    if (auto it = entries.find(key); it != entries.end()) Erase(it);
    while (!lru.empty() && entries.size() >= capacity) Erase(entries.find(lru.back()));
    lru.push_front(key);
    entries.emplace(key, Entry{std::move(value), fetched, lru.begin()});
  }
};

}  // namespace

struct ContextCache::Impl {
  Impl(ContextCacheOptions o, Clock& c) : options(o), clock(c) {}

  ContextCacheOptions options;
  Clock& clock;
  mutable std::mutex mu;
  std::condition_variable fetch_ended;
  Table<domain::Job> jobs;
  Table<domain::Stage> stages;
  std::uint64_t hits = 0;
  std::uint64_t fetches = 0;

  bool enabled() const { return options.capacity > 0 && options.ttl > Clock::Duration::zero(); }

  template <class T>
  Result<T> Get(Table<T>& table, const std::string& key, const std::function<Result<T>()>& fetch) {
    std::unique_lock lock(mu);
    if (!enabled()) {
      ++fetches;
      lock.unlock();
      return fetch();
    }
    for (;;) {
      if (auto it = table.entries.find(key); it != table.entries.end()) {
        if (clock.Now() - it->second.fetched < options.ttl) {
          table.lru.splice(table.lru.begin(), table.lru, it->second.recent);
          ++hits;
          return it->second.value;
        }
        table.Erase(it);  // expired
      }
      const auto f = table.flights.find(key);
      if (f == table.flights.end()) break;
      // Another slot is fetching it: its answer is ours, unless it went stale meanwhile.
      const auto flight = f->second;
      fetch_ended.wait(lock, [&flight] { return flight->done; });
      if (!flight->stale) {
        ++hits;
        return *flight->result;
      }
    }
    const auto flight = std::make_shared<typename Table<T>::Flight>();
    table.flights.emplace(key, flight);
    ++fetches;
    const auto started = clock.Now();
    lock.unlock();
    auto finish = [&](std::optional<Result<T>> result) {
      const std::lock_guard relock(mu);
      if (result && result->ok() && !flight->stale) table.Insert(key, **result, started, options.capacity);
      if (!result) flight->stale = true;  // the fetch threw: waiters try for themselves
      flight->result = std::move(result);
      flight->done = true;
      table.flights.erase(key);
      fetch_ended.notify_all();
    };
    try {
      Result<T> result = fetch();
      finish(result);
      return result;
    } catch (...) {
      finish(std::nullopt);
      throw;
    }
  }

  template <class T>
  void Update(Table<T>& table, const std::string& key, const std::string& user_metadata) {
    const std::lock_guard lock(mu);
    if (auto it = table.entries.find(key); it != table.entries.end()) it->second.value.user_metadata = user_metadata;
    if (auto f = table.flights.find(key); f != table.flights.end()) f->second->stale = true;
  }
};

ContextCache::ContextCache(ContextCacheOptions options, Clock& clock) : impl_(std::make_unique<Impl>(options, clock)) {}

ContextCache::~ContextCache() = default;

Result<domain::Stage> ContextCache::Stage(Client& client, const std::string& stage_id) {
  return impl_->Get<domain::Stage>(impl_->stages, stage_id, [&client, &stage_id] { return client.GetStage(stage_id); });
}

Result<domain::Job> ContextCache::Job(Client& client, const std::string& job_id) {
  return impl_->Get<domain::Job>(impl_->jobs, job_id, [&client, &job_id] { return client.GetJob(job_id); });
}

std::optional<std::string> ContextCache::JobIdOf(const std::string& stage_id) const {
  const std::lock_guard lock(impl_->mu);
  const auto it = impl_->stages.entries.find(stage_id);
  if (it == impl_->stages.entries.end()) return std::nullopt;
  return it->second.value.job_id;
}

void ContextCache::UpdateStageMetadata(const std::string& stage_id, const std::string& user_metadata) {
  impl_->Update(impl_->stages, stage_id, user_metadata);
}

void ContextCache::UpdateJobMetadata(const std::string& job_id, const std::string& user_metadata) {
  impl_->Update(impl_->jobs, job_id, user_metadata);
}

void ContextCache::DropStage(const std::string& stage_id) {
  const std::lock_guard lock(impl_->mu);
  impl_->stages.Drop(stage_id);
}

void ContextCache::DropJob(const std::string& job_id) {
  const std::lock_guard lock(impl_->mu);
  impl_->jobs.Drop(job_id);
}

void ContextCache::DropJobOfStage(const std::string& stage_id) {
  const std::lock_guard lock(impl_->mu);
  if (const auto it = impl_->stages.entries.find(stage_id); it != impl_->stages.entries.end()) {
    impl_->jobs.Drop(it->second.value.job_id);
  }
  impl_->stages.Drop(stage_id);
}

ContextCache::Stats ContextCache::stats() const {
  const std::lock_guard lock(impl_->mu);
  return {impl_->hits, impl_->fetches, impl_->jobs.entries.size(), impl_->stages.entries.size()};
}

// ---- TaskLog ----

namespace {

spdlog::logger& LoggerOf(const std::shared_ptr<spdlog::logger>& logger) {
  return logger ? *logger : *spdlog::default_logger_raw();
}

}  // namespace

bool TaskLog::ShouldLog(spdlog::level::level_enum level) const {
  return LoggerOf(logger_).should_log(level);
}

void TaskLog::Log(spdlog::level::level_enum level, std::string_view message) const {
  LoggerOf(logger_).log(level, "{} {}", prefix_, message);
}

// ---- TaskContext ----

namespace {

// `json_object` as the server will hold it (compact), or kValidation naming userMetadata.
Result<std::string> MetadataText(const std::string& json_object, std::string_view of) {
  const auto j = nlohmann::json::parse(json_object, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return domain::ValidationError(fmt::format("userMetadata of the {} is not valid JSON", of));
  if (!j.is_object()) {
    return domain::ValidationError(
        fmt::format("userMetadata of the {} must be a JSON object, not {}", of, j.type_name()));
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

Result<domain::Stage> TaskContext::stage() {
  if (cache == nullptr) return client.GetStage(task.stage_id);
  return cache->Stage(client, task.stage_id);
}

Result<domain::Job> TaskContext::job() {
  std::optional<std::string> job_id = cache != nullptr ? cache->JobIdOf(task.stage_id) : std::nullopt;
  if (!job_id) {
    JOBNIK_ASSIGN_OR_RETURN(const domain::Stage s, stage());
    job_id = s.job_id;
  }
  if (cache == nullptr) return client.GetJob(*job_id);
  return cache->Job(client, *job_id);
}

Status TaskContext::SetTaskMetadata(const std::string& json_object) {
  JOBNIK_ASSIGN_OR_RETURN(const std::string text, MetadataText(json_object, "task"));
  return client.SetUserMetadata(Client::Entity::kTask, task.id, text);
}

Status TaskContext::SetStageMetadata(const std::string& json_object) {
  JOBNIK_ASSIGN_OR_RETURN(const std::string text, MetadataText(json_object, "stage"));
  Status s = client.SetUserMetadata(Client::Entity::kStage, task.stage_id, text);
  if (cache != nullptr) {
    if (s.ok()) {
      cache->UpdateStageMetadata(task.stage_id, text);
    } else {
      cache->DropStage(task.stage_id);  // a lost answer may have been applied
    }
  }
  return s;
}

Status TaskContext::SetJobMetadata(const std::string& json_object) {
  JOBNIK_ASSIGN_OR_RETURN(const std::string text, MetadataText(json_object, "job"));
  std::optional<std::string> job_id = cache != nullptr ? cache->JobIdOf(task.stage_id) : std::nullopt;
  if (!job_id) {
    JOBNIK_ASSIGN_OR_RETURN(const domain::Stage st, stage());
    job_id = st.job_id;
  }
  Status s = client.SetUserMetadata(Client::Entity::kJob, *job_id, text);
  if (cache != nullptr) {
    if (s.ok()) {
      cache->UpdateJobMetadata(*job_id, text);
    } else {
      cache->DropJob(*job_id);
    }
  }
  return s;
}

TaskLog TaskContext::log() const {
  std::string prefix = "task=" + task.id + " stage=" + task.stage_id;
  if (cache != nullptr) {
    if (auto job_id = cache->JobIdOf(task.stage_id)) prefix += " job=" + *job_id;
  }
  return TaskLog(logger, std::move(prefix));
}

}  // namespace jobnik::client
