#include <iostream>

#include "daemon.h"

int main(int argc, char** argv) {
  return jobnik::Main(argc, argv, std::cout, std::cerr);
}
