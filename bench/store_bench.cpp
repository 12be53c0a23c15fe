// Store throughput: object Put/Get for 1 MB and 20 MB images, job claims, and reaper deletion
// rate. Measures the embedded backend (SQLite + blob folder in a temporary data dir) and, when
// BGERASE_BENCH_POSTGRES_URL names a PostgreSQL database, the shared backend in the same run, and
// prints PostgreSQL/SQLite ratios. The database should be a fresh one, e.g.:
//   PG_TEST_FSYNC=on scripts/pg-test-server start /tmp/pg-bench
//   BGERASE_BENCH_POSTGRES_URL=$(cat /tmp/pg-bench/url) build/bench/store_bench
//   scripts/pg-test-server stop /tmp/pg-bench
// REAP_ONLY=1 skips the object and claim measurements.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "store/store.h"

using namespace bgerase::store;
using Clk = std::chrono::steady_clock;

namespace {

double Secs(Clk::time_point a, Clk::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Figures of one backend, by measurement name (per second; higher is better).
using Figures = std::map<std::string, double>;

bool Measure(const char* backend, StoreOptions o, Figures& fig) {
  auto clock = std::make_shared<ManualClock>(FromMillis(1'717'000'000'000));
  o.clock = clock;
  o.run_reaper = false;
  auto s = OpenStore(o);
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", backend, s.status().ToString().c_str());
    return false;
  }
  Store& store = **s;
  const std::string email = "bench-" + std::to_string(getpid()) + "@example.com";
  auto account = store.accounts().Create(email, std::nullopt);
  if (!account.ok()) return false;
  const AccountId owner = account->id;
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
      if (!p.ok()) return false;
      ids.push_back(p->id);
    }
    auto t1 = Clk::now();
    for (const auto& id : ids) {
      auto g = store.objects().Get(owner, id);
      if (!g.ok() || g->bytes.size() != bytes.size()) return false;
    }
    auto t2 = Clk::now();
    std::printf("%-10s %2zu MB objects: put %.1f MB/s (%.1f obj/s), get %.1f MB/s (%.1f obj/s)\n",
                backend, mb, n * mb / Secs(t0, t1), n / Secs(t0, t1), n * mb / Secs(t1, t2),
                n / Secs(t1, t2));
    fig["put " + std::to_string(mb) + " MB obj/s"] = n / Secs(t0, t1);
    fig["get " + std::to_string(mb) + " MB obj/s"] = n / Secs(t1, t2);
  }
  if (!getenv("REAP_ONLY")) {
    // Claims: queued jobs on small inputs, taken one by one as a worker loop would.
    const std::string small(4 << 10, 'j');
    auto in = store.objects().Put(
        {owner, ObjectKind::kInput, "", "image/png", std::nullopt, AsBytes(small)});
    if (!in.ok()) return false;
    const int n = 500;
    for (int i = 0; i < n; ++i) {
      if (!store.jobs().Create(owner, in->id, "{}").ok()) return false;
    }
    auto t0 = Clk::now();
    int claimed = 0;
    while (true) {
      auto c = store.jobs().Claim("bench", std::chrono::seconds(60));
      if (!c.ok()) return false;
      if (!c->has_value()) break;
      ++claimed;
    }
    auto t1 = Clk::now();
    std::printf("%-10s claims: %d jobs in %.3f s = %.0f claims/s\n", backend, claimed, Secs(t0, t1),
                claimed / Secs(t0, t1));
    fig["claims/s"] = claimed / Secs(t0, t1);
  }
  // Reaper rate: many small objects, all expiring at once (large ones purged first, untimed).
  clock->Advance(std::chrono::hours(25));
  if (!store.PurgeExpired().ok()) return false;
  std::string small(16 << 10, 'x');
  const int n = 2000;
  for (int i = 0; i < n; ++i)
    store.objects().Put({owner, ObjectKind::kInput, "", "image/png", std::nullopt, AsBytes(small)});
  clock->Advance(std::chrono::hours(25));
  auto t0 = Clk::now();
  auto r = store.PurgeExpired();
  auto t1 = Clk::now();
  if (!r.ok()) return false;
  std::printf("%-10s reaper: %zu objects deleted in %.3f s = %.0f objects/s\n", backend, r->objects,
              Secs(t0, t1), r->objects / Secs(t0, t1));
  fig["reaper objects/s"] = r->objects / Secs(t0, t1);
  return true;
}

}  // namespace

int main() {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("bgerase-store-bench-" + std::to_string(getpid()));
  Figures sqlite_fig, pg_fig;
  StoreOptions sqlite_options;
  sqlite_options.data_dir = dir;
  const bool sqlite_ok = Measure("sqlite", sqlite_options, sqlite_fig);
  fs::remove_all(dir);
  if (!sqlite_ok) return 2;

  const char* url = std::getenv("BGERASE_BENCH_POSTGRES_URL");
  if (!url || !*url) {
    std::printf("(set BGERASE_BENCH_POSTGRES_URL to measure the PostgreSQL backend too)\n");
    return 0;
  }
  StoreOptions pg_options;
  pg_options.database_url = url;
  if (!Measure("postgres", pg_options, pg_fig)) return 3;
  std::printf("postgres / sqlite:\n");
  for (const auto& [name, v] : sqlite_fig) {
    if (pg_fig.count(name)) std::printf("  %-20s %.2fx\n", name.c_str(), pg_fig[name] / v);
  }
  return 0;
}
