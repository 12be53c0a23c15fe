// Replays every file of the corpus folders given on the command line and the target's own seeds,
// then `--runs N` mutations of them (byte flips, inserts, deletes, truncations, splices) from a
// fixed `--seed`, so a failure is reproducible: the failing input is written to
// fuzz-failure.bin before the target aborts.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "fuzz_driver.h"

namespace {

std::string g_current;

std::string Mutate(const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  std::string s = seeds[rng() % seeds.size()];
  const int edits = 1 + static_cast<int>(rng() % 8);
  for (int e = 0; e < edits; ++e) {
    const std::size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 6) {
      case 0:  // flip bits
        if (!s.empty()) s[at % s.size()] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:  // an interesting byte
        if (!s.empty()) {
          static const char kBytes[] = {0, 1, '\x7f', '\x80', '\xff', '"', '\\', '%', '=', '&'};
          s[at % s.size()] = kBytes[rng() % sizeof kBytes];
        }
        break;
      case 2:  // insert random bytes
        s.insert(at, std::string(1 + rng() % 16, static_cast<char>(rng())));
        break;
      case 3:  // delete a run
        if (!s.empty()) s.erase(at % s.size(), 1 + rng() % 16);
        break;
      case 4:  // truncate
        s.resize(at);
        break;
      case 5: {  // splice another seed in
        const std::string& other = seeds[rng() % seeds.size()];
        if (!other.empty()) s.insert(at, other.substr(rng() % other.size(), 1 + rng() % 32));
        break;
      }
    }
  }
  return s;
}

void Run(const std::string& input) {
  g_current = input;
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

}  // namespace

__attribute__((weak)) std::vector<std::string> FuzzSeeds() {
  return {};
}

void FuzzFail(const char* what) {
  std::ofstream("fuzz-failure.bin", std::ios::binary) << g_current;
  std::fprintf(stderr, "fuzz invariant failed: %s (input saved to fuzz-failure.bin)\n", what);
  std::abort();
}

int main(int argc, char** argv) {
  long runs = 1000;
  unsigned long long seed = 1;
  std::vector<std::string> seeds = FuzzSeeds();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--runs" && i + 1 < argc) {
      runs = std::atol(argv[++i]);
    } else if (arg == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      for (const auto& e : std::filesystem::directory_iterator(arg)) {
        std::ifstream f(e.path(), std::ios::binary);
        seeds.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
      }
    }
  }
  if (seeds.empty()) seeds.emplace_back();
  for (const auto& s : seeds) Run(s);
  std::mt19937_64 rng(seed);
  for (long r = 0; r < runs; ++r) Run(Mutate(seeds, rng));
  std::cout << "ok: " << seeds.size() << " seeds, " << runs << " mutations (seed " << seed << ")\n";
  return 0;
}
