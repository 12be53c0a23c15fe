// The reaper: a background thread that deletes expired data as it expires (the data lifecycle in
// docs/design/privacy.md). It sleeps until the store's next expires_at, but never longer than
// `max_interval` (one minute by default), and is woken early when something that expires sooner is
// stored.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "store/store.h"

namespace bgerase::store {

// Thread-safe. The store must outlive the reaper. Purging at start-up is OpenStore's job, not
// the reaper's, so that it happens before the store is handed out.
class Reaper {
 public:
  Reaper(Store& store, std::chrono::milliseconds max_interval)
      : store_(store), max_interval_(max_interval) {}
  ~Reaper() { Stop(); }
  Reaper(const Reaper&) = delete;
  Reaper& operator=(const Reaper&) = delete;

  void Start();
  // Stops and joins the thread; idempotent.
  void Stop();
  // Something expiring at `at` was stored; wake up if that is before the planned wake-up.
  void Notify(Time at);

  // Completed purge passes, for tests and metrics.
  std::uint64_t passes() const { return passes_.load(); }

 private:
  void Run();

  Store& store_;
  const std::chrono::milliseconds max_interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool poked_ = false;
  Time planned_{};  // store-clock time of the next planned pass
  std::atomic<std::uint64_t> passes_{0};
  std::thread thread_;
};

// Starts the reaper of a newly opened `store` if `options` ask for it, and points
// `on_new_expiry` (the backend's hook for "something expiring sooner was stored") at it.
// Null when the reaper does not run. The store must outlive the reaper.
std::unique_ptr<Reaper> StartReaper(Store& store, const StoreOptions& options,
                                    std::function<void(Time)>& on_new_expiry);

}  // namespace bgerase::store
