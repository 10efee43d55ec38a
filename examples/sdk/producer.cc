// Submits a job with one stage of typed tasks and prints the job id.
//   jobnik-example-producer [URL]      (default: $JOBNIK_URL, else http://127.0.0.1:8080)
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
