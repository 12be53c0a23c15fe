// Reaper loop: purge, find the next expiry, sleep until then (bounded), repeat.
#include "store/reaper.h"

#include <algorithm>
#include <cstdio>

namespace bgerase::store {

void Reaper::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void Reaper::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Reaper::Notify(Time at) {
  {
    std::lock_guard lock(mu_);
    if (at >= planned_) return;
    poked_ = true;
  }
  cv_.notify_all();
}

void Reaper::Run() {
  using std::chrono::milliseconds;
  for (;;) {
    {
      // Until the wait below is planned, any Notify must wake us: it may concern an object the
      // NextExpiry query below already missed.
      std::lock_guard lock(mu_);
      planned_ = Time::max();
      poked_ = false;
    }
    auto purged = store_.PurgeExpired();
    passes_.fetch_add(1);
    milliseconds wait = max_interval_;
    if (purged.ok()) {
      auto next = store_.NextExpiry();
      if (next.ok() && next->has_value()) {
        const auto until = std::chrono::duration_cast<milliseconds>(**next - store_.clock().Now());
        // A small floor keeps a clock that stands still (tests) from spinning the CPU, and a
        // database hiccup from turning into a busy loop.
        wait = std::clamp(until, milliseconds(1), max_interval_);
      }
    } else {
      std::fprintf(stderr, "bgerase: reaper pass failed: %s\n", purged.status().ToString().c_str());
    }
    std::unique_lock lock(mu_);
    if (stop_) return;
    planned_ = store_.clock().Now() + wait;
    cv_.wait_for(lock, wait, [this] { return stop_ || poked_; });
    if (stop_) return;
  }
}

std::unique_ptr<Reaper> StartReaper(Store& store, const StoreOptions& options,
                                    std::function<void(Time)>& on_new_expiry) {
  if (!options.run_reaper) return nullptr;
  auto reaper = std::make_unique<Reaper>(store, options.reaper_max_interval);
  Reaper* r = reaper.get();
  on_new_expiry = [r](Time at) { r->Notify(at); };
  reaper->Start();
  return reaper;
}

}  // namespace bgerase::store
