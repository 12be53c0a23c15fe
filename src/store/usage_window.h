// UsageStore::Daily's shape, written once for every backend: the window of UTC days asked for,
// each at zero until the backend fills in the counts it holds. Internal to src/store.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/types.h"
#include "store/usage_store.h"

namespace bgerase::store {

// The last `days` UTC days ending at `now`'s (clamped to 1..366), oldest first, each at zero.
std::vector<DailyUsage> UsageWindow(Time now, int days);
// Sets the count of `day` in `window`; days outside the window are ignored.
void AddUsage(std::vector<DailyUsage>& window, const std::string& day, std::uint64_t images);

// Charge's rule, for every backend: whether `quarters` more fit the allowance.
Status CheckCharge(const CreditState& state, std::int64_t quarters);

}  // namespace bgerase::store
