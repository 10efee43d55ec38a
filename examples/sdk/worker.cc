// Handles the producer's tasks with 4 slots until SIGINT or SIGTERM: reads each task's
// album (the job's data, fetched once per job for all the slots), records the thumbnail in
// the task's and the job's userMetadata, and logs a line carrying the task, stage and job.
//   jobnik-example-worker [URL]        (default: $JOBNIK_URL, else http://127.0.0.1:8080;
//                                      https: $JOBNIK_CA_FILE, $JOBNIK_CLIENT_CERT, $JOBNIK_CLIENT_KEY)
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "client/typed.h"
#include "client/worker.h"
#include "common/logging.h"
#include "thumbnails.h"

using namespace jobnik;

int main(int argc, char** argv) {
  const char* env = std::getenv("JOBNIK_URL");
  client::ClientOptions options;
  options.base_url = argc > 1 ? argv[1] : env != nullptr ? env : "http://127.0.0.1:8080";
  // https: the CA of jobnikd's certificate, and a client certificate if jobnikd asks for one.
  if (const char* v = std::getenv("JOBNIK_CA_FILE")) options.ca_file = v;
  if (const char* v = std::getenv("JOBNIK_CLIENT_CERT")) options.client_cert = v;
  if (const char* v = std::getenv("JOBNIK_CLIENT_KEY")) options.client_key = v;
  sigset_t signals;  // blocked in every thread; waited for below
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  logging::Setup("jobnik-example-worker", logging::Format::kText, "info");  // context.log() writes here

  auto worker_options = client::typed::ForStage<Scale>();
  worker_options.slots = 4;
  auto handler = [](client::TaskContext& c, const Thumbnail& t) -> client::TaskOutcome {
    if (t.width <= 0) return {domain::TaskStatus::kFailed, "width must be positive"};
    // The job's data: one request for all the tasks of the album (a worker-wide cache).
    auto album = client::typed::JobData<Thumbnails>(c);
    if (!album.ok()) return {domain::TaskStatus::kFailed, "reading the album: " + album.status().message()};
    const std::string thumbnail = "thumbs/" + std::to_string(t.width) + "/" + t.image;
    if (auto s = c.SetTaskMetadata(nlohmann::json{{"thumbnail", thumbnail}}.dump()); !s.ok()) {
      return {domain::TaskStatus::kFailed, "recording the thumbnail: " + s.message()};
    }
    if (auto s = c.SetJobMetadata(nlohmann::json{{"album", album->title}, {"lastThumbnail", thumbnail}}.dump());
        !s.ok()) {
      return {domain::TaskStatus::kFailed, "recording the album's progress: " + s.message()};
    }
    c.log().info("{} scaled to {} px for album '{}'", t.image, t.width, album->title);
    std::cout << "task " + c.task.id + ": " + t.image + " at " + std::to_string(t.width) + " px\n" << std::flush;
    return {domain::TaskStatus::kCompleted, ""};
  };
  client::Worker worker(worker_options, client::Worker::ClientsFor(options), client::typed::Handler<Scale>(handler));
  worker.Start();
  int signal = 0;
  sigwait(&signals, &signal);
  worker.Stop(std::chrono::seconds(30));  // no more claims; running handlers get 30 s, then are called off
  // The GETs of stages and jobs that the handlers' context made, and the answers it had cached.
  const auto cache = worker.context_cache_stats();
  std::cout << "context cache: " << cache.fetches << " requests, " << cache.hits << " hits\n";
  std::cout << "stopped\n";
  return 0;
}
