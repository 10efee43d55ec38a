// Handles the producer's tasks with 4 slots until SIGINT or SIGTERM.
//   jobnik-example-worker [URL]        (default: $JOBNIK_URL, else http://127.0.0.1:8080;
//                                      https: $JOBNIK_CA_FILE, $JOBNIK_CLIENT_CERT, $JOBNIK_CLIENT_KEY)
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "client/typed.h"
#include "client/worker.h"
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

  auto worker_options = client::typed::ForStage<Scale>();
  worker_options.slots = 4;
  client::Worker worker(worker_options, client::Worker::ClientsFor(options),
                        client::typed::Handler<Scale>([](client::TaskContext& c, const Thumbnail& t) {
                          std::cout << "task " << c.task.id << ": " << t.image << " at " << t.width << " px\n";
                          return t.width > 0 ? domain::TaskStatus::kCompleted : domain::TaskStatus::kFailed;
                        }));
  worker.Start();
  int signal = 0;
  sigwait(&signals, &signal);
  worker.Stop();  // no more claims; running handlers finish and report
  std::cout << "stopped\n";
  return 0;
}
