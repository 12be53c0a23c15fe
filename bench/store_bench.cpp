// Store throughput: object Put/Get for 1 MB and 20 MB images, and reaper deletion rate.
// Prints MB/s and objects/s on the real SQLite + blob folder of a temporary data dir.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "store/store.h"

using namespace bgerase::store;
using Clk = std::chrono::steady_clock;

static double Secs(Clk::time_point a, Clk::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int main() {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("bgerase-store-bench-" + std::to_string(getpid()));
  auto clock = std::make_shared<ManualClock>(FromMillis(1'717'000'000'000));
  StoreOptions o;
  o.data_dir = dir;
  o.clock = clock;
  o.run_reaper = false;
  auto s = OpenStore(o);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    return 1;
  }
  Store& store = **s;
  const AccountId owner = store.accounts().Create("bench@example.com", std::nullopt)->id;
  std::mt19937_64 rng(1);
  for (std::size_t mb : {1, 20}) {
    if (getenv("REAP_ONLY")) break;
    std::string bytes(mb << 20, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    const int n = mb == 1 ? 100 : 10;
    std::vector<ObjectId> ids;
    auto t0 = Clk::now();
    for (int i = 0; i < n; ++i) {
      auto p = store.objects().Put(
          {owner, ObjectKind::kInput, "", "image/png", std::nullopt, AsBytes(bytes)});
      if (!p.ok()) return 2;
      ids.push_back(p->id);
    }
    auto t1 = Clk::now();
    for (const auto& id : ids) {
      auto g = store.objects().Get(owner, id);
      if (!g.ok() || g->bytes.size() != bytes.size()) return 3;
    }
    auto t2 = Clk::now();
    std::printf("%2zu MB objects: put %.1f MB/s (%.1f obj/s), get %.1f MB/s (%.1f obj/s)\n", mb,
                n * mb / Secs(t0, t1), n / Secs(t0, t1), n * mb / Secs(t1, t2), n / Secs(t1, t2));
  }
  // Reaper rate: many small objects, all expiring at once (large ones purged first, untimed).
  clock->Advance(std::chrono::hours(25));
  store.PurgeExpired();
  std::string small(16 << 10, 'x');
  const int n = 2000;
  for (int i = 0; i < n; ++i)
    store.objects().Put({owner, ObjectKind::kInput, "", "image/png", std::nullopt, AsBytes(small)});
  clock->Advance(std::chrono::hours(25));
  auto t0 = Clk::now();
  auto r = store.PurgeExpired();
  auto t1 = Clk::now();
  std::printf("reaper: %zu objects deleted in %.3f s = %.0f objects/s\n", r->objects, Secs(t0, t1),
              r->objects / Secs(t0, t1));
  fs::remove_all(dir);
}
