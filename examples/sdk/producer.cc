// Submits a job with one stage of typed tasks and prints the job id.
//   jobnik-example-producer [URL]      (default: $JOBNIK_URL, else http://127.0.0.1:8080;
//                                      https: $JOBNIK_CA_FILE, $JOBNIK_CLIENT_CERT, $JOBNIK_CLIENT_KEY)
#include <cstdlib>
#include <iostream>
#include <vector>

#include "client/client.h"
#include "client/typed.h"
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
  client::Client client(options);

  // The whole tree in one request: created at once or not at all.
  auto job = client::typed::NewJob<Thumbnails>(Album{"holidays"});
  std::vector<Thumbnail> tasks;
  for (const char* image : {"beach.png", "hills.png", "town.png"}) tasks.push_back({image, 256});
  job.stages = {client::typed::NewStage<Scale>({}, tasks, /*max_attempts=*/3)};

  auto created = client.CreateJob(job);
  if (!created.ok()) {
    std::cerr << "producer: " << created.status().message() << "\n";
    return 1;
  }
  std::cout << created->id << "\n";
  return 0;
}
