// The usage window.
#include "store/usage_window.h"

#include <algorithm>
#include <chrono>

namespace bgerase::store {

std::vector<DailyUsage> UsageWindow(Time now, int days) {
  std::vector<DailyUsage> out;
  for (int i = std::clamp(days, 1, 366) - 1; i >= 0; --i)
    out.push_back({UtcDay(now - std::chrono::days(i)), 0});
  return out;
}

void AddUsage(std::vector<DailyUsage>& window, const std::string& day, std::uint64_t images) {
  for (auto& d : window)
    if (d.day == day) d.images = images;
}

}  // namespace bgerase::store
