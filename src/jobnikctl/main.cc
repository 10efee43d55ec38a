// jobnikctl: the command-line client of jobnikd.
#include <iostream>

#include "cli.h"

int main(int argc, char** argv) {
  return jobnik::ctl::Main(argc, argv, std::cout, std::cerr);
}
