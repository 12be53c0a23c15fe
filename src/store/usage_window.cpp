// The usage window.
#include "store/usage_window.h"

#include <algorithm>
#include <chrono>

#include "store/refusals.h"

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

Status CheckCharge(const CreditState& state, std::int64_t quarters) {
  if (quarters < 0) return Status(errors::kInvalidArgument, "a charge cannot be negative");
  if (state.allowance && state.spent + quarters > *state.allowance)
    return refusals::InsufficientCredits();
  return Status::Ok();
}

}  // namespace bgerase::store
