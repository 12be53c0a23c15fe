// The one clock of the store. Everything that asks "what time is it?" — expiry, the reaper,
// ledger timestamps, sessions — reads it from a Clock, so tests can move time instead of waiting.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bgerase::store {

// Wall-clock time at millisecond resolution; stored in the database as milliseconds since the
// Unix epoch (UTC).
using Time = std::chrono::sys_time<std::chrono::milliseconds>;

// Source of the current time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Time Now() const = 0;
};

// The real time of the machine.
class SystemClock final : public Clock {
 public:
  Time Now() const override;
};

// A clock that only moves when told to. For tests and for reproducing what a store would do at
// a given moment (e.g. opening a store "25 hours later"). Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Time start) : now_ms_(start.time_since_epoch().count()) {}
  Time Now() const override { return Time(std::chrono::milliseconds(now_ms_.load())); }
  void Set(Time t) { now_ms_.store(t.time_since_epoch().count()); }
  void Advance(std::chrono::milliseconds d) { now_ms_.fetch_add(d.count()); }

 private:
  std::atomic<std::int64_t> now_ms_;
};

// A shared SystemClock, the default when no clock is injected.
std::shared_ptr<const Clock> DefaultClock();

std::int64_t ToMillis(Time t);
Time FromMillis(std::int64_t ms);
// RFC 3339 UTC with milliseconds, e.g. "2024-05-01T12:00:00.000Z"; what JSON answers carry.
std::string FormatTime(Time t);
// The UTC calendar day of `t`, "YYYY-MM-DD" (usage is counted per such day).
std::string UtcDay(Time t);
// The first day ("YYYY-MM-01") of `t`'s UTC month: credits are counted from it.
std::string UtcMonthStart(Time t);

}  // namespace bgerase::store
