// jobnik-worker: runs executables as task handlers for a stage type.
#include <iostream>

#include "worker.h"

int main(int argc, char** argv) {
  return jobnik::worker::Main(argc, argv, std::cout, std::cerr);
}
