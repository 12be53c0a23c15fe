// The pieces of fuzz_driver.h that standalone_main.cpp provides, for libFuzzer builds: libFuzzer
// brings its own main, corpus handling and crash reporting.
#include <cstdio>
#include <cstdlib>

#include "fuzz_driver.h"

__attribute__((weak)) std::vector<std::string> FuzzSeeds() {
  return {};
}

void FuzzFail(const char* what) {
  std::fprintf(stderr, "fuzz invariant failed: %s\n", what);
  std::abort();
}
