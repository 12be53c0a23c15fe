// SystemClock and the time helpers shared by the store.
#include "store/clock.h"

#include <cstdio>
#include <ctime>

namespace bgerase::store {

Time SystemClock::Now() const {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

std::shared_ptr<const Clock> DefaultClock() {
  static const auto clock = std::make_shared<const SystemClock>();
  return clock;
}

std::int64_t ToMillis(Time t) {
  return t.time_since_epoch().count();
}

Time FromMillis(std::int64_t ms) {
  return Time(std::chrono::milliseconds(ms));
}

std::string FormatTime(Time t) {
  const std::int64_t ms = ToMillis(t);
  std::int64_t secs = ms / 1000;
  std::int64_t frac = ms % 1000;
  if (frac < 0) {
    frac += 1000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(frac));
  return buf;
}

std::string UtcMonthStart(Time t) {
  return UtcDay(t).substr(0, 8) + "01";
}

std::string UtcDay(Time t) {
  return FormatTime(t).substr(0, 10);
}

}  // namespace bgerase::store
