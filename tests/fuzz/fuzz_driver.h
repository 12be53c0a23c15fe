// The fuzz targets' shared contract. Each target defines LLVMFuzzerTestOneInput (libFuzzer's
// entry point) and may define FuzzSeeds (inputs built in code, for formats whose seeds would be
// generated binaries). Under clang with -DBGERASE_LIBFUZZER=ON the targets link libFuzzer;
// otherwise standalone_main.cpp replays the corpus and a fixed number of seeded mutations, which
// is what `make test` runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// Extra seeds besides the corpus folder; a weak default returns none.
std::vector<std::string> FuzzSeeds();

// A failed invariant: prints the message and aborts, so both drivers report the input.
[[noreturn]] void FuzzFail(const char* what);
#define FUZZ_CHECK(cond)          \
  do {                            \
    if (!(cond)) FuzzFail(#cond); \
  } while (0)
